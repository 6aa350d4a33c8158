"""One predictor: a bundle's network and weights made once, then called per input as batch inference is."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from monai.data import MetaTensor
from monai.transforms import LoadImage

from monai_unet2015.bundle import Predictor
from monai_unet2015.bundle.locations import bundles_dir, with_common_config
from monai_unet2015.engines import LoadNetworkWeights
from monai_unet2015.networks import UNet2015

BUNDLE = bundles_dir() / "unet3d_ct_organs"
TINY = {"features": [4, 8, 16], "progress": False}


def test_the_weights_are_loaded_once_for_every_input(ct_sample, tiny_ct_weights, tmp_path, monkeypatch):
    loads = []
    original = LoadNetworkWeights.__call__
    monkeypatch.setattr(LoadNetworkWeights, "__call__", lambda self, *a: loads.append(1) or original(self, *a))
    predictor = Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    network = predictor.network
    for name in ("ct_000", "ct_002"):
        report = predictor(ct_sample / "ct_dicom" / name, tmp_path / name, dicom_seg=False)
        assert len(report.written) == 1 and not report.failed
    assert loads == [1] and predictor.network is network
    assert sorted(p.name for p in (tmp_path / "ct_000").iterdir()) == ["ct_000_seg.nii.gz", "ct_000_volumes.json"]


def test_the_predictor_writes_what_batch_inference_writes(ct_sample, tiny_ct_weights, tmp_path):
    images = ct_sample / "ct" / "imagesTs"
    Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})(images, tmp_path / "predictor")
    batch = ConfigWorkflow(
        config_file=with_common_config(BUNDLE / "configs" / "inference.json"),
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
    predictor = Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    with pytest.raises(ValueError, match=r"\['features', 'max_tile_voxels'\] are set up once per predictor"):
        predictor(tmp_path, tmp_path / "out", features=[8, 16, 32], max_tile_voxels=10**6)


def test_the_first_config_must_be_inference_json():
    with pytest.raises(ValueError, match=r"config_files must start with inference.json, got \['train.json'\]"):
        Predictor(BUNDLE, config_files=["train.json"])


def test_a_missing_plan_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"args_file {tmp_path}/plan.json does not exist"):
        Predictor(BUNDLE, args_file=tmp_path / "plan.json")


def test_the_settings_behind_the_network_and_inferer_are_fixed(tiny_ct_weights):
    predictor = Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    assert {"features", "max_tile_voxels", "flip_axes", "precision", "ckpt_dir", "device"} <= predictor.fixed
    assert not {"output_dir", "dataset_dir", "overwrite", "dicom_seg"} & predictor.fixed


def test_the_network_is_ready_for_inference(tiny_ct_weights):
    """Batch norm on its running statistics: callers such as MONAI Label run the network directly."""
    predictor = Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY})
    assert not predictor.network.training


def test_an_unknown_setting_is_named_with_the_closest_one(tiny_ct_weights, tmp_path):
    with pytest.raises(ValueError, match=r"--max_epoch is not an option of this bundle; did you mean --max_epochs\?"):
        Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY, "max_epoch": 3})
    plan = tmp_path / "plan.json"
    plan.write_text('{"pixdm": [1.6, 1.6, 2.5]}')
    with pytest.raises(ValueError, match=r"--pixdm is not an option of this bundle; did you mean --pixdim or"):
        Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY}, args_file=plan)
    predictor = Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), **TINY, "max_epochs": 3})
    with pytest.raises(ValueError, match=r"--dicom_sge is not an option of this bundle; did you mean --dicom_seg or"):
        predictor(tmp_path, tmp_path / "out", dicom_sge=True)


@pytest.fixture(scope="module")
def tiny_predictor(tiny_ct_weights):
    return Predictor.from_bundle(
        BUNDLE, device="cpu", backend="torch", overrides={"bundle_root": str(tiny_ct_weights), **TINY}
    )


def test_from_bundle_takes_the_device_and_the_backend(tiny_predictor):
    assert tiny_predictor.device == torch.device("cpu") and tiny_predictor.config["backend"] == "torch"
    assert {"device", "backend"} <= tiny_predictor.fixed


def test_one_file_gives_the_label_map_batch_inference_writes_and_nothing_is_written(
    tiny_predictor, ct_sample, tmp_path
):
    image = sorted((ct_sample / "ct" / "imagesTs").glob("*.nii.gz"))[0]
    before = sorted(p for p in ct_sample.rglob("*"))
    labels = tiny_predictor(image)
    assert sorted(p for p in ct_sample.rglob("*")) == before
    tiny_predictor(image, tmp_path / "out", dicom_seg=False)
    written = nib.load(next((tmp_path / "out").rglob("*_seg.nii.gz")))
    assert isinstance(labels, MetaTensor) and labels.shape == (1, *written.shape)
    np.testing.assert_array_equal(labels[0].numpy(), np.asarray(written.dataobj))
    np.testing.assert_allclose(labels.affine.numpy(), written.affine, atol=1e-4)


def test_an_array_with_its_affine_gives_what_its_file_gives(tiny_predictor, ct_sample):
    path = sorted((ct_sample / "ct" / "imagesTs").glob("*.nii.gz"))[0]
    image = LoadImage(image_only=True, ensure_channel_first=True)(str(path))
    np.testing.assert_array_equal(tiny_predictor(image).numpy(), tiny_predictor(path).numpy())


@pytest.mark.parametrize("as_array", [np.asarray, torch.as_tensor])
def test_a_plain_array_is_taken_on_the_bundles_grid_and_keeps_its_shape(tiny_predictor, as_array):
    volume = np.full((1, 40, 36, 20), -1000.0, np.float32)
    volume[:, 10:30, 8:28, 5:15] = 60.0
    labels = tiny_predictor(as_array(volume))
    assert labels.shape == (1, 40, 36, 20) and labels.dtype in (torch.uint8, torch.int64, torch.float32)
    np.testing.assert_allclose(np.diag(labels.affine.numpy())[:3], [1.6, 1.6, 2.5])


def test_a_dicom_series_folder_gives_its_label_map(tiny_predictor, ct_sample):
    series = ct_sample / "ct_dicom" / "ct_000"
    labels = tiny_predictor(series)
    slices = len(list(series.glob("*.dcm")))
    assert labels.shape[0] == 1 and slices in labels.shape[1:]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            np.zeros((40, 36, 20), np.float32),
            r"case must be an array \(C, H, W, D\) for this 3D bundle, got shape \(40, 36, 20\)",
        ),
        (np.zeros((1, 1, 40, 36, 20), np.float32), r"got shape \(1, 1, 40, 36, 20\)"),
    ],
)
def test_an_array_of_the_wrong_dimensionality_is_named(tiny_predictor, case, message):
    with pytest.raises(ValueError, match=message):
        tiny_predictor(case)


def test_a_folder_of_several_cases_needs_an_output_dir(tiny_predictor, ct_sample):
    folder = ct_sample / "ct" / "imagesTr"
    with pytest.raises(ValueError, match=rf"case {folder} holds \d+ images: give one, or an output_dir for a folder"):
        tiny_predictor(folder)


def test_an_unknown_result_key_is_named(tiny_predictor):
    with pytest.raises(ValueError, match=r"key must be one of the results \['pred'\], got 'instances'"):
        tiny_predictor(np.zeros((1, 24, 24, 12), np.float32), key="instances")


def test_the_cells_bundle_returns_its_objects_on_request(tmp_path):
    (tmp_path / "models").mkdir()
    torch.manual_seed(0)
    net = UNet2015(2, 1, 2, features=(4, 8, 16), norm="batch")
    torch.save(net.state_dict(), tmp_path / "models" / "model.pt")
    cells = bundles_dir() / "unet2015_cells_2d"
    settings = {"bundle_root": str(tmp_path), "features": [4, 8, 16], "progress": False}
    predictor = Predictor.from_bundle(cells, device="cpu", overrides=settings)
    image = np.random.default_rng(0).random((1, 60, 52)).astype(np.float32)
    semantic, objects = predictor(image), predictor(image, key="instances")
    assert semantic.shape == objects.shape == (1, 60, 52)
    assert set(np.unique(semantic.numpy())) <= {0, 1}
    assert ((objects.numpy() > 0) <= (semantic.numpy() > 0)).all()  # objects lie inside the mask


def test_the_preprocessing_is_the_bundles_with_the_predictors_settings(ct_sample, tiny_ct_weights):
    predictor = Predictor(BUNDLE, overrides={"bundle_root": str(tiny_ct_weights), "pixdim": [2.0, 2.0, 3.0], **TINY})
    image = predictor.preprocessing()({"image": str(ct_sample / "ct" / "imagesTs" / "ct_002.nii.gz")})["image"]
    np.testing.assert_allclose(image.pixdim.numpy(), [2.0, 2.0, 3.0], atol=1e-5)
    windowed = predictor.preprocessing(ct_window=[-1000, 1000]).transforms[-1].transform.scaler
    assert (windowed.a_min, windowed.a_max) == (-1000, 1000)
    with pytest.raises(ValueError, match=r"--ct_windw is not an option of this bundle; did you mean --ct_window"):
        predictor.preprocessing(ct_windw=[0, 1])
