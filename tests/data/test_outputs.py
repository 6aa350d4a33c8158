"""Outputs: NIfTI masks on the input's grid, DICOM SEG that matches the series slice by slice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, LoadImage

from monai_unet2015.data import (
    CT_LABELS,
    SaveDicomSegd,
    SaveMaskd,
    atomic_output,
    ct_preprocessing,
    inference_postprocessing,
    read_series,
    write_dicom_seg,
)
from monai_unet2015.data.outputs import check_label_map

hd = pytest.importorskip("highdicom", reason="DICOM SEG needs the optional highdicom (the dicom extra)")
ORGANS = {v: k for k, v in CT_LABELS.items() if v}


def logits_from_label(label: torch.Tensor, classes: int = 4) -> torch.Tensor:
    """A perfect prediction of ``label`` (1, *S) as logits (classes, *S), with the label's metadata."""
    one_hot = torch.nn.functional.one_hot(label[0].long(), classes).movedim(-1, 0).float() * 10
    return MetaTensor(one_hot.as_tensor(), meta=label.meta)


@pytest.mark.parametrize("source", ["ct/imagesTs/ct_002.nii.gz", "ct_dicom/ct_002"])
@pytest.mark.parametrize("pixdim, min_agreement", [((0.8, 0.8, 2.5), 1.0), ((1.6, 1.6, 2.5), 0.95)])
@pytest.mark.parametrize("scores", [True, False])
def test_mask_is_saved_on_the_input_grid(sample_root, tmp_path, source, pixdim, min_agreement, scores):
    preprocessing = Compose(ct_preprocessing(pixdim=pixdim))
    sample = preprocessing(
        {"image": str(sample_root / source), "label": str(sample_root / "ct/labelsTs/ct_002.nii.gz")}
    )
    # the logits, or the class map OverlapTileInferer(argmax=True) gives (uint8)
    logits = logits_from_label(sample["label"])
    sample["pred"] = logits if scores else logits.argmax(0, keepdim=True).to(torch.uint8)
    Compose(inference_postprocessing(tmp_path, scores=scores))(sample)
    written = list(tmp_path.glob("*_seg.nii.gz"))
    assert len(written) == 1 and written[0].name.startswith(Path(source).name.split(".")[0])
    mask, truth = nib.load(written[0]), nib.load(sample_root / "ct/labelsTs/ct_002.nii.gz")
    assert mask.shape == truth.shape and mask.get_data_dtype() == np.uint8
    np.testing.assert_allclose(mask.affine, truth.affine, atol=1e-4)
    agreement = (np.asarray(mask.dataobj) == np.asarray(truth.dataobj)).mean()
    assert agreement >= min_agreement  # resampled 2x in-plane and back: only organ borders may move


def seg_as_label_map(path: Path, series: Path) -> tuple[np.ndarray, list]:
    seg = hd.seg.segread(path)
    sources = read_series(series)
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in sources], combine_segments=True, relabel=False
    )
    return frames, sources


def test_dicom_seg_matches_the_mask_slice_by_slice(sample_root, tmp_path):
    series = sample_root / "ct_dicom" / "ct_000"
    label = LoadImage(image_only=True)(str(sample_root / "ct_dicom_labels" / "ct_000.nii.gz"))
    path = write_dicom_seg(
        np.asarray(label).astype(np.uint8), np.asarray(label.affine), series, tmp_path / "s.dcm", ORGANS
    )
    frames, sources = seg_as_label_map(path, series)
    seg = hd.seg.segread(path)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["liver", "spleen", "kidney"]
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Liver"
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    for frame, ds in zip(frames, sources):
        np.testing.assert_array_equal(frame, np.asarray(label)[:, :, ds.InstanceNumber - 1].T)


