"""Sending a DICOM file to a remote node (the PACS) by C-STORE."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from pathlib import Path

import pydicom
from pynetdicom import AE
from pynetdicom.status import STATUS_SUCCESS, STATUS_WARNING, code_to_category

__all__ = ["Destination", "SendOutcome", "StoreSender", "WARNING_STATUSES", "send_file"]

logger = logging.getLogger(__name__)

_DESTINATION = re.compile(r"^(?P<ae>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>\d{1,5})$")


@dataclasses.dataclass(frozen=True)
class Destination:
    """A remote DICOM node: AE title, host, port.

    Example::

        >>> Destination.parse("PACS@10.0.0.5:104")
        Destination(ae_title='PACS', host='10.0.0.5', port=104)
    """

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, name: str = "--destination") -> Destination:
        match = _DESTINATION.match(text.strip())
        if not match or not 0 < int(match["port"]) < 65536:
            raise ValueError(f"{name} must be AE@host:port (AE title of 1-16 characters), got {text!r}.")
        return cls(match["ae"], match["host"], int(match["port"]))


@dataclasses.dataclass(frozen=True)
class SendOutcome:
    """What the destination made of one C-STORE: ``stored`` (success or a warning status), and why not.

    ``interrupted``: the send was aborted from this side (:meth:`StoreSender.abort`), so it says
    nothing of the destination and is no attempt. ``refused_sop_class``: the destination does
    not accept the object's SOP class at all (its presentation context was refused).
    """

    stored: bool
    detail: str = ""
    interrupted: bool = False
    refused_sop_class: bool = False


# C-STORE warning statuses with a name (PS3.4 B.2.3): the object *was* stored. Every other
# warning status (PS3.7 C.1: 0x0001 and 0xBxxx) counts as stored too.
WARNING_STATUSES = {
    0x0001: "warning",
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
}


class StoreSender:
    """C-STORE files to one destination, one at a time; :meth:`abort` ends the send in flight.

    Success (0x0000) and every warning status (0x0001, 0xBxxx and the others DICOM classes as
    warnings: stored, with the warning in ``detail``) are ``stored``; a destination that is
    down, refuses the association, does not accept the file's SOP class, answers a failure
    status or nothing within ``timeout`` seconds is not, with the reason in ``detail``.

    Args:
        destination: the remote node.
        calling_ae: this side's AE title.
        ssl_context: an ``ssl.SSLContext`` for DICOM TLS, or None.
        timeout: seconds to wait for the connection, the association and each answer.

    Example::

        >>> sender = StoreSender(Destination("PACS", "127.0.0.1", 104), timeout=5)
        >>> sender.abort()  # nothing in flight: nothing to do
    """

    def __init__(
        self, destination: Destination, calling_ae: str = "MONAI_UNET2015", ssl_context=None, timeout: float = 30.0
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}.")
        self.destination, self.calling_ae = destination, calling_ae
        self.ssl_context, self.timeout = ssl_context, timeout
        self._lock = threading.Lock()
        self._assoc = None
        self._aborted = False

    def abort(self) -> None:
        """End the send in flight, if any (from another thread): it returns ``interrupted``."""
        with self._lock:
            self._aborted = True
            assoc = self._assoc
        if assoc is not None:
            _end(assoc)

    def send(self, path: str | Path) -> SendOutcome:
        """C-STORE one DICOM file."""
        ds = pydicom.dcmread(path)
        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = self.timeout
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        with self._lock:
            self._aborted = False
        outcome = self._store(ae, ds)
        with self._lock:
            self._assoc = None
            if self._aborted and not outcome.stored:
                return SendOutcome(False, "aborted: the node is stopping", interrupted=True)
        return outcome

    def _store(self, ae: AE, ds: pydicom.Dataset) -> SendOutcome:
        destination = self.destination
        tls = (self.ssl_context, destination.host) if self.ssl_context is not None else None
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title, tls_args=tls)
        if not assoc.is_established:
            if assoc.rejected_contexts and not assoc.accepted_contexts:  # accepted, then aborted: no common context
                name = pydicom.uid.UID(str(ds.SOPClassUID)).name
                detail = f"{destination.ae_title} does not accept {name} objects (presentation context refused)"
                return SendOutcome(False, detail, refused_sop_class=True)
            how = "rejected the association" if assoc.is_rejected else "could not be reached"
            return SendOutcome(False, f"{destination.ae_title} at {destination.host}:{destination.port} {how}")
        with self._lock:
            self._assoc = assoc
            aborted = self._aborted
        if aborted:  # abort() came while associating
            _end(assoc)
        try:
            status = assoc.send_c_store(ds)
        finally:
            if assoc.is_established:
                assoc.release()
        return _outcome(getattr(status, "Status", None), destination)


def _end(assoc) -> None:
    """Abort ``assoc`` and wake a C-STORE waiting for its answer.

    pynetdicom wakes the waiting request with ``(None, None)`` when the *peer* aborts, not
    when this side does; without it the request waits out the DIMSE timeout.
    """
    assoc.abort()
    assoc.dimse.msg_queue.put((None, None))


def _outcome(code: int | None, destination: Destination) -> SendOutcome:
    category = None if code is None else code_to_category(code)
    if category == STATUS_SUCCESS:
        return SendOutcome(True)
    if category == STATUS_WARNING:
        return SendOutcome(True, f"stored with warning 0x{code:04X} ({WARNING_STATUSES.get(code, 'warning')})")
    shown = "no answer" if code is None else f"failure status 0x{code:04X}"
    return SendOutcome(False, f"{destination.ae_title} answered {shown}")


def send_file(
    path: str | Path, destination: Destination, calling_ae: str = "MONAI_UNET2015", ssl_context=None
) -> SendOutcome:
    """C-STORE one DICOM file to ``destination`` (:class:`StoreSender`, its outcomes and a 30 s timeout)."""
    return StoreSender(destination, calling_ae, ssl_context).send(path)
