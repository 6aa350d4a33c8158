"""The DICOM node: a Storage SCP in front of a bundle, with a journal and a sender that retries."""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
import time
from pathlib import Path

import pydicom
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.sop_class import Verification

from monai_unet2015.bundle.errors import error_line
from monai_unet2015.bundle.locations import bundle_path, bundles_dir
from monai_unet2015.dicom_node.connections import PYNETDICOM_LIMIT, ConnectionGuard, HandshakeInConnectionThread
from monai_unet2015.dicom_node.gate import ApplicabilityGate, SeriesLook, series_look
from monai_unet2015.dicom_node.journal import IdentifierError, SeriesJournal, SeriesRecord
from monai_unet2015.dicom_node.segmenter import BundleSegmenter
from monai_unet2015.dicom_node.sender import Destination, StoreSender

__all__ = ["DicomNode", "AllowedPeer", "tls_server_context"]

logger = logging.getLogger(__name__)

#: the compressed transfer syntaxes the node accepts: lossless, and decoded exactly by the
#: bundles' DICOM reader (ITK's GDCM; tests/dicom_node/test_hospital_peers.py compares the SEGs
#: of dcmtk-compressed series with the uncompressed one's). Lossy syntaxes (JPEG baseline and
#: extended, JPEG-LS near-lossless, JPEG 2000 lossy) are not offered: a lossy series is another
#: image than the one the model was validated on, and its mask differs. A sender then offers
#: an uncompressed context, or logs that the context was refused.
LOSSLESS_COMPRESSED = (
    pydicom.uid.RLELossless,
    pydicom.uid.JPEGLossless,
    pydicom.uid.JPEGLosslessSV1,
    pydicom.uid.JPEGLSLossless,
    pydicom.uid.JPEG2000Lossless,
)

_SUCCESS, _OUT_OF_RESOURCES, _CANNOT_UNDERSTAND, _DOES_NOT_MATCH = 0x0000, 0xA700, 0xC000, 0xA900
# A-ASSOCIATE-RJ: rejected permanent, by the DUL service user, calling / called AE not recognised
_REJECT_CALLING, _REJECT_CALLED = (0x01, 0x01, 0x03), (0x01, 0x01, 0x07)
# rejected transient, by the DUL service provider (presentation), local limit exceeded
_REJECT_LIMIT = (0x02, 0x03, 0x02)


@dataclasses.dataclass(frozen=True)
class AllowedPeer:
    """A calling AE title allowed to associate, optionally only from one host (``AE[@HOST]``).

    Example::

        >>> AllowedPeer.parse("CT_SCANNER@10.0.0.7")
        AllowedPeer(ae_title='CT_SCANNER', host='10.0.0.7')
    """

    ae_title: str
    host: str | None = None

    @classmethod
    def parse(cls, text: str) -> AllowedPeer:
        title, _, host = text.strip().partition("@")
        if not 1 <= len(title) <= 16 or "\\" in title:
            raise ValueError(f"--allowed-ae must be AE_TITLE[@HOST] with an AE title of 1-16 characters, got {text!r}.")
        return cls(title, host or None)

    def admits(self, ae_title: str, host: str) -> bool:
        return ae_title.strip() == self.ae_title and (self.host is None or self.host == host)


