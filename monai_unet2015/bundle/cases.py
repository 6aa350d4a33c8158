"""Every case checked before the first epoch or the first inference, all problems at once.

Without them a bad label value would surface as ``index 7 is out of bounds`` at the first
validation, after the whole training, and a NaN volume would be segmented without a word.
These checks read each case once, before any work, and report every problem in one
message, one line per file, each saying what to do.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence

import nibabel as nib
import torch
from monai.transforms import LoadImage
from PIL import Image

from monai_unet2015.bundle.errors import error_line
from monai_unet2015.engines.handlers import channel_mismatch
from monai_unet2015.options import option
from monai_unet2015.transforms.checks import CheckImageLabeld

__all__ = [
    "CaseProblemsError",
    "MIN_EXTENT_3D",
    "LABEL_KINDS",
    "training_case_problems",
    "check_training_cases",
    "inference_case_problem",
]

logger = logging.getLogger(__name__)

# A 3D net over one or two slices sees mirrored copies of them as its through-plane context:
# no volume, no meaningful mask. Such series are refused, not segmented.
MIN_EXTENT_3D = 3
LABEL_KINDS = ("classes", "instances")
_BINARY_255 = {0, 255}


class CaseProblemsError(ValueError):
    """Problems with the input cases, one line each (file: what is wrong, and what to do)."""

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) with the {what}; nothing was run:\n{lines}")


def _label_value_problems(
    label_path: str, label: torch.Tensor, num_classes: int, ignore_index: int | None, kind: str
) -> list[str]:
    values = torch.unique(label)
    if not bool(torch.all(values == torch.round(values))):
        fraction = values[values != torch.round(values)][0].item()
        return [
            f"{label_path}: label values are not integers (e.g. {fraction:g}): save labels as integers, resampled "
            "with nearest-neighbour interpolation."
        ]
    found = {int(v) for v in values.tolist()}
    if kind == "instances":
        negative = sorted(v for v in found if v < 0)
        return [f"{label_path}: negative instance ids {negative[:5]}: object ids must be >= 0."] if negative else []
    valid = set(range(num_classes)) | ({ignore_index} if ignore_index is not None else set())
    bad = sorted(found - valid)
    allowed = f"0..{num_classes - 1}" + (f" or {ignore_index} (not annotated)" if ignore_index is not None else "")
    if found == _BINARY_255 and ignore_index == 255:
        return [
            f"{label_path}: holds only 0 and 255, and 255 means 'not annotated' here, so only background would be "
            "learned: if this is a binary mask, save the foreground as 1 (label // 255)."
        ]
    if bad:
        hint = " It looks like a 0/255 binary mask: save the foreground as 1." if found == _BINARY_255 else ""
        return [
            f"{label_path}: label values {bad[:5]} are outside {allowed}: fix the label, or set --num_classes "
            f"{max(bad) + 1} if those are classes.{hint}"
        ]
    return []


def _case_problems(
    item: dict,
    loader: LoadImage,
    num_classes: int,
    ignore_index: int | None,
    in_channels: int,
    spatial_dims: int,
    kind: str,
) -> list[str]:
    image_path, label_path = str(item["image"]), str(item.get("label", ""))
    try:
        image = loader(image_path)
    except Exception as error:
        return [f"{image_path}: cannot be read ({error_line(error)})."]
    problems = _image_problems(image_path, tuple(image.shape), in_channels, spatial_dims)
    if problems:
        return problems
    if not label_path:
        return [f"{image_path}: has no label."]
    try:
        label = loader(label_path)
    except Exception as error:
        return [f"{label_path}: cannot be read ({error_line(error)})."]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant image / empty label: warnings at training time
            CheckImageLabeld("image", "label")({"image": image, "label": label})
    except ValueError as error:
        return [str(error)]
    if label.shape[0] != 1:
        return [f"{label_path}: has {label.shape[0]} channels; a label map has one."]
    return _label_value_problems(label_path, label, num_classes, ignore_index, kind)


def _image_problems(image_path: str, shape: tuple[int, ...], in_channels: int, spatial_dims: int) -> list[str]:
    """Dimensionality, channels and extent of a ``(C, *spatial)`` image."""
    if len(shape) - 1 != spatial_dims:
        other = "3D" if spatial_dims == 2 else "2D"
        return [
            f"{image_path}: is {len(shape) - 1}D (shape {shape[1:]}) but this network is {spatial_dims}D: use the "
            f"{other} bundle for it, or convert the image."
        ]
    if shape[0] != in_channels:
        return [f"{image_path}: {channel_mismatch(shape[0], in_channels)}"]
    if spatial_dims == 3 and min(shape[1:]) < MIN_EXTENT_3D:
        return [
            f"{image_path}: has only {min(shape[1:])} voxel(s) along one axis (shape {shape[1:]}); the 3D net needs a "
            f"volume of at least {MIN_EXTENT_3D} slices: segment single slices with the 2D bundle."
        ]
    return []


def training_case_problems(
    cases: Iterable[dict],
    num_classes: int,
    ignore_index: int | None = None,
    in_channels: int = 1,
    spatial_dims: int = 3,
    labels: str = "classes",
    reader=None,
) -> list[str]:
    """The problems of image / label cases, one line each naming the file ([] when all is well).

    Each image and label is read with MONAI's ``LoadImage`` (the reader the training uses)
    and checked: readable; the network's dimensionality and channel count; a 3D extent of
    at least :data:`MIN_EXTENT_3D`; finite voxels; the label on the image's grid (shape and
    affine, :class:`~monai_unet2015.transforms.CheckImageLabeld`), one channel, integer
    values, and for ``labels="classes"`` values in ``0..num_classes-1`` or ``ignore_index``
    (a 0 / 255 binary mask gets its own hint); ``labels="instances"`` (object ids, as in
    the 2D cells bundle) needs values >= 0.

    Example::

        >>> import tempfile, pathlib, numpy as np, nibabel as nib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> nib.save(nib.Nifti1Image(np.random.rand(8, 8, 8).astype("f4"), np.eye(4)), folder / "ct.nii.gz")
        >>> nib.save(nib.Nifti1Image(np.full((8, 8, 8), 7, "u1"), np.eye(4)), folder / "ct_seg.nii.gz")
        >>> case = {"image": str(folder / "ct.nii.gz"), "label": str(folder / "ct_seg.nii.gz")}
        >>> training_case_problems([case], num_classes=4)[0].split(": ", 1)[1]
        'label values [7] are outside 0..3: fix the label, or set --num_classes 8 if those are classes.'
    """
    option("labels", labels, LABEL_KINDS)
    loader = LoadImage(reader=reader, image_only=True, ensure_channel_first=True)
    problems: list[str] = []
    for item in cases:
        problems += _case_problems(item, loader, num_classes, ignore_index, in_channels, spatial_dims, labels)
    return problems


def check_training_cases(cases: Iterable[dict], **kwargs) -> None:
    """:func:`training_case_problems`, raising :class:`CaseProblemsError` with all of them."""
    cases = list(cases)
    problems = training_case_problems(cases, **kwargs)
    if problems:
        raise CaseProblemsError(f"{len(cases)} training / validation cases", problems)
    logger.info("checked %d training / validation cases", len(cases))


def _header_shape(path: str) -> tuple[int, ...] | None:
    """``(C, *spatial)`` from a file's header (NIfTI, PNG, TIFF); None where only reading tells."""
    lower = path.lower()
    if lower.endswith((".nii", ".nii.gz")):
        shape = tuple(int(s) for s in nib.load(path).shape)
        squeezed = shape[:3] + tuple(s for s in shape[3:] if s != 1)
        if len(squeezed) <= 3:
            return (1, *squeezed)
        return (squeezed[3], *squeezed[:3])
    if lower.endswith((".png", ".tif", ".tiff")):
        with Image.open(path) as picture:
            return (len(picture.getbands()), picture.height, picture.width)
    return None


