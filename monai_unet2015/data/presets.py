"""Loading and intensity presets for CT, MRI and microscopy: lists of MONAI transforms bundles reference.

The intensity steps themselves (:class:`~monai_unet2015.transforms.ModalityIntensityd`,
:class:`~monai_unet2015.transforms.MicroscopyIntensityd` and the helpers they use) are
transforms, in :mod:`monai_unet2015.transforms.intensity`; ``ABDOMEN_WINDOW``,
``MICROSCOPY_PERCENTILES``, ``ct_intensity_transforms``, ``mri_intensity_transforms`` and
``normalize_modality`` are imported from there and re-exported here for the presets' users.

Each function returns a plain list, to be joined with other lists and wrapped in
``Compose``; every element is a stock MONAI transform except the checks
(:class:`~monai_unet2015.transforms.CheckImageLabeld`) and the MRI percentile scaling
(:class:`~monai_unet2015.transforms.ScaleNonZeroPercentilesd`), which MONAI lacks.
"""

from __future__ import annotations

from collections.abc import Sequence

from monai.data import ImageReader
from monai.transforms import (
    LoadImaged,
    Orientationd,
    Spacingd,
)
from monai.transforms.transform import Transform

from monai_unet2015.options import option
from monai_unet2015.transforms.checks import CheckImageLabeld
from monai_unet2015.transforms.intensity import (
    ABDOMEN_WINDOW,
    MICROSCOPY_PERCENTILES,
    MicroscopyIntensityd,
    ModalityIntensityd,
    ct_intensity_transforms,
    mri_intensity_transforms,
    normalize_modality,
)

__all__ = [
    "ABDOMEN_WINDOW",
    "loading_transforms",
    "ct_intensity_transforms",
    "mri_intensity_transforms",
    "ct_preprocessing",
    "mri_preprocessing",
    "modality_preprocessing",
    "normalize_modality",
    "dicom_modality",
    "microscopy_preprocessing",
    "MICROSCOPY_PERCENTILES",
]

_READERS = ("ITKReader", "PydicomReader", "NibabelReader", "PILReader")


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


_DICOM_MODALITY = {"ct": "CT", "mri": "MR"}


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
