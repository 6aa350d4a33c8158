"""The DICOM node over real DICOM networking on localhost: a scanner (SCU) in, a PACS (SCP) out."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    RTStructureSetStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
    Verification,
)

from monai_unet2015.bundle.locations import bundles_dir
from monai_unet2015.data import write_dicom_series, write_sample_data
from monai_unet2015.dicom_node import BundleSegmenter, Destination
from monai_unet2015.networks import UNet3D
from tests.ports import free_port

OVERRIDES = {"features": [4, 8, 16], "roi_size": [44, 44, 44]}
# Quiet seconds that end a series. The test senders push a series in well under a second; the
# waits below are for the node's work, and none of them decides a series' completeness.
SERIES_TIMEOUT = 3


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Pacs:
    """A Storage SCP standing for the PACS: keeps every dataset it receives, answers ``status``.

    ``hung``: a PACS that takes the C-STORE and does not answer until :meth:`release`
    (``holding`` is set once a request waits). ``accepts_seg=False``: it takes CT images only
    (``accepts_sc``: and secondary captures), as a PACS without SEG support.
    """

    def __init__(
        self, port: int, status: int = 0x0000, accepts_seg: bool = True, hung: bool = False, accepts_sc: bool = False
    ) -> None:
        import threading

        self.port, self.received, self.server = port, [], None
        self.status, self.accepts_seg, self.accepts_sc, self.attempts = status, accepts_seg, accepts_sc, 0
        self.holding, self._released = threading.Event(), threading.Event()
        if not hung:
            self._released.set()

    def release(self) -> None:
        self._released.set()

    def start(self) -> Pacs:
        ae = AE(ae_title="PACS")
        if self.accepts_seg:
            ae.add_supported_context(SegmentationStorage)
            ae.add_supported_context(RTStructureSetStorage)
        else:
            ae.add_supported_context(CTImageStorage)
        if self.accepts_sc:
            ae.add_supported_context(SecondaryCaptureImageStorage)

        def on_store(event):
            self.attempts += 1
            self.holding.set()
            self._released.wait(120)
            ds = event.dataset
            ds.file_meta = event.file_meta
            if self.status == 0x0000 or 0xB000 <= self.status <= 0xBFFF:  # success or a warning: stored
                self.received.append(ds)
            return self.status

        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
        return self

    def stop(self) -> None:
        self.release()
        if self.server is not None:
            self.server.shutdown()


def send(paths, port: int, calling: str = "SCANNER", called: str = "UNET_NODE") -> list[int]:
    """C-STORE ``paths`` (files or datasets) to the node in one association (a scanner's push); the statuses."""
    ae = AE(ae_title=calling)
    for context in (CTImageStorage, MRImageStorage, SegmentationStorage):
        ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established
    datasets = [p if isinstance(p, pydicom.Dataset) else pydicom.dcmread(p) for p in paths]
    statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    assoc.release()
    return statuses


def echo(port: int) -> bool:
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="UNET_NODE")
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return getattr(status, "Status", None) == 0x0000


class NodeProcess:
    """``python -m monai_unet2015 dicom-node serve`` in a subprocess."""

    def __init__(
        self, bundle: Path, work_dir: Path, port: int, pacs_port: int, series_timeout: float = SERIES_TIMEOUT
    ) -> None:
        self.port, self.log = port, work_dir.parent / f"node-{port}.log"
        arguments = [
            *("--bundle", str(bundle), "--ae-title", "UNET_NODE", "--port", str(port)),
            *("--destination", f"PACS@127.0.0.1:{pacs_port}", "--work-dir", str(work_dir)),
            *("--series-timeout", str(series_timeout), "--retry", "0.5"),
        ]
        for key, value in OVERRIDES.items():
            arguments += ["--override", f"{key}={json.dumps(value)}"]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monai_unet2015", "dicom-node", "serve", *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: self.process.poll() is not None or echo(port), 180, "the node to answer C-ECHO")
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


def journal_states(work_dir: Path) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["state"] for p in (work_dir / "journal").glob("*.json")}


def tiny_bundle(root: Path) -> Path:
    """The CT bundle's configs with a small random network's weights, in ``root``."""
    shutil.copytree(bundles_dir() / "unet3d_ct_organs" / "configs", root / "configs")
    (root / "models").mkdir()
    torch.manual_seed(0)
    torch.save(UNet3D(1, 4, features=(4, 8, 16)).state_dict(), root / "models" / "model.pt")
    return root


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    """A generated CT series (one folder of slices)."""
    root = tmp_path_factory.mktemp("sample")
    write_sample_data(root, num_ct=2, num_mri=0, num_cells=0, ct_shape=(48, 40, 12))
    return root / "ct_dicom" / "ct_000"


