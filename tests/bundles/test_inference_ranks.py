"""Batch inference under torch.distributed: a rank that fails before the first case stops every rank."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp

from monai_unet2015.bundle.inference import _stop_together
from tests.ports import free_port


def _rank(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    error = FileNotFoundError("load_path /b/models/model.pt does not exist.") if rank == 1 else None
    try:
        _stop_together(error, rank, 2)
        outcome = "went on"
    except RuntimeError as stopped:
        outcome = str(stopped)
    Path(folder, f"rank{rank}.txt").write_text(outcome)
    dist.destroy_process_group()


def test_a_rank_that_fails_before_the_first_case_stops_the_others(tmp_path):
    context = mp.start_processes(_rank, args=(free_port(), str(tmp_path)), nprocs=2, join=False, start_method="spawn")
    deadline, finished = time.monotonic() + 120, False
    while not finished and time.monotonic() < deadline:
        finished = context.join(timeout=5)  # True once every rank has exited
    for process in context.processes:
        process.kill()  # where a rank hung in the collective
    assert finished, "a rank was left waiting in the collective"
    assert (tmp_path / "rank0.txt").read_text() == (
        "rank 1 stopped before segmenting: load_path /b/models/model.pt does not exist."
    )
    assert (tmp_path / "rank1.txt").read_text() == "went on"  # the failed rank then raises its own error


def test_one_process_has_nothing_to_agree_on():
    _stop_together(ValueError("x"), 0, 1)
