"""Labels that hospitals keep as DICOM (RTSTRUCT contours, DICOM SEG) as label maps on their series' grid.

A dataset case is a DICOM image series folder ``imagesTr/<case>/`` with its label
``labelsTr/<case>.dcm`` (an RTSTRUCT or a SEG; a NIfTI ``labelsTr/<case>.nii.gz`` works as
well), and ``dataset.json``'s ``"labels"`` says which ROI or segment names are which class
(:class:`~monai_unet2015.data.label_names.ClassNameMap`). Each DICOM label becomes a NIfTI
label map on the series' grid (:func:`write_dicom_label`), so planning, the safety checks and
training read it as they read any NIfTI case.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from monai.utils import optional_import

from monai_unet2015.data.datalists import IMAGE_SUFFIXES, LABEL_SUFFIXES, strip_image_suffix
from monai_unet2015.data.dicom_geometry import SeriesGrid, series_grid
from monai_unet2015.data.dicom_reader import dicom_series_datalist
from monai_unet2015.data.label_names import ClassNameMap
from monai_unet2015.data.rtstruct_labels import rasterise_contours, read_rtstruct

hd, has_highdicom = optional_import("highdicom")

__all__ = [
    "dicom_label_map",
    "rtstruct_label_map",
    "seg_label_map",
    "write_dicom_label",
    "label_dtype",
    "dicom_case_datalist",
    "holds_case_folders",
]

logger = logging.getLogger(__name__)

_GRID_TOLERANCE = 0.01  # of a voxel: a SEG voxel centre must be one of the series' voxel centres


def label_dtype(num_classes: int) -> np.dtype:
    """The smallest unsigned integer type for class ids ``0..num_classes-1``."""
    return np.dtype(np.uint8 if num_classes <= 256 else np.uint16)


def _check_frame_of_reference(uid: str, grid: SeriesGrid, source, what: str) -> None:
    if uid and grid.frame_of_reference_uid and uid != grid.frame_of_reference_uid:
        raise ValueError(
            f"{source}: {what} is in frame of reference {uid}, series {grid.series_instance_uid} in "
            f"{grid.frame_of_reference_uid}: it was drawn on another patient position or scan."
        )


def _paint(masks: Mapping[int, np.ndarray], grid: SeriesGrid, names: ClassNameMap, source) -> np.ndarray:
    """One label map from per-class masks, painted in ascending class id: a higher id wins an overlap."""
    label = np.zeros(grid.shape, label_dtype(names.num_classes))
    overlap = 0
    for class_id, mask in sorted(masks.items()):
        overlap += int(np.count_nonzero(mask & (label > 0)))
        label[mask] = class_id
    if overlap:
        logger.warning("%s: structures overlap on %d voxel(s); the higher class id is kept there", source, overlap)
    return label


def rtstruct_label_map(path: str | os.PathLike, grid: SeriesGrid, names: ClassNameMap) -> np.ndarray:
    """The label map ``(x, y, z)`` of an RTSTRUCT's ROIs on ``grid``; ROI names become classes through ``names``.

    The contour rule is :mod:`monai_unet2015.data.rtstruct_labels`'. ROIs of no class are left out.

    Raises:
        ValueError: a missing or ambiguous class (:meth:`ClassNameMap.match`), an ROI in
            another frame of reference, a contour out of the slice planes; each names ``path``.
    """
    rois = read_rtstruct(path)
    matched = names.match([roi.name for roi in rois], path)
    by_name = {roi.name: roi for roi in rois}
    masks = {}
    for class_id, roi_name in matched.items():
        roi = by_name[roi_name]
        _check_frame_of_reference(roi.frame_of_reference_uid, grid, path, f"ROI {roi_name!r}")
        masks[class_id] = rasterise_contours(roi, grid, path)
    return _paint(masks, grid, names, path)


def _segment_voxels(volume, index: int, to_grid: np.ndarray, grid: SeriesGrid, source, name: str) -> np.ndarray:
    """The series' voxels that segment ``index`` of the highdicom ``volume`` covers, as a bool mask."""
    values = volume.array[..., index]
    present = np.argwhere(values >= 0.5 if values.dtype.kind == "f" else values > 0)
    mask = np.zeros(grid.shape, bool)
    if present.size == 0:
        logger.warning("%s: segment %r is empty: its class is empty in this case", source, name)
        return mask
    voxels = present @ to_grid[:3, :3].T + to_grid[:3, 3]
    nearest = np.round(voxels).astype(np.int64)
    if np.abs(voxels - nearest).max() > _GRID_TOLERANCE:
        raise ValueError(
            f"{source}: segment {name!r} is not on the voxel grid of series {grid.series_instance_uid} (its "
            "pixels fall between the series' voxels): a SEG of another reconstruction or spacing cannot be used."
        )
    inside = np.all((nearest >= 0) & (nearest < np.asarray(grid.shape)), axis=1)
    if not inside.all():
        logger.warning("%s: segment %r has %d voxel(s) past the series: left out", source, name, int((~inside).sum()))
    mask[tuple(nearest[inside].T)] = True
    return mask


