"""Object-level scores of instance label maps: the paper's measures, as functions and MONAI metrics.

Ronneberger et al. 2015 report the ISBI 2012 EM challenge's *Rand error* and the ISBI cell
tracking challenge's *IoU*; cell segmentation is judged today by object matching: *F1* and
*average precision* (the Data Science Bowl 2018 / StarDist "accuracy" TP / (TP + FP + FN)) at
IoU thresholds, and the cell tracking challenge's *SEG* measure (Maška et al. 2014). Inputs
are label maps of the same shape, 0 = background, every other value one object (a binary
mask is one object per connected region only after
:func:`~monai_unet2015.transforms.label_instances`).

All pairwise overlaps come from one contingency table of (prediction, truth) labels, so the
cost is one pass over the pixels whatever the number of objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics import CumulativeIterationMetric
from scipy.optimize import linear_sum_assignment

__all__ = [
    "overlap_table",
    "matching_scores",
    "seg_measure",
    "rand_error",
    "InstanceMatchingMetric",
    "SEGMeasureMetric",
    "RandErrorMetric",
]


def _dense(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renumbered 0..K (0 stays background) and K."""
    values, inverse = np.unique(np.asarray(labels).ravel(), return_inverse=True)
    if values[0] != 0:  # no background pixel: make room for label 0
        inverse = inverse + 1
        return inverse, len(values)
    return inverse, len(values) - 1


