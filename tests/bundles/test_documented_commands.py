"""The settings the docs give for ``monai.bundle run``'s command line are ones it can pass."""

from __future__ import annotations

import re
from pathlib import Path

import fire
from monai.bundle import update_kwargs

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "bundles").glob("*/docs/*.md"))]
NULL_ON_THE_COMMAND_LINE = re.compile(r"--[\w#]+[ =](?:null|None)\b")


def test_monai_bundle_run_cannot_take_a_null_from_the_command_line():
    """Why the docs put nulls in config files: ``None`` is dropped, ``null`` arrives as text."""
    parsed = fire.Fire(lambda **settings: settings, command=["--a", "None", "--b", "null"])
    assert parsed == {"a": None, "b": "null"}
    assert update_kwargs({"a": 1}, a=parsed["a"]) == {"a": 1}


def test_no_page_gives_a_null_setting_on_the_command_line():
    found = [
        f"{page.relative_to(ROOT)}:{number}: {match.group(0)}"
        for page in PAGES
        for number, line in enumerate(page.read_text().splitlines(), 1)
        for match in NULL_ON_THE_COMMAND_LINE.finditer(line)
    ]
    assert not found, "monai.bundle run drops --x None and reads --x null as text:\n" + "\n".join(found)
