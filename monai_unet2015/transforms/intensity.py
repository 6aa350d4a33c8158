"""Intensity transforms: MRI percentile scaling, and the CT / MRI and microscopy steps of the presets."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import NormalizeIntensityd, ScaleIntensityRanged, ScaleIntensityRangePercentilesd
from monai.transforms.transform import MapTransform, Transform
from monai.transforms.utils_pytorch_numpy_unification import percentile
from monai.utils.enums import TransformBackends
from monai.utils.type_conversion import convert_to_dst_type, convert_to_tensor

from monai_unet2015.options import option

__all__ = [
    "ScaleNonZeroPercentiles",
    "ScaleNonZeroPercentilesd",
    "ModalityIntensityd",
    "MicroscopyIntensityd",
    "ct_intensity_transforms",
    "mri_intensity_transforms",
    "normalize_modality",
    "ABDOMEN_WINDOW",
    "MICROSCOPY_PERCENTILES",
]

ABDOMEN_WINDOW = (-160.0, 240.0)  # level 40 HU, width 400 HU: abdominal soft tissue
_MRI_METHODS = ("zscore", "percentile", "dataset")
# CSBDeep / StarDist's per-image normalisation of microscopy: these percentiles to 0..1.
MICROSCOPY_PERCENTILES = (1.0, 99.8)


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


def ct_intensity_transforms(
    image_key: KeysCollection = "image", window: Sequence[float] = ABDOMEN_WINDOW
) -> list[Transform]:
    """HU window ``window = (low, high)`` mapped to 0..1, clipped (default: abdomen, -160..240 HU)."""
    if len(window) != 2 or not window[0] < window[1]:
        raise ValueError(f"window must be (low HU, high HU) with low < high, got {window!r}.")
    return [ScaleIntensityRanged(image_key, a_min=window[0], a_max=window[1], b_min=0.0, b_max=1.0, clip=True)]


def mri_intensity_transforms(
    image_key: KeysCollection = "image",
    method: str = "zscore",
    lower: float = 0.5,
    upper: float = 99.5,
    stats: Sequence[float] | None = None,
) -> list[Transform]:
    """MRI normalisation over the non-zero voxels: per volume, or by the dataset's statistics.

    ``"zscore"``: each volume by its own mean and std, each channel on its own (MONAI's
    ``NormalizeIntensityd(nonzero=True, channel_wise=True)``); ``"percentile"``:
    ``lower``..``upper`` percentiles to 0..1
    (:class:`~monai_unet2015.transforms.ScaleNonZeroPercentilesd`); ``"dataset"``: every volume
    by one ``stats = (mean, std)``, the dataset's foreground statistics from the plan. A
    volume's own mean depends on what it holds (a block with more white matter is brighter on
    average), so where the scanner's scale is shared, as in one study, ``"dataset"`` keeps
    grey matter at one normalised value across volumes (:mod:`monai_unet2015.planning`).
    """
    method = option("method", method, _MRI_METHODS)
    if method == "dataset":
        if stats is None or len(stats) != 2 or not stats[1] > 0:
            raise ValueError(f"mri_stats must be (mean, std) with std > 0 for method 'dataset', got {stats!r}.")
        return [NormalizeIntensityd(image_key, subtrahend=float(stats[0]), divisor=float(stats[1]), nonzero=True)]
    if method == "zscore":
        return [NormalizeIntensityd(image_key, nonzero=True, channel_wise=True)]
    return [ScaleNonZeroPercentilesd(image_key, lower=lower, upper=upper)]


_MODALITY_WORDS = {"ct": "ct", "mr": "mri", "mri": "mri"}


def normalize_modality(modality: str) -> str:
    """``"ct"`` or ``"mri"`` from any case of ct / CT / mr / MR / mri / MRI (the DICOM words too).

    Example::

        >>> normalize_modality("MR"), normalize_modality("CT")
        ('mri', 'ct')
    """
    word = str(modality).strip().lower()
    if word not in _MODALITY_WORDS:
        raise ValueError(f"modality must be CT or MR (any case; mri too), got {modality!r}.")
    return _MODALITY_WORDS[word]


class ModalityIntensityd(MapTransform):
    """The intensity step of a CT or MRI preset, chosen by ``modality``: one bundle entry for both.

    CT: the HU ``window`` to 0..1, clipped (:func:`ct_intensity_transforms`); MRI: per-volume
    normalisation by ``mri_method`` (:func:`mri_intensity_transforms`). The CT / MRI bundle
    lists this transform, so ``--modality mri`` switches the intensity handling.

    Args:
        keys: the image key(s), ``(C, H, W[, D])``.
        modality: ct or mri in any case, or the DICOM words CT / MR.
        window: ``(low, high)`` HU for CT (default: abdomen, -160..240 HU).
        mri_method: ``"zscore"``, ``"percentile"`` or ``"dataset"`` for MRI.
        mri_stats: ``(mean, std)`` of the dataset's foreground, for ``"dataset"``.
        allow_missing_keys: don't raise for missing keys.

    Example::

        >>> import torch
        >>> ct_window = ModalityIntensityd("image", "CT")
        >>> ct_window({"image": torch.tensor([[-1000.0, 40.0, 3000.0]])})["image"].tolist()
        [[0.0, 0.5, 1.0]]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        keys: KeysCollection,
        modality: str,
        window: Sequence[float] = ABDOMEN_WINDOW,
        mri_method: str = "zscore",
        mri_stats: Sequence[float] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.modality = normalize_modality(modality)
        keys = list(self.keys)
        chosen = (
            ct_intensity_transforms(keys, window)
            if self.modality == "ct"
            else mri_intensity_transforms(keys, mri_method, stats=mri_stats)
        )
        (self.transform,) = chosen
        self.transform.allow_missing_keys = allow_missing_keys

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        return self.transform(data)


