"""Both bundles through ConfigWorkflow and the CLI: train, evaluate, infer, verify, export, bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from PIL import Image

from monai_unet2015.bundle import CasesFailedError
from monai_unet2015.bundle.locations import bundles_dir, with_common_config
from monai_unet2015.bundle.workflow import bundle_run_command
from monai_unet2015.data import write_sample_data
from monai_unet2015.transforms import label_instances
from tests.raises import raises_cause

BUNDLES = bundles_dir()
SCHEMA = BUNDLES / "meta_schema.json"
TINY = {
    "unet3d_ct_organs": {"roi_size": [44, 44, 44], "features": [4, 8, 16], "cache": "none"},
    "unet2015_cells_2d": {"roi_size": [60, 60], "features": [4, 8, 16], "cache": "none"},
}
DATA = {"unet3d_ct_organs": "ct", "unet2015_cells_2d": "cells"}


def configs(name: str) -> Path:
    return BUNDLES / name / "configs"


def workflow(name: str, config_files, workflow_type: str, **overrides) -> ConfigWorkflow:
    flow = ConfigWorkflow(
        config_file=with_common_config([configs(name) / f for f in config_files]),
        meta_file=str(configs(name) / "metadata.json"),
        workflow_type=workflow_type,
        **{**TINY[name], "progress": False, **overrides},
    )
    flow.initialize()
    return flow


def infer(name: str, bundle_root: Path, dataset_dir: Path, output_dir: Path, **overrides) -> ConfigWorkflow:
    """The bundle's inference.json, initialised and run."""
    flow = workflow(
        name,
        ["inference.json"],
        "infer",
        bundle_root=str(bundle_root),
        dataset_dir=str(dataset_dir),
        output_dir=str(output_dir),
        **overrides,
    )
    flow.run()
    return flow


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    write_sample_data(root, num_ct=3, num_mri=0, num_cells=4, ct_shape=(48, 40, 12), cells_shape=(96, 96))
    return root


@pytest.fixture(scope="module")
def trained(sample, tmp_path_factory):
    """Each bundle trained for one epoch: {name: bundle_root}."""
    roots = {}
    for name in BUNDLES_UNDER_TEST:
        root = tmp_path_factory.mktemp(name)
        flow = workflow(
            name,
            ["train.json"],
            "train",
            bundle_root=str(root),
            dataset_dir=str(sample / DATA[name]),
            max_epochs=1,
            val_interval=1,
        )
        flow.run()
        flow.finalize()
        roots[name] = root
    return roots


BUNDLES_UNDER_TEST = list(TINY)


@pytest.mark.parametrize("name", BUNDLES_UNDER_TEST)
def test_train_writes_checkpoints_and_the_best_model(trained, name):
    models = sorted(p.name for p in (trained[name] / "models").iterdir())
    assert models == ["checkpoint_epoch=1.pt", "model.pt"]
    assert any((trained[name] / "logs").iterdir())


@pytest.mark.parametrize("name", BUNDLES_UNDER_TEST)
def test_train_resumes_from_the_last_checkpoint(trained, sample, name):
    flow = workflow(
        name,
        ["train.json"],
        "train",
        bundle_root=str(trained[name]),
        dataset_dir=str(sample / DATA[name]),
        max_epochs=2,
        val_interval=5,
    )
    flow.run()
    trainer = flow.parser.get_parsed_content("train#trainer")
    assert trainer.state.epoch == 2 and trainer.state.iteration == 2 * trainer.state.epoch_length


