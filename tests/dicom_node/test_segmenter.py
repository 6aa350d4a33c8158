"""BundleSegmenter's pieces that need no trained bundle: the review it reads and the training volumes it passes."""

from __future__ import annotations

import json
import logging

from monai_unet2015.dicom_node.segmenter import BundleSegmenter, _training_volumes_for_review


def test_the_plan_fingerprint_with_training_volumes_goes_to_the_review(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    assert _training_volumes_for_review(None) == {}
    assert _training_volumes_for_review(plan) == {}  # no fingerprint beside it
    record = tmp_path / "plan.fingerprint.json"
    record.write_text(json.dumps({"fingerprint": {"class_volumes_ml_per_case": [{"1": 10.0}]}}))
    assert _training_volumes_for_review(plan) == {"training_fingerprint": str(record)}


def test_an_older_plan_is_reviewed_without_volumes_and_says_so(tmp_path, caplog):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    (tmp_path / "plan.fingerprint.json").write_text(json.dumps({"fingerprint": {"spacings": [[1, 1, 1]]}}))
    with caplog.at_level(logging.WARNING, logger="monai_unet2015.dicom_node.segmenter"):
        assert _training_volumes_for_review(plan) == {}
    assert "keeps no training volumes (an older plan)" in caplog.text


def test_the_review_is_read_from_the_volumes_json(tmp_path):
    (tmp_path / "r0").mkdir()
    review = {"needs_review": True, "reasons": ["liver: reaches the edge"], "structures": ["liver"]}
    (tmp_path / "r0" / "CT_volumes.json").write_text(json.dumps({"structures": [], "review": review}))
    assert BundleSegmenter.review(tmp_path) == ["liver: reaches the edge"]
    assert BundleSegmenter.review(tmp_path / "empty") == []
