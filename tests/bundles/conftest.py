"""Fixtures several bundle tests share: a small generated CT dataset and seeded random CT weights."""

from __future__ import annotations

import pytest
import torch

from monai_unet2015.data import write_sample_data
from monai_unet2015.networks import UNet3D


@pytest.fixture(scope="module")
def ct_sample(tmp_path_factory):
    """Three generated CT cases of 48x40x12 (NIfTI and DICOM), without MRI or cells."""
    root = tmp_path_factory.mktemp("sample")
    write_sample_data(root, num_ct=3, num_mri=0, num_cells=0, ct_shape=(48, 40, 12))
    return root


@pytest.fixture(scope="module")
def tiny_ct_weights(tmp_path_factory):
    """A bundle root with seeded random weights of the 3D net at features 4, 8, 16: inference needs no trained net."""
    root = tmp_path_factory.mktemp("bundle_root")
    (root / "models").mkdir()
    torch.manual_seed(0)
    torch.save(UNet3D(1, 4, features=(4, 8, 16)).state_dict(), root / "models" / "model.pt")
    return root
