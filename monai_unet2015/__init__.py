"""monai_unet2015: the original U-Net (2015) and 3D U-Net (2016) as MONAI citizens."""

__version__ = "0.1.0"
