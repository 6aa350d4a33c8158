"""The DICOM node against hostile and awkward peers, over real DICOM networking on loopback.

Identifiers that are not DICOM UIDs, peers that are not allowed, series split over
associations or re-sent after their SEG, mixed content, a PACS that warns or refuses. Each
test runs a node in this process (its worker thread segments with the bundle) and pynetdicom
peers on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from monai_unet2015.data import write_dicom_series
from monai_unet2015.dicom_node import AllowedPeer, DicomNode, SeriesJournal, series_status
from tests.dicom_node.test_node import OVERRIDES, SERIES_TIMEOUT, Pacs, send, wait_for
from tests.ports import free_port

pytestmark = pytest.mark.slow


def ct_series(folder, slices: int = 12, seed: int = 0):
    """A generated CT series (new UIDs on every call), as sorted file paths."""
    rng = np.random.default_rng(seed)
    volume = rng.normal(40, 20, (48, 40, slices)).astype(np.float32)
    volume[:4] = -1000.0  # some air, as a CT has
    write_dicom_series(volume, np.diag([1.0, 1.0, 2.5, 1.0]), folder)
    return sorted(folder.iterdir())


def uid_of(path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


class InProcessNode:
    """A :class:`DicomNode` on loopback, sending to a PACS stand-in (or to ``destination``); stopped by ``close``."""

    def __init__(self, bundle, work, pacs: Pacs | None = None, destination: str | None = None, port=None, **options):
        self.pacs = None if destination else (pacs or Pacs(free_port()).start())
        self.port, self.work = port or free_port(), work
        self.node = DicomNode(
            bundle,
            "UNET_NODE",
            self.port,
            destination or f"PACS@127.0.0.1:{self.pacs.port}",
            work_dir=work,
            series_timeout=SERIES_TIMEOUT,
            overrides=OVERRIDES,
            retry_initial=0.2,
            retry_max=0.5,
            host="127.0.0.1",
            poll_interval=0.2,
            **options,
        )
        self.node.start()

    def state(self, uid: str) -> str | None:
        record = self.node.journal.records.get(uid)
        return record.state if record else None

    def close(self) -> None:
        self.node.stop()
        if self.pacs is not None:
            self.pacs.stop()


@pytest.fixture
def node(bundle, tmp_path):
    running = InProcessNode(bundle, tmp_path / "work")
    yield running
    running.close()


def test_the_start_log_says_not_for_diagnostic_use(bundle, tmp_path, caplog):
    with caplog.at_level("INFO", logger="monai_unet2015.dicom_node.node"):
        running = InProcessNode(bundle, tmp_path / "work")
    try:
        (line,) = [r.getMessage() for r in caplog.records if "listening on" in r.getMessage()]
        assert line.endswith("; not for diagnostic use")
    finally:
        running.close()


def referenced_instances(seg: pydicom.Dataset) -> set[str]:
    return {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}


def sop_uids(paths) -> set[str]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}


# -- identifiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attribute, value",
    [
        ("SeriesInstanceUID", "1.2.3/../../../../x"),
        ("SeriesInstanceUID", "1.2.3_.._.._.._.._x"),
        ("SeriesInstanceUID", "."),
        ("SeriesInstanceUID", ".."),
        ("SeriesInstanceUID", "1." + "2" * 200),
        ("SeriesInstanceUID", "1.2.é"),
        ("SOPInstanceUID", "../../evil"),
        ("StudyInstanceUID", "/evil"),
    ],
)
def test_identifiers_that_are_not_uids_are_refused_and_nothing_leaves_the_work_dir(node, tmp_path, attribute, value):
    files = ct_series(tmp_path / "series", slices=2)
    hostile = pydicom.dcmread(files[0])
    setattr(hostile, attribute, value)
    before = {p for p in tmp_path.parent.rglob("*")}
    assert send([hostile], node.port) == [0xC000]
    created = {p for p in tmp_path.parent.rglob("*")} - before
    assert all(node.work in p.parents or p == node.work for p in created), created
    assert not list((node.work / "incoming").iterdir()) and not node.node.journal.records
    assert send(files, node.port) == [0x0000, 0x0000]  # the node keeps serving


def test_the_mixed_folder_splitter_names_folders_by_a_digest_of_a_hostile_uid(tmp_path):
    from monai_unet2015.data.dicom_reader import dicom_series_datalist

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for index, uid in enumerate(["1.2.3/../../../../escaped", "..", "1.2.840.1"]):
        for path in ct_series(tmp_path / f"s{index}", slices=2, seed=index):
            ds = pydicom.dcmread(path)
            ds.SeriesInstanceUID = uid
            ds.save_as(mixed / f"{index}_{path.name}")
    links = tmp_path / "links"
    datalist = dicom_series_datalist(mixed, link_dir=links)
    assert len(datalist) == 3
    assert all(links in p.parents for p in (links.rglob("*")))
    assert not (tmp_path / "escaped").exists() and not any(tmp_path.parent.glob("escaped"))
    names = sorted(p.name for p in links.iterdir())
    assert names[0] == "1.2.840.1" and all(n.startswith("uid-") for n in names[1:]) and len(set(names)) == 3


# -- access control ------------------------------------------------------------------------------


def associates(port: int, calling: str, called: str = "UNET_NODE") -> tuple[bool, bool]:
    """(established, rejected) for an association with only C-ECHO."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    established, rejected = assoc.is_established, assoc.is_rejected
    if established:
        assoc.release()
    return established, rejected


