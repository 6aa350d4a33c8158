"""slice_plane, intensity_profile and quantile_distance: what the gate and the plan both measure."""

from __future__ import annotations

import numpy as np
import pytest

from monai_unet2015.data.profiles import PROFILE_QUANTILES, intensity_profile, quantile_distance, slice_plane


@pytest.mark.parametrize(
    "normal, plane",
    [
        ([0, 0, 1], "axial"),
        ([0, 0, -2.5], "axial"),
        ([0, 1, 0], "coronal"),
        ([-1, 0, 0], "sagittal"),
        ([0.2, 0.1, 0.97], "axial"),  # a tilted gantry is still axial
    ],
)
def test_slice_plane(normal, plane):
    assert slice_plane(normal) == plane


@pytest.mark.parametrize("normal", [[0, 0, 0], [1, 0]])
def test_slice_plane_refuses_a_normal_that_is_none(normal):
    with pytest.raises(ValueError, match=r"normal must be a non-zero 3-vector"):
        slice_plane(normal)


def test_the_body_profile_leaves_the_air_out():
    rng = np.random.default_rng(0)
    tissue = rng.normal(40, 10, 1000)
    small_fov = np.concatenate([np.full(100, -1000.0), tissue])
    large_fov = np.concatenate([np.full(5000, -1000.0), tissue])
    small, large = intensity_profile(small_fov, ct=True), intensity_profile(large_fov, ct=True)
    assert small["body"] == large["body"]  # the field of view changes the air, not the body
    assert quantile_distance(small["all"], large["all"]) > 100
    assert len(small["all"]) == len(PROFILE_QUANTILES)


def test_a_profile_without_body_voxels_is_empty_there():
    assert intensity_profile(np.full(10, -1000.0), ct=True)["body"] == []


def test_an_empty_profile_is_refused():
    with pytest.raises(ValueError, match=r"values is empty"):
        intensity_profile(np.array([]), ct=False)


def test_quantile_distance_refuses_lists_of_other_lengths():
    with pytest.raises(ValueError, match=r"quantile lists must have the same, non-zero length, got 2 and 3"):
        quantile_distance([1, 2], [1, 2, 3])
