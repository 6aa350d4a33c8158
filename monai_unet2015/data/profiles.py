"""What an image looks like, reduced to figures a training set and a new series are compared by.

The plan's fingerprint keeps these per training case
(:func:`~monai_unet2015.planning.dataset_fingerprint`); the DICOM node's applicability gate
computes them for an incoming series and compares. One function makes both, so the two sides
never measure differently.

- the slice plane: which anatomical axis the image's third axis runs along;
- intensity quantiles of all voxels (the range: an uncalibrated CT, an MR sent as CT);
- for CT, quantiles of the body's voxels (above :data:`CT_BODY_HU`): their mix of fat, soft
  tissue and bone says which body region it is (a head holds no fat and much bone; an
  abdomen much fat); the air around the body, which depends on the field of view, is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PROFILE_QUANTILES", "CT_BODY_HU", "CT_AIR_HU", "slice_plane", "intensity_profile", "quantile_distance"]

# The levels (%) of the quantiles kept per case: enough to tell the distributions' shapes apart.
PROFILE_QUANTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
# Air is about -1000 HU and lung -900..-500; everything above is body tissue (fat from about -150).
CT_BODY_HU = -500.0
# What a CT's values below air are counted as (the padding outside the reconstruction circle).
CT_AIR_HU = -1024.0
_PLANES = ("sagittal", "coronal", "axial")  # the world axis (x: left-right, y: front-back, z: head-feet)


def slice_plane(normal: Sequence[float]) -> str:
    """``"axial"``, ``"coronal"`` or ``"sagittal"``: the plane of slices stacked along ``normal``.

    Args:
        normal: the direction of the image's slice axis in world coordinates (RAS or LPS: the
            axes' names are the same): the third column of the affine, or the cross product of
            a DICOM slice's row and column directions.

    Example::

        >>> slice_plane([0.0, 0.1, 0.99]), slice_plane([1, 0, 0])
        ('axial', 'sagittal')
    """
    direction = np.abs(np.asarray(normal, dtype=float))
    if direction.shape != (3,) or not direction.any():
        raise ValueError(f"normal must be a non-zero 3-vector, got {list(normal)!r}.")
    return _PLANES[int(direction.argmax())]


def _quantiles(values: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in np.percentile(values, PROFILE_QUANTILES)]


def intensity_profile(values: np.ndarray, ct: bool) -> dict[str, list[float]]:
    """The intensity quantiles (:data:`PROFILE_QUANTILES`) of ``values``, and for CT of its body voxels.

    Args:
        values: voxel intensities (any shape; a random sample of the image is enough), in HU for CT.
        ct: values below :data:`CT_AIR_HU` count as air (scanners pad outside the
            reconstruction circle with -2048 or -3024), and ``"body"`` is added: the quantiles
            of the values above :data:`CT_BODY_HU` (empty where none is).

    Returns:
        ``{"all": [...]}`` and, for CT, ``{"body": [...]}``, one value per level.

    Example::

        >>> values = np.concatenate([np.full(500, -1000.0), np.linspace(-100, 100, 500)])
        >>> profile = intensity_profile(values, ct=True)
        >>> profile["all"][0], profile["body"][4]
        (-1000.0, 0.0)
        >>> intensity_profile(np.full(4, -3024.0), ct=True)["all"][0]  # padding outside the scan circle
        -1024.0
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("values is empty: an intensity profile needs at least one voxel.")
    if ct:  # scanners fill the corners outside the reconstruction circle with -2048 or -3024: that is air too
        values = np.maximum(values, CT_AIR_HU)
    profile = {"all": _quantiles(values)}
    if ct:
        body = values[values > CT_BODY_HU]
        profile["body"] = _quantiles(body) if body.size else []
    return profile


def quantile_distance(first: Sequence[float], second: Sequence[float]) -> float:
    """The mean absolute difference of two quantile lists: the 1-Wasserstein distance of the two
    distributions, sampled at :data:`PROFILE_QUANTILES` (in the intensities' unit, HU for CT).

    Example::

        >>> quantile_distance([0, 10, 20], [5, 15, 25])
        5.0
    """
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if first.shape != second.shape or first.size == 0:
        raise ValueError(f"quantile lists must have the same, non-zero length, got {first.size} and {second.size}.")
    return float(np.abs(first - second).mean())