def inference_case_problem(item: dict, in_channels: int, spatial_dims: int) -> str | None:
    """What keeps one inference case from being segmented, from headers alone (None if nothing).

    Readable header, dimensionality, channel count and (3D) extent; a DICOM series entry
    (a folder) is checked by its slice count, and one with a ``"problem"`` (noted by
    :func:`~monai_unet2015.data.dicom_series_datalist`) fails with it. Finite voxels and the CT intensity range are
    checked when the case is loaded (:class:`~monai_unet2015.transforms.CheckImageLabeld`).
    """
    path = str(item["image"])
    if item.get("problem"):  # found when the datalist was made (a truncated DICOM slice, say)
        return f"{item.get('source', path)}: {item['problem']}"
    if os.path.isdir(path):
        slices = int(item.get("num_slices", MIN_EXTENT_3D))
        if spatial_dims == 3 and slices < MIN_EXTENT_3D:
            return (
                f"{item.get('source', path)}: DICOM series with {slices} slice(s); the 3D net needs a volume of at "
                f"least {MIN_EXTENT_3D} slices: segment single slices with the 2D bundle."
            )
        return None
    try:
        shape = _header_shape(path)
    except Exception as error:
        return f"{path}: cannot be read ({error_line(error)})."
    if shape is None:
        return None
    problems = _image_problems(path, shape, in_channels, spatial_dims)
    return problems[0] if problems else None