def test_only_allowed_calling_aes_may_associate_and_only_for_this_nodes_title(bundle, tmp_path):
    running = InProcessNode(bundle, tmp_path / "work", allowed=["SCANNER", AllowedPeer("OTHER", "10.9.9.9")])
    try:
        assert associates(running.port, "SCANNER") == (True, False)
        assert associates(running.port, "INTRUDER") == (False, True)
        assert associates(running.port, "OTHER") == (False, True)  # allowed only from another host
        assert associates(running.port, "SCANNER", called="SOMEONE_ELSE") == (False, True)
    finally:
        running.close()


def test_allowed_ae_arguments_are_checked():
    with pytest.raises(ValueError, match=r"--allowed-ae must be AE_TITLE\[@HOST\] .*got 'A_TITLE_FAR_TOO_LONG'"):
        AllowedPeer.parse("A_TITLE_FAR_TOO_LONG")


def test_dicom_tls_with_a_client_certificate(bundle, tmp_path):
    import ssl

    from monai_unet2015.dicom_node import tls_server_context

    def make(name: str, *extra: str) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
             "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / f"{name}.pem"), *extra],
            check=True, capture_output=True,
        )  # fmt: skip

    make("localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    make("scanner")
    server = tls_server_context(tmp_path / "localhost.pem", tmp_path / "localhost.key", tmp_path / "scanner.pem")
    running = InProcessNode(bundle, tmp_path / "work", tls=server)
    try:
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tmp_path / "localhost.pem"))
        client.load_cert_chain(str(tmp_path / "scanner.pem"), str(tmp_path / "scanner.key"))
        ae = AE(ae_title="SCANNER")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", running.port, ae_title="UNET_NODE", tls_args=(client, "localhost"))
        assert assoc.is_established and assoc.send_c_echo().Status == 0x0000
        assoc.release()
        plain = AE(ae_title="SCANNER")
        plain.add_requested_context(Verification)
        assert not plain.associate("127.0.0.1", running.port, ae_title="UNET_NODE").is_established
    finally:
        running.close()


# -- completeness --------------------------------------------------------------------------------


def test_a_series_over_two_associations_gives_one_seg_of_every_slice(node, tmp_path):
    files = ct_series(tmp_path / "series")
    assert set(send(files[:6], node.port)) == {0x0000}
    assert set(send(files[6:], node.port)) == {0x0000}
    wait_for(lambda: node.pacs.received, 180, "the SEG at the PACS")
    (seg,) = node.pacs.received
    assert referenced_instances(seg) == sop_uids(files)
    # the journal says "sent" only after the PACS's C-STORE response has come back to the node
    wait_for(lambda: node.state(uid_of(files[0])) == "sent", 180, "sent")
    assert node.node.journal.records[uid_of(files[0])].instances == 12


def test_one_instance_per_association_gives_one_seg_of_every_slice(node, tmp_path):
    files = ct_series(tmp_path / "series")
    for path in files:  # as storescu-style senders do
        assert send([path], node.port) == [0x0000]
    wait_for(lambda: node.pacs.received, 180, "the SEG at the PACS")
    wait_for(lambda: node.state(uid_of(files[0])) == "sent", 180, "sent")
    assert len(node.pacs.received) == 1 and referenced_instances(node.pacs.received[0]) == sop_uids(files)


