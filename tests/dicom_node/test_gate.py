"""The gate before inference: a series the model was not made for is "not applicable", with the reason."""

from __future__ import annotations

import json
import re

import numpy as np
import pydicom
import pytest

from monai_unet2015.data import write_dicom_series
from monai_unet2015.data.profiles import intensity_profile
from monai_unet2015.dicom_node.gate import ApplicabilityGate, SeriesLook, series_look, series_spacing
from monai_unet2015.dicom_node.journal import slice_geometry

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
            r"slice spacing 8 mm is coarser than the model was trained on \(1.5-3 mm, up to x2 allowed: 6 mm\)",
        ),
        ((2.0, 2.0, 2.5), r"column spacing 2 mm is coarser .* \(0.7-0.8 mm, up to x2 allowed: 1.6 mm\)"),
    ],
)
def test_spacings_far_from_the_training_data_are_named(tmp_path, spacing, match):
    reasons = ApplicabilityGate("CT", TRAINED).reasons("CT", series_spacing(headers(tmp_path, spacing)))
    assert reasons and any(re.search(match, reason) for reason in reasons), reasons


def test_a_finer_spacing_than_training_passes(tmp_path):
    """The bundle resamples every image to its grid: a 0.3 mm, 0.5 mm slice series holds all a 3 mm one does."""
    assert ApplicabilityGate("CT", TRAINED).reasons("CT", series_spacing(headers(tmp_path, (0.3, 0.3, 0.5)))) == []


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


def abdomen_like(rng, air=0.5, bone=0.02, size=20000):
    """HU of an abdomen CT slab: air around the body, fat, soft tissue and a little bone."""
    counts = [int(size * air), int(size * 0.2), int(size * (0.8 - air - bone)), int(size * bone)]
    parts = [rng.normal(-1000, 10, counts[0]), rng.normal(-100, 20, counts[1])]
    parts += [rng.normal(45, 15, counts[2]), rng.normal(700, 200, counts[3])]
    return np.concatenate(parts)


