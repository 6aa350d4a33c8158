"""Why nnU-Net's ``2d`` beats the 3D bundle on the real abdominal CT: three measurements, none on the test labels' Dice.

Run after ``peer_nnunet.py --only abdomen_ct --work-dir DIR`` on the same ``DIR``; it reads the
trained bundle, the plan and the data there, and that run's results file.

1. **Intensity**: the share of each organ's voxels at or above the plan's CT window top, in
   the training patient and in the held-out one (the window comes from the training labels'
   0.5-99.5 percentiles; nnU-Net's CT normalisation clips at the same percentiles).
2. **Context along z**: the trained bundle segments its own training patient twice, whole
   (30 slices) and as a 13-slice slab cut out of it (the held-out slab's 40 mm at the plan's
   3 mm); Dice on the same 13 slices. The net was trained on this image, so the difference is
   what the missing context costs, not generalisation. A 2D net sees no z context either way.
3. **Supervision per budget**: output voxels per step times steps, for the bundle's 3D tile
   and nnU-Net's ``2d`` batch.

Example::

    python benchmarks/ct_diagnosis.py --work-dir /tmp/peer_ct \
        --results benchmarks/results/peer_nnunet_abdomen_ct_cpu.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
from common import write_results
from real_data_quality import class_dice

from monai_unet2015.bundle.workflow import bundle_run_command
from monai_unet2015.networks import UNet3D

CLASSES = {"liver": 1, "spleen": 2, "stomach": 3}
SLAB = slice(8, 21)  # 13 slices of 3 mm: the held-out slab's 20 x 2 mm


def saturation(image: Path, label: Path, window_top: float) -> dict:
    array, labels = np.asarray(nib.load(image).dataobj), np.asarray(nib.load(label).dataobj)
    return {
        name: {
            "median_hu": float(np.median(array[labels == value])),
            "share_at_or_above_window_top": round(float((array[labels == value] >= window_top).mean()), 3),
        }
        for name, value in CLASSES.items()
    }


def segment(bundle: Path, plan: Path, images: Path, output: Path) -> Path:
    command = bundle_run_command("['configs/inference.json','configs/cpu.json']", "--args_file", str(plan))
    command += ["--dataset_dir", str(images), "--output_dir", str(output), "--progress", "false", "--overwrite", "true"]
    subprocess.run(command, cwd=bundle, check=True, capture_output=True)
    (mask,) = output.glob("*_seg.nii.gz")
    return mask


def z_context(work: Path) -> dict:
    image_file = work / "data" / "abdomen_ct" / "imagesTr" / "ts_example_ct_sm.nii.gz"
    truth = np.asarray(nib.load(work / "data" / "abdomen_ct" / "labelsTr" / image_file.name).dataobj)
    image = nib.load(image_file)
    whole, slab = work / "diagnosis" / "whole" / "imagesTr", work / "diagnosis" / "slab" / "imagesTr"
    for folder in (whole, slab):
        folder.mkdir(parents=True, exist_ok=True)
    nib.save(image, whole / "train.nii.gz")
    moved = image.affine.copy()
    moved[:3, 3] = (image.affine @ np.array([0.0, 0.0, SLAB.start, 1.0]))[:3]
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:, :, SLAB], moved), slab / "train_slab.nii.gz")
    bundle, plan = work / "unet3d_ct_organs_b330_s0", work / "abdomen_ct_plan.json"
    whole_mask = np.asarray(nib.load(segment(bundle, plan, whole, work / "diagnosis" / "out_whole")).dataobj)
    slab_mask = np.asarray(nib.load(segment(bundle, plan, slab, work / "diagnosis" / "out_slab")).dataobj)
    return {
        "image": "the training patient (the bundle trained on it)",
        "slices": f"{SLAB.start}..{SLAB.stop - 1} of {truth.shape[2]}",
        "dice_segmented_whole": class_dice(truth[:, :, SLAB], whole_mask[:, :, SLAB], CLASSES),
        "dice_segmented_as_a_slab": class_dice(truth[:, :, SLAB], slab_mask, CLASSES),
    }


def supervision(results: dict, roi_size: list[int], features: list[int]) -> dict:
    run = results["abdomen_ct"]["runs"][0]
    output = UNet3D(in_channels=1, out_channels=4, features=features).output_size(tuple(roi_size))
    two_d = run["nnunet"]["2d"]["train"]
    return {
        "bundle": {
            "steps": run["bundle"]["epochs"],
            "output_voxels_per_step": int(np.prod(output)),
            "supervised_voxels": int(run["bundle"]["epochs"] * np.prod(output)),
        },
        "nnunet_2d": {
            "steps": two_d["iterations"],
            "output_pixels_per_step": int(two_d["batch_size"] * np.prod(two_d["patch_size"])),
            "supervised_pixels": int(two_d["iterations"] * two_d["batch_size"] * np.prod(two_d["patch_size"])),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    plan = json.loads((args.work_dir / "abdomen_ct_plan.json").read_text())
    top = float(plan["ct_window"][1])
    data = args.work_dir / "data"
    findings = {
        "ct_window": plan["ct_window"],
        "intensity": {
            "training_patient": saturation(
                data / "abdomen_ct" / "imagesTr" / "ts_example_ct_sm.nii.gz",
                data / "abdomen_ct" / "labelsTr" / "ts_example_ct_sm.nii.gz",
                top,
            ),
            "held_out_patient": saturation(
                data / "abdomen_ct_test" / "imagesTr" / "ts_example_ct_dicom.nii.gz",
                data / "abdomen_ct_test" / "labelsTr" / "ts_example_ct_dicom.nii.gz",
                top,
            ),
        },
        "z_context": z_context(args.work_dir),
        "supervision": supervision(json.loads(args.results.read_text()), plan["roi_size"], [8, 16, 32]),
    }
    print(json.dumps(findings, indent=2))
    print(write_results("ct_diagnosis_cpu", findings))


if __name__ == "__main__":
    main()