def test_save_dicom_segd_after_inverting_the_preprocessing(sample_root, tmp_path):
    series = sample_root / "ct_dicom" / "ct_000"
    preprocessing = Compose(ct_preprocessing(label_key=None, pixdim=(1.6, 1.6, 2.5)))
    sample = preprocessing({"image": str(series)})
    sample["pred"] = logits_from_label(sample["image"] * 0)  # all background
    out = Compose([*inference_postprocessing(tmp_path), SaveDicomSegd("pred", tmp_path, ORGANS)])(sample)
    assert (tmp_path / "ct_000_seg.dcm").is_file()
    frames, _ = seg_as_label_map(tmp_path / "ct_000_seg.dcm", series)
    assert frames.shape == (12, 40, 48) and not frames.any()
    assert tuple(out["pred"].shape[1:]) == (48, 40, 12)


def test_the_seg_names_its_model_and_says_not_for_diagnostic_use(sample_root, tmp_path):
    series = sample_root / "ct_dicom" / "ct_000"
    label = LoadImage(image_only=True)(str(sample_root / "ct_dicom_labels" / "ct_000.nii.gz"))
    mask, affine = np.asarray(label).astype(np.uint8), np.asarray(label.affine)
    named = write_dicom_seg(mask, affine, series, tmp_path / "a.dcm", ORGANS, False, "CT organs", "0.5.4")
    seg = pydicom.dcmread(named)
    assert seg.ManufacturerModelName == "CT organs" and list(seg.SoftwareVersions)[-1] == "0.5.4"
    assert seg.SeriesDescription == "CT organs 0.5.4 (not for diagnostic use)"
    long_name = "A very long model name that would not fit in DICOM's sixty-four characters"
    cut = pydicom.dcmread(write_dicom_seg(mask, affine, series, tmp_path / "b.dcm", ORGANS, False, long_name, "1.0"))
    assert len(cut.SeriesDescription) == 64 and cut.SeriesDescription.endswith(" 1.0 (not for diagnostic use)")
    assert len(cut.ManufacturerModelName) <= 64 and long_name.startswith(cut.ManufacturerModelName)


def test_the_ct_bundle_names_itself_and_its_version_in_the_seg():
    from monai_unet2015.bundle import bundle_identity
    from monai_unet2015.bundle.locations import bundle_path

    identity = bundle_identity(bundle_path("unet3d_ct_organs"))
    metadata = json.loads((bundle_path("unet3d_ct_organs") / "configs" / "metadata.json").read_text())
    assert identity == {"name": metadata["name"], "version": metadata["version"]}
    steps = json.loads((bundle_path("unet3d_ct_organs") / "configs" / "inference.json").read_text())
    (seg_step,) = [t for t in steps["postprocessing"]["transforms"] if t["_target_"].endswith("SaveDicomSegd")]
    assert seg_step["model_name"] == "$@model_identity['name']"
    assert bundle_identity("/nowhere")["name"] == "monai_unet2015 U-Net"


def test_mask_off_the_series_grid_is_an_error(sample_root, tmp_path):
    series = sample_root / "ct_dicom" / "ct_000"
    shifted = np.diag([0.8, 0.8, 2.5, 1.0])
    shifted[:3, 3] = 0.4  # half a voxel
    with pytest.raises(ValueError, match="does not contain the pixels of DICOM slice"):
        write_dicom_seg(np.zeros((48, 40, 12), np.uint8), shifted, series, tmp_path / "s.dcm", ORGANS)


def test_unnamed_mask_values_are_an_error(sample_root, tmp_path):
    with pytest.raises(ValueError, match=r"mask holds values \[7\] that labels"):
        write_dicom_seg(
            np.full((48, 40, 12), 7, np.uint8), np.eye(4), sample_root / "ct_dicom/ct_000", tmp_path / "s.dcm", ORGANS
        )


def test_save_dicom_segd_needs_positive_labels(tmp_path):
    with pytest.raises(ValueError, match="labels must map values > 0 to names"):
        SaveDicomSegd("pred", tmp_path, {0: "background"})


def test_atomic_output_leaves_nothing_when_writing_fails(tmp_path):
    target = tmp_path / "mask.nii.gz"
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_output(target) as partial:
            partial.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stem", ["a" * 237 + "_seg", "é" * 120 + "_seg"])
