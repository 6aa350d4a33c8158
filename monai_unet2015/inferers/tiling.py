"""Tile placement and border extension for overlap-tile inference."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

__all__ = ["tile_starts", "least_work_tile", "extend_borders", "flip_combinations", "PADDING_MODES"]

# torch.nn.functional.pad's modes plus numpy's "symmetric" (mirror with the edge pixel), which
# extend_borders adds; no MONAI enum has exactly this set.
PADDING_MODES = ("reflect", "symmetric", "replicate", "constant")


def tile_starts(size: int, tile: int, overlap: float, alignment: int = 1) -> list[int]:
    """Start positions of output tiles covering ``[0, size)``.

    Consecutive tiles are ``int(tile * (1 - overlap))`` apart (at least 1). With
    ``alignment == 1`` this is MONAI's scan: the last tile ends at the image end. With
    ``alignment > 1`` every start is a multiple of ``alignment`` (the step is rounded down
    to one) and the last tile may reach past the image end instead: a network with
    ``k`` 2x2 poolings is translation-equivariant only for shifts that are multiples of
    ``2**k``, so only such tiles reproduce the whole-image output. An image smaller than
    one tile gets one tile at 0.

    Example::

        >>> tile_starts(10, 4, 0.0), tile_starts(3, 4, 0.0), tile_starts(10, 4, 0.5)
        ([0, 4, 6], [0], [0, 2, 4, 6])
        >>> tile_starts(40, 20, 0.0, alignment=8)  # step 16, the last tile overhangs to 52
        [0, 16, 32]
    """
    if size <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    if alignment > 1:
        if tile < alignment:
            raise ValueError(f"an output tile of {tile} is smaller than the tile alignment {alignment}.")
        step = max(alignment, step // alignment * alignment)
        return [i * step for i in range(math.ceil((size - tile) / step) + 1)]
    count = math.ceil((size - tile) / step) + 1
    return sorted({min(i * step, size - tile) for i in range(count)})


def _axis_options(
    network, image_size: Sequence[int], axis: int, alignment: int, overlap: float
) -> list[tuple[int, int]]:
    """``(input tile, tiles needed)`` along ``axis``, smallest tile first, each larger one needing fewer tiles."""
    probe = list(network.input_size((1,) * len(image_size)))  # the smallest valid tile
    largest = network.input_size(tuple(image_size))[axis]  # one tile covers the axis
    kept, fewest = [], None
    while probe[axis] <= largest:
        out = network.output_size(tuple(probe))[axis]
        try:
            tiles = len(tile_starts(image_size[axis], out, overlap, alignment))
        except ValueError:  # an output tile below the alignment that does not cover the axis alone
            tiles = None
        if tiles is not None and (fewest is None or tiles < fewest):  # a larger tile is worth it only with fewer tiles
            kept.append((probe[axis], tiles))
            fewest = tiles
        bigger = list(probe)
        bigger[axis] += 1
        probe[axis] = network.nearest_valid_input_sizes(tuple(bigger))[axis][1]
    return kept


def least_work_tile(
    network, image_size: Sequence[int], max_voxels: int, alignment: int = 1, overlap: float = 0.0
) -> tuple[int, ...]:
    """The valid input tile of at most ``max_voxels`` whose tiles read the fewest voxels to cover an image.

    A valid-convolution net reads every output tile's context again, and aligned tiles
    (:func:`tile_starts`) may run past the image end, so the largest tile is not always the
    cheapest: for 257 voxels and output tiles of 84 the fourth tile is mostly overhang. The
    combination of valid sizes per axis that reads the fewest voxels in all (tiles x tile
    volume) wins, and of equal ones the one with fewer tiles. Every valid size of each axis is
    tried: this is the best tile, not a guess.

    Args:
        network: has ``input_size`` and ``output_size`` (per axis independent, as
            :class:`~monai_unet2015.networks.UNet2015` / :class:`~monai_unet2015.networks.UNet3D`).
        image_size: the image's spatial size.
        max_voxels: the most voxels one input tile may hold (it bounds the memory of a call).
        alignment: output tiles start at multiples of it (the net's ``tile_alignment``).
        overlap: as for :func:`tile_starts`.

    Raises:
        ValueError: no valid tile fits ``max_voxels``; names the smallest tile.

    Example::

        >>> from monai_unet2015.networks import UNet2015
        >>> least_work_tile(UNet2015(2, 1, 2, features=(4, 8, 16)), (257, 100), 20000, alignment=4)
        (128, 140)
    """
    per_axis = [_axis_options(network, image_size, axis, alignment, overlap) for axis in range(len(image_size))]
    best, best_cost = None, None
    for combination in itertools.product(*per_axis):
        voxels = math.prod(roi for roi, _ in combination)
        if voxels > max_voxels:
            continue
        tiles = math.prod(count for _, count in combination)
        cost = (tiles * voxels, tiles)
        if best_cost is None or cost < best_cost:
            best, best_cost = tuple(roi for roi, _ in combination), cost
    if best is None:
        smallest = tuple(options[0][0] for options in per_axis)
        raise ValueError(f"no valid tile fits max_tile_voxels={max_voxels}; the smallest is {smallest}.")
    return best


def _mirror_indices(length: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """Source index of each position of an axis extended by ``before`` / ``after``."""
    positions = torch.arange(-before, length + after, device=device)
    if mode == "replicate" or length == 1:
        return positions.clamp(0, length - 1)
    if mode == "reflect":  # d c b | a b c d | c b a: period 2 (length - 1)
        period = 2 * (length - 1)
        folded = positions.remainder(period)
        return torch.where(folded < length, folded, period - folded)
    period = 2 * length  # symmetric: c b a | a b c | c b a
    folded = positions.remainder(period)
    return torch.where(folded < length, folded, period - 1 - folded)


def extend_borders(
    image: torch.Tensor, before: Sequence[int], after: Sequence[int], mode: str = "reflect", value: float = 0.0
) -> torch.Tensor:
    """Extend the spatial axes of ``(B, C, *S)`` by mirroring (any width, repeatedly if needed).

    ``mode``: ``"reflect"`` mirrors about the edge pixel (the paper's mirroring),
    ``"symmetric"`` repeats the edge pixel, ``"replicate"`` repeats it forever,
    ``"constant"`` fills with ``value``.
    """
    if mode == "constant":
        pads = [p for b, a in zip(reversed(before), reversed(after)) for p in (b, a)]
        return torch.nn.functional.pad(image, pads, mode="constant", value=value)
    for axis, (b, a) in enumerate(zip(before, after)):
        if b or a:
            dim = axis + 2
            index = _mirror_indices(image.shape[dim], b, a, mode, image.device)
            image = image.index_select(dim, index)
    return image


def flip_combinations(flip_axes: Sequence[int] | None) -> list[tuple[int, ...]]:
    """Every subset of the spatial ``flip_axes`` (the empty one first), as tensor dims of ``(B, C, *S)``.

    Example::

        >>> flip_combinations([0, 1])
        [(), (2,), (3,), (2, 3)]
    """
    if not flip_axes:
        return [()]
    dims = [a + 2 for a in flip_axes]
    return [combo for r in range(len(dims) + 1) for combo in itertools.combinations(dims, r)]
