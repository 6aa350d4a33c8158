"""The bundle command line's settings: unknown override keys, booleans."""

from __future__ import annotations

import pytest

from monai_unet2015.bundle import BundleInputError, as_bool, dicom_seg_setting
from monai_unet2015.bundle.cli import config_ids, unknown_override_messages

CONFIG = {
    "max_epochs": 100,
    "progress": True,
    "network_def": {"_target_": "monai_unet2015.networks.UNet3D", "features": [8, 16, 32]},
    "train": {"handlers": [{"_target_": "StatsHandler", "name": "x"}]},
}


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        ("true", True),
        ("TRUE", True),
        ("1", True),
        (False, False),
        ("false", False),
        ("False", False),
        ("no", False),
    ],
)
def test_as_bool(value, expected):
    assert as_bool(value) is expected


def test_as_bool_refuses_other_words():
    with pytest.raises(BundleInputError, match=r"--progress must be true or false, got 'maybe'"):
        as_bool("maybe", "progress")


def test_config_ids_name_nested_entries_and_list_items():
    ids = set(config_ids(CONFIG))
    assert {"max_epochs", "network_def#features", "train#handlers#0#name", "network_def#features#2"} <= ids


@pytest.mark.parametrize(
    "key, message",
    [
        ("max_epoch", "--max_epoch is not an option of this bundle; did you mean --max_epochs?"),
        ("progres", "--progres is not an option of this bundle; did you mean --progress?"),
        ("zzz", "--zzz is not an option of this bundle (see the bundle's README)."),
    ],
)
def test_unknown_override_keys(key, message):
    assert unknown_override_messages([key], CONFIG) == [message]


@pytest.mark.parametrize("key", ["max_epochs", "network_def#dropout", "train#handlers#0#name", "meta_file", "run_id"])
def test_known_keys_and_new_component_arguments_are_fine(key):
    assert unknown_override_messages([key], CONFIG) == []


def test_the_pinned_versions_are_the_ones_installed():
    from importlib.metadata import version
    from pathlib import Path

    pins = dict(
        line.split("==")
        for line in (Path(__file__).parents[2] / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for name in ("monai", "fire", "pytorch-ignite"):
        assert version(name) == pins[name], f"{name} {version(name)} is installed, constraints.txt pins {pins[name]}"


@pytest.mark.parametrize(
    "value, expected", [("auto", (True, False)), ("true", (True, True)), ("False", (False, False))]
)
def test_the_dicom_seg_option(value, expected):
    assert dicom_seg_setting(value) == expected
