import pytest
import torch
from torch import nn

from monai_unet2015.networks import UNet3D, paper_parameter_count


def test_paper_shape_and_parameter_counts():
    with torch.device("meta"):
        net = UNet3D(3, 3)
        y = net(torch.empty(1, 3, 132, 132, 116))
    assert y.shape == (1, 3, 44, 44, 28)
    assert paper_parameter_count(net) == 19_069_955
    assert sum(p.numel() for p in net.parameters()) == 19_075_523  # as the docstring says


def test_channels_double_before_pooling_and_up_convs_keep_width():
    net = UNet3D(3, 3)
    widths = [(block[0].out_channels, block[3].out_channels) for block in net.contracting]
    assert widths == [(32, 64), (64, 128), (128, 256), (256, 512)]
    ups = [(level.up[0].in_channels, level.up[0].out_channels) for level in net.expansive]
    assert ups == [(512, 512), (256, 256), (128, 128)]
    assert [level.convs[0].in_channels for level in net.expansive] == [768, 384, 192]


def test_batch_norm_before_each_relu():
    net = UNet3D(1, 2, features=(2, 4))
    for block in [*net.contracting, *(level.convs for level in net.expansive)]:
        kinds = [type(m) for m in block]
        assert kinds == [nn.Conv3d, nn.BatchNorm3d, nn.ReLU] * 2


@pytest.mark.parametrize("batch,size,out_size", [(1, (28, 28, 20), (12, 12, 4)), (2, (20, 28, 36), (4, 12, 20))])
def test_small_shapes(batch, size, out_size):
    net = UNet3D(2, 4, features=(2, 4))
    assert net(torch.randn(batch, 2, *size)).shape == (batch, 4, *out_size)


def test_norm_none_has_no_batch_norm():
    net = UNet3D(1, 2, features=(2, 4), norm=None)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in net.modules())


def test_invalid_arguments():
    with pytest.raises(ValueError, match="features needs at least 2 levels"):
        UNet3D(1, 2, features=(4,))
    with pytest.raises(ValueError, match="in_channels must be a positive integer, got -1"):
        UNet3D(-1, 2)
    with pytest.raises(ValueError, match=r"input must have shape \(B, C, H, W, D\)"):
        UNet3D(1, 2, features=(2, 4))(torch.zeros(1, 1, 20, 20))
