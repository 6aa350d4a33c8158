"""The built wheel, installed outside the checkout, runs the demo, plan, bundle init and a bundle inference.

The fresh virtual environment gets the wheel itself (not editable, from ``pip install``) and
borrows the dependencies of the test's own environment through a path entry, so the test
needs no network: what it checks is the wheel's own content, with the checkout out of reach
(another working directory, and ``monai_unet2015`` imported from the new environment).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import nibabel as nib
import pytest

from monai_unet2015.bundle.workflow import bundle_run_command

REPO = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_in_pyproject():
    pyproject = (REPO / "pyproject.toml").read_text()  # tomllib is Python 3.11+; 3.10 is supported
    block = pyproject[pyproject.index("\npackages = [") : pyproject.index("]", pyproject.index("\npackages = ["))]
    listed = set(re.findall(r'"(monai_unet2015[\w.]*)"', block))
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "monai_unet2015").rglob("__init__.py")} | {
        "monai_unet2015.bundles"
    }
    assert listed == found


def run(command: list[str], cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(root), str(REPO)], root)
    (wheel,) = root.glob("monai_unet2015-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root).strip())
    # the dependencies, read-only from this environment: a plain path entry, so its editable finder stays out
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)], root)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {"root": root, "python": str(python), "wheel": wheel, "env": env}


@pytest.mark.slow
def test_the_wheel_is_small_and_holds_the_bundles(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "monai_unet2015/bundles/unet3d_ct_organs/configs/inference.json" in names
    assert "monai_unet2015/bundles/unet2015_cells_2d/configs/train.json" in names
    assert not any("/models/" in n or n.endswith(".pt") for n in names)
    assert installed["wheel"].stat().st_size < 1_000_000


@pytest.mark.slow
def test_the_installed_package_runs_outside_the_checkout(installed):
    root, python, env = installed["root"], installed["python"], installed["env"]
    where = run([python, "-c", "import monai_unet2015; print(monai_unet2015.__file__)"], root, env)
    assert str(root / "venv") in where and str(REPO) not in where

    out = run(
        [python, "-m", "monai_unet2015", "demo", "--output-dir", "demo", "--ct-epochs", "1", "--cells-epochs", "1"],
        root,
        env,
    )
    # the README's main job with one epoch per bundle: every output is written and reported
    assert "3D CT bundle: test Dice" in out
    metrics = json.loads((root / "demo" / "metrics.json").read_text())
    assert set(metrics["ct_3d"]["dice"]) == {"liver", "spleen", "kidney"}
    assert len(metrics["cells_2d"]["test_images"]) == 2
    assert (root / "demo" / "figure.png").stat().st_size > 10_000
    assert re.search(r"^figure: \S*demo/figure\.png$", out, re.MULTILINE), out[-2000:]
    assert nib.load(root / metrics["ct_3d"]["mask"]).shape == (128, 128, 40)
    assert any(path.endswith("_seg.dcm") for path in metrics["ct_3d"]["dicom_outputs"])

    sample = root / "demo" / "sample"
    report = run([python, "-m", "monai_unet2015", "plan", str(sample / "cells"), "--output", "plan.json"], root, env)
    assert "plan for unet2015_cells_2d" in report and (root / "plan.json").is_file()

    run([python, "-m", "monai_unet2015", "bundle", "init", "unet3d_ct_organs", "work"], root, env)
    bundle = root / "work" / "unet3d_ct_organs"
    (bundle / "models").mkdir()
    (bundle / "models" / "model.pt").write_bytes(
        (root / "demo" / "unet3d_ct_organs" / "models" / "model.pt").read_bytes()
    )
    command = bundle_run_command("configs/inference.json", launcher=[python])
    command += ["--meta_file", "configs/metadata.json", "--dataset_dir", str(sample / "ct"), "--progress", "false"]
    run(command, bundle, env)
    assert len(list((bundle / "eval").glob("*_seg.nii.gz"))) >= 1


@pytest.mark.slow
def test_the_installed_presets_read_the_packaged_bundle_declarations(installed):
    script = (
        "from monai_unet2015.data import ct_preprocessing, microscopy_preprocessing, bundle_configs\n"
        "print(bundle_configs.bundles_dir())\n"
        "print([type(t).__name__ for t in ct_preprocessing(window=(-100, 200))])\n"
        "print(ct_preprocessing(window=(-100, 200))[-1].transform.scaler.a_min)\n"
        "print([type(t).__name__ for t in microscopy_preprocessing(label_key=None)])\n"
    )
    out = run([installed["python"], "-c", script], installed["root"], installed["env"]).splitlines()
    assert str(installed["root"] / "venv") in out[0] and str(REPO) not in out[0]
    assert "['LoadImaged', 'CheckImageLabeld', 'Orientationd', 'Spacingd', 'ModalityIntensityd']" in out
    assert "-100.0" in out  # the window given, not the bundle's -160
    assert "['LoadImaged', 'CheckImageLabeld', 'MicroscopyIntensityd']" in out
