"""One source per setting: what training and inference share is written the same in both configs."""

from __future__ import annotations

import json

import pytest

from monai_unet2015.bundle.locations import bundles_dir

BUNDLES = ["unet3d_ct_organs", "unet2015_cells_2d"]
# Top-level entries each file has for its own job: inference reads the test split and writes outputs.
OWN_ENTRIES = {"datalist", "imports", "initialize", "run", "preprocessing"}
# What inference's image-only preprocessing leaves out of training's image + label steps.
LABEL_ONLY_ARGUMENTS = {"keys", "label_key", "mode"}


def configs(name: str) -> tuple[dict, dict]:
    folder = bundles_dir() / name / "configs"
    return json.loads((folder / "train.json").read_text()), json.loads((folder / "inference.json").read_text())


def disagreements(train: dict, inference: dict) -> dict:
    shared = sorted((set(train) & set(inference)) - OWN_ENTRIES)
    return {key: (train[key], inference[key]) for key in shared if train[key] != inference[key]}


@pytest.mark.parametrize("name", BUNDLES)
def test_settings_shared_by_training_and_inference_are_equal(name):
    train, inference = configs(name)
    assert {"network_def", "roi_size", "in_channels", "num_classes"} <= set(train) & set(inference)
    differing = disagreements(train, inference)
    assert not differing, f"{name}: train.json and inference.json disagree on {differing}"


@pytest.mark.parametrize("name", BUNDLES)
def test_inference_preprocessing_is_trainings_on_the_image_alone(name):
    train, inference = configs(name)
    steps = inference["preprocessing"]["transforms"]
    assert [t["_target_"] for t in steps] == [t["_target_"] for t in train["preprocessing"]]
    for trained, inferred in zip(train["preprocessing"], steps):
        trained_args = {k: v for k, v in trained.items() if k not in LABEL_ONLY_ARGUMENTS}
        inferred_args = {k: v for k, v in inferred.items() if k not in LABEL_ONLY_ARGUMENTS}
        assert trained_args == inferred_args, f"{name}: {trained['_target_']} differs"
        assert inferred.get("keys", ["image"]) in (["image"], "image")


def test_a_changed_setting_in_one_file_is_caught():
    """The check above is not vacuous: an edit of one file alone makes it fail."""
    train, inference = configs("unet3d_ct_organs")
    inference["pixdim"] = [1.0, 1.0, 1.0]
    assert list(disagreements(train, inference)) == ["pixdim"]
