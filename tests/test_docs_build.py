"""What the docs build (docs/conf.py) adds: figures that exist and are not blank, real signatures of dict transforms."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

DOCS = Path(__file__).resolve().parents[1] / "docs"


def docs_conf():
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_figure_the_pages_show_is_there_and_not_blank():
    conf = docs_conf()
    assert conf.figure_problems() == []
    shown = {
        Path(reference).name
        for page in DOCS.rglob("*.md")
        if "_build" not in page.parts
        for reference in conf.FIGURE_REFERENCE.findall(page.read_text())
    }
    drawn = {path.name for path in (DOCS / "_static" / "figures").glob("*.png")}
    assert shown == drawn, f"drawn but not shown: {drawn - shown}; shown but not drawn: {shown - drawn}"
    assert len(drawn) >= 8


def test_a_missing_or_blank_figure_is_named_with_its_page(tmp_path):
    figures = tmp_path / "_static" / "figures"
    figures.mkdir(parents=True)
    Image.fromarray(np.full((200, 300), 255, np.uint8)).save(figures / "blank.png")
    (tmp_path / "page.md").write_text("![a](_static/figures/blank.png)\n![b](_static/figures/gone.png)\n")
    problems = docs_conf().figure_problems(tmp_path)
    assert problems[0].startswith("page.md: _static/figures/blank.png is blank or tiny")
    assert problems[1] == "page.md: _static/figures/gone.png does not exist (scripts/make_figures.py)"


def test_a_dictionary_transform_shows_its_own_parameters_not_monais_new():
    from monai_unet2015.data import SaveDicomSegd
    from monai_unet2015.transforms import BorderWeightMapd

    conf = docs_conf()
    shown, _ = conf._init_signature(None, "class", "SaveDicomSegd", SaveDicomSegd, {}, "(*args, **kwargs)", None)
    assert shown.startswith("(keys: 'KeysCollection', output_dir:") and "model_name" in shown
    assert conf._init_signature(None, "class", "x", BorderWeightMapd, {}, "(keys, w0=10.0)", None) is None


CODE_PAGES = [
    DOCS.parent / "README.md",
    *sorted(page for page in DOCS.rglob("*.md") if "_build" not in page.parts),
    *sorted((DOCS.parent / "bundles").glob("*/docs/*.md")),
]
WIDEST_CODE_LINE = 100  # what a 1366 px screen shows unclipped (scripts/check_docs_layout.py measures it)


def code_lines(markdown: str):
    """(line number, line) of every line inside a fenced code block."""
    fenced = False
    for number, line in enumerate(markdown.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            yield number, line


def test_no_code_line_is_wider_than_the_page_shows():
    too_wide = [
        f"{page.relative_to(DOCS.parent)}:{number}: {len(line)} characters"
        for page in CODE_PAGES
        for number, line in code_lines(page.read_text())
        if len(line) > WIDEST_CODE_LINE
    ]
    assert not too_wide, f"code lines over {WIDEST_CODE_LINE} characters are clipped:\n" + "\n".join(too_wide)


def test_code_lines_are_found_inside_fences_only():
    page = "text " + "x" * 200 + "\n```bash\nshort\n" + "y" * 120 + "\n```\nafter\n"
    assert [(number, len(line)) for number, line in code_lines(page)] == [(3, 5), (4, 120)]
