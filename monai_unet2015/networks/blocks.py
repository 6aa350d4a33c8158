"""Building blocks shared by :class:`UNet2015` and :class:`UNet3D`."""

from __future__ import annotations

import math

import torch
from monai.networks.layers.factories import Conv, Pool
from monai.networks.layers.utils import get_norm_layer
from torch import nn

from monai_unet2015.networks.size_arithmetic import center_crop_margins

__all__ = ["ValidConvBlock", "UpConvolution", "center_crop", "he_gaussian_init_", "incoming_nodes"]


class ValidConvBlock(nn.Sequential):
    """Two 3x3 (3x3x3) unpadded convolutions, each followed by [norm and] ReLU.

    Each convolution removes 2 pixels per axis, so the block maps ``(B, C_in, *S)`` to
    ``(B, C_out, *(S - 4))``. With a normalisation (Çiçek et al. 2016 use batch norm) the
    order is conv -> norm -> ReLU.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        mid_channels: output channels of the first convolution.
        out_channels: output channels of the second convolution.
        norm: None for none (Ronneberger 2015), or a MONAI norm name such as ``"batch"``,
            ``"instance"`` or ``("group", {"num_groups": 8})``.
        kernel_size: convolution size, 3 in both papers.

    Example::

        >>> block = ValidConvBlock(2, 1, 8, 8)
        >>> block(torch.zeros(1, 1, 20, 20)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        norm: str | tuple | None = None,
        kernel_size: int = 3,
    ) -> None:
        conv_type = Conv[Conv.CONV, spatial_dims]
        layers: list[nn.Module] = []
        for c_in, c_out in ((in_channels, mid_channels), (mid_channels, out_channels)):
            # The conv keeps its bias even before a norm: the 3D paper counts those biases.
            layers.append(conv_type(c_in, c_out, kernel_size=kernel_size, padding=0))
            if norm is not None:
                layers.append(get_norm_layer(norm, spatial_dims=spatial_dims, channels=c_out))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UpConvolution(nn.Sequential):
    """2x2 (2x2x2) up-convolution: a transposed convolution with kernel 2 and stride 2.

    Maps ``(B, C_in, *S)`` to ``(B, C_out, *(2 S))``.

    Example::

        >>> UpConvolution(2, 16, 8)(torch.zeros(1, 16, 5, 5)).shape
        torch.Size([1, 8, 10, 10])
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        conv_type = Conv[Conv.CONVTRANS, spatial_dims]
        super().__init__(conv_type(in_channels, out_channels, kernel_size=2, stride=2))


def max_pool(spatial_dims: int) -> nn.Module:
    """The papers' 2x2 (2x2x2) max-pooling with stride 2."""
    return Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2)


def center_crop(x: torch.Tensor, spatial_size: list[int], name: str = "tensor") -> torch.Tensor:
    """Crop the trailing ``len(spatial_size)`` axes of ``x`` to their exact centre.

    The project's one tensor centre-crop: the skip connections, the loss's label and
    weight map, and (through :func:`center_crop_margins`) the crop transforms. An odd or
    negative size difference is a ``ValueError`` naming ``name`` (see
    :func:`center_crop_margins`); in a valid U-Net every difference is even.

    Shapes:
        ``(..., *S)`` in, ``(..., *spatial_size)`` out (a view, no copy).

    Example::

        >>> center_crop(torch.arange(16.0).reshape(1, 1, 4, 4), (2, 2)).tolist()
        [[[[5.0, 6.0], [9.0, 10.0]]]]
    """
    first_axis = x.dim() - len(spatial_size)
    margins = center_crop_margins(list(x.shape[first_axis:]), list(spatial_size), name)
    for offset in range(len(margins)):
        if margins[offset] > 0:
            x = x.narrow(first_axis + offset, margins[offset], spatial_size[offset])
    return x


def incoming_nodes(module: nn.Module) -> int:
    """N of the paper's init, the number of inputs that reach one output neuron.

    For a convolution, ``k^d * C_in`` (Ronneberger et al.: "for a 3x3 convolution and 64
    feature channels in the previous layer N = 9 * 64 = 576"). For the 2x2 up-convolution
    with stride 2 the kernel windows do not overlap, so each output neuron receives exactly
    one tap per input channel: ``N = C_in``. (PyTorch's and Caffe's fan-in for transposed
    convolutions count ``k^d * C_out`` instead, which is not the paper's definition.)
    """
    weight = module.weight
    kernel_taps = math.prod(weight.shape[2:])
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        # weight: (C_in, C_out / groups, *k); a neuron sees ceil(k / stride) taps per axis.
        taps_per_neuron = math.prod(-(-k // s) for k, s in zip(weight.shape[2:], module.stride))
        return weight.shape[0] // module.groups * taps_per_neuron
    # weight: (C_out, C_in / groups, *k)
    return weight.shape[1] * kernel_taps


def he_gaussian_init_(network: nn.Module) -> None:
    """Paper init: every conv / up-conv weight ~ N(0, 2/N) with N = :func:`incoming_nodes`.

    Biases start at zero; normalisation layers keep PyTorch's init (scale 1, shift 0).
    """
    for module in network.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            nn.init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / incoming_nodes(module)))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
