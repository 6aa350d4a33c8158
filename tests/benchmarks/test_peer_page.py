"""The docs' peer page shows the summary that the result files give (benchmarks/peer_nnunet.py --summary)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from peer_nnunet import SUMMARY_FILES, summary_table  # noqa: E402

PAGE = ROOT / "docs" / "guide" / "peer_benchmark.md"
SUMMARY = re.compile(r"<!-- summary:[^\n]*-->\n(.*?)\n<!-- /summary -->", re.S)


def test_the_page_table_is_the_summary_of_the_result_files():
    shown = SUMMARY.search(PAGE.read_text())
    assert shown is not None, "docs/guide/peer_benchmark.md lost its summary markers"
    assert shown.group(1) == summary_table(), "rerun: python benchmarks/peer_nnunet.py --summary"


def test_the_summary_is_computed_from_the_files_it_names(tmp_path):
    for files in SUMMARY_FILES.values():
        for file in files:
            (tmp_path / file).write_text((ROOT / "benchmarks" / "results" / file).read_text())
    nuclei = json.loads((tmp_path / "peer_nnunet_nuclei_cpu.json").read_text())
    for run in nuclei["nuclei"]["runs"]:
        if run["budget_s"] == 240:
            run["bundle"]["foreground_dice"] = 0.5
    (tmp_path / "peer_nnunet_nuclei_cpu.json").write_text(json.dumps(nuclei))
    changed = summary_table(tmp_path)
    row = "| nuclei | 240 s | 3 | foreground Dice | 0.500 (0.500..0.500) | 0.927 (2d, mirrored) | 2d | 0.878 |"
    assert row in changed
    assert changed != summary_table()


def test_the_page_names_only_benchmark_files_that_exist():
    named = set(re.findall(r"(?<![\w/])benchmarks/[\w/.-]+\.(?:json|py|md)", PAGE.read_text()))
    assert {"benchmarks/peer_nnunet.py", "benchmarks/results/peer_nnunet.md"} <= named
    assert {name for name in named if not (ROOT / name).is_file()} == set()
