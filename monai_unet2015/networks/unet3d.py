"""The 3D U-Net of Çiçek et al. (MICCAI 2016)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from monai_unet2015.networks.valid_unet import ValidUNet, check_features

__all__ = ["UNet3D", "paper_parameter_count"]


class UNet3D(ValidUNet):
    """The 3D U-Net of Çiçek et al. 2016, with valid (unpadded) convolutions.

    Paper-faithful by default:

    - analysis path: per level two 3x3x3 valid convolutions, each followed by batch norm and
      ReLU; the channels double *before* each pooling (32 -> 64, 64 -> 128, 128 -> 256,
      256 -> 512); 2x2x2 max-pooling with stride 2;
    - synthesis path: a 2x2x2 up-convolution that keeps the width (512 -> 512), concatenation
      with the centre-cropped analysis feature map, two 3x3x3 valid convolutions + BN + ReLU;
    - a final 1x1x1 convolution to ``out_channels``.

    ``UNet3D(3, 3)`` maps a 132x132x116 input to a 44x44x28 output. Counted the paper's way
    (convolution weights and biases, up-convolution weights without bias, batch-norm scale
    and shift not counted, see :func:`paper_parameter_count`) it has the paper's 19,069,955
    parameters. PyTorch's own count, ``sum(p.numel() for p in net.parameters())``, is
    19,075,523: 896 more for the up-convolution biases and 4,672 for the batch-norm scales
    and shifts. Deviation: the paper does not say whether its up-convolutions have biases;
    they share the 2D net's block, which has them (the 2015 net's parameter count needs them).

    Args:
        in_channels: input channels (3 in the paper's Xenopus kidney data).
        out_channels: output channels (classes).
        features: the first convolution's width per level, top to bottom; each level's second
            convolution doubles it. At least 2 levels. Default ``(32, 64, 128, 256)``.
        norm: normalisation between each convolution and its ReLU; ``"batch"`` as in the paper,
            ``None`` for none, or another MONAI norm name.
        dropout: drop-out probability on the two deepest analysis levels (the paper has none).

    Shapes:
        input ``(B, in_channels, H, W, D)``, output ``(B, out_channels, H', W', D')`` with
        ``(H', W', D') = net.output_size((H, W, D))``.

    Reference:
        Ö. Çiçek, A. Abdulkadir, S. S. Lienkamp, T. Brox, O. Ronneberger. 3D U-Net: Learning
        Dense Volumetric Segmentation from Sparse Annotation. MICCAI 2016. arXiv:1606.06650.

    Example::

        >>> import torch
        >>> net = UNet3D(in_channels=1, out_channels=2, features=(4, 8))
        >>> net.output_size((28, 28, 20))
        (12, 12, 4)
        >>> net(torch.zeros(1, 1, 28, 28, 20)).shape
        torch.Size([1, 2, 12, 12, 4])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        features: Sequence[int] = (32, 64, 128, 256),
        norm: str | tuple | None = "batch",
        dropout: float = 0.0,
    ) -> None:
        features = check_features(features)
        contracting = [(f, 2 * f) for f in features]
        super().__init__(
            spatial_dims=3,
            in_channels=in_channels,
            out_channels=out_channels,
            contracting_channels=contracting,
            up_channels=[out for _, out in contracting[1:]],  # the up-conv keeps the width
            dropout=dropout,
            dropout_levels=2,
            norm=norm,
        )


def paper_parameter_count(network: nn.Module) -> int:
    """Parameters counted as Çiçek et al. 2016 count them.

    Convolution weights and biases and up-convolution weights; up-convolution biases and
    normalisation parameters are not counted.

    Example::

        >>> paper_parameter_count(UNet3D(3, 3))
        19069955
    """
    total = 0
    for module in network.modules():
        if isinstance(module, nn.modules.conv._ConvTransposeNd):
            total += module.weight.numel()
        elif isinstance(module, nn.modules.conv._ConvNd):
            total += module.weight.numel() + (module.bias.numel() if module.bias is not None else 0)
    return total
