"""Forward and train-step time and peak memory: the package's nets against plain PyTorch.

Cases: the paper's 2D net (UNet2015(2, 1, 2)) on a 572x572 tile and UNet3D(3, 3) on a
132x132x116 volume, batch size 1, each against ``plain_unet.py`` in the same run. On CPU
in fp32; on CUDA also bf16 autocast and channels_last. Timings are interleaved medians;
CPU peak memory is the max RSS of a fresh process that runs one case, CUDA peak memory
the allocator's peak.

    python benchmarks/bench_networks.py [--repeats 3] [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, memory_kib, write_results  # noqa: E402
from plain_unet import load_package_weights, plain_unet3d, plain_unet2015  # noqa: E402

from monai_unet2015.networks import UNet3D, UNet2015  # noqa: E402

CASES = {
    "unet2015_2d_572": {
        "package": lambda: UNet2015(2, 1, 2),
        "plain": plain_unet2015,
        "input": (1, 1, 572, 572),
        "quick_input": (1, 1, 188, 188),
    },
    "unet3d_132x132x116": {
        "package": lambda: UNet3D(3, 3),
        "plain": plain_unet3d,
        "input": (1, 3, 132, 132, 116),
        "quick_input": (1, 3, 92, 92, 92),
    },
}


def make_step(network: torch.nn.Module, x: torch.Tensor, mode: str, precision: str):
    """A closure doing one forward (no grad) or one SGD train step."""
    autocast = torch.autocast(device_type=x.device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    if mode == "forward":
        network.eval()

        def forward():
            with torch.no_grad(), autocast:
                return network(x)

        return forward
    network.train()
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-4, momentum=0.99)
    with torch.no_grad():
        target = torch.zeros(x.shape[0], *network(x).shape[2:], dtype=torch.long, device=x.device)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = torch.nn.functional.cross_entropy(network(x), target)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def build(case: str, impl: str, device: torch.device, channels_last: bool, quick: bool):
    spec = CASES[case]
    torch.manual_seed(0)
    network = spec[impl]().to(device)
    x = torch.randn(spec["quick_input" if quick else "input"], device=device)
    if channels_last:
        fmt = torch.channels_last if x.ndim == 4 else torch.channels_last_3d
        network, x = network.to(memory_format=fmt), x.contiguous(memory_format=fmt)
    return network, x


def cpu_peak_rss_mb(case: str, impl: str, mode: str, quick: bool) -> float:
    """Max RSS of a fresh process that builds ``impl`` and runs one ``mode`` step."""
    command = [sys.executable, __file__, "--rss-worker", case, impl, mode] + (["--quick"] if quick else [])
    return json.loads(subprocess.check_output(command, text=True).strip().splitlines()[-1])["peak_rss_mb"]


def rss_worker(case: str, impl: str, mode: str, quick: bool) -> None:
    network, x = build(case, impl, torch.device("cpu"), False, quick)
    make_step(network, x, mode, "fp32")()
    peak_mb = memory_kib()["VmHWM"] / 1024  # not ru_maxrss: it holds the parent's size at the fork
    print(json.dumps({"peak_rss_mb": round(peak_mb, 1)}))


def check_equivalence(case: str) -> float:
    """Max |difference| of the two nets' outputs with the same weights (small valid input)."""
    spec = CASES[case]
    package, plain = spec["package"]().eval(), spec["plain"]().eval()
    load_package_weights(plain, package)
    x = torch.randn(spec["quick_input"])
    with torch.no_grad():
        difference = (package(x) - plain(x)).abs().max().item()
    if difference > 1e-4:
        raise RuntimeError(f"{case}: the plain reference is not the same network (max difference {difference})")
    return difference


def run(device: torch.device, repeats: int, quick: bool) -> dict:
    equivalence = {case: check_equivalence(case) for case in CASES}
    variants = [("fp32", False)]
    if device.type == "cuda":
        variants += [("bf16", False), ("fp32", True), ("bf16", True)]
    results = []
    for case in CASES:
        for mode in ("forward", "train_step"):
            for precision, channels_last in variants:
                steps, memory = {}, {}
                for impl in ("package", "plain"):
                    network, x = build(case, impl, device, channels_last, quick)
                    steps[impl] = make_step(network, x, mode, precision)
                timings = interleaved_medians(steps, device, repeats)
                for impl, step in steps.items():
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(device)
                        step()
                        memory[impl] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                    elif not channels_last:
                        memory[impl] = cpu_peak_rss_mb(case, impl, mode, quick)
                row = {
                    "case": case,
                    "input_shape": list(x.shape),
                    "mode": mode,
                    "precision": precision,
                    "channels_last": channels_last,
                    "package_median_s": round(timings["package"]["median_s"], 4),
                    "plain_median_s": round(timings["plain"]["median_s"], 4),
                    "package_over_plain_time": round(timings["package"]["median_s"] / timings["plain"]["median_s"], 3),
                    "peak_memory_mb": memory,
                    "memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process max RSS",
                    "samples_s": {impl: t["samples_s"] for impl, t in timings.items()},
                }
                print(json.dumps(row), flush=True)
                results.append(row)
    return {
        "device": str(device),
        "repeats": repeats,
        "quick": quick,
        "reference": "benchmarks/plain_unet.py, same layers and weights",
        "max_output_difference_same_weights": equivalence,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small inputs: checks the script, not the speed")
    parser.add_argument("--rss-worker", nargs=3, metavar=("CASE", "IMPL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_worker:
        rss_worker(*args.rss_worker, quick=args.quick)
        return
    device = torch.device(args.device)
    results = run(device, args.repeats, args.quick)
    name = f"networks_{device.type}" + ("_quick" if args.quick else "")
    print(f"results: {write_results(name, results)}")


if __name__ == "__main__":
    main()
