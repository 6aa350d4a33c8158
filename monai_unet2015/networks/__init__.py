"""Paper-faithful valid-convolution U-Nets and their size arithmetic."""

from monai_unet2015.networks.blocks import UpConvolution, ValidConvBlock, center_crop, he_gaussian_init_
from monai_unet2015.networks.size_arithmetic import (
    center_crop_margins,
    is_valid_size,
    nearest_valid_sizes,
    valid_input_size,
    valid_output_size,
)
from monai_unet2015.networks.slices import UNet2015Slices
from monai_unet2015.networks.unet3d import UNet3D, paper_parameter_count
from monai_unet2015.networks.unet2015 import UNet2015
from monai_unet2015.networks.valid_unet import ValidUNet

__all__ = [
    "UNet2015",
    "UNet3D",
    "UNet2015Slices",
    "ValidUNet",
    "ValidConvBlock",
    "UpConvolution",
    "center_crop",
    "center_crop_margins",
    "he_gaussian_init_",
    "paper_parameter_count",
    "is_valid_size",
    "nearest_valid_sizes",
    "valid_input_size",
    "valid_output_size",
]
