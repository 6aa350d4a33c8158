"""Datalists (lists of ``{"image": path, "label": path}``) from the folders hospitals actually have.

Every function checks what it returns: a missing file, an image without its label (or the
reverse), an unreadable file or a folder holding several DICOM series is an error that
names the file or folder, raised here rather than epochs later inside a data loader.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
from monai.data import load_decathlon_datalist

__all__ = [
    "json_datalist",
    "msd_datalist",
    "nifti_folder_datalist",
    "add_output_names",
    "strip_image_suffix",
]

logger = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii.gz", ".nii")
IMAGE_SUFFIXES = NIFTI_SUFFIXES + (".png", ".tif", ".tiff")  # 2D microscopy images too
LABEL_SUFFIXES = ("", "_seg", "_label", "_labels", "_mask", "_gt")
_CHANNEL_SUFFIX = re.compile(r"_\d{4}$")  # nnU-Net's per-modality suffix: case_0000.nii.gz


def _check_files(datalist: list[dict], keys: Sequence[str], source: str) -> list[dict]:
    for index, item in enumerate(datalist):
        for key in keys:
            if key not in item:
                continue
            for path in [item[key]] if isinstance(item[key], (str, os.PathLike)) else item[key]:
                if not os.path.exists(path):
                    raise FileNotFoundError(f"{source}: entry {index} {key!r} names {path}, which does not exist.")
    return datalist


def json_datalist(
    path: str | os.PathLike, key: str = "training", base_dir: str | os.PathLike | None = None
) -> list[dict]:
    """Entries of ``key`` in a JSON datalist (MONAI's decathlon format), paths made absolute.

    Args:
        path: the JSON file: ``{"training": [{"image": ..., "label": ...}, ...], ...}``.
        key: the section to read (``"training"``, ``"validation"``, ``"test"``...).
        base_dir: what relative paths are relative to (default: the JSON file's folder).

    Raises:
        FileNotFoundError: the JSON file or a file it names is missing (named).
        ValueError: the section does not exist (the sections that do are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"datalist {path} does not exist.")
    try:
        datalist = load_decathlon_datalist(path, is_segmentation=True, data_list_key=key, base_dir=base_dir)
    except ValueError as error:
        import json

        sections = sorted(json.loads(path.read_text()))
        raise ValueError(f"datalist {path} has no section {key!r} (it has {sections}).") from error
    return _check_files(datalist, ("image", "label"), str(path))


def msd_datalist(root: str | os.PathLike, section: str = "training") -> list[dict]:
    """A Medical Segmentation Decathlon folder: ``dataset.json``, imagesTr, labelsTr, imagesTs.

    ``section="training"`` gives image/label pairs; ``"test"`` gives images only.

    Example::

        >>> import tempfile, pathlib
        >>> from monai_unet2015.data.sample_data import write_sample_data
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_sample_data(root, num_ct=2, num_mri=0, num_cells=0, ct_shape=(32, 32, 8), dicom=False)
        >>> [pathlib.Path(p).name for p in msd_datalist(root / "ct")[0].values()]
        ['ct_000.nii.gz', 'ct_000.nii.gz']
    """
    root = Path(root)
    if not (root / "dataset.json").is_file():
        raise FileNotFoundError(f"{root} is not an MSD-style dataset folder: it has no dataset.json.")
    datalist = json_datalist(root / "dataset.json", key=section, base_dir=root)
    for name, folder in (("image", "imagesTr"), ("label", "labelsTr")):
        if section == "training" and (root / folder).is_dir():
            on_disk = {p.name for p in (root / folder).iterdir() if p.name.endswith(NIFTI_SUFFIXES)}
            listed = {Path(item[name]).name for item in datalist}
            if on_disk - listed:
                logger.warning(
                    "%s: %d file(s) in %s are not in dataset.json, e.g. %s",
                    root,
                    len(on_disk - listed),
                    folder,
                    sorted(on_disk - listed)[0],
                )
    return datalist


def image_stem(path: Path) -> str:
    for suffix in IMAGE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def _unread_entries(folder: Path, what: str) -> None:
    """A broken link is an error and a sub-folder a warning, each named: a case is never dropped without a word."""
    entries = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".")]
    broken = [p.name for p in entries if p.is_symlink() and not p.exists()]
    if broken:
        raise FileNotFoundError(f"{what} folder {folder} holds links to files that do not exist: {broken[:5]}.")
    folders = [p.name for p in entries if p.is_dir()]
    if folders:
        logger.warning(
            "%s folder %s: sub-folder(s) %s not read: cases are the image files directly in it",
            what,
            folder,
            folders[:5],
        )


