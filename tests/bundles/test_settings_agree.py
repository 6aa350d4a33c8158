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
    assert {"network_def", "features", "in_channels", "num_classes"} <= set(train) & set(inference)
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


@pytest.mark.parametrize("name", BUNDLES)
def test_what_evaluation_repeats_of_inference_is_equal(name):
    """evaluate.json merges over train.json, not inference.json: what both declare must agree."""
    folder = bundles_dir() / name / "configs"
    evaluate = json.loads((folder / "evaluate.json").read_text())
    _, inference = configs(name)
    shared = sorted((set(evaluate) & set(inference)) - OWN_ENTRIES)
    assert shared, "evaluate.json and inference.json share no setting: the test checks nothing"
    differing = {key: (evaluate[key], inference[key]) for key in shared if evaluate[key] != inference[key]}
    assert not differing, f"{name}: evaluate.json and inference.json disagree on {differing}"


@pytest.mark.parametrize("name", BUNDLES)
def test_the_network_width_has_one_key_in_both_bundles(name):
    train, inference = configs(name)
    assert train["network_def"]["features"] == inference["network_def"]["features"] == "@features"
    for preset in ("cpu", "gpu", "paper"):
        assert "features" in json.loads((bundles_dir() / name / "configs" / f"{preset}.json").read_text())


def test_the_configs_both_bundles_share_are_declared_once():
    shared = bundles_dir() / "_shared" / "configs"
    for name in BUNDLES:
        for path in shared.iterdir():
            copy = bundles_dir() / name / "configs" / path.name
            assert copy.is_symlink() and copy.resolve() == path.resolve(), f"{copy} is not a link to {path}"