def head_like(rng, size=20000):
    """HU of a head CT: air, brain (~35 HU), a thick skull, almost no fat."""
    return np.concatenate(
        [rng.normal(-1000, 10, size // 2), rng.normal(35, 8, int(size * 0.35)), rng.normal(1000, 300, size // 7)]
    )


@pytest.fixture
def profiled():
    """A fingerprint of two abdomen CT cases: spacings, shapes, planes and intensity profiles."""
    rng = np.random.default_rng(0)
    profiles = [intensity_profile(abdomen_like(rng, air), ct=True) for air in (0.4, 0.55)]
    return {
        "spacings": [[0.8, 0.8, 2.5], [0.7, 0.7, 3.0]],
        "shapes": [[512, 512, 100], [512, 512, 80]],
        "slice_planes": ["axial", "axial"],
        "intensity": {"profiles_per_case": profiles},
    }


def look(values, plane="axial", field_of_view=(400.0, 400.0)):
    return SeriesLook(plane, field_of_view, intensity_profile(values, ct=True))


def test_another_abdomen_ct_passes_every_check(profiled):
    rng = np.random.default_rng(1)
    assert ApplicabilityGate("CT", profiled).reasons("CT", (0.75, 0.75, 2.0), look(abdomen_like(rng, 0.6))) == []


def test_a_coronal_series_is_not_for_an_axial_model(profiled):
    rng = np.random.default_rng(1)
    reasons = ApplicabilityGate("CT", profiled).reasons("CT", None, look(abdomen_like(rng), plane="coronal"))
    assert reasons == ["coronal slices: the model was trained on axial series"]


def test_a_small_field_of_view_is_named(profiled):
    rng = np.random.default_rng(1)
    reasons = ApplicabilityGate("CT", profiled).reasons("CT", None, look(abdomen_like(rng), field_of_view=(90, 90)))
    assert reasons == [
        "field of view 90 x 90 mm is outside what the model was trained on (358-410 mm, x2 allowed: 179-819 mm)"
    ]


def test_a_ct_without_its_rescale_intercept_is_not_applicable(profiled):
    rng = np.random.default_rng(1)
    reasons = ApplicabilityGate("CT", profiled).reasons("CT", None, look(abdomen_like(rng) + 1024))
    assert len(reasons) == 1 and "not rescaled to the model's unit (HU)" in reasons[0]
    assert re.match(r"intensity 1st percentile [\d.]+ is outside what the model was trained on \(-102\d", reasons[0])


def test_an_mr_labelled_ct_is_not_applicable_by_its_intensities(profiled):
    rng = np.random.default_rng(1)
    mr = np.concatenate([np.zeros(10000), rng.normal(400, 80, 10000)])
    reasons = ApplicabilityGate("CT", profiled).reasons("CT", None, look(mr))
    assert reasons and "intensity 1st percentile 0 is outside" in reasons[0]


def test_a_head_ct_is_another_body_region(profiled):
    rng = np.random.default_rng(1)
    reasons = ApplicabilityGate("CT", profiled).reasons("CT", None, look(head_like(rng)))
    assert len(reasons) == 1 and "another body region than the model was trained on" in reasons[0], reasons


def test_the_body_distance_allowed_grows_with_the_training_cases_spread(profiled):
    rng = np.random.default_rng(2)
    spread = dict(
        profiled,
        intensity={"profiles_per_case": [intensity_profile(v, ct=True) for v in (abdomen_like(rng), head_like(rng))]},
    )
    assert ApplicabilityGate("CT", spread).reasons("CT", None, look(head_like(rng))) == []


def test_a_plan_before_profiles_checks_spacing_only_and_says_so(tmp_path, caplog):
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    (tmp_path / "plan.fingerprint.json").write_text(json.dumps({"fingerprint": TRAINED}))
    with caplog.at_level("WARNING", logger="monai_unet2015.dicom_node.gate"):
        gate = ApplicabilityGate.from_plan("CT", plan)
    assert "made before fingerprints kept intensity profiles" in caplog.text
    rng = np.random.default_rng(1)
    assert gate.reasons("CT", (0.8, 0.8, 2.5), look(head_like(rng), plane="coronal")) == []


@pytest.mark.parametrize("name", ["intensity_margin", "body_distance_hu"])
def test_margins_are_checked(name):
    with pytest.raises(ValueError, match=rf"{name} must be > 0, got 0"):
        ApplicabilityGate("CT", TRAINED, **{name: 0})


def test_series_look_reads_plane_field_of_view_and_hu_from_the_files(tmp_path):
    volume = np.full((40, 30, 6), -1000.0, np.float32)
    volume[10:30, 5:25] = 50.0
    folder = tmp_path / "series"
    write_dicom_series(volume, np.diag([0.8, 0.7, 2.5, 1.0]), folder, modality="CT")
    files = sorted(folder.iterdir())
    geometry = slice_geometry(pydicom.dcmread(files[0], stop_before_pixels=True))
    seen = series_look(geometry, files, ct=True)
    assert seen.plane == "axial"
    assert seen.field_of_view_mm == pytest.approx((40 * 0.8, 30 * 0.7))  # columns x rows: x, then y
    assert seen.profile["all"][0] == -1000.0 and seen.profile["body"] == [50.0] * 9  # the stored values rescaled


def test_series_look_leaves_out_pixels_it_cannot_decode(tmp_path, caplog):
    folder = tmp_path / "series"
    write_dicom_series(np.zeros((16, 12, 3), np.float32), np.eye(4), folder, modality="CT")
    files = sorted(folder.iterdir())
    geometry = slice_geometry(pydicom.dcmread(files[0], stop_before_pixels=True))
    for path in files:  # pixel data cut short: no decoder can read it
        ds = pydicom.dcmread(path)
        ds.PixelData = ds.PixelData[:10]
        ds.save_as(path)
    with caplog.at_level("WARNING", logger="monai_unet2015.dicom_node.gate"):
        seen = series_look(geometry, files, ct=True)
    assert seen.profile is None and "intensities not checked" in caplog.text
