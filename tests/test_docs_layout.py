"""scripts/check_docs_layout.py: a page opened in a headless Chromium, its clipped code blocks found."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_docs_layout.py"


def layout_module():
    spec = importlib.util.spec_from_file_location("check_docs_layout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHROMIUM = layout_module().find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium (apt-get install chromium; make hospital-peers)"
)

PAGE = """<!DOCTYPE html><html><head><style>
main {{ width: 600px; }} pre {{ overflow-x: auto; font: 14px monospace; margin: 0; }}
</style></head><body><main>
<pre>{short}</pre>
<pre>{long}</pre>
<p>{prose}</p>
</main></body></html>"""


def write_site(root: Path, long_line: str) -> Path:
    site = root / "html"
    (site / "guide").mkdir(parents=True)
    (site / "_static").mkdir()
    page = PAGE.format(short="make test", long=long_line, prose="words " * 300)
    (site / "index.html").write_text(page)
    (site / "guide" / "page.html").write_text(PAGE.format(short="a", long="b", prose="c"))
    (site / "_static" / "template.html").write_text("<html><body>not a page</body></html>")
    return site


@needs_chromium
def test_a_code_line_wider_than_its_box_is_found_and_named_with_its_page(tmp_path):
    site = write_site(tmp_path, "python -m monai.bundle run " + "--x y " * 40)
    clipped = layout_module().clipped_blocks(site, CHROMIUM, width=1000, height=600)
    assert list(clipped) == ["index.html"]
    (block,) = clipped["index.html"]
    assert block["tag"] == "pre" and block["text"].startswith("python -m monai.bundle run --x y")
    assert block["box_px"] == 600 and block["content_px"] > 1000
    assert "data-clipped" not in (site / "index.html").read_text()  # measured in a copy


@needs_chromium
def test_a_site_whose_code_fits_passes_and_the_cli_says_so(tmp_path, capsys):
    site = write_site(tmp_path, "python -m monai.bundle run --x y")
    module = layout_module()
    assert module.clipped_blocks(site, CHROMIUM, width=1000, height=600) == {}
    assert module.main([str(site), "--width", "1000"]) == 0
    assert "0 clipped block(s) at 1000 x 768 px" in capsys.readouterr().err


@needs_chromium
def test_the_cli_fails_on_a_clipped_block_and_prints_it(tmp_path, capsys):
    site = write_site(tmp_path, "z" * 400)
    assert layout_module().main([str(site)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("index.html: <pre> ") and "in 600 px" in out


def test_the_site_pages_leave_out_the_theme_templates(tmp_path):
    site = write_site(tmp_path, "x")
    pages = [str(page.relative_to(site)) for page in layout_module().site_pages(site)]
    assert pages == ["guide/page.html", "index.html"]


def test_a_folder_without_a_built_site_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        layout_module().main([str(tmp_path)])
    assert f"html_dir: {tmp_path} holds no index.html; build the docs first (make docs)" in capsys.readouterr().err
