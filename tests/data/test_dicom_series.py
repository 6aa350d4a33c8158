"""DICOM: write a volume as a series and read it back with MONAI's ITK and pydicom readers."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from monai.data import ITKReader, PydicomReader
from monai.transforms import LoadImage
from pydicom.data import get_testdata_file

from monai_unet2015.data import ct_like_volume, write_dicom_series

READERS = [ITKReader, PydicomReader]


def rotation_affine(spacing, origin, degrees):
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


AFFINES = {
    "axis_aligned": rotation_affine((0.8, 0.8, 2.5), (10.0, -20.0, 30.0), 0),
    "oblique_20_degrees": rotation_affine((0.7, 0.9, 3.0), (-5.0, 7.5, -40.0), 20),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", AFFINES)
def test_written_series_reads_back_with_the_same_array_and_geometry(tmp_path, reader, name):
    hu, _, _ = ct_like_volume((40, 30, 6), seed=0)
    hu = np.round(hu)
    write_dicom_series(hu, AFFINES[name], tmp_path / "series")
    image = LoadImage(reader=reader(), image_only=True)(str(tmp_path / "series"))
    np.testing.assert_array_equal(np.asarray(image), hu)
    np.testing.assert_allclose(np.asarray(image.affine), AFFINES[name], atol=1e-4)


def test_hu_are_stored_with_the_intercept(tmp_path):
    write_dicom_series(np.full((4, 4, 2), -1000.0), np.eye(4), tmp_path)
    ds = pydicom.dcmread(tmp_path / "IM_0001.dcm")
    assert (ds.RescaleIntercept, ds.RescaleSlope, int(ds.pixel_array[0, 0])) == (-1024, 1, 24)


@pytest.mark.parametrize("reader", READERS)
def test_pydicom_ct_test_file_is_read_in_hounsfield_units(reader):
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert float(ds.RescaleIntercept) != 0  # the test is only meaningful with a rescale
    image = np.asarray(LoadImage(reader=reader(), image_only=True)(path)).squeeze()
    np.testing.assert_allclose(image, expected.T)  # MONAI's readers put columns first


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_RLE.dcm"])
def test_pydicom_mr_test_files_load(reader, name):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    image = LoadImage(reader=reader(), image_only=True)(path)
    np.testing.assert_array_equal(np.asarray(image).squeeze(), ds.pixel_array.T)
    np.testing.assert_allclose(image.pixdim[:2].numpy(), [float(v) for v in ds.PixelSpacing[::-1]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"volume": np.zeros((4, 4))}, "volume must be 3D"),
        ({"modality": "PET"}, "modality must be 'CT' or 'MR'"),
        ({"rescale_slope": 0}, "rescale_slope must be > 0"),
        ({"volume": np.full((2, 2, 2), -2000.0)}, "do not fit 16 unsigned bits"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, match):
    arguments = {"volume": np.zeros((2, 2, 2)), "affine": np.eye(4), "out_dir": tmp_path} | kwargs
    with pytest.raises(ValueError, match=match):
        write_dicom_series(**arguments)