def series_uid(folder: Path) -> str:
    return str(pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True).SeriesInstanceUID)


@pytest.fixture(scope="module")
def own_seg(bundle, series, tmp_path_factory) -> Path:
    """The bundle's own DICOM SEG of the series, segmented in this process."""
    return BundleSegmenter(bundle, OVERRIDES).segment(series, tmp_path_factory.mktemp("own"))


@pytest.fixture(scope="module")
def running(bundle, tmp_path_factory):
    """A PACS and a node sending to it: (pacs, node, work_dir)."""
    work = tmp_path_factory.mktemp("node") / "work"
    pacs = Pacs(free_port()).start()
    node = NodeProcess(bundle, work, free_port(), pacs.port)
    yield pacs, node, work
    node.stop()
    pacs.stop()


@pytest.mark.slow
def test_a_series_comes_back_to_the_pacs_as_the_bundles_dicom_seg(running, series, own_seg):
    pacs, node, work = running
    assert set(send(sorted(series.iterdir()), node.port)) == {0x0000}
    wait_for(lambda: pacs.received, 120, "the SEG at the PACS")
    wait_for(lambda: journal_states(work).get(series_uid(series)) == "sent", 180, "the journal's 'sent'")
    (seg,) = pacs.received
    assert seg.SOPClassUID == SegmentationStorage
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid(series)
    own = pydicom.dcmread(own_seg)
    assert seg.NumberOfFrames == own.NumberOfFrames
    assert [s.SegmentLabel for s in seg.SegmentSequence] == [s.SegmentLabel for s in own.SegmentSequence]
    assert np.array_equal(seg.pixel_array, own.pixel_array)
    positions = [f.PlanePositionSequence[0].ImagePositionPatient for f in seg.PerFrameFunctionalGroupsSequence]
    assert positions == [f.PlanePositionSequence[0].ImagePositionPatient for f in own.PerFrameFunctionalGroupsSequence]


@pytest.mark.slow
def test_killed_before_sending_and_pacs_down_the_seg_arrives_once_after_restart(bundle, series, tmp_path):
    work, pacs_port, port = tmp_path / "work", free_port(), free_port()
    node = NodeProcess(bundle, work, port, pacs_port)  # the PACS is down
    assert set(send(sorted(series.iterdir()), port)) == {0x0000}
    entry = work / "journal" / f"{series_uid(series)}.json"

    def tried_to_send() -> bool:
        record = json.loads(entry.read_text()) if entry.is_file() else {}
        tried = record.get("state") == "segmented" and record.get("attempts", 0) >= 1
        # the log line comes after the journal's entry: wait for both before the kill
        return tried and "could not be reached (attempt 1); next try" in node.log.read_text()

    wait_for(tried_to_send, 120, "the series segmented, one failed send, and its log line")
    node.stop(signal.SIGKILL)  # acknowledged, segmented, not sent: the PACS was down
    pacs = Pacs(pacs_port).start()
    node = NodeProcess(bundle, work, port, pacs_port)
    try:
        wait_for(lambda: journal_states(work).get(series_uid(series)) == "sent", 180, "the SEG sent after the restart")
        time.sleep(2.0)  # anything sent twice would have arrived by now
    finally:
        node.stop()
        pacs.stop()
    assert len(pacs.received) == 1
    assert pacs.received[0].ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid(series)
    log = node.log.read_text()  # both nodes' (one log per port)
    assert log.count("could not be reached (attempt 1)") == 1 and "_seg.dcm sent to PACS" in log


