"""The review-flag benchmark's summary (benchmarks/review_flag.py): per signal, the Dice of what it flags and not."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from review_flag import gate_decision, separation  # noqa: E402

from monai_unet2015.dicom_node import ApplicabilityGate  # noqa: E402


def flagged(signals, dice=None):
    structure = {"signals": signals}
    return structure if dice is None else {**structure, "dice": dice}


def test_separation_is_the_mean_dice_of_the_flagged_and_the_other_structures():
    cases = {
        "good": {"flag": {"structures": {"liver": flagged([], 0.9), "spleen": flagged(["edge"], 0.7)}}},
        "bad": {"flag": {"structures": {"liver": flagged(["volume", "edge"], 0.1), "spleen": flagged(["volume"])}}},
    }
    summary = separation(cases)  # the unlabelled spleen of "bad" is left out
    assert summary["volume"] == {
        "flagged": {"structures": 1, "mean_dice": 0.1},
        "not_flagged": {"structures": 2, "mean_dice": 0.8},
    }
    assert summary["edge"]["flagged"] == {"structures": 2, "mean_dice": 0.4}
    assert summary["flips"]["flagged"] == {"structures": 0, "mean_dice": None}
    assert summary["any"]["not_flagged"] == {"structures": 1, "mean_dice": 0.9}


def test_the_gate_reads_a_nifti_case(tmp_path):
    volume = np.full((40, 30, 8), -1000.0, np.float32)
    volume[5:35, 5:25] = np.random.default_rng(0).normal(40, 10, (30, 20, 8))
    (tmp_path / "imagesTr").mkdir()
    nib.save(nib.Nifti1Image(volume, np.diag([0.8, 0.8, 2.5, 1.0])), tmp_path / "imagesTr" / "case.nii.gz")
    decision = gate_decision(ApplicabilityGate("CT", {"spacings": [[0.8, 0.8, 1.0]]}), tmp_path)
    assert not decision["applicable"]
    assert decision["reasons"] == [
        "slice spacing 2.5 mm is coarser than the model was trained on (1-1 mm, up to x2 allowed: 2 mm)"
    ]
    assert decision["profile"]["all"][0] == -1000.0
