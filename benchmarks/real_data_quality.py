"""Both bundles trained and tested on real images, beside what a user would try first.

Data (:mod:`benchmarks.real_data`, fetched from the StarDist and nilearn wheels on PyPI):
nuclei (2D fluorescence, instance labels) and a T1 brain MRI (grey / white matter). Each
bundle trains with its plan (``python -m monai_unet2015 plan``) and CPU preset through
``python -m monai.bundle run`` exactly as a user would, for each seed; then its
``inference.json`` segments the held-out image and the masks are scored here.

Baselines on the same held-out images:
- nuclei: Otsu threshold + distance-transform watershed (scikit-image), the classical pipeline;
- MRI: 2-class k-means on the intensities inside the true tissue mask (grey vs white matter),
  which is given the tissue mask the network has to find itself.

Results: ``benchmarks/results/real_data_quality_cpu.json`` with the machine described.

Example::

    python benchmarks/real_data_quality.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
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
from real_data import WHEEL_CACHE, write_brain_mri, write_nuclei  # noqa: E402

from monai_unet2015.bundle.workflow import bundle_run_command
from monai_unet2015.metrics import dice, matching_scores, seg_measure  # noqa: E402
from monai_unet2015.planning.write import read_plan_record  # noqa: E402
from monai_unet2015.transforms import label_instances  # noqa: E402

BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
TRAIN_ONLY = ("max_epochs", "learning_rate", "val_interval", "grad_clip_norm", "val_fraction")


def run_bundle(bundle: Path, config_files: list[str], overrides: dict, args_file: Path | None) -> float:
    """``python -m monai.bundle run`` in a subprocess; returns its wall time in seconds.

    ``monai.bundle run`` drops a command-line setting whose value is None (``--norm None``
    leaves the config's value), so the null settings of ``overrides`` go into a config file
    of their own, read after ``config_files``, as a user would write them (``configs/paper.json``
    sets its nulls so).
    """
    nulls = {key: None for key, value in overrides.items() if value is None}
    planned = set(json.loads(Path(args_file).read_text())) if args_file is not None else set()
    if nulls.keys() & planned:
        raise ValueError(f"null settings {sorted(nulls.keys() & planned)} are also in {args_file}, which wins.")
    if nulls:
        null_file = bundle / "configs" / "benchmark_nulls.json"
        null_file.write_text(json.dumps(nulls, indent=4) + "\n")
        config_files = [*config_files, str(null_file.relative_to(bundle))]
    command = bundle_run_command(json.dumps(config_files))
    command += ["--bundle_root", str(bundle)]
    if args_file is not None:
        command += ["--args_file", str(args_file)]
    for key, value in overrides.items():
        if value is not None:
            command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=bundle)
    return time.perf_counter() - began


def make_plan(dataset: Path, output: Path, device: str, preset: str | None = None) -> Path:
    command = [sys.executable, "-m", "monai_unet2015", "plan", str(dataset), "--output", str(output)]
    command += ["--preset", preset] if preset else []
    subprocess.run(command + ["--device", device, "--overwrite"], check=True)
    return output


def train_and_segment(
    bundle_name: str, dataset: Path, test_images: Path, work: Path, seed: int, plan: Path | None, overrides: dict
) -> dict:
    """Train a copy of the bundle (with the plan and its preset, if any), segment the test images."""
    bundle = work / f"{bundle_name}_seed{seed}"
    subprocess.run(["rm", "-rf", str(bundle)], check=True)
    subprocess.run(["cp", "-r", str(BUNDLES / bundle_name), str(bundle)], check=True)
    preset = [f"configs/{read_plan_record(plan)['preset']}.json"] if plan is not None else []
    train_only = {key: overrides.pop(key) for key in list(overrides) if key in TRAIN_ONLY}
    common = {"dataset_dir": str(dataset), "progress": "false", **overrides}
    train_s = run_bundle(bundle, ["configs/train.json", *preset], {**common, **train_only, "seed": seed}, plan)
    output = work / f"{bundle_name}_seed{seed}_out"
    infer = {**common, "dataset_dir": str(test_images), "output_dir": str(output), "overwrite": "true"}
    run_bundle(bundle, ["configs/inference.json", *preset], infer, plan)
    return {"train_s": round(train_s, 1), "output_dir": output}


# --- nuclei ---------------------------------------------------------------------------------


def otsu_watershed(image: np.ndarray, min_size: int = 20, dark_objects: bool = False) -> np.ndarray:
    """The classical nuclei pipeline: Otsu, hole filling, distance-transform watershed.

    ``dark_objects``: the objects are darker than the background (phase-contrast cells), so the
    image is inverted first.
    """
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import watershed

    smooth = gaussian(image.astype(np.float32), sigma=1.0, preserve_range=True)
    if dark_objects:
        smooth = smooth.max() - smooth
    foreground = ndimage.binary_fill_holes(smooth > threshold_otsu(smooth))
    foreground = remove_small_objects(foreground, max_size=min_size - 1)
    distance = ndimage.distance_transform_edt(foreground)
    peaks = peak_local_max(distance, min_distance=5, labels=ndimage.label(foreground)[0], exclude_border=False)
    markers = np.zeros(image.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=foreground)


def instance_scores(truth: np.ndarray, instances: np.ndarray) -> dict:
    scores = matching_scores(instances, truth, thresholds=(0.5, 0.75))
    return {
        "f1_iou0.5": round(float(scores[0.5]["f1"]), 4),
        "f1_iou0.75": round(float(scores[0.75]["f1"]), 4),
        "seg": round(float(seg_measure(instances, truth)), 4),
        "foreground_dice": round(dice((instances > 0).astype(int), (truth > 0).astype(int), 1), 4),
        "objects": int(len(np.unique(instances)) - 1),
        "true_objects": int(len(np.unique(truth)) - 1),
    }


def nuclei_experiment(root: Path, work: Path, seeds: list[int], overrides: dict, use_plan: bool) -> dict:
    dataset = write_nuclei(root)
    test = root / "nuclei_test"
    truth = np.array(Image.open(test / "labelsTr" / "nuclei_test.tif"))
    image = np.array(Image.open(test / "imagesTr" / "nuclei_test.tif"))
    plan = make_plan(dataset, work / "nuclei_plan.json", "cpu") if use_plan else None
    runs = []
    for seed in seeds:
        result = train_and_segment("unet2015_cells_2d", dataset, test / "imagesTr", work, seed, plan, dict(overrides))
        (instances_file,) = result["output_dir"].rglob("*_instances.*")
        instances = np.array(Image.open(instances_file))
        (mask_file,) = result["output_dir"].rglob("*_seg.*")
        semantic = label_instances(np.array(Image.open(mask_file)) > 0)
        runs.append(
            {
                "seed": seed,
                "train_s": result["train_s"],
                "bundle_instances": instance_scores(truth, instances),
                "bundle_components_unfiltered": instance_scores(truth, semantic),
            }
        )
    baseline = instance_scores(truth, otsu_watershed(image))
    return {
        "data": "stardist img2d/mask2d, train rows 0..319 (4 crops), test rows 320..511",
        "plan": _read(plan),
        "runs": runs,
        "otsu_watershed": baseline,
    }


# --- brain MRI ------------------------------------------------------------------------------


def kmeans_tissue(image: np.ndarray, tissue: np.ndarray, iterations: int = 50) -> np.ndarray:
    """2-class k-means on the intensities inside ``tissue``: 1 the darker (grey), 2 the brighter (white)."""
    values = image[tissue]
    centres = np.percentile(values, [25, 75]).astype(np.float64)
    for _ in range(iterations):
        brighter = np.abs(values - centres[1]) < np.abs(values - centres[0])
        centres = np.array([values[~brighter].mean(), values[brighter].mean()])
    labels = np.zeros(image.shape, np.uint8)
    labels[tissue] = np.where(np.abs(values - centres[1]) < np.abs(values - centres[0]), 2, 1)
    return labels


def class_dice(truth: np.ndarray, labels: np.ndarray, names: dict) -> dict:
    """Dice per foreground class, keyed by the short names of ``names`` (``{"grey matter": 1}`` -> ``grey``)."""
    return {name.split()[0]: round(dice(labels, truth, c), 4) for name, c in names.items() if c > 0}


def tissue_dice(truth: np.ndarray, labels: np.ndarray) -> dict:
    return class_dice(truth, labels, {"grey matter": 1, "white matter": 2})


def mri_experiment(root: Path, work: Path, seeds: list[int], overrides: dict, use_plan: bool) -> dict:
    dataset = write_brain_mri(root)
    test = root / "brain_mri_test"
    (image_file,) = (test / "imagesTr").glob("*.nii.gz")
    truth = np.asarray(nib.load(test / "labelsTr" / image_file.name).dataobj)
    image = np.asarray(nib.load(image_file).dataobj, np.float32)
    plan = make_plan(dataset, work / "mri_plan.json", "cpu") if use_plan else None
    runs = []
    for seed in seeds:
        result = train_and_segment("unet3d_ct_organs", dataset, test / "imagesTr", work, seed, plan, dict(overrides))
        (mask_file,) = result["output_dir"].rglob("*_seg.nii.gz")
        mask = np.asarray(nib.load(mask_file).dataobj)
        runs.append({"seed": seed, "train_s": result["train_s"], "dice": tissue_dice(truth, mask)})
    baseline = tissue_dice(truth, kmeans_tissue(image, truth > 0))
    return {
        "data": "nilearn MNI ICBM152 2009a T1 + GM/WM maps, 5 blocks train, block y1_z1 test",
        "plan": _read(plan),
        "runs": runs,
        "kmeans_in_true_tissue": baseline,
    }


def markdown_table(results: dict) -> str:
    """The README's table: per dataset, the bundle's median over seeds (min..max) beside the baseline."""
    rows = [
        "| data (held out) | measure | bundle, plan + CPU preset: median (min..max) over seeds | baseline |",
        "|---|---|---|---|",
    ]

    def spread(values: list[float]) -> str:
        return f"{np.median(values):.3f} ({min(values):.3f}..{max(values):.3f})"

    if "nuclei" in results:
        runs, base = results["nuclei"]["runs"], results["nuclei"]["otsu_watershed"]
        for key, label in (
            ("f1_iou0.5", "object F1, IoU 0.5"),
            ("f1_iou0.75", "object F1, IoU 0.75"),
            ("seg", "SEG"),
            ("foreground_dice", "foreground Dice"),
        ):
            values = [run["bundle_instances"][key] for run in runs]
            rows.append(f"| nuclei 512x192 | {label} | {spread(values)} | Otsu + watershed {base[key]:.3f} |")
        times = [run["train_s"] for run in runs]
        rows.append(f"| nuclei | training time | {np.median(times):.0f} s ({min(times):.0f}..{max(times):.0f}) | - |")
    if "brain_mri" in results:
        runs, base = results["brain_mri"]["runs"], results["brain_mri"]["kmeans_in_true_tissue"]
        for key, label in (("grey", "grey-matter Dice"), ("white", "white-matter Dice")):
            values = [run["dice"][key] for run in runs]
            rows.append(
                f"| T1 brain block | {label} | {spread(values)} | k-means inside the true tissue {base[key]:.3f} |"
            )
        times = [run["train_s"] for run in runs]
        rows.append(f"| T1 brain | training time | {np.median(times):.0f} s ({min(times):.0f}..{max(times):.0f}) | - |")
    return "\n".join(rows)


def _read(path: Path | None):
    return None if path is None else json.loads(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=["nuclei", "mri"], default=None)
    parser.add_argument("--no-plan", action="store_true", help="the bundles' defaults, no plan (the 'before')")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "real_data_quality_cpu.json")
    parser.add_argument("--table", type=Path, nargs="+", default=None, help="print the README table of result files")
    args = parser.parse_args()
    if args.table:
        merged = {}
        for path in args.table:
            merged.update(json.loads(path.read_text()))
        print(markdown_table(merged))
        return
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.override)}
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="real_quality_"))
    root = work / "data"
    results: dict = {
        "machine": describe_machine(),
        "wheel_cache": str(WHEEL_CACHE),
        "seeds": args.seeds,
        "plan": not args.no_plan,
        "overrides": overrides,
    }
    if args.only in (None, "nuclei"):
        results["nuclei"] = nuclei_experiment(root, work, args.seeds, overrides, not args.no_plan)
    if args.only in (None, "mri"):
        results["brain_mri"] = mri_experiment(root, work, args.seeds, overrides, not args.no_plan)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, indent=2, default=str))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