@pytest.mark.parametrize("name", BUNDLES_UNDER_TEST)
def test_evaluate_reports_dice(trained, sample, name, tmp_path):
    flow = workflow(
        name,
        ["train.json", "evaluate.json"],
        "eval",
        bundle_root=str(trained[name]),
        dataset_dir=str(sample / DATA[name]),
        output_dir=str(tmp_path),
    )
    flow.run()
    state = flow.parser.get_parsed_content("validate#evaluator").state
    assert 0.0 <= state.metrics["val_mean_dice"] <= 1.0
    assert (tmp_path / "metrics.csv").is_file()
    cases = len(flow.parser.get_parsed_content("eval_datalist"))
    names = ["val_mean_dice"] + (
        ["val_instance_f1", "val_seg", "val_rand_error"] if name == "unet2015_cells_2d" else []
    )
    for metric in names:
        rows = (tmp_path / f"{metric}_raw.csv").read_text().strip().splitlines()
        assert len(rows) == cases + 1  # a header, then one row per case named by its file
        assert all(Path(row.split("\t")[0]).name.startswith(("cell", "case", "ct", "img")) for row in rows[1:]), rows
        assert (tmp_path / f"{metric}_summary.csv").is_file()
    if name == "unet2015_cells_2d":
        assert len(state.metrics["val_instance_f1"]) == 2  # IoU 0.5 and 0.75
        assert 0.0 <= state.metrics["val_seg"] <= 1.0 and 0.0 <= state.metrics["val_rand_error"] <= 1.0


def test_ct_inference_writes_masks_on_the_input_grid(trained, sample, tmp_path):
    name = "unet3d_ct_organs"
    infer(name, trained[name], sample / "ct", tmp_path)
    mask, image = nib.load(tmp_path / "ct_002_seg.nii.gz"), nib.load(sample / "ct/imagesTs/ct_002.nii.gz")
    assert mask.shape == image.shape
    np.testing.assert_allclose(mask.affine, image.affine, atol=1e-4)
    assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1, 2, 3}


def test_ct_inference_on_dicom_series_writes_nifti_and_dicom_seg(trained, sample, tmp_path):
    pytest.importorskip("highdicom")
    name = "unet3d_ct_organs"
    infer(name, trained[name], sample / "ct_dicom", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ct_000_seg.dcm",
        "ct_000_seg.nii.gz",
        "ct_000_volumes.json",
        "ct_002_seg.dcm",
        "ct_002_seg.nii.gz",
        "ct_002_volumes.json",
    ]


def test_cells_inference_writes_png_masks_and_instance_labels(trained, sample, tmp_path):
    name = "unet2015_cells_2d"
    infer(name, trained[name], sample / "cells", tmp_path, min_object_size=3)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "cells_002_instances.png",
        "cells_002_seg.png",
        "cells_003_instances.png",
        "cells_003_seg.png",
    ]
    for case in ("cells_002", "cells_003"):
        semantic = np.asarray(Image.open(tmp_path / f"{case}_seg.png")) > 0
        instances = Image.open(tmp_path / f"{case}_instances.png")
        assert instances.mode == "I;16"  # 16-bit ids, as StarDist / Cellpose write them
        expected = label_instances(semantic, min_size=3)
        assert np.array_equal(np.asarray(instances), expected)


@pytest.mark.parametrize("name", BUNDLES_UNDER_TEST)
def test_cli_verify_metadata_offline_and_net_in_out(name):
    cwd = BUNDLES / name
    for command in (
        ["verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", str(SCHEMA)],
        [
            "verify_net_in_out",
            "network_def",
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            "['configs/common.json','configs/inference.json']",
        ],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "monai.bundle", *command], cwd=cwd, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "verified with no error" in result.stdout + result.stderr


@pytest.mark.parametrize("name", BUNDLES_UNDER_TEST)
def test_cli_ckpt_export_to_torchscript(trained, name):
    root = trained[name]
    features = TINY[name]["features"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monai.bundle",
            "ckpt_export",
            "network_def",
            "--filepath",
            str(root / "models/model.ts"),
            "--ckpt_file",
            str(root / "models/model.pt"),
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            "['configs/common.json','configs/inference.json']",
            "--features",
            str(features),
        ],
        cwd=BUNDLES / name,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    scripted = torch.jit.load(str(root / "models/model.ts"))
    spatial = (60, 60) if name == "unet2015_cells_2d" else (44, 44, 44)
    assert scripted(torch.rand(1, 1, *spatial)).shape[2:] == ((20, 20) if len(spatial) == 2 else (4, 4, 4))


