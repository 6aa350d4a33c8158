"""A plan and a named preset through ``python -m monai.bundle run``, as the README shows them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from monai_unet2015.bundle.locations import init_bundle
from monai_unet2015.bundle.workflow import bundle_run_command
from monai_unet2015.planning import write_plan
from tests.planning.conftest import write_nuclei


def bundle_run(bundle: Path, config_files: list[str], *arguments: str) -> subprocess.CompletedProcess:
    configs = json.dumps([f"configs/{name}" for name in config_files])
    command = bundle_run_command(configs, *arguments)
    return subprocess.run(command, cwd=bundle, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    root = tmp_path_factory.mktemp("planned")
    dataset = write_nuclei(root / "nuclei", num_cases=3)
    plan_file = root / "plan.json"
    write_plan(dataset, plan_file, device="cpu")
    bundle = init_bundle("unet2015_cells_2d", root)  # as the plan's report says
    arguments = ("--args_file", str(plan_file), "--dataset_dir", str(dataset), "--progress", "false")
    trained = bundle_run(bundle, ["train.json", "cpu.json"], *arguments, "--max_epochs", "2", "--val_interval", "1")
    assert trained.returncode == 0, trained.stderr[-3000:]
    return {
        "root": root,
        "dataset": dataset,
        "plan": plan_file,
        "bundle": bundle,
        "log": trained.stdout + trained.stderr,
    }


def test_training_with_a_plan_and_the_cpu_preset_builds_the_preset_network(planned):
    weights = torch.load(planned["bundle"] / "models" / "model.pt", map_location="cpu", weights_only=True)
    first = next(value for key, value in weights.items() if key.endswith("weight") and value.ndim == 4)
    assert first.shape[0] == 16  # configs/cpu.json: features [16, 32, 64, 128]
    assert "Epoch[2] Complete" in planned["log"]  # the command line's --max_epochs wins over the plan's


def test_inference_with_the_same_plan_drops_objects_under_the_planned_size(planned):
    output = planned["root"] / "out"
    images = planned["dataset"] / "imagesTr"
    arguments = ("--args_file", str(planned["plan"]), "--dataset_dir", str(images), "--output_dir", str(output))
    result = bundle_run(planned["bundle"], ["inference.json", "cpu.json"], *arguments)
    assert result.returncode == 0, result.stderr[-3000:]
    min_size = json.loads(planned["plan"].read_text())["min_object_size"]
    for path in output.rglob("*_instances.*"):
        instances = np.array(Image.open(path))
        sizes = np.bincount(instances.ravel())[1:]
        assert (sizes[sizes > 0] >= min_size).all()
    assert len(list(output.rglob("*_instances.*"))) == 3


def test_evaluate_on_a_labelled_test_folder_writes_per_case_instance_metrics(planned):
    output = planned["root"] / "eval"
    arguments = ("--args_file", str(planned["plan"]), "--dataset_dir", str(planned["dataset"]))
    arguments += ("--eval_dir", str(planned["dataset"]), "--output_dir", str(output))
    result = bundle_run(planned["bundle"], ["train.json", "evaluate.json", "cpu.json"], *arguments)
    assert result.returncode == 0, result.stderr[-3000:]
    for metric in ("val_mean_dice", "val_instance_f1", "val_seg", "val_rand_error"):
        rows = (output / f"{metric}_raw.csv").read_text().strip().splitlines()
        assert len(rows) == 1 + 3 and all("cell_" in row for row in rows[1:])  # every case of the folder
