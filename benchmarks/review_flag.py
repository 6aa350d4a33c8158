"""The gate before and the "needs review" flag after inference, on real CT: do they separate good from bad?

Data (fetched by ``real_data.py``, never committed): the two abdominal CT patients of the
TotalSegmentator 2.18.0 source package (Apache-2.0; labels are TotalSegmentator's own fast
model's output, a silver standard) and the MNI ICBM152 2009a T1 template from the nilearn
wheel (for a deliberately wrong input).

The 3D bundle is planned on and trained with the training patient only (``plan`` with its
CPU preset and ``--time-budget``, seed 0), then run with one test-time flip (left-right,
``flip_axes [0]``) and the plan's fingerprint as ``training_fingerprint`` on:

- ``held_out_patient``: the other patient, as it is (a good input);
- ``training_patient``: the patient it was trained on (a good input, optimistic);
- ``held_out_fov_cut``: the held-out patient's central 60 % in-plane (a field of view that cuts
  the organs);
- ``held_out_upside_down``: its voxels flipped head-feet with the header unchanged (a wrong
  orientation the header does not reveal);
- ``held_out_uncalibrated``: +1024 on every voxel (a CT whose Rescale Intercept was lost);
- ``brain_mri_as_ct``: the T1 brain template scaled to -1000..1000 and passed as a CT
  (another modality and body region).

Per case: the gate's decision and reasons (:class:`~monai_unet2015.dicom_node.ApplicabilityGate`
on the NIfTI's spacing, plane, field of view and intensity profile), the flag and its reasons
(``<name>_volumes.json``), each structure's flip disagreement, volume, the signals that flagged
it and its Dice against the labels where there are labels; ``separation``: per signal, the
mean Dice of the structures it flagged and of those it did not. The held-out patient also runs without flips: the flip
signal's cost in seconds. The thresholds are the library's a-priori defaults: nothing here is
tuned on these cases.

Example::

    python benchmarks/review_flag.py --budget 330   # writes benchmarks/results/review_flag_cpu.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from common import write_results
from peer_nnunet import bundle_train
from real_data import MNI_FILES, NILEARN, WHEEL_CACHE, extract, fetch_wheel, write_abdomen_ct

from monai_unet2015.bundle.predictor import Predictor
from monai_unet2015.data.profiles import intensity_profile, slice_plane
from monai_unet2015.dicom_node.gate import ApplicabilityGate, SeriesLook
from monai_unet2015.metrics import dice
from monai_unet2015.planning.write import fingerprint_path, read_plan_record, write_plan

ORGANS = {1: "liver", 2: "spleen", 3: "stomach"}  # the labels real_data.py writes
FLIPS = [0]


def _save(folder: Path, name: str, image: np.ndarray, affine: np.ndarray, labels: np.ndarray | None) -> None:
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), folder / "imagesTr" / f"{name}.nii.gz")
    if labels is not None:
        (folder / "labelsTr").mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(labels.astype(np.uint8), affine), folder / "labelsTr" / f"{name}.nii.gz")


def _read(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (path,) = sorted((folder / "imagesTr").glob("*.nii.gz"))
    image = nib.load(path)
    labels = np.asarray(nib.load(folder / "labelsTr" / path.name).dataobj)
    return np.asarray(image.dataobj, np.float32), image.affine, labels


def make_cases(root: Path, cases: Path) -> None:
    """The six inputs of the module docstring, one folder each (``imagesTr`` and, with labels, ``labelsTr``)."""
    train, train_affine, train_labels = _read(root / "abdomen_ct")
    test, affine, labels = _read(root / "abdomen_ct_test")
    _save(cases / "held_out_patient", "case", test, affine, labels)
    _save(cases / "training_patient", "case", train, train_affine, train_labels)
    x, y = (round(s * 0.2) for s in test.shape[:2])
    cut = (slice(x, test.shape[0] - x), slice(y, test.shape[1] - y))
    moved = affine.copy()
    moved[:3, 3] = (affine @ np.array([x, y, 0, 1.0]))[:3]
    _save(cases / "held_out_fov_cut", "case", test[cut], moved, labels[cut])
    _save(cases / "held_out_upside_down", "case", test[:, :, ::-1], affine, labels[:, :, ::-1])
    _save(cases / "held_out_uncalibrated", "case", test + 1024, affine, labels)
    (t1_file,) = extract(fetch_wheel(NILEARN, WHEEL_CACHE), MNI_FILES[:1], WHEEL_CACHE / "extracted")
    t1 = nib.load(t1_file)
    brain = np.asarray(t1.dataobj, np.float32)
    _save(cases / "brain_mri_as_ct", "case", brain / brain.max() * 2000 - 1000, t1.affine, None)


def gate_decision(gate: ApplicabilityGate, folder: Path) -> dict:
    """The gate on a NIfTI case: its spacing, plane, in-plane field of view and intensities."""
    (path,) = sorted((folder / "imagesTr").glob("*.nii.gz"))
    image = nib.load(path)
    spacing = [float(s) for s in image.header.get_zooms()[:3]]
    array = np.asarray(image.dataobj, np.float32)
    sample = np.random.default_rng(0).choice(array.ravel(), min(array.size, 200_000), replace=False)
    look = SeriesLook(
        slice_plane(image.affine[:3, 2]),
        (array.shape[0] * spacing[0], array.shape[1] * spacing[1]),
        intensity_profile(sample, ct=True),
    )
    reasons = gate.reasons("CT", spacing, look)
    return {"applicable": not reasons, "reasons": reasons, "profile": look.profile}


def segment(predictor: Predictor, folder: Path, output: Path) -> dict:
    """One case through the bundle: seconds, the review, per structure volume and flip disagreement, Dice."""
    began = time.perf_counter()
    predictor(folder / "imagesTr", output)
    seconds = time.perf_counter() - began
    report = json.loads(next(output.glob("*_volumes.json")).read_text())
    review = report["review"]
    result = {
        "seconds": round(seconds, 1),
        "needs_review": review["needs_review"],
        "reasons": review["reasons"],
        "not_checked": review["not_checked"],
        "structures": {
            s["name"]: {
                **{k: s[k] for k in ("volume_ml", "flip_disagreement", "touches_edge")},
                "signals": review["structures"].get(s["name"], []),
            }
            for s in report["structures"]
        },
    }
    if (folder / "labelsTr").is_dir():
        mask = np.asarray(nib.load(next(output.glob("*_seg.nii.gz"))).dataobj)
        _, _, labels = _read(folder)
        for value, organ in ORGANS.items():
            result["structures"][organ]["dice"] = round(dice(mask, labels, value), 4)
    return result


def separation(cases: dict) -> dict:
    """Per signal (and the flag as a whole): the mean Dice of the labelled structures it flagged and of those
    it did not, with their counts: a signal that separates flags the low Dice ones."""
    rows = [
        (case, name, structure)
        for case, result in cases.items()
        for name, structure in result["flag"]["structures"].items()
        if "dice" in structure
    ]
    summary = {}
    for signal in ("flips", "volume", "edge", "any"):
        groups = {True: [], False: []}
        for _, _, structure in rows:
            flagged = bool(structure["signals"]) if signal == "any" else signal in structure["signals"]
            groups[flagged].append(structure["dice"])
        summary[signal] = {
            f"{'flagged' if flagged else 'not_flagged'}": {
                "structures": len(dice_values),
                "mean_dice": round(float(np.mean(dice_values)), 4) if dice_values else None,
            }
            for flagged, dice_values in groups.items()
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=330.0, help="training seconds")
    parser.add_argument("--work", type=Path, default=None, help="keep the work here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        root = work / "real"
        write_abdomen_ct(root)
        make_cases(root, work / "cases")
        plan = work / "plan.json"
        print(
            write_plan(
                root / "abdomen_ct", plan, device="cpu", overwrite=True, time_budget_s=args.budget, estimate=False
            )
        )
        trained = bundle_train({"bundle": "unet3d_ct_organs"}, root / "abdomen_ct", work, plan, args.budget, 0, {})
        preset = f"{read_plan_record(plan)['preset']}.json"
        fingerprint = read_plan_record(plan)["fingerprint"]
        gate = ApplicabilityGate("CT", fingerprint)

        def predictor(flips) -> Predictor:
            overrides = {"progress": False, "overwrite": True, "flip_axes": flips, "label_names": ORGANS}
            overrides["training_fingerprint"] = str(fingerprint_path(plan))
            return Predictor(trained["bundle"], ("inference.json", preset), overrides, plan)

        with_flips, results = predictor(FLIPS), {}
        for folder in sorted((work / "cases").iterdir()):
            results[folder.name] = {"gate": gate_decision(gate, folder)}
            results[folder.name]["flag"] = segment(with_flips, folder, work / "out" / folder.name)
            print(folder.name, json.dumps(results[folder.name]), flush=True)
        plain = segment(predictor(None), work / "cases" / "held_out_patient", work / "out" / "plain")
        results["held_out_patient"]["without_flips_seconds"] = plain["seconds"]
    path = write_results(
        "review_flag_cpu",
        {
            "budget_s": args.budget,
            "epochs": trained["epochs"],
            "flip_axes": FLIPS,
            "training_profiles": fingerprint["intensity"]["profiles_per_case"],
            "training_volumes_ml": fingerprint["class_volumes_ml_per_case"],
            "separation": separation(results),
            "cases": results,
        },
    )
    print(path)


if __name__ == "__main__":
    main()
