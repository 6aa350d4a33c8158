"""The sample-data command: layout, determinism, DICOM equal to NIfTI."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
from monai.transforms import LoadImage

from monai_unet2015.data import write_sample_data


def test_cli_writes_the_documented_layout(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monai_unet2015",
            "sample-data",
            str(tmp_path),
            "--num-ct",
            "2",
            "--num-mri",
            "2",
            "--num-cells",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"manifest: {tmp_path}/manifest.json" in result.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["parts"]) == {"ct", "ct_dicom", "mri", "cells"}
    for part in ("ct", "mri", "cells"):
        dataset = json.loads((tmp_path / part / "dataset.json").read_text())
        assert dataset["numTraining"] == 1 and len(dataset["test"]) == 1
    assert len(list((tmp_path / "ct_dicom" / "ct_000").glob("IM_*.dcm"))) == 40
    assert (tmp_path / "cells/labelsTr/cells_000.png").is_file()


def test_cli_rejects_a_single_case(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "monai_unet2015", "sample-data", str(tmp_path), "--num-ct", "1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "--num-ct must be 0 or at least 2, got 1" in result.stderr


def test_same_seed_same_data(tmp_path):
    small = {
        "num_ct": 2,
        "num_mri": 2,
        "num_cells": 2,
        "ct_shape": (24, 24, 6),
        "mri_shape": (16, 16, 12),
        "dicom": False,
    }
    write_sample_data(tmp_path / "a", **small)
    write_sample_data(tmp_path / "b", **small)
    write_sample_data(tmp_path / "c", seed=1, **small)
    a, b, c = (nib.load(tmp_path / x / "ct/imagesTr/ct_000.nii.gz").get_fdata() for x in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dicom_copy_equals_the_nifti_case(sample_root):
    nifti = LoadImage(image_only=True)(str(sample_root / "ct/imagesTr/ct_000.nii.gz"))
    dicom = LoadImage(image_only=True)(str(sample_root / "ct_dicom/ct_000"))
    np.testing.assert_array_equal(np.asarray(dicom), np.asarray(nifti))
    np.testing.assert_allclose(np.asarray(dicom.affine), np.asarray(nifti.affine), atol=1e-4)
    np.testing.assert_allclose(dicom.pixdim.numpy(), [0.8, 0.8, 2.5], atol=1e-5)