def image_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder {folder} does not exist.")
    _unread_entries(folder, what)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        raise FileNotFoundError(
            f"{what} folder {folder} holds no NIfTI files (*.nii, *.nii.gz) or 2D images (*.png, *.tif)."
        )
    for path in files:
        if not path.name.endswith(NIFTI_SUFFIXES):
            continue
        try:
            nib.load(path)  # reads the header only
        except Exception as error:  # nibabel raises several types for a broken header
            raise ValueError(f"{path} is not a readable NIfTI file: {error}") from error
    return files


def nifti_folder_datalist(images_dir: str | os.PathLike, labels_dir: str | os.PathLike | None = None) -> list[dict]:
    """Pairs of NIfTI images and labels matched by name; images only without ``labels_dir``.

    2D images (PNG, TIFF) pair the same way, for microscopy data.

    A label matches an image with the same name, optionally followed by ``_seg``,
    ``_label(s)``, ``_mask`` or ``_gt``; an nnU-Net channel suffix on the image
    (``case_0000.nii.gz``) is ignored. Every image needs exactly one label and every label
    an image.

    Raises:
        FileNotFoundError: a missing or empty folder.
        ValueError: unmatched images or labels (listed), two labels for one image, an
            unreadable NIfTI header (named).
    """
    images = image_files(Path(images_dir), "images")
    if labels_dir is None:
        return [{"image": str(p)} for p in images]
    labels = image_files(Path(labels_dir), "labels")
    by_stem = {image_stem(p): p for p in labels}
    datalist, used, unmatched = [], set(), []
    for image in images:
        stem = _CHANNEL_SUFFIX.sub("", image_stem(image))
        matches = [by_stem[stem + s] for s in LABEL_SUFFIXES if stem + s in by_stem]
        if len(matches) > 1:
            raise ValueError(f"image {image} matches several labels: {[str(m) for m in matches]}; keep one.")
        if not matches:
            unmatched.append(image.name)
            continue
        used.add(matches[0])
        datalist.append({"image": str(image), "label": str(matches[0])})
    orphans = sorted(p.name for p in labels if p not in used)
    if unmatched or orphans:
        raise ValueError(
            f"images and labels do not pair up ({len(images)} images in {images_dir}, {len(labels)} labels in "
            f"{labels_dir}): images without a label: {unmatched[:5]}{' ...' if len(unmatched) > 5 else ''}; "
            f"labels without an image: {orphans[:5]}{' ...' if len(orphans) > 5 else ''}. "
            f"A label is named like its image, optionally with one of {list(LABEL_SUFFIXES[1:])}."
        )
    return datalist


def strip_image_suffix(name: str) -> str:
    """A file name without its image extension (``.nii.gz``, ``.nii``, ``.png``, ``.tif(f)``, ``.dcm``)."""
    lower = name.lower()
    for suffix in IMAGE_SUFFIXES + (".dcm",):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def add_output_names(datalist: list[dict], key: str = "image", name_key: str = "name") -> list[dict]:
    """Give each entry a name unique to its input, for its output files: ``entry[name_key]``.

    The name is the input's path (``entry["source"]`` where a DICOM series was linked,
    else ``entry[key]``) relative to the folder that holds all inputs, without its file
    extension: ``D/patA/CT/`` and ``D/patB/CT/`` become ``patA/CT`` and ``patB/CT``, so two
    patients' series never share an output; a flat folder of files keeps plain file names.
    Entries that already have a name keep it.

    Raises:
        ValueError: two inputs get one name (``case.nii`` beside ``case.nii.gz``, say),
            naming both, before any work is done.

    Example::

        >>> add_output_names([{"image": "/d/patA/CT"}, {"image": "/d/patB/CT"}])
        [{'image': '/d/patA/CT', 'name': 'patA/CT'}, {'image': '/d/patB/CT', 'name': 'patB/CT'}]
        >>> add_output_names([{"image": "/d/imagesTs/case_1.nii.gz"}])[0]["name"]
        'case_1'
    """
    sources = [Path(os.path.abspath(str(item.get("source", item[key])))) for item in datalist]
    root = Path(os.path.commonpath([str(p.parent) for p in sources])) if sources else Path(".")
    taken: dict[str, Path] = {}
    for item, source in zip(datalist, sources):
        name = item.get(name_key) or strip_image_suffix(source.relative_to(root).as_posix())
        if name.lower() in taken:
            raise ValueError(
                f"inputs {taken[name.lower()]} and {source} would write the same output {name!r}: "
                "rename or move one of them."
            )
        taken[name.lower()] = source
        item[name_key] = name
    return datalist
