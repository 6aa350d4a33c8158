"""load_datalist's layouts and split_datalist."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monai_unet2015.data import load_datalist, split_datalist, write_sample_data


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    write_sample_data(root, num_ct=3, num_mri=0, num_cells=0, ct_shape=(24, 24, 6))
    return root


def test_layouts(sample, tmp_path):
    assert len(load_datalist(sample / "ct")) == 2  # MSD
    plain = tmp_path / "plain"
    shutil.copytree(sample / "ct", plain)
    (plain / "dataset.json").unlink()
    assert len(load_datalist(plain)) == 2  # imagesTr + labelsTr
    assert [Path(d["image"]).name for d in load_datalist(plain, "test", with_labels=False)] == ["ct_002.nii.gz"]
    assert len(load_datalist(sample / "ct_dicom", with_labels=False)) == 2  # DICOM series
    with pytest.raises(FileNotFoundError, match="training needs labels"):
        load_datalist(plain / "imagesTr")


def test_split_keeps_one_case_for_validation():
    train, val = split_datalist([{"image": str(i)} for i in range(5)], val_fraction=0.2, seed=0)
    assert len(train) == 4 and len(val) == 1 and not {d["image"] for d in train} & {d["image"] for d in val}
    single = [{"image": "a"}]
    assert split_datalist(single) == (single, single)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got 1.0"):
        split_datalist(single, val_fraction=1.0)


def test_val_fraction_zero_trains_and_validates_on_every_case():
    cases = [{"image": str(i)} for i in range(4)]
    assert split_datalist(cases, val_fraction=0.0) == (cases, cases)


def test_a_mixed_dicom_folder_is_split_without_being_asked(sample, tmp_path):
    mixed = tmp_path / "mixed"
    for case in ("ct_000", "ct_002"):
        for path in (sample / "ct_dicom" / case).iterdir():
            mixed.mkdir(exist_ok=True)
            shutil.copy(path, mixed / f"{case}_{path.name}")
    datalist = load_datalist(mixed, "test", with_labels=False, modality="CT")
    assert len(datalist) == 2 and len({d["name"] for d in datalist}) == 2
    assert all(len(list(Path(d["image"]).iterdir())) == 6 for d in datalist)


def test_a_flat_folder_of_pngs_is_read_as_images(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        Image.new("L", (8, 8)).save(tmp_path / f"{name}.png")
    assert [d["name"] for d in load_datalist(tmp_path, "test", with_labels=False)] == ["a", "b"]


def test_a_dataset_json_that_lists_no_cases_pairs_images_and_labels_by_name(sample, tmp_path):
    """nnU-Net v2's dataset.json (labels, channels, no case list) is not an MSD case list."""
    import json

    folder = tmp_path / "nnunet_style"
    shutil.copytree(sample / "ct", folder)
    (folder / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": {"background": 0}}))
    assert [Path(d["label"]).name for d in load_datalist(folder)] == ["ct_000.nii.gz", "ct_001.nii.gz"]


def test_reading_dicom_folders_again_adds_no_exit_callbacks(sample):
    import atexit

    load_datalist(sample / "ct_dicom", with_labels=False)
    before = atexit._ncallbacks()
    for _ in range(3):
        load_datalist(sample / "ct_dicom", with_labels=False)
    assert atexit._ncallbacks() == before


@pytest.mark.parametrize("same_folder", ["{root}", "{root}/", "{root}/../{name}"])
def test_the_dataset_folder_as_its_own_output_folder_is_refused(sample, same_folder):
    root = sample / "ct" / "imagesTs"
    output_dir = same_folder.format(root=root, name=root.name)
    with pytest.raises(
        ValueError, match=rf"output_dir {output_dir} is dataset_dir itself: .* --output_dir {root}/masks"
    ):
        load_datalist(root, "test", False, exclude=[output_dir])


def test_an_output_folder_inside_the_dataset_folder_is_left_out(sample, tmp_path):
    root = tmp_path / "images"
    shutil.copytree(sample / "ct" / "imagesTs", root)
    (root / "masks").mkdir()
    shutil.copy(next(root.glob("*.nii.gz")), root / "masks" / "x_seg.nii.gz")
    names = [Path(item["image"]).name for item in load_datalist(root, "test", False, exclude=[root / "masks"])]
    assert "x_seg.nii.gz" not in names and names
