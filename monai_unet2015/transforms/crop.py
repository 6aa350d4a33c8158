"""Crop and pad for a valid-convolution net: labels to its output, training images to a whole tile, tiles on a class."""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import BorderPad, Compose, RandCropByLabelClassesd, RandSpatialCropd, SpatialCrop, SpatialPad
from monai.transforms.transform import MapTransform, Transform
from monai.transforms.utils import map_classes_to_indices
from monai.utils.enums import TransformBackends

from monai_unet2015.networks.size_arithmetic import center_crop_margins

__all__ = [
    "CenterCropToSize",
    "CenterCropToReferenced",
    "PadToValidTiled",
    "ReachableClassIndices",
    "ReachableClassIndicesd",
    "training_tile_crop",
]


class CenterCropToSize(Transform):
    """Crop the spatial centre of a channel-first image to ``spatial_size``, exactly centred.

    Unlike MONAI's ``CenterSpatialCrop`` (which rounds an odd margin and ignores a size
    larger than the image), an odd or negative size difference is a ``ValueError``: a
    valid-convolution net's output is the exact centre of its input, and anything else
    would misalign label and prediction. MetaTensor affines follow the crop (MONAI's
    ``SpatialCrop`` does the cropping).

    Shapes:
        ``(C, H, W[, D])`` in, ``(C, *spatial_size)`` out.

    Example::

        >>> import torch
        >>> CenterCropToSize()(torch.arange(36.0).reshape(1, 6, 6), (2, 2)).tolist()
        [[[14.0, 15.0], [20.0, 21.0]]]
    """

    backend = SpatialCrop.backend

    def __call__(self, img: NdarrayOrTensor, spatial_size: Sequence[int], name: str = "img") -> NdarrayOrTensor:
        margins = center_crop_margins(tuple(img.shape[1:]), tuple(spatial_size), name)
        if not any(margins):
            return img
        return SpatialCrop(roi_start=margins, roi_end=[m + s for m, s in zip(margins, spatial_size)])(img)


