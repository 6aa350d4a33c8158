"""The overlay series: the structures, a legend and the warning burned into a copy of each slice."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from monai_unet2015.data import SaveOverlayd, series_grid, write_dicom_series, write_overlay_series
from monai_unet2015.data.rtstruct_writer import structure_color

pytest.importorskip("highdicom")

LABELS = {1: "liver", 2: "spleen"}


@pytest.fixture
def series(tmp_path):
    volume = np.full((96, 80, 4), 40.0, np.float32)  # soft tissue: mid grey in the CT window
    write_dicom_series(volume, np.diag([0.8, 0.8, 2.5, 1.0]), tmp_path / "ct")
    files = sorted((tmp_path / "ct").iterdir())
    return tmp_path / "ct", series_grid(files).affine, files


def mask_of(shape=(96, 80, 4)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[30:60, 30:60, 1:3] = 1
    mask[65:80, 40:70, 2] = 2
    return mask


def pixel_of(ds: pydicom.Dataset, x: int, y: int) -> tuple[int, ...]:
    """The overlay's RGB at voxel (x, y) of the series' grid: column x, row y of the slice."""
    return tuple(int(v) for v in ds.pixel_array[y, x])


def test_one_overlay_image_per_slice_in_the_study_with_the_structures_drawn(series, tmp_path):
    folder, affine, files = series
    written = write_overlay_series(mask_of(), affine, folder, tmp_path / "overlay", LABELS, {1: 12.3, 2: 4.5})
    assert [p.name for p in written] == [f"IM_{k:04d}.dcm" for k in range(1, 5)]
    source = pydicom.dcmread(files[0])
    images = [pydicom.dcmread(p) for p in written]
    (series_uid,) = {ds.SeriesInstanceUID for ds in images}  # one new series
    assert series_uid != source.SeriesInstanceUID
    for ds in images:
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and ds.PhotometricInterpretation == "RGB"
        assert (ds.StudyInstanceUID, ds.PatientID) == (source.StudyInstanceUID, source.PatientID)
        assert ds.BurnedInAnnotation == "YES" and "not for diagnostic use" in ds.SeriesDescription
    slice_2 = images[2]  # both structures
    assert pixel_of(slice_2, 30, 45) == structure_color(0)  # the liver's outline: its colour
    assert pixel_of(slice_2, 65, 55) == structure_color(1)  # the spleen's outline
    inside = pixel_of(slice_2, 45, 45)
    assert inside != structure_color(0) and inside[0] > inside[2]  # a translucent orange fill over grey
    r, g, b = pixel_of(slice_2, 20, 75)
    assert r == g == b  # no structure: the grey image
    assert pixel_of(images[0], 45, 45)[0] == pixel_of(images[0], 45, 45)[2]  # slice 0 holds no structure


def test_the_legend_and_the_warning_are_burned_in(series, tmp_path):
    folder, affine, _ = series
    with_legend = write_overlay_series(mask_of(), affine, folder, tmp_path / "a", LABELS, {1: 12.3, 2: 4.5})
    blank = np.zeros_like(mask_of())
    without = write_overlay_series(blank, affine, folder, tmp_path / "b", LABELS)
    top, bottom = pydicom.dcmread(with_legend[0]).pixel_array, pydicom.dcmread(without[0]).pixel_array
    assert tuple(top[6, 6]) == structure_color(0)  # the legend's first swatch
    yellow = (bottom[..., 0] > 200) & (bottom[..., 1] > 200) & (bottom[..., 2] < 60)
    assert yellow[-20:].any() and not yellow[:-20].any()  # the warning, at the bottom


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools is not installed (apt install dicom3tools)")
def test_dciodvfy_finds_no_error_in_an_overlay_image(series, tmp_path):
    folder, affine, _ = series
    (first, *_) = write_overlay_series(mask_of(), affine, folder, tmp_path / "overlay", LABELS)
    report = subprocess.run(["dciodvfy", "-new", str(first)], capture_output=True, text=True)
    errors = [line for line in (report.stdout + report.stderr).splitlines() if line.startswith("Error")]
    assert not errors, report.stdout + report.stderr


def test_a_mask_off_the_grid_or_not_3d_is_an_error(series, tmp_path):
    folder, affine, _ = series
    with pytest.raises(ValueError, match=r"mask must be \(x, y, z\), got shape \(96, 80\)"):
        write_overlay_series(np.zeros((96, 80)), affine, folder, tmp_path / "o", LABELS)
    shifted = affine.copy()
    shifted[:3, 3] += 0.4
    with pytest.raises(ValueError, match="the mask's grid does not contain the pixels of DICOM slice"):
        write_overlay_series(mask_of(), shifted, folder, tmp_path / "o", LABELS)


def test_save_overlayd_writes_a_folder_with_volumes_in_the_legend(series, tmp_path):
    from monai.data import MetaTensor

    folder, affine, files = series
    label = MetaTensor(mask_of()[None], affine=affine, meta={"filename_or_obj": str(folder)})
    SaveOverlayd("pred", tmp_path / "out", LABELS)({"pred": label, "name": "case"})
    assert len(list((tmp_path / "out" / "case_overlay").glob("IM_*.dcm"))) == len(files)


def orange_rows(pixels: np.ndarray) -> np.ndarray:
    """Rows holding the review colour (255, 140, 0)."""
    orange = (pixels[..., 0] > 230) & (np.abs(pixels[..., 1].astype(int) - 140) < 20) & (pixels[..., 2] < 30)
    return np.flatnonzero(orange.any(axis=1))


def test_needs_review_is_burned_in_above_the_warning(series, tmp_path):
    folder, affine, _ = series
    reasons = ["liver: reaches the edge of the image; part of it may lie outside the scan (a long reason)"]
    flagged = write_overlay_series(mask_of(), affine, folder, tmp_path / "a", LABELS, review=reasons)
    plain = write_overlay_series(mask_of(), affine, folder, tmp_path / "b", LABELS)
    rows = orange_rows(pydicom.dcmread(flagged[0]).pixel_array)
    assert len(rows) and rows.min() > 96 // 2  # in the lower half, above the bottom warning line
    assert not len(orange_rows(pydicom.dcmread(plain[0]).pixel_array))


def test_save_overlayd_burns_in_the_review_the_structure_report_left(series, tmp_path):
    from monai.data import MetaTensor

    from monai_unet2015.data import SaveStructureReportd

    folder, affine, _ = series
    mask = mask_of()
    mask[0:10, 30:40, 1:3] = 2  # spleen at the image's first column: the review flags it
    label = MetaTensor(mask[None], affine=affine, meta={"filename_or_obj": str(folder)})
    data = {"pred": label, "name": "case"}
    data = SaveStructureReportd("pred", tmp_path / "out", LABELS)(data)
    SaveOverlayd("pred", tmp_path / "out", LABELS)(data)
    first = sorted((tmp_path / "out" / "case_overlay").glob("IM_*.dcm"))[0]
    assert len(orange_rows(pydicom.dcmread(first).pixel_array))
