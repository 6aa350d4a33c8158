"""Loading and intensity presets for CT, MRI and microscopy: the bundles' own ``preprocessing`` lists.

Each preset is the ``preprocessing`` list a shipped bundle declares in its
``configs/common.json`` (:func:`~monai_unet2015.data.bundle_configs.declared_transforms`), with
the arguments given set as that bundle's settings: the CT / MRI presets are the
``unet3d_ct_organs`` bundle's list, the microscopy preset the ``unet2015_cells_2d`` bundle's.
An argument left at None keeps the value the bundle declares. So a Python user and a bundle
run preprocess alike by construction, not by a second copy kept in step.

The intensity steps themselves (:class:`~monai_unet2015.transforms.ModalityIntensityd`,
:class:`~monai_unet2015.transforms.MicroscopyIntensityd` and the helpers they use) are
transforms, in :mod:`monai_unet2015.transforms.intensity`; ``ABDOMEN_WINDOW``,
``MICROSCOPY_PERCENTILES``, ``ct_intensity_transforms``, ``mri_intensity_transforms`` and
``normalize_modality`` are imported from there and re-exported here for the presets' users.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monai.transforms.transform import Transform

from monai_unet2015.data.bundle_configs import declared_transforms
from monai_unet2015.options import option
from monai_unet2015.transforms.intensity import (
    ABDOMEN_WINDOW,
    MICROSCOPY_PERCENTILES,
    ct_intensity_transforms,
    mri_intensity_transforms,
    normalize_modality,
)

__all__ = [
    "ABDOMEN_WINDOW",
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

VOLUME_BUNDLE = "unet3d_ct_organs"
MICROSCOPY_BUNDLE = "unet2015_cells_2d"
_READERS = ("ITKReader", "PydicomReader", "NibabelReader", "PILReader")


def _bundle_preprocessing(bundle: str, label_key: str | None, reader: str | None, **settings: Any) -> list[Transform]:
    """``bundle``'s declared preprocessing: ``train.json``'s (image and label) or ``inference.json``'s (image)."""
    if reader is not None:
        option("reader", reader, _READERS)
    config = "train.json" if label_key else "inference.json"
    if label_key and label_key != "label":
        settings.update(preprocessing_keys=["image", label_key], preprocessing_label_key=label_key)
    declared = {name: value for name, value in settings.items() if value is not None}
    entries = {"preprocessing#0#reader": reader} if reader else {}  # the list's LoadImaged
    return declared_transforms(bundle, "preprocessing", config, entries, **declared)


def _spacings(pixdim: Sequence[float] | None) -> list[float] | None:
    if pixdim is not None and (len(pixdim) != 3 or any(p <= 0 for p in pixdim)):
        raise ValueError(f"pixdim must hold 3 positive spacings in mm, got {pixdim!r}.")
    return None if pixdim is None else [float(p) for p in pixdim]


def ct_preprocessing(
    label_key: str | None = "label",
    pixdim: Sequence[float] | None = None,
    window: Sequence[float] | None = None,
    reader: str | None = None,
) -> list[Transform]:
    """CT: :func:`modality_preprocessing` with ``modality="ct"``.

    Example::

        >>> [type(t).__name__ for t in ct_preprocessing()]
        ['LoadImaged', 'CheckImageLabeld', 'Orientationd', 'Spacingd', 'ModalityIntensityd']
    """
    return modality_preprocessing("ct", label_key, pixdim, window, reader=reader)


