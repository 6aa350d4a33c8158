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
