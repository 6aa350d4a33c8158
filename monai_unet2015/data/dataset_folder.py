"""A dataset folder as a datalist, whatever its layout, and its training / validation split."""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from monai.data import partition_dataset

from monai_unet2015.data.datalists import (
    IMAGE_SUFFIXES,
    add_output_names,
    msd_datalist,
    nifti_folder_datalist,
)
from monai_unet2015.data.dicom_labels import dicom_case_datalist, holds_case_folders
from monai_unet2015.data.dicom_reader import dicom_series_datalist
from monai_unet2015.data.presets import dicom_modality
from monai_unet2015.paths import check_not_mangled

__all__ = ["load_datalist", "split_datalist", "release_series_links"]

logger = logging.getLogger(__name__)


def load_datalist(
    dataset_dir: str | Path,
    section: str = "training",
    with_labels: bool = True,
    modality: str | None = None,
    exclude: Sequence[str | Path] = (),
) -> list[dict]:
    """The datalist of ``dataset_dir``, whatever its layout; ``FileNotFoundError`` / ``ValueError`` if unusable.

    Layouts, tried in this order: an MSD folder (``dataset.json`` listing the cases;
    ``section`` selects ``"training"`` or ``"test"``); ``imagesTs/`` for ``section="test"``
    without labels; a folder with ``imagesTr``/``labelsTr`` (or ``images``/``labels``) NIfTI,
    PNG or TIFF files paired by name, or DICOM cases: one series folder per case,
    ``imagesTr/<case>/``, labelled by ``labelsTr/<case>.dcm`` (an RTSTRUCT or a DICOM SEG,
    whose ROI / segment names ``dataset.json``'s ``"labels"`` maps to class ids, see
    :func:`~monai_unet2015.data.dicom_labels.dicom_case_datalist`) or a NIfTI label; a
    folder of NIfTI, PNG or TIFF files (images only); a folder of DICOM series (images only;
    labels in ``<dataset_dir>_labels`` if present).

    DICOM: only image series of ``modality`` (``"ct"``, ``"mri"``; None for any) are read,
    others are skipped with a warning, and a folder without any is an error; DICOM SEG, RTSTRUCT, SR, PR
    and this project's own outputs are skipped, and so is everything under ``exclude`` (the
    output folder, when it lies inside ``dataset_dir``; ``dataset_dir`` itself as the output
    folder is an error). Folders mixing several series are
    split into folders of links in a temporary folder, removed when the case is done
    (:func:`release_series_links`) or at exit.

    ``dataset_dir`` may also be one NIfTI, PNG or TIFF file (inference on a single case).

    Each entry gets a ``"name"`` unique to its input (its path relative to the folder of all
    inputs, :func:`~monai_unet2015.data.add_output_names`); two inputs with one name are an
    error before any work.
    """
    root = check_not_mangled(dataset_dir, "dataset_dir")
    if root.is_file():
        return _single_file_datalist(root, with_labels)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset_dir {root} does not exist: give a folder of NIfTI files, DICOM series or an MSD dataset "
            "(python -m monai_unet2015 sample-data OUT writes one)."
        )
    if not any(root.iterdir()):
        raise ValueError(f"dataset_dir {root} is empty. Put NIfTI files, DICOM series or an MSD dataset there.")
    _check_outputs_apart(root, exclude)
    try:
        datalist = _datalist_of(root, section, with_labels, modality, exclude)
        add_output_names(datalist)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"dataset_dir {root}: {error}") from None
    except ValueError as error:
        raise ValueError(f"dataset_dir {root}: {error}") from None
    if not datalist:
        raise ValueError(f"dataset_dir {root} has no {section!r} cases.")
    return datalist


def _check_outputs_apart(root: Path, exclude: Sequence[str | Path]) -> None:
    """An output folder (in ``exclude``) that is the dataset folder itself is refused (``ValueError``).

    Inside it, the masks would lie among the images and the next run would segment them; a
    sub-folder is fine (it is left out of the datalist).
    """
    for folder in exclude:
        if Path(folder).resolve() == root.resolve():
            raise ValueError(
                f"output_dir {folder} is dataset_dir itself: the masks would lie among the images and the next run "
                f"would segment them. Write them to another folder, e.g. --output_dir {root / 'masks'}."
            )


def _single_file_datalist(path: Path, with_labels: bool) -> list[dict]:
    """One image file as the whole dataset (inference on a single case)."""
    if not path.name.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError(
            f"dataset_dir {path} is a file but not a NIfTI, PNG or TIFF image; pass such a file, or a folder "
            "(of images, of DICOM series, or an MSD dataset)."
        )
    if with_labels:
        raise ValueError(f"dataset_dir {path} is one image file; training needs a folder with imagesTr/ and labelsTr/.")
    datalist = [{"image": str(path)}]
    add_output_names(datalist)
    return datalist


# The temporary folders of links that split mixed DICOM folders into one series each, and of
# labels read from RTSTRUCT / SEG files; all removed at exit by one callback.
_LINK_DIRS: set[Path] = set()
_LABEL_DIRS: set[Path] = set()


