"""The intensity steps of the presets as transforms: microscopy percentiles or range, CT window or MRI normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_unet2015.transforms import MicroscopyIntensityd, ModalityIntensityd


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 200), (np.uint16, 3000), (np.uint16, 60000), (np.float32, 0.02)])
def test_by_default_every_bit_depth_is_scaled_by_its_own_percentiles(tmp_path, dtype, scale):
    rng = np.random.default_rng(0)
    cells = (rng.random((1, 40, 40)) * scale).astype(dtype)
    scaled = MicroscopyIntensityd("image", percentiles=(1, 99))({"image": torch.as_tensor(cells)})["image"]
    low, high = np.percentile(cells.astype(np.float64), [1, 99])
    expected = (cells.astype(np.float64) - low) / (high - low)
    np.testing.assert_allclose(np.asarray(scaled), expected, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"intensity_range": (255, 0)},
            r"intensity_range must be \(low, high\) with low < high, or None, got \(255, 0\)",
        ),
        (
            {"percentiles": (99, 1)},
            r"percentiles must be \(lower, upper\) with 0 <= lower < upper <= 100, got \(99, 1\)",
        ),
        ({"percentiles": (1, 101)}, r"percentiles must be .*got \(1, 101\)"),
    ],
)
def test_microscopy_intensity_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MicroscopyIntensityd("image", **kwargs)


def test_mri_dataset_normalisation_uses_one_mean_and_std_for_every_volume():
    image = torch.tensor([[[0.0, 100.0, 150.0, 200.0]]])
    out = ModalityIntensityd("image", "mri", mri_method="dataset", mri_stats=(150.0, 50.0))({"image": image})["image"]
    assert out.tolist() == [[[0.0, -1.0, 0.0, 1.0]]]  # the zero background stays 0
