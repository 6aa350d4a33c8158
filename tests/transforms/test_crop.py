"""CenterCropToSize / CenterCropToReferenced: exact centre or a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_unet2015.transforms import CenterCropToReferenced, CenterCropToSize

CASES = [((1, 12, 10), (8, 4), (2, 3)), ((2, 9, 8, 6), (5, 8, 2), (2, 0, 2))]


@pytest.mark.parametrize("shape, size, start", CASES)
@pytest.mark.parametrize("as_type", [np.asarray, torch.as_tensor])
def test_crop_is_the_exact_centre(shape, size, start, as_type):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    cropped = CenterCropToSize()(as_type(image), size)
    expected = image[(slice(None),) + tuple(slice(b, b + s) for b, s in zip(start, size))]
    np.testing.assert_array_equal(np.asarray(cropped), expected)


def test_metatensor_affine_follows_the_crop():
    image = MetaTensor(torch.zeros(1, 10, 10), affine=torch.diag(torch.tensor([2.0, 3.0, 1.0, 1.0])))
    cropped = CenterCropToSize()(image, (6, 4))
    assert cropped.affine[0, 3].item() == 4.0 and cropped.affine[1, 3].item() == 9.0


def test_dictionary_version_crops_to_the_reference():
    data = {"pred": torch.zeros(2, 4, 6), "label": torch.arange(80.0).reshape(1, 8, 10)}
    out = CenterCropToReferenced("label")(data)
    np.testing.assert_array_equal(out["label"].numpy(), data["label"][:, 2:6, 2:8].numpy())


def test_odd_difference_is_an_error_naming_the_key():
    with pytest.raises(ValueError, match=r"label spatial size \(9, 9\) .* difference of 5"):
        CenterCropToReferenced("label")({"pred": torch.zeros(2, 4, 4), "label": torch.zeros(1, 9, 9)})


def test_missing_reference_is_an_error():
    with pytest.raises(KeyError, match="reference_key 'pred' is not in the data"):
        CenterCropToReferenced("label")({"label": torch.zeros(1, 4, 4)})


def test_reference_key_must_be_a_string():
    with pytest.raises(TypeError, match="reference_key must be a str"):
        CenterCropToReferenced("label", reference_key=3)
