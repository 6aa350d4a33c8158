"""Scores of label maps against ground truth."""

from monai_unet2015.metrics.overlap import dice

__all__ = ["dice"]
