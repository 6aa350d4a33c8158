"""The bundle configs as declarations: one training recipe, single transforms overridable, no code in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from ignite.handlers import EarlyStopping
from monai.bundle import ConfigParser
from monai.transforms import Compose, RandSpatialCropd

from monai_unet2015.bundle.locations import bundles_dir, with_common_config
from monai_unet2015.data import write_sample_data
from monai_unet2015.engines import MODEL_KEY, create_evaluator, create_trainer
from monai_unet2015.inferers import OverlapTileInferer
from monai_unet2015.transforms import paper_augmentation

BUNDLES = ["unet3d_ct_organs", "unet2015_cells_2d"]
CONFIG_FILES = sorted(p for name in BUNDLES for p in (bundles_dir() / name / "configs").glob("*.json"))
TINY = {
    "unet3d_ct_organs": {"roi_size": [44, 44, 44], "features": [4, 8, 16], "cache": "none"},
    "unet2015_cells_2d": {"roi_size": [60, 60], "features": [4, 8, 16], "cache": "none"},
}
DATA = {"unet3d_ct_organs": "ct", "unet2015_cells_2d": "cells"}
LONGEST_EXPRESSION = 100


def expressions(value):
    if isinstance(value, str):
        if value.startswith("$"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_configs_declare_rather_than_compute(path):
    config = json.loads(path.read_text())
    long = [e for e in expressions(config) if len(e) > LONGEST_EXPRESSION]
    assert not long, f"expressions over {LONGEST_EXPRESSION} characters: {long}"
    assert not [e for e in expressions(config) if ".attach(" in e], "handlers belong in handler lists, not attach()"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    write_sample_data(root, num_ct=3, num_mri=0, num_cells=3, ct_shape=(48, 40, 12), cells_shape=(96, 96), dicom=False)
    return root


def parser(name: str, sample: Path, root: Path, **overrides) -> ConfigParser:
    config = ConfigParser()
    config.read_config(with_common_config(bundles_dir() / name / "configs" / "train.json"))
    config.update(
        {
            **TINY[name],
            "bundle_root": str(root),
            "dataset_dir": str(sample / DATA[name]),
            "progress": False,
            "device": "$torch.device('cpu')",
            **overrides,
        }
    )
    return config


def handler_names(engine) -> dict[str, list[str]]:
    """Per event, the classes (or functions) of the handlers attached to ``engine``, in order."""
    names = {}
    for event, handlers in engine._event_handlers.items():
        entries = []
        for handler, _, _ in handlers:
            owner = getattr(handler, "__self__", None)
            entries.append(type(owner).__name__ if owner is not None else getattr(handler, "__qualname__", "?"))
        names[str(event)] = entries
    return names


@pytest.mark.parametrize("name", BUNDLES)
def test_the_bundle_trainer_is_the_python_recipe(name, sample, tmp_path):
    config = parser(name, sample, tmp_path / "bundle", amp="true")
    with pytest.warns(UserWarning, match="amp=True needs a CUDA device"):
        bundle_trainer = config.get_parsed_content("train#trainer")
    network = config.get_parsed_content("network")
    evaluator = create_evaluator(
        network,
        config.get_parsed_content("validate#dataloader"),
        num_classes=config["num_classes"],
        inferer=config.get_parsed_content("validate#inferer"),
        device="cpu",
        ckpt_dir=tmp_path / "python",
        log_dir=tmp_path / "python_logs",
        in_channels=1,
    )
    with pytest.warns(UserWarning, match="amp=True needs a CUDA device"):
        python_trainer = create_trainer(
            network,
            config.get_parsed_content("train#dataloader"),
            max_epochs=config["max_epochs"],
            optimizer=config.get_parsed_content("optimizer"),
            loss_function=config.get_parsed_content("loss"),
            evaluator=evaluator,
            val_interval=config["val_interval"],
            device="cpu",
            amp=True,
            ckpt_dir=tmp_path / "python",
            log_dir=tmp_path / "python_logs",
            progress=False,
            in_channels=1,
        )
    assert handler_names(bundle_trainer) == handler_names(python_trainer)
    bundle_evaluator = config.get_parsed_content("validate#evaluator")
    assert handler_names(bundle_evaluator) == handler_names(evaluator)
    for trainer, engine in ((bundle_trainer, bundle_evaluator), (python_trainer, evaluator)):
        assert trainer.amp is False and trainer.scaler is None  # no CUDA: float32, with a warning
        assert engine.amp_kwargs == trainer.amp_kwargs == {"dtype": torch.bfloat16}
        assert isinstance(engine.inferer, OverlapTileInferer)


def test_bundle_checkpoints_hold_the_model_under_the_recipe_key(sample, tmp_path):
    config = parser("unet3d_ct_organs", sample, tmp_path, max_epochs=1, val_interval=1)
    config.get_parsed_content("train#trainer").run()
    checkpoint = torch.load(tmp_path / "models" / "checkpoint_epoch=1.pt", weights_only=True)
    assert set(checkpoint) == {MODEL_KEY, "optimizer", "trainer", "lr_scheduler", "best_metric"}
    assert checkpoint["best_metric"]["best_metric_epoch"] == 1  # the score model.pt has to beat on resume
    best = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    assert set(best) == set(config.get_parsed_content("network").state_dict())  # a plain state dict


@pytest.mark.parametrize("name", BUNDLES)
def test_early_stop_patience_reaches_the_trainer_and_its_checkpoint(name, sample, tmp_path):
    config = parser(name, sample, tmp_path, max_epochs=1, val_interval=1, early_stop_patience=2)
    config.get_parsed_content("train#trainer").run()
    evaluator = config.get_parsed_content("validate#evaluator")
    stoppers = [h for h, *_ in evaluator._event_handlers[Events.COMPLETED] if isinstance(h, EarlyStopping)]
    assert [stopper.patience for stopper in stoppers] == [2]
    checkpoint = torch.load(tmp_path / "models" / "checkpoint_epoch=1.pt", weights_only=True)
    assert checkpoint["early_stop"]["counter"] == 0  # the first validation is the best so far


def test_one_transform_is_overridden_by_its_id(sample, tmp_path):
    overrides = {"train#random#2#sigma": 4.0, "preprocessing#2#percentiles": [2.0, 98.0]}
    config = parser("unet2015_cells_2d", sample, tmp_path, **overrides)
    elastic = config.get_parsed_content("train#random#2")
    assert type(elastic).__name__ == "RandCoarseElasticd" and elastic.elastic.sigma == 4.0
    scaling = config.get_parsed_content("preprocessing#2").transform
    assert (scaling.scaler.lower, scaling.scaler.upper) == (2.0, 98.0)


def type_names(transforms) -> list[str]:
    return [type(t).__name__ for t in transforms]


@pytest.mark.parametrize(
    "crop_ratios, crop_types",
    [(None, ["RandSpatialCropd"]), ([1, 1, 1, 1], ["ReachableClassIndicesd", "RandCropByLabelClassesd"])],
)
def test_3d_training_tiles_are_uniform_or_class_centred_by_crop_ratios(crop_ratios, crop_types, sample, tmp_path):
    config = parser("unet3d_ct_organs", sample, tmp_path, crop_ratios=crop_ratios)
    crop = config.get_parsed_content("train#random#0")
    assert type_names(getattr(crop, "transforms", [crop])) == crop_types
    batch = next(iter(config.get_parsed_content("train#dataloader")))
    roi = tuple(TINY["unet3d_ct_organs"]["roi_size"])
    assert batch["image"].shape[2:] == batch["label"].shape[2:] == batch["weight"].shape[2:] == roi
    assert batch["image"].shape[0] == config["batch_size"]


@pytest.mark.parametrize("modality, masked", [("mri", True), ("ct", False)])
def test_3d_inference_labels_background_outside_an_mri_support_before_inverting(modality, masked, tmp_path):
    config = ConfigParser()
    config.read_config(with_common_config(bundles_dir() / "unet3d_ct_organs" / "configs" / "inference.json"))
    config.update({"bundle_root": str(tmp_path), "modality": modality, "device": "$torch.device('cpu')"})
    names = type_names(config.get_parsed_content("postprocessing").transforms)
    assert ("BackgroundOutsideSupportd" in names) is masked
    assert config.get_parsed_content("inferer").argmax  # the label map comes from the inferer
    if masked:
        assert names.index("BackgroundOutsideSupportd") < names.index("LabelsToSourceGridd")


def test_the_cells_augmentation_list_is_the_papers(sample, tmp_path):
    """``paper_augmentation`` (any keys, 2D or 3D) and the cells bundle's ``train#random`` are the same steps.

    The preprocessing presets are the bundles' own lists (tests/data/test_bundle_configs.py);
    the augmentation is a library function of its own, so its ranges are compared here.
    """
    cells = parser("unet2015_cells_2d", sample, tmp_path)
    listed = cells.get_parsed_content("train#random")
    python = [RandSpatialCropd(["image", "label", "weight"], roi_size=TINY["unet2015_cells_2d"]["roi_size"])]
    python += paper_augmentation(spatial_dims=2)
    assert type_names(listed) == type_names(python)
    assert listed[2].elastic.sigma == 10.0  # the paper's
    generator = torch.Generator().manual_seed(0)
    sample = {key: torch.rand(1, 90, 90, generator=generator) for key in ("image", "weight")}
    sample["label"] = (sample["image"] > 0.5).float()
    # every range and probability the two lists hold shows in what they make of one sample
    for seed in range(3):
        ours = Compose(python).set_random_state(seed=seed)(dict(sample))
        theirs = Compose(listed).set_random_state(seed=seed)(dict(sample))
        for key in sample:
            torch.testing.assert_close(torch.as_tensor(ours[key]), torch.as_tensor(theirs[key]), rtol=0, atol=0)
