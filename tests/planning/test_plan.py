"""make_plan's rules, write_plan and the plan command, apply_plan on a working copy."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from monai_unet2015.__main__ import main
from monai_unet2015.bundle.locations import bundle_presets, bundles_dir, preset_settings
from monai_unet2015.networks import UNet2015
from monai_unet2015.planning import (
    CPU_VOXELS,
    SMALL_CLASS_SHARE,
    UNCAPPED_EPOCHS,
    apply_plan,
    dataset_fingerprint,
    plan_report,
    write_plan,
)
from monai_unet2015.planning import make_plan as plan_rules
from monai_unet2015.planning.plan import ITERATIONS, MAX_TILE_GROWTH, MIN_OUTPUT_SHARE
from monai_unet2015.planning.write import fingerprint_path
from tests.planning.conftest import write_volumes

SHIPPED_PRESETS = bundle_presets("unet3d_ct_organs")


def make_plan(fingerprint, *args, **kwargs):
    """The plan's rules with the shipped 3D bundle's presets, as ``write_plan`` gives them."""
    return plan_rules(fingerprint, *args, presets=SHIPPED_PRESETS, **kwargs)


def _fingerprint_3d(min_value: float, spacing=(1.0, 1.0, 1.0), shape=(100, 100, 100), classes=("0", "1", "2")):
    return {
        "dataset_dir": "d",
        "spatial_dims": 3,
        "num_cases": 6,
        "median_shape": list(shape),
        "median_spacing": list(spacing),
        "classes": {c: 0.1 for c in classes},
        "intensity": {"all": {"min": min_value}, "foreground": {"p0.5": -95.04, "p99.5": 212.96}},
    }


def test_ct_gets_a_window_from_the_foreground_percentiles():
    options = make_plan(_fingerprint_3d(-1024.0), "gpu")["options"]
    assert options["modality"] == "ct" and options["ct_window"] == [-95.0, 213.0]


def test_mri_gets_no_window_and_num_classes_from_the_largest_label():
    plan = make_plan(_fingerprint_3d(0.0, classes=("0", "1", "4")), "gpu")
    assert plan["bundle"] == "unet3d_ct_organs" and plan["preset"] == "gpu"
    assert plan["options"]["modality"] == "mri" and "ct_window" not in plan["options"]
    assert plan["options"]["num_classes"] == 5


def test_the_ignore_label_is_not_a_class():
    assert make_plan(_fingerprint_3d(0.0, classes=("0", "1", "255")), "gpu")["options"]["num_classes"] == 2


@pytest.mark.parametrize(
    "shares, ratios",
    [
        ({"0": 0.9, "1": 0.08, "2": 0.02}, [1.0, 1.0, 1.0]),
        ({"0": 0.97, "2": 0.03}, [1.0, 0.0, 1.0]),
        ({"0": 0.8, "1": 0.1, "2": 0.1}, None),
        ({"0": 0.9, "1": 0.09, "255": 0.01}, None),
    ],
    ids=["small-class", "absent-class-gets-0", "no-small-class", "ignore-label-is-no-class"],
)
def test_a_small_3d_class_gets_class_centred_tiles(shares, ratios):
    fingerprint = {**_fingerprint_3d(0.0), "classes": shares}
    assert make_plan(fingerprint, "cpu")["options"].get("crop_ratios") == ratios


@pytest.mark.parametrize(
    "shares, loss",
    [
        ({"0": 0.9, "1": 0.08, "2": 0.02}, {"class_weights": [1.0, 1.0, 1.0], "dice_weight": 1.0}),
        ({"0": 0.8, "1": 0.1, "2": 0.1}, {}),
    ],
    ids=["small-class", "no-small-class"],
)
def test_a_small_3d_class_trains_with_dice_and_unweighted_ce(shares, loss):
    options = make_plan({**_fingerprint_3d(0.0), "classes": shares}, "cpu")["options"]
    assert {key: options[key] for key in ("class_weights", "dice_weight") if key in options} == loss


def test_the_small_class_threshold_is_a_share_of_the_voxels():
    fingerprint = {**_fingerprint_3d(0.0), "classes": {"0": 1 - SMALL_CLASS_SHARE, "1": SMALL_CLASS_SHARE}}
    assert "crop_ratios" not in make_plan(fingerprint, "cpu")["options"]


def test_the_gpu_keeps_the_median_spacing_of_large_cases():
    fingerprint = _fingerprint_3d(0.0, spacing=(1.0, 1.0, 2.0), shape=(200, 200, 100))
    assert make_plan(fingerprint, "gpu")["options"]["pixdim"] == [1.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "spacing, shape, expected",
    [
        # thick slices: the pixels coarsen to about the slices' 5 mm first, the slices stay
        ((0.63, 0.63, 5.0), (512, 512, 61), [3.98, 3.98, 5.0]),
        ((0.8, 0.8, 2.5), (512, 512, 300), [6.8, 6.8, 6.8]),  # past the slice spacing: every axis together
        ((1.0, 1.0, 2.0), (200, 200, 100), [2.71, 2.71, 2.71]),
        ((1.0, 1.0, 1.0), (200, 200, 100), [2.15, 2.15, 2.15]),  # isotropic: evenly
    ],
)
def test_the_cpu_coarsens_the_finest_axes_first(spacing, shape, expected):
    fingerprint = _fingerprint_3d(0.0, spacing=spacing, shape=shape)
    pixdim = make_plan(fingerprint, "cpu")["options"]["pixdim"]
    assert pixdim == pytest.approx(expected, abs=0.01)
    voxels = math.prod(n * s / p for n, s, p in zip(shape, spacing, pixdim))
    assert voxels == pytest.approx(CPU_VOXELS, rel=0.01)


def test_small_cases_keep_their_spacing_on_the_cpu():
    assert make_plan(_fingerprint_3d(0.0, shape=(50, 50, 50)), "cpu")["options"]["pixdim"] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("device", ["cpu", "gpu"])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 0.8, 2.5), (0.5, 0.5, 5.0)])
def test_the_tile_is_valid_and_near_the_preset_volume(device, spacing):
    options = make_plan(_fingerprint_3d(0.0, spacing=spacing, shape=(60, 60, 60)), device)["options"]
    preset = preset_settings("unet3d_ct_organs", device)
    tile = options["roi_size"]
    assert UNet2015(3, 1, 1, features=preset["features"]).output_size(tile)  # raises for an invalid size
    volume, budget = tile[0] * tile[1] * tile[2], preset["roi_size"][0] * preset["roi_size"][1] * preset["roi_size"][2]
    largest = MAX_TILE_GROWTH * budget if device == "cpu" else budget
    assert 0.4 * budget < volume <= largest


def _output_share(tile: list[int], device: str) -> float:
    net = UNet2015(3, 1, 1, features=preset_settings("unet3d_ct_organs", device)["features"])
    return math.prod(net.output_size(tile)) / math.prod(tile)


def test_an_isotropic_cpu_tile_grows_until_a_tenth_of_it_reaches_the_loss():
    tile = make_plan(_fingerprint_3d(0.0, shape=(60, 60, 60)), "cpu")["options"]["roi_size"]
    assert tile == [76, 76, 76]  # the preset's volume as a cube, 60^3, has an output of 20^3: 3.7% of it
    assert _output_share(tile, "cpu") >= MIN_OUTPUT_SHARE > _output_share([68, 68, 68], "cpu")


def test_thin_ct_slices_grow_the_cpu_tile_only_up_to_the_cap():
    ct = make_plan(_fingerprint_3d(-1000.0, spacing=(0.8, 0.8, 2.5), shape=(60, 60, 60)), "cpu")["options"]
    preset = preset_settings("unet3d_ct_organs", "cpu")["roi_size"]
    assert preset == [76, 76, 44] and ct["roi_size"][2] == 44 and ct["roi_size"][0] == ct["roi_size"][1] > 76
    assert _output_share(ct["roi_size"], "cpu") < MIN_OUTPUT_SHARE  # the cap stopped it
    assert math.prod(ct["roi_size"]) <= MAX_TILE_GROWTH * math.prod(preset)


def test_the_gpu_tile_keeps_the_preset_volume():
    ct = make_plan(_fingerprint_3d(-1000.0, spacing=(0.8, 0.8, 2.5), shape=(60, 60, 60)), "gpu")["options"]
    assert math.prod(ct["roi_size"]) <= math.prod(preset_settings("unet3d_ct_organs", "gpu")["roi_size"])
    # the proportional tile itself, not a re-rounded larger try that happens to fit the volume ([188, 116, 92])
    mri = make_plan(_fingerprint_3d(0.0, spacing=(0.5, 0.8, 1.0), shape=(60, 60, 60)), "gpu")["options"]
    assert mri["roi_size"] == [180, 116, 92]


def test_2d_plans_foreground_and_a_minimum_object_size(nuclei_dir):
    plan = make_plan(dataset_fingerprint(nuclei_dir), "cpu")
    assert plan["bundle"] == "unet2015_cells_2d" and plan["preset"] == "cpu"
    options = plan["options"]
    assert options["num_classes"] == 2
    assert 9 < options["min_object_size"] <= 113 // 2  # above the specks' 9 px, below half a nucleus
    assert options["val_fraction"] == 0.0  # 3 cases: none held out
    assert options["max_epochs"] * 3 >= 1500  # so all 3 train in each epoch


@pytest.mark.parametrize("num_cases, val_fraction, per_epoch", [(4, 0.0, 4), (5, None, 4), (10, None, 8)])
def test_small_datasets_hold_no_case_out(num_cases, val_fraction, per_epoch):
    fingerprint = {**_fingerprint_3d(0.0), "num_cases": num_cases}
    options = make_plan(fingerprint, "cpu")["options"]
    assert options.get("val_fraction") == val_fraction
    assert options["max_epochs"] == max(10, -(-ITERATIONS["cpu"][3] // per_epoch))


@pytest.mark.parametrize(("num_cases", "warned"), [(1, True), (4, True), (5, False)])
def test_the_report_says_when_validation_reuses_the_training_cases(num_cases, warned):
    fingerprint = {**_fingerprint_3d(0.0), "num_cases": num_cases, "bit_depth": "16-bit", "channels": [1]}
    fingerprint["intensity"] = {"all": {"min": 0.0}, "foreground": {"mean": 1.0, "std": 1.0, "p0.5": 0, "p99.5": 2}}
    report = plan_report(fingerprint, make_plan(fingerprint, "cpu"), "plan.json")
    assert ("the validation Dice that training logs is measured on training cases" in report) == warned


def test_a_time_budget_replaces_the_iteration_count_and_keeps_the_validation_spacing():
    fingerprint = _fingerprint_3d(0.0)
    counted = make_plan(fingerprint, "cpu")["options"]
    timed = make_plan(fingerprint, "cpu", time_budget_s=600)["options"]
    assert timed["time_budget_s"] == 600.0 and timed["max_epochs"] == UNCAPPED_EPOCHS
    assert "time_budget_s" not in counted
    assert {k: v for k, v in timed.items() if k not in ("time_budget_s", "max_epochs")} == {
        k: v for k, v in counted.items() if k != "max_epochs"
    }


@pytest.mark.parametrize("seconds", [0, -10.0, "600", True])
def test_the_time_budget_must_be_positive_seconds(seconds):
    with pytest.raises(ValueError, match=f"time_budget_s must be a number of seconds > 0 or None, got {seconds!r}"):
        make_plan(_fingerprint_3d(0.0), "cpu", time_budget_s=seconds)


def test_the_plan_command_takes_a_time_budget(nuclei_dir, tmp_path, capsys):
    plan_file = tmp_path / "p.json"
    assert main(["plan", str(nuclei_dir), "--output", str(plan_file), "--time-budget", "240"]) == 0
    assert "time_budget_s=240.0" in capsys.readouterr().out
    options = json.loads(plan_file.read_text())
    assert options["time_budget_s"] == 240.0 and options["max_epochs"] == UNCAPPED_EPOCHS
    assert main(["plan", str(nuclei_dir), "--output", str(tmp_path / "q.json"), "--time-budget", "-1"]) == 2
    assert "time_budget_s must be a number of seconds > 0" in capsys.readouterr().err


def test_an_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="device"):
        make_plan(_fingerprint_3d(0.0), "tpu")


def test_other_dimensions_are_an_error():
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3, got 4"):
        make_plan({**_fingerprint_3d(0.0), "spatial_dims": 4}, "cpu")


def test_write_plan_writes_options_and_the_fingerprint_and_keeps_an_existing_plan(nuclei_dir, tmp_path):
    plan_file = tmp_path / "plans" / "plan.json"
    report = write_plan(nuclei_dir, plan_file)
    assert "plan for unet2015_cells_2d (cpu preset)" in report and "--args_file" in report
    options = json.loads(plan_file.read_text())
    record = json.loads(fingerprint_path(plan_file).read_text())
    assert options == make_plan(record["fingerprint"], "cpu")["options"]
    assert record["bundle"] == "unet2015_cells_2d" and record["preset"] == "cpu"
    with pytest.raises(FileExistsError, match="plan file .*plan.json exists: pass --overwrite"):
        write_plan(nuclei_dir, plan_file)


def test_the_plan_command(nuclei_dir, tmp_path, capsys):
    plan_file = tmp_path / "p.json"
    assert main(["plan", str(nuclei_dir), "--output", str(plan_file)]) == 0
    assert "min_object_size=" in capsys.readouterr().out and plan_file.is_file()
    assert main(["plan", str(nuclei_dir), "--output", str(plan_file)]) == 2
    assert "error: plan file" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "missing"), "--output", str(tmp_path / "q.json")]) == 2
    assert "missing does not exist" in capsys.readouterr().err


def _working_copy(name: str, tmp_path):
    copy = tmp_path / name
    shutil.copytree(bundles_dir() / name / "configs", copy / "configs")
    return copy


def test_apply_plan_writes_the_preset_and_the_options_where_each_config_has_them(nuclei_dir, tmp_path):
    plan_file = tmp_path / "plan.json"
    write_plan(nuclei_dir, plan_file)
    copy = _working_copy("unet2015_cells_2d", tmp_path)
    changed = apply_plan(copy, plan_file)
    options = json.loads(plan_file.read_text())
    common = json.loads((copy / "configs" / "common.json").read_text())
    train = json.loads((copy / "configs" / "train.json").read_text())
    assert common["features"] == [16, 32, 64, 128] and "features" in changed["common.json"]
    assert train["max_epochs"] == options["max_epochs"] and "max_epochs" not in common
    assert common["min_object_size"] == options["min_object_size"] and "min_object_size" not in changed["train.json"]


def test_apply_plan_takes_a_bundle_folder_from_before_common_json(nuclei_dir, tmp_path):
    """Its settings are in train.json and inference.json, where the plan's options go then."""
    plan_file = tmp_path / "plan.json"
    write_plan(nuclei_dir, plan_file)
    copy = _working_copy("unet2015_cells_2d", tmp_path)
    common = json.loads((copy / "configs" / "common.json").read_text())
    (copy / "configs" / "common.json").unlink()
    for name in ("train.json", "inference.json"):
        path = copy / "configs" / name
        path.write_text(json.dumps({**common, **json.loads(path.read_text())}))
    changed = apply_plan(copy, plan_file)
    assert "common.json" not in changed
    assert "features" in changed["train.json"] and "features" in changed["inference.json"]


