"""Background outside an image's support: where every channel is exactly 0."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms.transform import MapTransform
from monai.utils.enums import TransformBackends

__all__ = ["BackgroundOutsideSupportd"]


class BackgroundOutsideSupportd(MapTransform):
    """Set a label map to ``background`` wherever the image is exactly 0 in every channel.

    The 3D bundle normalises an MRI inside its non-zero voxels only (MONAI's
    ``NormalizeIntensityd(nonzero=True)``, as nnU-Net does), so the voxels outside the image's
    support (the zero-filled air of a template or a skull-stripped scan, the padding of a
    resampled series) stay at 0, which after normalisation is also the value of tissue at the
    mean intensity. The network cannot tell the two apart there by intensity and, at the
    edges of a block, labelled air as a class on a real brain MRI (the peer benchmark's
    Colin27 / AAL brain). Nothing can be segmented where there is no image: this labels it
    background. A scanner's MRI has noise in its air, so nothing changes there.

    Shapes:
        ``image_key``: ``(C, H, W[, D])``; each of ``keys``: a label map ``(1, H, W[, D])``
        (after ``AsDiscreted(argmax=True)``) on the same grid. MetaTensor metadata and
        applied operations are kept, so ``Invertd`` can follow.

    Args:
        keys: the label maps to mask.
        image_key: the image whose zero voxels are outside its support.
        background: the label for outside (default 0).
        allow_missing_keys: skip absent ``keys``.

    Example::

        >>> import torch
        >>> data = {"image": torch.tensor([[[0.0, 1.5, -0.3]]]), "pred": torch.tensor([[[2, 2, 1]]])}
        >>> BackgroundOutsideSupportd("pred")(data)["pred"].tolist()
        [[[0, 2, 1]]]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        keys: KeysCollection,
        image_key: str = "image",
        background: int = 0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if not isinstance(image_key, str) or not image_key:
            raise TypeError(f"image_key must be a non-empty string, got {image_key!r}.")
        if not isinstance(background, int) or isinstance(background, bool) or background < 0:
            raise ValueError(f"background must be a label >= 0, got {background!r}.")
        self.image_key, self.background = image_key, background

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        image = d[self.image_key]
        for key in self.key_iterator(d):
            labels = d[key]
            if tuple(labels.shape[1:]) != tuple(image.shape[1:]):
                raise ValueError(
                    f"{key!r} has the spatial shape {tuple(labels.shape[1:])}, {self.image_key!r} "
                    f"{tuple(image.shape[1:])}: put BackgroundOutsideSupportd before Invertd, on the image's grid."
                )
            d[key] = self._masked(labels, image)
        return d

    def _masked(self, labels: NdarrayOrTensor, image: NdarrayOrTensor) -> NdarrayOrTensor:
        if isinstance(labels, torch.Tensor):
            outside = (torch.as_tensor(image, device=labels.device) == 0).all(dim=0, keepdim=True)
            masked = labels.clone()
            masked[outside.expand(labels.shape)] = self.background
        else:
            outside = (np.asarray(image) == 0).all(axis=0, keepdims=True)
            masked = np.array(labels, copy=True)
            masked[np.broadcast_to(outside, labels.shape)] = self.background
        return masked
