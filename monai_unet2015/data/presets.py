"""Loading and intensity presets for CT and MRI: lists of MONAI transforms bundles reference.

Each function returns a plain list, to be joined with other lists and wrapped in
``Compose``; every element is a stock MONAI transform except the checks
(:class:`~monai_unet2015.transforms.CheckImageLabeld`) and the MRI percentile scaling
(:class:`~monai_unet2015.transforms.ScaleNonZeroPercentilesd`), which MONAI lacks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import ImageReader
from monai.transforms import (
    LoadImaged,
    NormalizeIntensityd,
    Orientationd,
    ScaleIntensityRanged,
    ScaleIntensityRangePercentilesd,
    Spacingd,
)
from monai.transforms.transform import MapTransform, Transform
from monai.utils import convert_to_dst_type
from monai.utils.enums import TransformBackends

from monai_unet2015.options import option
from monai_unet2015.transforms.checks import CheckImageLabeld
from monai_unet2015.transforms.intensity import ScaleNonZeroPercentilesd

__all__ = [
    "ABDOMEN_WINDOW",
    "loading_transforms",
    "ct_intensity_transforms",
    "mri_intensity_transforms",
    "ct_preprocessing",
    "mri_preprocessing",
    "modality_preprocessing",
    "ModalityIntensityd",
    "normalize_modality",
    "dicom_modality",
    "microscopy_preprocessing",
    "MicroscopyIntensityd",
    "MICROSCOPY_PERCENTILES",
]

ABDOMEN_WINDOW = (-160.0, 240.0)  # level 40 HU, width 400 HU: abdominal soft tissue
_READERS = ("ITKReader", "PydicomReader", "NibabelReader", "PILReader")
_MRI_METHODS = ("zscore", "percentile", "dataset")
# CSBDeep / StarDist's per-image normalisation of microscopy: these percentiles to 0..1.
MICROSCOPY_PERCENTILES = (1.0, 99.8)


def loading_transforms(
    image_key: str = "image",
    label_key: str | None = "label",
    reader: str | ImageReader | None = None,
    pixdim: Sequence[float] | None = None,
    axcodes: str | None = "RAS",
    expect_hu: bool = False,
    max_value: float | None = None,
) -> list[Transform]:
    """Load, check, reorient and resample an image (and its label, if the sample has one).

    ``LoadImaged`` (``reader`` None picks by file type: ITK for DICOM folders and NIfTI,
    PIL for PNG; or ``"ITKReader"``, ``"PydicomReader"``, ``"NibabelReader"``; DICOM
    rescale slope and intercept are applied by both DICOM readers, so CT arrives in HU),
    channel first; :class:`~monai_unet2015.transforms.CheckImageLabeld` (same grid, not
    empty, finite; with ``expect_hu`` a warning for a CT without air; with ``max_value`` an
    error for values the intensity scaling would clip); ``Orientationd`` to ``axcodes``;
    ``Spacingd`` to ``pixdim`` mm (bilinear for the image, nearest for the label).
    ``axcodes=None`` / ``pixdim=None`` leave those out (2D images). The label key may be
    missing from a sample (inference).

    Example::

        >>> [type(t).__name__ for t in loading_transforms(pixdim=(1.5, 1.5, 2.5))]
        ['LoadImaged', 'CheckImageLabeld', 'Orientationd', 'Spacingd']
    """
    if isinstance(reader, str):
        option("reader", reader, _READERS)
    if pixdim is not None and (len(pixdim) not in (2, 3) or any(p <= 0 for p in pixdim)):
        raise ValueError(f"pixdim must hold 2 or 3 positive spacings in mm, got {pixdim!r}.")
    keys = [image_key] + ([label_key] if label_key else [])
    transforms: list[Transform] = [
        LoadImaged(keys, reader=reader, image_only=True, ensure_channel_first=True, allow_missing_keys=True),
        CheckImageLabeld(image_key, label_key, expect_hu=expect_hu, max_value=max_value),
    ]
    if axcodes is not None:
        transforms.append(Orientationd(keys, axcodes=axcodes, labels=None, allow_missing_keys=True))
    if pixdim is not None:
        modes = ["bilinear", "nearest"][: len(keys)]
        transforms.append(Spacingd(keys, pixdim=pixdim, mode=modes, allow_missing_keys=True))
    return transforms


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


def ct_preprocessing(
    image_key: str = "image",
    label_key: str | None = "label",
    pixdim: Sequence[float] | None = (0.8, 0.8, 2.5),
    window: Sequence[float] = ABDOMEN_WINDOW,
    reader: str | ImageReader | None = None,
) -> list[Transform]:
    """CT: :func:`loading_transforms` (RAS, ``pixdim``, HU check) then the HU window.

    Example::

        >>> [type(t).__name__ for t in ct_preprocessing()]
        ['LoadImaged', 'CheckImageLabeld', 'Orientationd', 'Spacingd', 'ScaleIntensityRanged']
    """
    loading = loading_transforms(image_key, label_key, reader, pixdim, expect_hu=True)
    return loading + ct_intensity_transforms(image_key, window)


def microscopy_preprocessing(
    image_key: str = "image",
    label_key: str | None = "label",
    intensity_range: Sequence[float] | None = None,
    percentiles: Sequence[float] = MICROSCOPY_PERCENTILES,
    reader: str | ImageReader | None = None,
) -> list[Transform]:
    """2D microscopy: load (no reorientation or resampling), then :class:`MicroscopyIntensityd`.

    By default each image's ``percentiles`` go to 0..1, whatever its bit depth (8-bit,
    16-bit or float). With a fixed ``intensity_range``, an image with values above its top is
    an error naming the file rather than a silently clipped image.

    Example::

        >>> [type(t).__name__ for t in microscopy_preprocessing()]
        ['LoadImaged', 'CheckImageLabeld', 'MicroscopyIntensityd']
    """
    intensity = MicroscopyIntensityd(image_key, intensity_range, percentiles)
    high = None if intensity_range is None else float(intensity_range[1])
    return loading_transforms(image_key, label_key, reader, pixdim=None, axcodes=None, max_value=high) + [intensity]


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


def mri_preprocessing(
    image_key: str = "image",
    label_key: str | None = "label",
    pixdim: Sequence[float] | None = (1.0, 1.0, 1.0),
    method: str = "zscore",
    reader: str | ImageReader | None = None,
    stats: Sequence[float] | None = None,
) -> list[Transform]:
    """MRI: :func:`loading_transforms` (RAS, ``pixdim``) then :func:`mri_intensity_transforms`.

    ``method="dataset"`` takes the plan's ``mri_stats`` as ``stats = (mean, std)``.

    Example::

        >>> steps = mri_preprocessing(method="dataset", stats=(310.0, 42.0))
        >>> type(steps[-1]).__name__, float(steps[-1].normalizer.subtrahend), float(steps[-1].normalizer.divisor)
        ('NormalizeIntensityd', 310.0, 42.0)
    """
    loading = loading_transforms(image_key, label_key, reader, pixdim)
    return loading + mri_intensity_transforms(image_key, method, stats=stats)


_MODALITY_WORDS = {"ct": "ct", "mr": "mri", "mri": "mri"}
_DICOM_MODALITY = {"ct": "CT", "mri": "MR"}


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


def dicom_modality(modality: str) -> str:
    """The DICOM Modality value (``"CT"``, ``"MR"``) of a preset's modality.

    Example::

        >>> dicom_modality("mri")
        'MR'
    """
    return _DICOM_MODALITY[normalize_modality(modality)]


def modality_preprocessing(
    modality: str,
    image_key: str = "image",
    label_key: str | None = "label",
    pixdim: Sequence[float] | None = None,
    window: Sequence[float] = ABDOMEN_WINDOW,
    mri_method: str = "zscore",
    reader: str | ImageReader | None = None,
    mri_stats: Sequence[float] | None = None,
) -> list[Transform]:
    """:func:`loading_transforms` and :class:`ModalityIntensityd`: CT or MRI, chosen by ``modality``.

    The same steps as the CT / MRI bundle's ``preprocessing`` list, so one override
    (``--modality mri``) switches the intensity handling. ``modality`` is ct or mri in any
    case, or the DICOM words CT / MR (:func:`normalize_modality`). ``window`` applies to CT,
    ``mri_method`` and ``mri_stats`` (the plan's dataset mean and std, for ``"dataset"``) to MRI.
    The arguments carry the bundle's names for the plan's options: ``pixdim``, ``window``
    (``ct_window``), ``mri_method``, ``mri_stats``.

    Example::

        >>> steps = modality_preprocessing("mri", pixdim=(1.0, 1.0, 1.0))
        >>> [type(t).__name__ for t in steps][-1], type(steps[-1].transform).__name__
        ('ModalityIntensityd', 'NormalizeIntensityd')
    """
    expect_hu = normalize_modality(modality) == "ct"
    loading = loading_transforms(image_key, label_key, reader, pixdim, expect_hu=expect_hu)
    return loading + [ModalityIntensityd(image_key, modality, window, mri_method, mri_stats)]


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
