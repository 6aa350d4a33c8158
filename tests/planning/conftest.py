"""Small generated datasets in the folder layouts the plan reads."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image


def write_nuclei(
    root: Path, num_cases: int = 3, dtype=np.uint16, scale: float = 4000.0, touching: bool = False
) -> Path:
    """2D instance labels: 4 discs of radius 6 (113 px) per image, and a 3x3 speck (9 px) in the first.

    ``touching``: the first two discs' centres 11 px apart, so that their masks join (the
    plan then splits them); else 28 px apart.
    """
    yy, xx = np.mgrid[:48, :64]
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    centres = [(12, 12), (12, 23 if touching else 40), (34, 16), (34, 48)]
    for case in range(num_cases):
        labels = np.zeros((48, 64), np.uint16)
        for index, (cy, cx) in enumerate(centres):
            labels[(yy - cy) ** 2 + (xx - cx - case) ** 2 <= 36] = index + 1 + 10 * case
        if case == 0:
            labels[44:47, 58:61] = 99
        image = ((labels > 0) * scale + 100).astype(dtype)
        Image.fromarray(image).save(root / "imagesTr" / f"cell_{case}.tif")
        Image.fromarray(labels).save(root / "labelsTr" / f"cell_{case}.tif")
    return root


def write_volumes(root: Path, ct: bool, spacing=(1.0, 1.0, 1.0), shape=(40, 40, 30), num_cases: int = 3) -> Path:
    """3D class labels 0/1/2 on a background of air (CT, -1000 HU) or zero (MRI)."""
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for case in range(num_cases):
        labels = np.zeros(shape, np.uint8)
        labels[8:30, 8:30, 5:25] = 1
        labels[14:24, 14:24, 10:20] = 2
        tissue = np.where(labels == 2, 120.0, 40.0) + rng.normal(0, 5, shape)
        background = -1000.0 if ct else 0.0
        image = np.where(labels > 0, tissue, background).astype(np.float32)
        affine = np.diag([*spacing, 1.0])
        nib.save(nib.Nifti1Image(image, affine), root / "imagesTr" / f"vol_{case}.nii.gz")
        nib.save(nib.Nifti1Image(labels, affine), root / "labelsTr" / f"vol_{case}.nii.gz")
    return root


@pytest.fixture
def nuclei_dir(tmp_path) -> Path:
    return write_nuclei(tmp_path / "nuclei")