def test_apply_plan_sets_nested_keys(tmp_path):
    root = write_volumes(tmp_path / "vol", ct=True)
    plan_file = tmp_path / "plan.json"
    write_plan(root, plan_file, device="gpu")
    copy = _working_copy("unet3d_ct_organs", tmp_path)
    apply_plan(copy, plan_file)
    common = json.loads((copy / "configs" / "common.json").read_text())
    assert common["features"] == [32, 64, 128, 256] and common["network_def"]["features"] == "@features"
    assert common["ct_window"] == json.loads(plan_file.read_text())["ct_window"]


def test_apply_plan_refuses_a_plan_for_other_dimensions(nuclei_dir, tmp_path):
    plan_file = tmp_path / "plan.json"
    write_plan(nuclei_dir, plan_file)
    with pytest.raises(
        ValueError, match=r"plan .*plan.json is for 2D data \(unet2015_cells_2d\), but the bundle .* is 3D"
    ):
        apply_plan(_working_copy("unet3d_ct_organs", tmp_path), plan_file)


def test_apply_plan_needs_both_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="plan .*plan.json: .*plan.json not found"):
        apply_plan(_working_copy("unet3d_ct_organs", tmp_path), tmp_path / "plan.json")


def test_the_label_app_applies_a_plan_to_the_bundle_it_was_made_for(nuclei_dir, tmp_path):
    from monai_unet2015.label.app import _apply_plan_to

    plan_file = tmp_path / "plan.json"
    write_plan(nuclei_dir, plan_file)
    copies = {name: _working_copy(name, tmp_path) for name in ("unet2015_cells_2d", "unet3d_ct_organs")}
    _apply_plan_to(copies, plan_file)
    common = json.loads((copies["unet2015_cells_2d"] / "configs" / "common.json").read_text())
    assert common["min_object_size"] == json.loads(plan_file.read_text())["min_object_size"]
    with pytest.raises(
        ValueError, match=r"conf 'plan' .*plan.json is for the bundle 'unet2015_cells_2d', not one served"
    ):
        _apply_plan_to({"unet3d_ct_organs": copies["unet3d_ct_organs"]}, plan_file)


