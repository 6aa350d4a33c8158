"""Hand the weight map of a batch to the loss inside ``monai.engines.SupervisedTrainer``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.engines import PrepareBatch

__all__ = ["PrepareBatchWeightMap"]


class PrepareBatchWeightMap(PrepareBatch):
    """``prepare_batch`` that returns ``(image, {"label": label, "weight": weight})``.

    ``SupervisedTrainer`` calls ``loss_function(pred, targets)`` with whatever the prepare
    batch returns as targets; handing over a mapping (as MONAI's ``PrepareBatchHoVerNet``
    does) lets :class:`~monai_unet2015.losses.PixelWeightedCrossEntropyLoss` read both the
    label and the per-pixel weight without subclassing the trainer.

    Args:
        image_key, label_key, weight_key: keys of the collated batch.

    Example::

        >>> import torch
        >>> ones = torch.ones(1, 1, 8, 8)
        >>> batch = {"image": ones, "label": ones, "weight": ones}
        >>> image, target = PrepareBatchWeightMap()(batch, device="cpu")
        >>> sorted(target), image.shape
        (['label', 'weight'], torch.Size([1, 1, 8, 8]))
    """

    def __init__(self, image_key: str = "image", label_key: str = "label", weight_key: str = "weight") -> None:
        for name, value in (("image_key", image_key), ("label_key", label_key), ("weight_key", weight_key)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {value!r}.")
        self.image_key, self.label_key, self.weight_key = image_key, label_key, weight_key

    def __call__(
        self,
        batchdata: Mapping[str, torch.Tensor],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not isinstance(batchdata, Mapping):
            raise TypeError(f"PrepareBatchWeightMap needs a dictionary batch, got {type(batchdata).__name__}.")
        for key in (self.image_key, self.label_key, self.weight_key):
            if key not in batchdata:
                hint = (
                    " Add BorderWeightMapd(keys='label', weight_key='weight') to the transforms."
                    if key == self.weight_key
                    else ""
                )
                raise KeyError(f"the batch has no {key!r} entry (it has {sorted(map(str, batchdata))}).{hint}")

        def to_device(key: str) -> torch.Tensor:
            return torch.as_tensor(batchdata[key]).to(device=device, non_blocking=non_blocking, **kwargs)

        return to_device(self.image_key), {"label": to_device(self.label_key), "weight": to_device(self.weight_key)}
