"""The clinical-CT benchmark's runs on a small CT: before and now give the same mask, the peak is read."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_clinical_ct import BEFORE, measured_run, stage_times, write_ct, write_weights  # noqa: E402


@pytest.mark.parametrize("dicom", [False, True])
def test_before_and_now_write_the_same_mask(tmp_path, dicom):
    # 0.73 / 0.91 mm against the preset's 1.6 mm: no voxel centre lies halfway between two (no ties)
    dataset = write_ct(tmp_path / "data", 24, dicom=dicom, size=(64, 56), spacing=(0.73, 0.91, 1.5))
    bundle = write_weights(tmp_path / "bundle", 4)
    masks = {}
    for variant, overrides in (("before", BEFORE), ("now", {})):
        # fp32: in bf16 the two tilings round differently, and untrained logits are near ties everywhere
        run = stage_times(str(dataset), str(bundle), str(tmp_path / variant), {**overrides, "precision": "fp32"})
        expected = ["AsDiscreted", "Invertd"] if variant == "before" else ["LabelsToSourceGridd"]
        assert set(expected) <= set(run["stages"]) and run["peak_rss_gib"] > 0
        assert run["predicted_inferer"]["tiles"] >= 1 and run["predicted_inferer"]["seconds"] > 0
        masks[variant] = nib.load(next((tmp_path / variant).rglob("*_seg.nii.gz")))
    before, now = masks["before"], masks["now"]
    assert before.shape == now.shape == (64, 56, 24)
    np.testing.assert_allclose(before.affine, now.affine)
    np.testing.assert_array_equal(np.asarray(before.dataobj), np.asarray(now.dataobj))


def test_a_measured_run_reports_its_peak(tmp_path):
    seconds, peak, stdout = measured_run(sys.executable, ["-m", "json.tool", "--help"])
    assert seconds > 0 and 0.001 < peak < 100 and "json.tool" in stdout
