"""InstanceLabels(d): connected components of a mask, specks removed, metadata kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_unet2015.transforms import InstanceLabels, InstanceLabelsd


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_regions_are_numbered_and_specks_removed(as_tensor, spatial_dims):
    mask = np.zeros((1, 12, 12) + ((4,) if spatial_dims == 3 else ()), np.uint8)
    mask[0, 1:4, 1:4] = 1
    mask[0, 6:10, 6:10] = 1
    speck = (0, 11, 11) + ((0,) if spatial_dims == 3 else ())
    mask[speck] = 1  # one pixel
    image = torch.as_tensor(mask) if as_tensor else mask
    labels = InstanceLabels(min_size=2)(image)
    assert labels.shape == mask.shape and type(labels) is type(image)
    assert sorted(np.unique(np.asarray(labels)).tolist()) == [0, 1, 2]
    assert np.asarray(labels)[speck] == 0


def test_the_dictionary_version_keeps_the_mask_and_the_metadata():
    pred = MetaTensor(torch.tensor([[[1, 0, 1]]]), meta={"filename_or_obj": "a.png"})
    out = InstanceLabelsd("pred", min_size=0)({"pred": pred})
    assert out["pred"] is pred and out["instances"].tolist() == [[[1, 0, 2]]]
    assert out["instances"].meta["filename_or_obj"] == "a.png"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: InstanceLabels(min_size=-1), r"min_size must be an int >= 0, got -1"),
        (lambda: InstanceLabels()(np.zeros((2, 4, 4))), r"img must be one label map \(1, H, W\[, D\]\), got shape"),
        (lambda: InstanceLabelsd(["a", "b"]), r"keys must name one label map"),
    ],
)
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_instance_labels_split_touching_objects_with_a_split_distance():
    yy, xx = np.mgrid[:24, :40]
    mask = np.zeros((1, 24, 40), np.uint8)
    for cx in (10, 23):
        mask[0][(yy - 12) ** 2 + (xx - cx) ** 2 <= 64] = 1
    assert InstanceLabels()(mask).max() == 1
    assert InstanceLabels(split_distance=4)(mask).max() == 2


@pytest.mark.parametrize("distance", [0, 1.5, True])
def test_split_distance_must_be_an_int_of_at_least_one(distance):
    with pytest.raises(ValueError, match=f"split_distance must be an int >= 1 or None, got {distance!r}"):
        InstanceLabels(split_distance=distance)
