"""The bundle command line: unknown override keys, booleans, which processes are affected."""

from __future__ import annotations

import json
import sys

import pytest

from monai_unet2015.bundle import BundleInputError, as_bool, prepare_cli_run
from monai_unet2015.bundle.cli import bundle_cli_arguments, config_ids, unknown_override_messages

BUNDLE_MAIN = "/venv/lib/python3.11/site-packages/monai/bundle/__main__.py"
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


def test_command_line_arguments_are_read_only_from_the_bundle_cli():
    argv = [BUNDLE_MAIN, "run", "--config_file", "c.json", "--max_epochs=3", "--progress", "false", "--flag"]
    assert bundle_cli_arguments(argv) == {
        "config_file": "c.json",
        "max_epochs": "3",
        "progress": "false",
        "flag": "True",
    }
    assert bundle_cli_arguments(["pytest", "run", "--max_epoch", "1"]) is None
    assert bundle_cli_arguments([BUNDLE_MAIN, "verify_metadata", "--x", "1"]) is None


def test_prepare_cli_run_refuses_a_typo(tmp_path, monkeypatch):
    config = tmp_path / "train.json"
    config.write_text(json.dumps(CONFIG))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    argv = [BUNDLE_MAIN, "run", "--config_file", f"['{config}']", "--max_epoch", "1"]
    with pytest.raises(BundleInputError, match=r"--max_epoch is not an option of this bundle; did you mean --max_"):
        prepare_cli_run(argv)
    prepare_cli_run([BUNDLE_MAIN, "run", "--config_file", str(config), "--max_epochs", "1"])


def test_prepare_cli_run_leaves_other_processes_alone(monkeypatch):
    hook = sys.excepthook
    prepare_cli_run(["pytest", "--max_epoch", "1"])
    assert sys.excepthook is hook


def test_errors_come_as_one_line_with_the_innermost_message(capsys, monkeypatch):
    from monai_unet2015.bundle.cli import _OneLineExcepthook

    _one_line_excepthook = _OneLineExcepthook(sys.__excepthook__)
    monkeypatch.delenv("MONAI_UNET2015_TRACEBACK", raising=False)
    try:
        try:
            raise ValueError("label /data/a_seg.nii.gz: values [7] are outside 0..3")
        except ValueError as inner:
            raise RuntimeError("Failed to instantiate {'_target_': 'CacheDataset', ...}") from inner
    except RuntimeError as outer:
        _one_line_excepthook(RuntimeError, outer, outer.__traceback__)
    assert capsys.readouterr().err == (
        "error: label /data/a_seg.nii.gz: values [7] are outside 0..3\n"
        "(set MONAI_UNET2015_TRACEBACK=1 for the full traceback)\n"
    )


def test_the_full_traceback_when_asked_comes_from_the_hook_that_was_there(capsys, monkeypatch):
    from monai_unet2015.bundle.cli import _OneLineExcepthook

    previous = []
    monkeypatch.setenv("MONAI_UNET2015_TRACEBACK", "1")
    try:
        raise KeyError("x")
    except KeyError as error:
        _OneLineExcepthook(lambda *info: previous.append(info[0]))(KeyError, error, error.__traceback__)
    assert previous == [KeyError] and capsys.readouterr().err == ""


COMMAND_LINES = [
    ["--config_file", "configs/train.json", "--max_epochs", "3"],
    ["--config_file=configs/inference.json", "--dataset_dir=/data/ct", "--progress", "false"],
    ["--config_file", "['configs/train.json','configs/cpu.json']", "--network_def#features", "[4,8,16]"],
    ["--amp", "--max_epochs", "2", "--learning_rate", "-0.5"],
]


@pytest.mark.parametrize("arguments", COMMAND_LINES)
def test_the_override_check_reads_the_keys_fire_hands_to_monais_run(arguments):
    """The check re-reads sys.argv; the keys it finds must be the ones fire (constraints.txt) passes on."""
    import fire

    received = {}

    def run(**kwargs):  # stands in for monai.bundle.run
        received.update(kwargs)

    fire.Fire({"run": run}, command=["run", *arguments])
    ours = bundle_cli_arguments(["/x/monai/bundle/__main__.py", "run", *arguments])
    assert set(ours) == set(received)
    for key, value in received.items():
        assert str(value).replace(" ", "") == ours[key].replace(" ", "") or value is True and ours[key] == "True"


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
