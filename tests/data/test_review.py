"""The "needs review" flag: flips that disagree, volumes outside training, the field-of-view edge."""

from __future__ import annotations

import json

import pytest

from monai_unet2015.data.review import read_training_volumes, review_result


def structure(value=1, name="liver", volume=1500.0, edge=False):
    return {"value": value, "name": name, "volume_ml": volume, "touches_edge": edge}


TRAINED = [{"1": 1500.0, "2": 200.0}, {"1": 1800.0}]


def test_a_result_like_training_needs_no_review():
    review = review_result([structure(), structure(2, "spleen", 250.0)], [0.0, 0.03, 0.05], TRAINED)
    assert review == {"needs_review": False, "reasons": [], "structures": {}, "not_checked": []}


def test_flips_that_disagree_flag_the_structure():
    review = review_result([structure(), structure(2, "spleen", 250.0)], [0.0, 0.03, 0.25], TRAINED)
    assert review["reasons"] == ["spleen: the mirrored predictions disagree on 25% of its voxels (over 10%)"]
    assert review["structures"] == {"spleen": ["flips"]} and review["needs_review"]


@pytest.mark.parametrize(
    "volume, reason",
    [
        (500.0, "liver: 500 mL, outside what training saw (1500-1800 mL, x2 allowed: 750-3600 mL)"),
        (4000.0, "liver: 4000 mL, outside what training saw (1500-1800 mL, x2 allowed: 750-3600 mL)"),
        (0.0, "liver: absent, while every training case has it"),
    ],
)
def test_volumes_outside_training_are_flagged(volume, reason):
    assert review_result([structure(volume=volume)], None, TRAINED)["reasons"] == [reason]


def test_a_structure_some_training_cases_lack_may_be_absent():
    assert review_result([structure(2, "spleen", 0.0)], None, TRAINED)["reasons"] == []


def test_a_structure_at_the_image_edge_is_flagged():
    review = review_result([structure(edge=True)], None, None)
    (reason,) = review["reasons"]
    assert reason.startswith("liver: reaches the edge of the image") and review["structures"] == {"liver": ["edge"]}


def test_each_structure_lists_every_signal_that_flagged_it():
    review = review_result([structure(volume=9000.0, edge=True)], [0.0, 0.5], TRAINED)
    assert review["structures"] == {"liver": ["flips", "volume", "edge"]} and len(review["reasons"]) == 3


def test_what_could_not_be_checked_is_said():
    assert review_result([structure()])["not_checked"] == [
        "flip disagreement (the inference ran without flip_axes)",
        "volumes against training (no training_fingerprint)",
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"max_flip_disagreement": 1.5}, r"max_flip_disagreement must be in \[0, 1\], got 1.5"),
        ({"volume_tolerance": 0.5}, r"volume_tolerance must be >= 1, got 0.5"),
    ],
)
def test_thresholds_are_checked(arguments, message):
    with pytest.raises(ValueError, match=message):
        review_result([], **arguments)


def test_training_volumes_are_read_from_the_plan_record(tmp_path):
    path = tmp_path / "plan.fingerprint.json"
    path.write_text(json.dumps({"fingerprint": {"class_volumes_ml_per_case": [{"1": 12.5}]}}))
    assert read_training_volumes(path) == [{"1": 12.5}]
    assert read_training_volumes({"class_volumes_ml_per_case": [{"2": 3}]}) == [{"2": 3.0}]
    assert read_training_volumes(None) is None


def test_a_missing_or_old_fingerprint_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"training_fingerprint .*nowhere.json does not exist"):
        read_training_volumes(tmp_path / "nowhere.json")
    with pytest.raises(ValueError, match=r"holds no class_volumes_ml_per_case: the plan was made before"):
        read_training_volumes({"spacings": []})
