"""Helpers the bundles reference: input checks with one-line errors, datalists, weights, the demo."""

from monai_unet2015.bundle.checks import (
    BundleInputError,
    CheckInputChannels,
    LoadNetworkWeights,
    load_datalist,
    split_datalist,
)

__all__ = [
    "BundleInputError",
    "CheckInputChannels",
    "LoadNetworkWeights",
    "load_datalist",
    "split_datalist",
]
