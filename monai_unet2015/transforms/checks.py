"""Fail loudly on loaded data that would train or predict silently wrong."""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms.transform import MapTransform
from monai.utils.enums import TransformBackends

__all__ = ["CheckImageLabeld"]


def _source(value: NdarrayOrTensor, key: Hashable) -> str:
    if isinstance(value, MetaTensor):
        name = value.meta.get("filename_or_obj")
        if name:
            return str(name)
    return f"key {key!r}"


def _bit_depth_top(value: float) -> int:
    """The top of the smallest of the 8-, 12- and 16-bit ranges that holds ``value``."""
    return next((top for top in (255, 4095, 65535) if value <= top), int(value))


class CheckImageLabeld(MapTransform):
    """Check a freshly loaded image (and label) before anything resamples them.

    Put it right after ``LoadImaged``. Errors (naming the files):

    - an empty image (a zero-size axis);
    - NaN or infinite voxels in the image (the net would give a wrong mask without a word);
    - a label whose spatial shape or affine differs from its image's (voxel sizes, origin
      or axis directions beyond ``atol`` mm): resampling both to a common grid would
      silently misalign them. Re-export the label on the image's grid.

    - with ``max_value``, an image value above it: the intensity scaling that follows would
      clip it (a 16-bit microscopy image under an 8-bit 0..255 range, say).

    Warnings (processing can go on): an image with a single value everywhere, a label
    with no foreground voxel, and with ``expect_hu`` a CT without any value below
    -100 HU (air is -1000 HU: the rescale intercept was probably not applied).

    Args:
        image_key, label_key: keys of the sample; a missing label is fine (inference).
        atol: tolerance in mm for affine entries.
        expect_hu: the image should be a CT in Hounsfield units.
        max_value: the largest image value the following intensity scaling keeps, or None.

    Example::

        >>> import torch
        >>> from monai.data import MetaTensor
        >>> image = MetaTensor(torch.rand(1, 4, 4, 4), affine=torch.eye(4))
        >>> label = MetaTensor(torch.ones(1, 4, 4, 4), affine=torch.diag(torch.tensor([2.0, 1, 1, 1])))
        >>> CheckImageLabeld()({"image": image, "label": label})
        Traceback (most recent call last):
        ...
        ValueError: label key 'label' does not lie on the grid of image key 'image': ...
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        image_key: str = "image",
        label_key: str | None = "label",
        atol: float = 1e-3,
        expect_hu: bool = False,
        max_value: float | None = None,
    ) -> None:
        super().__init__([image_key] + ([label_key] if label_key else []), allow_missing_keys=True)
        if not atol >= 0:
            raise ValueError(f"atol must be >= 0, got {atol!r}.")
        self.image_key, self.label_key, self.atol, self.expect_hu = image_key, label_key, atol, bool(expect_hu)
        self.max_value = None if max_value is None else float(max_value)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        image = d[self.image_key]
        image_name = _source(image, self.image_key)
        if min(image.shape[1:], default=0) == 0:
            raise ValueError(f"image {image_name} is empty: shape {tuple(image.shape)}.")
        finite = torch.isfinite(torch.as_tensor(image))
        if not bool(finite.all()):
            raise ValueError(
                f"image {image_name} has {int((~finite).sum())} NaN or infinite voxel(s) of {finite.numel()}: "
                "fix or re-export the image (the network would give a wrong mask)."
            )
        low, high = float(image.min()), float(image.max())
        if self.max_value is not None and high > self.max_value:
            raise ValueError(
                f"image {image_name} has values up to {high:g}, above the intensity range's top "
                f"{self.max_value:g}, which would clip them (a 16-bit image?): pass --intensity_range "
                f'"[0,{_bit_depth_top(high)}]" (or your data\'s range).'
            )
        if self.expect_hu and low > -100:
            warnings.warn(
                f"image {image_name} has no value below -100 HU (minimum {low:g}); a CT holds air at "
                "-1000 HU: the rescale intercept may be missing (stored values instead of HU), or this is not a CT.",
                stacklevel=2,
            )
        if high == low:
            warnings.warn(f"image {image_name} has one value everywhere ({low}).", stacklevel=2)
        if self.label_key and self.label_key in d:
            self._check_label(image, image_name, d[self.label_key])
        return d

    def _check_label(self, image: NdarrayOrTensor, image_name: str, label: NdarrayOrTensor) -> None:
        label_name = _source(label, self.label_key)
        problems = []
        if tuple(label.shape[1:]) != tuple(image.shape[1:]):
            problems.append(f"spatial shape {tuple(label.shape[1:])} vs {tuple(image.shape[1:])}")
        if isinstance(image, MetaTensor) and isinstance(label, MetaTensor):
            a, b = np.asarray(label.affine, dtype=float), np.asarray(image.affine, dtype=float)
            if a.shape != b.shape or not np.allclose(a, b, atol=self.atol, rtol=0):
                difference = np.abs(a - b).max() if a.shape == b.shape else float("inf")
                problems.append(
                    f"affine differs by up to {difference:.4g} mm (label spacing {np.round(label.pixdim.tolist(), 4)}, "
                    f"image spacing {np.round(image.pixdim.tolist(), 4)})"
                )
        if problems:
            raise ValueError(
                f"label {label_name} does not lie on the grid of image {image_name}: {'; '.join(problems)}. "
                "Labels must be saved on their image's voxel grid."
            )
        if not bool(torch.as_tensor(label).any()):
            warnings.warn(f"label {label_name} has no foreground voxel.", stacklevel=3)