def _with_class_medians(fingerprint: dict, medians: list[dict]) -> dict:
    fingerprint["intensity"]["class_medians_per_case"] = medians
    fingerprint["intensity"]["foreground"].update({"mean": 182.83, "std": 27.71})
    return fingerprint


def test_mri_of_one_intensity_scale_is_normalised_by_the_dataset_statistics():
    medians = [{"1": 166.0, "2": 208.0}, {"1": 169.0, "2": 222.0}, {"1": 165.0, "2": 216.0}]
    options = make_plan(_with_class_medians(_fingerprint_3d(0.0), medians), "cpu")["options"]
    assert options["mri_method"] == "dataset" and options["mri_stats"] == [182.83, 27.71]


@pytest.mark.parametrize(
    "medians",
    [
        [{"1": 166.0, "2": 208.0}, {"1": 332.0, "2": 416.0}],  # another scanner's scale
        [{"1": 166.0, "2": 208.0}],  # one case tells nothing
    ],
)
def test_mri_of_varying_scale_keeps_the_per_volume_zscore(medians):
    options = make_plan(_with_class_medians(_fingerprint_3d(0.0), medians), "cpu")["options"]
    assert "mri_method" not in options and "mri_stats" not in options


def test_the_fingerprint_records_each_class_median_per_case(tmp_path):
    fingerprint = dataset_fingerprint(write_volumes(tmp_path / "vol", ct=False))
    per_case = fingerprint["intensity"]["class_medians_per_case"]
    assert len(per_case) == 3 and all(set(case) == {"1", "2"} for case in per_case)
    assert all(35 < case["1"] < 45 and 115 < case["2"] < 125 for case in per_case)
    assert make_plan(fingerprint, "cpu")["options"]["mri_method"] == "dataset"


