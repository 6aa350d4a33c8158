"""Plan files on disk: the options (``--args_file``) and, beside them, what they were made from."""

from __future__ import annotations

import json
from pathlib import Path

from monai_unet2015.planning.fingerprint import dataset_fingerprint
from monai_unet2015.planning.plan import make_plan, plan_report

__all__ = ["write_plan", "fingerprint_path", "read_plan_record"]


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
) -> str:
    """Fingerprint ``dataset_dir``, write the plan's options to ``plan_file``; returns the report.

    ``time_budget_s``: train for that many seconds instead of the plan's iteration count
    (:func:`~monai_unet2015.planning.make_plan`); ``preset``: plan for that bundle preset
    (``"slices"``: the 3D bundle's 2D U-Net on each slice) instead of ``device``'s.

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
    plan = make_plan(fingerprint, device, time_budget_s=time_budget_s, preset=preset)
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan["options"], indent=4) + "\n")
    record = {"bundle": plan["bundle"], "preset": plan["preset"], "fingerprint": fingerprint}
    fingerprint_path(plan_file).write_text(json.dumps(record, indent=4) + "\n")
    return plan_report(fingerprint, plan, str(plan_file))
