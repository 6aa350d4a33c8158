"""The structured report: each structure's volume, on the SEG's segments, read back by pydicom and dcmtk."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from monai_unet2015.data import SaveVolumeReportd, series_grid, write_dicom_series, write_volume_report

hd = pytest.importorskip("highdicom")
from monai_unet2015.data import write_dicom_seg  # noqa: E402

LABELS = {1: "liver", 2: "spleen"}


@pytest.fixture
def case(tmp_path):
    write_dicom_series(np.zeros((40, 36, 6), np.float32), np.diag([0.8, 0.8, 2.5, 1.0]), tmp_path / "ct")
    affine = series_grid(sorted((tmp_path / "ct").iterdir())).affine
    mask = np.zeros((40, 36, 6), np.uint8)
    mask[5:20, 5:20, 1:4] = 1
    mask[25:30, 25:30, 2:4] = 2
    seg = write_dicom_seg(mask, affine, tmp_path / "ct", tmp_path / "case_seg.dcm", LABELS)
    return tmp_path / "ct", affine, mask, seg


def volumes_in(ds: pydicom.Dataset) -> dict[str, tuple[float, str, int]]:
    """{tracking identifier: (volume, unit, referenced segment number)} of a TID 1500 report."""
    found = {}

    def walk(items, group):
        for item in items:
            name = item.ConceptNameCodeSequence[0].CodeMeaning
            if name == "Tracking Identifier":
                group["id"] = item.TextValue
            elif name == "Volume":
                value = item.MeasuredValueSequence[0]
                group["volume"] = (float(value.NumericValue), value.MeasurementUnitsCodeSequence[0].CodeValue)
            elif name == "Referenced Segment":
                group["segment"] = int(item.ReferencedSOPSequence[0].ReferencedSegmentNumber)
            if "ContentSequence" in item:
                child = {}
                walk(item.ContentSequence, child)
                if "id" in child:
                    found[child["id"]] = (*child["volume"], child["segment"])

    walk(ds.ContentSequence, {})
    return found


def test_each_segment_has_its_volume_and_the_report_references_the_seg(case, tmp_path):
    folder, _, _, seg_path = case
    path = write_volume_report(seg_path, folder, {"liver": 67.5, "spleen": 1.6}, tmp_path / "case_sr.dcm")
    sr, seg = pydicom.dcmread(path), pydicom.dcmread(seg_path)
    assert volumes_in(sr) == {"liver": (67.5, "ml", 1), "spleen": (1.6, "ml", 2)}
    assert sr.StudyInstanceUID == seg.StudyInstanceUID and sr.PatientID == seg.PatientID
    evidence = {
        item.ReferencedSOPInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert seg.SOPInstanceUID in evidence
    assert "not for diagnostic use" in sr.SeriesDescription


def test_save_volume_reportd_measures_the_mask_it_is_given(case, tmp_path):
    from monai.data import MetaTensor

    folder, affine, mask, _ = case
    label = MetaTensor(mask[None], affine=affine, meta={"filename_or_obj": str(folder)})
    SaveVolumeReportd("pred", tmp_path, LABELS)({"pred": label, "name": "case"})
    volumes = volumes_in(pydicom.dcmread(tmp_path / "case_sr.dcm"))
    voxel_ml = 0.8 * 0.8 * 2.5 / 1000
    assert volumes["liver"][0] == pytest.approx((mask == 1).sum() * voxel_ml, abs=1e-3)
    assert volumes["spleen"][0] == pytest.approx((mask == 2).sum() * voxel_ml, abs=1e-3)


def test_a_report_without_its_seg_or_a_volume_is_an_error(case, tmp_path):
    from monai.data import MetaTensor

    folder, affine, mask, seg_path = case
    with pytest.raises(ValueError, match=r"volumes_ml has no volume for segment\(s\) \['spleen'\]"):
        write_volume_report(seg_path, folder, {"liver": 1.0}, tmp_path / "sr.dcm")
    label = MetaTensor(mask[None], affine=affine, meta={"filename_or_obj": str(folder)})
    with pytest.raises(ValueError, match=r"dicom_sr needs dicom_seg: the report references the SEG's segments"):
        SaveVolumeReportd("pred", tmp_path / "elsewhere", LABELS)({"pred": label, "name": "case"})


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools is not installed (apt install dicom3tools)")
def test_dciodvfy_and_dsrdump_read_the_report(case, tmp_path):
    folder, _, _, seg_path = case
    path = write_volume_report(seg_path, folder, {"liver": 67.5, "spleen": 1.6}, tmp_path / "case_sr.dcm")
    report = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True)
    errors = [line for line in (report.stdout + report.stderr).splitlines() if line.startswith("Error")]
    assert not errors, report.stdout + report.stderr
    if shutil.which("dsrdump"):
        dump = subprocess.run(["dsrdump", str(path)], capture_output=True, text=True)
        assert dump.returncode == 0 and '<contains NUM:(,,"Volume")="67.5" (ml,UCUM,"milliliter")>' in dump.stdout


def needs_review_in(ds: pydicom.Dataset) -> set[str]:
    """The tracking identifiers of the groups with the qualitative evaluation "Needs review: Yes"."""
    flagged = set()
    for group in (item for item in ds.ContentSequence if "ContentSequence" in item):
        for measurement in (item for item in group.ContentSequence if "ContentSequence" in item):
            names = {i.ConceptNameCodeSequence[0].CodeMeaning: i for i in measurement.ContentSequence}
            review = names.get("Needs review")
            if review is not None and review.ConceptCodeSequence[0].CodeMeaning == "Yes":
                flagged.add(names["Tracking Identifier"].TextValue)
    return flagged


def test_the_structures_flagged_for_review_carry_it(case, tmp_path):
    folder, _, _, seg_path = case
    volumes = {"liver": 67.5, "spleen": 1.6}
    flagged = write_volume_report(seg_path, folder, volumes, tmp_path / "a_sr.dcm", needs_review=["spleen"])
    plain = write_volume_report(seg_path, folder, volumes, tmp_path / "b_sr.dcm")
    assert needs_review_in(pydicom.dcmread(flagged)) == {"spleen"}
    assert needs_review_in(pydicom.dcmread(plain)) == set()
    if shutil.which("dciodvfy"):
        report = subprocess.run(["dciodvfy", "-new", str(flagged)], capture_output=True, text=True)
        errors = [line for line in (report.stdout + report.stderr).splitlines() if line.startswith("Error")]
        assert not errors, report.stdout + report.stderr
