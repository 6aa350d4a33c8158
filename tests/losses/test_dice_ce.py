"""PixelWeightedDiceCELoss: the CE term is the paper's loss, the Dice term nnU-Net's batch Dice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_unet2015.losses import PixelWeightedCrossEntropyLoss, PixelWeightedDiceCELoss

SPATIAL = [(6, 5), (4, 5, 3)]


def _batch(spatial, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    logits = torch.as_tensor(rng.normal(0, 2, (2, classes, *spatial)), dtype=torch.float32)
    label = torch.as_tensor(rng.integers(0, classes, (2, 1, *spatial)))
    weight = torch.as_tensor(rng.uniform(0.5, 5, (2, 1, *spatial)), dtype=torch.float32)
    return logits, label, weight


def hand_dice(logits: torch.Tensor, label: torch.Tensor, classes: list[int]) -> float:
    """Mean over ``classes`` of 2|P*Y| / (|P| + |Y|), summed over batch and space, in float64."""
    probabilities = torch.softmax(logits.double(), dim=1)
    scores = []
    for c in classes:
        p, y = probabilities[:, c], (label[:, 0] == c).double()
        scores.append((2 * (p * y).sum() / (p.sum() + y.sum())).item())
    return float(np.mean(scores))


@pytest.mark.parametrize("spatial", SPATIAL)
def test_without_the_dice_term_it_is_the_papers_loss(spatial):
    logits, label, weight = _batch(spatial)
    combined = PixelWeightedDiceCELoss(dice_weight=0.0)(logits, {"label": label, "weight": weight})
    paper = PixelWeightedCrossEntropyLoss()(logits, label, weight)
    torch.testing.assert_close(combined, paper)


@pytest.mark.parametrize("spatial", SPATIAL)
@pytest.mark.parametrize("include_background", [False, True])
def test_the_dice_term_is_the_batch_soft_dice(spatial, include_background):
    logits, label, weight = _batch(spatial)
    loss = PixelWeightedDiceCELoss(ce_weight=0.0, include_background=include_background)
    classes = [0, 1, 2] if include_background else [1, 2]
    expected = 1 - hand_dice(logits, label, classes)
    assert loss(logits, {"label": label, "weight": weight}).item() == pytest.approx(expected, rel=1e-5)


def test_both_terms_add_with_their_factors():
    logits, label, weight = _batch((6, 5))
    ce = PixelWeightedCrossEntropyLoss()(logits, label, weight).item()
    dice = 1 - hand_dice(logits, label, [1, 2])
    loss = PixelWeightedDiceCELoss(ce_weight=0.5, dice_weight=2.0)(logits, label, weight)
    assert loss.item() == pytest.approx(0.5 * ce + 2.0 * dice, rel=1e-5)


def test_a_confident_correct_prediction_has_almost_no_dice_loss():
    label = torch.tensor([[[[0, 1], [1, 0]]]])
    logits = torch.cat([(label == 0).float(), (label == 1).float()], dim=1) * 40.0
    assert PixelWeightedDiceCELoss(ce_weight=0.0)(logits, label).item() < 1e-6


def test_the_label_is_cropped_to_a_valid_convolution_output():
    logits, label, _ = _batch((4, 4), classes=2)
    padded = torch.nn.functional.pad(label, (2, 2, 2, 2), value=1)
    loss = PixelWeightedDiceCELoss()
    torch.testing.assert_close(loss(logits, padded), loss(logits, label))


def test_ignored_voxels_count_in_neither_term():
    logits, label, _ = _batch((6, 5))
    marked = label.clone()
    marked[:, :, :2] = 255
    loss = PixelWeightedDiceCELoss(ignore_index=255)
    changed = logits.clone()
    changed[:, :, :2] = -changed[:, :, :2] * 7  # a different prediction where nothing is labelled
    torch.testing.assert_close(loss(logits, marked), loss(changed, marked))


def test_gradients_reach_the_logits():
    logits, label, weight = _batch((6, 5))
    logits.requires_grad_(True)
    PixelWeightedDiceCELoss()(logits, label, weight).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ce_weight": -1.0}, r"ce_weight must be a number >= 0, got -1.0"),
        ({"dice_weight": "1"}, r"dice_weight must be a number >= 0, got '1'"),
        ({"ce_weight": 0.0, "dice_weight": 0.0}, r"both 0"),
        ({"smooth": -1e-5}, r"smooth must be >= 0"),
    ],
)
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PixelWeightedDiceCELoss(**kwargs)


def test_a_single_channel_output_is_refused_by_the_dice_term():
    with pytest.raises(ValueError, match=r">= 2 channels, got 1; use dice_weight=0"):
        PixelWeightedDiceCELoss()(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4))