def seg_label_map(path: str | os.PathLike, grid: SeriesGrid, names: ClassNameMap) -> np.ndarray:
    """The label map ``(x, y, z)`` of a DICOM SEG's segments on ``grid``; segment labels become classes.

    Read with highdicom (BINARY, FRACTIONAL (>= 0.5 is inside) and LABELMAP SEGs; its
    frames are placed by their own plane positions, so a SEG that references the series
    only through the frame of reference works too). Each frame's voxel centres must be
    centres of the series' voxels (within 1% of a voxel): a SEG on another grid is an error.

    Raises:
        ImportError: highdicom is not installed (``pip install 'monai_unet2015[dicom]'``).
        ValueError: a missing or ambiguous class, another frame of reference, another grid;
            each names ``path``.
    """
    if not has_highdicom:
        raise ImportError(f"{path}: reading DICOM SEG labels needs highdicom: pip install 'monai_unet2015[dicom]'.")
    try:
        seg = hd.seg.segread(path)
    except Exception as error:
        raise ValueError(f"{path} is not a readable DICOM SEG: {type(error).__name__}: {error}") from None
    _check_frame_of_reference(str(getattr(seg, "FrameOfReferenceUID", "")), grid, path, "the SEG")
    numbers = seg.get_segment_numbers()
    labels = {number: str(seg.get_segment_description(number).segment_label) for number in numbers}
    matched = names.match(list(labels.values()), path)
    number_of = {label: number for number, label in labels.items()}
    wanted = [number_of[name] for name in matched.values()]
    try:
        volume = seg.get_volume(segment_numbers=wanted, combine_segments=False)
    except Exception as error:
        raise ValueError(f"{path}: its frames do not form a volume ({type(error).__name__}: {error}).") from None
    to_grid = np.linalg.inv(grid.lps_affine) @ np.asarray(volume.affine, dtype=float)
    masks = {
        class_id: _segment_voxels(volume, index, to_grid, grid, path, name)
        for index, (class_id, name) in enumerate(matched.items())
    }
    return _paint(masks, grid, names, path)


def dicom_label_map(path: str | os.PathLike, grid: SeriesGrid, names: ClassNameMap) -> np.ndarray:
    """The label map ``(x, y, z)`` of an RTSTRUCT or a DICOM SEG file on the series ``grid``.

    Example::

        >>> import tempfile, pathlib, numpy as np
        >>> from monai_unet2015.data import write_dicom_series, write_dicom_seg
        >>> from monai_unet2015.data.dicom_geometry import series_grid
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> files = write_dicom_series(np.zeros((8, 8, 4)), np.eye(4), folder / "ct")
        >>> mask = np.zeros((8, 8, 4), np.uint8); mask[2:5, 3:6, 1:3] = 1
        >>> _ = write_dicom_seg(mask, np.eye(4), folder / "ct", folder / "seg.dcm", {1: "Liver"})
        >>> label = dicom_label_map(folder / "seg.dcm", series_grid(files), ClassNameMap({1: ["liver"]}))
        >>> int(label.sum()), bool((label == mask).all())
        (18, True)
    """
    try:
        modality = str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).Modality).upper()
    except Exception as error:
        raise ValueError(f"{path} is not a readable DICOM file: {type(error).__name__}: {error}") from None
    if modality == "RTSTRUCT":
        return rtstruct_label_map(path, grid, names)
    if modality == "SEG":
        return seg_label_map(path, grid, names)
    raise ValueError(f"{path} is a {modality or 'no-Modality'} object; a DICOM label must be an RTSTRUCT or a SEG.")


def write_dicom_label(
    path: str | os.PathLike, grid: SeriesGrid, names: ClassNameMap, out_path: str | os.PathLike
) -> Path:
    """:func:`dicom_label_map` saved as NIfTI with the series' RAS affine (what MONAI's readers give it)."""
    label = dicom_label_map(path, grid, names)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(label, grid.affine), out_path)
    return out_path