def test_an_instance_after_the_seg_was_sent_gives_a_new_seg_of_the_whole_series(node, tmp_path):
    files = ct_series(tmp_path / "series", slices=13)
    send(files[:12], node.port)
    wait_for(lambda: node.pacs.received, 180, "the first SEG")
    uid = uid_of(files[0])
    wait_for(lambda: node.state(uid) == "sent", 180, "sent")
    first = node.pacs.received[0]
    assert send(files[12:], node.port) == [0x0000]  # the late slice
    wait_for(lambda: len(node.pacs.received) == 2, 180, "the second SEG")
    second = node.pacs.received[1]
    assert referenced_instances(first) == sop_uids(files[:12])
    assert referenced_instances(second) == sop_uids(files)
    assert second.SOPInstanceUID != first.SOPInstanceUID and second.StudyInstanceUID == first.StudyInstanceUID
    results = node.work / "results" / uid
    assert sorted(p.name for p in results.iterdir()) == ["r0", "r1"]  # the earlier result is kept
    assert node.node.journal.records[uid].revision == 1


def test_an_identical_resend_of_a_sent_series_makes_no_second_seg(node, tmp_path):
    import time

    files = ct_series(tmp_path / "series", slices=4)
    uid = uid_of(files[0])
    send(files, node.port)
    wait_for(lambda: node.state(uid) == "sent", 180, "sent")
    assert set(send(files, node.port, calling="PACS_FORWARD")) == {0x0000}  # the same series, pushed again
    time.sleep(2 * SERIES_TIMEOUT)  # a new revision would be complete and segmenting by now
    record = node.node.journal.records[uid]
    assert (record.state, record.revision) == ("sent", 0) and len(node.pacs.received) == 1


def test_an_mr_instance_or_a_localizer_sent_first_is_set_aside_and_not_referenced(node, tmp_path):
    files = ct_series(tmp_path / "series", slices=6)
    stranger = pydicom.dcmread(files[-1])
    stranger.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage, same series
    stranger.file_meta.MediaStorageSOPClassUID = stranger.SOPClassUID
    stranger.Modality = "MR"
    stranger.SOPInstanceUID = pydicom.uid.generate_uid()
    localizer = pydicom.dcmread(files[-1])
    localizer.ImageOrientationPatient, localizer.PixelSpacing = [1, 0, 0, 0, 0, -1], [0.5, 0.5]
    localizer.SOPInstanceUID = pydicom.uid.generate_uid()
    # the first slices decided the series' geometry before: then every axial slice went aside
    assert set(send([localizer, stranger, *files], node.port)) == {0x0000}
    wait_for(lambda: node.pacs.received, 180, "the SEG")
    assert referenced_instances(node.pacs.received[0]) == sop_uids(files)
    kept = sorted(p.stem for p in (node.work / "kept").rglob("*.dcm"))
    assert kept == sorted([str(stranger.SOPInstanceUID), str(localizer.SOPInstanceUID)])


def _without(attribute: str):
    def change(ds: pydicom.Dataset) -> None:
        delattr(ds, attribute)

    return change


@pytest.mark.parametrize(
    "change, status, logged",
    [
        (lambda ds: setattr(ds, "SOPInstanceUID", ""), 0xC000, "its C-STORE request has no AffectedSOPInstanceUID"),
        (_without("PixelData"), 0xA900, "a CT slice without PixelData"),
        (_without("ImagePositionPatient"), 0xA900, "a CT slice without ImagePositionPatient"),
        (lambda ds: setattr(ds, "PatientID", "SOMEONE-ELSE"), 0xA900, "one series, one patient and study"),
    ],
)
def test_a_non_conformant_instance_is_refused_at_once_and_logged(node, tmp_path, caplog, change, status, logged):
    import time

    first, second = (pydicom.dcmread(p) for p in ct_series(tmp_path / "series", slices=2))
    change(second)
    began = time.monotonic()
    with caplog.at_level("ERROR", logger="monai_unet2015.dicom_node.node"):
        assert send([first, second], node.port) == [0x0000, status]
    assert time.monotonic() - began < 10  # answered, not left to the sender's DIMSE timeout (30 s)
    assert any(logged in r.getMessage() and "SCANNER@127.0.0.1" in r.getMessage() for r in caplog.records)
    assert node.node.journal.records[str(first.SeriesInstanceUID)].instances == 1


