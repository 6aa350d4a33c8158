"""The app's helpers that need no server: bundle copies, model selection, training overrides."""

from __future__ import annotations

import pytest

from monai_unet2015.bundle.locations import bundles_dir, init_bundle
from monai_unet2015.label import WEIGHTS, install_bundle, studies_from_msd, training_overrides
from monai_unet2015.label.app import _requested_bundles

VALIDATION = [{"image": "a.nii.gz", "label": "a_label.nii.gz"}]
# The bundle's train#handlers ([]) with the loader MONAI Label inserts for pretrained weights.
HANDLERS = [{"_target_": "CheckpointLoader", "load_path": "models/model.pt", "load_dict": {"model": "$@network"}}]


def test_install_bundle_copies_configs_docs_licence_and_weights(tmp_path):
    source = tmp_path / "source"
    for part in ("configs", "docs"):
        (source / part).mkdir(parents=True)
        (source / part / f"{part}.txt").write_text(part)
    (source / "configs" / "inference.json").write_text("{}")
    (source / "LICENSE").write_text("licence")
    (source / WEIGHTS).parent.mkdir()
    (source / WEIGHTS).write_bytes(b"weights")
    (source / "logs").mkdir()

    target = install_bundle(source, tmp_path / "model" / "bundle")

    assert (target / "configs" / "inference.json").is_file()
    assert (target / "docs" / "docs.txt").read_text() == "docs"
    assert (target / "LICENSE").read_text() == "licence"
    assert (target / WEIGHTS).read_bytes() == b"weights"
    assert not (target / "logs").exists()


def test_install_bundle_keeps_an_existing_copy_and_its_weights(tmp_path):
    target = install_bundle(bundles_dir() / "unet3d_ct_organs", tmp_path / "copy")
    assert (target / WEIGHTS).parent.is_dir() and not (target / WEIGHTS).exists()
    (target / WEIGHTS).write_bytes(b"trained here")
    (target / "configs" / "train.json").write_text("{}")

    again = install_bundle(bundles_dir() / "unet3d_ct_organs", tmp_path / "copy")

    assert (again / WEIGHTS).read_bytes() == b"trained here"
    assert (again / "configs" / "train.json").read_text() == "{}"


def test_install_bundle_refuses_a_folder_without_inference_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no configs/inference.json"):
        install_bundle(tmp_path / "empty", tmp_path / "copy")


@pytest.mark.parametrize(
    "models, expected",
    [
        ("all", ["unet2015_cells_2d", "unet3d_ct_organs"]),
        ("unet3d_ct_organs", ["unet3d_ct_organs"]),
        (" unet2015_cells_2d , unet3d_ct_organs ", ["unet2015_cells_2d", "unet3d_ct_organs"]),
    ],
)
def test_requested_bundles(models, expected):
    requested = _requested_bundles(models, bundles_dir())
    assert requested == {name: bundles_dir() / name for name in expected}


def test_requested_bundles_takes_a_bundle_folder_beside_a_name(tmp_path):
    folder = init_bundle("unet2015_cells_2d", tmp_path)
    requested = _requested_bundles(f"{folder}, unet3d_ct_organs", bundles_dir())
    assert requested == {"unet2015_cells_2d": folder, "unet3d_ct_organs": bundles_dir() / "unet3d_ct_organs"}


@pytest.mark.parametrize("models", ["unet3d_ct", "", "unet3d_ct_organs,spleen"])
def test_requested_bundles_names_the_available_ones(models):
    with pytest.raises(ValueError, match=r"conf 'models' must name bundles in .*\['unet2015_cells_2d', 'unet3d_ct"):
        _requested_bundles(models, bundles_dir())


def test_training_overrides_with_validation_validate_at_start_and_within_the_run():
    overrides = {"train#trainer#max_epochs": 3, "train#handlers": HANDLERS, "validate#dataset#data": VALIDATION}
    changes = training_overrides(overrides, val_interval=5)
    assert changes["train#trainer#resume"] is False and changes["progress"] is False
    assert changes["val_interval"] == 3
    assert changes["train#trainer#validate_at_start"] is True
    assert "train#handlers" not in changes and "validate#dataset#data" not in changes


def test_training_overrides_keep_a_shorter_val_interval():
    overrides = {"train#trainer#max_epochs": 50, "train#handlers": HANDLERS, "validate#dataset#data": VALIDATION}
    assert training_overrides(overrides, val_interval=5)["val_interval"] == 5


@pytest.mark.parametrize("validation", [[], None])
def test_training_overrides_without_validation_save_the_final_weights(validation):
    overrides = {"train#trainer#max_epochs": 1, "train#handlers": HANDLERS}
    if validation is not None:
        overrides["validate#dataset#data"] = validation
    changes = training_overrides(overrides, val_interval=5)
    targets = [h["_target_"] for h in changes["train#handlers"]]
    assert targets == ["CheckpointLoader", "CheckpointSaver"]
    assert changes["train#handlers"][-1]["final_filename"] == "model.pt"
    assert changes["train#trainer#evaluator"] == "$None" and changes["validate#dataset#data"] == []
    assert [h["_target_"] for h in HANDLERS] == ["CheckpointLoader"]  # not changed in place


def test_studies_from_msd_copies_images_and_training_labels(tmp_path):
    from monai_unet2015.data import write_sample_data

    write_sample_data(tmp_path / "sample", num_ct=3, num_mri=0, num_cells=0, ct_shape=(16, 16, 4), dicom=False)
    studies = studies_from_msd(tmp_path / "sample" / "ct", tmp_path / "studies")
    assert sorted(p.name for p in studies.glob("*.nii.gz")) == ["ct_000.nii.gz", "ct_001.nii.gz", "ct_002.nii.gz"]
    assert sorted(p.name for p in (studies / "labels" / "final").iterdir()) == ["ct_000.nii.gz", "ct_001.nii.gz"]

    unlabelled = studies_from_msd(tmp_path / "sample" / "ct", tmp_path / "unlabelled", with_labels=False)
    assert not (unlabelled / "labels").exists()


def test_studies_from_msd_names_a_folder_without_images(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"msd_dir .*nowhere has no imagesTr/ folder"):
        studies_from_msd(tmp_path / "nowhere", tmp_path / "studies")
