"""The valid-convolution U-Net core that :class:`UNet2015` and :class:`UNet3D` configure."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv
from monai.networks.layers.utils import get_norm_layer
from torch import nn

from monai_unet2015.networks.blocks import (
    UpConvolution,
    ValidConvBlock,
    center_crop,
    he_gaussian_init_,
    max_pool,
)
from monai_unet2015.networks.size_arithmetic import (
    nearest_valid_sizes,
    per_axis,
    valid_input_size,
    valid_output_size,
)

__all__ = ["ValidUNet"]

_KERNEL_SIZE = 3
_CONVS_PER_LEVEL = 2


class _ExpansiveLevel(nn.Module):
    """Up-convolution, concatenation with the centre-cropped skip, two valid convolutions."""

    def __init__(self, spatial_dims: int, in_channels: int, up_channels: int, skip_channels: int, norm) -> None:
        super().__init__()
        self.up = UpConvolution(spatial_dims, in_channels, up_channels)
        self.convs = ValidConvBlock(spatial_dims, skip_channels + up_channels, skip_channels, skip_channels, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        return self.convs(torch.cat([center_crop(skip, x.shape[2:], "skip"), x], dim=1))


class ValidUNet(nn.Module):
    """A U-Net with unpadded convolutions, built from explicit per-level channel widths.

    Prefer the paper presets :class:`UNet2015` and :class:`UNet3D`; this class holds what
    they share: the layers, the forward pass, the paper's init and the size arithmetic.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (classes) of the final 1x1 convolution.
        contracting_channels: per level, ``(first conv width, second conv width)``; the
            last level is the bottleneck.
        up_channels: per expansive level, from the top level down, the width of the
            up-convolution's output (one fewer entry than ``contracting_channels``).
        dropout: drop-out probability applied to the outputs of the ``dropout_levels``
            deepest contracting levels in training mode.
        dropout_levels: how many of the deepest levels get drop-out.
        norm: None, or a MONAI norm name for a normalisation between each conv and ReLU.

    Shapes:
        input ``(B, in_channels, *S)`` with every ``S_i`` a valid size
        (see :meth:`output_size`); output ``(B, out_channels, *output_size(S))``.
    """

    __jit_unused_properties__ = ["tile_alignment"]  # size arithmetic is Python-side only

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        contracting_channels: Sequence[tuple[int, int]],
        up_channels: Sequence[int],
        dropout: float = 0.0,
        dropout_levels: int = 2,
        norm: str | tuple | None = None,
    ) -> None:
        super().__init__()
        _check_arguments(spatial_dims, in_channels, out_channels, dropout, norm)
        if len(up_channels) != len(contracting_channels) - 1:
            raise ValueError(
                f"up_channels needs {len(contracting_channels) - 1} entries (one per expansive level), "
                f"got {len(up_channels)}."
            )
        self.spatial_dims = spatial_dims
        self.num_poolings = len(contracting_channels) - 1

        self.contracting = nn.ModuleList()
        channels = in_channels
        for mid, out in contracting_channels:
            self.contracting.append(ValidConvBlock(spatial_dims, channels, mid, out, norm))
            channels = out
        self.pool = max_pool(spatial_dims)
        first_dropout_level = max(0, len(contracting_channels) - dropout_levels)
        self.dropout_from_level = first_dropout_level
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        self.expansive = nn.ModuleList()
        for level in reversed(range(self.num_poolings)):
            skip_channels = contracting_channels[level][1]
            self.expansive.append(_ExpansiveLevel(spatial_dims, channels, up_channels[level], skip_channels, norm))
            channels = skip_channels
        self.output_conv = Conv[Conv.CONV, spatial_dims](channels, out_channels, kernel_size=1)
        he_gaussian_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting() and not torch.jit.is_tracing():
            self._check_input(x)
        skips: list[torch.Tensor] = []
        for level, block in enumerate(self.contracting):
            x = block(x)
            if level >= self.dropout_from_level:
                x = self.dropout(x)
            if level < self.num_poolings:
                skips.append(x)
                x = self.pool(x)
        for index, level in enumerate(self.expansive):
            x = level(x, skips[self.num_poolings - 1 - index])
        return self.output_conv(x)

    @torch.jit.unused
    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"input must have shape (B, C, {', '.join('HWD'[: self.spatial_dims])}) for spatial_dims="
                f"{self.spatial_dims}, got {tuple(x.shape)}."
            )
        self.output_size(tuple(x.shape[2:]))

    @property
    def tile_alignment(self) -> int:
        """``2**num_poolings``: the net is translation-equivariant only for shifts by multiples of it.

        Tiles whose starts differ by such multiples give exactly the whole-image output;
        :class:`~monai_unet2015.inferers.OverlapTileInferer` places its tiles so.
        """
        return 2**self.num_poolings

    def output_size(self, input_size: int | Sequence[int]) -> tuple[int, ...]:
        """Output spatial size for an input spatial size (an int means the same on every axis).

        Raises:
            ValueError: where some axis is not a valid size; names the nearest valid sizes.
        """
        sizes = per_axis(input_size, self.spatial_dims, "input_size")
        output = []
        for axis, size in enumerate(sizes):
            try:
                output.append(valid_output_size(size, self.num_poolings, _KERNEL_SIZE, _CONVS_PER_LEVEL))
            except ValueError as error:
                raise ValueError(f"spatial axis {axis}: {error}") from None
        return tuple(output)

    def input_size(self, output_size: int | Sequence[int]) -> tuple[int, ...]:
        """Smallest valid input spatial size whose output covers at least ``output_size``."""
        sizes = per_axis(output_size, self.spatial_dims, "output_size")
        return tuple(valid_input_size(size, self.num_poolings, _KERNEL_SIZE, _CONVS_PER_LEVEL) for size in sizes)

    def nearest_valid_input_sizes(self, input_size: int | Sequence[int]) -> tuple[tuple[int | None, int], ...]:
        """Per axis, the nearest valid input sizes ``(at or below, at or above)``."""
        sizes = per_axis(input_size, self.spatial_dims, "input_size")
        return tuple(nearest_valid_sizes(size, self.num_poolings, _KERNEL_SIZE, _CONVS_PER_LEVEL) for size in sizes)


def _check_arguments(spatial_dims: int, in_channels: int, out_channels: int, dropout: float, norm) -> None:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    if norm is not None:
        try:
            get_norm_layer(norm, spatial_dims=spatial_dims, channels=8)
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(
                f"norm must be None or a MONAI normalisation such as 'batch', 'instance' or "
                f"('group', {{'num_groups': 8}}), got {norm!r} ({str(error).strip()})"
            ) from None


def check_features(features: Sequence[int], name: str = "features", min_levels: int = 2) -> tuple[int, ...]:
    """Check a per-level channel-width sequence: at least ``min_levels`` positive ints."""
    if isinstance(features, (str, bytes)) or not isinstance(features, Sequence):
        raise TypeError(f"{name} must be a sequence of ints (channel widths per level), got {features!r}.")
    if len(features) < min_levels:
        raise ValueError(f"{name} needs at least {min_levels} levels, got {tuple(features)}.")
    if any(not isinstance(f, int) or isinstance(f, bool) or f < 1 for f in features):
        raise ValueError(f"{name} must hold positive integers, got {tuple(features)}.")
    return tuple(features)
