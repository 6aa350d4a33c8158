"""Generated data: deterministic, labelled as documented, realistic where it matters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from monai_unet2015.data import CT_LABELS, ct_like_volume, mri_like_volume, touching_cells_2d


def test_cells_are_deterministic_and_separated_by_background():
    image, instances = touching_cells_2d((128, 128), num_cells=10, seed=3)
    again, instances_again = touching_cells_2d((128, 128), num_cells=10, seed=3)
    np.testing.assert_array_equal(image, again)
    np.testing.assert_array_equal(instances, instances_again)
    assert ndimage.label(instances > 0)[1] == instances.max()  # no two cells share a border
    touching = ndimage.binary_dilation(instances > 0, iterations=2)
    assert ndimage.label(touching)[1] < instances.max()  # ... but some are only a thin gap apart


@pytest.mark.parametrize("kwargs, match", [({"shape": (4, 4)}, "shape must be"), ({"num_cells": 0}, "num_cells")])
def test_cells_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        touching_cells_2d(**kwargs)


def test_ct_volume_has_hu_organs_and_touching_liver_and_kidney():
    hu, labels, affine = ct_like_volume((96, 96, 24), seed=1)
    assert set(np.unique(labels)) == set(CT_LABELS.values())
    assert -1024 <= hu.min() and hu.max() <= 3071
    assert np.median(hu[:3, :3, :]) == pytest.approx(-1000, abs=30)  # air in the corner
    assert np.median(hu[labels == CT_LABELS["liver"]]) == pytest.approx(105, abs=10)
    assert np.median(hu[labels == CT_LABELS["kidney"]]) == pytest.approx(180, abs=15)
    touching = ndimage.binary_dilation(labels == CT_LABELS["liver"]) & (labels == CT_LABELS["kidney"])
    assert touching.any()
    np.testing.assert_allclose(np.diag(affine)[:3], [0.8, 0.8, 2.5])


def test_mri_scale_differs_between_volumes():
    first, labels, _ = mri_like_volume((40, 40, 24), seed=0)
    second, _, _ = mri_like_volume((40, 40, 24), seed=1)
    assert set(np.unique(labels)) == {0, 1, 2}
    ratio = np.median(first[first > 100]) / np.median(second[second > 100])
    assert not 0.8 < ratio < 1.25  # different scanner scales
