"""Every option a plan can emit works from Python as well as in the bundles, with the same effect."""

from __future__ import annotations

import pytest
import torch
from monai.bundle import ConfigParser
from monai.transforms import Compose

from monai_unet2015.bundle.locations import bundle_path, bundle_presets, with_common_config
from monai_unet2015.data import load_datalist, modality_preprocessing
from monai_unet2015.engines import create_trainer
from monai_unet2015.inferers import OverlapTileInferer
from monai_unet2015.planning import dataset_fingerprint, make_plan
from monai_unet2015.transforms import InstanceLabels, training_tile_crop
from tests.planning.conftest import write_nuclei, write_volumes

# Each option of a plan, and the Python argument that takes it (the name the Python API uses).
PYTHON_NAMES = {
    "modality": "modality_preprocessing(modality=)",
    "pixdim": "modality_preprocessing(pixdim=)",
    "ct_window": "modality_preprocessing(window=)",
    "mri_method": "modality_preprocessing(mri_method=)",
    "mri_stats": "modality_preprocessing(mri_stats=)",
    "roi_size": "OverlapTileInferer(roi_size=)",
    "crop_ratios": "training_tile_crop(ratios=)",
    "class_weights": "BorderWeightMap(class_weights=)",
    "dice_weight": "PixelWeightedDiceCELoss(dice_weight=)",
    "num_classes": "UNet2015 / UNet3D out_channels, create_evaluator(num_classes=)",
    "in_channels": "UNet2015 / UNet3D in_channels, create_trainer(in_channels=)",
    "val_fraction": "split_datalist(val_fraction=)",
    "max_epochs": "create_trainer(max_epochs=)",
    "val_interval": "create_trainer(val_interval=)",
    "time_budget_s": "create_trainer(time_budget_s=)",
    "min_object_size": "InstanceLabels(min_size=)",
    "split_distance": "InstanceLabels(split_distance=)",
}


def plan_for(kind: str, root):
    if kind == "nuclei":
        dataset = write_nuclei(root / "nuclei", touching=True)
    else:  # the cases share their tissue intensities, so for MRI the plan picks mri_method "dataset"
        dataset = write_volumes(root / kind, ct=kind == "ct", spacing=(1.0, 1.0, 2.0), num_cases=3)
    return dataset, make_plan(dataset_fingerprint(dataset), "cpu", presets=bundle_presets("unet3d_ct_organs"))


def bundle_config(plan: dict, config: str, dataset) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(with_common_config(bundle_path(plan["bundle"]) / "configs" / config))
    parser.update({**plan["options"], "dataset_dir": str(dataset), "device": "cpu"})
    return parser


@pytest.mark.parametrize("kind", ["ct", "mri", "nuclei"])
def test_every_plan_option_has_a_python_argument(kind, tmp_path):
    _, plan = plan_for(kind, tmp_path)
    assert set(plan["options"]) <= set(PYTHON_NAMES), set(plan["options"]) - set(PYTHON_NAMES)


@pytest.mark.parametrize("kind", ["ct", "mri"])
def test_planned_3d_preprocessing_is_the_same_from_python_and_from_the_bundle(kind, tmp_path):
    dataset, plan = plan_for(kind, tmp_path)
    options = plan["options"]
    if kind == "mri":
        assert options["mri_method"] == "dataset" and len(options["mri_stats"]) == 2
    python = Compose(
        modality_preprocessing(
            options["modality"],
            pixdim=options["pixdim"],
            window=options.get("ct_window", (-160.0, 240.0)),
            mri_method=options.get("mri_method", "zscore"),
            mri_stats=options.get("mri_stats"),
        )
    )
    bundle = Compose(bundle_config(plan, "train.json", dataset).get_parsed_content("preprocessing"))
    case = load_datalist(dataset)[0]
    ours, theirs = python(dict(case)), bundle(dict(case))
    torch.testing.assert_close(ours["image"].as_tensor(), theirs["image"].as_tensor(), rtol=0, atol=0)
    torch.testing.assert_close(ours["label"].as_tensor(), theirs["label"].as_tensor(), rtol=0, atol=0)


def test_planned_crop_ratios_draw_the_same_tiles_from_python_and_from_the_bundle(tmp_path):
    dataset, plan = plan_for("ct", tmp_path)
    options = plan["options"]
    assert len(options["crop_ratios"]) == options["num_classes"]  # the generated organs are small
    config = bundle_config(plan, "train.json", dataset)
    bundled = config.get_parsed_content("train#random#0")
    output_size = config.get_parsed_content("network_def").output_size(options["roi_size"])
    python = training_tile_crop(
        ["image", "label", "weight"], options["roi_size"], options["crop_ratios"], options["num_classes"], output_size
    )
    deterministic = config.get_parsed_content("preprocessing") + config.get_parsed_content("train#deterministic")
    case = Compose(deterministic)(dict(load_datalist(dataset)[0]))
    for crop in (bundled, python):
        crop.set_random_state(seed=7)
    for _ in range(3):
        (ours,) = python(dict(case))
        (theirs,) = bundled(dict(case))
        torch.testing.assert_close(ours["label"].as_tensor(), theirs["label"].as_tensor(), rtol=0, atol=0)
        torch.testing.assert_close(ours["weight"].as_tensor(), theirs["weight"].as_tensor(), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["ct", "nuclei"])
def test_planned_tile_and_training_length_from_python_and_from_the_bundle(kind, tmp_path):
    from monai_unet2015.networks import UNet2015

    dataset, plan = plan_for(kind, tmp_path)
    options = plan["options"]
    train = bundle_config(plan, "train.json", dataset)
    roi = options.get("roi_size", train["roi_size"])
    assert train.get_parsed_content("validate#inferer").roi_size == roi == OverlapTileInferer(roi).roi_size
    # inference picks its own tile per image (any valid tile gives the same output)
    assert bundle_config(plan, "inference.json", dataset).get_parsed_content("inferer").roi_size is None
    assert train.get_parsed_content("train#trainer#max_epochs") == options["max_epochs"]
    assert train.get_parsed_content("train#trainer#val_interval") == options["val_interval"]
    net = UNet2015(len(roi), 1, options["num_classes"], features=(4, 8, 16))
    trainer = create_trainer(
        net, [], max_epochs=options["max_epochs"], val_interval=options["val_interval"], device="cpu", progress=False
    )
    assert trainer.state.max_epochs == options["max_epochs"]


def test_planned_instance_options_from_python_and_from_the_bundle(tmp_path):
    dataset, plan = plan_for("nuclei", tmp_path)
    options = plan["options"]
    assert {"min_object_size", "split_distance"} <= set(options)
    steps = bundle_config(plan, "inference.json", dataset).get_parsed_content("postprocessing#transforms")
    bundled = next(step for step in steps if type(step).__name__ == "InstanceLabelsd")
    python = InstanceLabels(min_size=options["min_object_size"], split_distance=options["split_distance"])
    mask = torch.zeros(1, 48, 64)
    mask[0, 10:30, 10:40] = 1  # two touching blobs' worth of foreground, and a speck
    mask[0, 44:46, 60:62] = 1
    torch.testing.assert_close(
        torch.as_tensor(bundled({"pred": mask.clone()})["instances"]), torch.as_tensor(python(mask.clone()))
    )