def test_an_instance_whose_pixel_data_disagrees_with_its_header_is_refused(node, tmp_path):
    (path, *_) = ct_series(tmp_path / "series", slices=2)
    garbled = pydicom.dcmread(path)
    garbled.Rows = garbled.Rows + 3
    assert send([garbled], node.port) == [0xA900]
    assert not node.node.journal.records


def test_lossless_compressed_syntaxes_are_accepted_as_they_come_and_lossy_ones_refused(node):
    import itk
    from pydicom.data import get_testdata_file
    from pynetdicom.sop_class import MRImageStorage

    from monai_unet2015.dicom_node.node import LOSSLESS_COMPRESSED

    lossy = (pydicom.uid.JPEGBaseline8Bit, pydicom.uid.JPEGExtended12Bit, pydicom.uid.JPEGLSNearLossless)
    ae = AE(ae_title="SCANNER")
    for syntax in (*LOSSLESS_COMPRESSED, *lossy, pydicom.uid.JPEG2000):
        ae.add_requested_context(MRImageStorage, syntax)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="UNET_NODE")
    assert {cx.transfer_syntax[0] for cx in assoc.accepted_contexts} == set(LOSSLESS_COMPRESSED)
    j2k = get_testdata_file("MR_small_jp2klossless.dcm")  # a real MR slice, JPEG 2000 lossless (pydicom ships it)
    assert assoc.send_c_store(pydicom.dcmread(j2k)).Status == 0x0000
    assoc.release()
    (stored,) = node.work.glob("incoming/*/*.dcm")
    assert pydicom.dcmread(stored).file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
    # the bundles' DICOM reader (ITK) decodes it to the uncompressed slice's values exactly
    uncompressed = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    assert np.array_equal(itk.GetArrayFromImage(itk.imread(str(stored))).squeeze(), uncompressed)


# -- sending -------------------------------------------------------------------------------------


def test_a_warning_status_is_stored_once(bundle, tmp_path):
    running = InProcessNode(bundle, tmp_path / "work", pacs=Pacs(free_port(), status=0xB000).start())
    try:
        files = ct_series(tmp_path / "series", slices=4)
        send(files, running.port)
        wait_for(lambda: running.state(uid_of(files[0])) == "sent", 180, "sent")
        wait_for(lambda: running.pacs.attempts >= 1, 60, "the PACS's answer")
        assert running.pacs.attempts == 1 and len(running.pacs.received) == 1
    finally:
        running.close()


def test_a_pacs_without_seg_support_gets_the_overlay_series_and_the_journal_says_so(bundle, tmp_path):
    running = InProcessNode(
        bundle, tmp_path / "work", pacs=Pacs(free_port(), accepts_seg=False, accepts_sc=True).start()
    )
    try:
        files = ct_series(tmp_path / "series", slices=4)
        send(files, running.port)
        uid = uid_of(files[0])
        wait_for(lambda: running.state(uid) == "sent", 180, "sent")
        record = running.node.journal.records[uid]
        assert (
            "does not accept Segmentation Storage objects" in record.reason
            and "overlay series goes instead" in record.reason
        )
        received = running.pacs.received
        assert len(received) == 4 and {ds.SOPClassUID for ds in received} == {"1.2.840.10008.5.1.4.1.1.7"}
        assert {ds.StudyInstanceUID for ds in received} == {pydicom.dcmread(files[0]).StudyInstanceUID}
        assert not any(p.endswith("_seg.dcm") for p in record.sent)
    finally:
        running.close()


