"""Shared test set-up."""

from __future__ import annotations

import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per xdist worker: the workers already use every core. The variable carries it
    # to the subprocesses the tests start (the demo, bundle runs, the DICOM node, tutorials).
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def cuda_or_skip() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device; none is present")
    return torch.device("cuda")
