"""OverlapTileInferer: its overhead, MONAI's sliding window beside it, the cost of flips.

1. Overhead: (inferer time - time of the network alone on the same tiles) / network time,
   UNet2015 on a 700x520 image (target: at most 5%).
2. A same-padding BasicUNet, ours against monai.inferers.sliding_window_inference at equal
   roi, overlap and batch: network calls and time.
3. Flip averaging: time against the number of flip combinations (1, 2, 4).

    python benchmarks/bench_inferer.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import BasicUNet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, write_results  # noqa: E402

from monai_unet2015.inferers import OverlapTileInferer, extend_borders, tile_starts  # noqa: E402
from monai_unet2015.networks import UNet2015  # noqa: E402


class CountingNetwork(torch.nn.Module):
    def __init__(self, network):
        super().__init__()
        self.network = network
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.network(x)


def network_alone_on_the_same_tiles(net, image, roi, sw_batch_size):
    """The tiles the inferer would cut, pre-cut; returns a closure running only the network."""
    out_tile = net.output_size(roi)
    margin = [(r - o) // 2 for r, o in zip(roi, out_tile)]
    starts = [tile_starts(s, o, 0.0, net.tile_alignment) for s, o in zip(image.shape[2:], out_tile)]
    after = [st[-1] + o - s + (r - o - m) for st, o, s, r, m in zip(starts, out_tile, image.shape[2:], roi, margin)]
    padded = extend_borders(image, margin, after)
    tiles = [
        padded[(slice(None), slice(None), *[slice(p, p + r) for p, r in zip(st, roi)])]
        for st in itertools.product(*starts)
    ]
    batches = [torch.cat(tiles[i : i + sw_batch_size]) for i in range(0, len(tiles), sw_batch_size)]

    def run():
        for batch in batches:
            net(batch)

    return run, len(tiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device("cpu")
    torch.manual_seed(0)
    results = {"device": str(device), "repeats": args.repeats}

    net = UNet2015(2, 1, 2, features=(16, 32, 64, 128, 256), dropout=0.0).eval()
    image = torch.rand(1, 1, 700, 520)
    roi, sw_batch_size = (252, 252), 2
    inferer = OverlapTileInferer(roi, sw_batch_size=sw_batch_size)
    alone, tiles = network_alone_on_the_same_tiles(net, image, roi, sw_batch_size)
    with torch.inference_mode():
        t = interleaved_medians({"inferer": lambda: inferer(image, net), "network_alone": alone}, device, args.repeats)
    overhead = (t["inferer"]["median_s"] - t["network_alone"]["median_s"]) / t["network_alone"]["median_s"]
    results["overhead"] = {
        "network": "UNet2015(2, 1, 2, features=(16, 32, 64, 128, 256))",
        "image": [700, 520],
        "roi": list(roi),
        "tiles": tiles,
        "inferer_median_s": round(t["inferer"]["median_s"], 4),
        "network_alone_median_s": round(t["network_alone"]["median_s"], 4),
        "overhead_fraction": round(overhead, 4),
        "samples_s": {k: v["samples_s"] for k, v in t.items()},
    }
    print(json.dumps(results["overhead"]), flush=True)

    basic = CountingNetwork(BasicUNet(2, 1, 2, features=(8, 8, 16, 32, 64, 8)).eval())
    image = torch.rand(1, 1, 700, 520)
    roi, overlap = (128, 128), 0.25
    ours = OverlapTileInferer(roi, sw_batch_size=4, overlap=overlap)
    with torch.inference_mode():
        basic.calls = 0
        ours(image, basic)
        our_calls = basic.calls - 1  # minus the probe
        basic.calls = 0
        sliding_window_inference(image, roi, 4, basic, overlap=overlap)
        monai_calls = basic.calls
        t = interleaved_medians(
            {
                "overlap_tile": lambda: ours(image, basic),
                "monai_sliding_window": lambda: sliding_window_inference(image, roi, 4, basic, overlap=overlap),
            },
            device,
            args.repeats,
        )
    results["same_padding_vs_monai"] = {
        "network": "BasicUNet(2, 1, 2, features=(8, 8, 16, 32, 64, 8))",
        "image": [700, 520],
        "roi": list(roi),
        "overlap": overlap,
        "network_calls": {"overlap_tile": our_calls, "monai_sliding_window": monai_calls},
        "median_s": {k: round(v["median_s"], 4) for k, v in t.items()},
        "note": "ours probes a network without output_size() once, on its first call (not counted), then remembers it",
    }
    print(json.dumps(results["same_padding_vs_monai"]), flush=True)

    image = torch.rand(1, 1, 300, 300)
    flips = {
        f"{len(axes)}_axes_{2 ** len(axes)}_passes": OverlapTileInferer((252, 252), sw_batch_size=1, flip_axes=axes)
        for axes in ([], [0], [0, 1])
    }
    with torch.inference_mode():
        t = interleaved_medians(
            {k: (lambda inf=inf: inf(image, net)) for k, inf in flips.items()}, device, args.repeats
        )
    base = t["0_axes_1_passes"]["median_s"]
    results["flip_cost"] = {
        k: {"median_s": round(v["median_s"], 4), "relative": round(v["median_s"] / base, 2)} for k, v in t.items()
    }
    print(json.dumps(results["flip_cost"]), flush=True)
    print(f"results: {write_results('inferer_cpu', results)}")


if __name__ == "__main__":
    main()