def _remove_temporary_folders() -> None:
    for folder in _LINK_DIRS | _LABEL_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_remove_temporary_folders)


def _series_link_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="monai_unet2015_series_"))
    _LINK_DIRS.add(folder)
    return folder


def _converted_label_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="monai_unet2015_labels_"))
    _LABEL_DIRS.add(folder)
    return folder


def _drop_link_dir_if_empty(folder: Path) -> None:
    if folder in _LINK_DIRS and not any(folder.iterdir()):
        folder.rmdir()
        _LINK_DIRS.discard(folder)


def release_series_links(image: str | Path) -> None:
    """Remove the folder of links made for ``image`` (a split DICOM series) once its case is done.

    Does nothing for any other path. The bundle's inference calls it after each case, so a
    long-running process (the DICOM node) keeps no folders of links behind.

    Example::

        >>> release_series_links("/data/ct/case_001.nii.gz")  # not a folder of links: nothing to do
    """
    path = Path(str(image))
    for folder in list(_LINK_DIRS):
        if path.parent == folder:
            shutil.rmtree(path, ignore_errors=True)
            _drop_link_dir_if_empty(folder)


def _lists_cases(dataset_json: Path) -> bool:
    """Whether a ``dataset.json`` lists its cases (MSD) rather than only describing them (nnU-Net v2, DICOM labels)."""
    try:
        return "training" in json.loads(dataset_json.read_text())
    except (OSError, json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{dataset_json} is not readable JSON: {error}") from None


def _dicom_cases(
    images_dir: Path, labels_dir: Path | None, root: Path, modality: str | None, with_labels: bool
) -> list[dict]:
    link_dir = _series_link_dir()
    try:
        return dicom_case_datalist(
            images_dir,
            labels_dir if with_labels else None,
            dataset_json=root / "dataset.json",
            link_dir=link_dir,
            label_dir=_converted_label_dir() if with_labels else None,
            modality=dicom_modality(modality) if modality else None,
        )
    finally:
        _drop_link_dir_if_empty(link_dir)


def _image_folder_datalist(
    images_dir: Path, labels_dir: Path | None, root: Path, modality: str | None, with_labels: bool
) -> list[dict]:
    if holds_case_folders(images_dir):
        return _dicom_cases(images_dir, labels_dir, root, modality, with_labels)
    if with_labels:
        return nifti_folder_datalist(images_dir, labels_dir)
    return nifti_folder_datalist(images_dir)


def _datalist_of(
    root: Path, section: str, with_labels: bool, modality: str | None, exclude: Sequence[str | Path]
) -> list[dict]:
    if (root / "dataset.json").is_file() and _lists_cases(root / "dataset.json"):
        datalist = msd_datalist(root, section)
        return datalist if with_labels else [{"image": item["image"]} for item in datalist]
    if section == "test" and not with_labels and (root / "imagesTs").is_dir():
        return _image_folder_datalist(root / "imagesTs", None, root, modality, False)
    for images, labels in (("imagesTr", "labelsTr"), ("images", "labels")):
        if (root / images).is_dir():
            return _image_folder_datalist(root / images, root / labels, root, modality, with_labels)
    if any(p.name.lower().endswith(IMAGE_SUFFIXES) for p in root.iterdir()):
        if with_labels:
            raise FileNotFoundError("training needs labels: use imagesTr/ and labelsTr/ (or an MSD dataset.json).")
        return nifti_folder_datalist(root)
    labels = root.parent / f"{root.name}_labels"
    has_dicom_files = any(p.is_file() for p in root.rglob("*"))
    if not has_dicom_files:
        raise FileNotFoundError(
            "holds no files: put NIfTI, PNG or TIFF files, DICOM series or an MSD dataset (dataset.json) there."
        )
    link_dir = _series_link_dir()
    try:
        return dicom_series_datalist(
            root,
            labels_dir=labels if with_labels and labels.is_dir() else None,
            link_dir=link_dir,
            modality=dicom_modality(modality) if modality else None,
            exclude=exclude,
            report_broken=not with_labels,  # inference: one broken series fails alone
        )
    finally:
        _drop_link_dir_if_empty(link_dir)  # no series needed splitting


def split_datalist(datalist: Sequence[dict], val_fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """``(training, validation)``: at least one case in each; a single case serves as both.

    ``val_fraction=0`` trains on every case and validates on the same cases (nnU-Net's fold
    "all"): for a handful of images, where holding one out costs more than a validation score
    that measures generalisation is worth; the validation then only follows training.

    Example::

        >>> train, val = split_datalist([{"image": str(i)} for i in range(10)], val_fraction=0.2)
        >>> len(train), len(val)
        (8, 2)
    """
    if not 0 <= val_fraction < 1 or isinstance(val_fraction, bool):
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    if val_fraction == 0:
        return list(datalist), list(datalist)
    if len(datalist) < 2:
        logger.warning("only %d case: it is used for training and for validation", len(datalist))
        return list(datalist), list(datalist)
    num_val = max(1, round(len(datalist) * val_fraction))
    shuffled = partition_dataset(list(datalist), num_partitions=1, shuffle=True, seed=seed)[0]
    return shuffled[num_val:], shuffled[:num_val]
