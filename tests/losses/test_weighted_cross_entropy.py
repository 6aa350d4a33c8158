"""PixelWeightedCrossEntropyLoss: the paper's energy, cropping, sparse labels, autocast."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_unet2015.losses import PixelWeightedCrossEntropyLoss, center_crop_to_prediction
from tests.conftest import cuda_or_skip

SPATIAL = [(5, 6), (4, 5, 3)]


def hand_computed(logits: np.ndarray, indices: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """-w * log softmax(logits)[label], pixel by pixel, in float64."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = np.take_along_axis(log_p, indices, axis=1)
    return -weight * picked


@pytest.mark.parametrize("spatial", SPATIAL)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_equals_hand_computation(spatial, reduction):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (2, 3, *spatial))
    indices = rng.integers(0, 3, (2, 1, *spatial))
    weight = rng.uniform(0, 5, (2, 1, *spatial))
    weight[weight < 1] = 0  # some unlabelled pixels
    expected = hand_computed(logits, indices, weight)
    if reduction == "sum":
        expected = expected.sum()
    elif reduction == "mean":
        expected = expected.sum() / np.count_nonzero(weight)
    loss = PixelWeightedCrossEntropyLoss(reduction=reduction)(
        torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(indices), torch.as_tensor(weight)
    )
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spatial", SPATIAL)
def test_without_weight_equals_torch_cross_entropy(spatial):
    logits = torch.randn(2, 4, *spatial)
    indices = torch.randint(0, 4, (2, 1, *spatial))
    expected = torch.nn.functional.cross_entropy(logits, indices[:, 0])
    torch.testing.assert_close(PixelWeightedCrossEntropyLoss()(logits, indices), expected)


def test_one_hot_target_equals_index_target():
    logits = torch.randn(2, 3, 6, 6)
    indices = torch.randint(0, 3, (2, 1, 6, 6))
    one_hot = torch.nn.functional.one_hot(indices[:, 0], 3).permute(0, 3, 1, 2).float()
    weight = torch.rand(2, 1, 6, 6)
    loss = PixelWeightedCrossEntropyLoss()
    torch.testing.assert_close(loss(logits, one_hot, weight), loss(logits, indices, weight))


def test_one_channel_uses_sigmoid():
    logits = torch.randn(2, 1, 5, 5)
    target = torch.randint(0, 2, (2, 1, 5, 5)).float()
    weight = torch.rand(2, 1, 5, 5) + 0.1
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum")
    torch.testing.assert_close(PixelWeightedCrossEntropyLoss("sum")(logits, target, weight), expected)


@pytest.mark.parametrize("spatial", SPATIAL)
def test_input_sized_target_and_weight_are_centre_cropped(spatial):
    margin = 3
    big = tuple(s + 2 * margin for s in spatial)
    centre = (slice(None), slice(None)) + tuple(slice(margin, margin + s) for s in spatial)
    logits = torch.randn(1, 2, *spatial)
    indices = torch.randint(0, 2, (1, 1, *big))
    weight = torch.rand(1, 1, *big)
    loss = PixelWeightedCrossEntropyLoss()
    torch.testing.assert_close(loss(logits, indices, weight), loss(logits, indices[centre], weight[centre]))


def test_mapping_target_from_prepare_batch():
    logits = torch.randn(1, 2, 4, 4)
    label = torch.randint(0, 2, (1, 1, 4, 4))
    weight = torch.rand(1, 1, 4, 4)
    loss = PixelWeightedCrossEntropyLoss()
    torch.testing.assert_close(loss(logits, {"label": label, "weight": weight}), loss(logits, label, weight))


@pytest.mark.parametrize("spatial", SPATIAL)
def test_zero_weight_pixels_get_zero_gradient(spatial):
    logits = torch.randn(1, 3, *spatial, requires_grad=True)
    indices = torch.randint(0, 3, (1, 1, *spatial))
    weight = torch.ones(1, 1, *spatial)
    weight[:, :, 0] = 0
    PixelWeightedCrossEntropyLoss()(logits, indices, weight).backward()
    assert torch.all(logits.grad[:, :, 0] == 0)
    assert torch.all(logits.grad[:, :, 1:].abs().sum(1) > 0)


def test_ignore_index_marks_unlabelled_pixels():
    logits = torch.randn(1, 2, 4, 4, requires_grad=True)
    indices = torch.randint(0, 2, (1, 1, 4, 4))
    indices[..., :2, :] = 255
    loss = PixelWeightedCrossEntropyLoss(ignore_index=255)(logits, indices)
    loss.backward()
    assert torch.all(logits.grad[..., :2, :] == 0)
    expected = PixelWeightedCrossEntropyLoss()(logits[..., 2:, :], indices[..., 2:, :])
    torch.testing.assert_close(loss, expected)