def test_2d_split_distance_is_the_best_at_recovering_the_training_instances_smaller_on_a_tie(nuclei_dir):
    fingerprint = dataset_fingerprint(nuclei_dir)
    assert set(fingerprint["split_distance_f1"]) == {"none", "3", "5", "7", "9", "11", "13", "15"}
    fingerprint["split_distance_f1"] = {"none": 0.7, "3": 0.5, "5": 0.9, "7": 0.9, "9": 0.8}
    assert make_plan(fingerprint, "cpu")["options"]["split_distance"] == 5


@pytest.mark.parametrize("no_split", [0.9, 0.95])
def test_2d_no_split_wins_where_the_components_recover_the_instances_as_well(nuclei_dir, no_split):
    fingerprint = dataset_fingerprint(nuclei_dir)
    fingerprint["split_distance_f1"] = {"none": no_split, "3": 0.5, "5": 0.9, "7": 0.9}
    assert "split_distance" not in make_plan(fingerprint, "cpu")["options"]


def test_2d_split_distance_from_a_fingerprint_without_the_no_split_score(nuclei_dir):
    # fingerprints written before the no-split candidate existed keep their plan
    fingerprint = dataset_fingerprint(nuclei_dir)
    fingerprint["split_distance_f1"] = {"3": 0.5, "5": 0.9, "7": 0.95}
    assert make_plan(fingerprint, "cpu")["options"]["split_distance"] == 7


