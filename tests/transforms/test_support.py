"""BackgroundOutsideSupportd: background exactly where the image is 0 in every channel, nothing else."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_unet2015.transforms import BackgroundOutsideSupportd

SHAPES = [(1, 6, 5), (2, 5, 4, 3)]


def _case(shape, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=shape).astype(np.float32)
    image[:, : shape[1] // 2] = 0.0  # outside the support: every channel 0
    labels = rng.integers(1, 4, size=(1, *shape[1:]))
    return image, labels


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
@pytest.mark.parametrize("as_type", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_outside_the_support_is_background_and_inside_is_kept(shape, as_type):
    image, labels = _case(shape)
    out = BackgroundOutsideSupportd("pred")({"image": as_type(image), "pred": as_type(labels)})["pred"]
    assert type(out) is type(as_type(labels))
    out = np.asarray(out)
    outside = (image == 0).all(axis=0, keepdims=True)
    assert (out[outside] == 0).all()
    np.testing.assert_array_equal(out[~outside], labels[~outside])


def test_a_voxel_zero_in_one_channel_only_is_inside():
    image = np.zeros((2, 3, 3), np.float32)
    image[1, 1, 1] = 5.0
    labels = np.full((1, 3, 3), 2)
    out = BackgroundOutsideSupportd("pred")({"image": image, "pred": labels})["pred"]
    assert out[0, 1, 1] == 2 and (out.sum() == 2)


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
def test_an_image_without_zeros_changes_nothing(shape):
    image, labels = _case(shape)
    image = image + 10.0
    out = BackgroundOutsideSupportd("pred")({"image": image, "pred": labels})["pred"]
    np.testing.assert_array_equal(out, labels)


def test_the_input_is_not_changed_in_place_and_metadata_is_kept():
    image, labels = _case((1, 6, 5))
    pred = MetaTensor(torch.as_tensor(labels), affine=torch.diag(torch.tensor([2.0, 3.0, 1.0, 1.0])))
    pred.applied_operations.append({"class": "Spacingd"})
    out = BackgroundOutsideSupportd("pred", background=3)({"image": torch.as_tensor(image), "pred": pred})["pred"]
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, pred.affine)
    assert out.applied_operations == pred.applied_operations
    assert (out[0, :3] == 3).all() and torch.equal(pred, torch.as_tensor(labels))


def test_a_label_map_on_another_grid_is_an_error():
    data = {"image": np.zeros((1, 4, 4)), "pred": np.zeros((1, 4, 5))}
    with pytest.raises(ValueError, match=r"'pred' has the spatial shape \(4, 5\), 'image' \(4, 4\).*before Invertd"):
        BackgroundOutsideSupportd("pred")(data)


@pytest.mark.parametrize("image_key", ["", None, 3])
def test_image_key_must_be_a_name(image_key):
    with pytest.raises(TypeError, match="image_key must be a non-empty string, got"):
        BackgroundOutsideSupportd("pred", image_key=image_key)


@pytest.mark.parametrize("background", [-1, 1.5, True])
def test_background_must_be_a_label(background):
    with pytest.raises(ValueError, match=rf"background must be a label >= 0, got {background!r}"):
        BackgroundOutsideSupportd("pred", background=background)
