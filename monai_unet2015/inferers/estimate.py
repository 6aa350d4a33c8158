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
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = [
    "InferenceEstimate",
    "Calibration",
    "available_memory_bytes",
    "measure_call",
    "calibrate",
    "inferer_array_bytes",
    "check_memory_limit",
    "tile_count",
]

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

    Example::

        >>> estimate = InferenceEstimate((92, 92), 4, 2, Calibration(0.5, 0.25, 2**20, 2), 3 * 2**20)
        >>> estimate.describe()
        '4 tiles of 92x92 in 2 network calls: about 0.5 s (0.250 s per call on this machine) and 0.00 GiB'
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


def calibrate(predict, argmax: bool, device: torch.device) -> Calibration:
    """Time and measure ``predict()`` (one batch of tiles) as the inferer's loop runs it, twice.

    The loop takes the class map (``argmax``) or float scores of each batch, so the call does
    too. The first call allocates what later calls reuse (runtime pools, caches, an export):
    its memory counts, its time is the setup; the second call's time is the per-call time.
    """
    out_channels = []

    def call():
        scores = predict()
        out_channels.append(scores.shape[1])
        return scores.argmax(1) if argmax else scores.float()

    with torch.no_grad():
        setup_s, setup_bytes = measure_call(call, device)
        call_s, call_bytes = measure_call(call, device)
    peak = None if setup_bytes is None else max(setup_bytes, call_bytes or 0)
    return Calibration(setup_s, call_s, peak, out_channels[0])


def inferer_array_bytes(
    shape: Sequence[int],
    out_channels: int,
    padded_size: Sequence[int],
    covered: Sequence[int],
    argmax: bool,
    flips: int = 1,
) -> int:
    """The arrays an overlap-tile inference holds at once for inputs of ``shape`` ``(B, C, *S)``.

    The mirror-extended input (float32, ``padded_size``), and the class map over the output
    tiles' extent ``covered`` (uint8, int32 past 256 classes; with more than one flip
    combination, a bool map of where they disagree too) or the float32 sums, weights and
    divided crop of the scores.
    """
    batch, channels, image = shape[0], shape[1], shape[2:]
    extent = math.prod(covered)
    if argmax:
        outputs = batch * extent * ((1 if out_channels <= 256 else 4) + (1 if flips > 1 else 0))
    else:
        outputs = 4 * (batch * out_channels * extent + extent + batch * out_channels * math.prod(image))
    return 4 * batch * channels * math.prod(padded_size) + outputs


def check_memory_limit(estimate: InferenceEstimate, max_memory_gib: float | str) -> None:
    """``ValueError`` naming the numbers where ``estimate`` passes ``max_memory_gib`` (``"auto"``:
    the machine's available memory; nothing is checked where that cannot be read)."""
    limit = max_memory_gib
    if limit == "auto":
        available = available_memory_bytes()
        if available is None:
            return
        limit = available / _GIB
    if estimate.memory_bytes > limit * _GIB:
        raise ValueError(
            f"max_memory_gib={max_memory_gib!r} ({limit:.2f} GiB): this input needs about "
            f"{estimate.memory_bytes / _GIB:.2f} GiB ({estimate.describe()}). Lower max_tile_voxels "
            "(a smaller tile needs less working memory), infer fewer images at once, or raise max_memory_gib."
        )


def tile_count(batch: int, starts: list[list[int]]) -> int:
    """Tiles for ``batch`` images whose tiles start at ``starts`` (one list per axis)."""
    return batch * math.prod(len(s) for s in starts)
