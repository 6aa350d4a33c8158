"""The node's journal on disk: every received instance and every series' state survive a crash.

Layout under ``work_dir``::

    incoming/<SeriesInstanceUID>/<SOPInstanceUID>.dcm   the instances, written before they are acknowledged
    journal/<SeriesInstanceUID>.json                    the series' state (one small file, replaced atomically)
    results/<SeriesInstanceUID>/                        the bundle's outputs (mask, DICOM SEG)
    kept/<reason>/<SOPInstanceUID>.dcm                  objects that are not images to segment, kept

A series moves ``receiving`` -> ``complete`` -> ``segmented`` -> ``sent``, or to ``kept`` with a
reason (another modality, a series the bundle refused); the files stay in every case. Each
state change is written (``fsync``, then ``os.replace``) before the node acts on it, so a node
killed at any point resumes where the journal says and does each step once.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import threading
import time
from pathlib import Path

import pydicom

__all__ = ["SeriesRecord", "SeriesJournal", "STATES", "IMAGE_STORAGE", "durable_write"]

logger = logging.getLogger(__name__)

STATES = ("receiving", "complete", "segmented", "sent", "kept")
# The single-frame image storage classes the bundles read (CT, MR), by SOP Class UID.
IMAGE_STORAGE = {"1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.4": "MR"}


@dataclasses.dataclass
class SeriesRecord:
    """What the journal knows of one series."""

    uid: str
    state: str = "receiving"
    modality: str = ""
    instances: int = 0
    last_received: float = 0.0
    reason: str = ""
    result: str = ""
    attempts: int = 0
    next_try: float = 0.0


def durable_write(path: Path, data: bytes) -> None:
    """``data`` at ``path`` or nothing there: a temporary file, ``fsync``, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{threading.get_ident()}")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _dicom_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _folder_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text) or "unnamed"


class SeriesJournal:
    """The instances and series states of a node, in ``work_dir`` (module docstring).

    Thread-safe: the DICOM server's association threads store instances while the node's
    worker reads and advances states.

    Args:
        work_dir: the node's folder (created if needed); a restarted node reads it back.

    Example::

        >>> import tempfile
        >>> journal = SeriesJournal(tempfile.mkdtemp())
        >>> journal.records
        {}
    """

    def __init__(self, work_dir: str | Path) -> None:
        self.root = Path(work_dir)
        self.incoming, self.journal_dir = self.root / "incoming", self.root / "journal"
        self.results, self.kept = self.root / "results", self.root / "kept"
        for folder in (self.incoming, self.journal_dir, self.results, self.kept):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.records: dict[str, SeriesRecord] = {}
        for path in sorted(self.journal_dir.glob("*.json")):
            record = SeriesRecord(**json.loads(path.read_text()))
            self.records[record.uid] = record

    def series_dir(self, uid: str) -> Path:
        return self.incoming / _folder_name(uid)

    def result_dir(self, uid: str) -> Path:
        return self.results / _folder_name(uid)

    def store(self, ds: pydicom.Dataset) -> str | None:
        """Write one received instance to disk; its series UID, or None for an object kept aside.

        Objects whose SOP class is not CT / MR image storage (DICOM SEG, structured reports,
        presentation states, enhanced multi-frame images...) go to ``kept/<class>/`` with a log
        line: received and stored, not segmented.
        """
        sop_class = str(ds.SOPClassUID)
        sop_uid = _folder_name(str(ds.SOPInstanceUID))
        if sop_class not in IMAGE_STORAGE:
            name = pydicom.uid.UID(sop_class).name or sop_class
            durable_write(self.kept / _folder_name(name) / f"{sop_uid}.dcm", _dicom_bytes(ds))
            logger.warning(
                "kept %s (%s, modality %s): not a CT or MR image to segment",
                sop_uid,
                name,
                getattr(ds, "Modality", "?"),
            )
            return None
        uid = str(ds.SeriesInstanceUID)
        path = self.series_dir(uid) / f"{sop_uid}.dcm"
        sent_again = path.exists()  # the same SOP instance once more: replaced, not counted twice
        durable_write(path, _dicom_bytes(ds))
        with self._lock:
            record = self.records.get(uid) or SeriesRecord(uid=uid, modality=IMAGE_STORAGE[sop_class])
            if record.state != "receiving":
                logger.warning("series %s: an instance came after the series was %s; kept with it", uid, record.state)
            record.instances += 0 if sent_again else 1
            record.last_received = time.time()
            self._save(record)
        return uid

    def update(self, uid: str, **changes) -> SeriesRecord:
        """Change a series' record and write it before returning."""
        with self._lock:
            record = dataclasses.replace(self.records[uid], **changes)
            if record.state not in STATES:
                raise ValueError(f"state must be one of {STATES}, got {record.state!r}.")
            self._save(record)
            return record

    def in_state(self, state: str) -> list[SeriesRecord]:
        with self._lock:
            return [r for r in self.records.values() if r.state == state]

    def _save(self, record: SeriesRecord) -> None:
        durable_write(
            self.journal_dir / f"{_folder_name(record.uid)}.json", json.dumps(dataclasses.asdict(record)).encode()
        )
        self.records[record.uid] = record
