"""The node's journal on disk: every received instance and every series' state survive a crash.

Layout under ``work_dir`` (every name from a validated UID, :mod:`monai_unet2015.data.dicom_uids`)::

    incoming/<SeriesInstanceUID>/<SOPInstanceUID>.dcm   the instances, written before they are acknowledged
    journal/<SeriesInstanceUID>.json                    the series' state (one small file, replaced atomically)
    results/<SeriesInstanceUID>/r<revision>/            the mask, volumes and DICOM outputs, every revision kept
    kept/<reason>/<SOPInstanceUID>.dcm                  objects that are not images to segment, kept

A series moves ``receiving`` -> ``complete`` -> ``segmented`` -> ``sent``, or to
``not_applicable`` with the reason (another modality, spacings far from the training data's:
:mod:`~monai_unet2015.dicom_node.gate`; no mask is made), to ``kept`` with a reason (a series
the bundle refused) or to ``failed`` (the destination refused it ``max_attempts`` times). An
instance that arrives for a series past ``receiving`` starts a new revision of it: back to
``receiving``, segmented again as a whole once quiet, the earlier results kept; an instance
identical to the one already stored changes nothing.
Each state change is written (``fsync``, then ``os.replace``) before the node acts on it, so
a node killed at any point resumes where the journal says.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pydicom

from monai_unet2015.data.dicom_uids import uid_file_name, uid_problem
from monai_unet2015.dicom_node.gate import series_spacing

__all__ = [
    "SeriesRecord",
    "SeriesJournal",
    "STATES",
    "FINAL_STATES",
    "IMAGE_STORAGE",
    "IdentifierError",
    "NonConformantError",
    "durable_write",
    "remove_partial_files",
]

logger = logging.getLogger(__name__)

STATES = ("receiving", "complete", "segmented", "sent", "kept", "failed", "not_applicable")
FINAL_STATES = ("sent", "kept", "failed", "not_applicable")
# The single-frame image storage classes the bundles read (CT, MR), by SOP Class UID.
IMAGE_STORAGE = {"1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.4": "MR"}
_UID_ATTRIBUTES = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
_PARTIAL = ".partial-"


class IdentifierError(ValueError):
    """A received object's UID does not follow the DICOM UID grammar: the object is refused."""


class NonConformantError(ValueError):
    """A received image lacks what a slice of a volume needs, or does not belong to its series: refused."""


@dataclasses.dataclass
class SeriesRecord:
    """What the journal knows of one series (times are seconds since the epoch)."""

    uid: str
    state: str = "receiving"
    modality: str = ""
    instances: int = 0
    last_received: float = 0.0
    reason: str = ""
    result: str = ""
    attempts: int = 0
    next_try: float = 0.0
    revision: int = 0
    first_received: float = 0.0
    updated: float = 0.0
    geometry: dict | None = None
    purged: bool = False
    patient_id: str = ""
    study_uid: str = ""
    results: list[str] = dataclasses.field(default_factory=list)  # the DICOM objects to send, in order
    sent: list[str] = dataclasses.field(default_factory=list)  # those the destination has stored
    review: list[str] = dataclasses.field(default_factory=list)  # why the result needs review (none: empty)


def durable_write(path: Path, data: bytes) -> None:
    """``data`` at ``path`` or nothing there: a temporary file, ``fsync``, then ``os.replace``.

    A failed write (a full disk) leaves no temporary file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}{_PARTIAL}{os.getpid()}-{threading.get_ident()}")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def remove_partial_files(root: Path) -> int:
    """Remove what interrupted :func:`durable_write` calls left under ``root``; how many."""
    removed = 0
    for path in root.rglob(f".*{_PARTIAL}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _dicom_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def check_identifiers(ds: pydicom.Dataset) -> None:
    """``IdentifierError`` naming the first of the object's UIDs that is missing or not a DICOM UID."""
    for name in _UID_ATTRIBUTES:
        problem = uid_problem(str(getattr(ds, name, "")), name)
        if problem:
            raise IdentifierError(problem)


