"""configs/paper.json: the papers' set-up one preset away from the bundles' default recipe."""

from __future__ import annotations

import pytest
from monai.bundle import ConfigParser

from monai_unet2015.bundle.locations import bundles_dir, with_common_config
from monai_unet2015.losses import PixelWeightedDiceCELoss

BUNDLES = ["unet3d_ct_organs", "unet2015_cells_2d"]
PAPER_WIDTHS = {"unet2015_cells_2d": 64, "unet3d_ct_organs": 32}
PAPER_TILES = {"unet2015_cells_2d": [572, 572], "unet3d_ct_organs": [132, 132, 116]}


def merged(name: str, *files: str) -> ConfigParser:
    folder = bundles_dir() / name / "configs"
    parser = ConfigParser()
    parser.read_config(with_common_config([folder / f for f in files]))
    parser.update({"device": "$torch.device('cpu')", "dataset_dir": "unused", "bundle_root": "unused"})
    return parser


@pytest.mark.parametrize("name", BUNDLES)
def test_the_paper_preset_trains_as_the_paper_did(name):
    config = merged(name, "train.json", "paper.json")
    loss = config.get_parsed_content("loss")
    assert isinstance(loss, PixelWeightedDiceCELoss) and loss.dice_weight == 0.0  # the weighted CE alone
    weight_map = next(t for t in config["train"]["deterministic"] if t["_target_"].endswith("BorderWeightMapd"))
    assert config.get_parsed_content("class_weights") == "balanced" and weight_map["class_weights"] == "@class_weights"
    assert config["batch_size"] == 1 and config["train"]["dataloader"]["batch_size"] == "@batch_size"
    optimizer = config.get_parsed_content("optimizer")
    assert type(optimizer).__name__ == "SGD" and optimizer.defaults["momentum"] == 0.99
    assert optimizer.defaults["lr"] == 0.003
    assert config.get_parsed_content("lr_scheduler") is None and config["grad_clip_norm"] is None
    assert config["roi_size"] == PAPER_TILES[name]
    first_conv = next(p for p in config.get_parsed_content("network").parameters() if p.dim() > 2)
    assert first_conv.shape[0] == PAPER_WIDTHS[name]
    assert config["time_budget_s"] is None
    assert type(config.get_parsed_content("train#random#0")).__name__ == "RandSpatialCropd"  # uniform tiles


def test_the_3d_default_trains_with_adam_and_the_cells_bundle_with_sgd():
    adam = merged("unet3d_ct_organs", "train.json", "cpu.json").get_parsed_content("optimizer")
    assert type(adam).__name__ == "Adam" and adam.defaults["lr"] == 0.001
    sgd = merged("unet2015_cells_2d", "train.json", "cpu.json").get_parsed_content("optimizer")
    assert type(sgd).__name__ == "SGD" and sgd.defaults["momentum"] == 0.99


@pytest.mark.parametrize("name", BUNDLES)
def test_the_paper_preset_infers_without_test_time_flips(name):
    config = merged(name, "inference.json", "paper.json")
    assert tuple(config.get_parsed_content("inferer").flip_axes) == ()
    assert config["roi_size"] == PAPER_TILES[name]


@pytest.mark.parametrize("name", BUNDLES)
def test_every_paper_setting_is_a_setting_of_the_bundle(name):
    folder = bundles_dir() / name / "configs"
    paper = ConfigParser.load_config_file(str(folder / "paper.json"))
    declared = set()
    for config in ("common.json", "train.json", "inference.json"):
        declared |= set(ConfigParser.load_config_file(str(folder / config)))
    unknown = [key for key in paper if key.split("#")[0] not in declared]
    assert not unknown, f"{name}/configs/paper.json sets what neither config has: {unknown}"
