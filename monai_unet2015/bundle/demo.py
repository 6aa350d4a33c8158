"""The main job: sample data -> train both bundles -> overlap-tile inference -> masks, metrics, figure."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.bundle import run as run_bundle
from PIL import Image
from scipy import ndimage

from monai_unet2015.bundle.figure import INSTANCES, overlay_figure
from monai_unet2015.bundle.locations import bundle_path, with_common_config
from monai_unet2015.bundle.predictor import Predictor
from monai_unet2015.data import CT_LABELS, write_sample_data
from monai_unet2015.metrics import dice

__all__ = ["run_demo"]

logger = logging.getLogger(__name__)

_CT_BUNDLE = "unet3d_ct_organs"
_CELLS_BUNDLE = "unet2015_cells_2d"
_CELLS_NET = {"features": [8, 16, 32, 64], "roi_size": [196, 196]}


def _bundle_files(name: str) -> dict:
    configs = bundle_path(name) / "configs"
    return {"meta_file": str(configs / "metadata.json"), "logging_file": str(configs / "logging.conf")}, configs


def _train_and_infer(
    name: str, dataset_dir: Path, root: Path, epochs: int, val_interval: int, extra: dict, verbose: bool = False
) -> tuple[dict, Predictor]:
    """Train the bundle into ``root``, segment ``dataset_dir``'s test cases; the timings and the predictor."""
    files, configs = _bundle_files(name)
    shutil.rmtree(root, ignore_errors=True)  # the demo's own earlier run: train afresh, not resume
    began = time.perf_counter()
    run_bundle(
        config_file=with_common_config(configs / "train.json"),
        bundle_root=str(root),
        dataset_dir=str(dataset_dir),
        max_epochs=epochs,
        val_interval=val_interval,
        verbose=verbose,
        **files,
        **extra,
    )
    trained = time.perf_counter() - began
    began = time.perf_counter()
    predictor = Predictor(bundle_path(name), overrides={"bundle_root": str(root), **extra})
    predictor(dataset_dir, root / "predictions")
    timings = {"train_seconds": round(trained, 1), "inference_seconds": round(time.perf_counter() - began, 1)}
    return timings, predictor


def _ct_part(sample: Path, out: Path, epochs: int, verbose: bool) -> tuple[dict, tuple]:
    root = out / _CT_BUNDLE
    interval = max(1, epochs // 6)
    timings, predictor = _train_and_infer(_CT_BUNDLE, sample / "ct", root, epochs, interval, {}, verbose)
    test = json.loads((sample / "ct" / "dataset.json").read_text())["test_labels"][0]
    case = Path(test["image"]).name.replace(".nii.gz", "")
    image = nib.load(sample / "ct" / test["image"]).get_fdata()
    truth = np.asarray(nib.load(sample / "ct" / test["label"]).dataobj)
    prediction = np.asarray(nib.load(root / "predictions" / f"{case}_seg.nii.gz").dataobj)
    organs = {name: dice(prediction, truth, value) for name, value in CT_LABELS.items() if value}
    dicom_out = out / "dicom_predictions"
    shutil.rmtree(dicom_out, ignore_errors=True)
    predictor(sample / "ct_dicom", dicom_out)  # the same network, made once
    z = int(np.argmax((truth > 0).sum(axis=(0, 1))))
    figure_row = (
        f"3D CT bundle, test case {case}, axial slice {z}",
        np.rot90(image[:, :, z]),
        np.rot90(truth[:, :, z]),
        np.rot90(prediction[:, :, z]),
        {value: name for name, value in CT_LABELS.items() if value},
    )
    metrics = {
        "test_case": case,
        "dice": {k: round(v, 4) for k, v in organs.items()},
        "mean_dice": round(float(np.mean(list(organs.values()))), 4),
        "chance_mean_dice": 0.0,
        "mask": str(root / "predictions" / f"{case}_seg.nii.gz"),
        "dicom_outputs": sorted(str(p) for p in dicom_out.iterdir()),
        **timings,
    }
    return metrics, figure_row


def _cells_part(sample: Path, out: Path, epochs: int, verbose: bool) -> tuple[dict, tuple]:
    root = out / _CELLS_BUNDLE
    interval = max(1, epochs // 4)
    timings, _ = _train_and_infer(_CELLS_BUNDLE, sample / "cells", root, epochs, interval, _CELLS_NET, verbose)
    results, figure_row = [], None
    for test in json.loads((sample / "cells" / "dataset.json").read_text())["test_labels"]:
        name = Path(test["image"]).stem
        image = np.asarray(Image.open(sample / "cells" / test["image"]), np.float32)
        instances = np.asarray(Image.open(sample / "cells" / test["label"]))
        prediction = np.asarray(Image.open(root / "predictions" / f"{name}_seg.png")) > 0
        results.append(
            {
                "image": name,
                "dice": round(dice(prediction, instances > 0, True), 4),
                "cells": int(instances.max()),
                "predicted_objects": int(ndimage.label(prediction)[1]),
            }
        )
        figure_row = figure_row or (
            f"2D cells bundle, test image {name}: {int(instances.max())} cells, "
            f"{results[-1]['predicted_objects']} objects found",
            image,
            instances,
            ndimage.label(prediction)[0],  # the predicted objects, as the metrics count them
            INSTANCES,
        )
    metrics = {
        "test_images": results,
        "mean_dice": round(float(np.mean([r["dice"] for r in results])), 4),
        "masks": str(root / "predictions"),
        **timings,
    }
    return metrics, figure_row


def run_demo(
    output_dir: str | Path = "demo_output", ct_epochs: int = 150, cells_epochs: int = 80, verbose: bool = False
) -> dict:
    """Generate the sample data, train and apply both bundles, write metrics and a figure.

    Writes under ``output_dir``: ``sample/`` (the data), ``unet3d_ct_organs/`` and
    ``unet2015_cells_2d/`` (models, TensorBoard logs, predictions), ``dicom_predictions/``
    (NIfTI + DICOM SEG for the DICOM series), ``metrics.json`` and ``figure.png``. Uses CUDA
    when present; ``verbose`` logs every training iteration (default: one line per epoch).
    Returns the metrics. A second demo run into the same ``output_dir``
    replaces the first one's results (these folders are the demo's own); bundle runs of
    your own never replace outputs unless asked (``--overwrite true``).
    """
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    sample = out / "sample"
    write_sample_data(sample)
    ct_metrics, ct_row = _ct_part(sample, out, ct_epochs, verbose)
    cells_metrics, cells_row = _cells_part(sample, out, cells_epochs, verbose)
    metrics = {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "ct_3d": ct_metrics,
        "cells_2d": cells_metrics,
        "total_seconds": round(time.perf_counter() - began, 1),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    overlay_figure([ct_row, cells_row], out / "figure.png")
    metrics["figure"] = str(out / "figure.png")
    metrics["metrics_file"] = str(out / "metrics.json")
    return metrics
