"""Helpers shared by the benchmarks: machine description, timing, results JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def describe_machine() -> dict:
    """What the numbers were measured on."""
    info = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpu_cores_visible": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import monai

        info["monai"] = monai.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def _cpu_flags() -> list[str]:
    """The vector and matrix extensions that decide CPU speed here (AVX2-only vs native bf16 machines)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def memory_kib(pid: int | str = "self") -> dict[str, int]:
    """A process's resident size now (``VmRSS``) and its peak (``VmHWM``), in KiB, from ``/proc``.

    Use ``VmHWM`` for a child's peak, not ``resource``'s ``ru_maxrss``: Linux carries the
    parent's resident size at the fork into the child's ``ru_maxrss``, so every fresh process
    of a large parent reports at least the parent's size.
    """
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes, the device synchronised before and after."""
    synchronize(device)
    began = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - began


def interleaved_medians(
    candidates: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1
) -> dict[str, dict]:
    """Time the candidates in turn (A, B, A, B, ...) so that drift hits all alike."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            samples[name].append(time_call(fn, device))
    return {
        name: {"median_s": statistics.median(values), "samples_s": [round(v, 5) for v in values]}
        for name, values in samples.items()
    }


def git_revision() -> str | None:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_results(name: str, results: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": describe_machine(), "git_revision": git_revision(), **results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
