"""Crop and pad for a valid-convolution net: labels to its output, training images to a whole tile."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import BorderPad, SpatialCrop, SpatialPad
from monai.transforms.transform import MapTransform, Transform
from monai.utils.enums import TransformBackends

from monai_unet2015.networks.size_arithmetic import center_crop_margins

__all__ = ["CenterCropToSize", "CenterCropToReferenced", "PadToValidTiled"]


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
