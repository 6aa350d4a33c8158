"""CenterCropToSize / CenterCropToReferenced: exact centre or a clear error; training_tile_crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import RandSpatialCropd

from monai_unet2015.transforms import (
    CenterCropToReferenced,
    CenterCropToSize,
    PadToValidTiled,
    ReachableClassIndices,
    ReachableClassIndicesd,
    training_tile_crop,
)

CASES = [((1, 12, 10), (8, 4), (2, 3)), ((2, 9, 8, 6), (5, 8, 2), (2, 0, 2))]


@pytest.mark.parametrize("shape, size, start", CASES)
@pytest.mark.parametrize("as_type", [np.asarray, torch.as_tensor])
def test_crop_is_the_exact_centre(shape, size, start, as_type):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    cropped = CenterCropToSize()(as_type(image), size)
    expected = image[(slice(None),) + tuple(slice(b, b + s) for b, s in zip(start, size))]
    np.testing.assert_array_equal(np.asarray(cropped), expected)


def test_metatensor_affine_follows_the_crop():
    image = MetaTensor(torch.zeros(1, 10, 10), affine=torch.diag(torch.tensor([2.0, 3.0, 1.0, 1.0])))
    cropped = CenterCropToSize()(image, (6, 4))
    assert cropped.affine[0, 3].item() == 4.0 and cropped.affine[1, 3].item() == 9.0


def test_dictionary_version_crops_to_the_reference():
    data = {"pred": torch.zeros(2, 4, 6), "label": torch.arange(80.0).reshape(1, 8, 10)}
    out = CenterCropToReferenced("label")(data)
    np.testing.assert_array_equal(out["label"].numpy(), data["label"][:, 2:6, 2:8].numpy())


def test_odd_difference_is_an_error_naming_the_key():
    with pytest.raises(ValueError, match=r"label spatial size \(9, 9\) .* difference of 5"):
        CenterCropToReferenced("label")({"pred": torch.zeros(2, 4, 4), "label": torch.zeros(1, 9, 9)})


def test_missing_reference_is_an_error():
    with pytest.raises(KeyError, match="reference_key 'pred' is not in the data"):
        CenterCropToReferenced("label")({"label": torch.zeros(1, 4, 4)})


def test_reference_key_must_be_a_string():
    with pytest.raises(TypeError, match="reference_key must be a str"):
        CenterCropToReferenced("label", reference_key=3)


# training_tile_crop: uniform tiles, or tiles centred on a class drawn by ratios


@pytest.mark.parametrize("shape, roi", [((20, 24), (8, 8)), ((20, 24, 16), (8, 8, 6))])
def test_without_ratios_the_tile_is_a_uniform_random_crop(shape, roi):
    crop = training_tile_crop(["image", "label"], roi)
    assert isinstance(crop, RandSpatialCropd)
    out = crop({"image": torch.zeros(1, *shape), "label": torch.zeros(1, *shape)})
    assert out["image"].shape[1:] == roi and out["label"].shape[1:] == roi


@pytest.mark.parametrize(
    "shape, roi, output, voxels",
    [
        ((20, 20), (44, 44), (4, 4), [(0, 0), (19, 5)]),
        ((16, 18, 12), (28, 28, 28), (4, 4, 4), [(0, 0, 0), (15, 9, 11)]),
        ((9, 11), (13, 13), (3, 3), [(0, 10), (8, 0)]),
    ],
)
@pytest.mark.parametrize("as_type", [np.asarray, torch.as_tensor])
def test_a_drawn_class_is_always_in_the_part_of_the_tile_the_loss_sees(shape, roi, output, voxels, as_type):
    """Even on the image border: PadToValidTiled's margin, then a tile centred on a class-1 voxel."""
    label = np.zeros((1, *shape), np.float32)
    for voxel in voxels:
        label[(0, *voxel)] = 1
    pad = PadToValidTiled(["image", "label"], roi_size=roi, output_size=output)
    padded = pad({"image": as_type(np.random.rand(1, *shape).astype(np.float32)), "label": as_type(label)})
    with pytest.warns(UserWarning, match=r"ratios \[0.0, 1.0\] give the background no weight"):
        crop = training_tile_crop(["image", "label"], roi, ratios=[0.0, 1.0], num_classes=2, output_size=output)
    crop.set_random_state(0)
    for _ in range(20):
        tile = crop(padded)[0]
        assert tile["label"].shape[1:] == roi
        assert np.asarray(CenterCropToSize()(tile["label"], output)).sum() >= 1


