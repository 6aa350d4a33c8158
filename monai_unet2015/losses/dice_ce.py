"""The paper's pixel-weighted cross entropy plus a soft Dice term (nnU-Net's Dice + CE)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from monai_unet2015.losses.weighted_cross_entropy import (
    PixelWeightedCrossEntropyLoss,
    _plain,
    center_crop_to_prediction,
)

__all__ = ["PixelWeightedDiceCELoss"]


class PixelWeightedDiceCELoss(_Loss):
    """``ce_weight * weighted CE + dice_weight * (1 - soft Dice)``, the weight map in the CE only.

    The CE term is :class:`PixelWeightedCrossEntropyLoss` (Ronneberger et al. 2015, eq. 1): the
    border weight map still teaches the net to keep a gap between touching objects. The Dice
    term is nnU-Net's: soft-max probabilities against the one-hot label, summed over the whole
    batch ("batch Dice") and averaged over the foreground classes, so it rewards masks whose
    extent matches the label's. Not in the paper: on real nuclei (``benchmarks/peer_nnunet.py``)
    the cross entropy alone, class-balanced as the paper has it, gave masks a third larger
    than the truth; the docs' peer-benchmark page gives the numbers.

    Voxels labelled ``ignore_index`` (the 3D paper's unlabelled voxels) count in neither term;
    a weight of 0 removes a pixel from the CE only.

    Args:
        ce_weight: factor of the cross-entropy term, >= 0.
        dice_weight: factor of the Dice term, >= 0 (0: the paper's loss).
        include_background: average the Dice over class 0 as well.
        ignore_index: a label value that is not a class (None: every value is a class).
        smooth: added to the Dice numerator and denominator.

    Shapes:
        input: logits ``(B, C, H', W'[, D'])``, ``C >= 2``; target: class indices
        ``(B, 1, H, W[, D])`` (or a mapping with ``"label"`` and ``"weight"``, as the trainer
        passes it), centre-cropped to the logits; weight: ``(B, 1, H, W[, D])``.

    Example::

        >>> import torch
        >>> loss = PixelWeightedDiceCELoss()
        >>> logits = torch.zeros(1, 2, 4, 4)
        >>> label = torch.ones(1, 1, 4, 4)
        >>> round(loss(logits, {"label": label, "weight": torch.ones(1, 1, 4, 4)}).item(), 4)
        1.0265
    """

    def __init__(
        self,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        include_background: bool = False,
        ignore_index: int | None = None,
        smooth: float = 1e-5,
    ) -> None:
        for name, value in (("ce_weight", ce_weight), ("dice_weight", dice_weight)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
        if ce_weight == 0 and dice_weight == 0:
            raise ValueError("ce_weight and dice_weight are both 0: the loss would be constant.")
        if not smooth >= 0:
            raise ValueError(f"smooth must be >= 0, got {smooth!r}.")
        super().__init__()
        self.ce = PixelWeightedCrossEntropyLoss(ignore_index=ignore_index)
        self.ce_weight, self.dice_weight = float(ce_weight), float(dice_weight)
        self.include_background, self.ignore_index, self.smooth = include_background, ignore_index, float(smooth)

    def forward(
        self,
        input: torch.Tensor,
        target: torch.Tensor | Mapping[str, torch.Tensor],
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The combined loss of ``input`` logits against ``target`` (see the class docstring)."""
        label, weight = PixelWeightedCrossEntropyLoss._unpack(target, weight)
        loss = input.new_zeros((), dtype=torch.float32)
        if self.ce_weight:
            loss = loss + self.ce_weight * self.ce(input, label, weight)
        if self.dice_weight:
            loss = loss + self.dice_weight * (1.0 - self.soft_dice(input, label))
        return loss

    def soft_dice(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Batch soft Dice of ``logits`` ``(B, C, *S')`` against class indices ``(B, 1, *S)``."""
        num_classes = logits.shape[1]
        if num_classes < 2:
            raise ValueError(
                f"the Dice term needs soft-max logits with >= 2 channels, got {num_classes}; "
                "use dice_weight=0 for a single-channel output."
            )
        logits = _plain(logits).float()
        indices = center_crop_to_prediction(_plain(torch.as_tensor(label)), logits.shape, "target").long()
        labelled = torch.ones_like(indices, dtype=torch.bool)
        if self.ignore_index is not None:
            labelled = indices != self.ignore_index
            indices = torch.where(labelled, indices, torch.zeros_like(indices))
        probabilities = torch.softmax(logits, dim=1) * labelled
        one_hot = F.one_hot(indices[:, 0].clamp(0, num_classes - 1), num_classes).movedim(-1, 1) * labelled
        axes = [0, *range(2, logits.dim())]
        intersection = (probabilities * one_hot).sum(axes)
        total = probabilities.sum(axes) + one_hot.sum(axes)
        dice = (2 * intersection + self.smooth) / (total + self.smooth)
        return dice.mean() if self.include_background else dice[1:].mean()