def _case_folders(images_dir: Path) -> list[Path]:
    return sorted(p for p in images_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def holds_case_folders(images_dir: str | os.PathLike) -> bool:
    """Whether ``images_dir`` holds one folder per case (DICOM series) rather than image files."""
    images_dir = Path(images_dir)
    return bool(_case_folders(images_dir)) and not any(
        p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES) for p in images_dir.iterdir()
    )


def _series_files(folder: str) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))


def _case_series(case: Path, modality: str | None, link_dir: Path) -> dict:
    """The one image series of a case folder (RTSTRUCT, SEG and other non-images in it are skipped)."""
    found = dicom_series_datalist(case, link_dir=link_dir, modality=modality)
    if len(found) != 1:
        raise ValueError(
            f"case folder {case} holds {len(found)} image series ({[item['series_uid'] for item in found]}); "
            "a case is one DICOM image series: move the others out."
        )
    entry = found[0]
    entry["source"] = str(case)
    return entry


def _case_labels(labels_dir: Path) -> dict[str, Path]:
    """Label files by the case name they carry: ``<case>.dcm``, ``<case>.nii.gz``, ``<case>_seg.nii.gz``..."""
    by_case: dict[str, Path] = {}
    for path in sorted(p for p in labels_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        if not path.name.lower().endswith((".dcm",) + IMAGE_SUFFIXES):
            continue
        stem = strip_image_suffix(path.name)
        for suffix in LABEL_SUFFIXES[1:]:
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        if stem in by_case:
            raise ValueError(
                f"case {stem!r} has two labels in {labels_dir}: {by_case[stem].name} and {path.name}; keep one."
            )
        by_case[stem] = path
    return by_case


def dicom_case_datalist(
    images_dir: str | os.PathLike,
    labels_dir: str | os.PathLike | None,
    dataset_json: str | os.PathLike,
    link_dir: str | os.PathLike,
    label_dir: str | os.PathLike | None,
    modality: str | None = None,
) -> list[dict]:
    """Cases as DICOM series folders ``images_dir/<case>/`` with labels ``labels_dir/<case>.dcm`` (or NIfTI).

    Each case folder holds one image series (of ``modality``, if given). A DICOM label (an
    RTSTRUCT or a SEG, named ``<case>.dcm``) is turned into a NIfTI label map on the series'
    grid in ``label_dir`` (:func:`write_dicom_label`), its classes named by ``dataset_json``'s
    ``"labels"``; a NIfTI label is used as it is. Each entry keeps ``"annotation"``, the
    file the label came from (not ``"label_..."``: MONAI's spatial transforms take every key
    that starts with ``"label_"`` for the label's meta dictionary).

    Args:
        images_dir: the folder of case folders.
        labels_dir: the folder of labels, or None (images only).
        dataset_json: the ``dataset.json`` whose ``"labels"`` map class ids to ROI / segment names.
        link_dir: where series that share a folder with other files are linked.
        label_dir: where converted labels are written (needed with DICOM labels).
        modality: the DICOM Modality to keep, or None for any.

    Raises:
        FileNotFoundError: ``labels_dir`` is missing.
        ValueError: a case folder without exactly one image series, cases and labels that do
            not pair up (listed), two labels for a case, a label that cannot be placed on its
            series (named), or no class map for DICOM labels.
    """
    images_dir = Path(images_dir)
    datalist = [_case_series(case, modality, Path(link_dir)) for case in _case_folders(images_dir)]
    if labels_dir is None:
        return datalist
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise FileNotFoundError(
            f"labels folder {labels_dir} does not exist (one label per case folder of {images_dir})."
        )
    labels = _case_labels(labels_dir)
    cases = {Path(item["source"]).name: item for item in datalist}
    unlabelled, orphans = sorted(set(cases) - set(labels)), sorted(set(labels) - set(cases))
    if unlabelled or orphans:
        raise ValueError(
            f"case folders in {images_dir} and labels in {labels_dir} do not pair up: cases without a label: "
            f"{unlabelled[:5]}; labels without a case: {[labels[c].name for c in orphans[:5]]}. Name a label "
            "<case>.dcm (RTSTRUCT or SEG) or <case>.nii.gz."
        )
    names = None
    for case, item in cases.items():
        source = labels[case]
        item["annotation"] = str(source)
        if not source.name.lower().endswith(".dcm"):
            item["label"] = str(source)
            continue
        names = names or ClassNameMap.from_dataset_json(dataset_json)
        grid = series_grid(_series_files(item["image"]))
        item["label"] = str(write_dicom_label(source, grid, names, Path(label_dir) / f"{case}.nii.gz"))
        logger.info("%s: label %s read onto series %s", case, source.name, grid.series_instance_uid)
    return datalist
