"""The 3D bundle's slices preset: the 2D U-Net on each slice, planned, trained and applied as the README shows."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_unet2015.bundle.locations import init_bundle
from monai_unet2015.planning import write_plan
from tests.bundles.test_plans import bundle_run
from tests.planning.conftest import write_volumes

TINY = ("--roi_size", "[60,60,8]", "--features", "[4,8,16]", "--progress", "false")


@pytest.fixture(scope="module")
def trained_slices(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    dataset = write_volumes(root / "ct", ct=True)
    plan_file = root / "plan.json"
    write_plan(dataset, plan_file, preset="slices")
    bundle = init_bundle("unet3d_ct_organs", root)
    arguments = ("--args_file", str(plan_file), "--dataset_dir", str(dataset), *TINY, "--cache", "none")
    result = bundle_run(bundle, ["train.json", "slices.json"], *arguments, "--max_epochs", "1", "--val_interval", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    return root, dataset, plan_file, bundle


def test_training_with_the_slices_preset_saves_a_2d_network(trained_slices):
    _, _, plan_file, bundle = trained_slices
    assert json.loads(plan_file.read_text())["pixdim"] == [1.0, 1.0, 1.0]
    weights = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    convolutions = [value for key, value in weights.items() if key.endswith("weight") and value.ndim > 1]
    assert all(value.ndim == 4 for value in convolutions)  # 2D kernels only
    assert convolutions[-1].shape[0] == 3  # background and the two classes


def test_inference_with_the_slices_preset_writes_a_mask_on_the_image_grid(trained_slices):
    root, dataset, plan_file, bundle = trained_slices
    output = root / "out"
    arguments = ("--args_file", str(plan_file), "--dataset_dir", str(dataset / "imagesTr"), "--output_dir", str(output))
    result = bundle_run(bundle, ["inference.json", "slices.json"], *arguments, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    image = nib.load(dataset / "imagesTr" / "vol_0.nii.gz")
    mask = nib.load(output / "vol_0_seg.nii.gz")
    assert mask.shape == image.shape
    np.testing.assert_allclose(mask.affine, image.affine, atol=1e-4)
    assert set(np.unique(np.asarray(mask.dataobj)).tolist()) <= {0, 1, 2}
