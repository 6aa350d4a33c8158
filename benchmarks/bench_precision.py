"""Reduced precision and memory layout in OverlapTileInferer: time and mask agreement with fp32.

Side by side in one run, through ``OverlapTileInferer`` (the bundles' inference path):

- UNet2015 on a 700x700 image with 572x572 tiles (4 tiles), the paper's widths and a narrow
  net (16..256, same tiles);
- UNet3D, the bundle's narrow net (8/16/32, 76x76x48 tiles, 8 of them) on a 64x64x16 volume
  (the sample CT after resampling to 1.6 mm, 16 slices of it), and the paper's net on one
  132x132x116 tile.

Options: fp32 (contiguous, the reference), fp32 channels-last, bf16, bf16 channels-last,
fp16; each with the median time of ``--repeats`` calls and the fraction of argmax labels
equal to fp32's (seeded random weights: agreement on a random net is a lower bound, its
logits are closer together than a trained net's). On a CPU without native bf16
(no AVX512_BF16 / AMX) PyTorch emulates bf16 and fp16: the reduced-precision runs of the
paper-width nets are then skipped (recorded as not run), the narrow nets show the cost with
one timed call each (``samples_s`` has one entry). On CUDA, peak GPU memory per option is
recorded too.

    python benchmarks/bench_precision.py [--repeats 3] [--device cpu|cuda] [--large]

``--large``: GPU-sized inputs instead (a 2048x2048 field for the paper's 2D net, a
192x192x96 volume for the bundle's 3D net, 176x176x112 for the paper's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import time_call, write_results  # noqa: E402

from monai_unet2015.inferers import (  # noqa: E402
    OverlapTileInferer,
    cpu_has_native_bf16,
    fastest_memory_format,
    fastest_precision,
)
from monai_unet2015.networks import UNet3D, UNet2015  # noqa: E402

OPTIONS = {
    "fp32": ("fp32", "contiguous"),
    "fp32_channels_last": ("fp32", "channels_last"),
    "bf16": ("bf16", "contiguous"),
    "bf16_channels_last": ("bf16", "channels_last"),
    "fp16": ("fp16", "contiguous"),
}
CASES = {
    "unet2015_paper_700x700_tile572": (lambda: UNet2015(2, 1, 2), (1, 1, 700, 700), (572, 572), True),
    "unet2015_narrow_700x700_tile572": (
        lambda: UNet2015(2, 1, 2, features=(16, 32, 64, 128, 256)),
        (1, 1, 700, 700),
        (572, 572),
        False,
    ),
    "unet3d_bundle_64x64x16_tile76x76x48": (
        lambda: UNet3D(1, 4, features=(8, 16, 32)),
        (1, 1, 64, 64, 16),
        (76, 76, 48),
        False,
    ),
    "unet3d_paper_one_tile_132x132x116": (lambda: UNet3D(1, 3), (1, 1, 44, 44, 28), (132, 132, 116), True),
}
# GPU-sized inputs (``--large``): on a GPU the cases above are a few tiles, milliseconds a call,
# where launch and cast overheads can decide; these are a whole microscopy field or CT region.
LARGE_CASES = {
    "unet2015_paper_2048x2048_tile572": (lambda: UNet2015(2, 1, 2), (1, 1, 2048, 2048), (572, 572), True),
    "unet3d_bundle_192x192x96_tile76x76x48": (
        lambda: UNet3D(1, 4, features=(8, 16, 32)),
        (1, 1, 192, 192, 96),
        (76, 76, 48),
        False,
    ),
    "unet3d_paper_176x176x112_tile132x132x116": (lambda: UNet3D(1, 3), (1, 1, 176, 176, 112), (132, 132, 116), True),
}


def run_case(make_net, shape, roi, paper_width: bool, device: torch.device, repeats: int, emulated: bool) -> dict:
    torch.manual_seed(0)
    net = make_net().eval().to(device)
    image = torch.rand(shape, device=device)
    results, reference = {}, None
    for name, (precision, memory_format) in OPTIONS.items():
        if precision != "fp32" and emulated and paper_width:
            results[name] = {"not_run": "emulated reduced precision on this CPU (see the narrow net)"}
            continue
        inferer = OverlapTileInferer(roi, precision=precision, memory_format=memory_format)
        fresh = make_net().eval().to(device)  # channels-last converts a net in place: each option gets its own
        fresh.load_state_dict(net.state_dict())
        with torch.no_grad():
            output = inferer(image, fresh)  # warm-up, and the labels
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            call = lambda inferer=inferer, fresh=fresh: inferer(image, fresh)  # noqa: E731
            timed = 1 if precision != "fp32" and emulated else repeats  # emulated: tens of seconds per call
            samples = [time_call(call, device) for _ in range(timed)]
        labels = output.argmax(1)
        reference = labels if reference is None else reference
        results[name] = {
            "median_s": round(statistics.median(samples), 4),
            "samples_s": [round(s, 4) for s in samples],
            "labels_equal_to_fp32": round(float((labels == reference).float().mean()), 5),
        }
        if device.type == "cuda":
            results[name]["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    base = results["fp32"]["median_s"]
    for entry in results.values():
        if "median_s" in entry:
            entry["speed_up_over_fp32"] = round(base / entry["median_s"], 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cases", nargs="*", default=None, choices=[*CASES, *LARGE_CASES])
    parser.add_argument("--large", action="store_true", help="the GPU-sized cases (results: precision_<device>_large)")
    args = parser.parse_args()
    device = torch.device(args.device)
    emulated = device.type == "cpu" and not cpu_has_native_bf16()
    cases = {**CASES, **LARGE_CASES}
    names = args.cases or list(LARGE_CASES if args.large else CASES)
    results = {}
    for name in names:
        make_net, shape, roi, paper_width = cases[name]
        results[name] = run_case(make_net, shape, roi, paper_width, device, args.repeats, emulated)
        print(name, {k: v.get("median_s", "not run") for k, v in results[name].items()}, flush=True)
    payload = {
        "device": str(device),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "auto_rule": {
            "precision": fastest_precision(device),
            "memory_format_2d": fastest_memory_format(device, fastest_precision(device), 2),
            "memory_format_3d": fastest_memory_format(device, fastest_precision(device), 3),
        },
        "repeats": args.repeats,
        "cases": results,
    }
    print(write_results(f"precision_{device.type}{'_large' if args.large else ''}", payload))


if __name__ == "__main__":
    main()
