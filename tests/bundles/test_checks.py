"""load_datalist's layouts and split_datalist."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monai_unet2015.bundle import BundleInputError, load_datalist, split_datalist
from monai_unet2015.data import write_sample_data


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
    with pytest.raises(BundleInputError, match="training needs labels"):
        load_datalist(plain / "imagesTr")


def test_split_keeps_one_case_for_validation():
    train, val = split_datalist([{"image": str(i)} for i in range(5)], val_fraction=0.2, seed=0)
    assert len(train) == 4 and len(val) == 1 and not {d["image"] for d in train} & {d["image"] for d in val}
    single = [{"image": "a"}]
    assert split_datalist(single) == (single, single)
    with pytest.raises(BundleInputError, match="val_fraction must be between 0 and 1"):
        split_datalist(single, val_fraction=1.0)
