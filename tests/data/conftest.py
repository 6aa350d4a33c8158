"""One small generated sample dataset per test session."""

from __future__ import annotations

import pytest

from monai_unet2015.data import write_sample_data


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    write_sample_data(root, num_ct=3, num_mri=2, num_cells=3, ct_shape=(48, 40, 12), mri_shape=(32, 32, 24))
    return root
