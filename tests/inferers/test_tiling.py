"""least_work_tile against a brute-force search over every valid tile."""

import itertools
import math

import pytest
import torch

from monai_unet2015.inferers import OverlapTileInferer
from monai_unet2015.inferers.tiling import least_work_tile, tile_starts
from monai_unet2015.networks import UNet3D, UNet2015, UNet2015Slices


def _brute_force_cost(network, image_size, max_voxels, alignment):
    """The fewest voxels any valid tile within the budget reads to cover the image, and its tile count."""
    smallest = network.input_size((1,) * len(image_size))
    whole = network.input_size(tuple(image_size))
    per_axis = []  # every valid size of each axis with its output size
    for axis in range(len(image_size)):
        sizes = []
        for size in range(1, whole[axis] + 1):
            probe = list(smallest)
            probe[axis] = size
            try:
                sizes.append((size, network.output_size(tuple(probe))[axis]))
            except ValueError:
                continue
        per_axis.append(sizes)
    best = None
    for combination in itertools.product(*per_axis):
        roi, out = [size for size, _ in combination], [o for _, o in combination]
        if math.prod(roi) > max_voxels or any(o < alignment for o in out):
            continue
        tiles = math.prod(len(tile_starts(s, o, 0.0, alignment)) for s, o in zip(image_size, out))
        cost = (tiles * math.prod(roi), tiles)
        best = cost if best is None or cost < best else best
    return best


def _cost(network, roi, image_size, alignment):
    out = network.output_size(roi)
    tiles = math.prod(len(tile_starts(s, o, 0.0, alignment)) for s, o in zip(image_size, out))
    return tiles * math.prod(roi), tiles


@pytest.mark.parametrize(
    "network,image_size,max_voxels",
    [
        (UNet2015(2, 1, 2, features=(4, 8, 16)), (257, 100), 20000),
        (UNet2015(2, 1, 2, features=(4, 8, 16)), (97, 61), 3000),
        (UNet3D(1, 2, features=(4, 8, 16)), (70, 51, 33), 200000),
        (UNet3D(1, 2, features=(4, 8, 16)), (90, 40, 20), 100000),
        (UNet2015Slices(1, 2, features=(4, 8, 16)), (70, 45, 9), 30000),
        (UNet2015(2, 1, 2, features=(4, 8, 16, 32, 64)), (150, 37), 60000),  # alignment 16
        (UNet2015(2, 1, 2, features=(4, 8, 16, 32, 64)), (10, 12), 60000),  # smaller than any output tile
    ],
)
def test_least_work_tile_reads_as_few_voxels_as_the_best_valid_tile(network, image_size, max_voxels):
    alignment = network.tile_alignment
    roi = least_work_tile(network, image_size, max_voxels, alignment)
    assert math.prod(roi) <= max_voxels
    assert _cost(network, roi, image_size, alignment) == _brute_force_cost(network, image_size, max_voxels, alignment)


def test_least_work_tile_reads_less_than_the_largest_tile_on_a_ct():
    """The case that made it: 257 voxels per axis, where the largest 2 M-voxel tile needs four tiles per axis."""
    network = UNet3D(1, 4, features=(8, 16, 32))
    roi = least_work_tile(network, (257, 257, 180), 132 * 132 * 116, network.tile_alignment)
    work, _ = _cost(network, roi, (257, 257, 180), network.tile_alignment)
    largest_cube_work, _ = _cost(network, (124, 124, 128), (257, 257, 180), network.tile_alignment)
    assert work < 0.6 * largest_cube_work


def test_an_image_that_fits_gets_one_tile_covering_it():
    network = UNet2015(2, 1, 2, features=(4, 8, 16))
    assert least_work_tile(network, (30, 20), 572 * 572, network.tile_alignment) == network.input_size((30, 20))


def test_a_budget_below_the_smallest_tile_names_it():
    network = UNet3D(1, 2, features=(4, 8, 16))
    with pytest.raises(ValueError, match=r"no valid tile fits max_tile_voxels=1000; the smallest is \(44, 44, 44\)"):
        least_work_tile(network, (100, 100, 100), 1000, network.tile_alignment)


def test_the_inferer_takes_the_least_work_tile_and_matches_a_fixed_tile():
    network = UNet3D(1, 2, features=(4, 8, 16)).eval()
    image = torch.rand(1, 1, 41, 30, 21)
    inferer = OverlapTileInferer(None, max_tile_voxels=150000)
    roi, _, _ = inferer.tile_geometry(network, (41, 30, 21), 1, torch.device("cpu"))
    assert roi == least_work_tile(network, (41, 30, 21), 150000, network.tile_alignment)
    with torch.no_grad():
        torch.testing.assert_close(inferer(image, network), OverlapTileInferer((60, 60, 44))(image, network))
