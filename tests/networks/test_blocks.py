import math

import pytest
import torch
from torch import nn

from monai_unet2015.networks.blocks import UpConvolution, ValidConvBlock, center_crop, incoming_nodes


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("norm", [None, "batch", "instance"])
def test_valid_conv_block_shrinks_by_four(spatial_dims, norm):
    block = ValidConvBlock(spatial_dims, 2, 3, 5, norm=norm)
    y = block(torch.randn(2, 2, *[12] * spatial_dims))
    assert y.shape == (2, 5, *[8] * spatial_dims)
    assert (y >= 0).all()  # ReLU last
    kinds = [type(m).__name__ for m in block]
    assert kinds.count("ReLU") == 2 and sum("Norm" in k for k in kinds) == (0 if norm is None else 2)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_up_convolution_doubles(spatial_dims):
    y = UpConvolution(spatial_dims, 4, 2)(torch.randn(1, 4, *[5] * spatial_dims))
    assert y.shape == (1, 2, *[10] * spatial_dims)


def test_center_crop_takes_the_centre():
    x = torch.arange(100.0).reshape(1, 1, 10, 10)
    cropped = center_crop(x, (6, 4))
    assert torch.equal(cropped, x[:, :, 2:8, 3:7])


def test_center_crop_refuses_an_odd_difference():
    with pytest.raises(
        ValueError, match=r"skip spatial size \(10, 9\) cannot be centre-cropped.*axis 1.*difference of 5"
    ):
        center_crop(torch.zeros(1, 1, 10, 9), (6, 4), "skip")


def test_incoming_nodes_follows_the_paper():
    assert incoming_nodes(nn.Conv2d(64, 128, 3)) == 576  # the paper's example: 9 * 64
    assert incoming_nodes(nn.Conv3d(4, 8, 3)) == 108
    assert incoming_nodes(nn.ConvTranspose2d(128, 64, 2, stride=2)) == 128  # one tap per input channel
    assert incoming_nodes(nn.ConvTranspose3d(16, 8, 2, stride=2)) == 16
    assert math.isclose(incoming_nodes(nn.Conv2d(1, 64, 1)), 1)
