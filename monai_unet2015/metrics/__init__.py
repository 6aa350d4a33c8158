"""Scores of label maps against ground truth: Dice, and the paper's object-level measures."""

from monai_unet2015.metrics.handlers import InstanceMetricsHandler
from monai_unet2015.metrics.instances import (
    InstanceMatchingMetric,
    RandErrorMetric,
    SEGMeasureMetric,
    label_instances,
    matching_scores,
    overlap_table,
    rand_error,
    seg_measure,
    split_touching,
)
from monai_unet2015.metrics.overlap import dice

__all__ = [
    "dice",
    "label_instances",
    "split_touching",
    "overlap_table",
    "matching_scores",
    "seg_measure",
    "rand_error",
    "InstanceMatchingMetric",
    "SEGMeasureMetric",
    "RandErrorMetric",
    "InstanceMetricsHandler",
]