def test_a_long_legal_name_is_written(tmp_path, stem):
    """A 248-byte name is legal; its temporary name must stay within the file system's 255."""
    target = tmp_path / f"{stem}.nii.gz"
    with atomic_output(target) as partial:
        assert len(partial.name.encode()) <= 255 and partial.name.endswith(".nii.gz")
        partial.write_text("mask")
    assert target.read_text() == "mask" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_name_over_the_file_system_limit_is_named(tmp_path):
    target = tmp_path / ("a" * 250 + "_seg.nii.gz")
    with pytest.raises(ValueError, match=r"its name is 261 bytes, the file system takes 255: shorten the input's name"):
        with atomic_output(target):
            pass


def test_a_kill_while_writing_leaves_no_partial_output(tmp_path):
    """SIGKILL in the middle of a write: the final name never holds a half-written file."""
    script = (
        "import os, signal, sys\n"
        "from monai_unet2015.data import atomic_output\n"
        "with atomic_output(sys.argv[1]) as partial:\n"
        "    partial.write_bytes(b'half a mask')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "CT_seg.nii.gz")], timeout=120)
    assert result.returncode == -signal.SIGKILL
    assert not (tmp_path / "CT_seg.nii.gz").exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".CT_seg.partial-")  # hidden, named as partial


@pytest.mark.parametrize("ext", [".nii.gz", ".png"])
def test_save_mask_never_overwrites_unless_asked(tmp_path, ext):
    shape = (1, 6, 5, 4) if ext == ".nii.gz" else (1, 6, 5)
    first = {"pred": MetaTensor(torch.ones(shape)), "name": "patA/CT"}
    SaveMaskd("pred", tmp_path, output_ext=ext)(first)
    written = tmp_path / "patA" / f"CT_seg{ext}"
    before = written.read_bytes()
    second = {"pred": MetaTensor(torch.zeros(shape)), "name": "patA/CT"}
    with pytest.raises(FileExistsError, match=r"CT_seg.* exists: pass overwrite=True \(bundles: --overwrite true\)"):
        SaveMaskd("pred", tmp_path, output_ext=ext)(second)
    assert written.read_bytes() == before
    SaveMaskd("pred", tmp_path, output_ext=ext, overwrite=True)(second)
    assert written.read_bytes() != before
    assert sorted(p.name for p in written.parent.iterdir()) == [f"CT_seg{ext}"]


def test_save_mask_invalid_extension():
    with pytest.raises(ValueError, match=r"output_ext must be .nii.gz, .nii, .png, .tif or .tiff, got '.jpg'"):
        SaveMaskd("pred", "out", output_ext=".jpg")


def test_dicom_seg_asked_for_a_nifti_input_says_so(tmp_path):
    from monai.data import MetaTensor

    from monai_unet2015.data import SaveDicomSegd

    mask = MetaTensor(torch.zeros(1, 4, 4, 4), meta={"filename_or_obj": str(tmp_path / "a.nii.gz")})
    sample = {"pred": mask, "image": str(tmp_path / "a.nii.gz"), "name": "a"}
    quiet = SaveDicomSegd("pred", tmp_path, {1: "liver"})
    asked = SaveDicomSegd("pred", tmp_path, {1: "liver"}, warn_without_dicom=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet(sample)
    with pytest.warns(UserWarning, match=r"dicom_seg is on, but a \(.*a.nii.gz\) is not a DICOM series"):
        asked(sample)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "values, dtype",
    [([0.0, 1.0, 3.0], np.uint8), ([0.0, 300.0], np.uint16), ([-1.0, 2.0], np.int16), ([0, 2], np.int64)],
)
def test_a_label_map_comes_back_in_the_smallest_integer_type_of_its_values(values, dtype):
    mask = np.array(values, dtype=np.float32 if isinstance(values[0], float) else np.int64).reshape(1, 1, -1)
    checked = check_label_map(mask)
    assert checked.dtype == dtype and np.array_equal(checked, mask)


@pytest.mark.parametrize("bad", [0.5, np.nan, np.inf])
def test_a_label_map_of_fractions_or_nan_is_refused(bad):
    with pytest.raises(ValueError, match=r"mask must hold integer label values, got fractions or NaN"):
        check_label_map(np.array([0.0, 1.0, bad], np.float32).reshape(1, 1, 3))
