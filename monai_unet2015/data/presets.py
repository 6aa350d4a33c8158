"""Loading and intensity presets for CT and MRI: lists of MONAI transforms bundles reference.

Each function returns a plain list, to be joined with other lists and wrapped in
``Compose``; every element is a stock MONAI transform except the checks
(:class:`~monai_unet2015.transforms.CheckImageLabeld`) and the MRI percentile scaling
(:class:`~monai_unet2015.transforms.ScaleNonZeroPercentilesd`), which MONAI lacks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import ImageReader
from monai.transforms import (
    LoadImaged,
    NormalizeIntensityd,
    Orientationd,
    ScaleIntensityRanged,
    Spacingd,
)
from monai.transforms.transform import MapTransform, Transform
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
]

ABDOMEN_WINDOW = (-160.0, 240.0)  # level 40 HU, width 400 HU: abdominal soft tissue
_READERS = ("ITKReader", "PydicomReader", "NibabelReader", "PILReader")
_MRI_METHODS = ("zscore", "percentile")


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
    image_key: KeysCollection = "image", method: str = "zscore", lower: float = 0.5, upper: float = 99.5
) -> list[Transform]:
    """Per-volume MRI normalisation over the non-zero voxels, each channel on its own.

    ``"zscore"``: MONAI's ``NormalizeIntensityd(nonzero=True, channel_wise=True)``;
    ``"percentile"``: ``lower``..``upper`` percentiles to 0..1
    (:class:`~monai_unet2015.transforms.ScaleNonZeroPercentilesd`).
    """
    if option("method", method, _MRI_METHODS) == "zscore":
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
    intensity_range: Sequence[float] = (0.0, 255.0),
    reader: str | ImageReader | None = None,
) -> list[Transform]:
    """2D microscopy: load (no reorientation or resampling), ``intensity_range`` mapped to 0..1.

    An image with values above ``intensity_range``'s top is an error naming the file rather
    than a silently clipped image: 16-bit microscopy needs ``intensity_range=(0, 65535)`` (or
    the range of the data).

    Example::

        >>> [type(t).__name__ for t in microscopy_preprocessing(intensity_range=(0, 65535))]
        ['LoadImaged', 'CheckImageLabeld', 'ScaleIntensityRanged']
    """
    if len(intensity_range) != 2 or not intensity_range[0] < intensity_range[1]:
        raise ValueError(f"intensity_range must be (low, high) with low < high, got {intensity_range!r}.")
    low, high = (float(v) for v in intensity_range)
    loading = loading_transforms(image_key, label_key, reader, pixdim=None, axcodes=None, max_value=high)
    return loading + [ScaleIntensityRanged(image_key, a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True)]


def mri_preprocessing(
    image_key: str = "image",
    label_key: str | None = "label",
    pixdim: Sequence[float] | None = (1.0, 1.0, 1.0),
    method: str = "zscore",
    reader: str | ImageReader | None = None,
) -> list[Transform]:
    """MRI: :func:`loading_transforms` (RAS, ``pixdim``) then per-volume normalisation."""
    return loading_transforms(image_key, label_key, reader, pixdim) + mri_intensity_transforms(image_key, method)


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
) -> list[Transform]:
    """:func:`loading_transforms` and :class:`ModalityIntensityd`: CT or MRI, chosen by ``modality``.

    The same steps as the CT / MRI bundle's ``preprocessing`` list, so one override
    (``--modality mri``) switches the intensity handling. ``modality`` is ct or mri in any
    case, or the DICOM words CT / MR (:func:`normalize_modality`). ``window`` applies to CT,
    ``mri_method`` to MRI.

    Example::

        >>> steps = modality_preprocessing("mri", pixdim=(1.0, 1.0, 1.0))
        >>> [type(t).__name__ for t in steps][-1], type(steps[-1].transform).__name__
        ('ModalityIntensityd', 'NormalizeIntensityd')
    """
    expect_hu = normalize_modality(modality) == "ct"
    loading = loading_transforms(image_key, label_key, reader, pixdim, expect_hu=expect_hu)
    return loading + [ModalityIntensityd(image_key, modality, window, mri_method)]


class ModalityIntensityd(MapTransform):
    """The intensity step of a CT or MRI preset, chosen by ``modality``: one bundle entry for both.

    CT: the HU ``window`` to 0..1, clipped (:func:`ct_intensity_transforms`); MRI: per-volume
    normalisation by ``mri_method`` (:func:`mri_intensity_transforms`). The CT / MRI bundle
    lists this transform, so ``--modality mri`` switches the intensity handling.

    Args:
        keys: the image key(s), ``(C, H, W[, D])``.
        modality: ct or mri in any case, or the DICOM words CT / MR.
        window: ``(low, high)`` HU for CT (default: abdomen, -160..240 HU).
        mri_method: ``"zscore"`` or ``"percentile"`` for MRI.
        allow_missing_keys: don't raise for missing keys.

    Example::

        >>> import torch
        >>> ModalityIntensityd("image", "CT")({"image": torch.tensor([[-1000.0, 40.0, 3000.0]])})["image"].tolist()
        [[0.0, 0.5, 1.0]]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        keys: KeysCollection,
        modality: str,
        window: Sequence[float] = ABDOMEN_WINDOW,
        mri_method: str = "zscore",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.modality = normalize_modality(modality)
        keys = list(self.keys)
        chosen = (
            ct_intensity_transforms(keys, window)
            if self.modality == "ct"
            else mri_intensity_transforms(keys, mri_method)
        )
        (self.transform,) = chosen
        self.transform.allow_missing_keys = allow_missing_keys

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        return self.transform(data)
