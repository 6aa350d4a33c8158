"""CT / MRI presets: geometry, HU window, MRI normalisation, and the load-time checks."""

from __future__ import annotations

import contextlib
import re
import shutil

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose

from monai_unet2015.data import (
    ct_preprocessing,
    modality_preprocessing,
    mri_intensity_transforms,
    mri_preprocessing,
    msd_datalist,
    normalize_modality,
)
from monai_unet2015.transforms import CheckImageLabeld, ScaleNonZeroPercentiles, ScaleNonZeroPercentilesd


@contextlib.contextmanager
def raises_inside_compose(error_type, match):
    """MONAI's Compose re-raises a transform's error as RuntimeError("applying transform ...") from it."""
    with pytest.raises(RuntimeError) as info:
        yield
    cause = info.value.__cause__
    assert isinstance(cause, error_type), repr(cause)
    assert re.search(match, str(cause)), str(cause)


@pytest.mark.parametrize("reader", [None, "ITKReader", "NibabelReader"])
def test_ct_preset_resamples_to_ras_pixdim_and_windows_hu(sample_root, reader):
    item = msd_datalist(sample_root / "ct")[0]
    out = Compose(ct_preprocessing(pixdim=(1.6, 1.6, 2.5), reader=reader))(item)
    image, label = out["image"], out["label"]
    assert image.shape == label.shape == (1, 25, 21, 12)  # MONAI keeps the extent: 47 * 0.8 / 1.6 + 1 -> 25
    np.testing.assert_allclose(image.pixdim.numpy(), [1.6, 1.6, 2.5], atol=1e-5)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert set(torch.unique(label).tolist()) <= {0.0, 1.0, 2.0, 3.0}
    raw = nib.load(item["image"]).get_fdata()
    assert float(image.min()) == 0.0 and (raw < -160).any()  # air is below the window


def test_dicom_and_nifti_of_the_same_case_give_the_same_sample(sample_root):
    native = (0.8, 0.8, 2.5)  # the sample's own spacing: resampled, the two headers' float noise can move an edge voxel
    from_nifti = Compose(ct_preprocessing(label_key=None, pixdim=native))(
        {"image": str(sample_root / "ct/imagesTr/ct_000.nii.gz")}
    )
    for reader in ("ITKReader", "PydicomReader"):
        from_dicom = Compose(ct_preprocessing(label_key=None, pixdim=native, reader=reader))(
            {"image": str(sample_root / "ct_dicom/ct_000")}
        )
        np.testing.assert_allclose(from_dicom["image"].numpy(), from_nifti["image"].numpy(), atol=1e-6)
        np.testing.assert_allclose(from_dicom["image"].affine.numpy(), from_nifti["image"].affine.numpy(), atol=1e-4)


def test_mri_zscore_over_nonzero_voxels(sample_root):
    out = Compose(mri_preprocessing())(msd_datalist(sample_root / "mri")[0])
    foreground = out["image"][out["image"] != out["image"][0, 0, 0, 0]]
    assert float(foreground.mean()) == pytest.approx(0.0, abs=0.05)
    assert float(foreground.std()) == pytest.approx(1.0, abs=0.05)


def test_mri_percentile_scaling_ignores_background():
    image = torch.zeros(1, 10, 10, 10)
    image[0, 2:8, 2:8, 2:8] = torch.linspace(100, 300, 216).reshape(6, 6, 6)
    out = ScaleNonZeroPercentiles(lower=0, upper=100)(MetaTensor(image, meta={"filename_or_obj": "a.nii"}))
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "a.nii"
    assert float(out[0, 2, 2, 2]) == 0.0 and float(out[0, 7, 7, 7]) == pytest.approx(1.0)
    assert float(out[0, 0, 0, 0]) == 0.0


