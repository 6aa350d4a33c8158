"""Coarse-grid elastic deformation as plain functions: dense field, sampling grid, resampling.

The displacement vectors live on a coarse grid of control points spanning the image (the
first and last control points sit on the first and last pixel of each axis). The dense
per-pixel field interpolates them with a cubic B-spline (``scipy.ndimage`` convention,
mirror boundary): the field passes through every control-point displacement and is twice
continuously differentiable. Cubic B-spline interpolation is separable, so the dense field
is ``M_0 ⊗ M_1 [⊗ M_2]`` applied to the control values, with ``M_i`` a (size, points)
matrix per axis; this runs on any torch device and costs a few multiply-adds per pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "cubic_interpolation_matrix",
    "dense_displacement_field",
    "sampling_grid",
    "resample",
]


@lru_cache(maxsize=64)
def _interpolation_matrix_numpy(size: int, num_points: int) -> np.ndarray:
    if num_points == 1:
        return np.ones((size, 1))
    positions = np.linspace(0.0, num_points - 1.0, size)
    columns = []
    for point in range(num_points):
        unit = np.zeros(num_points)
        unit[point] = 1.0
        columns.append(ndimage.map_coordinates(unit, positions[None], order=3, mode="mirror"))
    return np.stack(columns, axis=1)


def cubic_interpolation_matrix(
    size: int, num_points: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The (size, num_points) matrix that maps control values to per-pixel values on one axis.

    Example::

        >>> m = cubic_interpolation_matrix(5, 3)
        >>> m.shape, [round(v, 6) for v in m.sum(1).tolist()]  # rows sum to 1: constants are kept
        (torch.Size([5, 3]), [1.0, 1.0, 1.0, 1.0, 1.0])
    """
    return torch.tensor(_interpolation_matrix_numpy(int(size), int(num_points)), dtype=dtype, device=device)


def dense_displacement_field(displacements: torch.Tensor, spatial_shape: Sequence[int]) -> torch.Tensor:
    """Per-pixel displacements from control-point displacements.

    Args:
        displacements: ``(d, n_0, ..., n_{d-1})``, in pixels; component ``i`` moves along axis ``i``.
        spatial_shape: ``(S_0, ..., S_{d-1})``.

    Returns:
        ``(d, S_0, ..., S_{d-1})`` on the device and with the dtype of ``displacements``.
    """
    field = displacements
    for axis, size in enumerate(spatial_shape):
        matrix = cubic_interpolation_matrix(size, field.shape[axis + 1], field.device, field.dtype)
        # contract control axis (axis + 1) with the matrix, putting the pixel axis back in place
        field = torch.movedim(torch.tensordot(field, matrix, dims=([axis + 1], [1])), -1, axis + 1)
    return field


def sampling_grid(displacements: torch.Tensor, spatial_shape: Sequence[int]) -> torch.Tensor:
    """The ``grid_sample`` grid (align_corners=True) of ``x -> x + displacement(x)``.

    Returns:
        ``(1, S_0, ..., S_{d-1}, d)``; the last dimension is in ``grid_sample``'s order
        (last spatial axis first).
    """
    spatial_dims = len(spatial_shape)
    field = dense_displacement_field(displacements, spatial_shape)
    grid = torch.empty((1, *spatial_shape, spatial_dims), dtype=field.dtype, device=field.device)
    for axis, size in enumerate(spatial_shape):
        view_shape = [1] * spatial_dims
        view_shape[axis] = size
        if size == 1:
            grid[0, ..., spatial_dims - 1 - axis] = 0.0
            continue
        scale = 2.0 / (size - 1)
        base = torch.linspace(-1.0, 1.0, size, dtype=field.dtype, device=field.device).view(view_shape)
        torch.add(base, field[axis], alpha=scale, out=grid[0, ..., spatial_dims - 1 - axis])
    return grid


def resample(image: torch.Tensor, grid: torch.Tensor, mode: str, padding_mode: str) -> torch.Tensor:
    """Resample a channel-first image ``(C, *S)`` at ``grid`` (from :func:`sampling_grid`).

    Integer and boolean images come back with their dtype (use ``mode="nearest"`` for them).
    """
    floating = image.is_floating_point()
    work = image if floating else image.to(torch.float32)
    if grid.dtype != work.dtype:
        grid = grid.to(work.dtype)
    out = torch.nn.functional.grid_sample(work[None], grid, mode=mode, padding_mode=padding_mode, align_corners=True)[0]
    if floating:
        return out
    if image.dtype == torch.bool:
        return out > 0.5
    return torch.round(out).to(image.dtype)
