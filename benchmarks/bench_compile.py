"""torch.compile in OverlapTileInferer: time per image after compiling, the compile itself, and mask agreement.

Side by side in one run, fp32 eager (the reference) against ``compile=True``, each with the
contiguous and the channels-last layout:

- UNet2015, narrow (16..256), on a 700x700 image with 572x572 tiles (4 tiles);
- UNet3D, the CT bundle's narrow net (8/16/32), 76x76x48 tiles on a 64x64x16 volume.

Median of ``--repeats`` calls after a first call; the first call of a compiled inferer is
recorded apart (``first_call_s``: the compilation). Seeded random weights; agreement is the
fraction of argmax labels equal to eager fp32's. The paper-width nets are left out: compiling
them takes minutes on 2 CPU cores.

    python benchmarks/bench_compile.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

from monai_unet2015.inferers import OverlapTileInferer  # noqa: E402
from monai_unet2015.networks import UNet3D, UNet2015  # noqa: E402

OPTIONS = {
    "eager": ("contiguous", False),
    "eager_channels_last": ("channels_last", False),
    "compiled": ("contiguous", True),
    "compiled_channels_last": ("channels_last", True),
}
CASES = {
    "unet2015_narrow_700x700_tile572": (
        lambda: UNet2015(2, 1, 2, features=(16, 32, 64, 128, 256)),
        (1, 1, 700, 700),
        (572, 572),
    ),
    "unet3d_bundle_64x64x16_tile76x76x48": (
        lambda: UNet3D(1, 4, features=(8, 16, 32)),
        (1, 1, 64, 64, 16),
        (76, 76, 48),
    ),
}


def run_case(make_net, shape, roi, repeats: int) -> dict:
    torch.manual_seed(0)
    image = torch.rand(shape)
    results, reference = {}, None
    for name, (memory_format, compiled) in OPTIONS.items():
        torch.manual_seed(0)
        net = make_net().eval()
        inferer = OverlapTileInferer(roi_size=roi, memory_format=memory_format, compile=compiled)
        with torch.no_grad():
            began = time.perf_counter()
            labels = inferer(image, net).argmax(1)
            first = time.perf_counter() - began
            samples = []
            for _ in range(repeats):
                began = time.perf_counter()
                inferer(image, net)
                samples.append(time.perf_counter() - began)
        reference = labels if reference is None else reference
        results[name] = {
            "first_call_s": round(first, 3),
            "median_s": round(statistics.median(samples), 4),
            "samples_s": [round(s, 4) for s in samples],
            "labels_equal_to_eager": round(float((labels == reference).float().mean()), 6),
        }
    eager = results["eager"]["median_s"]
    for entry in results.values():
        entry["speed_up_over_eager"] = round(eager / entry["median_s"], 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {name: run_case(*case, args.repeats) for name, case in CASES.items()}
    print(write_results("compile_cpu", {"device": "cpu", "repeats": args.repeats, "cases": cases}))


if __name__ == "__main__":
    main()