@pytest.mark.slow
def test_non_image_objects_are_kept_and_another_modality_is_not_applicable(running, own_seg, tmp_path):
    pacs, node, work = running
    mr = tmp_path / "mr"
    volume = np.random.default_rng(0).integers(0, 800, (40, 40, 8)).astype(np.float32)
    write_dicom_series(volume, np.diag([1.0, 1.0, 3.0, 1.0]), mr, modality="MR", rescale_intercept=0)
    received = len(pacs.received)
    assert set(send([*sorted(mr.iterdir()), own_seg], node.port)) == {0x0000}  # a DICOM SEG: not an image
    wait_for(lambda: journal_states(work).get(series_uid(mr)) == "not_applicable", 180, "the MR not applicable")
    assert echo(node.port)  # still serving
    record = json.loads((work / "journal" / f"{series_uid(mr)}.json").read_text())
    assert record["reason"] == "modality MR: the model was made for CT"
    assert not (work / "results" / series_uid(mr)).exists()  # no mask
    assert len(list((work / "incoming" / series_uid(mr)).glob("*.dcm"))) == 8  # the MR slices, kept
    assert [p.parent.name for p in (work / "kept").rglob("*.dcm")] == ["Segmentation_Storage"]
    assert len(pacs.received) == received  # nothing sent for them
    line = f"series {series_uid(mr)} not applicable, no mask made"  # logged just after the journal's state
    log = wait_for(lambda: line in node.log.read_text() and node.log.read_text(), 180, "the log line")
    assert "Segmentation Storage, modality SEG: not a CT or MR image to segment" in log


def test_destination_is_parsed_or_named_in_the_error():
    assert Destination.parse("PACS@127.0.0.1:104") == Destination("PACS", "127.0.0.1", 104)
    with pytest.raises(ValueError, match=r"--destination must be AE@host:port .*got 'PACS@host'"):
        Destination.parse("PACS@host")


@pytest.mark.slow
def test_killed_while_receiving_then_the_series_sent_again_gives_one_seg_of_every_slice(bundle, tmp_path):
    from tests.dicom_node.test_network_rules import ct_series, referenced_instances, sop_uids

    files = ct_series(tmp_path / "series", slices=30)
    work, pacs = tmp_path / "work", Pacs(free_port()).start()
    port = free_port()
    node = NodeProcess(bundle, work, port, pacs.port, series_timeout=10)
    try:
        assert set(send(files[:13], port)) == {0x0000}
        node.stop(signal.SIGKILL)  # in the middle of the series
        node = NodeProcess(bundle, work, port, pacs.port, series_timeout=10)
        assert set(send(files, port)) == {0x0000}  # the sender sends the whole series again
        wait_for(lambda: pacs.received, 240, "the SEG at the PACS")
        time.sleep(2.0)  # a second SEG would have come by now
    finally:
        node.stop()
        pacs.stop()
    (seg,) = pacs.received
    assert referenced_instances(seg) == sop_uids(files)
    record = json.loads((work / "journal" / f"{series_uid(tmp_path / 'series')}.json").read_text())
    assert record["instances"] == 30 and record["state"] == "sent" and record["revision"] == 0


@pytest.mark.slow
def test_a_pacs_that_never_answers_holds_up_no_series_and_sigterm_stops_at_once_losing_nothing(bundle, tmp_path):
    hung = Pacs(free_port(), hung=True).start()
    work, port = tmp_path / "work", free_port()
    node = NodeProcess(bundle, work, port, hung.port)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, seed in ((first, 0), (second, 1)):
        volume = np.random.default_rng(seed).normal(40, 20, (48, 40, 6)).astype(np.float32)
        write_dicom_series(volume, np.diag([1.0, 1.0, 2.5, 1.0]), folder)
    try:
        assert set(send(sorted(first.iterdir()), port)) == {0x0000}
        wait_for(hung.holding.is_set, 120, "the first SEG's C-STORE waiting at the PACS")
        assert set(send(sorted(second.iterdir()), port)) == {0x0000}
        # before: one thread segmented and sent, so the second series waited for the hung send
        wait_for(lambda: journal_states(work).get(series_uid(second)) == "segmented", 120, "the second segmented")
        began = time.monotonic()
        node.stop(signal.SIGTERM)
        assert time.monotonic() - began < 15 and node.process.returncode == 0
        entries = {
            uid: json.loads((work / "journal" / f"{uid}.json").read_text()) for uid in map(series_uid, (first, second))
        }
        assert {(e["state"], e["attempts"]) for e in entries.values()} == {("segmented", 0)}  # the abort is no attempt
        assert "sending interrupted (stopping); it is sent at the next start" in node.log.read_text()
    finally:
        node.stop(signal.SIGKILL)
        hung.stop()
    pacs = Pacs(hung.port).start()
    node = NodeProcess(bundle, work, port, pacs.port)
    try:
        wait_for(lambda: set(journal_states(work).values()) == {"sent"}, 180, "both SEGs sent after the restart")
    finally:
        node.stop()
        pacs.stop()
    referenced = {seg.ReferencedSeriesSequence[0].SeriesInstanceUID for seg in pacs.received}
    assert referenced == {series_uid(first), series_uid(second)} and len(pacs.received) == 2
