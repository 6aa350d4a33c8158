"""The RTSTRUCT writer: read back by the package's own reader (pydicom) it gives the mask voxel for voxel."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from monai_unet2015.data import SaveRtStructd, series_grid, write_dicom_series, write_rtstruct
from monai_unet2015.data.rtstruct_labels import rasterise_contours, read_rtstruct
from monai_unet2015.data.rtstruct_writer import slice_outlines

LABELS = {1: "liver", 2: "spleen"}

# axial, and a sagittal series with a rotation about z: the writer must follow each slice's own geometry
AFFINES = {
    "axial": np.diag([0.8, 0.8, 2.5, 1.0]),
    "oblique": np.array(
        [[0.0, 0.0, 2.0, -40.0], [0.7 * 0.6, -0.7 * 0.8, 0.0, 10.0], [0.7 * 0.8, 0.7 * 0.6, 0.0, 5.0], [0, 0, 0, 1]]
    ),
}


def two_structures(shape=(40, 36, 6)) -> np.ndarray:
    """A liver with a hole and a second island, and a spleen touching it diagonally."""
    mask = np.zeros(shape, np.uint8)
    mask[5:25, 4:20, 1:5] = 1
    mask[10:14, 8:12, 2] = 0  # a hole
    mask[28:33, 25:30, 3] = 1  # an island of the same structure
    mask[25:35, 20:30, 2:4] = 2
    return mask


@pytest.fixture(params=sorted(AFFINES))
def series(request, tmp_path):
    affine = AFFINES[request.param]
    folder = tmp_path / "ct"
    write_dicom_series(np.zeros((40, 36, 6), np.float32), affine, folder)
    return folder, series_grid(sorted(folder.iterdir())).affine


def test_read_back_the_contours_give_the_mask_voxel_for_voxel(series, tmp_path):
    folder, affine = series
    mask = two_structures()
    path = write_rtstruct(mask, affine, folder, tmp_path / "rt.dcm", LABELS)
    grid = series_grid(sorted(folder.iterdir()))
    rois = {roi.name: roi for roi in read_rtstruct(path)}
    for value, name in LABELS.items():
        np.testing.assert_array_equal(rasterise_contours(rois[name], grid), mask == value)


def test_the_structure_set_references_the_series_and_carries_its_patient_and_study(series, tmp_path):
    folder, affine = series
    path = write_rtstruct(two_structures(), affine, folder, tmp_path / "rt.dcm", LABELS)
    rt = pydicom.dcmread(path)
    source = pydicom.dcmread(next(folder.iterdir()))
    assert rt.Modality == "RTSTRUCT" and rt.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3"
    assert (rt.PatientID, rt.StudyInstanceUID, rt.FrameOfReferenceUID) == (
        source.PatientID,
        source.StudyInstanceUID,
        source.FrameOfReferenceUID,
    )
    series_item = rt.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series_item.SeriesInstanceUID == source.SeriesInstanceUID
    referenced = {item.ReferencedSOPInstanceUID for item in series_item.ContourImageSequence}
    assert referenced == {pydicom.dcmread(p).SOPInstanceUID for p in folder.iterdir()}
    assert [roi.ROIName for roi in rt.StructureSetROISequence] == ["liver", "spleen"]
    assert [list(c.ROIDisplayColor) for c in rt.ROIContourSequence] == [[230, 159, 0], [86, 180, 233]]
    assert "not for diagnostic use" in rt.SeriesDescription


def test_a_structure_absent_from_the_mask_is_an_roi_without_contours(series, tmp_path):
    folder, affine = series
    mask = np.zeros((40, 36, 6), np.uint8)
    rt = pydicom.dcmread(write_rtstruct(mask, affine, folder, tmp_path / "rt.dcm", LABELS))
    assert [len(c.get("ContourSequence", [])) for c in rt.ROIContourSequence] == [0, 0]


@pytest.mark.parametrize(
    "mask, labels, match",
    [
        (np.zeros((40, 36)), LABELS, r"mask must be \(x, y, z\), got shape \(40, 36\)"),
        (np.full((40, 36, 6), 3), LABELS, r"mask holds values \[3\] that labels .* does not name"),
    ],
)
def test_invalid_masks_are_named(series, tmp_path, mask, labels, match):
    folder, affine = series
    with pytest.raises(ValueError, match=match):
        write_rtstruct(mask, affine, folder, tmp_path / "rt.dcm", labels)


def test_a_mask_off_the_series_grid_is_an_error_not_shifted_contours(series, tmp_path):
    folder, affine = series
    shifted = affine.copy()
    shifted[:3, 3] += affine[:3, 0] * 0.5  # half a voxel along x
    with pytest.raises(ValueError, match="the mask's grid does not contain the pixels of DICOM slice"):
        write_rtstruct(two_structures(), shifted, folder, tmp_path / "rt.dcm", LABELS)


def test_an_existing_file_is_kept_unless_overwrite(series, tmp_path):
    folder, affine = series
    path = write_rtstruct(two_structures(), affine, folder, tmp_path / "rt.dcm", LABELS)
    with pytest.raises(FileExistsError):
        write_rtstruct(two_structures(), affine, folder, path, LABELS)
    assert write_rtstruct(two_structures(), affine, folder, path, LABELS, overwrite=True) == path


def test_outlines_put_every_inside_centre_inside_and_no_other():
    from monai_unet2015.data.rtstruct_labels import fill_even_odd

    rng = np.random.default_rng(0)
    binary = rng.random((30, 30)) > 0.55  # ragged: diagonal touches, holes, single pixels
    outlines = slice_outlines(binary)
    # fill_even_odd takes (x, y) = (column, row) vertices and returns (columns, rows)
    filled = fill_even_odd([outline[:, ::-1] for outline in outlines], binary.shape[::-1]).T
    np.testing.assert_array_equal(filled, binary)


def test_save_rtstructd_writes_next_to_the_mask_for_dicom_input_only(series, tmp_path):
    from monai.data import MetaTensor

    folder, affine = series
    label = MetaTensor(two_structures()[None], affine=affine, meta={"filename_or_obj": str(folder)})
    SaveRtStructd("pred", tmp_path / "out", LABELS)({"pred": label, "name": "case"})
    assert (tmp_path / "out" / "case_rtstruct.dcm").is_file()
    nifti = MetaTensor(two_structures()[None], affine=affine, meta={"filename_or_obj": "case.nii.gz"})
    with pytest.warns(UserWarning, match="dicom_rtstruct is on, but case .* is not a DICOM series"):
        SaveRtStructd("pred", tmp_path / "nifti", LABELS, warn_without_dicom=True)({"pred": nifti, "name": "case"})
    assert not (tmp_path / "nifti").exists()


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools is not installed (apt install dicom3tools)")
@pytest.mark.parametrize("empty", [False, True], ids=["two structures", "one absent"])
def test_dciodvfy_finds_no_error_in_the_structure_set(series, tmp_path, empty):
    folder, affine = series
    mask = np.where(two_structures() == 2, 0, two_structures()) if empty else two_structures()
    path = write_rtstruct(mask, affine, folder, tmp_path / "rt.dcm", LABELS)
    report = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True)
    errors = [line for line in (report.stdout + report.stderr).splitlines() if line.startswith("Error")]
    assert not errors, report.stdout + report.stderr
