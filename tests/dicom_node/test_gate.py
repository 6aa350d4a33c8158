"""The gate before inference: a series the model was not made for is "not applicable", with the reason."""

from __future__ import annotations

import json
import re

import numpy as np
import pydicom
import pytest

from monai_unet2015.data import write_dicom_series
from monai_unet2015.dicom_node.gate import ApplicabilityGate, series_spacing

TRAINED = {"spacings": [[0.8, 0.8, 1.5], [0.7, 0.7, 3.0]]}


def headers(tmp_path, spacing=(0.8, 0.8, 2.5), slices=4, modality="CT"):
    folder = tmp_path / f"series_{'_'.join(map(str, spacing))}_{modality}"
    write_dicom_series(np.zeros((16, 12, slices), np.float32), np.diag([*spacing, 1.0]), folder, modality=modality)
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir())]


@pytest.mark.parametrize("spacing", [(0.8, 0.8, 2.5), (0.5, 0.7, 5.0)])
def test_series_spacing_is_columns_rows_and_the_step_between_slices(tmp_path, spacing):
    assert series_spacing(headers(tmp_path, spacing)) == pytest.approx(spacing)


def test_a_series_within_the_training_spacings_passes(tmp_path):
    assert ApplicabilityGate("CT", TRAINED).reasons("CT", series_spacing(headers(tmp_path, (0.8, 0.8, 2.5)))) == []


def test_another_modality_is_not_applicable(tmp_path):
    reasons = ApplicabilityGate("CT", TRAINED).reasons("MR", series_spacing(headers(tmp_path, modality="MR")))
    assert reasons == ["modality MR: the model was made for CT"]


@pytest.mark.parametrize(
    "spacing, match",
    [
        (
            (0.8, 0.8, 8.0),
            r"slice spacing 8 mm is outside what the model was trained on \(1.5-3 mm, x2 allowed: 0.75-6 mm",
        ),
        ((2.0, 2.0, 2.5), r"column spacing 2 mm is outside .* \(0.7-0.8 mm, x2 allowed: 0.35-1.6 mm\)"),
    ],
)
def test_spacings_far_from_the_training_data_are_named(tmp_path, spacing, match):
    reasons = ApplicabilityGate("CT", TRAINED).reasons("CT", series_spacing(headers(tmp_path, spacing)))
    assert reasons and any(re.search(match, reason) for reason in reasons), reasons


def test_without_a_plan_only_the_modality_is_checked(tmp_path):
    gate = ApplicabilityGate.from_plan("CT", None)
    assert gate.reasons("CT", series_spacing(headers(tmp_path, (0.8, 0.8, 8.0)))) == []


def test_the_plan_fingerprint_beside_the_plan_is_read(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    (tmp_path / "plan.fingerprint.json").write_text(json.dumps({"fingerprint": TRAINED}))
    gate = ApplicabilityGate.from_plan("CT", plan)
    assert gate.reasons("CT", series_spacing(headers(tmp_path, (0.8, 0.8, 8.0))))


def test_a_plan_without_its_fingerprint_checks_the_modality_and_says_so(tmp_path, caplog):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    with caplog.at_level("WARNING", logger="monai_unet2015.dicom_node.gate"):
        gate = ApplicabilityGate.from_plan("CT", plan)
    assert gate.spacing_range is None and "has no fingerprint beside it" in caplog.text


def test_tolerance_is_checked():
    with pytest.raises(ValueError, match=r"tolerance must be >= 1, got 0.5"):
        ApplicabilityGate("CT", TRAINED, tolerance=0.5)