def cli_run(config: str, *arguments: str) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run --config_file configs/<config> ...`` in the CT bundle's folder."""
    return subprocess.run(
        bundle_run_command(f"configs/{config}", *arguments),
        cwd=BUNDLES / "unet3d_ct_organs",
        capture_output=True,
        text=True,
    )


def test_cli_run_inference_subprocess(trained, sample, tmp_path):
    result = cli_run(
        "inference.json",
        *("--bundle_root", str(trained["unet3d_ct_organs"]), "--dataset_dir", str(sample / "ct")),
        *("--output_dir", str(tmp_path), "--features", "[4,8,16]", "--roi_size", "[44,44,44]"),
        *("--progress", "False"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ct_002_seg.nii.gz").is_file()


@pytest.mark.parametrize("problem", ["missing", "empty"])
def test_bad_dataset_dir_is_a_one_line_error(tmp_path, problem):
    folder = tmp_path / "data"
    if problem == "empty":
        folder.mkdir()
    result = cli_run("train.json", "--bundle_root", str(tmp_path), "--dataset_dir", str(folder))
    assert result.returncode == 1
    last = [line for line in result.stderr.splitlines() if line.startswith("error: ")][-1]
    assert last.startswith(f"error: dataset_dir {folder} ") and ("does not exist" in last or "is empty" in last)
    assert "Traceback" not in result.stderr


def test_checkpoint_that_does_not_fit_the_network(trained, sample, tmp_path):
    name = "unet3d_ct_organs"
    with raises_cause(
        ValueError,
        (
            r"model.pt does not fit the network \(\d+ shape mismatch\(es\), e.g. .*: "
            r"checkpoint \(4, 1, 3, 3, 3\) vs network \(8, 1, 3, 3, 3\)"
        ),
    ):
        infer(name, trained[name], sample / "ct", tmp_path, **{"features": [8, 16, 32]})


def test_wrong_number_of_input_channels(sample, tmp_path):
    from monai_unet2015.networks import UNet3D

    (tmp_path / "models").mkdir()
    torch.save(UNet3D(2, 4, features=(4, 8, 16)).state_dict(), tmp_path / "models" / "model.pt")  # a 2-channel net
    with pytest.raises(RuntimeError) as raised:  # MONAI's config expression wraps what .run() raises
        infer("unet3d_ct_organs", tmp_path, sample / "ct", tmp_path, in_channels=2)
    assert isinstance(raised.value.__cause__, CasesFailedError)
    assert re.search(
        r"FAILED .*ct_002.nii.gz: has 1 channel\(s\) but the network takes 2: set --in_channels 1",
        str(raised.value.__cause__),
    )


def test_ct_bundle_trains_and_validates_on_partially_labelled_volumes(sample, tmp_path):
    """Voxels labelled 255 are not annotated: weight 0 in the loss, left out of the Dice (Cicek et al. 2016)."""
    import shutil

    data = tmp_path / "ct"
    shutil.copytree(sample / "ct", data)
    for path in (data / "labelsTr").iterdir():
        label = nib.load(path)
        array = np.asarray(label.dataobj).copy()
        array[:, :, ::2] = 255  # every other slice not annotated
        nib.save(nib.Nifti1Image(array, label.affine), path)
    flow = workflow(
        "unet3d_ct_organs",
        ["train.json"],
        "train",
        bundle_root=str(tmp_path),
        dataset_dir=str(data),
        max_epochs=2,
        val_interval=1,
    )
    flow.run()
    trainer = flow.parser.get_parsed_content("train#trainer")
    evaluator = flow.parser.get_parsed_content("validate#evaluator")
    assert trainer.state.iteration == 2 and np.isfinite(trainer.state.output["loss"].item())
    assert evaluator.state.epoch == 2  # validated after each epoch
    assert 0.0 <= evaluator.state.metrics["val_mean_dice"] <= 1.0
    assert (tmp_path / "models" / "model.pt").is_file()
