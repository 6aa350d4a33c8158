"""Generated CT-like (Hounsfield units) and MRI-like volumes with labelled organ-like structures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["ct_like_volume", "mri_like_volume", "CT_LABELS", "MRI_LABELS", "ras_affine"]

CT_LABELS = {"background": 0, "liver": 1, "spleen": 2, "kidney": 3}
MRI_LABELS = {"background": 0, "ventricles": 1, "lesion": 2}


def ras_affine(spacing: Sequence[float], shape: Sequence[int]) -> np.ndarray:
    """A RAS affine with the given voxel spacing whose origin puts the volume's centre at 0."""
    affine = np.diag([*map(float, spacing), 1.0])
    affine[:3, 3] = -0.5 * (np.asarray(shape) - 1) * np.asarray(spacing, dtype=float)
    return affine


def _millimetre_grid(shape: Sequence[int], spacing: Sequence[float]) -> list[np.ndarray]:
    """Coordinates in mm of every voxel, centred on the volume (sparse, broadcastable)."""
    return np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)], indexing="ij", sparse=True)


def _smooth_noise(rng: np.random.Generator, shape: Sequence[int], sigma_voxels: Sequence[float]) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise smoothed by ``sigma_voxels``."""
    field = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma_voxels)
    return field / max(float(field.std()), 1e-6)


def _blob(grid, centre_mm, radii_mm, wobble: np.ndarray, amount: float) -> np.ndarray:
    """An ellipsoid whose surface is pushed in and out by ``amount`` * ``wobble``."""
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre_mm, radii_mm))
    return inside < 1.0 + amount * wobble


def ct_like_volume(
    shape: Sequence[int] = (128, 128, 40),
    spacing: Sequence[float] = (0.8, 0.8, 2.5),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An abdomen-like CT volume in HU with a liver, a spleen and two kidneys, and its labels.

    Air (-1000 HU) around a body of fat (-100) and soft tissue (40, with patches of fat), a
    spine (about 700) and, as in a portal-venous contrast phase, a liver (105) that touches
    the right kidney, a spleen (120) and kidneys (180). Every organ is an irregular
    ellipsoid with its own texture; scanner noise (12 HU) is added and the values clipped to
    the 12-bit range -1024..3071 HU, as scanners do. Sizes are in millimetres, so another
    ``spacing`` gives the same anatomy sampled differently. The axes are RAS: x to the
    patient's left, y anterior, z superior.

    Args:
        shape: voxels per axis (x, y, z).
        spacing: mm per voxel (x, y, z); the default is a typical abdominal CT.
        seed: random seed; the same seed gives the same volume.

    Returns:
        ``hu`` float32 ``shape``, ``labels`` uint8 ``shape`` (see :data:`CT_LABELS`) and the
        4x4 RAS ``affine``.

    Example::

        >>> hu, labels, affine = ct_like_volume((64, 64, 16), seed=0)
        >>> hu.shape, labels.dtype, sorted(int(v) for v in np.unique(labels))
        ((64, 64, 16), dtype('uint8'), [0, 1, 2, 3])
    """
    rng = np.random.default_rng(seed)
    shape, spacing = tuple(int(s) for s in shape), tuple(float(s) for s in spacing)
    grid = _millimetre_grid(shape, spacing)
    fov = np.asarray(shape) * np.asarray(spacing)
    smooth = [2.0 / s * 3 for s in spacing]  # about 6 mm correlation length
    wobble = _smooth_noise(rng, shape, smooth)
    jitter = rng.uniform(0.92, 1.08, 8)

    body_radii = (0.46 * fov[0], 0.40 * fov[1], 10 * fov[2])
    body = _blob(grid, (0, 0, 0), body_radii, wobble, 0.02)
    inner = _blob(grid, (0, 0, 0), (0.42 * fov[0], 0.36 * fov[1], 10 * fov[2]), wobble, 0.02)
    spine = _blob(grid, (0, -0.25 * fov[1], 0), (0.07 * fov[0], 0.07 * fov[1], 10 * fov[2]), wobble, 0.05)
    liver = _blob(
        grid,
        (-0.16 * fov[0], 0.04 * fov[1], 0.05 * fov[2]),
        (0.2 * fov[0] * jitter[0], 0.22 * fov[1], 0.45 * fov[2]),
        wobble,
        0.15,
    )
    spleen = _blob(
        grid,
        (0.22 * fov[0], -0.06 * fov[1], 0.1 * fov[2]),
        (0.09 * fov[0] * jitter[1], 0.12 * fov[1], 0.3 * fov[2]),
        wobble,
        0.15,
    )
    kidney_r = _blob(
        grid,
        (-0.14 * fov[0], -0.17 * fov[1], -0.1 * fov[2]),
        (0.07 * fov[0], 0.09 * fov[1] * jitter[2], 0.35 * fov[2]),
        wobble,
        0.1,
    )
    kidney_l = _blob(
        grid,
        (0.15 * fov[0], -0.2 * fov[1], -0.15 * fov[2]),
        (0.07 * fov[0], 0.09 * fov[1] * jitter[3], 0.35 * fov[2]),
        wobble,
        0.1,
    )

    labels = np.zeros(shape, np.uint8)
    for mask, value in ((liver, 1), (spleen, 2), (kidney_r, 3), (kidney_l, 3)):
        labels[mask & inner & ~spine] = value

    texture = _smooth_noise(rng, shape, [0.8 / s for s in spacing])
    hu = np.full(shape, -1000.0, np.float32)
    hu[body] = -100.0
    hu[inner] = np.where(wobble[inner] > 0.8, -90.0, 40.0)  # visceral fat between muscle and bowel
    hu[spine & inner] = 700.0
    for value, mean, texture_hu in ((1, 105.0, 10.0), (2, 120.0, 8.0), (3, 180.0, 15.0)):
        hu[labels == value] = mean + texture_hu * texture[labels == value]
    hu += rng.normal(0, 12.0, shape).astype(np.float32)
    return np.clip(hu, -1024.0, 3071.0).astype(np.float32), labels, ras_affine(spacing, shape)  # a 12-bit range