def tls_server_context(cert: str | Path, key: str | Path, ca: str | Path | None = None) -> ssl.SSLContext:
    """A server context for DICOM TLS: the node's certificate and key; with ``ca``, client certificates too."""
    for name, path in (("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{name} {path} does not exist.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    if ca is not None:
        context.load_verify_locations(str(ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class DicomNode:
    """Receive series by C-STORE, segment each with a bundle, C-STORE the DICOM SEG (and RTSTRUCT) to a PACS.

    - **Who may connect.** Associations must call this node's ``ae_title``; with ``allowed``,
      only those calling AE titles (and hosts) are accepted, the others rejected at
      association time (A-ASSOCIATE-RJ, calling AE title not recognised). ``host`` is the
      address to listen on; ``tls`` a server context for DICOM TLS (:func:`tls_server_context`).
      ``guard`` bounds connections per address, associations in all and silent time, and
      does each TLS handshake in the connection's own thread (:class:`ConnectionGuard`): idle
      connections cannot lock the scanner out, and every refusal is logged.
    - **Receiving.** A Storage SCP (every storage SOP class, and C-ECHO) writes each instance
      to the journal on disk (:class:`SeriesJournal`) before it answers success; an instance
      that cannot be stored is answered with a failure (0xA700), so the sender keeps it. An
      instance whose UIDs are not DICOM UIDs is refused (0xC000); a slice whose pixel data
      disagrees with its header, that lacks pixel data or what places it in a volume, or that
      names another patient or study than its series' earlier slices is refused (0xA900):
      each logged with the calling AE (:meth:`SeriesJournal.store`). An identical re-send
      changes nothing; slices of another geometry than most of their series (a localizer) are
      set aside when the series is complete.
    - **A series is complete** when no instance of it has come for ``series_timeout``
      seconds, whatever the associations (Orthanc's "stable series" rule): one association
      per image, or a series split over several, makes one series. After a restart the
      quiet time starts again. An instance for a series that is being segmented or was sent
      starts a new revision: the series is segmented again as a whole, that SEG is sent (a
      new SOP instance), and the earlier results stay in ``results/<series>/r<N>/``.
    - **Segmenting**, one series at a time: a series of another modality than the bundle's, or
      (with the training plan, ``args_file``) with spacings, slice plane, field of view,
      intensities or body region far from the training images', is ``not_applicable`` with
      the reason and gets no mask (:class:`ApplicabilityGate`); the
      bundle's ``inference.json`` (with the training preset and plan: ``config_files``,
      ``args_file``) runs on the others (:class:`BundleSegmenter`).
    - **Sending** the SEG (and the other ``outputs``) to ``destination`` by C-STORE, in a
      thread of its own (a PACS that does not answer holds up no other series): success and
      warning statuses are ``sent``; otherwise (no answer within ``send_timeout`` included)
      again after ``retry_initial`` seconds, doubling up to ``retry_max``, at most
      ``max_attempts`` times, then ``failed`` with the reason.
    - **A crash** loses nothing: each step is in the journal before the next starts. (A node
      killed between the PACS's success answer and the journal's ``sent`` sends that SEG
      again; the PACS sees the same SOP Instance UID twice.) :meth:`stop` (SIGTERM) starts
      nothing new and aborts a send in flight at once.

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
        host: the address to listen on (default all interfaces).
        poll_interval: how often the worker looks at the journal, in seconds.
        allowed: the calling AEs allowed (:class:`AllowedPeer` or ``"AE[@HOST]"``); empty: any.
        max_attempts: sending attempts before a series is ``failed``.
        tls: an ``ssl.SSLContext`` for DICOM TLS, or None.
        config_files, args_file: the bundle's configs and plan (:class:`BundleSegmenter`).
        keep_days: remove a series' instances, results and slices set aside this many days
            after it ended (sent, kept or failed; its journal entry stays), and every object
            kept aside this many days after it came; None (default): keep everything, for the
            site's own retention rules to handle.
        send_timeout: seconds the sender waits for the destination to connect, associate and
            answer each C-STORE before the attempt counts as failed.
        outputs: what goes back for each series, in this order: ``"seg"`` (DICOM SEG, the
            default), ``"rtstruct"`` (RT Structure Set) (:data:`~monai_unet2015.dicom_node.segmenter.OUTPUTS`).
            The series is ``sent`` once the destination stored each; a retry sends only
            those it has not stored.
        guard: what peers may hold (:class:`ConnectionGuard`: 8 connections per address, 10
            associations, 10 s of silence or TLS handshake; each refusal logged).
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
        allowed: list[AllowedPeer | str] | tuple = (),
        max_attempts: int = 10,
        tls: ssl.SSLContext | None = None,
        config_files: tuple[str, ...] | list[str] = ("inference.json",),
        args_file: str | Path | None = None,
        keep_days: float | None = None,
        send_timeout: float = 30.0,
        guard: ConnectionGuard | None = None,
        outputs: tuple[str, ...] | list[str] = ("seg",),
    ) -> None:
        if not 1 <= len(ae_title) <= 16:
            raise ValueError(f"ae_title must have 1 to 16 characters, got {ae_title!r}.")
        if not 0 < int(port) < 65536:
            raise ValueError(f"port must be in 1..65535, got {port!r}.")
        if not series_timeout > 0:
            raise ValueError(f"series_timeout must be > 0 seconds, got {series_timeout!r}.")
        if not 0 < retry_initial <= retry_max:
            raise ValueError(f"need 0 < retry_initial <= retry_max, got {retry_initial!r} and {retry_max!r}.")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}.")
        if keep_days is not None and not keep_days >= 0:
            raise ValueError(f"keep_days must be >= 0 (or None: keep everything), got {keep_days!r}.")
        self.destination = destination if isinstance(destination, Destination) else Destination.parse(destination)
        bundle_dir = bundle_path(bundle_dir)
        if work_dir is None and bundle_dir.parent == bundles_dir():
            raise ValueError(
                f"work_dir: the shipped bundle {bundle_dir.name} is not a folder to write to; pass --work-dir, or "
                f"copy the bundle out (python -m monai_unet2015 bundle init {bundle_dir.name} DIR) and use that."
            )
        self.segmenter = BundleSegmenter(bundle_dir, overrides, config_files, args_file, outputs)
        self.gate = ApplicabilityGate.from_plan(self.segmenter.modality, args_file)
        self.journal = SeriesJournal(work_dir if work_dir is not None else bundle_dir / "dicom_node")
        self.allowed = [p if isinstance(p, AllowedPeer) else AllowedPeer.parse(p) for p in allowed]
        self.ae_title, self.port, self.host, self.tls = ae_title, int(port), host, tls
        self.series_timeout, self.poll_interval = float(series_timeout), float(poll_interval)
        self.retry_initial, self.retry_max, self.max_attempts = float(retry_initial), float(retry_max), max_attempts
        self.keep_days = keep_days
        self.guard = guard if guard is not None else ConnectionGuard()
        self.sender = StoreSender(self.destination, calling_ae=ae_title, timeout=send_timeout)
        self._stopping = threading.Event()
        self._server = None
        self._threads: list[threading.Thread] = []

    # -- receiving ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen and start the worker; returns at once."""
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = self.guard.idle_timeout  # the ARTIM timer: a silent connection is closed
        ae.maximum_associations = PYNETDICOM_LIMIT  # the guard counts associations, not silent connections
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, [*context.transfer_syntax, *LOSSLESS_COMPRESSED])
        ae.add_supported_context(Verification)
        handlers = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda event: _SUCCESS),
            *self.guard.handlers(),
        ]
        self.journal.restart_quiet_clocks()  # from when senders can reach the node again
        tls = HandshakeInConnectionThread(self.tls) if self.tls is not None else None
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers, ssl_context=tls)
        self._threads = [
            threading.Thread(target=self._run, args=(self.work_once, "worker"), name="dicom-node-worker", daemon=True),
            threading.Thread(target=self._run, args=(self.send_once, "sender"), name="dicom-node-sender", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        logger.info(
            "DICOM node %s listening on %s:%d%s; segments %s series; results to %s@%s:%d; not for diagnostic use",
            self.ae_title,
            self.host,
            self.port,
            " (TLS)" if self.tls is not None else "",
            self.segmenter.modality,
            self.destination.ae_title,
            self.destination.host,
            self.destination.port,
        )
        if not self.allowed:
            logger.warning("no --allowed-ae given: any calling AE that reaches %s:%d may store", self.host, self.port)

    def stop(self, grace: float = 10.0) -> None:
        """Stop receiving, abort a send in flight, start nothing new; wait up to ``grace`` seconds.

        Nothing is lost: an aborted send is no attempt (the series stays ``segmented`` and is
        sent at the next start), and a series still being segmented after ``grace`` stays
        ``complete`` in the journal and is segmented again at the next start.
        """
        self._stopping.set()
        self.sender.abort()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning(
                    "%s still busy after %g s: the journal has its series for the next start", thread.name, grace
                )

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

    def _on_requested(self, event) -> None:
        """Reject, before any negotiation, an association for another AE title, from a peer not
        allowed, or past the node's association limit."""
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling, called = primitive.calling_ae_title.strip(), primitive.called_ae_title.strip()
        address = assoc.requestor.address
        if called != self.ae_title:
            reason, rejection = f"it called AE {called!r}, not {self.ae_title!r}", _REJECT_CALLED
        elif self.allowed and not any(peer.admits(calling, address) for peer in self.allowed):
            reason, rejection = "the calling AE and host are not in --allowed-ae", _REJECT_CALLING
        elif crowded := self.guard.admit(assoc):
            reason, rejection = crowded, _REJECT_LIMIT
        else:
            self._check_store_requests_first(assoc)
            return
        logger.warning("rejected an association from %s@%s: %s", calling, address, reason)
        assoc.acse.send_reject(*rejection)
        assoc.is_rejected = True
        assoc.kill()

    def _check_store_requests_first(self, assoc) -> None:
        """Bind :meth:`_on_dimse_received` before pynetdicom's own message loggers: those raise on
        the requests it must answer, and an exception stops the handlers after it."""
        others = [handler for handler, _ in assoc.get_handlers(evt.EVT_DIMSE_RECV)]
        for handler in others:
            assoc.unbind(evt.EVT_DIMSE_RECV, handler)
        for handler in (self._on_dimse_received, *others):
            assoc.bind(evt.EVT_DIMSE_RECV, handler)

    def _on_dimse_received(self, event) -> None:
        """Answer 0xC000 to a C-STORE request without an Affected SOP Class / Instance UID.

        pynetdicom drops such a request unanswered (it cannot make a service call of it), so
        the sender would wait for its DIMSE timeout; this answers it at once, and logs it.
        """
        message = event.message
        if not isinstance(message, C_STORE_RQ):
            return
        command = message.command_set
        missing = [name for name in ("AffectedSOPClassUID", "AffectedSOPInstanceUID") if not command.get(name)]
        if not missing or command.get("MessageID") is None:
            return
        peer = f"{event.assoc.requestor.ae_title.strip()}@{event.assoc.requestor.address}"
        logger.error("refused an instance from %s: its C-STORE request has no %s", peer, " or ".join(missing))
        response = C_STORE()
        response.MessageIDBeingRespondedTo = command.MessageID
        response.AffectedSOPClassUID = command.get("AffectedSOPClassUID") or None
        response.Status = _CANNOT_UNDERSTAND
        event.assoc.dimse.send_msg(response, message.context_id)

    def _on_store(self, event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        peer = f"{event.assoc.requestor.ae_title.strip()}@{event.assoc.requestor.address}"
        try:
            uid = self.journal.store(ds)
        except IdentifierError as error:
            logger.error("refused an instance from %s: %s", peer, error)
            return _CANNOT_UNDERSTAND
        except ValueError as error:
            logger.error("refused an instance from %s: %s", peer, error)
            return _DOES_NOT_MATCH
        except Exception as error:  # not stored (a full disk): say so, the sender keeps the instance
            logger.error("could not store an instance from %s: %s", peer, error_line(error))
            return _OUT_OF_RESOURCES
        if uid is not None:
            logger.debug("stored an instance of series %s from %s", uid, peer)
        return _SUCCESS

    # -- the worker and the sender ------------------------------------------------------------
    def _run(self, step, name: str) -> None:
        """Call ``step`` every ``poll_interval`` until stopped; an error is logged once while it repeats."""
        last_error = ""
        while not self._stopping.is_set():
            try:
                step()
                last_error = ""
            except Exception as error:  # the thread must not die: log (once while it repeats) and go on
                message = error_line(error)
                if message != last_error:
                    logger.exception("the DICOM node's %s failed; going on", name)
                    last_error = message
            self._stopping.wait(self.poll_interval)

    def work_once(self, now: float | None = None) -> None:
        """One round of the worker: complete quiet series, segment one complete series, retention.

        Sending is the sender thread's (:meth:`send_once`): a destination that does not answer
        never holds up receiving and segmenting.
        """
        now = time.time() if now is None else now
        for record in self.journal.in_state("receiving"):
            if now - record.last_received >= self.series_timeout:
                self._complete(record)
        complete = self.journal.in_state("complete")
        if complete and not self._stopping.is_set():
            self._segment(min(complete, key=lambda r: r.last_received))
        if self.keep_days is not None:
            self._apply_retention(now)

    def send_once(self, now: float | None = None) -> None:
        """One round of the sender: send every segmented series that is due, oldest first."""
        now = time.time() if now is None else now
        for record in sorted(self.journal.in_state("segmented"), key=lambda r: r.updated):
            if self._stopping.is_set():
                return
            if record.next_try <= now:
                self._send(record)

    def _apply_retention(self, now: float) -> None:
        purged, kept_files = self.journal.purge_expired(self.keep_days * 86400, now)
        for record in purged:
            logger.info(
                "series %s (%s): instances and results removed, %g day(s) after its last change",
                record.uid,
                record.state,
                self.keep_days,
            )
        if kept_files:
            logger.info("%d object(s) kept aside removed, %g day(s) after they came", kept_files, self.keep_days)

    def _complete(self, record: SeriesRecord) -> None:
        if not self.journal.update_if(record.uid, record.revision, "receiving", state="complete"):
            return  # an instance came meanwhile
        record = self.journal.set_aside_odd_slices(record.uid, record.revision)
        if record is None or record.state != "complete":
            if record is not None:
                logger.warning("series %s kept, not segmented: %s", record.uid, record.reason)
            return
        reasons = self.gate.reasons(record.modality, (record.geometry or {}).get("spacing_mm"), self._look(record))
        if reasons:
            reason = "; ".join(reasons)
            if self.journal.update_if(record.uid, record.revision, "complete", state="not_applicable", reason=reason):
                logger.warning("series %s not applicable, no mask made: %s", record.uid, reason)
            return
        logger.info("series %s complete: %d instance(s)", record.uid, record.instances)

    def _look(self, record: SeriesRecord) -> SeriesLook | None:
        """The series' plane, field of view and intensities for the gate; None where the modality already decides."""
        if record.modality != self.gate.modality or not record.geometry:
            return None
        slices = sorted(self.journal.series_dir(record.uid).glob("*.dcm"))
        return series_look(record.geometry, slices, ct=record.modality == "CT") if slices else None

    def _segment(self, record: SeriesRecord) -> None:
        began = time.perf_counter()
        try:
            series_dir, result_dir = self.journal.series_dir(record.uid), self.journal.result_dir(record.uid)
            written = [str(path) for path in self.segmenter.segment_outputs(series_dir, result_dir)]
        except Exception as error:  # the bundle refused the series: keep it, with its reason
            reason = error_line(error)
            if self.journal.update_if(record.uid, record.revision, "complete", state="kept", reason=reason):
                logger.error("series %s kept, not segmented: %s", record.uid, reason)
            return
        review = self.segmenter.review(result_dir)
        done = {"state": "segmented", "result": written[0], "results": written, "sent": [], "review": review}
        if self.journal.update_if(record.uid, record.revision, "complete", **done):
            shown = ", ".join(written)
            logger.info("series %s segmented in %.1f s: %s", record.uid, time.perf_counter() - began, shown)
            if review:
                logger.warning("series %s needs review: %s", record.uid, "; ".join(review))
        else:
            logger.warning("series %s: instances came during segmentation; it is segmented again", record.uid)

    def _send(self, record: SeriesRecord) -> None:
        """Send the series' objects the destination has not stored yet, in order; one attempt."""
        outcome = None
        for path in [p for p in (record.results or [record.result]) if p not in record.sent]:
            outcome = self.sender.send(path)
            if outcome.interrupted:
                logger.info("series %s: sending interrupted (stopping); it is sent at the next start", record.uid)
                return
            if not outcome.stored and outcome.refused_sop_class and path.endswith("_seg.dcm"):
                self._overlay_instead(record, path, outcome.detail)
                return
            if not outcome.stored:
                self._failed_attempt(record, outcome)
                return
            record = self.journal.update_if(record.uid, record.revision, "segmented", sent=[*record.sent, path])
            if record is None:  # a new revision came meanwhile
                return
        attempts = record.attempts + 1
        if self.journal.update_if(record.uid, record.revision, "segmented", state="sent", attempts=attempts):
            detail = f" ({outcome.detail})" if outcome is not None and outcome.detail else ""
            names = ", ".join(Path(p).name for p in record.sent)
            logger.info("series %s: %s sent to %s%s", record.uid, names, self.destination.ae_title, detail)

    def _overlay_instead(self, record: SeriesRecord, seg: str, detail: str) -> None:
        """The destination refuses DICOM SEG: send the overlay series in its place (made now if not asked for)."""
        overlay = [p for p in record.results if "_overlay" in Path(p).parent.name]
        if not overlay:
            series_dir, result_dir = self.journal.series_dir(record.uid), Path(seg).parent
            overlay = [str(p) for p in self.segmenter.overlay_from_results(series_dir, result_dir)]
        results = [p for p in record.results or [record.result] if p != seg]
        results += [p for p in overlay if p not in results]
        note = f"{detail}: the overlay series goes instead"
        if self.journal.update_if(record.uid, record.revision, "segmented", results=results, reason=note):
            logger.warning("series %s: %s", record.uid, note)

    def _failed_attempt(self, record: SeriesRecord, outcome) -> None:
        attempts = record.attempts + 1
        if attempts >= self.max_attempts:
            reason = f"not stored after {attempts} attempt(s): {outcome.detail}"
            if self.journal.update_if(
                record.uid, record.revision, "segmented", state="failed", reason=reason, attempts=attempts
            ):
                logger.error("series %s failed: %s", record.uid, reason)
            return
        delay = min(self.retry_max, self.retry_initial * 2 ** (attempts - 1))
        changes = {"attempts": attempts, "next_try": time.time() + delay, "reason": outcome.detail}
        self.journal.update_if(record.uid, record.revision, "segmented", **changes)
        logger.warning("series %s: %s (attempt %d); next try in %.0f s", record.uid, outcome.detail, attempts, delay)