def test_2d_rods_get_no_split(tmp_path):
    # rod-shaped cells side by side, with a background gap as in bacteria masks: a
    # distance-transform split cuts each rod into pieces, the components keep them whole
    from PIL import Image

    root = tmp_path / "rods"
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    for case in range(2):
        labels = np.zeros((96, 96), np.uint16)
        for rod in range(5):
            column = 8 + rod * 16
            labels[10 + case * 4 : 80 + case * 4, column : column + 10] = rod + 1
        image = np.where(labels > 0, 200, 30).astype(np.uint8)
        Image.fromarray(image).save(root / "imagesTr" / f"rods_{case}.png")
        Image.fromarray(labels).save(root / "labelsTr" / f"rods_{case}.png")
    fingerprint = dataset_fingerprint(root)
    scores = fingerprint["split_distance_f1"]
    assert scores["none"] == 1.0 and max(v for k, v in scores.items() if k != "none") < 1.0
    assert "split_distance" not in make_plan(fingerprint, "cpu")["options"]


def test_binary_2d_masks_get_no_split_distance(tmp_path):
    from PIL import Image

    from tests.planning.conftest import write_nuclei

    root = write_nuclei(tmp_path / "binary", num_cases=2)
    for path in (root / "labelsTr").iterdir():
        Image.fromarray(((np.array(Image.open(path)) > 0) * 255).astype(np.uint8)).save(path)
    options = make_plan(dataset_fingerprint(root), "cpu")["options"]
    assert "split_distance" not in options and "min_object_size" in options


