"""The paper's training loss: soft-max cross entropy weighted per pixel."""

from monai_unet2015.losses.weighted_cross_entropy import PixelWeightedCrossEntropyLoss, center_crop_to_prediction

__all__ = ["PixelWeightedCrossEntropyLoss", "center_crop_to_prediction"]
