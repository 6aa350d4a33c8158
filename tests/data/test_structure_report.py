"""Structure volumes, sizes and field-of-view edges, and the JSON beside the mask."""

from __future__ import annotations

import json

import numpy as np
import pytest
from monai.data import MetaTensor
from scipy import ndimage

from monai_unet2015.data import SaveStructureReportd, structure_measurements

LABELS = {1: "liver", 2: "spleen"}


def box_mask(shape=(20, 20, 12)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[2:8, 3:7, 1:5] = 1  # 6 x 4 x 4 voxels
    mask[10:12, 10:12, 2:4] = 2
    mask[15:17, 15:17, 8:10] = 2  # a second component
    return mask


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 0.8, 2.5)])
def test_volume_diameter_and_components_follow_the_voxel_size(spacing):
    affine = np.diag([*spacing, 1.0])
    report = structure_measurements(box_mask(), affine, LABELS)
    liver, spleen = report["structures"]
    voxel_ml = np.prod(spacing) / 1000
    assert report["voxel_volume_ml"] == pytest.approx(voxel_ml)
    assert (liver["voxels"], spleen["voxels"]) == (96, 16)
    assert liver["volume_ml"] == pytest.approx(96 * voxel_ml, abs=1e-3)
    assert (liver["components"], spleen["components"]) == (1, 2)
    # corner to corner of the box, between voxel centres
    expected = np.linalg.norm(np.array([5, 3, 3]) * np.array(spacing))
    assert liver["largest_diameter_mm"] == pytest.approx(expected, abs=0.01)


def test_a_rotated_affine_gives_the_same_figures():
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 0.8, 2.5])
    rotated = structure_measurements(box_mask(), affine, LABELS)["structures"]
    plain = structure_measurements(box_mask(), np.diag([0.8, 0.8, 2.5, 1.0]), LABELS)["structures"]
    for a, b in zip(rotated, plain):
        assert a["volume_ml"] == pytest.approx(b["volume_ml"], abs=1e-3)
        assert a["largest_diameter_mm"] == pytest.approx(b["largest_diameter_mm"], abs=0.01)


def test_a_structure_at_the_image_border_is_flagged_and_an_absent_one_is_zero():
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[0:3, 4:6, 4:6] = 1
    liver, spleen = structure_measurements(mask, np.eye(4), LABELS)["structures"]
    assert liver["touches_edge"] and not spleen["touches_edge"]
    assert spleen == {"value": 2, "name": "spleen", "voxels": 0, "volume_ml": 0.0, "components": 0,
                      "largest_diameter_mm": 0.0, "touches_edge": False}  # fmt: skip


def test_a_single_voxel_and_a_flat_structure_are_measured():
    mask = np.zeros((8, 8, 8), np.uint8)
    mask[3, 3, 3] = 1
    mask[1:6, 1:6, 6] = 2  # one slice thick: no 3D hull
    liver, spleen = structure_measurements(mask, np.eye(4), LABELS)["structures"]
    assert liver["largest_diameter_mm"] == 0.0 and liver["voxels"] == 1
    assert spleen["largest_diameter_mm"] == pytest.approx(np.hypot(4, 4), abs=0.01)