class CenterCropToReferenced(MapTransform):
    """Centre-crop ``keys`` to the spatial size of ``reference_key`` (the prediction).

    Put it in an evaluator's ``postprocessing`` so metrics compare the net's output with
    the matching centre of the input-sized label; with :class:`OverlapTileInferer` the
    prediction already has the label's size and this does nothing.

    Args:
        keys: keys to crop, each ``(C, H, W[, D])``.
        reference_key: the key whose spatial size to crop to (default ``"pred"``).
        allow_missing_keys: don't raise for missing keys.

    Example::

        >>> import torch
        >>> data = {"pred": torch.zeros(2, 4, 4), "label": torch.zeros(1, 8, 8)}
        >>> CenterCropToReferenced("label")(data)["label"].shape
        torch.Size([1, 4, 4])
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, keys: KeysCollection, reference_key: str = "pred", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        if not isinstance(reference_key, str):
            raise TypeError(f"reference_key must be a str, got {reference_key!r}.")
        self.reference_key = reference_key
        self.cropper = CenterCropToSize()

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.reference_key not in d:
            raise KeyError(f"reference_key {self.reference_key!r} is not in the data (keys: {sorted(map(str, d))}).")
        spatial_size = tuple(d[self.reference_key].shape[1:])
        for key in self.key_iterator(d):
            d[key] = self.cropper(d[key], spatial_size, name=str(key))
        return d


class PadToValidTiled(MapTransform):
    """Pad training images so that a random ``roi_size`` tile can put its output anywhere in them.

    A valid-convolution net's output is the centre of its input, ``(roi - out) / 2`` pixels in
    from each side. The paper extrapolates the missing context at the image border by
    mirroring (overlap-tile); for training the same mirroring lets a random crop of
    ``roi_size`` centre its output on border pixels too. So each axis gets that margin on
    both sides (``BorderPad``), then whatever is still short of ``roi_size`` (``SpatialPad``,
    for images smaller than a tile), in ``mode`` (``"symmetric"``: mirror with the edge
    pixel, numpy's name).

    Args:
        keys: the image, label and weight map keys, each ``(C, H, W[, D])``.
        roi_size: the training tile (a valid input size of the net).
        output_size: the net's output for ``roi_size`` (``network.output_size(roi_size)``).
        mode: numpy padding mode, as in MONAI's ``BorderPad``.
        allow_missing_keys: don't raise for missing keys.

    Shapes:
        ``(C, *S)`` in, ``(C, *max(S + roi_size - output_size, roi_size))`` out.

    Example::

        >>> import torch
        >>> pad = PadToValidTiled("image", roi_size=(44, 44), output_size=(4, 4))
        >>> pad({"image": torch.zeros(1, 30, 60)})["image"].shape
        torch.Size([1, 70, 100])
    """

    backend = BorderPad.backend

    def __init__(
        self,
        keys: KeysCollection,
        roi_size: Sequence[int],
        output_size: Sequence[int],
        mode: str = "symmetric",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        roi_size, output_size = tuple(int(s) for s in roi_size), tuple(int(s) for s in output_size)
        margins = center_crop_margins(roi_size, output_size, "roi_size")
        self.border_pad = BorderPad(spatial_border=[m for m in margins for _ in (0, 1)], mode=mode)
        self.tile_pad = SpatialPad(spatial_size=roi_size, mode=mode)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.tile_pad(self.border_pad(d[key]))
        return d


class ReachableClassIndices(Transform):
    """Per class, the voxels that a training tile's output can be centred on.

    A valid-convolution net's output is the centre of its tile, ``(roi - out) / 2`` voxels in
    from each side, and a tile cannot leave the volume, so a voxel nearer the border than that
    margin is never in any output: after :class:`PadToValidTiled` those are the mirrored
    margin. A tile centred on any other voxel (moved inside the volume where it would cross
    the border, as MONAI's crops do) holds it in its output. The indices are flattened spatial
    indices, one array per class, the ``indices`` that MONAI's ``RandCropByLabelClasses``
    takes.

    Args:
        num_classes: the label's classes ``0..num_classes-1`` (other values are never listed).
        roi_size: the training tile.
        output_size: the net's output for ``roi_size`` (``network.output_size(roi_size)``).

    Shapes:
        ``(1, H, W[, D])`` label in; a list of ``num_classes`` 1D index arrays out.

    Example::

        >>> import torch
        >>> label = torch.zeros(1, 6, 6); label[0, 0, 0] = label[0, 3, 3] = 1
        >>> [i.tolist() for i in ReachableClassIndices(2, (4, 4), (2, 2))(label)][1]
        [21]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, num_classes: int, roi_size: Sequence[int], output_size: Sequence[int]) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}.")
        self.num_classes = num_classes
        roi_size, output_size = tuple(int(s) for s in roi_size), tuple(int(s) for s in output_size)
        self.margins = center_crop_margins(roi_size, output_size, "roi_size")

    def __call__(self, label: NdarrayOrTensor) -> list[NdarrayOrTensor]:
        spatial = tuple(label.shape[1:])
        if len(spatial) != len(self.margins):
            axes = len(self.margins)
            raise ValueError(f"label must be (1, *spatial) with {axes} spatial axes, got {tuple(label.shape)}.")
        if isinstance(label, torch.Tensor):
            inside = torch.zeros((1, *spatial), dtype=torch.bool, device=label.device)
        else:
            inside = np.zeros((1, *spatial), dtype=bool)
        inside[(slice(None), *(slice(m, max(m, size - m)) for m, size in zip(self.margins, spatial)))] = True
        return map_classes_to_indices(label, self.num_classes, image=inside, image_threshold=0)


