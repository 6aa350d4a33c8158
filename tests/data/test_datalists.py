"""Datalists: MSD, NIfTI folders, DICOM folders (tidy, mixed, broken), JSON; errors name the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from monai_unet2015.data import (
    add_output_names,
    dicom_series_datalist,
    json_datalist,
    msd_datalist,
    nifti_folder_datalist,
    write_dicom_seg,
    write_dicom_series,
)


def test_msd_training_and_test_sections(sample_root):
    training = msd_datalist(sample_root / "ct")
    assert len(training) == 2 and all(Path(item["label"]).is_file() for item in training)
    assert [Path(item["image"]).name for item in msd_datalist(sample_root / "ct", "test")] == ["ct_002.nii.gz"]


def test_msd_missing_file_is_named(sample_root, tmp_path):
    copy = tmp_path / "ct"
    shutil.copytree(sample_root / "ct", copy)
    (copy / "labelsTr" / "ct_001.nii.gz").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"entry 1 'label' names .*labelsTr/ct_001.nii.gz, which does not exist"
    ):
        msd_datalist(copy)


def test_msd_folder_without_dataset_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no dataset.json"):
        msd_datalist(tmp_path)


def test_json_datalist_missing_section_lists_the_sections(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps({"training": []}))
    with pytest.raises(ValueError, match=r"no section 'validation' \(it has \['training'\]\)"):
        json_datalist(tmp_path / "list.json", key="validation")


def copy_pairs(sample_root, tmp_path, label_names):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir(), labels.mkdir()
    for index, label_name in enumerate(label_names):
        source = f"ct_{index:03d}.nii.gz"
        shutil.copy(sample_root / "ct" / "imagesTr" / source, images / f"case{index}_0000.nii.gz")
        if label_name:
            shutil.copy(sample_root / "ct" / "labelsTr" / source, labels / label_name)
    return images, labels


def test_nifti_folder_pairs_by_name_with_suffixes(sample_root, tmp_path):
    images, labels = copy_pairs(sample_root, tmp_path, ["case0.nii.gz", "case1_seg.nii.gz"])
    datalist = nifti_folder_datalist(images, labels)
    assert [(Path(d["image"]).name, Path(d["label"]).name) for d in datalist] == [
        ("case0_0000.nii.gz", "case0.nii.gz"),
        ("case1_0000.nii.gz", "case1_seg.nii.gz"),
    ]
    assert len(nifti_folder_datalist(images)) == 2  # images only, for inference


def test_nifti_folder_unmatched_images_and_labels_are_listed(sample_root, tmp_path):
    images, labels = copy_pairs(sample_root, tmp_path, ["case0.nii.gz", None])
    shutil.copy(labels / "case0.nii.gz", labels / "other.nii.gz")
    with pytest.raises(
        ValueError,
        match=r"images without a label: \['case1_0000.nii.gz'\]; labels without an image: \['other.nii.gz'\]",
    ):
        nifti_folder_datalist(images, labels)


def test_nifti_folder_two_labels_for_one_image(sample_root, tmp_path):
    images, labels = copy_pairs(sample_root, tmp_path, ["case0.nii.gz"])
    shutil.copy(labels / "case0.nii.gz", labels / "case0_mask.nii.gz")
    with pytest.raises(ValueError, match="case0_0000.nii.gz matches several labels"):
        nifti_folder_datalist(images, labels)


def test_nifti_folder_unreadable_file_is_named(tmp_path):
    (tmp_path / "broken.nii.gz").write_bytes(b"not a nifti file")
    with pytest.raises(ValueError, match="broken.nii.gz is not a readable NIfTI file"):
        nifti_folder_datalist(tmp_path)


def test_nifti_folder_missing_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="images folder .*missing does not exist"):
        nifti_folder_datalist(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="holds no NIfTI files"):
        nifti_folder_datalist(tmp_path)


def write_series(folder: Path, slices: int = 4, seed: int = 0) -> None:
    volume = np.random.default_rng(seed).integers(-500, 500, (8, 6, slices)).astype(np.float32)
    write_dicom_series(volume, np.diag([0.8, 0.8, 2.5, 1.0]), folder, patient_id=f"P{seed}")


def test_tidy_dicom_folders_one_series_each(sample_root):
    datalist = dicom_series_datalist(sample_root / "ct_dicom", labels_dir=sample_root / "ct_dicom_labels")
    assert [Path(d["image"]).name for d in datalist] == ["ct_000", "ct_002"]
    assert [Path(d["label"]).name for d in datalist] == ["ct_000.nii.gz", "ct_002.nii.gz"]
    assert datalist[0]["modality"] == "CT" and datalist[0]["num_slices"] == 12


def test_mixed_series_folder_is_an_error_unless_linked(tmp_path):
    write_series(tmp_path / "mixed", seed=0)
    write_series(tmp_path / "other", seed=1)
    for path in (tmp_path / "other").iterdir():
        path.rename(tmp_path / "mixed" / f"b_{path.name}")
    with pytest.raises(ValueError, match=r"shares its folder with other series .*mixed.*Pass link_dir"):
        dicom_series_datalist(tmp_path / "mixed")
    datalist = dicom_series_datalist(tmp_path / "mixed", link_dir=tmp_path / "links")
    assert len(datalist) == 2
    for item in datalist:
        folder = Path(item["image"])
        assert folder.parent == tmp_path / "links" and folder.name == item["series_uid"]
        assert len(list(folder.iterdir())) == 4


def test_truncated_dicom_file_is_named(tmp_path):
    write_series(tmp_path / "s")
    shutil.copy(get_testdata_file("MR_truncated.dcm"), tmp_path / "s" / "truncated.dcm")
    with pytest.raises(ValueError, match="truncated.dcm is truncated"):
        dicom_series_datalist(tmp_path)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # the header stays, the pixel data (96 bytes) is cut


def test_for_inference_a_broken_series_carries_its_problem_and_the_others_none(tmp_path):
    write_series(tmp_path / "good", seed=0)
    write_series(tmp_path / "cut", seed=1)
    truncate(tmp_path / "cut" / "IM_0002.dcm")
    datalist = dicom_series_datalist(tmp_path, report_broken=True)
    problems = {Path(item["image"]).name: item.get("problem") for item in datalist}
    assert problems["good"] is None
    assert problems["cut"] == f"{tmp_path}/cut/IM_0002.dcm is truncated: 56 bytes of pixel data, 96 expected."


def test_for_inference_a_missing_slice_is_the_series_problem(tmp_path):
    write_series(tmp_path / "gap", slices=5)
    (tmp_path / "gap" / "IM_0003.dcm").unlink()
    (item,) = dicom_series_datalist(tmp_path, report_broken=True)
    assert "is unevenly spaced" in item["problem"] and "a slice is missing after position" in item["problem"]


def test_for_inference_an_unreadable_file_fails_the_series_beside_it_or_itself(tmp_path):
    write_series(tmp_path / "beside", seed=0)
    write_series(tmp_path / "apart", seed=1)
    (tmp_path / "beside" / "IM_9999.dcm").write_bytes(b"\x00" * 50)
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "x.dcm").write_bytes(b"\x00" * 50)
    datalist = dicom_series_datalist(tmp_path, report_broken=True)
    problems = {Path(item["image"]).name: item.get("problem") for item in datalist}
    assert problems["apart"] is None
    assert problems["beside"].startswith(f"{tmp_path}/beside/IM_9999.dcm is not a readable DICOM file")
    assert problems["beside"].endswith("It lies beside this series and may be one of its slices.")
    assert problems["x.dcm"].startswith(f"{tmp_path}/alone/x.dcm is not a readable DICOM file")


def test_inference_case_problem_reports_what_the_datalist_found(tmp_path):
    from monai_unet2015.bundle.cases import inference_case_problem

    item = {"image": str(tmp_path), "source": "/data/CT1", "problem": "/data/CT1/IM_2.dcm is truncated."}
    assert inference_case_problem(item, 1, 3) == "/data/CT1: /data/CT1/IM_2.dcm is truncated."


def test_corrupt_dicom_file_is_named_and_other_files_are_skipped(tmp_path):
    write_series(tmp_path / "s")
    (tmp_path / "s" / "notes.txt").write_text("scanned on Monday")
    assert len(dicom_series_datalist(tmp_path)) == 1
    (tmp_path / "s" / "IM_9999.dcm").write_bytes(b"\x00" * 50)
    with pytest.raises(ValueError, match="IM_9999.dcm is not a readable DICOM file"):
        dicom_series_datalist(tmp_path)


def test_missing_slice_is_an_error(tmp_path):
    write_series(tmp_path / "s", slices=5)
    (tmp_path / "s" / "IM_0003.dcm").unlink()
    with pytest.raises(ValueError, match=r"unevenly spaced .*a slice is missing after position 2.500 mm"):
        dicom_series_datalist(tmp_path)


def test_dicom_folder_without_dicom(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(FileNotFoundError, match="holds no DICOM image files"):
        dicom_series_datalist(tmp_path)


def test_dicom_series_without_a_label(sample_root, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    shutil.copy(sample_root / "ct_dicom_labels" / "ct_000.nii.gz", labels)
    with pytest.raises(ValueError, match=r"series without exactly one label: \[\"\['.*', 'ct_002'\] \(0 labels\)\"\]"):
        dicom_series_datalist(sample_root / "ct_dicom", labels_dir=labels)


def test_png_folders_pair_like_nifti(sample_root, tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    shutil.copytree(sample_root / "cells" / "imagesTr", images)
    shutil.copytree(sample_root / "cells" / "labelsTr", labels)
    datalist = nifti_folder_datalist(images, labels)
    assert [Path(d["image"]).name for d in datalist] == [Path(d["label"]).name for d in datalist] != []


def test_two_patients_with_one_series_folder_name_get_two_names(tmp_path):
    write_series(tmp_path / "patA" / "CT", seed=0)
    write_series(tmp_path / "patB" / "CT", seed=1)
    datalist = add_output_names(dicom_series_datalist(tmp_path))
    assert [d["name"] for d in datalist] == ["patA/CT", "patB/CT"]


@pytest.mark.parametrize(
    "images, names",
    [
        (["/d/imagesTs/a.nii.gz", "/d/imagesTs/b.nii"], ["a", "b"]),
        (["/d/x/case.nii.gz", "/d/y/case.nii.gz"], ["x/case", "y/case"]),
        (["/d/cells/c_001.png", "/d/cells/c_002.tif"], ["c_001", "c_002"]),
        (["/d/one/CT"], ["CT"]),
    ],
)
def test_output_names_are_paths_relative_to_the_common_folder(images, names):
    assert [d["name"] for d in add_output_names([{"image": p} for p in images])] == names


def test_two_inputs_with_one_output_name_are_an_error():
    with pytest.raises(ValueError, match=r"inputs /d/case.nii.gz and /d/case.nii would write the same output 'case'"):
        add_output_names([{"image": "/d/case.nii.gz"}, {"image": "/d/case.nii"}])


def test_linked_series_are_named_by_folder_and_uid(tmp_path):
    write_series(tmp_path / "patA" / "mixed", seed=0)
    write_series(tmp_path / "other", seed=1)
    for path in (tmp_path / "other").iterdir():
        path.rename(tmp_path / "patA" / "mixed" / f"b_{path.name}")
    write_series(tmp_path / "patB" / "CT", seed=2)
    datalist = add_output_names(dicom_series_datalist(tmp_path, link_dir=tmp_path.parent / f"{tmp_path.name}_links"))
    names = {d["series_uid"]: d["name"] for d in datalist}
    linked = [f"patA/mixed/{uid}" for uid, name in names.items() if name != "patB/CT"]
    assert len(linked) == 2 and sorted(names.values()) == sorted(["patB/CT", *linked])


def test_dicom_seg_and_output_folder_are_not_read_as_images(tmp_path):
    pytest.importorskip("highdicom", reason="DICOM SEG needs the optional highdicom (the dicom extra)")
    write_series(tmp_path / "study" / "CT", seed=0)
    mask = np.zeros((8, 6, 4), np.uint8)
    mask[2:5, 2:4, 1:3] = 1
    # a DICOM SEG beside the CT (as a PACS export has it), and our own output folder inside the dataset
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    write_dicom_seg(mask, affine, tmp_path / "study" / "CT", tmp_path / "study" / "seg.dcm", {1: "liver"})
    write_dicom_seg(mask, affine, tmp_path / "study" / "CT", tmp_path / "out" / "CT_seg.dcm", {1: "liver"})
    write_series(tmp_path / "out" / "copy", seed=3)
    datalist = dicom_series_datalist(tmp_path, exclude=[tmp_path / "out"])
    assert [Path(d["image"]).name for d in datalist] == ["CT"]


def test_only_series_of_the_modality_are_read(tmp_path, caplog):
    write_series(tmp_path / "ct", seed=0)
    volume = np.random.default_rng(2).integers(0, 500, (8, 6, 4)).astype(np.float32)
    write_dicom_series(volume, np.diag([1.0, 1.0, 1.0, 1.0]), tmp_path / "mr", modality="MR", rescale_intercept=0)
    assert [Path(d["image"]).name for d in dicom_series_datalist(tmp_path, modality="CT")] == ["ct"]
    assert "modality MR, not CT" in caplog.text
    with pytest.raises(ValueError, match=r"of modality \['CT'\], none of modality MR: .*--modality"):
        dicom_series_datalist(tmp_path / "ct", modality="MR")
