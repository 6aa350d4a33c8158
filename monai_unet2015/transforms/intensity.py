"""Per-volume MRI normalisation over the non-zero (foreground) voxels by percentiles."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms.transform import MapTransform, Transform
from monai.transforms.utils_pytorch_numpy_unification import percentile
from monai.utils.enums import TransformBackends
from monai.utils.type_conversion import convert_to_dst_type, convert_to_tensor

__all__ = ["ScaleNonZeroPercentiles", "ScaleNonZeroPercentilesd"]


class ScaleNonZeroPercentiles(Transform):
    """Map the ``lower``..``upper`` percentiles of the non-zero voxels to ``b_min``..``b_max``.

    MRI intensities have no absolute scale, so each volume is normalised by its own
    foreground; zero voxels (the air or skull-stripped background most MRI volumes have)
    neither enter the percentiles nor change: they become ``b_min``. MONAI's
    ``ScaleIntensityRangePercentiles`` counts every voxel, so a large empty background
    shifts its percentiles. Each channel is scaled on its own. A channel with no non-zero
    voxel, or a constant one, is set to ``b_min``.

    Args:
        lower, upper: percentiles, ``0 <= lower < upper <= 100``.
        b_min, b_max: the output range of the percentiles.
        clip: clip the output to ``[b_min, b_max]``.

    Shapes:
        ``(C, H, W[, D])`` in and out; float32.

    Example::

        >>> import torch
        >>> image = torch.tensor([[0.0, 0.0, 10.0, 20.0, 30.0]])
        >>> ScaleNonZeroPercentiles(lower=0, upper=100)(image).tolist()
        [[0.0, 0.0, 0.0, 0.5, 1.0]]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self, lower: float = 0.5, upper: float = 99.5, b_min: float = 0.0, b_max: float = 1.0, clip: bool = True
    ) -> None:
        if not 0 <= lower < upper <= 100:
            raise ValueError(f"need 0 <= lower < upper <= 100, got lower={lower!r}, upper={upper!r}.")
        self.lower, self.upper, self.b_min, self.b_max, self.clip = lower, upper, b_min, b_max, clip

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        x = convert_to_tensor(img, track_meta=False, dtype=torch.float32)
        out = torch.full_like(x, self.b_min)
        for channel in range(x.shape[0]):
            foreground = x[channel] != 0
            values = x[channel][foreground]
            if values.numel() == 0:
                continue
            low, high = (float(percentile(values, q)) for q in (self.lower, self.upper))
            if high <= low:
                continue
            scaled = (x[channel] - low) / (high - low) * (self.b_max - self.b_min) + self.b_min
            if self.clip:
                scaled = scaled.clamp(min(self.b_min, self.b_max), max(self.b_min, self.b_max))
            out[channel] = torch.where(foreground, scaled, out[channel])
        result, *_ = convert_to_dst_type(out, dst=img, dtype=torch.float32)
        return result


class ScaleNonZeroPercentilesd(MapTransform):
    """Dictionary version of :class:`ScaleNonZeroPercentiles`.

    Example::

        >>> import torch
        >>> scale = ScaleNonZeroPercentilesd("image", lower=0, upper=100)
        >>> scale({"image": torch.tensor([[0.0, 2.0, 4.0]])})["image"]
        tensor([[0., 0., 1.]])
    """

    backend = ScaleNonZeroPercentiles.backend

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 0.5,
        upper: float = 99.5,
        b_min: float = 0.0,
        b_max: float = 1.0,
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = ScaleNonZeroPercentiles(lower, upper, b_min, b_max, clip)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler(d[key])
        return d
