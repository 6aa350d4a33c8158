"""Which device to run on: the project's one rule, for Python users, the bundles and torchrun."""

from __future__ import annotations

import os

import torch

__all__ = ["default_device", "as_device"]


def default_device() -> torch.device:
    """CUDA when present (``cuda:LOCAL_RANK`` in a process started by torchrun), else the CPU.

    Example::

        >>> default_device().type in ("cuda", "cpu")
        True
    """
    if not torch.cuda.is_available():
        return torch.device("cpu")
    local_rank = os.environ.get("LOCAL_RANK")
    return torch.device(f"cuda:{int(local_rank)}") if local_rank is not None else torch.device("cuda")


def as_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device``; None means :func:`default_device`.

    Example::

        >>> as_device("cpu")
        device(type='cpu')
    """
    return torch.device(device) if device is not None else default_device()