def mri_like_volume(
    shape: Sequence[int] = (96, 96, 64),
    spacing: Sequence[float] = (1.0, 1.0, 1.5),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A head-like T1-weighted MRI volume in arbitrary units with ventricles and a lesion.

    Scalp, grey and white matter, cerebrospinal fluid in two ventricles (label 1) and a
    ring-enhancing lesion (label 2), under a smooth multiplicative bias field and Rician-like
    noise; the intensity scale differs per seed, as between MRI scanners, so only a
    per-volume normalisation makes cases comparable.

    Returns:
        ``intensity`` float32, ``labels`` uint8 (see :data:`MRI_LABELS`), RAS ``affine``.

    Example::

        >>> image, labels, affine = mri_like_volume((48, 48, 32), seed=1)
        >>> bool(image.min() >= 0), sorted(int(v) for v in np.unique(labels))
        (True, [0, 1, 2])
    """
    rng = np.random.default_rng(seed)
    shape, spacing = tuple(int(s) for s in shape), tuple(float(s) for s in spacing)
    grid = _millimetre_grid(shape, spacing)
    fov = np.asarray(shape) * np.asarray(spacing)
    wobble = _smooth_noise(rng, shape, [4.0 / s for s in spacing])
    head = _blob(grid, (0, 0, 0), 0.45 * fov, wobble, 0.03)
    brain = _blob(grid, (0, 0, 0), 0.38 * fov, wobble, 0.05)
    white = _blob(grid, (0, 0, 0), 0.28 * fov, wobble, 0.25)
    ventricles = np.zeros(shape, bool)
    for side in (-1, 1):
        ventricles |= _blob(
            grid, (side * 0.06 * fov[0], 0.02 * fov[1], 0.05 * fov[2]), 0.05 * fov * (1, 3, 2), wobble, 0.2
        )
    centre = rng.uniform(-0.15, 0.15, 3) * fov
    lesion = _blob(grid, centre, np.full(3, rng.uniform(0.06, 0.09) * fov.min()), wobble, 0.2) & brain & ~ventricles

    labels = np.zeros(shape, np.uint8)
    labels[ventricles & brain] = 1
    labels[lesion] = 2
    intensity = np.zeros(shape, np.float32)
    intensity[head] = 350.0
    intensity[brain] = 600.0
    intensity[white & brain] = 800.0
    intensity[labels == 1] = 200.0
    ring = lesion & ~ndimage.binary_erosion(lesion, iterations=2)
    intensity[lesion] = 450.0
    intensity[ring] = 1000.0
    intensity *= 1.0 + 0.15 * _smooth_noise(rng, shape, [20.0 / s for s in spacing])  # bias field
    intensity *= rng.uniform(0.5, 3.0)  # scanner-dependent scale
    noise = rng.normal(0, 0.03 * intensity[brain].mean(), (2, *shape))
    intensity = np.hypot(intensity + noise[0], noise[1])  # magnitude image: Rician noise
    return intensity.astype(np.float32), labels, ras_affine(spacing, shape)