@pytest.mark.parametrize(
    "pacs_options, reason",
    [
        ({"status": 0xA700}, "answered failure status 0xA700"),
        ({"accepts_seg": False}, "does not accept Secondary Capture Image Storage objects"),  # after the SEG
    ],
)
def test_a_refusing_pacs_ends_in_failed_after_the_maximum_attempts(bundle, tmp_path, pacs_options, reason):
    pacs = Pacs(free_port(), **pacs_options).start()
    running = InProcessNode(bundle, tmp_path / "work", pacs=pacs, max_attempts=3)
    try:
        files = ct_series(tmp_path / "series", slices=4)
        send(files, running.port)
        uid = uid_of(files[0])
        wait_for(lambda: running.state(uid) == "failed", 180, "failed")
        record = running.node.journal.records[uid]
        assert record.attempts == 3 and f"not stored after 3 attempt(s): PACS {reason}" in record.reason
    finally:
        running.close()
    (row,) = series_status(tmp_path / "work")
    assert row["state"] == "failed" and row["attempts"] == 3
    shown = subprocess.run(
        [sys.executable, "-m", "monai_unet2015", "dicom-node", "status", "--work-dir", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and uid in shown.stdout and "failed" in shown.stdout
    as_json = subprocess.run(
        [
            sys.executable,
            "-m",
            "monai_unet2015",
            "dicom-node",
            "status",
            "--work-dir",
            str(tmp_path / "work"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(as_json.stdout)[0]["uid"] == uid


def test_status_of_a_folder_without_a_journal_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "monai_unet2015", "dicom-node", "status", "--work-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: --work-dir") and "no journal/" in result.stderr


# -- disk ----------------------------------------------------------------------------------------


def test_partial_files_are_removed_at_start_and_a_restart_counts_the_quiet_time_afresh(tmp_path):
    import time

    work = tmp_path / "work"
    journal = SeriesJournal(work)
    (path, *_) = ct_series(tmp_path / "series", slices=2)
    uid = journal.store(pydicom.dcmread(path))
    leftover = journal.series_dir(uid) / ".x.dcm.partial-1-2"
    leftover.write_bytes(b"half a file")
    journal.update(uid, last_received=time.time() - 3600)  # received long before the crash
    again = SeriesJournal(work)
    assert not leftover.exists()
    assert time.time() - again.records[uid].last_received < 60


def test_instances_during_segmentation_start_a_new_revision_and_the_old_job_is_not_recorded(tmp_path):
    journal = SeriesJournal(tmp_path / "work")
    first, second = ct_series(tmp_path / "series", slices=2)
    uid = journal.store(pydicom.dcmread(first))
    journal.update(uid, state="complete")  # the worker has taken the series
    journal.store(pydicom.dcmread(second))  # ... and a slice comes meanwhile
    record = journal.records[uid]
    assert (record.state, record.revision, record.instances) == ("receiving", 1, 2)
    assert journal.update_if(uid, 0, "complete", state="segmented", result="old.dcm") is None
    assert journal.records[uid].result == ""


def test_sent_series_are_removed_after_keep_days_and_their_journal_entry_stays(bundle, tmp_path):
    running = InProcessNode(bundle, tmp_path / "work", keep_days=0)
    try:
        files = ct_series(tmp_path / "series", slices=4)
        send(files, running.port)
        uid = uid_of(files[0])
        wait_for(
            lambda: running.node.journal.records.get(uid) and running.node.journal.records[uid].purged, 180, "purged"
        )
    finally:
        running.close()
    assert not (running.work / "incoming" / uid).exists() and not (running.work / "results" / uid).exists()
    assert series_status(running.work)[0]["state"] == "sent"


def test_the_worker_logs_a_repeated_error_once(bundle, tmp_path, caplog):
    import threading
    import time

    node = DicomNode(
        bundle,
        "UNET_NODE",
        free_port(),
        "PACS@127.0.0.1:104",
        work_dir=tmp_path / "w",
        poll_interval=0.02,
        overrides=OVERRIDES,
    )

    def full_disk(now=None):
        raise OSError(28, "No space left on device")

    node.work_once = full_disk
    worker = threading.Thread(target=node._run, args=(node.work_once, "worker"))
    with caplog.at_level("ERROR", logger="monai_unet2015.dicom_node.node"):
        worker.start()
        time.sleep(0.5)  # about 25 rounds
        node._stopping.set()
        worker.join()
    assert sum("worker failed" in r.getMessage() for r in caplog.records) == 1


def test_a_malformed_birth_date_still_gives_a_seg_without_it(bundle, tmp_path):
    from monai_unet2015.dicom_node import BundleSegmenter

    files = ct_series(tmp_path / "series", slices=4)
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PatientBirthDate = "19xx0101"
        ds.save_as(path)
    seg = pydicom.dcmread(BundleSegmenter(bundle, OVERRIDES).segment(tmp_path / "series", tmp_path / "out"))
    assert seg.Modality == "SEG" and not seg.get("PatientBirthDate")


def test_the_node_segments_with_the_training_preset_and_plan(bundle, tmp_path):
    from monai_unet2015.dicom_node import BundleSegmenter

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(OVERRIDES))  # the network the weights were trained with
    with_plan = BundleSegmenter(bundle, config_files=["inference.json", "cpu.json"], args_file=plan)
    ct_series(tmp_path / "series", slices=4)
    assert with_plan.segment(tmp_path / "series", tmp_path / "out").is_file()
    with pytest.raises(ValueError, match="does not fit the network"):  # the preset's wider network: at start
        BundleSegmenter(bundle, config_files=["inference.json", "cpu.json"])


def test_a_full_disk_answers_out_of_resources_leaves_no_partial_file_and_recovers(bundle, tmp_path):
    import os

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
    running = None
    try:
        running = InProcessNode(bundle, disk / "work")
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * max(0, free - 24 * 1024))  # room for a few slices only
        files = ct_series(tmp_path / "series", slices=12)
        statuses = send(files, running.port)
        assert 0xA700 in statuses and statuses[0] == 0x0000
        assert not [p for p in disk.rglob("*") if ".partial-" in p.name]
        (disk / "filler").unlink()
        assert set(send(files, running.port)) == {0x0000}  # space again: the sender retries
        wait_for(lambda: running.pacs.received, 240, "the SEG")
        assert referenced_instances(running.pacs.received[0]) == sop_uids(files)
    finally:
        if running is not None:
            running.close()
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_the_node_logs_each_series_cost_and_refuses_one_over_the_memory_limit(bundle, tmp_path, caplog):
    from monai_unet2015.bundle import CasesFailedError
    from monai_unet2015.dicom_node import BundleSegmenter

    ct_series(tmp_path / "series", slices=4)
    with caplog.at_level("INFO", logger="monai_unet2015.inferers.overlap_tile"):
        BundleSegmenter(bundle, OVERRIDES).segment(tmp_path / "series", tmp_path / "out")
    assert any("tiles of" in r.getMessage() and "GiB" in r.getMessage() for r in caplog.records)
    tight = BundleSegmenter(bundle, {**OVERRIDES, "max_memory_gib": 1e-6})
    with pytest.raises(CasesFailedError, match=r"max_memory_gib=1e-06 .* this input needs about"):
        tight.segment(tmp_path / "series", tmp_path / "refused")


def test_a_retry_sends_only_the_objects_the_destination_has_not_stored(bundle, tmp_path):
    import time
    from pathlib import Path

    from monai_unet2015.dicom_node import SendOutcome

    node = DicomNode(bundle, "UNET_NODE", free_port(), "PACS@127.0.0.1:104", work_dir=tmp_path / "w",
                     overrides=OVERRIDES, retry_initial=0.01, retry_max=0.01)  # fmt: skip
    (path, *_) = ct_series(tmp_path / "series", slices=2)
    uid = node.journal.store(pydicom.dcmread(path))
    objects = [str(tmp_path / "case_seg.dcm"), str(tmp_path / "case_rtstruct.dcm")]
    node.journal.update(uid, state="segmented", result=objects[0], results=objects)
    answers = iter([SendOutcome(True), SendOutcome(False, "PACS answered failure status 0xA700"), SendOutcome(True)])
    calls = []
    node.sender.send = lambda sent: calls.append(Path(sent).name) or next(answers)
    node.send_once()
    record = node.journal.records[uid]
    assert (record.state, record.sent, record.attempts) == ("segmented", objects[:1], 1)
    node.send_once(now=time.time() + 1)
    record = node.journal.records[uid]
    assert (record.state, record.sent) == ("sent", objects)
    assert calls == ["case_seg.dcm", "case_rtstruct.dcm", "case_rtstruct.dcm"]  # the SEG once


@pytest.mark.parametrize("outputs", [["seg", "dose"], [], ["seg", "seg"]])
def test_outputs_are_checked(bundle, outputs):
    from monai_unet2015.dicom_node import BundleSegmenter

    with pytest.raises(
        ValueError, match=r"outputs must be distinct names among \['overlay', 'rtstruct', 'seg', 'sr'\], got"
    ):
        BundleSegmenter(bundle, OVERRIDES, outputs=outputs)


def test_a_report_without_its_seg_is_refused_at_start(bundle):
    from monai_unet2015.dicom_node import BundleSegmenter

    with pytest.raises(ValueError, match=r"outputs: 'sr' references the SEG's segments, add 'seg', got \['sr'\]"):
        BundleSegmenter(bundle, OVERRIDES, outputs=["sr"])


def test_with_the_training_plan_a_series_of_far_thicker_slices_is_not_applicable(bundle, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    (tmp_path / "plan.fingerprint.json").write_text(json.dumps({"fingerprint": {"spacings": [[1.0, 1.0, 2.5]]}}))
    running = InProcessNode(bundle, tmp_path / "work", args_file=plan)
    try:
        thick = tmp_path / "thick"
        write_dicom_series(np.zeros((48, 40, 4), np.float32) - 1000, np.diag([1.0, 1.0, 8.0, 1.0]), thick)
        send(sorted(thick.iterdir()), running.port)
        uid = uid_of(next(thick.iterdir()))
        wait_for(lambda: running.state(uid) == "not_applicable", 60, "not applicable")
        assert "slice spacing 8 mm is coarser than the model was trained on" in running.node.journal.records[uid].reason
        files = ct_series(tmp_path / "series", slices=4)  # 2.5 mm: as trained
        send(files, running.port)
        wait_for(lambda: running.state(uid_of(files[0])) == "sent", 180, "the in-range series sent")
        assert len(running.pacs.received) == 1 and not (running.work / "results" / uid).exists()
    finally:
        running.close()


def test_with_the_training_plan_an_uncalibrated_ct_is_not_applicable_and_a_result_carries_its_review(bundle, tmp_path):
    from monai_unet2015.data.profiles import intensity_profile
    from monai_unet2015.dicom_node import BundleSegmenter

    trained = np.asarray([pydicom.dcmread(p).pixel_array for p in ct_series(tmp_path / "trained", slices=4)])
    fingerprint = {
        "spacings": [[1.0, 1.0, 2.5]],
        "shapes": [[48, 40, 12]],
        "slice_planes": ["axial"],
        "intensity": {"profiles_per_case": [intensity_profile(trained.astype(float) - 1024, ct=True)]},
    }
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    (tmp_path / "plan.fingerprint.json").write_text(json.dumps({"fingerprint": fingerprint}))
    running = InProcessNode(bundle, tmp_path / "work", args_file=plan)
    try:
        uncalibrated = tmp_path / "uncalibrated"  # the stored values read as HU: the Rescale Intercept lost
        volume = np.random.default_rng(1).normal(40, 20, (48, 40, 4)).astype(np.float32)
        volume[:4] = -1000.0
        write_dicom_series(volume + 1024, np.diag([1.0, 1.0, 2.5, 1.0]), uncalibrated)
        send(sorted(uncalibrated.iterdir()), running.port)
        uid = uid_of(next(uncalibrated.iterdir()))
        wait_for(lambda: running.state(uid) == "not_applicable", 60, "not applicable")
        assert "intensity 1st percentile 24 is outside" in running.node.journal.records[uid].reason
        files = ct_series(tmp_path / "series", slices=4)
        send(files, running.port)
        good = uid_of(files[0])
        wait_for(lambda: running.state(good) == "sent", 180, "the in-range series sent")
        review = running.node.journal.records[good].review
        assert review == BundleSegmenter.review(running.work / "results" / good) and isinstance(review, list)
        shown = [row for row in series_status(running.work) if row["uid"] == good]
        assert shown[0]["review"] == review
    finally:
        running.close()


def test_the_command_line_names_an_unknown_output_at_start(bundle, tmp_path, capsys):
    from monai_unet2015.__main__ import main

    arguments = ["dicom-node", "serve", "--bundle", str(bundle), "--ae-title", "UNET_NODE", "--port", str(free_port())]
    arguments += ["--destination", "PACS@127.0.0.1:104", "--work-dir", str(tmp_path), "--outputs", "seg,dose"]
    for key, value in OVERRIDES.items():
        arguments += ["--override", f"{key}={json.dumps(value)}"]
    assert main(arguments) == 2
    assert "error: outputs must be distinct names among ['overlay', 'rtstruct', 'seg', 'sr'], got ['seg', 'dose']" in (
        capsys.readouterr().err
    )
