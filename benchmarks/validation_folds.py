"""Choosing a setting on validation folds of the training cases, never on the held-out images.

The protocol nnU-Net follows and the one the peer benchmark's ablations now follow
(``peer_nnunet.py --ablation``): the training cases are split into ``k`` folds; for each fold
and each candidate setting the bundle trains on the other folds (with a plan made from them
alone) and is scored on that fold; the setting with the best mean over folds (and seeds) is
chosen; only then are the held-out images scored, once, for the chosen setting (and, where
asked, for the others too, as the held-out score each would have had, never used to choose).
Every record says which images it trained on and which it was scored on.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".nii.gz", ".tif", ".png")


@dataclass
class Fold:
    """One split of the training cases: dataset folders of links, and the case names in each."""

    index: int
    train: Path
    validation: Path
    trained_on: list[str] = field(default_factory=list)
    scored_on: list[str] = field(default_factory=list)


def case_name(path: Path) -> str:
    """A case's name: its file name without the image suffix."""
    for suffix in IMAGE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    raise ValueError(f"{path} is not a NIfTI, TIFF or PNG file.")


def training_cases(dataset: Path) -> dict[str, tuple[Path, Path]]:
    """``{case: (image, label)}`` of a dataset folder's ``imagesTr`` / ``labelsTr`` (same file names)."""
    cases = {}
    for image in sorted((dataset / "imagesTr").iterdir()):
        label = dataset / "labelsTr" / image.name
        if not label.is_file():
            raise FileNotFoundError(f"{image} has no label {label}.")
        cases[case_name(image)] = (image, label)
    return cases


def _link_cases(folder: Path, cases: dict[str, tuple[Path, Path]], names: list[str]) -> None:
    for sub in ("imagesTr", "labelsTr"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name in names:
        image, label = cases[name]
        for sub, source in (("imagesTr", image), ("labelsTr", label)):
            link = folder / sub / source.name
            if not link.exists():
                link.symlink_to(os.path.abspath(source))


def fold_datasets(dataset: Path, folds: int, work: Path) -> list[Fold]:
    """``folds`` train / validation splits of ``dataset``'s cases, each case validated exactly once.

    Cases go to folds in turn, in name order (case ``i`` to fold ``i % folds``), so the split is
    the same on every machine. ``folds`` is capped at the number of cases.

    Raises:
        ValueError: fewer than two training cases (nothing to hold out), or ``folds`` < 2.
    """
    cases = training_cases(dataset)
    if len(cases) < 2:
        raise ValueError(f"{dataset} has {len(cases)} training case(s): validation folds need at least 2.")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}.")
    folds = min(folds, len(cases))
    names = sorted(cases)
    splits = []
    for index in range(folds):
        validation = [name for position, name in enumerate(names) if position % folds == index]
        train = [name for name in names if name not in validation]
        fold = Fold(index, work / f"fold{index}" / "train", work / f"fold{index}" / "validation", train, validation)
        _link_cases(fold.train, cases, train)
        _link_cases(fold.validation, cases, validation)
        splits.append(fold)
    return splits


def choose(runs: list[dict]) -> dict:
    """The step with the best mean ``"key"`` score over its fold runs; ties go to the earlier step.

    Args:
        runs: fold runs, each with ``"step"``, ``"fold"`` and ``"key"`` (higher is better).

    Returns:
        ``{"chosen": step, "by_step": {step: {"mean", "min", "max", "runs"}}}``, steps in the order
        they first appear.

    Raises:
        ValueError: no runs, or steps with different numbers of fold runs (an unfinished grid).
    """
    if not runs:
        raise ValueError("no fold runs to choose from.")
    by_step: dict[str, list[float]] = {}
    for run in runs:
        by_step.setdefault(run["step"], []).append(float(run["key"]))
    counts = {step: len(scores) for step, scores in by_step.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"steps have different numbers of fold runs: {counts}.")
    summary = {
        step: {
            "mean": round(statistics.fmean(scores), 4),
            "min": round(min(scores), 4),
            "max": round(max(scores), 4),
            "runs": len(scores),
        }
        for step, scores in by_step.items()
    }
    chosen = max(summary, key=lambda step: (summary[step]["mean"], -list(summary).index(step)))
    return {"chosen": chosen, "by_step": summary}