def overlap_table(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(K_pred + 1, K_true + 1)`` pixel counts of every (prediction, truth) label pair; 0 = background."""
    prediction, truth = np.asarray(prediction), np.asarray(truth)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction and truth must have one shape, got {prediction.shape} and {truth.shape}.")
    p, kp = _dense(prediction)
    t, kt = _dense(truth)
    return np.bincount(p * (kt + 1) + t, minlength=(kp + 1) * (kt + 1)).reshape(kp + 1, kt + 1)


def _iou(table: np.ndarray) -> np.ndarray:
    """IoU of every predicted object (rows) with every true object (columns), background left out."""
    intersection = table[1:, 1:].astype(np.float64)
    pred_sizes, true_sizes = table[1:, :].sum(1), table[:, 1:].sum(0)
    union = pred_sizes[:, None] + true_sizes[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def matching_scores(prediction: np.ndarray, truth: np.ndarray, thresholds: Sequence[float] = (0.5,)) -> dict:
    """Objects matched one-to-one by IoU (Hungarian), counted per IoU threshold.

    Returns ``{threshold: {"tp", "fp", "fn", "precision", "recall", "f1", "ap"}}``, with
    ``ap = tp / (tp + fp + fn)`` (the DSB 2018 / StarDist average precision at one threshold).
    Two empty maps score 1.

    Example::

        >>> truth = np.array([[1, 1, 0, 2, 2]])
        >>> scores = matching_scores(np.array([[1, 1, 0, 0, 0]]), truth)[0.5]
        >>> scores["tp"], scores["fn"], scores["f1"]
        (1, 1, 0.6666666666666666)
    """
    iou = _iou(overlap_table(prediction, truth))
    num_pred, num_true = iou.shape
    rows, cols = linear_sum_assignment(-iou) if iou.size else (np.array([], int), np.array([], int))
    matched = iou[rows, cols]
    scores = {}
    for threshold in thresholds:
        if not 0 <= threshold <= 1:
            raise ValueError(f"thresholds must be in [0, 1], got {threshold!r}.")
        tp = int((matched >= threshold).sum()) if threshold > 0 else int((matched > 0).sum())
        fp, fn = num_pred - tp, num_true - tp
        total = tp + fp + fn
        scores[threshold] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if total else 1.0,
            "ap": tp / total if total else 1.0,
        }
    return scores


def seg_measure(prediction: np.ndarray, truth: np.ndarray) -> float:
    """The cell tracking challenge's SEG: mean over true objects of the IoU with their match.

    A true object R matches the predicted object S with ``|R ∩ S| > 0.5 |R|`` (at most one
    can); without a match it scores 0. NaN when the truth has no object.

    Example::

        >>> seg_measure(np.array([[1, 1, 1, 0]]), np.array([[1, 1, 0, 0]]))
        0.6666666666666666
    """
    table = overlap_table(prediction, truth)
    intersection, true_sizes = table[1:, 1:], table[:, 1:].sum(0)
    if intersection.shape[1] == 0:
        return float("nan")
    iou = _iou(table)
    matched = intersection > 0.5 * true_sizes[None, :]
    return float((iou * matched).max(axis=0, initial=0.0).mean())


def rand_error(prediction: np.ndarray, truth: np.ndarray) -> float:
    """1 - Rand index over all pixel pairs: the share of pairs the two label maps disagree on.

    Two pixels agree when both maps put them in one segment, or both in different ones; the
    background is one segment. 0 for identical partitions (whatever the label values).

    Example::

        >>> rand_error(np.array([[1, 1, 2, 2]]), np.array([[5, 5, 7, 7]]))
        0.0
    """
    table = overlap_table(prediction, truth).astype(np.float64)
    n = table.sum()
    if n < 2:
        return 0.0
    pairs = n * (n - 1) / 2
    same_both = (table * (table - 1) / 2).sum()
    same_pred = (table.sum(1) * (table.sum(1) - 1) / 2).sum()
    same_true = (table.sum(0) * (table.sum(0) - 1) / 2).sum()
    agreements = pairs + 2 * same_both - same_pred - same_true
    return float(1.0 - agreements / pairs)


def _label_maps(y_pred: torch.Tensor, y: torch.Tensor):
    """Per batch item, the two label maps as numpy arrays: ``(B, 1, *S)`` tensors in."""
    if y_pred.shape != y.shape or y_pred.ndim < 3 or y_pred.shape[1] != 1:
        raise ValueError(
            f"y_pred and y must be instance label maps of one shape (B, 1, H, W[, D]), got {tuple(y_pred.shape)} "
            f"and {tuple(y.shape)}."
        )
    for pred, truth in zip(y_pred, y):
        yield pred[0].detach().cpu().numpy(), truth[0].detach().cpu().numpy()


class _PerItemMetric(CumulativeIterationMetric):
    """A MONAI cumulative metric of one score per batch item, averaged by :meth:`aggregate`."""

    def _score(self, prediction: np.ndarray, truth: np.ndarray) -> list[float]:
        raise NotImplementedError

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("y (the true instance labels) is required.")
        rows = [self._score(pred, truth) for pred, truth in _label_maps(y_pred, y)]
        return torch.tensor(rows, dtype=torch.float64, device=y_pred.device)

    def aggregate(self) -> torch.Tensor:
        """Mean over the items seen (NaN items, e.g. no true object, left out), per column."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor) or data.numel() == 0:
            raise ValueError("no scores: call the metric on batches first.")
        return torch.nanmean(data, dim=0).squeeze()


class InstanceMatchingMetric(_PerItemMetric):
    """Object F1 (or average precision) at IoU thresholds, as a MONAI metric.

    Shapes:
        ``y_pred``, ``y``: ``(B, 1, H, W[, D])`` instance label maps; one row of
        ``len(thresholds)`` scores per item; :meth:`aggregate` gives their mean.

    Args:
        thresholds: IoU thresholds (default 0.5).
        score: ``"f1"`` or ``"ap"`` (TP / (TP + FP + FN)).

    Example::

        >>> import torch
        >>> metric = InstanceMatchingMetric(thresholds=(0.5, 0.9))
        >>> truth = torch.tensor([[[[1, 1, 0, 2, 2]]]])
        >>> metric(truth.clone(), truth).tolist()
        [[1.0, 1.0]]
    """

    def __init__(self, thresholds: Sequence[float] = (0.5,), score: str = "f1") -> None:
        super().__init__()
        if score not in ("f1", "ap"):
            raise ValueError(f"score must be 'f1' or 'ap', got {score!r}.")
        self.thresholds, self.score = tuple(float(t) for t in thresholds), score

    def _score(self, prediction: np.ndarray, truth: np.ndarray) -> list[float]:
        scores = matching_scores(prediction, truth, self.thresholds)
        return [scores[t][self.score] for t in self.thresholds]


class SEGMeasureMetric(_PerItemMetric):
    """The cell tracking challenge's SEG measure (:func:`seg_measure`) as a MONAI metric.

    Shapes:
        ``y_pred``, ``y``: ``(B, 1, H, W[, D])`` instance label maps.
    """

    def _score(self, prediction: np.ndarray, truth: np.ndarray) -> list[float]:
        return [seg_measure(prediction, truth)]


class RandErrorMetric(_PerItemMetric):
    """The Rand error (:func:`rand_error`, ISBI 2012, the paper's EM measure) as a MONAI metric.

    Shapes:
        ``y_pred``, ``y``: ``(B, 1, H, W[, D])`` label maps.
    """

    def _score(self, prediction: np.ndarray, truth: np.ndarray) -> list[float]:
        return [rand_error(prediction, truth)]
