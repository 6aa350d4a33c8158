"""The node's journal on its own (no network): what it stores, refuses, sets aside and removes."""

from __future__ import annotations

import os
import time

import numpy as np
import pydicom
import pytest

from monai_unet2015.data import write_dicom_series
from monai_unet2015.dicom_node import SeriesJournal
from monai_unet2015.dicom_node.journal import NonConformantError


def ct_slices(folder, slices: int = 6, seed: int = 0) -> list[pydicom.Dataset]:
    """A generated CT series (new UIDs on every call), as datasets in slice order."""
    volume = np.random.default_rng(seed).normal(40, 20, (32, 24, slices)).astype(np.float32)
    write_dicom_series(volume, np.diag([1.0, 1.0, 2.5, 1.0]), folder)
    return [pydicom.dcmread(path) for path in sorted(folder.iterdir())]


def localizer_of(ds: pydicom.Dataset) -> pydicom.Dataset:
    """A coronal localizer in the same series: another orientation, size and spacing."""
    localizer = pydicom.Dataset()
    localizer.update(ds)
    localizer.file_meta = ds.file_meta
    localizer.SOPInstanceUID = pydicom.uid.generate_uid()
    localizer.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    localizer.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    localizer.Rows, localizer.Columns, localizer.PixelSpacing = 16, 24, [2.0, 2.0]
    localizer.PixelData = np.zeros((16, 24), np.int16).tobytes()
    return localizer


@pytest.fixture
def journal(tmp_path):
    return SeriesJournal(tmp_path / "work")


def complete(journal: SeriesJournal, uid: str):
    record = journal.records[uid]
    journal.update(uid, state="complete")
    return journal.set_aside_odd_slices(uid, record.revision)


@pytest.mark.parametrize("localizer_first", [True, False])
def test_the_majority_of_slices_decides_the_geometry_and_a_localizer_is_set_aside(journal, tmp_path, localizer_first):
    slices = ct_slices(tmp_path / "series")
    localizer = localizer_of(slices[0])
    for ds in [localizer, *slices] if localizer_first else [*slices, localizer]:
        uid = journal.store(ds)
    assert journal.records[uid].instances == 7  # all stored: nothing decided before the series is whole
    record = complete(journal, uid)
    assert (record.state, record.instances, record.geometry["Rows"]) == ("complete", 6, slices[0].Rows)
    kept = journal.kept / f"mixed-{uid}"
    assert [p.stem for p in kept.iterdir()] == [localizer.SOPInstanceUID]
    assert {p.stem for p in journal.series_dir(uid).iterdir()} == {ds.SOPInstanceUID for ds in slices}


def test_two_geometries_of_equal_size_keep_the_series_aside_with_the_reason(journal, tmp_path):
    slices = ct_slices(tmp_path / "series", slices=4)
    for ds in slices[:2]:
        ds.PixelSpacing = [0.5, 0.5]
    for ds in slices:
        uid = journal.store(ds)
    record = complete(journal, uid)
    assert record.state == "kept" and "2 slice geometries, the largest two with 2 slices each" in record.reason


def test_an_mr_image_in_a_ct_series_is_set_aside_whichever_comes_first(journal, tmp_path):
    slices = ct_slices(tmp_path / "series")
    stranger = pydicom.Dataset()
    stranger.update(slices[0])
    stranger.file_meta = slices[0].file_meta
    stranger.SOPInstanceUID = pydicom.uid.generate_uid()
    stranger.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    stranger.Modality = "MR"
    for ds in [stranger, *slices]:
        uid = journal.store(ds)
    record = complete(journal, uid)
    assert (record.modality, record.instances) == ("CT", 6)


@pytest.mark.parametrize(
    "attribute, match",
    [
        ("PixelData", r"a CT slice without PixelData"),
        ("ImagePositionPatient", r"a CT slice without ImagePositionPatient"),
        ("ImageOrientationPatient", r"a CT slice without ImageOrientationPatient"),
        ("PixelSpacing", r"a CT slice without PixelSpacing"),
    ],
)
def test_a_slice_without_what_places_it_in_a_volume_is_refused(journal, tmp_path, attribute, match):
    (ds, *_) = ct_slices(tmp_path / "series", slices=2)
    delattr(ds, attribute)
    with pytest.raises(NonConformantError, match=match):
        journal.store(ds)
    assert not journal.records and not list(journal.incoming.iterdir())


