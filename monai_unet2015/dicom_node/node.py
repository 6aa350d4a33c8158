"""The DICOM node: a Storage SCP in front of a bundle, with a journal and a sender that retries."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from monai_unet2015.bundle.errors import error_line
from monai_unet2015.bundle.locations import bundle_path, bundles_dir
from monai_unet2015.dicom_node.journal import SeriesJournal, SeriesRecord
from monai_unet2015.dicom_node.segmenter import BundleSegmenter
from monai_unet2015.dicom_node.sender import Destination, send_file

__all__ = ["DicomNode"]

logger = logging.getLogger(__name__)

_SUCCESS, _OUT_OF_RESOURCES = 0x0000, 0xA700


class DicomNode:
    """Receive series by C-STORE, segment each with a bundle, C-STORE the DICOM SEG to a PACS.

    - **Receiving.** A Storage SCP (every storage SOP class, and C-ECHO) writes each instance
      to the journal on disk (:class:`SeriesJournal`) before it answers success; an instance
      that cannot be stored is answered with a failure (0xA700), so the sender keeps it.
    - **A series is complete** when the association that brought it is released, or when no
      instance of it has come for ``series_timeout`` seconds (a sender that keeps one
      association open, or a node restarted in the middle).
    - **Segmenting**, one series at a time (one job per device, the others wait in the
      journal): a series of another modality than the bundle's is kept with the reason; the
      bundle's ``inference.json`` runs on the others (:class:`BundleSegmenter`: its checks,
      overlap-tile inference, the DICOM SEG referencing the source series). A series the
      bundle refuses is kept with the bundle's one-line reason.
    - **Sending** the SEG to ``destination`` by C-STORE; while the destination is down or
      refuses, again after ``retry_initial`` seconds, doubling up to ``retry_max``.
    - **A crash** loses nothing: each step is in the journal before the next starts; a
      restarted node goes on from there (receiving series complete after the timeout,
      complete ones are segmented, segmented ones are sent), so each series is segmented
      and sent once. (A node killed between the PACS's success answer and the journal's
      ``sent`` sends that SEG again; the PACS sees the same SOP Instance UID twice.)

    Args:
        bundle_dir: the bundle whose ``configs/inference.json`` segments the series: a folder,
            or a shipped bundle's name (then with ``work_dir``, and weights by an override).
        ae_title: this node's AE title.
        port: the port to listen on.
        destination: where the SEGs go (:class:`Destination`, or ``"AE@host:port"``).
        work_dir: the journal's folder (default ``<bundle_dir>/dicom_node``).
        series_timeout: seconds without a new instance after which a series is complete.
        overrides: bundle config overrides (:class:`BundleSegmenter`).
        retry_initial, retry_max: the sender's back-off, in seconds.
        host: the address to listen on.
        poll_interval: how often the worker looks at the journal, in seconds.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        ae_title: str,
        port: int,
        destination: Destination | str,
        work_dir: str | Path | None = None,
        series_timeout: float = 10.0,
        overrides: dict | None = None,
        retry_initial: float = 5.0,
        retry_max: float = 300.0,
        host: str = "0.0.0.0",
        poll_interval: float = 0.5,
    ) -> None:
        if not 1 <= len(ae_title) <= 16:
            raise ValueError(f"ae_title must have 1 to 16 characters, got {ae_title!r}.")
        if not 0 < int(port) < 65536:
            raise ValueError(f"port must be in 1..65535, got {port!r}.")
        if not series_timeout > 0:
            raise ValueError(f"series_timeout must be > 0 seconds, got {series_timeout!r}.")
        if not 0 < retry_initial <= retry_max:
            raise ValueError(f"need 0 < retry_initial <= retry_max, got {retry_initial!r} and {retry_max!r}.")
        self.destination = destination if isinstance(destination, Destination) else Destination.parse(destination)
        bundle_dir = bundle_path(bundle_dir)
        if work_dir is None and bundle_dir.parent == bundles_dir():
            raise ValueError(
                f"work_dir: the shipped bundle {bundle_dir.name} is not a folder to write to; pass --work-dir, or "
                f"copy the bundle out (python -m monai_unet2015 bundle init {bundle_dir.name} DIR) and use that."
            )
        self.segmenter = BundleSegmenter(bundle_dir, overrides)
        self.journal = SeriesJournal(work_dir if work_dir is not None else bundle_dir / "dicom_node")
        self.ae_title, self.port, self.host = ae_title, int(port), host
        self.series_timeout, self.poll_interval = float(series_timeout), float(poll_interval)
        self.retry_initial, self.retry_max = float(retry_initial), float(retry_max)
        self._stopping = threading.Event()
        self._server = None
        self._worker: threading.Thread | None = None
        self._released_series: dict[int, set[str]] = {}

    # -- receiving ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen and start the worker; returns at once."""
        ae = AE(ae_title=self.ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(Verification)
        handlers = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda event: _SUCCESS),
            (evt.EVT_RELEASED, self._on_released),
        ]
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        self._worker = threading.Thread(target=self._work, name="dicom-node-worker", daemon=True)
        self._worker.start()
        logger.info(
            "DICOM node %s listening on port %d; segments %s series; results to %s@%s:%d",
            self.ae_title,
            self.port,
            self.segmenter.modality,
            self.destination.ae_title,
            self.destination.host,
            self.destination.port,
        )

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
        if self._worker is not None:
            self._worker.join()

    def serve_forever(self) -> None:
        """:meth:`start`, then wait until interrupted (Ctrl-C, SIGTERM as KeyboardInterrupt)."""
        self.start()
        try:
            while not self._stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            logger.info("stopping")
        finally:
            self.stop()

    def _on_store(self, event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        try:
            uid = self.journal.store(ds)
        except Exception as error:  # not stored: say so, the sender keeps the instance
            logger.error("could not store an instance: %s", error_line(error))
            return _OUT_OF_RESOURCES
        if uid is not None:
            self._released_series.setdefault(id(event.assoc), set()).add(uid)
        return _SUCCESS

    def _on_released(self, event) -> None:
        for uid in self._released_series.pop(id(event.assoc), set()):
            record = self.journal.records.get(uid)
            if record is not None and record.state == "receiving":
                self._complete(record)

    # -- the worker --------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                self.work_once()
            except Exception:  # the worker must not die: log and go on
                logger.exception("the DICOM node's worker failed; going on")
            self._stopping.wait(self.poll_interval)

    def work_once(self, now: float | None = None) -> None:
        """One round: complete quiet series, segment one complete series, send what is due."""
        now = time.time() if now is None else now
        for record in self.journal.in_state("receiving"):
            if now - record.last_received >= self.series_timeout:
                self._complete(record)
        complete = self.journal.in_state("complete")
        if complete:
            self._segment(min(complete, key=lambda r: r.last_received))
        for record in self.journal.in_state("segmented"):
            if record.next_try <= now:
                self._send(record)

    def _complete(self, record: SeriesRecord) -> None:
        if record.modality != self.segmenter.modality:
            reason = f"modality {record.modality}; this node's bundle segments {self.segmenter.modality}"
            self.journal.update(record.uid, state="kept", reason=reason)
            logger.warning("series %s kept, not segmented: %s", record.uid, reason)
            return
        self.journal.update(record.uid, state="complete")
        logger.info("series %s complete: %d instance(s)", record.uid, record.instances)

    def _segment(self, record: SeriesRecord) -> None:
        began = time.perf_counter()
        try:
            seg = self.segmenter.segment(self.journal.series_dir(record.uid), self.journal.result_dir(record.uid))
        except Exception as error:  # the bundle refused the series: keep it, with its reason
            reason = error_line(error)
            self.journal.update(record.uid, state="kept", reason=reason)
            logger.error("series %s kept, not segmented: %s", record.uid, reason)
            return
        self.journal.update(record.uid, state="segmented", result=str(seg))
        logger.info("series %s segmented in %.1f s: %s", record.uid, time.perf_counter() - began, seg)

    def _send(self, record: SeriesRecord) -> None:
        if send_file(record.result, self.destination, calling_ae=self.ae_title):
            self.journal.update(record.uid, state="sent")
            logger.info("series %s: SEG sent to %s", record.uid, self.destination.ae_title)
            return
        attempts = record.attempts + 1
        delay = min(self.retry_max, self.retry_initial * 2 ** (attempts - 1))
        self.journal.update(record.uid, attempts=attempts, next_try=time.time() + delay)
        logger.warning("series %s: sending failed (attempt %d); next try in %.0f s", record.uid, attempts, delay)
