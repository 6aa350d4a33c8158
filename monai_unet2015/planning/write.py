"""Plan files on disk: the options (``--args_file``) and, beside them, what they were made from.

The glue between the plan's rules (:func:`~monai_unet2015.planning.make_plan`, which take the
bundle presets as input) and the shipped bundles: their presets, and the command that trains one.
"""

from __future__ import annotations

import json
from pathlib import Path

from monai_unet2015.bundle.locations import bundle_presets
from monai_unet2015.bundle.workflow import WORKFLOW_NAME
from monai_unet2015.planning.cost import plan_inference_estimate
from monai_unet2015.planning.fingerprint import dataset_fingerprint
from monai_unet2015.planning.plan import BUNDLE_FOR_DIMS, make_plan

__all__ = ["write_plan", "plan_report", "inference_cost_line", "fingerprint_path", "read_plan_record"]


def fingerprint_path(plan_file: str | Path) -> Path:
    """``plan.json`` -> ``plan.fingerprint.json``: the fingerprint, bundle and preset of a plan."""
    plan_file = Path(plan_file)
    return plan_file.with_name(f"{plan_file.stem}.fingerprint.json")


def read_plan_record(plan_file: str | Path) -> dict:
    """The bundle, preset and fingerprint a plan was made from; ``FileNotFoundError`` if either file is missing."""
    plan_file = Path(plan_file)
    for path in (plan_file, fingerprint_path(plan_file)):
        if not path.is_file():
            raise FileNotFoundError(f"plan {plan_file}: {path} not found (python -m monai_unet2015 plan writes both).")
    return json.loads(fingerprint_path(plan_file).read_text())


def write_plan(
    dataset_dir: str | Path,
    plan_file: str | Path,
    device: str = "cpu",
    overwrite: bool = False,
    time_budget_s: float | None = None,
    preset: str | None = None,
    estimate: bool = True,
) -> str:
    """Fingerprint ``dataset_dir``, write the plan's options to ``plan_file``; returns the report.

    ``time_budget_s``: train for that many seconds instead of the plan's iteration count
    (:func:`~monai_unet2015.planning.make_plan`); ``preset``: plan for that bundle preset
    (``"slices"``: the 3D bundle's 2D U-Net on each slice) instead of ``device``'s.
    ``estimate``: the report ends with what inference of a median case will cost on this
    machine (:func:`~monai_unet2015.planning.cost.plan_inference_estimate`: one tile batch
    is timed, a few seconds).

    ``plan_file`` holds only bundle options (MONAI's ``--args_file``); the fingerprint, the
    bundle and the preset go to :func:`fingerprint_path`. An existing plan is kept unless
    ``overwrite``.
    """
    plan_file = Path(plan_file)
    if plan_file.is_dir():
        raise ValueError(f"plan file {plan_file} is a folder: name a file in it, e.g. {plan_file / 'plan.json'}.")
    if plan_file.exists() and not overwrite:
        raise FileExistsError(f"plan file {plan_file} exists: pass --overwrite to replace it.")
    fingerprint = dataset_fingerprint(dataset_dir)
    presets = bundle_presets(BUNDLE_FOR_DIMS[3])
    plan = make_plan(fingerprint, device, time_budget_s=time_budget_s, preset=preset, presets=presets)
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan["options"], indent=4) + "\n")
    record = {"bundle": plan["bundle"], "preset": plan["preset"], "fingerprint": fingerprint}
    fingerprint_path(plan_file).write_text(json.dumps(record, indent=4) + "\n")
    report = plan_report(fingerprint, plan, str(plan_file))
    return f"{report}\n{inference_cost_line(plan, fingerprint)}" if estimate else report


def inference_cost_line(plan: dict, fingerprint: dict) -> str:
    """One report line: a median case's inference time and memory on this machine."""
    size, cost = plan_inference_estimate(plan, fingerprint)
    return (
        f"inference on this machine, a median case ({'x'.join(map(str, size))} voxels on the network's grid): "
        f"{cost.describe()}; the network stage only (reading, resampling and writing come on top)"
    )


def plan_report(fingerprint: dict, plan: dict, plan_file: str) -> str:
    """A short text report: what was found, what was chosen, and the commands to run."""
    options = plan["options"]
    lines = [
        f"dataset: {fingerprint['dataset_dir']}: {fingerprint['num_cases']} labelled case(s), "
        f"{fingerprint['spatial_dims']}D, {fingerprint['bit_depth']}, channels {fingerprint['channels']}",
        f"  median shape {fingerprint['median_shape']}, median spacing {fingerprint['median_spacing']}",
        f"  classes (share of voxels): {fingerprint['classes']}",
    ]
    foreground = fingerprint["intensity"].get("foreground", {})
    if foreground:
        lines.append(
            f"  intensity inside the labels: mean {foreground['mean']:.4g}, std {foreground['std']:.4g}, "
            f"0.5-99.5% {foreground['p0.5']:.4g}..{foreground['p99.5']:.4g}"
        )
    if fingerprint.get("object_sizes"):
        sizes = fingerprint["object_sizes"]
        lines.append(f"  objects: {sizes['count']}, size 5/50/95% {sizes['p5']:g}/{sizes['p50']:g}/{sizes['p95']:g} px")
    lines.append(f"plan for {plan['bundle']} ({plan['preset']} preset): " + json_line(options))
    if options.get("val_fraction") == 0.0:
        lines.append(
            f"note: with {fingerprint['num_cases']} labelled case(s) no case is held out, so the validation Dice "
            "that training logs is measured on training cases: it says how well the net fits them, not how it will "
            "segment a new patient. Score patients it never saw with evaluate.json --eval_dir for that."
        )
    configs = "['configs/train.json','configs/{}.json']".format(plan["preset"])
    plan_path = Path(plan_file).resolve()
    lines += [
        f"copy the bundle out: python -m monai_unet2015 bundle init {plan['bundle']} DIR",
        f"train: cd DIR/{plan['bundle']} && python -m monai.bundle run --workflow_name {WORKFLOW_NAME} "
        f'--config_file "{configs}" '
        f"--meta_file configs/metadata.json --logging_file configs/logging.conf --args_file {plan_path} "
        f"--dataset_dir {Path(fingerprint['dataset_dir']).resolve()}",
    ]
    return "\n".join(lines)


def json_line(options: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in options.items())
