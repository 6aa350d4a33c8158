"""Finding the DICOM image series in a folder tree, and their datalist (the reading side of DICOM).

Files are grouped by SeriesInstanceUID from their headers alone (no pixel data is read);
what is not an image to segment (SEG, RTSTRUCT, SR, our own outputs...) is skipped with a
log line, never silently.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from monai_unet2015.data.datalists import LABEL_SUFFIXES, image_files, image_stem
from monai_unet2015.data.dicom_uids import uid_file_name

__all__ = ["DicomSeries", "find_dicom_series", "dicom_series_datalist", "NON_IMAGE_MODALITIES", "OWN_MANUFACTURER"]

logger = logging.getLogger(__name__)

_DICOM_SUFFIXES = ("", ".dcm", ".dicom", ".ima")
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
# DICOM objects that carry pixel data (or none) but are not images to segment: our own SEG
# outputs among them. A folder of studies from a PACS holds them beside the CT.
NON_IMAGE_MODALITIES = frozenset({"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "REG", "DOC"})
OWN_MANUFACTURER = "monai_unet2015"


class DicomSeries:
    """The files of one DICOM series, found by SeriesInstanceUID, with the header facts we check."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.files: list[Path] = []
        self.positions: list[np.ndarray] = []
        self.normal: np.ndarray | None = None
        self.modality = ""
        self.patient_id = ""
        self.description = ""
        self.problems: list[str] = []  # why the series cannot be segmented (noted, not raised, for inference)

    @property
    def folders(self) -> set[Path]:
        return {f.parent for f in self.files}

    def check_slice_spacing(self) -> None:
        """Slices must be evenly spaced along the normal, or readers misplace them (``ValueError``)."""
        if self.normal is None or len(self.positions) < 3:
            return
        along = np.sort([float(p @ self.normal) for p in self.positions])
        steps = np.diff(along)
        if np.any(steps < 1e-3):
            raise ValueError(
                f"DICOM series {self.uid} in {sorted(map(str, self.folders))} has two slices at the same position."
            )
        if steps.max() > 1.01 * steps.min():
            gap = float(along[np.argmax(steps)])
            raise ValueError(
                f"DICOM series {self.uid} in {sorted(map(str, self.folders))} is unevenly spaced (slice steps "
                f"{steps.min():.3f}..{steps.max():.3f} mm): a slice is missing after position {gap:.3f} mm."
            )


