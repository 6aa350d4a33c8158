"""A plain-PyTorch U-Net written the usual tutorial way: the benchmarks' reference.

Same architecture as ``UNet2015`` (and, with ``batch_norm=True`` and the 3D widths, as
``UNet3D``), with none of the package's generality: it exists to show that the package
costs nothing at run time.
"""

from __future__ import annotations

import torch
from torch import nn


def _double_conv(conv, norm, c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    layers = []
    for a, b in ((c_in, c_mid), (c_mid, c_out)):
        layers += [conv(a, b, 3)] + ([norm(b)] if norm else []) + [nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class PlainUNet(nn.Module):
    def __init__(self, dims: int, c_in: int, c_out: int, down: list, ups: list, batch_norm: bool, dropout: float):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        up = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        norm = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d) if batch_norm else None
        self.pool = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool3d(2)
        self.drop = nn.Dropout(dropout)
        self.down = nn.ModuleList()
        c = c_in
        for mid, out in down:
            self.down.append(_double_conv(conv, norm, c, mid, out))
            c = out
        self.ups, self.up_convs = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(len(down) - 1)):
            skip = down[level][1]
            self.ups.append(up(c, ups[level], 2, stride=2))
            self.up_convs.append(_double_conv(conv, norm, skip + ups[level], skip, skip))
            c = skip
        self.head = conv(c, c_out, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i >= len(self.down) - 2:
                x = self.drop(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, block in zip(self.ups, self.up_convs):
            x = up(x)
            skip = skips.pop()
            crop = [slice(None), slice(None)] + [
                slice((s - t) // 2, (s - t) // 2 + t) for s, t in zip(skip.shape[2:], x.shape[2:])
            ]
            x = block(torch.cat([skip[tuple(crop)], x], 1))
        return self.head(x)


def plain_unet2015() -> PlainUNet:
    f = [64, 128, 256, 512, 1024]
    return PlainUNet(2, 1, 2, [(c, c) for c in f], f[:-1], batch_norm=False, dropout=0.5)


def plain_unet3d() -> PlainUNet:
    down = [(32, 64), (64, 128), (128, 256), (256, 512)]
    up_widths = [128, 256, 512]  # per level, top to bottom: the up-conv keeps the width of the level below
    return PlainUNet(3, 3, 3, down, up_widths, batch_norm=True, dropout=0.0)


def load_package_weights(plain: PlainUNet, package: nn.Module) -> PlainUNet:
    """Copy a package net's weights into the plain net (same layers, forward order)."""
    forward_order = [k for k in plain.state_dict() if k.startswith("down.")]
    for i in range(len(plain.ups)):
        forward_order += [k for k in plain.state_dict() if k.startswith((f"ups.{i}.", f"up_convs.{i}."))]
    forward_order += [k for k in plain.state_dict() if k.startswith("head.")]
    values = list(package.state_dict().values())
    if len(values) != len(forward_order):
        raise ValueError("the package net and the plain net differ in their layers")
    plain.load_state_dict(dict(zip(forward_order, values)))
    return plain
