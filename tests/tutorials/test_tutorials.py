"""Each tutorial runs end to end in quick mode and writes its figures; the notebooks match the scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from tests.label.server import LABEL_PYTHON, label_environment_problem, server_environment

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"
FIGURES = {
    "01_paper_2d_cells.py": ["cells.png", "weight_map.png", "elastic.png", "with_and_without_weight_map.png"],
    "02_ct_dicom_3d.py": ["slices.png"],
    "03_bundle_cli_and_monailabel.py": ["monailabel.png"],
}
NEEDS_MONAI_LABEL = {"03_bundle_cli_and_monailabel.py"}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_tutorial_runs_in_quick_mode(name, tmp_path):
    command = [sys.executable, str(TUTORIALS / name), "--quick", "--output-dir", str(tmp_path)]
    env = None
    if name in NEEDS_MONAI_LABEL:
        problem = label_environment_problem()
        if problem:
            pytest.skip(problem)
        command += ["--label-python", str(LABEL_PYTHON)]
        env = server_environment(tmp_path)
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for figure in FIGURES[name]:
        assert (tmp_path / figure).stat().st_size > 1000, figure


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_is_the_script_with_outputs(name):
    """tutorials/<name>.ipynb (made by `make notebooks`) has the script's cells, every code cell run."""
    notebook = nbformat.read(str(TUTORIALS / name.replace(".py", ".ipynb")), as_version=4)
    script = jupytext.read(str(TUTORIALS / name))
    assert [(c.cell_type, c.source) for c in notebook.cells] == [(c.cell_type, c.source) for c in script.cells]
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a code cell was not executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
