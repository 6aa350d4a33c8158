"""Messy inference input as users bring it, one row each: refused in one line, or segmented with the bad case named.

Each row builds a dataset folder from the small generated CT sample, runs the CT bundle's
``inference.json`` through :class:`~monai_unet2015.bundle.UNet2015Workflow` (the documented
route, in this process) with seeded random weights, and checks what comes out: the one-line
error (``SystemExit``), the warning, and exactly the files written. The plan's messy labels
are the table of ``tests/planning/test_messy_labels.py``; the command line's own output
(stderr, exit status) is ``tests/bundles/test_safety.py``.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from monai_unet2015.bundle import UNet2015Workflow
from monai_unet2015.bundle.locations import bundles_dir
from monai_unet2015.data import write_dicom_series

pytestmark = pytest.mark.slow
CONFIG = str(bundles_dir() / "unet3d_ct_organs" / "configs" / "inference.json")
TINY = {"features": [4, 8, 16], "roi_size": [60, 60, 60], "progress": False}
NIFTI_OUTPUTS = ("seg.nii.gz", "volumes.json")
DICOM_OUTPUTS = ("seg.dcm", *NIFTI_OUTPUTS)


def series_uid(folder: Path) -> str:
    return str(pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True).SeriesInstanceUID)


def held_out_image(sample: Path) -> Path:
    return sample / "ct" / "imagesTs" / "ct_002.nii.gz"


def two_series_one_slice_cut(sample: Path, data: Path) -> dict:
    """One folder with two DICOM series (a PACS export), one slice of the second cut short."""
    data.mkdir()
    for name in ("ct_000", "ct_002"):
        for path in (sample / "ct_dicom" / name).iterdir():
            shutil.copy(path, data / f"{name}_{path.name}")
    cut = data / "ct_002_IM_0005.dcm"
    cut.write_bytes(cut.read_bytes()[:-1000])
    return {}


def nan_and_truncated_beside_good_ones(sample: Path, data: Path) -> dict:
    data.mkdir()
    image = nib.load(held_out_image(sample))
    array = np.asarray(image.dataobj, dtype=np.float32)
    nib.save(nib.Nifti1Image(array, image.affine), data / "a_good.nii.gz")
    with_nan = array.copy()
    with_nan[10:14, 10:14, 4:6] = np.nan
    nib.save(nib.Nifti1Image(with_nan, image.affine), data / "b_nan.nii.gz")
    whole = held_out_image(sample).read_bytes()
    (data / "c_truncated.nii.gz").write_bytes(whole[: len(whole) // 2])
    return {}


def copy_test_image_as(name: str):
    def build(sample: Path, data: Path) -> dict:
        data.mkdir()
        shutil.copy(held_out_image(sample), data / name)
        return {}

    return build


def output_into_the_input_folder(sample: Path, data: Path) -> dict:
    copy_test_image_as("ct_002.nii.gz")(sample, data)
    return {"output_dir": str(data)}


def output_under_a_file(sample: Path, data: Path) -> dict:
    copy_test_image_as("ct_002.nii.gz")(sample, data)
    (data.parent / "a_file").write_text("not a folder")
    return {"output_dir": str(data / ".." / "a_file" / "masks")}


def nifti_with_dicom_seg_asked_for(sample: Path, data: Path) -> dict:
    copy_test_image_as("ct_002.nii.gz")(sample, data)
    return {"dicom_seg": "true"}


def an_mr_series(sample: Path, data: Path) -> dict:
    volume = np.random.default_rng(0).integers(0, 800, (40, 40, 8)).astype(np.float32)
    write_dicom_series(volume, np.diag([1.0, 1.0, 3.0, 1.0]), data, modality="MR", rescale_intercept=0)
    return {}


LONG_STEM = "a" * 242  # its outputs' names are 253 and 255 bytes: legal; a temporary name beside them was not
# (id, dataset folder name, build(sample, folder) -> overrides, error pattern or None,
#  warning pattern or None, the files written, relative to the output folder, or a function of the sample that
#  gives them)
BAD_INPUT = [
    (
        "one of two series with a truncated slice",
        "study",
        two_series_one_slice_cut,
        r"1 case\(s\) segmented, 0 skipped, 1 failed\n  FAILED {data}/[\d.]+: {data}/ct_002_IM_0005\.dcm is truncated: "
        r"2840 bytes of pixel data, 3840 expected\.",
        None,
        lambda sample: [f"{series_uid(sample / 'ct_dicom' / 'ct_000')}_{suffix}" for suffix in DICOM_OUTPUTS],
    ),
    (
        "a NaN image and a truncated file beside good ones",
        "batch",
        nan_and_truncated_beside_good_ones,
        r"1 case\(s\) segmented, 0 skipped, 2 failed(?s:.*)"
        r"FAILED {data}/b_nan\.nii\.gz: image {data}/b_nan\.nii\.gz has 32 NaN or infinite voxel\(s\)"
        r"(?s:.*)FAILED {data}/c_truncated\.nii\.gz: ",
        None,
        [f"a_good_{suffix}" for suffix in NIFTI_OUTPUTS],
    ),
    (
        "a 249-character file name",
        "long",
        copy_test_image_as(f"{LONG_STEM}.nii.gz"),
        None,
        None,
        [f"{LONG_STEM}_{suffix}" for suffix in NIFTI_OUTPUTS],
    ),
    (
        "the output folder is the input folder",
        "images",
        output_into_the_input_folder,
        r"output_dir {data} is dataset_dir itself: .* --output_dir {data}/masks",
        None,
        [],
    ),
    (
        "an output folder under a file",
        "images",
        output_under_a_file,
        r"output_dir {data}/\.\./a_file/masks is not writable \(NotADirectoryError: Not a directory\): "
        r"pass --output_dir with a folder this process can write to\. Nothing was computed\.",
        None,
        [],
    ),
    (
        "a DICOM SEG asked for NIfTI input",
        "images",
        nifti_with_dicom_seg_asked_for,
        None,
        r"{data}/ct_002\.nii\.gz\) is not a DICOM series: a DICOM SEG refers to the series it segments",
        [f"ct_002_{suffix}" for suffix in NIFTI_OUTPUTS],
    ),
    (
        "an MR series given to the CT preset",
        "mr",
        an_mr_series,
        r"dataset_dir {data}: DICOM folder {data} holds 1 image series of modality \['MR'\], none of modality CT: "
        r"segment them with the preset for their modality \(--modality\)\.",
        None,
        [],
    ),
    (
        "a '#' in the dataset folder's name",
        "run#2",
        copy_test_image_as("ct_002.nii.gz"),
        r"dataset_dir {data} has a '#', which MONAI's config parser turns into '::'",
        None,
        [],
    ),
]


def run_inference(root: Path, data: Path, output: Path, overrides: dict) -> None:
    settings = {"bundle_root": str(root), "dataset_dir": str(data), "output_dir": str(output), **TINY, **overrides}
    workflow = UNet2015Workflow(config_file=CONFIG, workflow_type="infer", **settings)
    workflow.initialize()
    workflow.run()


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


@pytest.mark.parametrize(
    "name, build, error, warning, written",
    [row[1:] for row in BAD_INPUT],
    ids=[row[0] for row in BAD_INPUT],
)
def test_bad_inference_input(name, build, error, warning, written, ct_sample, tiny_ct_weights, tmp_path):
    data = tmp_path / name
    overrides = build(ct_sample, data)
    output = Path(overrides.get("output_dir", tmp_path / "out"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if error is None:
            run_inference(tiny_ct_weights, data, output, overrides)
        else:
            with pytest.raises(SystemExit) as stopped:
                run_inference(tiny_ct_weights, data, output, overrides)
            message = str(stopped.value)
            assert message.startswith("error: ") and "Traceback" not in message, message
            assert re.search(error.format(data=re.escape(str(data))), message), message
    if warning is not None:
        pattern = warning.format(data=re.escape(str(data)))
        assert any(re.search(pattern, str(w.message)) for w in caught), [str(w.message) for w in caught]
    if output == data:
        assert files_under(output) == ["ct_002.nii.gz"]  # nothing written beside the image
    else:
        assert files_under(output) == (written(ct_sample) if callable(written) else written)
