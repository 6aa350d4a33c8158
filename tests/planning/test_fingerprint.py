"""dataset_fingerprint on 2D instance, 2D binary and 3D CT / MRI folders, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monai_unet2015.planning import dataset_fingerprint
from tests.planning.conftest import write_nuclei, write_volumes


def test_2d_instance_labels(nuclei_dir):
    fingerprint = dataset_fingerprint(nuclei_dir)
    assert fingerprint["num_cases"] == 3 and fingerprint["spatial_dims"] == 2
    assert fingerprint["median_shape"] == [
        64,
        48,
    ]  # MONAI reads PIL images as (W, H) and fingerprint["channels"] == [1]
    assert fingerprint["instance_labels"] is True
    assert fingerprint["bit_depth"] == "16-bit"
    assert set(fingerprint["classes"]) == {"0", "1"}
    sizes = fingerprint["object_sizes"]
    assert sizes["count"] == 13 and sizes["min"] == 9 and sizes["p50"] == 113
    assert fingerprint["intensity"]["foreground"]["p50"] == 4100.0


def test_a_binary_2d_mask_gives_component_sizes(tmp_path):
    root = write_nuclei(tmp_path / "binary", num_cases=2, dtype=np.uint8, scale=200)
    for path in (root / "labelsTr").iterdir():
        Image.fromarray(((np.array(Image.open(path)) > 0) * 255).astype(np.uint8)).save(path)
    fingerprint = dataset_fingerprint(root)
    assert fingerprint["instance_labels"] is False
    assert fingerprint["object_sizes"]["count"] == 9 and fingerprint["bit_depth"] == "8-bit"


@pytest.mark.parametrize("ct, low", [(True, -1000.0), (False, 0.0)])
def test_3d_volumes(tmp_path, ct, low):
    root = write_volumes(tmp_path / "vol", ct=ct, spacing=(0.8, 0.8, 2.5))
    fingerprint = dataset_fingerprint(root)
    assert fingerprint["spatial_dims"] == 3 and "object_sizes" not in fingerprint
    assert fingerprint["median_spacing"] == [0.8, 0.8, 2.5] and fingerprint["median_shape"] == [40, 40, 30]
    assert list(fingerprint["classes"]) == ["0", "1", "2"]
    assert fingerprint["intensity"]["all"]["min"] == low
    assert 20 < fingerprint["intensity"]["foreground"]["p0.5"] < fingerprint["intensity"]["foreground"]["p99.5"] < 140


@pytest.mark.parametrize("ct", [True, False])
def test_3d_volumes_keep_what_the_gate_and_the_review_compare(tmp_path, ct):
    root = write_volumes(tmp_path / "vol", ct=ct, spacing=(0.8, 0.8, 2.5), num_cases=2)
    fingerprint = dataset_fingerprint(root)
    assert fingerprint["slice_planes"] == ["axial", "axial"]
    # label 1: 22 x 22 x 20 voxels less label 2's 10 x 10 x 10, each 0.8 x 0.8 x 2.5 mm = 1.6 uL
    assert fingerprint["class_volumes_ml_per_case"] == [{"1": 13.888, "2": 1.6}] * 2
    profiles = fingerprint["intensity"]["profiles_per_case"]
    assert len(profiles) == 2 and len(profiles[0]["all"]) == 9
    assert profiles[0]["all"][0] == (-1000.0 if ct else 0.0)
    if ct:  # the body's voxels: tissue of 40 and 120 HU, the air left out
        assert 20 < profiles[0]["body"][0] < profiles[0]["body"][-1] < 140
    else:
        assert "body" not in profiles[0]


def test_2d_cases_keep_no_volumes_or_planes(nuclei_dir):
    fingerprint = dataset_fingerprint(nuclei_dir)
    assert "slice_planes" not in fingerprint and "class_volumes_ml_per_case" not in fingerprint


def test_cases_without_labels_are_an_error(tmp_path):
    root = write_nuclei(tmp_path / "nuclei")
    for path in (root / "labelsTr").iterdir():
        path.unlink()
    (root / "labelsTr").rmdir()
    with pytest.raises((ValueError, FileNotFoundError), match="label"):
        dataset_fingerprint(root)


def test_an_image_and_label_of_other_sizes_are_an_error(tmp_path):
    root = write_nuclei(tmp_path / "nuclei", num_cases=2)
    Image.fromarray(np.zeros((40, 64), np.uint16)).save(root / "labelsTr" / "cell_1.tif")
    with pytest.raises(ValueError, match=r"cell_1.tif: image size \(64, 48\) differs from its label's \(64, 40\)"):
        dataset_fingerprint(root)


def test_nan_in_an_image_is_an_error(tmp_path):
    root = write_volumes(tmp_path / "vol", ct=False, num_cases=2)
    import nibabel as nib

    path = root / "imagesTr" / "vol_1.nii.gz"
    image = nib.load(path)
    data = np.asarray(image.dataobj).copy()
    data[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(data, image.affine), path)
    with pytest.raises(ValueError, match=r"vol_1.nii.gz: holds NaN or infinite values"):
        dataset_fingerprint(root)


def rewrite_volume(path, change, affine=None):
    import nibabel as nib

    image = nib.load(path)
    data = change(np.asarray(image.dataobj).astype(np.float32))
    nib.save(nib.Nifti1Image(data, image.affine if affine is None else affine), path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: np.where(a == 2, np.nan, a), r"label .*vol_1.nii.gz: holds NaN or infinite values"),
        (lambda a: a / 2, r"label .*vol_1.nii.gz: values \[0.5\] are not whole numbers; a label holds class"),
        (lambda a: a - 1, r"label .*vol_1.nii.gz: negative value -1"),
        (lambda a: np.stack([a, a], axis=-1), r"label .*vol_1.nii.gz has 2 channels .*a 4D label file is not one"),
    ],
    ids=["nan", "fractional", "negative", "4d"],
)
def test_bad_label_values_are_refused_by_file(tmp_path, change, message):
    root = write_volumes(tmp_path / "vol", ct=False, num_cases=2)
    rewrite_volume(root / "labelsTr" / "vol_1.nii.gz", change)
    with pytest.raises(ValueError, match=message):
        dataset_fingerprint(root)


def test_a_zero_spacing_in_the_header_is_refused_by_file(tmp_path):
    import nibabel as nib

    root = write_volumes(tmp_path / "vol", ct=False, num_cases=2)
    path = root / "imagesTr" / "vol_0.nii.gz"
    written = nib.Nifti1Image(np.asarray(nib.load(path).dataobj), None)
    written.header.set_zooms((1.0, 0.0, 1.0))  # nibabel reads this back as 1.0, with a log line only
    written.header.set_qform(None, code=0)
    written.header.set_sform(None, code=0)
    nib.save(written, path)
    with pytest.raises(ValueError, match=r"vol_0.nii.gz: spacing \(1.0, 0.0, 1.0\) in its header has a zero"):
        dataset_fingerprint(root)


def test_mixed_2d_and_3d_cases_name_both_files(tmp_path):
    root = write_volumes(tmp_path / "vol", ct=False, num_cases=2)
    rewrite_volume(root / "imagesTr" / "vol_1.nii.gz", lambda a: a[:, :, 0])
    rewrite_volume(root / "labelsTr" / "vol_1.nii.gz", lambda a: a[:, :, 0])
    with pytest.raises(ValueError, match=r"vol_1.nii.gz is 2D \(40, 40\) but .*vol_0.nii.gz is 3D: a dataset is all"):
        dataset_fingerprint(root)


def test_a_degenerate_image_is_refused(tmp_path):
    root = write_volumes(tmp_path / "vol", ct=False, num_cases=1, shape=(1, 1, 1))
    with pytest.raises(ValueError, match=r"vol_0.nii.gz: size \(1, 1, 1\) has a side of one voxel"):
        dataset_fingerprint(root)


def test_cases_with_other_channels_are_refused_and_several_channels_reach_the_plan(tmp_path):
    from monai_unet2015.bundle.locations import bundle_presets
    from monai_unet2015.planning import make_plan

    root = write_volumes(tmp_path / "vol", ct=False, num_cases=2)
    for name in ("vol_0.nii.gz", "vol_1.nii.gz"):
        rewrite_volume(root / "imagesTr" / name, lambda a: np.stack([a, a * 2], axis=-1))
    fingerprint = dataset_fingerprint(root)
    assert (
        fingerprint["channels"] == [2]
        and make_plan(fingerprint, presets=bundle_presets("unet3d_ct_organs"))["options"]["in_channels"] == 2
    )
    rewrite_volume(root / "imagesTr" / "vol_1.nii.gz", lambda a: a[..., 0])
    with pytest.raises(ValueError, match=r"vol_1.nii.gz has 1 channel\(s\) but .*vol_0.nii.gz has 2: every case"):
        dataset_fingerprint(root)
