"""Sending a DICOM file to a remote node (the PACS) by C-STORE."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pydicom
from pynetdicom import AE

__all__ = ["Destination", "send_file"]

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


def send_file(path: str | Path, destination: Destination, calling_ae: str = "MONAI_UNET2015") -> bool:
    """C-STORE one DICOM file to ``destination``; True when it answered success (0x0000).

    A destination that is down, refuses the association or answers a failure gives False
    and a log line; the caller retries.
    """
    ds = pydicom.dcmread(path)
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        logger.warning("could not reach %s at %s:%d", destination.ae_title, destination.host, destination.port)
        return False
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    code = getattr(status, "Status", None)
    if code != 0x0000:
        logger.warning("%s answered the C-STORE of %s with status %s", destination.ae_title, path, code)
        return False
    return True
