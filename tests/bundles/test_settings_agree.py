"""One declaration per setting: what training, inference and evaluation share is in configs/common.json."""

from __future__ import annotations

import json

import pytest
from monai.bundle import ConfigParser

from monai_unet2015.bundle.locations import bundles_dir, with_common_config

BUNDLES = ["unet3d_ct_organs", "unet2015_cells_2d"]
MAIN_CONFIGS = ("common.json", "train.json", "inference.json", "evaluate.json")
# Top-level entries each file has for its own job (inference reads the test split, writes outputs).
OWN_ENTRIES = {"imports", "initialize", "run", "datalist"}
# What the one preprocessing list reads from each file: the keys it loads, the label's key, the resampling modes.
OWN_ENTRIES |= {"preprocessing_keys", "preprocessing_label_key", "preprocessing_spacing_modes"}


def configs(name: str) -> dict[str, dict]:
    folder = bundles_dir() / name / "configs"
    return {file: json.loads((folder / file).read_text()) for file in MAIN_CONFIGS}


def declared_twice(files: dict[str, dict]) -> dict[str, list[str]]:
    """Each setting (top-level key, own entries aside) that more than one of ``files`` declares."""
    where: dict[str, list[str]] = {}
    for file, config in files.items():
        for key in set(config) - OWN_ENTRIES:
            where.setdefault(key, []).append(file)
    return {key: sorted(files) for key, files in where.items() if len(files) > 1}


@pytest.mark.parametrize("name", BUNDLES)
def test_every_setting_is_declared_in_one_config(name):
    files = configs(name)
    assert {"network_def", "features", "in_channels", "num_classes", "device"} <= set(files["common.json"])
    assert declared_twice(files) == {}


def test_a_setting_declared_again_is_caught():
    """The check above is not vacuous: a copy of a common setting into inference.json makes it fail."""
    files = configs("unet3d_ct_organs")
    files["inference.json"]["pixdim"] = files["common.json"]["pixdim"]
    assert declared_twice(files) == {"pixdim": ["common.json", "inference.json"]}


@pytest.mark.parametrize("name", BUNDLES)
@pytest.mark.parametrize("main", ["train.json", "inference.json"])
def test_the_common_config_comes_first_wherever_the_bundle_is_read(name, main):
    folder = bundles_dir() / name / "configs"
    assert with_common_config(folder / main) == [str(folder / "common.json"), str(folder / main)]
    assert with_common_config([folder / "common.json", folder / main]) == [
        str(folder / "common.json"),
        str(folder / main),
    ]


@pytest.mark.parametrize("name", BUNDLES)
def test_one_preprocessing_list_serves_training_and_inference_each_with_its_keys(name):
    files = configs(name)
    assert "preprocessing" in files["common.json"]
    folder = bundles_dir() / name / "configs"
    overrides = {"bundle_root": "unused", "dataset_dir": "unused", "device": "cpu"}
    steps = {}
    for main in ("train.json", "inference.json"):
        parser = ConfigParser()
        parser.read_config(with_common_config(folder / main))
        parser.update(overrides)
        steps[main] = parser.get_parsed_content("preprocessing")
    assert [type(t).__name__ for t in steps["train.json"]] == [type(t).__name__ for t in steps["inference.json"]]
    assert list(steps["train.json"][0].keys) == ["image", "label"]
    assert list(steps["inference.json"][0].keys) == ["image"]


@pytest.mark.parametrize("name", BUNDLES)
def test_the_network_width_has_one_key_in_both_bundles(name):
    common = configs(name)["common.json"]
    assert common["network_def"]["features"] == "@features"
    for preset in ("cpu", "gpu", "paper"):
        assert "features" in json.loads((bundles_dir() / name / "configs" / f"{preset}.json").read_text())


def test_the_configs_both_bundles_share_are_declared_once():
    shared = bundles_dir() / "_shared" / "configs"
    for name in BUNDLES:
        for path in shared.iterdir():
            copy = bundles_dir() / name / "configs" / path.name
            assert copy.is_symlink() and copy.resolve() == path.resolve(), f"{copy} is not a link to {path}"