@pytest.mark.parametrize("as_type", [np.asarray, torch.as_tensor])
def test_percentile_scaling_numpy_and_torch(as_type):
    image = as_type(np.array([[[0.0, 1.0], [2.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]]], np.float32))
    out = ScaleNonZeroPercentilesd("image", lower=0, upper=100)({"image": image})["image"]
    assert type(out) is type(image)
    np.testing.assert_allclose(np.asarray(out), [[[0.0, 0.0], [0.5, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])


def test_label_on_another_grid_is_an_error_naming_both_files(sample_root, tmp_path):
    item = msd_datalist(sample_root / "ct")[0]
    label = nib.load(item["label"])
    shifted = nib.Nifti1Image(np.asarray(label.dataobj), label.affine @ np.diag([1.0, 1.0, 1.2, 1.0]))
    nib.save(shifted, tmp_path / "label.nii.gz")
    with raises_inside_compose(
        ValueError, r"label .*label.nii.gz does not lie on the grid of image .*ct_000.nii.gz: affine"
    ):
        Compose(ct_preprocessing())({"image": item["image"], "label": str(tmp_path / "label.nii.gz")})


def test_label_with_another_shape_is_an_error(sample_root, tmp_path):
    item = msd_datalist(sample_root / "ct")[0]
    label = nib.load(item["label"])
    nib.save(nib.Nifti1Image(np.asarray(label.dataobj)[:, :, :-1], label.affine), tmp_path / "short.nii.gz")
    with raises_inside_compose(ValueError, r"spatial shape \(48, 40, 11\) vs \(48, 40, 12\)"):
        Compose(ct_preprocessing())({"image": item["image"], "label": str(tmp_path / "short.nii.gz")})


def test_constant_image_and_empty_label_warn_with_the_file(tmp_path):
    nib.save(nib.Nifti1Image(np.full((6, 6, 4), 7, np.int16), np.eye(4)), tmp_path / "flat.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((6, 6, 4), np.uint8), np.eye(4)), tmp_path / "empty.nii.gz")
    item = {"image": str(tmp_path / "flat.nii.gz"), "label": str(tmp_path / "empty.nii.gz")}
    with pytest.warns(UserWarning) as record:
        Compose(ct_preprocessing())(item)
    messages = " ".join(str(w.message) for w in record)
    assert "flat.nii.gz has one value everywhere (7.0)" in messages and "empty.nii.gz has no foreground" in messages


def test_empty_image_is_an_error():
    with pytest.raises(ValueError, match=r"image key 'image' is empty: shape \(1, 0, 4\)"):
        CheckImageLabeld()({"image": torch.zeros(1, 0, 4)})


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: ct_preprocessing(reader="GdcmReader"),
            r"reader: Unsupported option 'GdcmReader'",
        ),
        (
            lambda: ct_preprocessing(pixdim=(1.0, 0.0, 1.0)),
            r"pixdim must hold 3 positive spacings in mm, got \(1.0, 0.0",
        ),
        (lambda: mri_preprocessing(pixdim=(1.0, 1.0)), r"pixdim must hold 3 positive spacings in mm, got \(1.0, 1.0\)"),
        (lambda: ct_preprocessing(window=(100, -100)), r"window must be \(low HU, high HU\)"),
        (
            lambda: mri_intensity_transforms(method="minmax"),
            r"method: Unsupported option 'minmax'",
        ),
        (lambda: ScaleNonZeroPercentiles(lower=90, upper=10), "need 0 <= lower < upper <= 100"),
        (lambda: CheckImageLabeld(atol=-1), "atol must be >= 0"),
    ],
)
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_dicom_series_missing_from_disk_is_named(sample_root, tmp_path):
    folder = tmp_path / "series"
    shutil.copytree(sample_root / "ct_dicom" / "ct_000", folder)
    shutil.rmtree(folder)
    with raises_inside_compose(Exception, r"(?s)exist.*/series|/series.*exist"):
        Compose(ct_preprocessing(label_key=None))({"image": str(folder)})


@pytest.mark.parametrize("word, expected", [("ct", "ct"), ("CT", "ct"), ("Mr", "mri"), ("MRI", "mri"), ("mri", "mri")])
def test_modality_words_in_any_case(word, expected):
    assert normalize_modality(word) == expected
    intensity = modality_preprocessing(word)[-1]
    assert type(intensity.transform).__name__ == ("ScaleIntensityRanged" if expected == "ct" else "NormalizeIntensityd")


def test_unknown_modality_is_an_error():
    with pytest.raises(ValueError, match=r"modality must be CT or MR \(any case; mri too\), got 'pet'"):
        modality_preprocessing("pet")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize(
    "as_type, name",
    [
        (lambda v: MetaTensor(torch.as_tensor(v), meta={"filename_or_obj": "/data/c7.nii.gz"}), "/data/c7.nii.gz"),
        (torch.as_tensor, "key 'image'"),
        (np.asarray, "key 'image'"),
    ],
)
def test_non_finite_voxels_are_an_error_naming_the_file(bad, as_type, name):
    volume = np.zeros((1, 6, 6, 4), np.float32)
    volume[0, 1:3, 1:3, 1] = bad
    with pytest.raises(ValueError, match=rf"image {name} has 4 NaN or infinite voxel\(s\) of 144: fix or re-export"):
        CheckImageLabeld(label_key=None)({"image": as_type(volume)})


def test_ct_without_air_warns_that_the_intercept_may_be_missing():
    stored = MetaTensor(torch.full((1, 6, 6, 4), 1024.0), meta={"filename_or_obj": "/data/raw_ct"})
    stored[0, 0, 0, 0] = 0.0  # stored values 0..4095: the intercept -1024 was not applied
    with pytest.warns(UserWarning, match=r"/data/raw_ct has no value below -100 HU .*rescale intercept may be missing"):
        CheckImageLabeld(label_key=None, expect_hu=True)({"image": stored})


def test_16_bit_microscopy_under_a_fixed_8_bit_range_is_an_error_not_a_clipped_image(tmp_path):
    from PIL import Image

    from monai_unet2015.data import microscopy_preprocessing

    cells = np.zeros((20, 24), np.uint16)
    cells[4:10, 4:10] = 3000
    Image.fromarray(cells).save(tmp_path / "nuclei.png")
    with raises_inside_compose(
        ValueError,
        r"nuclei.png has values up to 3000, above the intensity range's top 255, "
        r"which would clip them \(a 16-bit image\?\): pass --intensity_range \"\[0,4095\]\"",
    ):
        Compose(microscopy_preprocessing(label_key=None, intensity_range=(0, 255)))(
            {"image": str(tmp_path / "nuclei.png")}
        )
    scaled = Compose(microscopy_preprocessing(label_key=None, intensity_range=(0, 4095)))(
        {"image": str(tmp_path / "nuclei.png")}
    )["image"]
    assert float(scaled.max()) == pytest.approx(3000 / 4095)


@pytest.mark.parametrize("stats", [None, (150.0,), (150.0, 0.0)])
def test_mri_dataset_normalisation_needs_a_mean_and_a_positive_std(stats):
    from monai_unet2015.data import mri_intensity_transforms

    with pytest.raises(ValueError, match=r"mri_stats must be \(mean, std\) with std > 0 for method 'dataset', got"):
        mri_intensity_transforms("image", "dataset", stats=stats)
