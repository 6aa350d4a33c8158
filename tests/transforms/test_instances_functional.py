"""Instance labelling of a mask: connected components, specks removed, touching objects split."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from monai_unet2015.transforms import label_instances, split_touching
from tests.metrics.test_instances import squares


def test_label_instances_removes_specks_and_numbers_the_rest():
    mask = squares() > 0
    mask[0, 19] = True  # a speck
    assert label_instances(mask).max() == 3
    labels = label_instances(mask, min_size=2)
    assert labels.max() == 2 and labels[0, 19] == 0
    with pytest.raises(ValueError, match="min_size must be >= 0, got -1"):
        label_instances(mask, min_size=-1)


def _touching_discs(gap: int = 13) -> np.ndarray:
    yy, xx = np.mgrid[:24, :40]
    mask = np.zeros((24, 40), bool)
    for cx in (10, 10 + gap):
        mask[(yy - 12) ** 2 + (xx - cx) ** 2 <= 64] = True
    return mask


def test_split_touching_separates_two_touching_discs():
    mask = _touching_discs()
    assert ndimage.label(mask)[0].max() == 1
    labels = split_touching(mask, 4)
    assert labels.max() == 2 and set(np.unique(labels[mask])) == {1, 2} and (labels[~mask] == 0).all()
    left, right = (labels == 1).sum(), (labels == 2).sum()
    assert abs(int(left) - int(right)) <= 12  # cut near the middle


def test_split_touching_keeps_one_object_when_the_centres_are_closer_than_the_distance():
    assert split_touching(_touching_discs(), 15).max() == 1


def test_label_instances_splits_only_when_asked():
    mask = _touching_discs()
    assert label_instances(mask).max() == 1
    assert label_instances(mask, split_distance=4).max() == 2


@pytest.mark.parametrize("distance", [0, -1, 2.5, True])
def test_split_distance_must_be_a_positive_int(distance):
    with pytest.raises(ValueError, match=f"min_distance must be an int >= 1, got {distance!r}"):
        split_touching(_touching_discs(), distance)
