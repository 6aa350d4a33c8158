"""The built documentation opened in a headless Chromium: every code block or table that is clipped.

A block is clipped when its content is wider than its box, so that part of it hides behind a
scroll bar (or is cut off). Each page of ``docs/_build/html`` is loaded at a laptop's screen
width with a small script added that measures every element of the page's main content whose
horizontal overflow is not visible; the page's DOM, dumped by Chromium after the script ran,
carries what it found. Screenshots of the pages can be kept with ``--screenshots DIR``.

Usage (``make docs-layout``; Debian's ``chromium`` package)::

    python scripts/check_docs_layout.py docs/_build/html --width 1366

Exits 1 and names each clipped block (page, its first characters, content and box widths) when
there is one; 2 when Chromium is not installed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MEASURE = """<script>
// How wide an element's content is: for MathJax's formulas the rendered formula, not the
// assistive MathML that MathJax keeps hidden inside the same box.
function contentWidth(el) {
  const formula = el.matches(".math") ? el.querySelector("mjx-math") : null;
  return formula ? Math.ceil(formula.getBoundingClientRect().width) : el.scrollWidth;
}
window.addEventListener("load", () => {
  const root = document.querySelector("main") || document.body;
  const clipped = [];
  for (const el of root.querySelectorAll("*")) {
    if (el.closest("mjx-container")) continue;  // MathJax's glyph boxes
    const overflow = getComputedStyle(el).overflowX;
    if (overflow === "visible" || el.clientWidth === 0) continue;
    const width = contentWidth(el);
    if (width > el.clientWidth + 1) {
      const text = el.textContent.trim().replace(/\\s+/g, " ").slice(0, 70);
      clipped.push({tag: el.tagName.toLowerCase(), text: text, content_px: width, box_px: el.clientWidth});
    }
  }
  document.body.setAttribute("data-clipped", JSON.stringify(clipped));
});
</script>"""
CLIPPED_ATTRIBUTE = re.compile(r'data-clipped="([^"]*)"')
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The first Chromium on ``PATH``, or None."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def site_pages(html_dir: Path) -> list[Path]:
    """The site's pages: not the theme's templates, the sources or the highlighted modules (``_*``)."""
    return sorted(p for p in html_dir.rglob("*.html") if not p.relative_to(html_dir).parts[0].startswith("_"))


def chromium_command(chromium: str, width: int, height: int) -> list[str]:
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--virtual-time-budget=3000",
    ]


def measured_page(page: Path, chromium_args: list[str]) -> list[dict]:
    """The clipped blocks of one page (a copy with the measuring script added)."""
    html = page.read_text(encoding="utf-8")
    page.write_text(html.replace("</body>", MEASURE + "</body>", 1), encoding="utf-8")
    result = subprocess.run([*chromium_args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    found = CLIPPED_ATTRIBUTE.search(result.stdout)
    if found is None:
        raise RuntimeError(f"{page}: Chromium did not run the measuring script: {result.stderr[-500:]}")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def clipped_blocks(html_dir: Path, chromium: str, width: int = 1366, height: int = 768) -> dict[str, list[dict]]:
    """Each page of ``html_dir`` (relative path) mapped to its clipped blocks; pages without any omitted.

    The pages are measured in a temporary copy of ``html_dir``; ``html_dir`` is not changed.
    """
    args = chromium_command(chromium, width, height)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "html"
        shutil.copytree(html_dir, copy)
        pages = site_pages(copy)
        with ThreadPoolExecutor(max_workers=2) as pool:
            measured = list(pool.map(lambda page: measured_page(page, args), pages))
        return {str(page.relative_to(copy)): blocks for page, blocks in zip(pages, measured, strict=True) if blocks}


def save_screenshots(html_dir: Path, pages: list[str], out_dir: Path, chromium: str, width: int, height: int):
    """A screenshot of each named page (``out_dir/<page>.png``), to look at the layout."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for page in pages:
        target = out_dir / (page.replace("/", "__").removesuffix(".html") + ".png")
        page_uri = (html_dir / page).resolve().as_uri()
        subprocess.run(
            [*chromium_command(chromium, width, height), f"--screenshot={target}", page_uri],
            capture_output=True,
            timeout=120,
            check=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", type=Path, help="the built site, e.g. docs/_build/html")
    parser.add_argument("--width", type=int, default=1366, help="window width in CSS pixels (default 1366)")
    parser.add_argument("--height", type=int, default=768, help="window height in CSS pixels (default 768)")
    parser.add_argument("--screenshots", type=Path, help="also save a screenshot of every page here")
    args = parser.parse_args(argv)
    if not (args.html_dir / "index.html").is_file():
        parser.error(f"html_dir: {args.html_dir} holds no index.html; build the docs first (make docs)")
    chromium = find_chromium()
    if chromium is None:
        print("check_docs_layout: no Chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    clipped = clipped_blocks(args.html_dir, chromium, args.width, args.height)
    if args.screenshots:
        pages = [str(page.relative_to(args.html_dir)) for page in site_pages(args.html_dir)]
        save_screenshots(args.html_dir, pages, args.screenshots, chromium, args.width, args.height)
    for page, blocks in clipped.items():
        for block in blocks:
            print(f"{page}: <{block['tag']}> {block['content_px']} px in {block['box_px']} px: {block['text']!r}")
    count = sum(len(blocks) for blocks in clipped.values())
    print(f"check_docs_layout: {count} clipped block(s) at {args.width} x {args.height} px", file=sys.stderr)
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