class MicroscopyIntensityd(MapTransform):
    """Microscopy intensities to about 0..1: per-image percentiles, or a fixed range.

    ``intensity_range`` None (the default): each image's (and channel's) ``percentiles``
    go to 0 and 1, not clipped (CSBDeep / StarDist's normalisation): 8-bit, 16-bit and float
    images alike, and one image's exposure does not shift another's. A fixed
    ``(low, high)`` maps that range to 0..1 and clips, for data whose absolute intensity
    matters.

    Args:
        keys: the image key(s), ``(C, H, W)``.
        intensity_range: a fixed ``(low, high)``, low < high; None for percentiles.
        percentiles: ``(lower, upper)`` percentiles, 0 <= lower < upper <= 100.
        allow_missing_keys: don't raise for missing keys.

    Example::

        >>> import torch
        >>> image = torch.arange(1001.0).reshape(1, 1, 1001)
        >>> out = MicroscopyIntensityd("image", percentiles=(0, 100))({"image": image})["image"]
        >>> float(out.min()), float(out.max())
        (0.0, 1.0)
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        keys: KeysCollection,
        intensity_range: Sequence[float] | None = None,
        percentiles: Sequence[float] = MICROSCOPY_PERCENTILES,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if intensity_range is not None:
            if len(intensity_range) != 2 or not intensity_range[0] < intensity_range[1]:
                raise ValueError(
                    f"intensity_range must be (low, high) with low < high, or None, got {intensity_range!r}."
                )
            low, high = (float(v) for v in intensity_range)
            self.transform = ScaleIntensityRanged(
                keys, a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True, allow_missing_keys=allow_missing_keys
            )
            return
        if len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 100:
            raise ValueError(f"percentiles must be (lower, upper) with 0 <= lower < upper <= 100, got {percentiles!r}.")
        self.transform = ScaleIntensityRangePercentilesd(
            keys,
            lower=float(percentiles[0]),
            upper=float(percentiles[1]),
            b_min=0.0,
            b_max=1.0,
            clip=False,
            channel_wise=True,
            allow_missing_keys=allow_missing_keys,
        )

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):  # integer images: MONAI's percentiles need floats
            d[key] = convert_to_dst_type(d[key], d[key], dtype=_float_dtype(d[key]))[0]
        return self.transform(d)


def _float_dtype(image: NdarrayOrTensor):
    if isinstance(image, torch.Tensor):
        return image.dtype if image.is_floating_point() else torch.float32
    return image.dtype if np.issubdtype(image.dtype, np.floating) else np.float32
