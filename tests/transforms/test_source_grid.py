"""LabelsToSourceGrid(d): MONAI's Invertd voxel for voxel (ties aside), in the memory of its output."""

import tracemalloc

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import AsDiscreted, Compose, Invertd, LoadImaged, Orientationd, Spacingd

from monai_unet2015.transforms import LabelsToSourceGrid, LabelsToSourceGridd, nearest_labels_on_grid
from monai_unet2015.transforms.source_grid import _gather_axis_aligned, _gather_in_slabs


def _affine(linear, origin):
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = linear, origin
    return affine


_TURN = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
# source grids whose spacing ratios are not exact halves, so no voxel centre is a tie
GRIDS = {
    "ras": ((61, 53, 27), _affine(np.diag([0.8, 0.8, 1.5]), [-100, 20, -300]), (1.6, 1.6, 2.5)),
    "flipped": ((64, 48, 20), _affine(np.diag([-0.7, -0.7, 2.0]), [150, -60, -800]), (1.6, 1.6, 2.5)),
    "permuted": ((30, 41, 22), _affine([[0, 0, 3.0], [2.0, 0, 0], [0, -1.2, 0]], [10, 5, 7]), (1.5, 1.5, 1.5)),
    "oblique": ((50, 40, 16), _affine(_TURN @ np.diag([0.9, 0.9, 2.0]), [0, 0, 0]), (1.6, 1.6, 2.5)),
}


def _predicted(tmp_path, shape, affine, pixdim):
    """A bundle-like preprocessing of a NIfTI and an argmax label map on its grid."""
    path = tmp_path / "image.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), affine), path)
    preprocessing = Compose(
        [
            LoadImaged("image", image_only=True, ensure_channel_first=True),
            Orientationd("image", axcodes="RAS", labels=None),
            Spacingd("image", pixdim=pixdim, mode="bilinear"),
        ]
    )
    image = preprocessing({"image": str(path)})["image"]
    logits = torch.from_numpy(np.random.default_rng(0).normal(size=(4, *image.shape[1:])).astype(np.float32))
    pred = AsDiscreted("pred", argmax=True)({"pred": MetaTensor(logits, affine=image.affine, meta=dict(image.meta))})
    return preprocessing, image, pred["pred"]


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_equals_monai_invertd_where_no_centre_is_a_tie(grid, tmp_path):
    shape, affine, pixdim = GRIDS[grid]
    preprocessing, image, pred = _predicted(tmp_path, shape, affine, pixdim)
    invertd = Invertd("pred", transform=preprocessing, orig_keys="image", nearest_interp=True, to_tensor=True)
    theirs = invertd({"image": image, "pred": pred.clone()})["pred"]
    ours = LabelsToSourceGridd("pred")({"image": image, "pred": pred.clone()})["pred"]
    assert ours.shape == (1, *shape) and ours.dtype == torch.uint8
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy().astype(np.uint8))
    np.testing.assert_allclose(ours.affine.numpy(), affine)


def test_a_tie_goes_to_the_even_index():
    labels = np.arange(6)[None, :, None, None]  # 2 mm voxels along x, centres at 0, 2, 4 ... mm
    out = nearest_labels_on_grid(labels, np.diag([2.0, 1.0, 1.0, 1.0]), np.eye(4), (12, 1, 1))
    assert out[0, :, 0, 0].tolist() == [0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5, 5]  # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 ...


def test_centres_past_the_border_take_the_border_label():
    labels = np.array([[[1, 2, 3]]])  # (1, 1, 3)
    out = nearest_labels_on_grid(labels, np.eye(3), _affine2d(1.0, -2.0), (1, 7))
    assert out[0, 0].tolist() == [1, 1, 1, 2, 3, 3, 3]


def _affine2d(spacing, origin):
    return np.array([[1.0, 0, 0], [0, spacing, origin], [0, 0, 1]])


