"""Checks of every case before work starts: one line per problem, naming the file and what to do."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from monai_unet2015.bundle import CaseProblemsError, check_training_cases, training_case_problems
from monai_unet2015.bundle.cases import inference_case_problem

GOOD_LABEL = np.zeros((8, 8, 6), np.uint8)
GOOD_LABEL[2:6, 2:6, 2:4] = 1


def nifti(path: Path, array: np.ndarray, affine=None) -> str:
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), path)
    return str(path)


def case(tmp_path: Path, image=None, label=None, name="case", label_affine=None) -> dict:
    image = np.random.default_rng(0).normal(size=(8, 8, 6)).astype(np.float32) if image is None else image
    return {
        "image": nifti(tmp_path / f"{name}.nii.gz", image),
        "label": nifti(tmp_path / f"{name}_seg.nii.gz", GOOD_LABEL if label is None else label, label_affine),
    }


def problems(cases, **kwargs) -> list[str]:
    return training_case_problems(cases, **{"num_classes": 4, "ignore_index": 255, **kwargs})


def test_good_cases_have_no_problem(tmp_path):
    assert problems([case(tmp_path, name="a"), case(tmp_path, name="b")]) == []


def test_label_value_out_of_range_names_the_label_file(tmp_path):
    label = GOOD_LABEL.copy()
    label[0, 0, 0] = 7
    [line] = problems([case(tmp_path, label=label)])
    assert line == (
        f"{tmp_path}/case_seg.nii.gz: label values [7] are outside 0..3 or 255 (not annotated): fix the label, "
        "or set --num_classes 8 if those are classes."
    )


def test_binary_0_255_mask_gets_a_hint(tmp_path):
    [line] = problems([case(tmp_path, label=GOOD_LABEL * 255)])
    assert "case_seg.nii.gz: holds only 0 and 255, and 255 means 'not annotated' here" in line
    assert "save the foreground as 1 (label // 255)" in line
    [line] = problems([case(tmp_path, label=GOOD_LABEL * 255)], ignore_index=None)
    assert "label values [255] are outside 0..3" in line and "It looks like a 0/255 binary mask" in line


def test_non_integer_label_values(tmp_path):
    label = GOOD_LABEL.astype(np.float32) * 0.5
    [line] = problems([case(tmp_path, label=label)])
    assert line.endswith(
        "case_seg.nii.gz: label values are not integers (e.g. 0.5): save labels as integers, "
        "resampled with nearest-neighbour interpolation."
    )


def test_label_off_the_image_grid(tmp_path):
    [line] = problems([case(tmp_path, label_affine=np.diag([2.0, 1, 1, 1]))])
    assert "label" in line and "case_seg.nii.gz does not lie on the grid of image" in line


def test_nan_voxels(tmp_path):
    image = np.zeros((8, 8, 6), np.float32)
    image[1, 1, 1] = np.nan
    [line] = problems([case(tmp_path, image=image)])
    assert "case.nii.gz has 1 NaN or infinite voxel(s)" in line


def test_2d_image_into_the_3d_bundle(tmp_path):
    item = {"image": nifti(tmp_path / "slice.nii.gz", np.zeros((8, 8), np.float32)), "label": "unused"}
    [line] = problems([item])
    assert (
        line == f"{tmp_path}/slice.nii.gz: is 2D (shape (8, 8)) but this network is 3D: use the 2D bundle for it, "
        "or convert the image."
    )


def test_too_few_slices_for_the_3d_net(tmp_path):
    [line] = problems([case(tmp_path, image=np.zeros((8, 8, 2), np.float32), label=GOOD_LABEL[..., :2])])
    assert "has only 2 voxel(s) along one axis (shape (8, 8, 2)); the 3D net needs a volume of at least 3" in line


def test_channel_count(tmp_path):
    [line] = problems([case(tmp_path)], in_channels=2)
    assert "case.nii.gz: has 1 channel(s) but the network takes 2: set --in_channels 1" in line


def test_unreadable_file(tmp_path):
    item = case(tmp_path)
    Path(item["image"]).write_bytes(Path(item["image"]).read_bytes()[:60])  # truncated
    [line] = problems([item])
    assert line.startswith(f"{tmp_path}/case.nii.gz: cannot be read (")


def test_all_problems_are_reported_at_once(tmp_path):
    bad = GOOD_LABEL.copy()
    bad[0, 0, 0] = 9
    cases = [case(tmp_path, name="a", label=bad), case(tmp_path, name="b"), case(tmp_path, name="c", label=bad)]
    with pytest.raises(
        CaseProblemsError,
        match=r"(?s)2 problem\(s\) with the 3 training / validation cases; "
        r"nothing was run:\n  .*a_seg.nii.gz: .*\n  .*c_seg.nii.gz: ",
    ):
        check_training_cases(cases, num_classes=4, ignore_index=255)


def test_instance_labels_allow_any_non_negative_id(tmp_path):
    cells = np.zeros((20, 20), np.uint16)
    cells[2:6, 2:6], cells[8:12, 8:12] = 300, 301
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(cells).save(tmp_path / "c_seg.png")
    item = {"image": str(tmp_path / "c.png"), "label": str(tmp_path / "c_seg.png")}
    assert training_case_problems([item], num_classes=2, spatial_dims=2, labels="instances") == []
    assert "outside 0..1" in training_case_problems([item], num_classes=2, spatial_dims=2)[0]


def test_invalid_label_kind():
    with pytest.raises(ValueError, match=r"labels: Unsupported option 'semantic'"):
        training_case_problems([], num_classes=2, labels="semantic")


@pytest.mark.parametrize(
    "shape, spatial_dims, expected",
    [
        ((8, 8, 6), 3, None),
        ((8, 8), 3, "is 2D"),
        ((8, 8, 1), 3, "has only 1 voxel(s) along one axis"),
        ((8, 8, 6, 2), 3, "has 2 channel(s)"),
    ],
)
def test_inference_header_checks(tmp_path, shape, spatial_dims, expected):
    item = {"image": nifti(tmp_path / "x.nii.gz", np.zeros(shape, np.float32))}
    problem = inference_case_problem(item, in_channels=1, spatial_dims=spatial_dims)
    assert problem is None if expected is None else expected in problem


def test_inference_header_check_of_a_short_dicom_series(tmp_path):
    item = {"image": str(tmp_path), "num_slices": 2, "source": "/pacs/patA/CT"}
    assert inference_case_problem(item, 1, 3).startswith("/pacs/patA/CT: DICOM series with 2 slice(s)")
    assert inference_case_problem({**item, "num_slices": 40}, 1, 3) is None
