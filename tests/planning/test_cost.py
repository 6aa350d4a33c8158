"""The plan says what inference of a median case will cost on this machine."""

from __future__ import annotations

import json
import re

import pytest

from monai_unet2015.__main__ import main
from monai_unet2015.data.sample_data import write_sample_data
from monai_unet2015.planning import write_plan
from monai_unet2015.planning.cost import median_case_on_network_grid
from monai_unet2015.planning.write import fingerprint_path

LINE = re.compile(
    r"inference on this machine, a median case \((?P<size>[\dx]+) voxels on the network's grid\): "
    r"(?P<tiles>\d+) tiles of (?P<tile>[\dx]+) in \d+ network calls: about [\d.]+ s .* and [\d.]+ GiB"
)


@pytest.mark.parametrize(
    "shape,spacing,pixdim,expected",
    [
        ([512, 512, 100], [0.8, 0.8, 2.5], [1.6, 1.6, 2.5], (256, 256, 100)),
        ([48, 40, 12], [0.8, 0.8, 2.5], [3.0, 3.0, 3.0], (13, 11, 10)),
        ([700, 500], [1.0, 1.0], None, (700, 500)),
    ],
)
def test_the_median_case_on_the_network_grid(shape, spacing, pixdim, expected):
    fingerprint = {"median_shape": shape, "median_spacing": spacing}
    assert median_case_on_network_grid(fingerprint, pixdim) == expected


def test_a_3d_plan_reports_the_median_cases_inference_cost(tmp_path):
    write_sample_data(tmp_path / "sample", num_ct=2, num_mri=0, num_cells=0, ct_shape=(48, 40, 12))
    plan_file = tmp_path / "plan.json"
    report = write_plan(tmp_path / "sample" / "ct", plan_file)
    found = LINE.search(report)
    assert found, report
    options, record = json.loads(plan_file.read_text()), json.loads(fingerprint_path(plan_file).read_text())
    size = median_case_on_network_grid(record["fingerprint"], options["pixdim"])
    assert found["size"] == "x".join(map(str, size)) and int(found["tiles"]) >= 1


def test_a_2d_plan_reports_it_and_no_estimate_leaves_it_out(nuclei_dir, tmp_path, capsys):
    assert main(["plan", str(nuclei_dir), "--output", str(tmp_path / "a.json")]) == 0
    assert LINE.search(capsys.readouterr().out)
    assert main(["plan", str(nuclei_dir), "--output", str(tmp_path / "b.json"), "--no-estimate"]) == 0
    assert "inference on this machine" not in capsys.readouterr().out