class SeriesJournal:
    """The instances and series states of a node, in ``work_dir`` (module docstring).

    Thread-safe: the DICOM server's association threads store instances while the node's
    worker reads and advances states. A restarted node reads it back: what was interrupted
    while writing is removed, and every series still ``receiving`` gets its quiet time
    counted afresh (:meth:`restart_quiet_clocks`, again when the node starts listening);
    what arrives meanwhile is merged into it.

    Args:
        work_dir: the node's folder (created if needed).

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
        removed = remove_partial_files(self.root)
        if removed:
            logger.warning("removed %d partial file(s) an interrupted write left in %s", removed, self.root)
        self._lock = threading.Lock()
        self.records: dict[str, SeriesRecord] = {}
        for path in sorted(self.journal_dir.glob("*.json")):
            fields = json.loads(path.read_text())
            known = {field.name for field in dataclasses.fields(SeriesRecord)}
            record = SeriesRecord(**{key: value for key, value in fields.items() if key in known})
            self.records[record.uid] = record
        self.restart_quiet_clocks()

    def restart_quiet_clocks(self) -> None:
        """Count every ``receiving`` series' quiet time from now: after a restart the sender may still be sending."""
        now = time.time()
        with self._lock:
            for record in self.records.values():
                if record.state == "receiving":
                    record.last_received = now

    def series_dir(self, uid: str) -> Path:
        return self.incoming / uid_file_name(uid)

    def result_dir(self, uid: str) -> Path:
        record = self.records.get(uid)
        return self.results / uid_file_name(uid) / f"r{record.revision if record else 0}"

    def store(self, ds: pydicom.Dataset) -> str | None:
        """Write one received instance to disk; its series UID, or None for an object kept aside.

        Refused, nothing written (the sender keeps the instance and is told why):

        - :class:`IdentifierError`: a UID that is not a DICOM UID;
        - :class:`NonConformantError`: a CT / MR slice without pixel data or without what places
          it in a volume (:func:`check_slice_attributes`), or one that names another patient or
          study than the series' earlier instances (one series, one patient);
        - ``ValueError``: pixel data whose length disagrees with Rows, Columns, Samples per
          Pixel, Bits Allocated and Number of Frames (uncompressed transfer syntaxes).

        Kept aside under ``kept/`` with a log line, not segmented: objects whose SOP class is
        not CT / MR image storage (DICOM SEG, structured reports, enhanced multi-frame
        images...), and images whose Modality contradicts their SOP class. Slices of another
        geometry than most of their series (a localizer) are set aside when the series is
        complete (:meth:`set_aside_odd_slices`). An instance identical to the one stored under
        its SOP Instance UID changes nothing (no new revision).
        """
        check_identifiers(ds)
        check_pixel_buffer(ds)
        sop_class, sop_uid = str(ds.SOPClassUID), str(ds.SOPInstanceUID)
        if sop_class not in IMAGE_STORAGE:
            name = pydicom.uid.UID(sop_class).name  # pydicom's own name of a known class, else the UID
            folder = "".join(c if c.isalnum() else "_" for c in name) if name != sop_class else sop_class
            modality = getattr(ds, "Modality", "?")
            self._keep(ds, folder, f"{name}, modality {modality}: not a CT or MR image to segment")
            return None
        check_slice_attributes(ds)
        uid, modality = str(ds.SeriesInstanceUID), IMAGE_STORAGE[sop_class]
        declared = str(getattr(ds, "Modality", "")).upper()
        if declared and declared != modality:
            self._keep(ds, f"mixed-{uid_file_name(uid)}", f"SOP class {modality} image with Modality {declared}")
            return None
        with self._lock:
            _check_same_patient(ds, self.records.get(uid))
        path = self.series_dir(uid) / f"{uid_file_name(sop_uid)}.dcm"
        if path.exists() and _same_instance(path, ds):
            self._received_again(uid, sop_uid)
            return uid
        sent_again = path.exists()  # the same SOP instance, changed: replaced, not counted twice
        durable_write(path, _dicom_bytes(ds))
        with self._lock:
            record = self.records.get(uid) or SeriesRecord(uid=uid, modality=modality, first_received=time.time())
            if record.state != "receiving":
                record = _next_revision(record)
            record.instances += 0 if sent_again else 1
            record.last_received = time.time()
            record.patient_id, record.study_uid = str(ds.get("PatientID", "")), str(ds.StudyInstanceUID)
            self._save(record)
        return uid

    def _received_again(self, uid: str, sop_uid: str) -> None:
        """An instance identical to the stored one: only a series still receiving counts it as news."""
        with self._lock:
            record = self.records.get(uid)
            if record is not None and record.state == "receiving":
                record.last_received = time.time()
                return
        logger.info("series %s: instance %s again, identical to the one stored; nothing to do", uid, sop_uid)

    def set_aside_odd_slices(self, uid: str, revision: int) -> SeriesRecord | None:
        """Keep the slices of the series' most common modality and geometry; move the others to ``kept/``.

        A localizer (another orientation or size) or a reformat sent with the axial slices
        must not decide the series' geometry, whichever came first. The series must be
        ``complete`` at ``revision`` (None otherwise, nothing moved). Two groups of equal size
        keep the whole series aside (state ``kept``), with the reason: nothing says which is
        meant.
        """
        groups, headers = _geometry_groups(sorted(self.series_dir(uid).glob("*.dcm")))
        if not groups:
            return self.update_if(uid, revision, "complete")
        if len(groups) > 1 and len(groups[0][1]) == len(groups[1][1]):
            reason = f"{len(groups)} slice geometries, the largest two with {len(groups[0][1])} slices each"
            return self.update_if(uid, revision, "complete", state="kept", reason=reason)
        majority, slices = groups[0]
        for geometry, paths in groups[1:]:
            self._set_aside(uid, paths, geometry, majority)
        geometry = {name: value for name, value in majority.items() if name != "modality"}
        geometry["spacing_mm"] = list(series_spacing([headers[path] for path in slices]))
        return self.update_if(
            uid, revision, "complete", modality=majority["modality"], geometry=geometry, instances=len(slices)
        )

    def _set_aside(self, uid: str, paths: list[Path], geometry: dict, majority: dict) -> None:
        folder = self.kept / f"mixed-{uid_file_name(uid)}"
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            os.replace(path, folder / path.name)
        differing = ", ".join(
            f"{name} {value} (most slices: {majority.get(name)})"
            for name, value in geometry.items()
            if not _same(value, majority.get(name))
        )
        logger.warning("series %s: %d slice(s) set aside in %s: %s", uid, len(paths), folder, differing)

    def _keep(self, ds: pydicom.Dataset, folder: str, reason: str) -> None:
        durable_write(self.kept / folder / f"{uid_file_name(ds.SOPInstanceUID)}.dcm", _dicom_bytes(ds))
        logger.warning("kept %s aside, not segmented: %s", ds.SOPInstanceUID, reason)

    def update(self, uid: str, **changes) -> SeriesRecord:
        """Change a series' record and write it before returning."""
        with self._lock:
            record = dataclasses.replace(self.records[uid], **changes)
            if record.state not in STATES:
                raise ValueError(f"state must be one of {STATES}, got {record.state!r}.")
            self._save(record)
            return record

    def update_if(self, uid: str, revision: int, expected_state: str, **changes) -> SeriesRecord | None:
        """:meth:`update`, only while the series is still at ``revision`` and ``expected_state`` (None otherwise).

        The worker's way to record a job's outcome: an instance that arrived meanwhile has
        started a new revision, and the job's result must not be taken for it.
        """
        with self._lock:
            current = self.records[uid]
            if current.revision != revision or current.state != expected_state:
                return None
            record = dataclasses.replace(current, **changes)
            self._save(record)
            return record

    def purge(self, uid: str) -> None:
        """Remove a series' received instances, results and slices set aside (the journal entry stays, ``purged``)."""
        shutil.rmtree(self.series_dir(uid), ignore_errors=True)
        shutil.rmtree(self.results / uid_file_name(uid), ignore_errors=True)
        shutil.rmtree(self.kept / f"mixed-{uid_file_name(uid)}", ignore_errors=True)
        self.update(uid, purged=True)

    def purge_expired(self, max_age: float, now: float | None = None) -> tuple[list[SeriesRecord], int]:
        """Retention: purge every series final (sent, kept, failed) for ``max_age`` seconds, and remove
        every object kept aside that long; the purged records and the number of kept files removed."""
        now = time.time() if now is None else now
        with self._lock:
            final = [r for r in self.records.values() if r.state in FINAL_STATES and not r.purged]
            expired = [r.uid for r in final if now - r.updated >= max_age]
        for uid in expired:
            self.purge(uid)
        removed = 0
        for path in self.kept.rglob("*.dcm"):
            if now - path.stat().st_mtime >= max_age:
                path.unlink(missing_ok=True)
                removed += 1
        return [self.records[uid] for uid in expired], removed

    def in_state(self, state: str) -> list[SeriesRecord]:
        with self._lock:
            return [dataclasses.replace(r) for r in self.records.values() if r.state == state]

    def _save(self, record: SeriesRecord) -> None:
        record.updated = time.time()
        data = json.dumps(dataclasses.asdict(record)).encode()
        durable_write(self.journal_dir / f"{uid_file_name(record.uid)}.json", data)
        self.records[record.uid] = record


