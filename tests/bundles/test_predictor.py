"""One predictor: a bundle's network and weights made once, then called per input as batch inference is."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import ConfigWorkflow

from monai_unet2015.bundle import BundlePredictor
from monai_unet2015.bundle.locations import bundles_dir
from monai_unet2015.engines import LoadNetworkWeights

BUNDLE = bundles_dir() / "unet3d_ct_organs"
TINY = {"features": [4, 8, 16], "progress": False}


def test_the_weights_are_loaded_once_for_every_input(ct_sample, tiny_ct_weights, tmp_path, monkeypatch):
    loads = []
    original = LoadNetworkWeights.__call__
    monkeypatch.setattr(LoadNetworkWeights, "__call__", lambda self, *a: loads.append(1) or original(self, *a))
    predictor = BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    network = predictor.network
    for name in ("ct_000", "ct_002"):
        report = predictor(ct_sample / "ct_dicom" / name, tmp_path / name, dicom_seg=False)
        assert len(report.written) == 1 and not report.failed
    assert loads == [1] and predictor.network is network
    assert sorted(p.name for p in (tmp_path / "ct_000").iterdir()) == ["ct_000_seg.nii.gz", "ct_000_volumes.json"]


def test_the_predictor_writes_what_batch_inference_writes(ct_sample, tiny_ct_weights, tmp_path):
    images = ct_sample / "ct" / "imagesTs"
    BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})(images, tmp_path / "predictor")
    batch = ConfigWorkflow(
        config_file=str(BUNDLE / "configs" / "inference.json"),
        workflow_type="infer",
        bundle_root=str(tiny_ct_weights),
        dataset_dir=str(images),
        output_dir=str(tmp_path / "batch"),
        **TINY,
    )
    batch.initialize()
    batch.run()
    written = sorted(p.name for p in (tmp_path / "batch").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "predictor").iterdir()) and written
    for name in written:
        if name.endswith(".json"):
            a, b = (json.loads((tmp_path / run / name).read_text())["structures"] for run in ("batch", "predictor"))
            assert a == b
            continue
        a, b = (np.asarray(nib.load(tmp_path / run / name).dataobj) for run in ("batch", "predictor"))
        np.testing.assert_array_equal(a, b)


def test_what_is_made_once_cannot_change_per_call(tiny_ct_weights, tmp_path):
    predictor = BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    with pytest.raises(ValueError, match=r"\['features', 'max_tile_voxels'\] are set up once per predictor"):
        predictor(tmp_path, tmp_path / "out", features=[8, 16, 32], max_tile_voxels=10**6)


def test_the_first_config_must_be_inference_json():
    with pytest.raises(ValueError, match=r"config_files must start with inference.json, got \['train.json'\]"):
        BundlePredictor(BUNDLE, config_files=["train.json"])


def test_a_missing_plan_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"args_file {tmp_path}/plan.json does not exist"):
        BundlePredictor(BUNDLE, args_file=tmp_path / "plan.json")


def test_the_settings_behind_the_network_and_inferer_are_fixed(tiny_ct_weights):
    predictor = BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    assert {"features", "max_tile_voxels", "flip_axes", "precision", "ckpt_dir", "device"} <= predictor.fixed
    assert not {"output_dir", "dataset_dir", "overwrite", "dicom_seg"} & predictor.fixed


def test_the_network_is_ready_for_inference(tiny_ct_weights):
    """Batch norm on its running statistics: callers such as MONAI Label run the network directly."""
    predictor = BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    assert not predictor.network.training


def test_an_unknown_setting_is_named_with_the_closest_one(tiny_ct_weights, tmp_path):
    with pytest.raises(ValueError, match=r"--max_epoch is not an option of this bundle; did you mean --max_epochs\?"):
        BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY, "max_epoch": 3})
    plan = tmp_path / "plan.json"
    plan.write_text('{"pixdm": [1.6, 1.6, 2.5]}')
    with pytest.raises(ValueError, match=r"--pixdm is not an option of this bundle; did you mean --pixdim or"):
        BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY}, args_file=plan)
    predictor = BundlePredictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY, "max_epochs": 3})
    with pytest.raises(ValueError, match=r"--dicom_sge is not an option of this bundle; did you mean --dicom_seg or"):
        predictor(tmp_path, tmp_path / "out", dicom_sge=True)
