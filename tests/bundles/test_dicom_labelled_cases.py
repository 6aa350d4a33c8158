"""RTSTRUCT- and SEG-labelled DICOM cases planned and trained as the README shows: plan, then the bundle."""

from __future__ import annotations

import json

import pytest
import torch

from monai_unet2015.bundle.locations import init_bundle
from monai_unet2015.planning import write_plan
from monai_unet2015.planning.write import fingerprint_path
from tests.bundles.test_plans import bundle_run
from tests.data.dicom_label_files import write_dicom_labelled_ct


@pytest.fixture(scope="module")
def planned_dicom(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom_cases")
    dataset = root / "ct"
    write_dicom_labelled_ct(dataset, kinds=("rtstruct", "seg", "rtstruct"))
    plan_file = root / "plan.json"
    write_plan(dataset, plan_file, device="cpu")
    return dataset, plan_file, init_bundle("unet3d_ct_organs", root)


def test_the_plan_reads_the_classes_of_the_rtstruct_and_seg_labels(planned_dicom):
    _, plan_file, _ = planned_dicom
    plan = json.loads(plan_file.read_text())
    assert plan["num_classes"] == 3 and plan["modality"] == "ct"
    assert plan["pixdim"] == [1.2, 1.2, 2.5]  # the series' own spacing
    record = json.loads(fingerprint_path(plan_file).read_text())
    assert record["bundle"] == "unet3d_ct_organs"
    assert set(record["fingerprint"]["classes"]) == {"0", "1", "2"}


def test_the_bundle_trains_on_them_with_the_plan(planned_dicom):
    dataset, plan_file, bundle = planned_dicom
    tiny = ("--roi_size", "[44,44,44]", "--features", "[4,8,16]", "--cache", "none")
    arguments = ("--args_file", str(plan_file), "--dataset_dir", str(dataset), "--progress", "false")
    result = bundle_run(bundle, ["train.json"], *arguments, *tiny, "--max_epochs", "1", "--val_interval", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    weights = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    last = [value for key, value in weights.items() if key.endswith("weight") and value.ndim == 5][-1]
    assert last.shape[0] == 3  # background, liver, spleen: the plan's classes
