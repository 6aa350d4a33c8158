"""The bundles' workflow class: overrides checked wherever they come from, errors in one line, nothing intercepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from pydoc import locate

import pytest
from monai.bundle.scripts import create_workflow

from monai_unet2015.bundle import WORKFLOW_NAME, UNet2015Workflow
from monai_unet2015.bundle.workflow import TRACEBACK_VARIABLE, spatial_length_messages

PACKAGE = Path(__file__).parents[2] / "monai_unet2015"
CONFIG = {
    "max_epochs": 100,
    "roi_size": [572, 572],
    "network_def": {"_target_": "monai_unet2015.networks.UNet2015", "spatial_dims": 2, "features": [4, 8]},
    "run": ["$@max_epochs + 1"],
}
HINT = f"(set {TRACEBACK_VARIABLE}=1 for the full traceback)"


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "train.json"
    path.write_text(json.dumps(CONFIG))
    return str(path)


@pytest.fixture(autouse=True)
def one_line_errors(monkeypatch):
    monkeypatch.delenv(TRACEBACK_VARIABLE, raising=False)


def test_the_name_monai_locates_is_the_class():
    assert locate(WORKFLOW_NAME) is UNet2015Workflow


def test_known_overrides_reach_the_config(config_file):
    workflow = UNet2015Workflow(config_file=config_file, max_epochs=3, run_id="run")
    workflow.initialize()
    assert workflow.run() == [4]


def test_a_typo_is_refused_with_the_closest_key(config_file):
    with pytest.raises(SystemExit) as stop:
        UNet2015Workflow(config_file=config_file, max_epoch=3)
    assert str(stop.value) == f"error: --max_epoch is not an option of this bundle; did you mean --max_epochs?\n{HINT}"


def test_a_typo_inside_an_args_file_is_refused(config_file, tmp_path):
    """MONAI merges ``--args_file`` into the keyword arguments: the typo is checked like one on the command line."""
    args_file = tmp_path / "plan.json"
    args_file.write_text(json.dumps({"max_epoch": 1}))
    with pytest.raises(SystemExit, match=r"--max_epoch is not an option of this bundle; did you mean --max_epochs\?"):
        create_workflow(WORKFLOW_NAME, config_file=config_file, args_file=str(args_file))


def test_an_args_file_can_name_the_workflow(config_file, tmp_path):
    args_file = tmp_path / "plan.json"
    args_file.write_text(json.dumps({"workflow_name": WORKFLOW_NAME, "max_epochs": 1}))
    workflow = create_workflow(config_file=config_file, args_file=str(args_file))
    assert isinstance(workflow, UNet2015Workflow) and workflow.run() == [2]


def test_a_setting_of_another_config_of_the_bundle_is_no_typo(config_file):
    """A plan serves training and inference: inference's ``min_object_size`` in a training run's args is fine."""
    (Path(config_file).parent / "inference.json").write_text(json.dumps({"min_object_size": 0}))
    UNet2015Workflow(config_file=config_file, min_object_size=5)
    with pytest.raises(SystemExit, match="did you mean --min_object_size"):
        UNet2015Workflow(config_file=config_file, min_object_siz=5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"roi_size": [76, 76, 76]}, "--roi_size [76, 76, 76] has 3 entries, this bundle takes 2"),
        ({"pixdim": [1.0]}, "--pixdim [1.0] has 1 entries, this bundle takes 3"),
    ],
)
def test_a_spatial_setting_of_another_length_is_named(overrides, message):
    assert spatial_length_messages(overrides, {"roi_size": [572, 572], "pixdim": [1.6, 1.6, 2.5]}) == [
        f"{message} (a plan made for the other bundle?)"
    ]


def test_a_plan_for_the_other_bundle_is_refused(config_file):
    with pytest.raises(SystemExit, match=r"--roi_size \[76, 76, 76\] has 3 entries, this bundle takes 2"):
        UNet2015Workflow(config_file=config_file, roi_size=[76, 76, 76])


def test_an_error_while_running_is_one_line_with_the_innermost_message(tmp_path):
    path = tmp_path / "inference.json"
    path.write_text(json.dumps({"data": "$[][0]", "run": ["$@data"]}))
    workflow = UNet2015Workflow(config_file=str(path))
    workflow.initialize()
    with pytest.raises(SystemExit) as stop:
        workflow.run()
    assert str(stop.value) == f"error: IndexError: list index out of range\n{HINT}"


def test_the_traceback_variable_lets_the_error_through(tmp_path, monkeypatch):
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    path = tmp_path / "inference.json"
    path.write_text(json.dumps({"data": "$[][0]", "run": ["$@data"]}))
    workflow = UNet2015Workflow(config_file=str(path))
    workflow.initialize()
    with pytest.raises(RuntimeError) as raised:  # MONAI's wrapper, the IndexError as its cause
        workflow.run()
    assert isinstance(raised.value.__cause__ or raised.value.__context__, IndexError)


def test_nothing_of_the_interpreter_is_replaced_or_re_read():
    """Only the package's own program (``python -m monai_unet2015``) reads its command line."""
    offending = [
        f"{path.relative_to(PACKAGE)}: {needle}"
        for path in PACKAGE.rglob("*.py")
        for needle in ("sys.excepthook", "sys.argv")
        if needle in path.read_text() and not (needle == "sys.argv" and path == PACKAGE / "__main__.py")
    ]
    assert offending == []


def test_through_monais_command_line_a_typo_in_an_args_file_ends_in_one_line(config_file, tmp_path):
    args_file = tmp_path / "plan.json"
    args_file.write_text(json.dumps({"max_epoch": 1}))
    command = [sys.executable, "-m", "monai.bundle", "run", "--workflow_name", WORKFLOW_NAME]
    command += ["--config_file", config_file, "--args_file", str(args_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-2:] == [
        "error: --max_epoch is not an option of this bundle; did you mean --max_epochs?",
        HINT,
    ]
    assert "Traceback" not in result.stderr