class ReachableClassIndicesd(MapTransform):
    """Dictionary version of :class:`ReachableClassIndices`: the indices under ``{key}{indices_postfix}``.

    Args:
        keys: the label key(s), each ``(1, H, W[, D])``.
        num_classes, roi_size, output_size: as :class:`ReachableClassIndices`.
        indices_postfix: the indices are stored under ``key + indices_postfix``.
        allow_missing_keys: don't raise for missing keys.
    """

    backend = ReachableClassIndices.backend

    def __init__(
        self,
        keys: KeysCollection,
        num_classes: int,
        roi_size: Sequence[int],
        output_size: Sequence[int],
        indices_postfix: str = "_reachable_indices",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.indices = ReachableClassIndices(num_classes, roi_size, output_size)
        self.indices_postfix = indices_postfix

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[f"{key}{self.indices_postfix}"] = self.indices(d[key])
        return d


def training_tile_crop(
    keys: KeysCollection,
    roi_size: Sequence[int],
    ratios: Sequence[float] | None = None,
    num_classes: int | None = None,
    output_size: Sequence[int] | None = None,
    label_key: str = "label",
) -> RandSpatialCropd | Compose:
    """The random training tile: anywhere in the volume, or centred on a class drawn by ``ratios``.

    With ``ratios`` None, MONAI's ``RandSpatialCropd`` (every position equally likely, the
    paper's sampling). With ``ratios``, a class is drawn with probability
    ``ratios[c] / sum(ratios)`` and the tile centred on one of its voxels that the tile's output
    can hold (:class:`ReachableClassIndicesd`, then MONAI's ``RandCropByLabelClassesd``, one
    sample), so that a class of a few percent of the voxels is in most steps' loss rather than
    in a few percent of them. nnU-Net forces a third of its samples onto foreground for the same
    reason. ``RandCropByLabelClassesd`` returns a list of one sample, which MONAI's ``Compose``
    and ``list_data_collate`` take as they come.

    Args:
        keys: the image, label and weight map keys, each ``(C, H, W[, D])``.
        roi_size: the training tile.
        ratios: one weight >= 0 per class (background first), not all zero; None: uniform tiles.
            A case with no voxel of a weighted class within reach stops MONAI's crop, so with a
            background weight of 0 (warned) every training case must hold a weighted class.
        num_classes: the label's classes (``len(ratios)``); needed with ``ratios``.
        output_size: the net's output for ``roi_size``; needed with ``ratios``.
        label_key: the label key (class values ``0..num_classes-1``; other values, such as an
            ignore index, are never drawn).

    Returns:
        the MONAI crop transform (with ``ratios``: a ``Compose`` of the indices and the crop).

    Example::

        >>> import torch
        >>> label = torch.zeros(1, 40, 40); label[0, 30, 5] = 1
        >>> crop = training_tile_crop(["image", "label"], (12, 12), [0, 1], num_classes=2, output_size=(4, 4))
        >>> sample = crop({"image": torch.zeros(1, 40, 40), "label": label})[0]
        >>> sample["label"].shape, int(sample["label"][:, 4:8, 4:8].sum())
        (torch.Size([1, 12, 12]), 1)
    """
    roi_size = [int(side) for side in roi_size]
    if ratios is None:
        return RandSpatialCropd(keys, roi_size=roi_size, random_size=False)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 with ratios, got {num_classes!r}.")
    if isinstance(ratios, (str, bytes)) or not isinstance(ratios, Sequence) or len(ratios) != num_classes:
        raise ValueError(f"ratios must be a list of {num_classes} weights (one per class), got {ratios!r}.")
    numbers = [isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) for r in ratios]
    if not all(numbers) or min(ratios) < 0 or not sum(ratios) > 0:
        raise ValueError(f"ratios must be finite weights >= 0, not all zero, got {list(ratios)!r}.")
    if output_size is None:
        raise ValueError("output_size (the net's output for roi_size) is needed with ratios, got None.")
    if ratios[0] == 0:
        warnings.warn(
            f"ratios {list(ratios)!r} give the background no weight: a training case with none of the weighted "
            "classes within reach of a tile's output stops MONAI's RandCropByLabelClassesd ('probabilities "
            "contain NaN'). Give the background a small weight where some cases lack a class.",
            stacklevel=2,
        )
    postfix = "_reachable_indices"
    return Compose(
        [
            ReachableClassIndicesd(label_key, num_classes, roi_size, output_size, indices_postfix=postfix),
            RandCropByLabelClassesd(
                keys,
                label_key=label_key,
                spatial_size=roi_size,
                ratios=[float(r) for r in ratios],
                num_classes=num_classes,
                num_samples=1,
                indices_key=f"{label_key}{postfix}",
            ),
        ]
    )
