"""Scores of label maps against ground truth: Dice, and the paper's object-level measures."""

from monai_unet2015.metrics.handlers import InstanceMetricsHandler
from monai_unet2015.metrics.instances import (
    InstanceMatchingMetric,
    RandErrorMetric,
    SEGMeasureMetric,
    matching_scores,
    overlap_table,
    rand_error,
    seg_measure,
)
from monai_unet2015.metrics.overlap import dice

__all__ = [
    "dice",
    "overlap_table",
    "matching_scores",
    "seg_measure",
    "rand_error",
    "InstanceMatchingMetric",
    "SEGMeasureMetric",
    "RandErrorMetric",
    "InstanceMetricsHandler",
]
