"""The plan meets messy labels as new users have them: refused by file, or planned right, never silently wrong."""

from __future__ import annotations

import gzip
import logging
import os

import nibabel as nib
import numpy as np
import pytest

from monai_unet2015.planning import dataset_fingerprint, write_plan
from tests.planning.conftest import write_volumes


def relabel(root, case: int, change) -> None:
    """Apply ``change(labels, image) -> labels`` to case ``case``'s label file."""
    path = root / "labelsTr" / f"vol_{case}.nii.gz"
    label = nib.load(path)
    image = np.asarray(nib.load(root / "imagesTr" / path.name).dataobj)
    nib.save(nib.Nifti1Image(change(np.asarray(label.dataobj).copy(), image), label.affine), path)


def every_case(root, change) -> None:
    for case in range(3):
        relabel(root, case, change)


def set_affine(root, case: int, change) -> None:
    path = root / "labelsTr" / f"vol_{case}.nii.gz"
    label = nib.load(path)
    array, affine = change(np.asarray(label.dataobj), label.affine.copy())
    nib.save(nib.Nifti1Image(array, affine), path)


def shifted(array, affine, mm=10.0):
    affine[0, 3] += mm
    return array, affine


def flipped(array, affine):
    """The same voxels stored the other way round along x: the physical grid is unchanged, the array is not."""
    affine[:3, 3] += affine[:3, 0] * (array.shape[0] - 1)
    affine[:3, 0] *= -1
    return np.flip(array, axis=0).copy(), affine


def truncate_first_image(root) -> None:
    path = root / "imagesTr" / "vol_0.nii.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[: len(data) // 2]))


BAD_DATASETS = {
    "all_background": (lambda root: every_case(root, lambda lab, img: lab * 0), r"no label has a foreground voxel"),
    "binary_mask_as_0_255": (
        lambda root: every_case(root, lambda lab, img: np.where(lab > 0, 255, 0).astype(np.uint8)),
        r"a binary mask stored as 0 / 255 must be saved as 0 / 1",
    ),
    "label_values_not_class_ids": (  # one class absent is fine (test_plan.py); 998 of 1000 ids is not
        lambda root: every_case(root, lambda lab, img: np.where(lab == 2, 1000, lab.astype(np.uint16))),
        r"label values \[0, 1, 1000\] are not the class ids 0..1000: .* num_classes would be 1001",
    ),
    "truncated_image": (truncate_first_image, r"vol_0.nii.gz cannot be read: "),
    "label_10_mm_off": (lambda root: set_affine(root, 1, shifted), r"vol_1.nii.gz does not lie on the grid of image"),
    "label_stored_flipped": (lambda root: set_affine(root, 2, flipped), r"vol_2.nii.gz does not lie on the grid"),
    "broken_link": (
        lambda root: os.symlink(root / "gone.nii.gz", root / "imagesTr" / "vol_9.nii.gz"),
        r"holds links to files that do not exist: \['vol_9.nii.gz'\]",
    ),
}


@pytest.mark.parametrize("name", BAD_DATASETS)
def test_the_plan_refuses_a_messy_dataset_naming_what_is_wrong(tmp_path, name):
    root = write_volumes(tmp_path / "ct", ct=True)
    spoil, message = BAD_DATASETS[name]
    spoil(root)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        write_plan(root, tmp_path / "plan.json")
    assert not (tmp_path / "plan.json").exists()


def test_voxels_nobody_annotated_are_not_foreground(tmp_path):
    """A 255 ('not annotated') region over air must not pull the CT window down to air."""
    root = write_volumes(tmp_path / "ct", ct=True)
    clean = dataset_fingerprint(root)["intensity"]["foreground"]
    every_case(root, lambda lab, img: np.where((lab == 0) & (img < -500), 255, lab).astype(np.uint8))
    sparse = dataset_fingerprint(root)["intensity"]["foreground"]
    assert sparse["p0.5"] == pytest.approx(clean["p0.5"], abs=1.0) and sparse["p0.5"] > -100


def test_a_plan_file_that_is_a_folder_is_refused(tmp_path):
    root = write_volumes(tmp_path / "ct", ct=True)
    (tmp_path / "plans").mkdir()
    with pytest.raises(ValueError, match=r"plans is a folder: name a file in it, e.g. .*plans/plan.json"):
        write_plan(root, tmp_path / "plans", overwrite=True)


def test_a_case_in_a_sub_folder_is_named_in_a_warning(tmp_path, caplog):
    root = write_volumes(tmp_path / "ct", ct=True)
    (root / "imagesTr" / "extra").mkdir()
    with caplog.at_level(logging.WARNING):
        write_plan(root, tmp_path / "plan.json")
    assert "sub-folder(s) ['extra'] not read" in caplog.text


def as_classes(root) -> None:
    """The nuclei's objects labelled by class (1 for the left discs, 2 for the right ones): ids over several regions."""
    from PIL import Image

    for path in sorted((root / "labelsTr").iterdir()):
        labels = np.asarray(Image.open(path)).astype(np.int64)
        classes = np.zeros_like(labels)
        _, xx = np.mgrid[: labels.shape[0], : labels.shape[1]]
        classes[(labels > 0) & (xx < 30)] = 1
        classes[(labels > 0) & (xx >= 30)] = 2
        Image.fromarray(classes.astype(np.uint16)).save(path)


def declare_classes(root) -> None:
    (root / "dataset.json").write_text('{"labels": {"0": "background", "1": "nucleus", "2": "mitosis"}}')


@pytest.mark.parametrize(
    "spoil, why",
    [
        (as_classes, r"2 of its 2 values each cover separate regions"),
        (declare_classes, r"dataset.json names 2 classes \(nucleus, mitosis\)"),
    ],
)
def test_2d_class_labels_are_refused_not_planned_as_objects(nuclei_dir, tmp_path, spoil, why):
    spoil(nuclei_dir)
    with pytest.raises(ValueError, match=rf"label .*cell_0.tif holds class ids, not one id per object \({why}\)"):
        write_plan(nuclei_dir, tmp_path / "plan.json")


def test_2d_instance_labels_are_still_planned_as_objects(nuclei_dir, tmp_path):
    write_plan(nuclei_dir, tmp_path / "plan.json")
    assert dataset_fingerprint(nuclei_dir)["instance_labels"] is True
