"""The mistakes real users make, through the bundle command line as they would meet them.

Each test runs ``python -m monai.bundle run`` in a subprocess on small generated data: outputs
are never overwritten or mixed between patients, a bad case fails alone and by name, bad
training data fail before the first epoch, and every message is one line naming the file.
The inference inputs that are refused or fail by case are the table of
``tests/bundles/test_bad_inference_input.py`` (in this process).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import ConfigWorkflow

from monai_unet2015.bundle.locations import bundles_dir, with_common_config
from monai_unet2015.bundle.workflow import bundle_run_command
from monai_unet2015.engines import TrainingFinishedError
from tests.bundles.test_bad_inference_input import nan_and_truncated_beside_good_ones
from tests.raises import raises_cause

pytestmark = pytest.mark.slow
BUNDLE = bundles_dir() / "unet3d_ct_organs"
TINY = ["--features", "[4,8,16]", "--roi_size", "[60,60,60]", "--progress", "false"]


def bundle_run(config: str, *arguments: str) -> subprocess.CompletedProcess:
    command = bundle_run_command(f"configs/{config}", *TINY, *arguments)
    return subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=600)


def infer(root: Path, dataset_dir: Path, output_dir: Path, *arguments: str) -> subprocess.CompletedProcess:
    return bundle_run(
        "inference.json",
        *("--bundle_root", str(root), "--dataset_dir", str(dataset_dir), "--output_dir", str(output_dir)),
        *arguments,
    )


def workflow(config: str, workflow_type: str, **overrides) -> ConfigWorkflow:
    """The same config in this process (faster than a subprocess), initialised."""
    flow = ConfigWorkflow(
        config_file=with_common_config(BUNDLE / "configs" / config),
        workflow_type=workflow_type,
        **{"features": [4, 8, 16], "roi_size": [60, 60, 60], "progress": False},
        **overrides,
    )
    flow.initialize()
    return flow


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("error:", "  "))]


def test_two_patients_with_one_series_folder_name_never_share_a_mask(ct_sample, tiny_ct_weights, tmp_path):
    """D/patA/CT and D/patB/CT: two masks and two DICOM SEGs; the output folder lies inside the dataset."""
    data = tmp_path / "D"
    shutil.copytree(ct_sample / "ct_dicom" / "ct_000", data / "patA" / "CT")
    shutil.copytree(ct_sample / "ct_dicom" / "ct_002", data / "patB" / "CT")
    out = data / "out"
    first = infer(tiny_ct_weights, data, out, "--modality", "CT")
    assert first.returncode == 0, first.stderr[-3000:]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [f"{p}/CT_{s}" for p in ("patA", "patB") for s in ("seg.dcm", "seg.nii.gz", "volumes.json")]
    for patient, case in (("patA", "ct_000"), ("patB", "ct_002")):
        mask = nib.load(out / patient / "CT_seg.nii.gz")
        assert mask.shape == nib.load(ct_sample / "ct_dicom_labels" / f"{case}.nii.gz").shape

    # A corrected mask, then the same command again: nothing is replaced, the SEGs are not read as images.
    corrected = out / "patA" / "CT_seg.nii.gz"
    corrected.write_bytes(b"corrected by a radiologist")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = infer(tiny_ct_weights, data, out, "--modality", "ct")
    assert second.returncode == 0, second.stderr[-3000:]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert "skipped" in second.stdout + second.stderr and "--overwrite true replaces it" in second.stdout

    # asked to replace them (in this process: the command line was shown above)
    workflow(
        "inference.json",
        "infer",
        bundle_root=str(tiny_ct_weights),
        dataset_dir=str(data),
        output_dir=str(out),
        overwrite="TRUE",
    ).run()
    assert corrected.read_bytes() != b"corrected by a radiologist" and nib.load(corrected).shape == mask.shape


def test_a_bad_case_fails_by_name_and_the_good_cases_are_written(ct_sample, tiny_ct_weights, tmp_path):
    """On the command line: exit status 1, each failed case one stderr line, no traceback."""
    data = tmp_path / "batch"
    nan_and_truncated_beside_good_ones(ct_sample, data)
    nib.save(nib.load(data / "a_good.nii.gz"), data / "d_good.nii.gz")
    out = tmp_path / "out"

    result = infer(tiny_ct_weights, data, out)
    assert result.returncode == 1
    expected = [f"{case}_good_{suffix}" for case in "ad" for suffix in ("seg.nii.gz", "volumes.json")]
    assert sorted(p.name for p in out.iterdir()) == expected
    lines = stderr_lines(result)
    assert any(
        f"FAILED {data}/b_nan.nii.gz: image {data}/b_nan.nii.gz has 32 NaN or infinite voxel(s)" in line
        for line in lines
    ), lines
    assert any(line.startswith(f"  FAILED {data}/c_truncated.nii.gz: ") for line in lines), lines
    assert "2 case(s) segmented, 0 skipped, 2 failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_label_value_fails_before_the_first_epoch_naming_the_file(ct_sample, tmp_path):
    data = tmp_path / "ct"
    shutil.copytree(ct_sample / "ct", data)
    label_path = sorted((data / "labelsTr").iterdir())[0]
    label = nib.load(label_path)
    array = np.asarray(label.dataobj).copy()
    array[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(array, label.affine), label_path)
    root = tmp_path / "root"
    result = bundle_run("train.json", "--bundle_root", str(root), "--dataset_dir", str(data), "--max_epochs", "1")
    assert result.returncode == 1
    assert f"  {label_path}: label values [7] are outside 0..3 or 255 (not annotated)" in result.stderr
    assert "Traceback" not in result.stderr and "Epoch" not in result.stdout + result.stderr
    assert not (root / "models").exists() or not any((root / "models").iterdir())


def test_an_override_typo_is_an_error_naming_the_closest_key(ct_sample, tmp_path):
    result = bundle_run(
        "train.json", "--bundle_root", str(tmp_path), "--dataset_dir", str(ct_sample / "ct"), "--max_epoch", "1"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-2:] == [
        "error: --max_epoch is not an option of this bundle; did you mean --max_epochs?",
        "(set MONAI_UNET2015_TRACEBACK=1 for the full traceback)",
    ]


def test_a_finished_training_says_how_to_train_on(ct_sample, tmp_path):
    arguments = {
        "bundle_root": str(tmp_path),
        "dataset_dir": str(ct_sample / "ct"),
        "max_epochs": 1,
        "val_interval": 1,
        "cache": "none",
    }
    workflow("train.json", "train", **arguments).run()
    message = (
        f"the training in {tmp_path}/models has already run 1 epochs (max_epochs 1), so there is nothing left to "
        "do: pass a larger max_epochs (e.g. --max_epochs 2) to train on, or a fresh ckpt_dir to train anew."
    )
    with raises_cause(TrainingFinishedError, re.escape(message)):
        workflow("train.json", "train", **arguments).run()


def test_a_single_image_file_as_dataset_dir(ct_sample, tiny_ct_weights, tmp_path):
    image = ct_sample / "ct" / "imagesTs" / "ct_002.nii.gz"
    out = tmp_path / "out"
    workflow(
        "inference.json", "infer", bundle_root=str(tiny_ct_weights), dataset_dir=str(image), output_dir=str(out)
    ).run()
    assert sorted(p.name for p in out.iterdir()) == ["ct_002_seg.nii.gz", "ct_002_volumes.json"]


def test_the_links_that_split_a_mixed_dicom_folder_are_removed_after_each_case(ct_sample, tiny_ct_weights, tmp_path):
    import tempfile

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for case in ("ct_000", "ct_002"):  # two series in one folder
        for slice_file in (ct_sample / "ct_dicom" / case).iterdir():
            shutil.copy(slice_file, mixed / f"{case}_{slice_file.name}")
    before = set(Path(tempfile.gettempdir()).glob("monai_unet2015_series_*"))
    out = tmp_path / "out"
    flow = workflow(
        "inference.json", "infer", bundle_root=str(tiny_ct_weights), dataset_dir=str(mixed), output_dir=str(out)
    )
    assert len(flow.parser.get_parsed_content("datalist")) == 2
    during = set(Path(tempfile.gettempdir()).glob("monai_unet2015_series_*")) - before
    assert len(during) == 1  # the datalist's links, while the cases wait
    flow.run()
    assert len([p for p in out.rglob("*_seg.nii.gz")]) == 2
    assert not any(folder.exists() for folder in during)


def test_a_second_training_into_a_busy_bundle_folder_is_refused(ct_sample, tmp_path):
    from tests.bundles.test_lock import hold

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        hold(tmp_path / "models", holder.pid)
        result = bundle_run(
            "train.json", "--bundle_root", str(tmp_path), "--dataset_dir", str(ct_sample / "ct"), "--max_epochs", "1"
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert f"error: {tmp_path / 'models'} is being trained by process {holder.pid} on " in result.stderr
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [".training.lock"]