def _check_same_patient(ds: pydicom.Dataset, record: SeriesRecord | None) -> None:
    """``NonConformantError`` where ``ds`` names another patient or study than its series' earlier instances."""
    if record is None or not record.instances:
        return
    for name, known in (("PatientID", record.patient_id), ("StudyInstanceUID", record.study_uid)):
        value = str(ds.get(name, ""))
        if known and value != known:
            raise NonConformantError(
                f"instance {ds.SOPInstanceUID}: {name} {value!r}, but series {record.uid} holds {name} {known!r}: "
                "one series, one patient and study"
            )


def _geometry_groups(paths: list[Path]) -> tuple[list[tuple[dict, list[Path]]], dict[Path, pydicom.Dataset]]:
    """The slices grouped by modality and :func:`slice_geometry` (within 1e-3), largest group first; their headers."""
    groups: list[tuple[dict, list[Path]]] = []
    headers = {}
    for path in paths:
        header = headers[path] = pydicom.dcmread(path, stop_before_pixels=True)
        geometry = {"modality": IMAGE_STORAGE[str(header.SOPClassUID)], **slice_geometry(header)}
        for known, members in groups:
            if all(_same(value, known[name]) for name, value in geometry.items()):
                members.append(path)
                break
        else:
            groups.append((geometry, [path]))
    return sorted(groups, key=lambda group: len(group[1]), reverse=True), headers


