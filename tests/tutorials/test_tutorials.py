"""Each tutorial runs end to end in quick mode and writes its figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"
FIGURES = {
    "01_paper_2d_cells.py": ["cells.png", "weight_map.png", "elastic.png", "with_and_without_weight_map.png"],
    "02_ct_dicom_3d.py": ["slices.png"],
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_tutorial_runs_in_quick_mode(name, tmp_path):
    result = subprocess.run(
        [sys.executable, str(TUTORIALS / name), "--quick", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for figure in FIGURES[name]:
        assert (tmp_path / figure).stat().st_size > 1000, figure
