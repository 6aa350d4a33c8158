"""torch.distributed set-up for the bundles' multi-GPU configs, and the rank-0 rule for outputs."""

from __future__ import annotations

import ignite.distributed as idist
import torch
import torch.distributed as dist

__all__ = ["start_distributed", "stop_distributed", "is_main_process", "rank_and_world_size"]


def start_distributed(device: torch.device) -> None:
    """Join the process group that torchrun describes (NCCL on CUDA, Gloo on the CPU).

    Does nothing when a group exists already; selects ``device`` as the current CUDA device.
    """
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)


def stop_distributed() -> None:
    """Wait for every rank, then leave the process group (if one was started)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True outside torch.distributed and on rank 0: the process that logs and writes checkpoints.

    Example::

        >>> is_main_process()
        True
    """
    # Ignite's rank, not torch's: Ignite's first rank query creates a process group, a collective
    # call. Ignite's DiskSaver (inside every CheckpointSaver) asks too, and it is made on rank 0
    # only; asking here first, on every rank alike, keeps the ranks in step.
    return idist.get_rank() == 0


def rank_and_world_size() -> tuple[int, int]:
    """``(rank, world size)`` of this process: ``(0, 1)`` outside torch.distributed.

    Example::

        >>> rank_and_world_size()
        (0, 1)
    """
    return idist.get_rank(), idist.get_world_size()
