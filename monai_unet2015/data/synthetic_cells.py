"""Generated 2D microscopy-like images of touching cells with instance labels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["touching_cells_2d"]


def _cell_centres(rng: np.random.Generator, shape: tuple[int, int], num_cells: int, spacing: float) -> np.ndarray:
    """Up to ``num_cells`` points, at least ``spacing`` apart (dart throwing)."""
    centres: list[np.ndarray] = []
    for _ in range(num_cells * 50):
        point = rng.uniform([0, 0], shape)
        if all(np.hypot(*(point - c)) >= spacing for c in centres):
            centres.append(point)
            if len(centres) == num_cells:
                break
    return np.array(centres)


def touching_cells_2d(
    shape: tuple[int, int] = (256, 256),
    num_cells: int = 24,
    cell_radius: float = 20.0,
    membrane_width: float = 1.5,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """An image of cells that touch, separated only by thin dark membranes, and its instances.

    Cells are the Voronoi regions of random centres, each limited to an irregular disk of
    about ``cell_radius``; where two cells meet, a ``membrane_width`` band of background
    separates them, as in the paper's EM and light-microscopy data. This is the situation
    the border weight map exists for: without it the thin gaps are a tiny fraction of the
    pixels and a net merges touching cells. Deterministic for a given ``seed``.

    Args:
        shape: ``(H, W)``.
        num_cells: the most cells placed (fewer where they do not fit).
        cell_radius: mean radius in pixels; centres are at least 1.6 radii apart, so
            neighbours overlap and touch.
        membrane_width: width in pixels of the background band between touching cells.
        noise: standard deviation of the additive Gaussian noise (image range about 0..1).
        seed: random seed.

    Returns:
        ``image`` float32 ``(H, W)`` in about [0, 1] and ``instances`` int32 ``(H, W)``: 0 the
        background, 1..N the cells.

    Example::

        >>> image, instances = touching_cells_2d((128, 128), num_cells=8, seed=1)
        >>> image.shape, image.dtype, instances.dtype, int(instances.max())
        ((128, 128), dtype('float32'), dtype('int32'), 8)
    """
    if len(shape) != 2 or min(shape) < 8:
        raise ValueError(f"shape must be (H, W) with both >= 8, got {shape!r}.")
    if num_cells < 1:
        raise ValueError(f"num_cells must be >= 1, got {num_cells!r}.")
    if cell_radius <= 0 or membrane_width < 0:
        raise ValueError(f"cell_radius must be > 0 and membrane_width >= 0, got {cell_radius!r}, {membrane_width!r}.")
    rng = np.random.default_rng(seed)
    centres = _cell_centres(rng, shape, num_cells, spacing=1.6 * cell_radius)
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    offsets = np.stack([rows - c[0] for c in centres]), np.stack([cols - c[1] for c in centres])
    distance = np.hypot(*offsets)  # (N, H, W)
    angle = np.arctan2(*offsets)
    # Irregular outlines: each cell's radius varies smoothly with the angle.
    harmonics = rng.normal(0, 0.06, (len(centres), 3, 2))
    radius = cell_radius * rng.uniform(0.85, 1.15, (len(centres), 1, 1))
    for k in range(3):
        radius = radius * (
            1
            + harmonics[:, k, :1, None] * np.cos((k + 2) * angle)
            + harmonics[:, k, 1:, None] * np.sin((k + 2) * angle)
        )
    nearest_two = np.argsort(distance, axis=0)[:2]
    d1 = np.take_along_axis(distance, nearest_two[:1], 0)[0]
    d2 = np.take_along_axis(distance, nearest_two[1:2], 0)[0] if len(centres) > 1 else np.full(shape, np.inf)
    owner = nearest_two[0]
    inside = d1 <= np.take_along_axis(radius, owner[None], 0)[0]
    # Half the gap on each side of the Voronoi border: d2 - d1 is twice the distance to it.
    instances = np.where(inside & (d2 - d1 >= membrane_width), owner + 1, 0).astype(np.int32)
    instances = _relabel_in_order(instances)

    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), 2.0)
    brightness = np.concatenate([[0.12], rng.uniform(0.55, 0.85, instances.max())])
    image = brightness[instances] + 0.06 * texture * (instances > 0)
    image = ndimage.gaussian_filter(image, 1.0) + rng.normal(0, noise, shape)
    return np.clip(image, 0, 1).astype(np.float32), instances


def _relabel_in_order(instances: np.ndarray) -> np.ndarray:
    """Instance ids 1..N without gaps (cells clipped away entirely leave none)."""
    ids = np.unique(instances)
    lookup = np.zeros(instances.max() + 1, np.int32)
    lookup[ids] = np.arange(len(ids), dtype=np.int32)
    return lookup[instances]
