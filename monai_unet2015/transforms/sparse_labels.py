"""Scoring on partially annotated labels: voxels marked "not annotated" count for no metric.

Çiçek et al. 2016 train the 3D U-Net on sparse annotation: unlabeled voxels get weight 0 in
the loss (:class:`~monai_unet2015.losses.PixelWeightedCrossEntropyLoss` ``ignore_index``).
Validation must ignore them too: one-hot encoding the marker (e.g. 255) fails, and scoring
it as background would count every prediction there as a false positive.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.networks.utils import one_hot
from monai.transforms.transform import MapTransform
from monai.utils.enums import TransformBackends

__all__ = ["DiscretizeSparseLabeld"]


class DiscretizeSparseLabeld(MapTransform):
    """The label as one-hot (or 0 / 1), with ``ignore_index`` voxels removed from label and prediction.

    Where the label holds ``ignore_index``, every channel of both the label and the
    (already discretised) prediction becomes 0, so a Dice-style metric counts neither a hit
    nor a miss there. Without ``ignore_index`` this is ``AsDiscreted(to_onehot=...)`` on the label.

    Shapes:
        label ``(1, H, W[, D])`` of class indices in; ``(num_classes, H, W[, D])`` out
        (``(1, H, W[, D])`` of 0 / 1 for ``num_classes=1``). The prediction ``(num_classes, H, W[, D])``,
        discretised, keeps its shape.

    Args:
        label_key: the label's key.
        pred_key: the discretised prediction's key.
        num_classes: the network's output channels (1: a sigmoid net, labels 0 / 1).
        ignore_index: the "not annotated" value (None: every voxel is annotated).

    Example::

        >>> import torch
        >>> data = {"label": torch.tensor([[[0, 1, 255]]]), "pred": torch.tensor([[[1.0, 0, 0]], [[0, 1, 1]]])}
        >>> out = DiscretizeSparseLabeld(num_classes=2, ignore_index=255)(data)
        >>> out["label"].tolist(), out["pred"].tolist()
        ([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]], [[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]])
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self, label_key: str = "label", pred_key: str = "pred", num_classes: int = 2, ignore_index: int | None = None
    ) -> None:
        super().__init__(keys=[label_key, pred_key])
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}.")
        if ignore_index is not None and (not isinstance(ignore_index, int) or 0 <= ignore_index < num_classes):
            raise ValueError(
                f"ignore_index must be an int outside the classes 0..{num_classes - 1} (or None), got {ignore_index!r}."
            )
        self.label_key, self.pred_key = label_key, pred_key
        self.num_classes, self.ignore_index = num_classes, ignore_index

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        label = torch.as_tensor(d[self.label_key])
        annotated = None if self.ignore_index is None else label != self.ignore_index
        if annotated is not None:
            label = torch.where(annotated, label, torch.zeros_like(label))
        if self.num_classes == 1:
            label = (label > 0.5).to(torch.float32)
        else:
            label = one_hot(label.unsqueeze(0).long(), self.num_classes, dim=1).squeeze(0).float()
        if annotated is not None:
            label = label * annotated
            d[self.pred_key] = d[self.pred_key] * annotated.to(d[self.pred_key].device)
        d[self.label_key] = label
        return d
