"""DICOM identifiers are data, never paths: the UID grammar, and safe file names from UIDs.

A DICOM UID (PS3.5 9.1) is at most 64 characters of digits and dots: components of digits
without leading zeros, separated by single dots. What arrives over the network (a sender's
SeriesInstanceUID, SOPInstanceUID...) is checked against that grammar before it names a
file; anything else (``1.2.3/../../x``, ``..``, 200 characters, non-ASCII) either is refused
(the DICOM node) or gets a name made from its digest (:func:`uid_file_name`), so no two UIDs
share a name and none leaves its folder.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_UID_LENGTH", "is_dicom_uid", "uid_problem", "uid_file_name"]

MAX_UID_LENGTH = 64
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def is_dicom_uid(value: object) -> bool:
    """Whether ``value`` is a string that follows the DICOM UID grammar.

    Example::

        >>> is_dicom_uid("1.2.840.10008.5.1.4.1.1.2"), is_dicom_uid("1.2.3/../x"), is_dicom_uid("1.02")
        (True, False, False)
    """
    return isinstance(value, str) and len(value) <= MAX_UID_LENGTH and _UID.fullmatch(value) is not None


def uid_problem(value: object, name: str) -> str:
    """What is wrong with ``value`` as the UID ``name`` ("" if nothing), printable whatever it holds.

    Example::

        >>> uid_problem("1.2.3/../x", "SeriesInstanceUID")
        "SeriesInstanceUID '1.2.3/../x' is not a DICOM UID (digits and dots, at most 64 characters)"
    """
    if is_dicom_uid(value):
        return ""
    shown = ascii(str(value)[:80]) + ("..." if len(str(value)) > 80 else "")
    return f"{name} {shown} is not a DICOM UID (digits and dots, at most {MAX_UID_LENGTH} characters)"


def uid_file_name(value: object) -> str:
    """A file or folder name for a UID: the UID itself when it is valid, else ``uid-<sha256 prefix>``.

    Two different values never share a name; no name is empty, ``.``, ``..`` or holds a separator.

    Example::

        >>> uid_file_name("1.2.3"), uid_file_name("1.2.3/../x")[:4], uid_file_name("..") != uid_file_name(".")
        ('1.2.3', 'uid-', True)
    """
    text = str(value)
    if is_dicom_uid(text):
        return text
    return "uid-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
