"""The original U-Net (Ronneberger, Fischer, Brox, MICCAI 2015) in 2D and 3D."""

from __future__ import annotations

from collections.abc import Sequence

from monai_unet2015.networks.valid_unet import ValidUNet, check_features

__all__ = ["UNet2015"]


class UNet2015(ValidUNet):
    """The U-Net of Ronneberger et al. 2015, with valid (unpadded) convolutions.

    Paper-faithful by default:

    - contracting path: per level two 3x3 convolutions without padding, each followed by
      ReLU, then 2x2 max-pooling with stride 2; widths ``features`` = 64, 128, 256, 512, 1024;
    - expansive path: a 2x2 up-convolution halving the width, concatenation with the
      centre-cropped feature map of the contracting path, two 3x3 valid convolutions + ReLU;
    - a final 1x1 convolution to ``out_channels``: 23 convolutional layers in all;
    - drop-out "at the end of the contracting path". The paper gives neither place nor rate;
      following the authors' released Caffe model we apply drop-out with p = 0.5 to the
      outputs of the two deepest contracting levels (the deepest skip level, before its
      pooling, and the bottleneck), in training mode only;
    - weights ~ N(0, 2/N), N the number of inputs of one neuron, biases 0 (see
      :func:`~monai_unet2015.networks.blocks.incoming_nodes`).

    A 572x572 tile gives a 388x388 output; an input size is valid exactly where every
    pooling sees an even size (for 5 levels: ``s % 16 == 12`` and ``s >= 188``). Use
    :meth:`output_size`, :meth:`input_size` and :meth:`nearest_valid_input_sizes` rather than
    computing tile sizes by hand. With ``spatial_dims=3`` all operations become 3x3x3 /
    2x2x2 (for the 3D paper's widths and batch norm, use :class:`UNet3D`).

    ``UNet2015(2, 1, 2)`` has 31,030,658 parameters.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (classes).
        features: channel widths per level, top to bottom, as in MONAI's ``BasicUNet``; the
            last is the bottleneck. At least 2 levels. Default ``(64, 128, 256, 512, 1024)``.
        dropout: drop-out probability at the end of the contracting path (0 disables).
        norm: optional normalisation between each convolution and its ReLU (a MONAI norm
            name: ``"batch"``, ``"instance"``, ``("group", {"num_groups": 8})``); the paper
            has none.

    Shapes:
        input ``(B, in_channels, H, W[, D])``, output ``(B, out_channels, H', W'[, D'])`` with
        ``(H', W'[, D']) = net.output_size((H, W[, D]))``.

    Reference:
        O. Ronneberger, P. Fischer, T. Brox. U-Net: Convolutional Networks for Biomedical
        Image Segmentation. MICCAI 2015, LNCS 9351, 234-241. arXiv:1505.04597.

    Example::

        >>> import torch
        >>> net = UNet2015(spatial_dims=2, in_channels=1, out_channels=2, features=(8, 16, 32))
        >>> net.input_size(100)
        (140, 140)
        >>> net(torch.zeros(1, 1, 140, 140)).shape
        torch.Size([1, 2, 100, 100])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        features: Sequence[int] = (64, 128, 256, 512, 1024),
        dropout: float = 0.5,
        norm: str | tuple | None = None,
    ) -> None:
        features = check_features(features)
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            contracting_channels=[(f, f) for f in features],
            up_channels=features[:-1],
            dropout=dropout,
            dropout_levels=2,
            norm=norm,
        )
