"""Sending a DICOM file to a remote node (the PACS) by C-STORE."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pydicom
from pynetdicom import AE
from pynetdicom.status import STATUS_SUCCESS, STATUS_WARNING, code_to_category

__all__ = ["Destination", "SendOutcome", "WARNING_STATUSES", "send_file"]

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
    """What the destination made of one C-STORE: ``stored`` (success or a warning status), and why not."""

    stored: bool
    detail: str = ""


# C-STORE warning statuses with a name (PS3.4 B.2.3): the object *was* stored. Every other
# warning status (PS3.7 C.1: 0x0001 and 0xBxxx) counts as stored too.
WARNING_STATUSES = {
    0x0001: "warning",
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
}


def send_file(
    path: str | Path, destination: Destination, calling_ae: str = "MONAI_UNET2015", ssl_context=None
) -> SendOutcome:
    """C-STORE one DICOM file to ``destination``.

    Success (0x0000) and every warning status (0x0001, 0xBxxx and the others DICOM classes as
    warnings: stored, with the warning in ``detail``) are ``stored``; a destination that is
    down, refuses the association, does not accept the file's SOP class, or answers a failure
    status is not, with the reason in ``detail``.
    """
    ds = pydicom.dcmread(path)
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    tls = (ssl_context, destination.host) if ssl_context is not None else None
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title, tls_args=tls)
    if not assoc.is_established:
        if assoc.rejected_contexts and not assoc.accepted_contexts:  # accepted, then aborted: no common context
            name = pydicom.uid.UID(str(ds.SOPClassUID)).name
            return SendOutcome(
                False, f"{destination.ae_title} does not accept {name} objects (presentation context refused)"
            )
        how = "rejected the association" if assoc.is_rejected else "could not be reached"
        return SendOutcome(False, f"{destination.ae_title} at {destination.host}:{destination.port} {how}")
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    code = getattr(status, "Status", None)
    category = None if code is None else code_to_category(code)
    if category == STATUS_SUCCESS:
        return SendOutcome(True)
    if category == STATUS_WARNING:
        return SendOutcome(True, f"stored with warning 0x{code:04X} ({WARNING_STATUSES.get(code, 'warning')})")
    shown = "no answer" if code is None else f"failure status 0x{code:04X}"
    return SendOutcome(False, f"{destination.ae_title} answered {shown}")