@pytest.mark.parametrize("as_torch", [False, True])
def test_2d_labels_and_torch_or_numpy_input(as_torch):
    labels = np.array([[[0, 1], [2, 3]]])
    source = torch.as_tensor(labels) if as_torch else labels
    out = nearest_labels_on_grid(source, np.diag([2.0, 2.0, 1.0]), np.eye(3), (4, 4))
    assert out.shape == (1, 4, 4) and out.dtype == np.uint8
    assert out[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_the_oblique_path_agrees_with_the_axis_aligned_one():
    rng = np.random.default_rng(1)
    array = rng.integers(0, 5, (17, 13, 9)).astype(np.uint8)
    to_source = _affine(np.diag([0.37, -0.61, 0.83]), [1.2, 11.7, 0.4])
    aligned = _gather_axis_aligned(array, to_source, [0, 1, 2], (40, 20, 12))
    np.testing.assert_array_equal(_gather_in_slabs(array, to_source, (40, 20, 12)), aligned)


def test_class_ids_above_255_come_back_as_uint16():
    out = nearest_labels_on_grid(np.array([[[300, 2]]]), np.eye(3), np.eye(3), (1, 2))
    assert out.dtype == np.uint16 and out[0].tolist() == [[300, 2]]


def test_memory_is_the_output_and_little_more():
    """A 4 M voxel target: the axis-aligned path allocates about its uint8 output, no float grid."""
    labels = np.ones((1, 100, 100, 50), np.float32)  # the argmax comes as floats
    tracemalloc.start()
    out = nearest_labels_on_grid(labels, np.diag([2.0, 2.0, 2.0, 1.0]), np.eye(4), (200, 200, 100))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.nbytes == 4_000_000
    assert peak < out.nbytes + 2 * labels[0].size + 100_000  # the output, the labels as uint8, index lists


@pytest.mark.parametrize(
    "labels,labels_affine,target_affine,target_shape,match",
    [
        (np.zeros((2, 3, 3)), np.eye(3), np.eye(3), (3, 3), r"labels must be \(1, \*S\), got shape \(2, 3, 3\)"),
        (np.zeros((1, 3, 3)), np.eye(4), np.eye(3), (3, 3), r"labels_affine must be 3x3 for 2D labels, got \(4, 4\)"),
        (np.zeros((1, 3, 3)), np.eye(3), np.eye(3), (3, 3, 3), r"target_shape must have 2 entries, got \(3, 3, 3\)"),
        (-np.ones((1, 3, 3)), np.eye(3), np.eye(3), (3, 3), r"labels must be class ids in 0..65535, got -1.0..-1.0"),
    ],
)
def test_invalid_arguments_are_named(labels, labels_affine, target_affine, target_shape, match):
    with pytest.raises(ValueError, match=match):
        nearest_labels_on_grid(labels, labels_affine, target_affine, target_shape)


def test_transform_arguments_are_checked():
    with pytest.raises(ValueError, match=r"target_affine must be a 3x3 or 4x4 matrix, got shape \(2, 2\)"):
        LabelsToSourceGrid(np.eye(2), (3, 3))
    with pytest.raises(ValueError, match=r"target_shape must be 3 positive sizes, got \(4, 0, 4\)"):
        LabelsToSourceGrid(np.eye(4), (4, 0, 4))
    with pytest.raises(TypeError, match="labels must be a MetaTensor \\(its affine is the grid\\), got ndarray"):
        LabelsToSourceGrid(np.eye(3), (2, 2))(np.zeros((1, 2, 2)))
    with pytest.raises(TypeError, match="image_key must be a non-empty string, got ''"):
        LabelsToSourceGridd("pred", image_key="")


def test_an_image_without_its_file_grid_is_named():
    data = {"image": MetaTensor(torch.zeros(1, 2, 2)), "pred": MetaTensor(torch.zeros(1, 2, 2))}
    with pytest.raises(ValueError, match="'image' lacks original_affine and spatial_shape in its metadata"):
        LabelsToSourceGridd("pred")(data)


def test_an_oblique_map_takes_each_voxel_from_its_nearest_centre():
    """A rotated label grid (not axis-aligned with the target): checked voxel by voxel."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, (1, 9, 8, 6))
    labels_affine = _affine(_TURN @ np.diag([1.3, 1.1, 1.7]), [-2.0, -1.0, 0.5])
    target_affine = _affine(np.diag([0.9, 0.8, 1.2]), [0.0, 0.0, 0.0])
    out = nearest_labels_on_grid(labels, labels_affine, target_affine, (8, 7, 5))
    to_labels = np.linalg.inv(labels_affine) @ target_affine
    for voxel in np.ndindex(8, 7, 5):
        source = to_labels @ np.array([*voxel, 1.0])
        nearest = tuple(int(min(max(round(c), 0), n - 1)) for c, n in zip(source[:3], labels.shape[1:]))
        assert out[(0, *voxel)] == labels[(0, *nearest)], voxel
