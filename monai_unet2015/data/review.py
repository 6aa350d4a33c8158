"""After inference: should a person look at this result before it is used? The "needs review" flag.

A model cannot tell a wrong mask from a right one, but it gives signals that go with wrong
results, and the flag is raised on each (issue 41; MONAI Deploy App SDK 175, 505):

- **the test-time flips disagree**: a structure whose label changes on more than
  ``max_flip_disagreement`` of its voxels when the image is mirrored
  (:func:`~monai_unet2015.inferers.overlap_tile.flip_disagreement`; needs the inferer's
  ``flip_axes``);
- **a volume outside what training saw**: a structure more than ``volume_tolerance`` times
  smaller or larger than in any training case, or absent while every training case has it
  (the plan's fingerprint, ``class_volumes_ml_per_case``);
- **the field-of-view edge**: a structure reaching the image border, so part of it may lie
  outside the scan and its volume is a lower bound.

The thresholds are set a priori, not fitted to test images: 10 % of a structure's voxels
unsure under mirroring, a factor 2 on volumes. ``benchmarks/review_flag.py`` measures how
the flag separates good from bad results on real CT: there the volume signal separates (the
structures it flags have a mean Dice of 0.04, the others 0.83), the flips do not. The flip
signal suits a model trained with mirroring (the cells bundle): the 3D CT bundle trains
without it, so a left-right flipped abdomen is new to it and its flips disagree on 28-100 % of
a structure's voxels even on its training patient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["review_result", "read_training_volumes", "check_review_thresholds", "REVIEW_KEY"]

# The label map's metadata entry the structure report leaves the review in, for the DICOM writers after it.
REVIEW_KEY = "review"


def read_training_volumes(fingerprint: str | Path | Mapping | None) -> list[dict[str, float]] | None:
    """Per training case, ``{label value: mL}``: from a fingerprint dict, or a ``*.fingerprint.json`` file
    (``python -m monai_unet2015 plan`` writes it beside the plan); None where there is none.

    Raises:
        FileNotFoundError: the file named does not exist.
        ValueError: it holds no per-case class volumes (a plan made before they were kept).
    """
    if fingerprint is None:
        return None
    if not isinstance(fingerprint, Mapping):
        path = Path(fingerprint)
        if not path.is_file():
            raise FileNotFoundError(f"training_fingerprint {path} does not exist (the plan's *.fingerprint.json).")
        fingerprint = json.loads(path.read_text())
    fingerprint = fingerprint.get("fingerprint", fingerprint)  # the plan record wraps it
    volumes = fingerprint.get("class_volumes_ml_per_case")
    if volumes is None:
        raise ValueError(
            "training_fingerprint holds no class_volumes_ml_per_case: the plan was made before they were kept; "
            "make it again (python -m monai_unet2015 plan)."
        )
    return [{str(k): float(v) for k, v in case.items()} for case in volumes]


def check_review_thresholds(max_flip_disagreement: float, volume_tolerance: float) -> None:
    """``ValueError`` naming a threshold of :func:`review_result` out of its range."""
    if not 0 <= max_flip_disagreement <= 1:
        raise ValueError(f"max_flip_disagreement must be in [0, 1], got {max_flip_disagreement!r}.")
    if not volume_tolerance >= 1:
        raise ValueError(f"volume_tolerance must be >= 1, got {volume_tolerance!r}.")


def review_result(
    structures: Sequence[Mapping],
    flip_disagreement: Sequence[float] | None = None,
    training_volumes: Sequence[Mapping[str, float]] | None = None,
    max_flip_disagreement: float = 0.1,
    volume_tolerance: float = 2.0,
) -> dict:
    """The review of one result: whether it needs a person's look, and why.

    Args:
        structures: :func:`~monai_unet2015.data.structure_measurements`'s ``structures``
            (``value``, ``name``, ``volume_ml``, ``touches_edge``).
        flip_disagreement: per label value, the share of its voxels the flips disagree on
            (index = value); None: the inference ran without flips, not checked.
        training_volumes: per training case, ``{label value: mL}``
            (:func:`read_training_volumes`); None: not checked.
        max_flip_disagreement: the share above which a structure is flagged.
        volume_tolerance: the factor past the training volumes' range that is flagged.

    Returns:
        a dict: ``needs_review`` (bool), ``reasons`` (one line each), ``structures`` (each
        structure flagged, by name, with its signals among ``"flips"``, ``"volume"``,
        ``"edge"``) and ``not_checked`` (the signals that could not be checked, and why).

    Example::

        >>> liver = {"value": 1, "name": "liver", "volume_ml": 3900.0, "touches_edge": False}
        >>> review_result([liver], [0.0, 0.02], [{"1": 1500.0}, {"1": 1800.0}])["reasons"]
        ['liver: 3900 mL, outside what training saw (1500-1800 mL, x2 allowed: 750-3600 mL)']
    """
    check_review_thresholds(max_flip_disagreement, volume_tolerance)
    reasons, not_checked, flagged = [], [], {}
    for structure in structures:
        found = {
            "flips": _flip_reasons(structure, flip_disagreement, max_flip_disagreement),
            "volume": _volume_reasons(structure, training_volumes, volume_tolerance),
            "edge": [
                f"{structure['name']}: reaches the edge of the image; part of it may lie outside the scan "
                "(its volume is a lower bound)"
            ]
            if structure.get("touches_edge")
            else [],
        }
        reasons += [reason for found_by in found.values() for reason in found_by]
        signals = [signal for signal, found_by in found.items() if found_by]
        if signals:
            flagged[str(structure["name"])] = signals
    if flip_disagreement is None:
        not_checked.append("flip disagreement (the inference ran without flip_axes)")
    if training_volumes is None:
        not_checked.append("volumes against training (no training_fingerprint)")
    return {"needs_review": bool(reasons), "reasons": reasons, "structures": flagged, "not_checked": not_checked}


def _flip_reasons(structure: Mapping, flip_disagreement: Sequence[float] | None, limit: float) -> list[str]:
    value = int(structure["value"])
    if flip_disagreement is None or value >= len(flip_disagreement):
        return []
    share = float(flip_disagreement[value])
    if share <= limit:
        return []
    return [f"{structure['name']}: the mirrored predictions disagree on {share:.0%} of its voxels (over {limit:.0%})"]


def _volume_reasons(structure: Mapping, training: Sequence[Mapping[str, float]] | None, tolerance: float) -> list[str]:
    if not training:
        return []
    trained = [case.get(str(structure["value"]), 0.0) for case in training]
    present = [volume for volume in trained if volume > 0]
    name, volume = structure["name"], float(structure["volume_ml"])
    if not present:
        return []  # training never had it: nothing to compare with
    if volume == 0:  # flagged where every training case had it (a lesion may well be absent)
        return [f"{name}: absent, while every training case has it"] if len(present) == len(trained) else []
    low, high = min(present), max(present)
    if low / tolerance <= volume <= high * tolerance:
        return []
    return [
        f"{name}: {volume:.0f} mL, outside what training saw ({low:.0f}-{high:.0f} mL, "
        f"x{tolerance:g} allowed: {low / tolerance:.0f}-{high * tolerance:.0f} mL)"
    ]
