"""The paper's training loss, soft-max cross entropy weighted per pixel, and its Dice + CE variant."""

from monai_unet2015.losses.dice_ce import PixelWeightedDiceCELoss
from monai_unet2015.losses.weighted_cross_entropy import PixelWeightedCrossEntropyLoss, center_crop_to_prediction

__all__ = ["PixelWeightedCrossEntropyLoss", "PixelWeightedDiceCELoss", "center_crop_to_prediction"]