def speckled_mask(seed: int, shape=(24, 20, 16)) -> np.ndarray:
    """Smoothed noise cut into three classes: ragged structures of many components."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), 1.2)
    return np.digitize(noise, np.quantile(noise, [0.55, 0.8])).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_figures_equal_those_from_every_voxel_of_each_structure(seed):
    mask = speckled_mask(seed)
    affine = np.array([[0.0, 0.8, 0.1, -40], [0.7, 0.0, 0.0, 12], [0.0, 0.1, 2.5, 3], [0, 0, 0, 1]])
    report = structure_measurements(mask, affine, LABELS)
    for structure in report["structures"]:
        binary = mask == structure["value"]
        points = np.argwhere(binary) @ affine[:3, :3].T
        every_pair = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)).max()
        assert structure["largest_diameter_mm"] == pytest.approx(every_pair, abs=0.01)
        assert structure["components"] == ndimage.label(binary)[1] > 1
        assert structure["voxels"] == binary.sum()
        touches = any(np.take(binary, [0, -1], axis=axis).any() for axis in range(3))
        assert structure["touches_edge"] == touches


def test_a_float_label_map_is_measured_as_its_integer_values():
    mask = speckled_mask(0)
    as_float = structure_measurements(mask.astype(np.float32), np.eye(4), LABELS)
    assert as_float == structure_measurements(mask, np.eye(4), LABELS)


def test_a_mask_that_is_not_3d_is_named():
    with pytest.raises(ValueError, match=r"mask must be \(x, y, z\), got shape \(4, 4\)"):
        structure_measurements(np.zeros((4, 4)), np.eye(4), LABELS)


def test_the_json_goes_beside_the_mask_and_is_not_replaced_without_overwrite(tmp_path):
    pred = MetaTensor(box_mask()[None], affine=np.diag([0.8, 0.8, 2.5, 1.0]), meta={"filename_or_obj": "/in/ct.nii"})
    saver = SaveStructureReportd("pred", tmp_path, LABELS)
    assert saver.planned_outputs({"image": "/in/ct.nii", "name": "ct"}) == [tmp_path / "ct_volumes.json"]
    saver({"pred": pred, "name": "ct"})
    report = json.loads((tmp_path / "ct_volumes.json").read_text())
    assert report["source"] == "/in/ct.nii" and report["note"] == "not for diagnostic use"
    assert [s["name"] for s in report["structures"]] == ["liver", "spleen"]
    with pytest.raises(FileExistsError):
        saver({"pred": pred, "name": "ct"})
    SaveStructureReportd("pred", tmp_path, LABELS, overwrite=True)({"pred": pred, "name": "ct"})


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"labels": {}}, ValueError, r"labels must map values > 0 to names, got \{\}"),
        ({"labels": {0: "background"}}, ValueError, r"labels must map values > 0 to names"),
    ],
)
def test_invalid_arguments_are_named(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        SaveStructureReportd("pred", tmp_path, **kwargs)


def test_a_plain_array_is_refused_naming_the_key(tmp_path):
    with pytest.raises(TypeError, match=r"'pred' must be a MetaTensor with its affine, got ndarray"):
        SaveStructureReportd("pred", tmp_path, LABELS)({"pred": box_mask()[None], "name": "ct"})


def test_the_json_holds_the_review_and_leaves_it_for_the_writers_after_it(tmp_path):
    import torch

    label = MetaTensor(box_mask()[None], affine=np.eye(4), meta={"filename_or_obj": "case.nii.gz"})
    label.meta["flip_disagreement"] = torch.tensor([0.0, 0.02, 0.4])
    trained = {"class_volumes_ml_per_case": [{"1": 0.1, "2": 0.016}]}
    data = SaveStructureReportd("pred", tmp_path, LABELS, training_fingerprint=trained)({"pred": label, "name": "case"})
    report = json.loads((tmp_path / "case_volumes.json").read_text())
    liver, spleen = report["structures"]
    assert (liver["flip_disagreement"], spleen["flip_disagreement"]) == (0.02, 0.4)
    assert report["review"]["needs_review"] and report["review"]["structures"] == {"spleen": ["flips"]}
    assert report["review"]["reasons"][0].startswith("spleen: the mirrored predictions disagree on 40%")
    assert data["pred"].meta["review"] == report["review"]


def test_without_flips_or_training_the_review_says_what_it_did_not_check(tmp_path):
    label = MetaTensor(box_mask()[None], affine=np.eye(4), meta={"filename_or_obj": "case.nii.gz"})
    SaveStructureReportd("pred", tmp_path, LABELS)({"pred": label, "name": "case"})
    report = json.loads((tmp_path / "case_volumes.json").read_text())
    assert report["structures"][0]["flip_disagreement"] is None
    assert len(report["review"]["not_checked"]) == 2 and not report["review"]["needs_review"]


def test_review_thresholds_are_checked_at_construction(tmp_path):
    with pytest.raises(ValueError, match=r"max_flip_disagreement must be in \[0, 1\], got -0.1"):
        SaveStructureReportd("pred", tmp_path, LABELS, max_flip_disagreement=-0.1)
    with pytest.raises(ValueError, match=r"volume_tolerance must be >= 1, got 0.9"):
        SaveStructureReportd("pred", tmp_path, LABELS, volume_tolerance=0.9)
