"""torchrun with two CPU processes (gloo): DDP training of a bundle, rank-0 checkpoints, whole-set validation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow

from monai_unet2015.bundle.locations import bundles_dir, with_common_config
from monai_unet2015.bundle.workflow import bundle_run_command
from monai_unet2015.data import write_sample_data
from monai_unet2015.networks import UNet3D

BUNDLE = bundles_dir() / "unet3d_ct_organs"
TINY = ["--features", "[4,8,16]", "--roi_size", "[44,44,44]", "--cache", "none", "--val_fraction", "0.5"]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    write_sample_data(root, num_ct=5, num_mri=0, num_cells=0, ct_shape=(48, 40, 12), dicom=False)
    return root / "ct"  # 4 training cases: 2 for training, 2 for validation


def bundle_run(processes: int, bundle: Path, config_files: list[str], *arguments: str) -> str:
    """``python -m monai.bundle run`` in ``bundle``, under torchrun when ``processes > 1``; its output."""
    launcher = [TORCHRUN, "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else [sys.executable]
    configs = (
        str([f"configs/{name}" for name in config_files]) if len(config_files) > 1 else f"configs/{config_files[0]}"
    )
    result = subprocess.run(
        bundle_run_command(configs, *arguments, launcher=launcher),
        cwd=bundle,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def logged_dice(output: str) -> list[float]:
    return [float(v) for v in re.findall(r"Epoch\[\d+\] Metrics -- val_mean_dice: ([0-9.]+)", output)]


def train(sample, root, processes: int, epochs: int):
    configs = ["train.json", "multi_gpu_train.json"] if processes > 1 else ["train.json"]
    output = bundle_run(
        processes,
        BUNDLE,
        configs,
        *("--bundle_root", str(root), "--dataset_dir", str(sample), "--max_epochs", str(epochs)),
        *("--val_interval", "1", "--progress", "False", "--verbose", "true", *TINY),  # every iteration's loss
    )
    losses = [float(v) for v in re.findall(r"train_loss: ([0-9.]+)", output)]
    return losses, logged_dice(output)


def test_two_processes_train_with_one_checkpoint_and_whole_set_validation(sample, tmp_path):
    losses, dice = train(sample, tmp_path / "ddp", processes=2, epochs=1)
    assert sorted(p.name for p in (tmp_path / "ddp" / "models").iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    assert len(losses) == 1 and len(dice) == 1  # logged by rank 0 only: 1 iteration per rank (2 cases / 2 ranks)

    # The logged Dice is over the whole validation set: a single-process evaluation of the saved
    # model on both validation cases gives the same number (one shard would not, nor ranks that
    # validate with their own batch-norm statistics or through the DDP wrapper).
    flow = ConfigWorkflow(
        config_file=with_common_config([BUNDLE / "configs/train.json", BUNDLE / "configs/evaluate.json"]),
        meta_file=str(BUNDLE / "configs/metadata.json"),
        workflow_type="eval",
        bundle_root=str(tmp_path / "ddp"),
        dataset_dir=str(sample),
        output_dir=str(tmp_path / "eval"),
        # the precision of training's validation (fp32, contiguous): evaluate.json's "auto" picks bf16 on a
        # CPU with AVX512_BF16 / AMX, and a 1-epoch net's Dice moves with it (0.0610 against 0.0592)
        **{
            "features": [4, 8, 16],
            "roi_size": [44, 44, 44],
            "cache": "none",
            "val_fraction": 0.5,
            "precision": "fp32",
            "memory_format": "contiguous",
        },
    )
    flow.initialize()
    flow.run()
    evaluator = flow.parser.get_parsed_content("validate#evaluator")
    assert len(flow.parser.get_parsed_content("validate#dataset")) == 2
    assert evaluator.state.metrics["val_mean_dice"] == pytest.approx(dice[0], abs=1e-4)

    # multi_gpu_evaluate.json: each rank scores one case, the metric is gathered over both.
    output = bundle_run(
        2,
        BUNDLE,
        ["train.json", "evaluate.json", "multi_gpu_evaluate.json"],
        *("--bundle_root", str(tmp_path / "ddp"), "--dataset_dir", str(sample)),
        *("--output_dir", str(tmp_path / "eval2"), *TINY),
        *("--precision", "fp32", "--memory_format", "contiguous"),
    )
    assert logged_dice(output) == pytest.approx([evaluator.state.metrics["val_mean_dice"]], abs=1e-4)


def test_cells_bundle_trains_with_two_processes(tmp_path):
    cells = tmp_path / "sample"
    write_sample_data(cells, num_ct=0, num_mri=0, num_cells=6, cells_shape=(96, 96))
    bundle_run(
        2,
        bundles_dir() / "unet2015_cells_2d",
        ["train.json", "multi_gpu_train.json"],
        *("--bundle_root", str(tmp_path / "run"), "--dataset_dir", str(cells / "cells")),
        *("--max_epochs", "1", "--val_interval", "1", "--features", "[4,8,16]", "--roi_size", "[60,60]"),
        *("--cache", "none", "--val_fraction", "0.5", "--progress", "False"),
    )
    assert sorted(p.name for p in (tmp_path / "run" / "models").iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]


def test_loss_trajectory_is_comparable_to_one_process(sample, tmp_path):
    ddp_losses, _ = train(sample, tmp_path / "ddp", processes=2, epochs=2)
    single_losses, _ = train(sample, tmp_path / "single", processes=1, epochs=2)
    assert len(ddp_losses) == 2 and len(single_losses) == 4  # rank 0's iterations; one process does both cases
    assert all(np.isfinite(ddp_losses)) and all(np.isfinite(single_losses))
    # Same seed, same data; two processes average two cases' gradients per step where one process
    # takes two steps: the curves are not equal, but of the same size.
    assert 0.5 < np.mean(ddp_losses) / np.mean(single_losses) < 2.0


def test_two_processes_segment_each_case_once_as_one_process_does(sample, tmp_path):
    weights = tmp_path / "weights"
    (weights / "models").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(UNet3D(1, 4, features=(4, 8, 16)).state_dict(), weights / "models" / "model.pt")
    images = tmp_path / "images"  # a flat folder of 3 images: 2 on rank 0, 1 on rank 1
    images.mkdir()
    for path in sorted((sample / "imagesTr").iterdir())[:3]:
        (images / path.name).symlink_to(path)
    arguments = ("--bundle_root", str(weights), "--dataset_dir", str(images), *TINY[:4], "--progress", "False")
    one = bundle_run(1, BUNDLE, ["inference.json"], *arguments, "--output_dir", str(tmp_path / "one"))
    two = bundle_run(
        2, BUNDLE, ["inference.json", "multi_gpu_inference.json"], *arguments, "--output_dir", str(tmp_path / "two")
    )
    names = sorted(p.name for p in (tmp_path / "one").glob("*.nii.gz"))
    assert len(names) == 3 and names == sorted(p.name for p in (tmp_path / "two").glob("*.nii.gz"))
    assert len(list((tmp_path / "two").glob("*_volumes.json"))) == 3
    for name in names:  # the same masks, case for case
        first, second = (np.asarray(nib.load(tmp_path / run / name).dataobj) for run in ("one", "two"))
        assert np.array_equal(first, second), name
    assert "3 case(s) segmented, 0 skipped, 0 failed" in one
    assert two.count("3 case(s) segmented, 0 skipped, 0 failed") == 1  # rank 0's summary of both ranks
    assert sorted(re.findall(r"case \d/(\d) done", two)) == ["1", "2", "2"]  # rank 0: 2 cases, rank 1: 1
