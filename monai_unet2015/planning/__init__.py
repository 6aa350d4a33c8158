"""A data-driven plan: ``python -m monai_unet2015 plan DATASET_DIR`` (fingerprint, then bundle options)."""

from monai_unet2015.planning.apply import apply_plan
from monai_unet2015.planning.fingerprint import INTENSITY_SAMPLES_PER_CASE, dataset_fingerprint
from monai_unet2015.planning.plan import (
    BUNDLE_FOR_DIMS,
    CPU_VOXELS,
    ITERATIONS,
    MAX_TILE_GROWTH,
    MIN_OUTPUT_SHARE,
    SMALL_CLASS_SHARE,
    UNCAPPED_EPOCHS,
    make_plan,
)
from monai_unet2015.planning.write import plan_report, write_plan

__all__ = [
    "dataset_fingerprint",
    "make_plan",
    "plan_report",
    "write_plan",
    "apply_plan",
    "BUNDLE_FOR_DIMS",
    "CPU_VOXELS",
    "ITERATIONS",
    "MAX_TILE_GROWTH",
    "MIN_OUTPUT_SHARE",
    "SMALL_CLASS_SHARE",
    "UNCAPPED_EPOCHS",
    "INTENSITY_SAMPLES_PER_CASE",
]