def _same_instance(path: Path, ds: pydicom.Dataset) -> bool:
    """Whether the stored file holds the same data set as ``ds`` (the file meta, such as the sender's AE, aside)."""
    try:
        return pydicom.dcmread(path) == ds
    except Exception:  # an unreadable stored file is not the same: the new one replaces it
        return False


def _next_revision(record: SeriesRecord) -> SeriesRecord:
    """The series' record for an instance that arrives after it was taken (complete, segmented, sent...)."""
    revision = record.revision + 1
    if record.purged:
        logger.warning(
            "series %s: an instance came after the series was sent and its instances removed (--keep-days); "
            "revision %d is made of the instances sent from now on: send the whole series again for a whole result",
            record.uid,
            revision,
        )
        instances = 0
    else:
        logger.warning(
            "series %s: an instance came after the series was %s; revision %d will be the whole series",
            record.uid,
            record.state,
            revision,
        )
        instances = record.instances
    return dataclasses.replace(
        record,
        state="receiving",
        revision=revision,
        result="",
        results=[],
        sent=[],
        review=[],
        reason="",
        attempts=0,
        instances=instances,
        purged=False,
    )


def slice_geometry(ds: pydicom.Dataset) -> dict:
    """What every slice of one series shares: Rows, Columns, orientation, pixel spacing (JSON-ready)."""

    def numbers(name: str) -> list[float] | None:
        value = getattr(ds, name, None)
        return None if value is None else [round(float(v), 4) for v in value]

    return {
        "Rows": int(getattr(ds, "Rows", 0)),
        "Columns": int(getattr(ds, "Columns", 0)),
        "ImageOrientationPatient": numbers("ImageOrientationPatient"),
        "PixelSpacing": numbers("PixelSpacing"),
    }


def _same(value, other) -> bool:
    if isinstance(value, list) and isinstance(other, list) and len(value) == len(other):
        return all(abs(a - b) <= 1e-3 for a, b in zip(value, other))
    return value == other


#: what every CT / MR slice needs to be placed in a volume, with the number of values each holds
_SLICE_ATTRIBUTES = {
    "Rows": 1,
    "Columns": 1,
    "PixelSpacing": 2,
    "ImagePositionPatient": 3,
    "ImageOrientationPatient": 6,
}


def check_slice_attributes(ds: pydicom.Dataset) -> None:
    """``NonConformantError`` naming what a CT / MR slice lacks to be placed in its volume.

    Pixel data, Rows, Columns, Pixel Spacing, Image Position and Image Orientation (Patient)
    are type 1 in the CT and MR image modules; without one the slice cannot be placed, and a
    series with it would be set aside whole after the sender was told "stored".
    """
    missing = ["PixelData"] if "PixelData" not in ds else []
    for name, count in _SLICE_ATTRIBUTES.items():
        value = ds.get(name)
        values = [] if value is None or value == "" else (list(value) if count > 1 else [value])
        if len(values) != count:
            missing.append(name if not values else f"{name} (has {len(values)} values, needs {count})")
    if missing:
        raise NonConformantError(
            f"instance {ds.SOPInstanceUID}: a {ds.get('Modality', '')} slice without {', '.join(missing)}"
        )


def check_pixel_buffer(ds: pydicom.Dataset) -> None:
    """``ValueError`` if an uncompressed image's pixel data has another length than its header states."""
    if "PixelData" not in ds or not getattr(ds.file_meta, "TransferSyntaxUID", None):
        return
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        return
    try:
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        expected = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8 * frames
    except (AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"instance {ds.SOPInstanceUID}: its image header is incomplete ({error})") from None
    actual = len(ds.PixelData)
    if actual not in (expected, expected + 1):  # an odd length is padded to even
        raise ValueError(
            f"instance {ds.SOPInstanceUID}: {actual} bytes of pixel data, but Rows x Columns x samples x bits "
            f"state {expected}"
        )
