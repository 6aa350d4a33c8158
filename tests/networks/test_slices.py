"""UNet2015Slices: the 2D U-Net on each slice of a volume, as a 3D module."""

import pytest
import torch

from monai_unet2015.inferers import OverlapTileInferer
from monai_unet2015.networks import UNet2015Slices


def small_net(**kwargs) -> UNet2015Slices:
    return UNet2015Slices(in_channels=1, out_channels=3, features=(4, 8, 16), **kwargs).eval()


@pytest.mark.parametrize(("batch", "size", "out_size"), [(1, (44, 44, 1), (4, 4, 1)), (2, (60, 76, 5), (20, 36, 5))])
def test_shapes_follow_the_2d_net_in_plane_and_keep_the_slices(batch, size, out_size):
    net = small_net()
    assert net.output_size(size) == out_size
    assert net(torch.randn(batch, 1, *size)).shape == (batch, 3, *out_size)


def test_each_slice_is_the_2d_net_on_that_slice_alone():
    net = small_net()
    volume = torch.randn(2, 1, 60, 60, 4)
    with torch.no_grad():
        slices = torch.stack([net.slice_net(volume[..., k]) for k in range(4)], dim=-1)
        torch.testing.assert_close(net(volume), slices, rtol=0, atol=0)


def test_size_arithmetic_is_the_2d_nets_in_plane_and_any_depth_is_valid():
    net = small_net()
    assert net.input_size((20, 20, 7)) == (60, 60, 7)
    assert net.nearest_valid_input_sizes((61, 60, 3)) == ((60, 64), (60, 60), (3, 3))
    with pytest.raises(ValueError, match="spatial axis 0: .*61"):
        net.output_size((61, 60, 3))


def test_a_volume_is_required():
    with pytest.raises(ValueError, match=r"input must have shape \(B, C, H, W, D\), got \(1, 1, 60, 60\)"):
        small_net()(torch.zeros(1, 1, 60, 60))


def test_tiled_inference_equals_the_whole_volume_at_once():
    net = small_net()
    volume = torch.randn(1, 1, 52, 52, 19)
    with torch.no_grad():
        whole = OverlapTileInferer(roi_size=(92, 92, 19), padding_mode="reflect")(volume, net)
        tiled = OverlapTileInferer(roi_size=(60, 60, 8), padding_mode="reflect")(volume, net)
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)
