"""The real-data benchmark's own arithmetic: the colony window, renumbering, pooled scores.

The benchmark fetches its images from the registries; these tests use small generated arrays
and need no network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from peer_nnunet import pooled_instance_scores  # noqa: E402
from real_data import colony_window, renumbered  # noqa: E402
from real_data_quality import instance_scores, otsu_watershed  # noqa: E402


def test_colony_window_is_centred_on_the_labelled_pixels():
    mask = np.zeros((100, 120), np.uint16)
    mask[40:50, 60:80] = 7
    rows, cols = colony_window(mask, (30, 40))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (30, 60, 50, 90)
    assert mask[rows, cols].sum() == mask.sum()


def test_colony_window_stays_inside_the_image():
    mask = np.zeros((100, 120), np.uint16)
    mask[0:5, 115:120] = 1
    rows, cols = colony_window(mask, (30, 40))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 30, 80, 120)


def test_colony_window_rejects_a_colony_larger_than_the_window():
    mask = np.zeros((100, 120), np.uint16)
    mask[10:60, 10:20] = 1
    with pytest.raises(ValueError, match="span 50 px, more than the window's 30"):
        colony_window(mask, (30, 40))


def test_colony_window_rejects_an_empty_mask():
    with pytest.raises(ValueError, match="no labelled pixel"):
        colony_window(np.zeros((10, 10), np.uint16), (5, 5))


def test_renumbered_keeps_the_objects_and_numbers_them_from_one():
    labels = np.array([[0, 582, 582], [0, 17, 0], [301, 0, 0]], np.uint16)
    expected = np.array([[0, 3, 3], [0, 1, 0], [2, 0, 0]], np.uint16)
    np.testing.assert_array_equal(renumbered(labels), expected)


def test_renumbered_without_background():
    np.testing.assert_array_equal(renumbered(np.array([[5, 9]])), [[1, 2]])


def _two_squares(shift: int = 0) -> np.ndarray:
    labels = np.zeros((20, 20), np.int32)
    labels[2:8, 2 + shift : 8 + shift] = 1
    labels[12:18, 12:18] = 2
    return labels


def test_pooled_scores_count_every_object_once():
    truths = [_two_squares(), _two_squares()]
    # the first image is segmented exactly; the second finds one of its two objects
    second = _two_squares()
    second[second == 2] = 0
    pooled = pooled_instance_scores(truths, [_two_squares(), second])
    assert pooled["true_objects"] == 4
    assert pooled["objects"] == 3
    assert pooled["f1_iou0.5"] == pytest.approx(2 * 3 / (3 + 4), abs=1e-4)


def test_pooled_scores_match_objects_within_their_own_image():
    # the same ids in both images must not make the second image's object match the first's
    truths = [_two_squares(), _two_squares()]
    pooled = pooled_instance_scores(truths, [_two_squares(), _two_squares()])
    assert pooled["f1_iou0.5"] == 1.0
    assert pooled["true_objects"] == 4


def test_pooled_scores_of_one_image_are_its_scores():
    truth, prediction = _two_squares(), _two_squares(shift=2)
    assert pooled_instance_scores([truth], [prediction]) == instance_scores(truth, prediction)


def test_pooled_scores_reject_unequal_counts():
    with pytest.raises(ValueError, match="2 truth images but 1 predictions"):
        pooled_instance_scores([_two_squares(), _two_squares()], [_two_squares()])


@pytest.mark.parametrize("dark_objects", [False, True])
def test_otsu_watershed_finds_bright_or_dark_objects(dark_objects):
    truth = _two_squares()
    background, objects = (200.0, 20.0) if dark_objects else (20.0, 200.0)
    image = np.where(truth > 0, objects, background).astype(np.float32)
    found = otsu_watershed(image, min_size=5, dark_objects=dark_objects)
    assert instance_scores(truth, found)["f1_iou0.5"] == 1.0
