"""The 2D U-Net applied slice by slice to a volume: a 3D network without context along the slice axis."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from monai_unet2015.networks.size_arithmetic import per_axis
from monai_unet2015.networks.unet2015 import UNet2015

__all__ = ["UNet2015Slices"]


class UNet2015Slices(nn.Module):
    """:class:`UNet2015` in 2D run on every slice of a volume along its last spatial axis.

    What nnU-Net's ``2d`` configuration does for 3D data, as a 3D module: the 3D bundle,
    its training tiles, losses and :class:`~monai_unet2015.inferers.OverlapTileInferer` take it
    unchanged. A training tile of ``D`` slices is ``D`` 2D samples in one step; a thin slab or
    a series with thick slices loses nothing to missing context along z, since the net never
    sees any. The in-plane size arithmetic is the 2D U-Net's (valid convolutions); along the
    slice axis the output has the input's size, and any size is valid.

    Not in either paper: the 2015 U-Net is 2D and the 3D U-Net is 3D; this is the 2D net on the
    axial slices of CT, for the CPU budgets where a 3D net cannot see enough voxels.

    Args:
        in_channels: input channels.
        out_channels: output channels (classes).
        features: the 2D net's widths per level (see :class:`UNet2015`).
        dropout: drop-out at the end of the contracting path (see :class:`UNet2015`).
        norm: normalisation between each convolution and its ReLU (``"batch"``: the slices of a
            tile form the batch).

    Shapes:
        input ``(B, in_channels, H, W, D)``, output ``(B, out_channels, H', W', D)`` with
        ``(H', W') = UNet2015.output_size((H, W))``.

    Example::

        >>> import torch
        >>> net = UNet2015Slices(in_channels=1, out_channels=3, features=(8, 16, 32))
        >>> net.output_size((140, 140, 5))
        (100, 100, 5)
        >>> net(torch.zeros(1, 1, 140, 140, 5)).shape
        torch.Size([1, 3, 100, 100, 5])
    """

    __jit_unused_properties__ = ["tile_alignment"]
    spatial_dims = 3

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        features: Sequence[int] = (64, 128, 256, 512, 1024),
        dropout: float = 0.5,
        norm: str | tuple | None = "batch",
    ) -> None:
        super().__init__()
        self.slice_net = UNet2015(2, in_channels, out_channels, features=features, dropout=dropout, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"input must have shape (B, C, H, W, D), got {tuple(x.shape)}.")
        batch, channels, height, width, depth = x.shape
        slices = x.permute(0, 4, 1, 2, 3).reshape(batch * depth, channels, height, width)
        out = self.slice_net(slices)
        out = out.reshape(batch, depth, *out.shape[1:])
        return out.permute(0, 2, 3, 4, 1)

    @property
    def tile_alignment(self) -> int:
        """The 2D net's ``2**poolings``; slices are independent, so any alignment along z is exact too."""
        return self.slice_net.tile_alignment

    def output_size(self, input_size: int | Sequence[int]) -> tuple[int, ...]:
        """Output spatial size ``(H', W', D)`` for ``(H, W, D)``; ``ValueError`` names the nearest valid sizes."""
        height, width, depth = per_axis(input_size, 3, "input_size")
        return (*self.slice_net.output_size((height, width)), depth)

    def input_size(self, output_size: int | Sequence[int]) -> tuple[int, ...]:
        """Smallest valid input spatial size whose output covers at least ``output_size``."""
        height, width, depth = per_axis(output_size, 3, "output_size")
        return (*self.slice_net.input_size((height, width)), depth)

    def nearest_valid_input_sizes(self, input_size: int | Sequence[int]) -> tuple[tuple[int | None, int], ...]:
        """Per axis, the nearest valid input sizes ``(at or below, at or above)``; every depth is valid."""
        height, width, depth = per_axis(input_size, 3, "input_size")
        return (*self.slice_net.nearest_valid_input_sizes((height, width)), (depth, depth))
