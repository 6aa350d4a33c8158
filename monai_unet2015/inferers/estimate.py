"""What an overlap-tile inference will cost, known before it runs: seconds and memory.

:meth:`OverlapTileInferer.estimate <monai_unet2015.inferers.OverlapTileInferer.estimate>`
counts the tiles an image needs, measures one network call on a tile batch on this machine
(the calibration: once per network, tile shape and runtime) and adds the arrays the inferer
holds (the mirror-extended input, the class scores or the class map). ``max_memory_gib``
refuses an image whose estimate passes a memory limit before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from pathlib import Path

import torch

__all__ = ["InferenceEstimate", "Calibration", "available_memory_bytes", "measure_call", "tile_count"]

_GIB = 2**30
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclasses.dataclass(frozen=True)
class Calibration:
    """One network call on a tile batch, measured: ``setup_s`` is the first call (export,
    compilation, allocator warm-up), ``call_s`` the second; ``call_bytes`` the most memory
    either call took above what was resident before it (the first one allocates the pools and
    caches later calls reuse; None where it cannot be read)."""

    setup_s: float
    call_s: float
    call_bytes: int | None
    out_channels: int


@dataclasses.dataclass(frozen=True)
class InferenceEstimate:
    """The predicted cost of one overlap-tile inference.

    Attributes:
        tile: the input tile.
        tiles: tiles for the whole input (every batch item).
        network_calls: calls of ``sw_batch_size`` tiles (each with every flip).
        calibration: the measured call.
        array_bytes: the arrays the inferer holds for the whole input.
    """

    tile: tuple[int, ...]
    tiles: int
    network_calls: int
    calibration: Calibration
    array_bytes: int

    @property
    def seconds(self) -> float:
        """Network calls times the measured call (the setup is paid once per inferer and tile shape)."""
        return self.network_calls * self.calibration.call_s

    @property
    def memory_bytes(self) -> int:
        """The inferer's arrays plus one call's working memory (the input itself not counted)."""
        return self.array_bytes + (self.calibration.call_bytes or 0)

    def describe(self) -> str:
        """One line for a log: tiles, seconds and memory."""
        tile = "x".join(map(str, self.tile))
        call = "" if self.calibration.call_bytes is not None else " (a call's working memory not readable here)"
        return (
            f"{self.tiles} tiles of {tile} in {self.network_calls} network calls: about {self.seconds:.1f} s "
            f"({self.calibration.call_s:.3f} s per call on this machine) and {self.memory_bytes / _GIB:.2f} GiB{call}"
        )


def available_memory_bytes(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """``MemAvailable`` of the machine (Linux), None where it cannot be read."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _resident_bytes() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class _PeakResident:
    """The largest resident size while the block runs, sampled every few milliseconds by a thread.

    Sampled, not read from ``VmHWM``: resetting that high-water mark would hide the process's
    earlier peak from whoever reads it at exit (a benchmark, a job scheduler).
    """

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.peak = _resident_bytes()
        self._done = threading.Event()

    def _sample(self) -> None:
        while not self._done.wait(self.interval_s):
            self.peak = max(self.peak, _resident_bytes() or 0)

    def __enter__(self) -> _PeakResident:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _resident_bytes() or 0)


def measure_call(call, device: torch.device) -> tuple[float, int | None]:
    """Seconds and working memory (bytes above the resident size, or the CUDA memory, before it) of ``call()``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        began = time.perf_counter()
        call()
        torch.cuda.synchronize(device)
        return time.perf_counter() - began, torch.cuda.max_memory_allocated(device) - before
    before = _resident_bytes()
    with _PeakResident() as resident:
        began = time.perf_counter()
        call()
        seconds = time.perf_counter() - began
    return seconds, None if before is None else max(0, resident.peak - before)


def tile_count(batch: int, starts: list[list[int]]) -> int:
    """Tiles for ``batch`` images whose tiles start at ``starts`` (one list per axis)."""
    return batch * math.prod(len(s) for s in starts)