def test_a_position_with_two_values_is_refused_naming_the_count(journal, tmp_path):
    (ds, *_) = ct_slices(tmp_path / "series", slices=2)
    ds.ImagePositionPatient = [0.0, 0.0]
    with pytest.raises(NonConformantError, match=r"ImagePositionPatient \(has 2 values, needs 3\)"):
        journal.store(ds)


@pytest.mark.parametrize(
    "attribute, value", [("PatientID", "SOMEONE-ELSE"), ("StudyInstanceUID", "1.2.826.0.1.3680043.8.498.1")]
)
def test_a_second_patient_or_study_under_one_series_uid_is_refused(journal, tmp_path, attribute, value):
    first, second, *_ = ct_slices(tmp_path / "series")
    uid = journal.store(first)
    setattr(second, attribute, value)
    with pytest.raises(NonConformantError, match=rf"{attribute} '{value}', but series {uid} holds {attribute}"):
        journal.store(second)
    assert journal.records[uid].instances == 1


def test_an_identical_resend_of_a_sent_series_starts_no_revision(journal, tmp_path):
    slices = ct_slices(tmp_path / "series", slices=3)
    for ds in slices:
        uid = journal.store(ds)
    journal.update(uid, state="sent", review=["liver: reaches the edge of the image"])
    for path in sorted((tmp_path / "series").iterdir()):  # the scanner pushes the same files again
        again = pydicom.dcmread(path)
        again.file_meta.SourceApplicationEntityTitle = "OTHER_SENDER"  # file meta is not the data set
        journal.store(again)
    record = journal.records[uid]
    assert (record.state, record.revision, record.instances) == ("sent", 0, 3)
    changed = pydicom.dcmread(sorted((tmp_path / "series").iterdir())[0])
    changed.SeriesDescription = "corrected"
    journal.store(changed)
    record = journal.records[uid]
    assert (record.state, record.revision, record.instances) == ("receiving", 1, 3)
    assert record.review == []  # the new revision's result is reviewed afresh


def test_an_instance_after_a_purge_starts_a_revision_of_what_comes_from_then_on(journal, tmp_path, caplog):
    slices = ct_slices(tmp_path / "series", slices=5)
    for ds in slices[:3]:
        uid = journal.store(ds)
    journal.update(uid, state="sent")
    journal.purge(uid)
    with caplog.at_level("WARNING", logger="monai_unet2015.dicom_node.journal"):
        for ds in slices[3:]:
            journal.store(ds)
    record = journal.records[uid]
    assert (record.state, record.revision, record.instances, record.purged) == ("receiving", 1, 2, False)
    assert "revision 1 is made of the instances sent from now on" in caplog.text
    journal.update(uid, state="sent")
    purged, _ = journal.purge_expired(0.0)
    assert [r.uid for r in purged] == [uid] and not journal.series_dir(uid).exists()  # purged again


@pytest.mark.parametrize("state", ["sent", "kept", "failed"])
def test_retention_purges_every_final_state_and_old_objects_kept_aside(journal, tmp_path, state):
    slices = ct_slices(tmp_path / "series", slices=2)
    for ds in slices:
        uid = journal.store(ds)
    journal.update(uid, state=state)
    sr = pydicom.Dataset()
    sr.update(slices[0])
    sr.file_meta = slices[0].file_meta
    sr.SOPClassUID, sr.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.88.22", pydicom.uid.generate_uid()
    journal.store(sr)  # an object kept aside
    (kept_file,) = journal.kept.rglob("*.dcm")
    assert journal.purge_expired(86400.0) == ([], 0)  # not old enough
    os.utime(kept_file, (time.time() - 2 * 86400,) * 2)
    purged, removed = journal.purge_expired(86400.0, now=time.time() + 2 * 86400)
    assert [r.uid for r in purged] == [uid] and removed == 1
    assert not journal.series_dir(uid).exists() and not kept_file.exists()
    assert journal.records[uid].state == state and journal.records[uid].purged


def test_a_series_still_receiving_is_never_purged(journal, tmp_path):
    (ds, *_) = ct_slices(tmp_path / "series", slices=2)
    uid = journal.store(ds)
    assert journal.purge_expired(0.0, now=time.time() + 10 * 86400) == ([], 0)
    assert journal.series_dir(uid).exists()