def _expected_pixel_bytes(ds: pydicom.Dataset) -> int | None:
    if "PixelData" not in ds or ds.file_meta.TransferSyntaxUID.is_compressed:
        return None
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return ds.Rows * ds.Columns * ds.SamplesPerPixel * frames * (ds.BitsAllocated // 8)


def _read_header(path: Path) -> pydicom.Dataset | None:
    """The dataset of a DICOM file; None for a non-DICOM file that is not named like one."""
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        if path.suffix.lower() in _DICOM_SUFFIXES:
            raise ValueError(f"{path} is not a readable DICOM file (no DICOM header).") from None
        return None
    except Exception as error:  # truncated files raise EOFError, OSError, ...
        raise ValueError(f"{path} is not a readable DICOM file: {type(error).__name__}: {error}") from error
    return ds


def _truncation(path: Path, ds: pydicom.Dataset) -> str | None:
    """Why a file's pixel data is cut short, or None."""
    expected = _expected_pixel_bytes(ds)
    if expected is not None and len(ds.PixelData) < expected:
        return f"{path} is truncated: {len(ds.PixelData)} bytes of pixel data, {expected} expected."
    return None


def _not_an_image(ds: pydicom.Dataset | None) -> str | None:
    """Why a DICOM file is not part of an image series to segment, or None if it is."""
    if ds is None:
        return "not DICOM"
    if getattr(ds.file_meta, "MediaStorageSOPClassUID", "") == _DICOMDIR_CLASS:
        return "DICOMDIR"
    modality = str(getattr(ds, "Modality", "")).upper()
    if modality in NON_IMAGE_MODALITIES:
        return f"a {modality} object, not an image"
    if str(getattr(ds, "Manufacturer", "")) == OWN_MANUFACTURER:
        return "an output of monai_unet2015"
    if "PixelData" not in ds:
        return "no pixel data"
    return None


def _is_under(path: Path, folders: Sequence[Path]) -> bool:
    return any(folder == path or folder in path.parents for folder in folders)


def find_dicom_series(
    root: str | os.PathLike,
    exclude: Sequence[str | os.PathLike] = (),
    unreadable: list[tuple[Path, str]] | None = None,
) -> list[DicomSeries]:
    """All image series under ``root`` (recursively), grouped by SeriesInstanceUID.

    Files that are not DICOM and not named like DICOM (``*.txt``, ``*.json``...), DICOMDIR
    files, non-image objects (DICOM SEG, RTSTRUCT, SR, PR... see ``NON_IMAGE_MODALITIES``),
    this project's own outputs and everything under the folders in ``exclude`` (an output
    folder inside the dataset folder, say) are skipped, with a log line for each skipped
    DICOM object. A file named like DICOM that cannot be read, or whose pixel data is
    truncated, is a ``ValueError`` naming it; with ``unreadable`` (a list) such a file is
    appended to it as ``(path, message)`` instead, and a truncated one also goes to its
    series' ``problems``, so that one broken series does not stop the others.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DICOM folder {root} does not exist.")
    excluded = [Path(p).resolve() for p in exclude]
    series: dict[str, DicomSeries] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if excluded and _is_under(path.resolve(), excluded):
            continue
        try:
            ds = _read_header(path)
        except ValueError as error:
            if unreadable is None:
                raise
            unreadable.append((path, str(error)))
            continue
        reason = _not_an_image(ds)
        if reason is not None:
            if ds is not None:
                logger.info("skipped %s: %s", path, reason)
            continue
        entry = _add_file(series, path, ds)
        truncated = _truncation(path, ds)
        if truncated is not None:
            if unreadable is None:
                raise ValueError(truncated)
            entry.problems.append(truncated)
    if not series and not unreadable:
        raise FileNotFoundError(
            f"DICOM folder {root} holds no DICOM image files (readable inputs: DICOM image series, NIfTI, PNG, TIFF "
            "or an MSD dataset.json)."
        )
    return sorted(series.values(), key=lambda s: (sorted(map(str, s.folders))[0], s.uid))


def _add_file(series: dict[str, DicomSeries], path: Path, ds: pydicom.Dataset) -> DicomSeries:
    """Put ``path`` into its series (made if new) with the header facts the checks need."""
    uid = str(ds.SeriesInstanceUID)
    entry = series.setdefault(uid, DicomSeries(uid))
    entry.files.append(path)
    entry.modality, entry.patient_id = str(getattr(ds, "Modality", "")), str(getattr(ds, "PatientID", ""))
    entry.description = str(getattr(ds, "SeriesDescription", ""))
    if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
        orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
        entry.normal = np.cross(orientation[:3], orientation[3:])
        entry.positions.append(np.asarray(ds.ImagePositionPatient, dtype=float))
    return entry


def _series_folder(entry: DicomSeries, all_files_in: dict[Path, int], link_dir: Path | None) -> tuple[Path, Path]:
    """``(folder to read, source)``: the series' own folder twice, or a folder of links and
    ``<first folder>/<SeriesInstanceUID>`` (what names its outputs).

    A folder that holds only this series' images but other files as well (hidden, partial or
    non-DICOM ones, which MONAI's readers would read with them) keeps its name as the source
    and is read through a folder of links to the series' files alone.
    """
    folders = entry.folders
    if len(folders) == 1:
        folder = next(iter(folders))
        if all_files_in[folder] == len(entry.files):
            others = sum(1 for p in folder.iterdir() if p.is_file()) - len(entry.files)
            if others == 0 or link_dir is None:
                return folder, folder
            return _linked(entry, link_dir), folder
    if link_dir is None:
        raise ValueError(
            f"DICOM series {entry.uid} ({entry.modality}, {entry.description!r}) shares its folder with other "
            f"series or spans several folders ({sorted(map(str, folders))}); MONAI's readers read one series per "
            "folder. Pass link_dir=... to have each series linked into a folder of its own."
        )
    return _linked(entry, link_dir), sorted(folders)[0] / uid_file_name(entry.uid)


def _linked(entry: DicomSeries, link_dir: Path) -> Path:
    """A folder under ``link_dir`` with a link to each of the series' files (named by the UID's file name)."""
    target = link_dir / uid_file_name(entry.uid)  # the UID comes from the file: data, never a path
    target.mkdir(parents=True, exist_ok=True)
    for index, source in enumerate(sorted(entry.files)):
        link = target / f"{index:05d}_{source.name}"
        if not link.exists():
            link.symlink_to(source.resolve())
    return target


def _select_modality(found: list[DicomSeries], modality: str | None, root: str | os.PathLike) -> list[DicomSeries]:
    if modality is None:
        return found
    wanted = [entry for entry in found if entry.modality.upper() == modality.upper()]
    others = sorted({entry.modality or "no Modality" for entry in found if entry not in wanted})
    if not wanted:
        raise ValueError(
            f"DICOM folder {root} holds {len(found)} image series of modality {others}, none of modality "
            f"{modality.upper()}: segment them with the preset for their modality (--modality)."
        )
    for entry in found:
        if entry not in wanted:
            logger.warning(
                "skipped DICOM series %s in %s: modality %s, not %s",
                entry.uid,
                sorted(map(str, entry.folders))[0],
                entry.modality,
                modality.upper(),
            )
    return wanted


def dicom_series_datalist(
    root: str | os.PathLike,
    labels_dir: str | os.PathLike | None = None,
    link_dir: str | os.PathLike | None = None,
    modality: str | None = None,
    exclude: Sequence[str | os.PathLike] = (),
    report_broken: bool = False,
) -> list[dict]:
    """One entry per DICOM image series under ``root``: ``{"image": folder, "series_uid": ...}``.

    Tidy data (one series per folder) is used as it is. A folder holding several series (or
    a series spread over folders) is an error naming the folder unless ``link_dir`` is
    given: then each such series is linked (symbolic links, no copies) into
    ``link_dir/<SeriesInstanceUID>/``, which MONAI's ITK and pydicom readers read as one
    series. Labels, if any, are NIfTI files in ``labels_dir`` named after the series folder
    or the SeriesInstanceUID (optionally with ``_seg``/``_label``/... as for NIfTI).

    Each entry's ``"source"`` is where the series lies: its folder, or for a linked series
    ``<its first folder>/<SeriesInstanceUID>``; :func:`add_output_names` names outputs by it.
    Non-image objects and the folders in ``exclude`` are skipped (:func:`find_dicom_series`).

    Args:
        root: the folder to search, recursively.
        labels_dir: NIfTI labels for the series, or None.
        link_dir: where mixed series are linked into folders of their own, or None.
        modality: the DICOM Modality to keep (``"CT"``, ``"MR"``), or None for all; series of
            another modality are skipped with a warning, and none of this one is an error.
        exclude: folders under ``root`` to leave out.
        report_broken: inference's choice: a series with a truncated slice or uneven slice
            steps gets a ``"problem"`` (the message) instead of stopping the whole list, and
            so does every series beside a file that cannot be read at all (it may be one of
            their slices); an unreadable file with no series beside it is an entry of its own
            with its ``"problem"``. Batch inference reports these cases as failed by name
            and segments the others.

    Raises:
        FileNotFoundError: ``root`` is missing or holds no DICOM images.
        ValueError: an unreadable or truncated file (named), mixed series without
            ``link_dir``, unevenly spaced slices, no series of ``modality``, a series
            without its label or a label without its series (the first two and uneven
            slices not with ``report_broken``).
    """
    unreadable: list[tuple[Path, str]] | None = [] if report_broken else None
    found = find_dicom_series(root, exclude, unreadable)
    found = _select_modality(found, modality, root) if found else found
    files_per_folder: dict[Path, int] = defaultdict(int)
    for entry in found:
        for path in entry.files:
            files_per_folder[path.parent] += 1
    datalist = []
    for entry in found:
        _check_series(entry, unreadable)
        folder, source = _series_folder(entry, files_per_folder, Path(link_dir) if link_dir is not None else None)
        item = {
            "image": str(folder),
            "source": str(source),
            "series_uid": entry.uid,
            "modality": entry.modality,
            "patient_id": entry.patient_id,
            "num_slices": len(entry.files),
        }
        if entry.problems:
            item["problem"] = " ".join(entry.problems)
        datalist.append(item)
    for path, message in unreadable or ():
        if path.parent not in files_per_folder:
            datalist.append({"image": str(path), "source": str(path), "problem": message})
    if labels_dir is not None:
        _pair_series_with_labels(datalist, found, Path(labels_dir))
    return datalist


def _check_series(entry: DicomSeries, unreadable: list[tuple[Path, str]] | None) -> None:
    """Slice spacing, and unreadable files beside the series: raised, or with ``unreadable`` noted in ``problems``."""
    try:
        entry.check_slice_spacing()
    except ValueError as error:
        if unreadable is None:
            raise
        entry.problems.append(str(error))
    for path, message in unreadable or ():
        if path.parent in entry.folders:
            entry.problems.append(f"{message} It lies beside this series and may be one of its slices.")


def _pair_series_with_labels(datalist: list[dict], found: list[DicomSeries], labels_dir: Path) -> None:
    labels = image_files(labels_dir, "labels")
    by_stem = {image_stem(p): p for p in labels}
    used, unmatched = set(), []
    for item, entry in zip(datalist, found):
        names = {entry.uid, *(folder.name for folder in entry.folders)}
        matches = {by_stem[n + s] for n in names for s in LABEL_SUFFIXES if n + s in by_stem}
        if len(matches) != 1:
            unmatched.append(f"{sorted(names)} ({len(matches)} labels)")
            continue
        item["label"] = str(matches.pop())
        used.add(Path(item["label"]))
    orphans = sorted(p.name for p in labels if p not in used)
    if unmatched or orphans:
        raise ValueError(
            f"DICOM series and labels in {labels_dir} do not pair up: series without exactly one label: "
            f"{unmatched[:5]}; labels without a series: {orphans[:5]}. Name a label after its series folder "
            "or its SeriesInstanceUID."
        )