def test_the_slices_preset_keeps_the_spacing_and_the_presets_tile():
    fingerprint = _fingerprint_3d(-1024.0, spacing=(0.8, 0.8, 3.0), shape=(512, 512, 100))
    plan = make_plan(fingerprint, "cpu", preset="slices")
    assert plan["preset"] == "slices" and plan["bundle"] == "unet3d_ct_organs"
    assert plan["options"]["pixdim"] == [0.8, 0.8, 3.0]  # the 2D net sees slices at full resolution
    assert plan["options"]["roi_size"] == preset_settings("unet3d_ct_organs", "slices")["roi_size"]
    assert make_plan(fingerprint, "cpu")["options"]["pixdim"] != [0.8, 0.8, 3.0]  # the 3D net's CPU plan coarsens


def test_the_slices_preset_is_for_3d_data_and_presets_are_named():
    with pytest.raises(ValueError, match="preset 'slices' is for 3D data"):
        make_plan({"spatial_dims": 2, "num_cases": 3}, "cpu", preset="slices")
    with pytest.raises(ValueError, match="preset"):
        make_plan(_fingerprint_3d(0.0), "cpu", preset="slice")


def test_the_plan_command_plans_for_the_slices_preset(tmp_path, capsys):
    root = write_volumes(tmp_path / "ct", ct=True)
    assert main(["plan", str(root), "--output", str(tmp_path / "p.json"), "--preset", "slices"]) == 0
    assert "configs/slices.json" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.json").read_text())["roi_size"] == [196, 196, 16]


def test_a_3d_plan_without_the_presets_says_what_it_needs():
    with pytest.raises(ValueError, match=r"a 3D plan needs the 3D bundle's preset 'cpu' \(features and roi_size\)"):
        plan_rules(_fingerprint_3d(0.0), "cpu")


def test_the_plan_rules_take_their_presets_as_given():
    presets = {"cpu": {"features": [4, 8], "roi_size": [60, 60, 60]}}
    tile = plan_rules(_fingerprint_3d(0.0, shape=(60, 60, 60)), "cpu", presets=presets)["options"]["roi_size"]
    assert UNet2015(3, 1, 1, features=[4, 8]).output_size(tile)  # a valid tile of that network
