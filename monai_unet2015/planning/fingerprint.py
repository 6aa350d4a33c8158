"""A dataset's fingerprint: what the plan is made from (nnU-Net's "dataset fingerprint").

Read once over every training case: shapes, spacings, channels, the image type and bit depth,
intensity statistics over the whole images and inside the labels, the classes and their
share of the voxels, and, for instance labels (one id per object, as microscopy datasets
come) or binary 2D masks, the object sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from monai.transforms import LoadImage
from scipy import ndimage

from monai_unet2015.data import ClassNameMap, load_datalist
from monai_unet2015.data.profiles import CT_BODY_HU, intensity_profile, slice_plane
from monai_unet2015.metrics import matching_scores
from monai_unet2015.transforms import CheckImageLabeld, label_instances

__all__ = [
    "dataset_fingerprint",
    "check_case",
    "header_spacing",
    "split_distance_scores",
    "INTENSITY_SAMPLES_PER_CASE",
    "SPLIT_CANDIDATES",
    "NO_SPLIT",
    "NOT_ANNOTATED",
]

logger = logging.getLogger(__name__)

# nnU-Net samples 10,000 foreground voxels per case for its intensity statistics; as many here.
INTENSITY_SAMPLES_PER_CASE = 10_000
# The centre distances (pixels) tried for splitting touching objects, on up to this many cases,
# beside no split at all (NO_SPLIT: the connected components, the paper's instances).
SPLIT_CANDIDATES = (3, 5, 7, 9, 11, 13, 15)
NO_SPLIT = "none"
SPLIT_CASES = 20
# The label value of 3D voxels nobody annotated (the 3D bundle's ignore_index): neither class nor foreground.
NOT_ANNOTATED = 255
_PERCENTILES = (0.5, 1.0, 50.0, 99.0, 99.5)


def dataset_fingerprint(dataset_dir: str | Path, seed: int = 0) -> dict:
    """The fingerprint of the labelled cases in ``dataset_dir`` (any layout :func:`load_datalist` reads).

    Args:
        dataset_dir: a dataset folder with labels (``imagesTr``/``labelsTr``, an MSD
            ``dataset.json``, or DICOM series with ``<dataset_dir>_labels``).
        seed: the seed of the foreground voxel sample.

    Returns:
        A JSON-ready dict: ``num_cases``, ``spatial_dims``, ``channels``, ``shapes``,
        ``spacings``, ``median_shape``, ``median_spacing``, ``image_dtype``, ``bit_depth``,
        ``intensity`` (``all`` and ``foreground``: min, max, mean, std, percentiles;
        ``class_medians_per_case``: per case, each label value's median intensity; in 3D
        ``profiles_per_case``: :func:`~monai_unet2015.data.profiles.intensity_profile` of
        each case), ``classes`` (label value -> share of the voxels; instance labels as
        ``"0"`` background and ``"1"`` objects), ``instance_labels`` (2D maps with an id per
        object); in 3D ``slice_planes`` (per case, :func:`~monai_unet2015.data.profiles.slice_plane`)
        and ``class_volumes_ml_per_case`` (per case, each class's volume in mL): what the DICOM
        node's applicability gate and the review flag compare new series with; in 2D,
        ``object_sizes`` (pixels per object, or per connected component of a binary mask:
        count, min, percentiles) and, for instance labels, ``split_distance_f1``
        (:func:`split_distance_scores`).

    Example::

        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for sub in ("imagesTr", "labelsTr"):
        ...     (root / sub).mkdir()
        >>> label = np.zeros((32, 48), np.uint16); label[4:10, 4:10] = 1; label[20:30, 20:30] = 2
        >>> Image.fromarray((label * 1000).astype(np.uint16)).save(root / "imagesTr" / "a.tif")
        >>> Image.fromarray(label).save(root / "labelsTr" / "a.tif")
        >>> fingerprint = dataset_fingerprint(root)
        >>> fingerprint["spatial_dims"], fingerprint["instance_labels"], fingerprint["object_sizes"]["min"]
        (2, True, 36)
    """
    datalist = load_datalist(dataset_dir)
    if any("label" not in item for item in datalist):
        raise ValueError(f"dataset_dir {dataset_dir}: the plan needs labels for every case (labelsTr/).")
    loader = LoadImage(image_only=True, ensure_channel_first=True)
    tally = _Tally(_declared_classes(dataset_dir), np.random.default_rng(seed))
    first: tuple | None = None
    for item in datalist:
        image, label = _read(loader, item["image"]), _read(loader, item["label"])
        check_case(item, image, label, first)
        first = first or (item["image"], image)
        tally.add(item, image, label)
    if not any(sample.size for sample in tally.foreground):
        raise ValueError(_no_foreground(dataset_dir, tally.counts))
    return {"dataset_dir": str(dataset_dir), "num_cases": len(datalist), **tally.summary()}


class _Tally:
    """What the fingerprint keeps of each case, summed up over the cases by :meth:`summary`."""

    def __init__(self, declared_classes: list[str], generator: np.random.Generator) -> None:
        self.declared_classes, self.generator = declared_classes, generator
        self.shapes, self.spacings, self.samples, self.foreground, self.sizes = [], [], [], [], []
        self.channels, self.dtypes, self.counts = set(), set(), {}
        self.case_medians, self.instance_maps, self.instance_cases = [], [], 0
        self.profiles, self.planes, self.class_volumes = [], [], []

    def add(self, item: dict, image, label) -> None:
        array, labels = np.asarray(image, np.float64), np.asarray(label).astype(np.int64)[0]
        self.channels.add(int(array.shape[0]))
        self.dtypes.add(str(image.dtype).replace("torch.", ""))
        self.shapes.append([int(s) for s in image.shape[1:]])
        self.spacings.append([round(float(s), 4) for s in image.pixdim])
        self.samples.append(_sample(array.ravel(), self.generator))
        # 3D class labels keep 255 for voxels nobody annotated; in 2D masks 255 is an object (a 0 / 255 PNG)
        annotated = labels > 0 if labels.ndim == 2 else (labels > 0) & (labels != NOT_ANNOTATED)
        self.foreground.append(_sample(array[:, annotated].ravel(), self.generator))
        values, voxels = np.unique(labels, return_counts=True)
        # a 2D map with several ids is an instance map (the cells bundle's labels), one per object
        instance_map = labels.ndim == 2 and int((values > 0).sum()) > 1
        if instance_map:
            _refuse_class_map(item["label"], labels, self.declared_classes)
        self.case_medians.append(_class_medians(array, labels, values, instance_map))
        self.instance_cases += instance_map
        for value, count in zip(values.tolist(), voxels.tolist()):
            self.counts[value] = self.counts.get(value, 0) + count
        if labels.ndim == 2:
            self.sizes.append(voxels[values > 0] if instance_map else _component_sizes(labels))
        else:
            self._add_volume_case(image, values, voxels)
        if instance_map and len(self.instance_maps) < SPLIT_CASES:
            self.instance_maps.append(labels)

    def _add_volume_case(self, image, values: np.ndarray, voxels: np.ndarray) -> None:
        """What the applicability gate and the review flag compare a new 3D series with."""
        sample = self.samples[-1]
        self.profiles.append(intensity_profile(sample, ct=bool(sample.min() < CT_BODY_HU)))
        self.planes.append(slice_plane(np.asarray(image.affine, dtype=float)[:3, 2]))
        voxel_ml = float(np.prod([float(s) for s in image.pixdim])) / 1000.0
        kept = (values > 0) & (values != NOT_ANNOTATED)
        self.class_volumes.append({str(v): round(n * voxel_ml, 3) for v, n in zip(values[kept], voxels[kept])})

    def summary(self) -> dict:
        spatial_dims, instance_labels = len(self.shapes[0]), self.instance_cases > 0
        summary = {
            "spatial_dims": spatial_dims,
            "channels": sorted(self.channels),
            "shapes": self.shapes,
            "spacings": self.spacings,
            "median_shape": [int(v) for v in np.median(self.shapes, axis=0)],
            "median_spacing": [round(float(v), 4) for v in np.median(self.spacings, axis=0)],
            "image_dtype": sorted(self.dtypes),
            "bit_depth": _bit_depth(np.concatenate(self.samples)),
            "intensity": {
                "all": _statistics(np.concatenate(self.samples)),
                "foreground": _statistics(np.concatenate(self.foreground)),
                "class_medians_per_case": self.case_medians,
            },
            "classes": _class_shares(self.counts, instance_labels),
            "instance_labels": bool(instance_labels),
        }
        if spatial_dims == 2:
            summary["object_sizes"] = _size_statistics(np.concatenate(self.sizes))
        else:
            summary["slice_planes"] = self.planes
            summary["intensity"]["profiles_per_case"] = self.profiles
            summary["class_volumes_ml_per_case"] = self.class_volumes
        if instance_labels and self.instance_maps:
            summary["split_distance_f1"] = split_distance_scores(self.instance_maps)
        return summary


def _declared_classes(dataset_dir) -> list[str]:
    """The foreground class names of ``dataset.json``'s ``"labels"`` (none without a usable entry)."""
    path = Path(dataset_dir) / "dataset.json"
    if not path.is_file():
        return []
    try:
        names = ClassNameMap.from_dataset_json(path)
    except ValueError:
        return []  # no "labels" naming a class: the label values alone decide
    return [aliases[0] for _, aliases in sorted(names.aliases.items())]


def _refuse_class_map(label_file, labels: np.ndarray, declared_classes: list[str]) -> None:
    """A 2D label holding class ids (not one id per object) is a ``ValueError`` naming the file.

    The 2D bundle trains foreground / background and separates the objects; its plan reads
    several ids in a 2D map as objects. Class ids show by ``dataset.json`` naming two or
    more foreground classes, or by at least half of the ids each covering separate regions
    (an object is one region; a class is usually several).
    """
    ids, spread = _ids_over_several_regions(labels)
    if len(declared_classes) < 2 and 2 * spread < ids:
        return
    why = (
        f"dataset.json names {len(declared_classes)} classes ({', '.join(declared_classes[:4])})"
        if len(declared_classes) >= 2
        else f"{spread} of its {ids} values each cover separate regions"
    )
    raise ValueError(
        f"label {label_file} holds class ids, not one id per object ({why}): the 2D bundle trains foreground / "
        "background and separates touching objects. Give each object its own id (an instance map), or merge the "
        "classes into one foreground (0 / 1); several classes in 2D are not supported."
    )


def _ids_over_several_regions(labels: np.ndarray) -> tuple[int, int]:
    """``(foreground ids, ids whose pixels form more than one 8-connected region)``."""
    several = 0
    boxes = ndimage.find_objects(labels)
    for value, box in enumerate(boxes, start=1):
        if box is None:
            continue
        _, regions = ndimage.label(labels[box] == value, structure=np.ones((3, 3)))
        several += regions > 1
    return sum(box is not None for box in boxes), several


def _read(loader: LoadImage, path: str):
    """``loader(path)``; a file it cannot read (a truncated ``.nii.gz``, say) is a ``ValueError`` naming it."""
    try:
        return loader(path)
    except Exception as error:  # MONAI's readers raise EOFError, OSError, RuntimeError... for a broken file
        raise ValueError(f"{path} cannot be read: {type(error).__name__}: {error}") from None


def _no_foreground(dataset_dir, counts: dict[int, int]) -> str:
    hint = ""
    if NOT_ANNOTATED in counts:
        hint = (
            f" ({NOT_ANNOTATED} means 'not annotated' here; a binary mask stored as 0 / {NOT_ANNOTATED} must be "
            "saved as 0 / 1)"
        )
    return (
        f"dataset_dir {dataset_dir}: no label has a foreground voxel: every case is background"
        f"{' or not annotated' if hint else ''}{hint}; there is nothing to learn."
    )


def check_case(item: dict, image, label, first: tuple | None = None) -> None:
    """Refuse a case the plan cannot be made from, naming its file (``ValueError``).

    Checked: image and label on one grid (the size here, then the affine by the rule training
    applies, :class:`~monai_unet2015.transforms.CheckImageLabeld`); a finite image; a label of one channel holding
    whole, non-negative, finite numbers (class or instance ids); a spacing above 0 in the
    file's header (nibabel would read 0 as 1.0 without a word); no side of a single voxel;
    and the number of spatial axes and channels of the first case (``first``: its image
    path and image).
    """
    image_file, label_file = item["image"], item["label"]
    shape, label_shape = tuple(image.shape[1:]), tuple(label.shape[1:])
    if first is not None and len(shape) != first[1].ndim - 1:
        raise ValueError(
            f"{image_file} is {len(shape)}D {shape} but {first[0]} is {first[1].ndim - 1}D: a dataset is all 2D or "
            "all 3D."
        )
    if shape != label_shape:
        raise ValueError(f"{image_file}: image size {shape} differs from its label's {label_shape} ({label_file}).")
    if first is not None and image.shape[0] != first[1].shape[0]:
        raise ValueError(
            f"{image_file} has {image.shape[0]} channel(s) but {first[0]} has {first[1].shape[0]}: every case needs "
            "the same channels."
        )
    if label.shape[0] != 1:
        raise ValueError(
            f"label {label_file} has {label.shape[0]} channels ({tuple(label.shape)}): a label is one map of class "
            "or instance ids (a 4D label file is not one)."
        )
    if min(shape) < 2:
        raise ValueError(f"{image_file}: size {shape} has a side of one voxel: not an image to learn from.")
    array = np.asarray(image)
    if not np.isfinite(array).all():
        raise ValueError(f"{image_file}: holds NaN or infinite values.")
    values = np.unique(np.asarray(label, np.float64))
    if not np.isfinite(values).all():
        raise ValueError(f"label {label_file}: holds NaN or infinite values; a label holds class or instance ids.")
    fractional = values[values != np.round(values)]
    if fractional.size:
        raise ValueError(
            f"label {label_file}: values {fractional[:3].tolist()} are not whole numbers; a label holds class or "
            "instance ids (0, 1, 2, ...), not probabilities."
        )
    if values.min() < 0:
        raise ValueError(f"label {label_file}: negative value {values.min():g}; ids are 0 (background), 1, 2, ...")
    spacing = header_spacing(image_file, image)
    if any(not s > 0 for s in spacing):
        raise ValueError(f"{image_file}: spacing {tuple(spacing)} in its header has a zero or negative side; fix it.")
    CheckImageLabeld()({"image": image, "label": label})  # the affine, as training checks it


def header_spacing(path: str | Path, image) -> list[float]:
    """The voxel spacing as the file states it: NIfTI's raw ``pixdim`` (nibabel turns 0 into 1), else MONAI's."""
    name = str(path)
    if name.endswith((".nii", ".nii.gz")):
        import gzip

        import nibabel as nib

        with (gzip.open if name.endswith(".gz") else open)(name, "rb") as stream:
            header = nib.Nifti1Header.from_fileobj(stream, check=False)
        return [float(s) for s in header["pixdim"][1 : 1 + len(header.get_data_shape()[:3])]]
    return [float(s) for s in getattr(image, "pixdim", [1.0] * (image.ndim - 1))]


def split_distance_scores(instance_maps: Sequence[np.ndarray]) -> dict[str, float]:
    """Per candidate distance, the mean object F1 (IoU 0.5) of the instances recovered from their own masks.

    How well :func:`~monai_unet2015.transforms.split_touching` with that distance takes the
    true foreground apart into the true objects, and under :data:`NO_SPLIT` how well the
    connected components alone do: the plan's choice of ``split_distance``. A distance-transform
    split suits round objects; it cuts elongated ones (rod-shaped bacteria) into pieces, where
    the components recover the objects better.
    """
    scores = {NO_SPLIT: _recovered_f1(instance_maps, None)}
    for distance in SPLIT_CANDIDATES:
        scores[str(distance)] = _recovered_f1(instance_maps, distance)
    return scores


def _recovered_f1(instance_maps: Sequence[np.ndarray], split_distance: int | None) -> float:
    f1 = [matching_scores(label_instances(m > 0, 0, split_distance), m)[0.5]["f1"] for m in instance_maps]
    return round(float(np.mean(f1)), 4)


def _component_sizes(labels: np.ndarray) -> np.ndarray:
    """Pixels per connected component of a binary mask's foreground."""
    components, _ = ndimage.label(labels > 0)
    return np.bincount(components.ravel())[1:]


def _class_medians(array: np.ndarray, labels: np.ndarray, values: np.ndarray, instance_map: bool) -> dict[str, float]:
    """Median image intensity per foreground label value; an instance map's objects as one class "1"."""
    if instance_map:
        return {"1": float(np.median(array[:, labels > 0]))}
    return {str(value): float(np.median(array[:, labels == value])) for value in values[values > 0].tolist()}


def _class_shares(counts: dict[int, int], instance_labels: bool) -> dict[str, float]:
    """Label value -> share of the voxels; for instance labels, background "0" and all objects "1"."""
    total = sum(counts.values())
    if instance_labels:
        counts = {0: counts.get(0, 0), 1: total - counts.get(0, 0)}
    return {str(value): round(count / total, 6) for value, count in sorted(counts.items())}


def _sample(values: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    if values.size <= INTENSITY_SAMPLES_PER_CASE:
        return values
    return generator.choice(values, INTENSITY_SAMPLES_PER_CASE, replace=False)


def _statistics(values: np.ndarray) -> dict:
    if values.size == 0:
        return {}
    percentiles = np.percentile(values, _PERCENTILES)
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        **{f"p{p:g}": float(v) for p, v in zip(_PERCENTILES, percentiles)},
    }


def _size_statistics(sizes: Sequence[int]) -> dict:
    sizes = np.asarray(sizes)
    return {
        "count": int(sizes.size),
        "min": int(sizes.min()),
        **{f"p{p:g}": float(v) for p, v in zip((5, 50, 95), np.percentile(sizes, (5, 50, 95)))},
    }


def _bit_depth(values: np.ndarray) -> str:
    """``"8-bit"``, ``"16-bit"`` or ``"float"``: the range the values need (not the file's type)."""
    if not np.allclose(values, np.round(values)):
        return "float"
    if values.min() >= 0 and values.max() <= 255:
        return "8-bit"
    if values.min() >= -32768 and values.max() <= 65535:
        return "16-bit"
    return "float"
