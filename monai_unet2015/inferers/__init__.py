"""Overlap-tile inference with mirroring as a MONAI inferer."""

from monai_unet2015.inferers.overlap_tile import OverlapTileInferer
from monai_unet2015.inferers.precision import cpu_has_native_bf16, fastest_memory_format, fastest_precision
from monai_unet2015.inferers.tiling import extend_borders, flip_combinations, tile_starts

__all__ = [
    "OverlapTileInferer",
    "extend_borders",
    "flip_combinations",
    "tile_starts",
    "fastest_precision",
    "fastest_memory_format",
    "cpu_has_native_bf16",
]
