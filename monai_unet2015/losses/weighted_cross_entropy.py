"""Pixel-weighted soft-max cross entropy (Ronneberger et al. 2015, eq. 1)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from monai_unet2015.networks.blocks import center_crop
from monai_unet2015.options import option

__all__ = ["PixelWeightedCrossEntropyLoss", "center_crop_to_prediction"]


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    """A MetaTensor as a plain tensor (same memory, same autograd graph): no metadata work per op."""
    return tensor.as_subclass(torch.Tensor) if type(tensor) is not torch.Tensor else tensor


def center_crop_to_prediction(tensor: torch.Tensor, prediction_shape: torch.Size, name: str) -> torch.Tensor:
    """Crop the spatial centre of ``tensor`` ``(B, C, *S)`` to the spatial size of a prediction.

    A valid-convolution net's output is the centre of its input, smaller by the same even
    number of pixels on every axis, so a label or weight map the size of the input is
    cropped by half that difference on each side. A label smaller than the prediction, or
    an odd difference (no exact centre), is an error: either would misalign label and
    output.

    Args:
        tensor: ``(B, C, *S)`` label or weight map.
        prediction_shape: ``(B, C', *S')`` of the prediction, ``S' <= S``.
        name: the argument's name for the error message.
    """
    if tensor.dim() != len(prediction_shape):
        raise ValueError(
            f"{name} must have the prediction's {len(prediction_shape)} dimensions (B, C, *spatial), "
            f"got shape {tuple(tensor.shape)} for a prediction of shape {tuple(prediction_shape)}."
        )
    if tensor.shape[0] != prediction_shape[0]:
        raise ValueError(f"{name} has batch size {tensor.shape[0]}, the prediction {prediction_shape[0]}.")
    return center_crop(tensor, prediction_shape[2:], name)


def _check_weight(weight: torch.Tensor) -> None:
    """Negative weights make the loss climb instead of fall; NaN / inf poison every gradient."""
    bad = ~torch.isfinite(weight) | (weight < 0)
    if bad.any():
        value = weight[bad][0].item()
        raise ValueError(
            f"weight must be finite and >= 0 everywhere (0 = not labelled), got {value} at {int(bad.sum())} "
            "pixel(s): recompute the weight map, or clamp it to >= 0."
        )


def _check_integer(target: torch.Tensor) -> None:
    """A fractional class index would be truncated by ``long()``: a silently wrong label."""
    if target.is_floating_point():
        fractional = target != torch.round(target)
        if fractional.any():
            value = target[fractional][0].item()
            raise ValueError(
                f"target holds class indices, but {int(fractional.sum())} value(s) are not integers (e.g. {value}): "
                "resample labels with nearest-neighbour interpolation (mode='nearest'), or pass one-hot targets."
            )


class PixelWeightedCrossEntropyLoss(_Loss):
    r"""Soft-max cross entropy in which every pixel has its own weight (the paper's energy).

    :math:`E = -\sum_{x \in \Omega} w(x) \log p_{\ell(x)}(x)` (Ronneberger et al. 2015, eq. 1)
    with :math:`p` the pixel-wise soft-max over the output channels, :math:`\ell(x)` the true
    class of pixel :math:`x` and :math:`w` the weight map of
    :class:`~monai_unet2015.transforms.BorderWeightMap`. A single output channel uses the
    sigmoid (binary cross entropy) instead. Weight 0 means "not labelled": such pixels add
    nothing to the loss and get zero gradient, which is how Çiçek et al. 2016 train on
    sparse annotation; ``ignore_index`` marks them in the label instead.

    Labels and weights larger than the prediction (the input-sized ground truth of a
    valid-convolution net) are centre-cropped to it; see :func:`center_crop_to_prediction`.
    The loss is computed in float32 whatever the input's dtype, so it is safe under
    ``torch.autocast`` with bf16 / fp16.

    ``reduction="mean"`` divides the weighted sum by the number of labelled pixels (weight
    not 0), so it is the paper's energy per labelled pixel: the relative weight of border
    and interior pixels is kept (a mean normalised by the sum of weights would undo part
    of it), and a batch with no labelled pixel gives 0, not NaN. ``"sum"`` is the paper's
    ``E``; ``"none"`` returns the per-pixel terms ``(B, 1, *S')``.

    Args:
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        ignore_index: a label value that marks unlabelled pixels (weight 0), for
            class-index targets; None (default) for none.

    Shapes:
        - input: logits ``(B, C, H, W[, D])``, C >= 2 for soft-max, C == 1 for sigmoid.
        - target: class indices ``(B, 1, H', W'[, D'])`` or one-hot / class probabilities
          ``(B, C, H', W'[, D'])``, ``H' >= H`` and so on; or a mapping with keys
          ``"label"`` and ``"weight"`` as :class:`~monai_unet2015.engines.PrepareBatchWeightMap`
          hands it over inside ``monai.engines.SupervisedTrainer``.
        - weight: None (all 1) or ``(B, 1, H', W'[, D'])``, finite and ``>= 0``.

    Raises:
        ValueError: a negative or non-finite weight, a fractional class index (a label
            resampled with interpolation), a class index outside ``0..C-1`` that is not
            ``ignore_index``, or shapes that do not fit.

    Reference:
        O. Ronneberger, P. Fischer, T. Brox. U-Net. MICCAI 2015, section 3, eq. 1.
        Ö. Çiçek et al. 3D U-Net. MICCAI 2016, section 2 (weight 0 for unlabelled voxels).

    Example::

        >>> import torch
        >>> logits = torch.zeros(1, 2, 4, 4)  # p = 0.5 everywhere
        >>> label = torch.ones(1, 1, 8, 8)  # input-sized: cropped to the centre 4x4
        >>> weight = torch.ones(1, 1, 8, 8)
        >>> weight[..., :4, :] = 0  # the upper half of the crop is unlabelled
        >>> loss = PixelWeightedCrossEntropyLoss()(logits, label, weight)
        >>> round(loss.item(), 4)  # -log(0.5) per labelled pixel
        0.6931
    """

    def __init__(self, reduction: str = "mean", ignore_index: int | None = None) -> None:
        reduction = option("reduction", reduction, LossReduction).value
        if ignore_index is not None and (not isinstance(ignore_index, int) or isinstance(ignore_index, bool)):
            raise TypeError(f"ignore_index must be an int or None, got {ignore_index!r}.")
        super().__init__(reduction=reduction)
        self.ignore_index = ignore_index

    def forward(
        self,
        input: torch.Tensor,
        target: torch.Tensor | Mapping[str, torch.Tensor],
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weighted cross entropy of ``input`` logits against ``target`` (see the class docstring)."""
        target, weight = self._unpack(target, weight)
        if input.dim() not in (4, 5):
            raise ValueError(f"input must be (B, C, H, W[, D]) logits, got shape {tuple(input.shape)}.")
        input = _plain(input)
        target = center_crop_to_prediction(_plain(torch.as_tensor(target)), input.shape, "target")
        if weight is not None:
            weight = center_crop_to_prediction(_plain(torch.as_tensor(weight)), input.shape, "weight")
            if weight.shape[1] != 1:
                raise ValueError(f"weight must have one channel (B, 1, *spatial), got shape {tuple(weight.shape)}.")
            _check_weight(weight)
        logits = input.float()
        if logits.shape[1] == 1:
            per_pixel, labelled = self._binary_terms(logits, target)
        else:
            per_pixel, labelled = self._softmax_terms(logits, target)
        pixel_weight = labelled.float() if weight is None else weight.float() * labelled
        weighted = torch.where(pixel_weight != 0, per_pixel * pixel_weight, torch.zeros_like(per_pixel))
        if self.reduction == "none":
            return weighted
        if self.reduction == "sum":
            return weighted.sum()
        return weighted.sum() / (pixel_weight != 0).sum().clamp_min(1)

    @staticmethod
    def _unpack(target, weight):
        if not isinstance(target, Mapping):
            return target, weight
        if "label" not in target:
            raise ValueError(f"a mapping target needs a 'label' entry, got keys {sorted(target)}.")
        if weight is not None and target.get("weight") is not None:
            raise ValueError("weight was given both in the target mapping and as an argument; give it once.")
        return target["label"], target.get("weight") if weight is None else weight

    def _labelled_mask(self, indices: torch.Tensor) -> torch.Tensor:
        if self.ignore_index is None:
            return torch.ones_like(indices, dtype=torch.bool)
        return indices != self.ignore_index

    def _softmax_terms(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        num_classes = logits.shape[1]
        log_p = F.log_softmax(logits, dim=1)
        if target.shape[1] == 1:
            _check_integer(target)
            indices = target.long()
            labelled = self._labelled_mask(indices)
            safe = torch.where(labelled, indices, torch.zeros_like(indices))
            out_of_range = (safe < 0) | (safe >= num_classes)
            if out_of_range.any():  # gather would fail with a device-side assert on CUDA
                bad = safe[out_of_range][0].item()
                raise ValueError(
                    f"target holds class index {bad}, but the input has {num_classes} channels "
                    f"(valid indices 0..{num_classes - 1}; set ignore_index for an 'unlabelled' value)."
                )
            return -log_p.gather(1, safe), labelled
        if target.shape[1] != num_classes:
            raise ValueError(
                f"target must have 1 channel (class indices) or the input's {num_classes} (one-hot), "
                f"got shape {tuple(target.shape)}."
            )
        per_pixel = -(target.float() * log_p).sum(1, keepdim=True)
        return per_pixel, torch.ones_like(per_pixel, dtype=torch.bool)

    def _binary_terms(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if target.shape[1] != 1:
            raise ValueError(f"a one-channel input needs a one-channel target, got shape {tuple(target.shape)}.")
        labelled = self._labelled_mask(target.long())
        probability = torch.where(labelled, target.float(), torch.zeros_like(logits))
        return F.binary_cross_entropy_with_logits(logits, probability, reduction="none"), labelled
