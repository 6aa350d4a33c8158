"""The README's Python examples run as they are written (the predictor's with generated data and weights)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monai_unet2015.bundle.locations import bundle_path
from monai_unet2015.data import write_sample_data
from monai_unet2015.networks import UNet3D

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_the_python_example_runs(tmp_path):
    example = python_examples()[0]
    script = tmp_path / "example.py"
    script.write_text(example + "\nassert tuple(logits.shape) == (1, 2, 388, 300), logits.shape\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(388, 388)" in result.stdout


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.slow
def test_the_predictor_example_runs_on_a_bundle_folder_and_sample_data(tmp_path):
    (example,) = [block for block in python_examples() if "Predictor.from_bundle" in block]
    work = tmp_path / "work" / "unet3d_ct_organs"
    shutil.copytree(bundle_path("unet3d_ct_organs"), work)
    (work / "models").mkdir(exist_ok=True)
    torch.save(UNet3D(1, 4, features=(8, 16, 32)).state_dict(), work / "models" / "model.pt")
    write_sample_data(tmp_path / "data", num_ct=2, num_mri=0, num_cells=0, ct_shape=(48, 48, 16))
    ct = next((tmp_path / "data" / "ct" / "imagesTs").glob("*.nii.gz"))
    script = tmp_path / "predictor.py"
    script.write_text(
        example.replace("/data/ct/patient_01.nii.gz", str(ct)).replace(
            "/data/dicom", str(tmp_path / "data" / "ct_dicom")
        )
        + "\nassert tuple(labels.shape) == (1, 48, 48, 16), labels.shape\n"
    )
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "masks").rglob("*_seg.nii.gz")) == [
        "ct_000_seg.nii.gz",
        "ct_001_seg.nii.gz",
    ]


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 250
