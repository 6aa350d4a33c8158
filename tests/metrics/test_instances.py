"""The object-level measures against values worked out by hand, and as MONAI metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.handlers import IgniteMetricHandler

from monai_unet2015.metrics import (
    InstanceMatchingMetric,
    RandErrorMetric,
    SEGMeasureMetric,
    matching_scores,
    rand_error,
    seg_measure,
)


def squares(shape=(20, 20), boxes=((2, 2, 8, 8), (10, 10, 18, 18))) -> np.ndarray:
    labels = np.zeros(shape, np.int32)
    for value, (r0, c0, r1, c1) in enumerate(boxes, start=1):
        labels[r0:r1, c0:c1] = value
    return labels


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_identical_maps_score_perfectly_whatever_the_label_values(spatial_dims):
    truth = squares() if spatial_dims == 2 else np.stack([squares()] * 3, axis=-1)
    prediction = np.where(truth > 0, truth + 40, 0)  # other ids, same objects
    assert matching_scores(prediction, truth, (0.5, 0.9))[0.9]["f1"] == 1.0
    assert seg_measure(prediction, truth) == 1.0
    assert rand_error(prediction, truth) == 0.0


def test_a_missed_object_and_a_false_one():
    truth = squares()
    prediction = squares(boxes=((2, 2, 8, 8), (0, 12, 1, 13)))  # object 1 right, a one-pixel false positive
    scores = matching_scores(prediction, truth, (0.5,))[0.5]
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 1, 1)
    assert scores["f1"] == pytest.approx(0.5) and scores["ap"] == pytest.approx(1 / 3)
    assert seg_measure(prediction, truth) == pytest.approx(0.5)  # 1.0 and 0.0


def test_matching_depends_on_the_threshold():
    truth = squares(boxes=((0, 0, 10, 10),))
    prediction = squares(boxes=((0, 0, 10, 6),))  # IoU 0.6
    scores = matching_scores(prediction, truth, (0.5, 0.7))
    assert scores[0.5]["tp"] == 1 and scores[0.7]["tp"] == 0 and scores[0.7]["f1"] == 0.0
    assert seg_measure(prediction, truth) == pytest.approx(0.6)  # covers 60% > 50% of the object


def test_seg_measure_needs_more_than_half_of_the_true_object():
    truth = squares(boxes=((0, 0, 10, 10),))
    assert seg_measure(squares(boxes=((0, 0, 10, 5),)), truth) == 0.0  # exactly half: no match


def test_rand_error_counts_the_pairs_a_merge_gets_wrong():
    truth = np.array([[1, 1, 2, 2]])
    merged = np.array([[1, 1, 1, 1]])
    # 6 pixel pairs; the merge joins the 4 pairs across the two objects
    assert rand_error(merged, truth) == pytest.approx(4 / 6)


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r"prediction and truth must have one shape, got \(2, 2\) and \(3, 3\)"):
        matching_scores(np.zeros((2, 2)), np.zeros((3, 3)))


def test_monai_metrics_average_over_the_batch_and_run_as_ignite_handlers():
    truth = torch.as_tensor(np.stack([squares(), squares()]))[:, None]
    prediction = truth.clone()
    prediction[1, 0][prediction[1, 0] == 2] = 0  # the second item misses one object
    f1 = InstanceMatchingMetric(thresholds=(0.5,))
    assert f1(prediction, truth).squeeze(1).tolist() == [1.0, pytest.approx(2 / 3)]
    assert float(f1.aggregate()) == pytest.approx((1 + 2 / 3) / 2)
    seg, rand = SEGMeasureMetric(), RandErrorMetric()
    seg(prediction, truth), rand(prediction, truth)
    assert float(seg.aggregate()) == pytest.approx(0.75) and float(rand.aggregate()) > 0
    assert isinstance(IgniteMetricHandler(metric_fn=InstanceMatchingMetric()), IgniteMetricHandler)
    with pytest.raises(ValueError, match=r"instance label maps of one shape \(B, 1, H, W\[, D\]\)"):
        f1(prediction[:, 0], truth[:, 0])
    with pytest.raises(ValueError, match="score must be 'f1' or 'ap', got 'iou'"):
        InstanceMatchingMetric(score="iou")
