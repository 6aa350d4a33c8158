"""Instance labels from a semantic mask: connected components (or a watershed split), specks removed."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms.transform import MapTransform, Transform
from monai.utils.enums import TransformBackends
from monai.utils.type_conversion import convert_to_dst_type

from monai_unet2015.transforms.instances_functional import label_instances

__all__ = ["InstanceLabels", "InstanceLabelsd"]


class InstanceLabels(Transform):
    """Number the connected foreground regions of a label map 1..N; regions under ``min_size`` go.

    What StarDist and Cellpose users expect from a cell segmentation: one id per object
    (:func:`~monai_unet2015.transforms.label_instances`, face connectivity). In the paper the
    border weight map keeps touching cells apart in the semantic mask, and the objects are its
    connected components (``split_distance`` None). A net trained for minutes on a CPU leaves
    some touching nuclei joined; ``split_distance`` splits them by a distance-transform
    watershed (:func:`~monai_unet2015.transforms.split_touching`), the plan's value coming from
    the training labels. Every non-zero value counts as foreground.

    Args:
        min_size: regions of fewer pixels (voxels) become background (0 keeps all).
        split_distance: the least distance in pixels between the centres of two touching
            objects to split, >= 1; None: connected components only.

    Shapes:
        ``(1, H, W[, D])`` in and out; int32, the input's metadata kept.

    Example::

        >>> import torch
        >>> InstanceLabels(min_size=2)(torch.tensor([[[1, 1, 0, 1]]])).tolist()
        [[[1, 1, 0, 0]]]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, min_size: int = 0, split_distance: int | None = None) -> None:
        if not isinstance(min_size, int) or isinstance(min_size, bool) or min_size < 0:
            raise ValueError(f"min_size must be an int >= 0, got {min_size!r}.")
        if split_distance is not None and (
            not isinstance(split_distance, int) or isinstance(split_distance, bool) or split_distance < 1
        ):
            raise ValueError(f"split_distance must be an int >= 1 or None, got {split_distance!r}.")
        self.min_size, self.split_distance = min_size, split_distance

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        if img.shape[0] != 1:
            raise ValueError(f"img must be one label map (1, H, W[, D]), got shape {tuple(img.shape)}.")
        array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        labels = label_instances(array[0], self.min_size, self.split_distance)[None]
        out, *_ = convert_to_dst_type(labels, img, dtype=torch.int32 if isinstance(img, torch.Tensor) else np.int32)
        return out


class InstanceLabelsd(MapTransform):
    """Dictionary version of :class:`InstanceLabels`: ``data[instance_key] = InstanceLabels(data[key])``.

    Args:
        keys: the semantic label map (one key).
        instance_key: where the instance labels go (default ``"instances"``).
        min_size, split_distance: as in :class:`InstanceLabels`.
        allow_missing_keys: don't raise for a missing key.
    """

    backend = InstanceLabels.backend

    def __init__(
        self,
        keys: KeysCollection,
        instance_key: str = "instances",
        min_size: int = 0,
        split_distance: int | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"keys must name one label map, got {self.keys!r}.")
        self.instance_key, self.labeller = instance_key, InstanceLabels(min_size, split_distance)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.instance_key] = self.labeller(d[key])
        return d