def microscopy_preprocessing(
    label_key: str | None = "label",
    intensity_range: Sequence[float] | None = None,
    percentiles: Sequence[float] | None = None,
    reader: str | None = None,
) -> list[Transform]:
    """2D microscopy: the ``unet2015_cells_2d`` bundle's list: load, check, :class:`MicroscopyIntensityd`.

    No reorientation or resampling. By default each image's ``percentiles`` (the bundle's
    ``intensity_percentiles``, 1 and 99.8) go to 0..1, whatever its bit depth (8-bit, 16-bit
    or float). With a fixed ``intensity_range``, an image with values above its top is an
    error naming the file rather than a silently clipped image.

    Args:
        label_key: the label's key, or None for images alone (inference).
        intensity_range: fixed (low, high) to 0..1 instead of each image's percentiles.
        percentiles: (low, high) percentiles of each image; None keeps the bundle's.
        reader: MONAI's reader by name; None picks by file type.

    Example::

        >>> [type(t).__name__ for t in microscopy_preprocessing()]
        ['LoadImaged', 'CheckImageLabeld', 'MicroscopyIntensityd']
    """
    intensity_range = None if intensity_range is None else [float(v) for v in intensity_range]
    percentiles = None if percentiles is None else [float(v) for v in percentiles]
    return _bundle_preprocessing(
        MICROSCOPY_BUNDLE, label_key, reader, intensity_range=intensity_range, intensity_percentiles=percentiles
    )


def mri_preprocessing(
    label_key: str | None = "label",
    pixdim: Sequence[float] | None = None,
    method: str | None = None,
    reader: str | None = None,
    stats: Sequence[float] | None = None,
) -> list[Transform]:
    """MRI: :func:`modality_preprocessing` with ``modality="mri"``.

    ``method="dataset"`` takes the plan's ``mri_stats`` as ``stats = (mean, std)``.

    Example::

        >>> steps = mri_preprocessing(method="dataset", stats=(310.0, 42.0))
        >>> normalizer = steps[-1].transform.normalizer
        >>> float(normalizer.subtrahend), float(normalizer.divisor)
        (310.0, 42.0)
    """
    return modality_preprocessing("mri", label_key, pixdim, mri_method=method, reader=reader, mri_stats=stats)


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
    label_key: str | None = "label",
    pixdim: Sequence[float] | None = None,
    window: Sequence[float] | None = None,
    mri_method: str | None = None,
    reader: str | None = None,
    mri_stats: Sequence[float] | None = None,
) -> list[Transform]:
    """CT or MRI, chosen by ``modality``: the ``unet3d_ct_organs`` bundle's ``preprocessing`` list.

    Load (ITK for DICOM folders and NIfTI unless ``reader`` names another; both DICOM
    readers apply the rescale slope and intercept, so CT arrives in HU), channel first;
    :class:`~monai_unet2015.transforms.CheckImageLabeld` (same grid, not empty, finite; for CT
    a warning for an image without air); ``Orientationd`` to RAS; ``Spacingd`` to ``pixdim``
    mm (bilinear for the image, nearest for the label); then
    :class:`~monai_unet2015.transforms.ModalityIntensityd`. ``modality`` is ct or mri in any
    case, or the DICOM words CT / MR (:func:`normalize_modality`). The arguments are the
    bundle's settings (the plan's options), and None keeps the bundle's value.

    Args:
        modality: ``"ct"`` or ``"mri"`` (the bundle's ``modality``).
        label_key: the label's key, or None for images alone (inference).
        pixdim: target spacing in mm, RAS order (``pixdim``; the bundle's 1.6 x 1.6 x 2.5).
        window: CT window (low HU, high HU) to 0..1 (``ct_window``; the bundle's -160..240).
        mri_method: MRI normalisation, ``"zscore"`` or the plan's ``"dataset"`` (``mri_method``).
        reader: MONAI's reader by name; None picks by file type.
        mri_stats: the plan's dataset (mean, std) for ``mri_method="dataset"`` (``mri_stats``).

    Example::

        >>> steps = modality_preprocessing("mri", pixdim=(1.0, 1.0, 1.0))
        >>> [type(t).__name__ for t in steps][-1], type(steps[-1].transform).__name__
        ('ModalityIntensityd', 'NormalizeIntensityd')
    """
    return _bundle_preprocessing(
        VOLUME_BUNDLE,
        label_key,
        reader,
        modality=modality,
        pixdim=_spacings(pixdim),
        ct_window=None if window is None else [float(v) for v in window],
        mri_method=mri_method,
        mri_stats=None if mri_stats is None else [float(v) for v in mri_stats],
    )