def test_no_labelled_pixel_gives_zero_not_nan():
    logits = torch.randn(1, 2, 4, 4, requires_grad=True)
    loss = PixelWeightedCrossEntropyLoss()(logits, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_and_half_inputs_stay_finite(dtype):
    logits = (torch.randn(1, 2, 8, 8) * 3e3).to(dtype).requires_grad_()  # saturating logits
    indices = torch.randint(0, 2, (1, 1, 8, 8))
    weight = torch.full((1, 1, 8, 8), 10.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = PixelWeightedCrossEntropyLoss()(logits, indices, weight)
    loss.backward()
    assert loss.dtype == torch.float32
    assert math.isfinite(loss.item()) and torch.isfinite(logits.grad.float()).all()


def test_autocast_on_cuda():
    device = cuda_or_skip()
    net = torch.nn.Conv2d(1, 2, 3).to(device)
    image = torch.randn(1, 1, 16, 16, device=device)
    indices = torch.randint(0, 2, (1, 1, 16, 16), device=device)
    weight = torch.rand(1, 1, 16, 16, device=device)
    for dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cuda", dtype=dtype):
            loss = PixelWeightedCrossEntropyLoss()(net(image), indices, weight)
        loss.backward()
        assert loss.dtype == torch.float32 and math.isfinite(loss.item())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"reduction": "avg"}, ValueError, r"reduction: By 'avg', did you mean 'sum'\?"),
        ({"ignore_index": 1.5}, TypeError, "ignore_index must be an int"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PixelWeightedCrossEntropyLoss(**kwargs)


def test_label_smaller_than_prediction_is_an_error():
    with pytest.raises(ValueError, match=r"target spatial size \(3, 4\) cannot be centre-cropped .* difference of -1"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, 4, 4), torch.zeros(1, 1, 3, 4))


def test_odd_size_difference_is_an_error():
    with pytest.raises(ValueError, match="weight spatial size .* even number of pixels.*difference of 1"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, 4, 4), torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 5, 4))


def test_class_index_out_of_range_is_an_error():
    with pytest.raises(ValueError, match=r"class index 3, but the input has 2 channels \(valid indices 0..1"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, 2, 2), torch.full((1, 1, 2, 2), 3))


def test_wrong_target_channels_is_an_error():
    with pytest.raises(ValueError, match="1 channel .* or the input's 3"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, 2))


def test_weight_with_several_channels_is_an_error():
    with pytest.raises(ValueError, match="weight must have one channel"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, 2, 2), torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 2, 2))


def test_weight_given_twice_is_an_error():
    target = {"label": torch.zeros(1, 1, 2, 2), "weight": torch.ones(1, 1, 2, 2)}
    with pytest.raises(ValueError, match="weight was given both"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, 2, 2), target, torch.ones(1, 1, 2, 2))


def test_mapping_without_label_is_an_error():
    with pytest.raises(ValueError, match="needs a 'label' entry, got keys \\['weight'\\]"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, 2, 2), {"weight": torch.ones(1, 1, 2, 2)})


def test_batch_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="target has batch size 2, the prediction 1"):
        center_crop_to_prediction(torch.zeros(2, 1, 4, 4), torch.Size([1, 2, 4, 4]), "target")


def test_metatensor_inputs_give_a_plain_loss_with_gradients():
    from monai.data import MetaTensor

    logits = MetaTensor(torch.randn(1, 2, 4, 4), meta={"filename_or_obj": "x"}).requires_grad_()
    loss = PixelWeightedCrossEntropyLoss()(
        logits, MetaTensor(torch.ones(1, 1, 6, 6)), MetaTensor(torch.ones(1, 1, 6, 6))
    )
    loss.backward()
    assert type(loss) is torch.Tensor and logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_weight_is_an_error(bad):
    weight = torch.ones(1, 1, 2, 2)
    weight[0, 0, 1, 1] = bad
    with pytest.raises(ValueError, match=rf"weight must be finite and >= 0 everywhere .*got {bad} at 1 pixel"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, 2, 2), torch.zeros(1, 1, 2, 2), weight)


@pytest.mark.parametrize("spatial", [(2, 2), (2, 2, 2)])
def test_fractional_class_index_is_an_error(spatial):
    target = torch.zeros(1, 1, *spatial)
    target.view(-1)[0] = 0.5
    with pytest.raises(ValueError, match=r"1 value\(s\) are not integers \(e.g. 0.5\): .*nearest"):
        PixelWeightedCrossEntropyLoss()(torch.randn(1, 2, *spatial), target)


def test_integer_valued_float_targets_are_fine():
    loss = PixelWeightedCrossEntropyLoss()(torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.float32))
    assert loss.item() == pytest.approx(math.log(2))