def test_ratios_draw_the_classes_in_proportion():
    label = torch.zeros(1, 40, 40)
    label[0, 5, 5], label[0, 30, 30] = 1, 2
    with pytest.warns(UserWarning, match="give the background no weight"):
        crop = training_tile_crop(["label"], (6, 6), ratios=[0.0, 3.0, 1.0], num_classes=3, output_size=(2, 2))
    crop.set_random_state(0)
    centres = [int(crop({"label": label})[0]["label"][0, 3, 3]) for _ in range(400)]
    assert 0.65 < centres.count(1) / 400 < 0.85 and centres.count(1) + centres.count(2) == 400


@pytest.mark.parametrize(
    "ratios, num_classes, message",
    [
        ([1.0, 1.0], None, r"num_classes must be an int >= 2 with ratios, got None"),
        ([1.0, 1.0], True, r"num_classes must be an int >= 2 with ratios, got True"),
        ([1.0, 1.0], 3, r"ratios must be a list of 3 weights \(one per class\), got \[1.0, 1.0\]"),
        ("11", 2, r"ratios must be a list of 2 weights \(one per class\), got '11'"),
        ([1.0, -1.0], 2, r"ratios must be finite weights >= 0, not all zero, got \[1.0, -1.0\]"),
        ([0, 0], 2, r"ratios must be finite weights >= 0, not all zero, got \[0, 0\]"),
        ([1.0, float("nan")], 2, r"ratios must be finite weights >= 0, not all zero, got \[1.0, nan\]"),
        ([1.0, "a"], 2, r"ratios must be finite weights >= 0, not all zero, got \[1.0, 'a'\]"),
    ],
)
def test_invalid_ratios_are_errors_naming_the_argument(ratios, num_classes, message):
    with pytest.raises(ValueError, match=message):
        training_tile_crop(["image", "label"], (8, 8), ratios=ratios, num_classes=num_classes, output_size=(4, 4))


def test_without_background_weight_a_case_lacking_the_weighted_classes_stops_the_crop():
    """The warning's promise: MONAI's crop has no centre to draw for such a case."""
    with pytest.warns(UserWarning, match="a training case with none of the weighted classes"):
        crop = training_tile_crop(["label"], (6, 6), ratios=[0, 1], num_classes=2, output_size=(2, 2))
    with pytest.raises(RuntimeError, match="RandCropByLabelClassesd"):
        crop({"label": torch.zeros(1, 12, 12)})
    weighted = training_tile_crop(["label"], (6, 6), ratios=[0.1, 1], num_classes=2, output_size=(2, 2))
    assert weighted({"label": torch.zeros(1, 12, 12)})[0]["label"].shape == (1, 6, 6)


def test_class_centred_tiles_need_the_output_size():
    with pytest.raises(ValueError, match=r"output_size \(the net's output for roi_size\) is needed with ratios"):
        training_tile_crop(["image", "label"], (8, 8), ratios=[1, 1], num_classes=2)


@pytest.mark.parametrize("as_type", [np.asarray, torch.as_tensor])
def test_reachable_indices_leave_out_the_margin_no_output_reaches(as_type):
    label = np.zeros((1, 10, 8, 6), np.float32)
    label[0, 1, 4, 3] = label[0, 5, 4, 3] = label[0, 5, 7, 3] = 2
    indices = ReachableClassIndices(3, (6, 6, 4), (2, 2, 2))(as_type(label))
    assert len(indices) == 3 and len(indices[1]) == 0
    assert np.asarray(indices[2]).tolist() == [np.ravel_multi_index((5, 4, 3), (10, 8, 6))]
    assert len(indices[0]) == 6 * 4 * 4 - 1


def test_the_dictionary_version_stores_the_indices_beside_the_label():
    label = torch.zeros(1, 6, 6)
    label[0, 3, 3] = 1
    out = ReachableClassIndicesd("label", 2, (4, 4), (2, 2), indices_postfix="_at")({"label": label})
    assert out["label"] is label and [i.tolist() for i in out["label_at"]][1] == [21]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, r"num_classes must be an int >= 2, got 1"),
        ({"output_size": (3, 3)}, r"roi_size"),
    ],
)
def test_invalid_reachable_indices_arguments_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReachableClassIndices(**{"num_classes": 2, "roi_size": (8, 8), "output_size": (4, 4), **kwargs})


def test_a_label_of_other_dimensions_is_an_error():
    with pytest.raises(ValueError, match=r"label must be \(1, \*spatial\) with 2 spatial axes, got \(1, 6, 6, 6\)"):
        ReachableClassIndices(2, (4, 4), (2, 2))(torch.zeros(1, 6, 6, 6))
