"""Training: the engine's overhead against a plain PyTorch loop; fp32 vs bf16 on a GPU.

1. Overhead (any device): ``create_trainer`` (SupervisedTrainer + PrepareBatchWeightMap +
   the default handlers: per-epoch seeding, the non-finite loss check, StatsHandler logging
   every iteration) against a hand-written loop doing the same work (forward, weighted
   loss, backward, SGD step, loss.item() per iteration) on the same net and batches of
   generated touching cells with their weight maps.
   Target: at most 5% slower. Interleaved epochs, medians.
2. On CUDA only: iterations/s and peak memory of the paper's 2D net at 572x572 and of
   UNet3D at 132x132x116, fp32 against bf16 autocast, batch size 1.

    python benchmarks/bench_trainer.py [--repeats 7] [--iterations 10]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, time_call, write_results  # noqa: E402

from monai_unet2015.data import touching_cells_2d  # noqa: E402
from monai_unet2015.devices import default_device  # noqa: E402
from monai_unet2015.engines import create_trainer, paper_optimizer  # noqa: E402
from monai_unet2015.losses import PixelWeightedCrossEntropyLoss  # noqa: E402
from monai_unet2015.networks import UNet3D, UNet2015  # noqa: E402
from monai_unet2015.transforms import BorderWeightMap  # noqa: E402


def cell_batches(count: int, tile: tuple[int, int], device) -> list[dict]:
    """Generated touching cells with their border weight maps: real training data."""
    weight_map = BorderWeightMap()
    batches = []
    for seed in range(count):
        image, instances = touching_cells_2d(tile, num_cells=tile[0] * tile[1] // 2700, seed=seed)
        batches.append(
            {
                "image": torch.as_tensor(image)[None, None].to(device),
                "label": torch.as_tensor(instances > 0)[None, None].long().to(device),
                "weight": torch.as_tensor(weight_map(instances[None]))[None].to(device),
            }
        )
    return batches


def make_batches(count: int, channels: int, tile: tuple[int, ...], classes: int, device) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    shape = (1, 1, *tile)
    return [
        {
            "image": torch.rand(1, channels, *tile, generator=generator).to(device),
            "label": torch.randint(0, classes, shape, generator=generator).to(device),
            "weight": (torch.rand(shape, generator=generator) * 10).to(device),
        }
        for _ in range(count)
    ]


def plain_loop(net, batches, optimizer, loss_function, device, autocast_dtype=None):
    def run():
        net.train()
        for batch in batches:
            image, label, weight = (batch[k].to(device) for k in ("image", "label", "weight"))
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                loss = loss_function(net(image), label, weight)
            loss.backward()
            optimizer.step()
            loss.item()

    return run


def quiet_trainer(net, batches, optimizer, device, amp=False):
    trainer = create_trainer(net, batches, max_epochs=1, optimizer=optimizer, device=device, progress=False, amp=amp)
    for handler in logging.getLogger("monai_unet2015.trainer").handlers:  # keep the formatting cost, not the tty
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(io.StringIO())
    return trainer.run


def overhead(device: torch.device, repeats: int, iterations: int) -> dict:
    torch.manual_seed(0)
    net = UNet2015(2, 1, 2, features=(16, 32, 64, 128, 256)).to(device)
    tile = (380, 380)
    batches = cell_batches(iterations, tile, device)
    optimizer = paper_optimizer(net.parameters())
    loss_function = PixelWeightedCrossEntropyLoss()
    timings = interleaved_medians(
        {
            "plain_loop": plain_loop(net, batches, optimizer, loss_function, device),
            "create_trainer": quiet_trainer(net, batches, optimizer, device),
        },
        device,
        repeats,
    )
    ratio = timings["create_trainer"]["median_s"] / timings["plain_loop"]["median_s"]
    return {
        "network": "UNet2015(2, 1, 2, features=(16, 32, 64, 128, 256))",
        "tile": tile,
        "iterations_per_sample": iterations,
        "timings": timings,
        "trainer_over_plain": round(ratio, 4),
        "overhead_percent": round(100 * (ratio - 1), 2),
    }


def precision_on_cuda(device: torch.device, repeats: int, iterations: int) -> dict:
    cases = {
        "UNet2015_2d_572": (lambda: UNet2015(2, 1, 2), 1, (572, 572), 2),
        "UNet3D_132x132x116": (lambda: UNet3D(3, 3), 3, (132, 132, 116), 3),
    }
    results = {}
    for name, (build, channels, tile, classes) in cases.items():
        for label, dtype in (("fp32", None), ("bf16_autocast", torch.bfloat16)):
            torch.manual_seed(0)
            net = build().to(device)
            batches = make_batches(iterations, channels, tile, classes, device)
            run = plain_loop(
                net, batches, paper_optimizer(net.parameters()), PixelWeightedCrossEntropyLoss(), device, dtype
            )
            run()  # warm-up
            torch.cuda.reset_peak_memory_stats(device)
            seconds = sorted(time_call(run, device) for _ in range(repeats))[repeats // 2]
            results[f"{name}_{label}"] = {
                "iterations_per_s": round(iterations / seconds, 3),
                "peak_memory_MiB": round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    device = default_device()
    results = {"device": str(device), "overhead": overhead(device, args.repeats, args.iterations)}
    if device.type == "cuda":
        results["precision"] = precision_on_cuda(device, args.repeats, args.iterations)
    else:
        results["precision"] = "not run: needs a CUDA device (none was present)"
    path = write_results(f"trainer_{device.type}", results)
    print(
        json.dumps(
            {k: v for k, v in results.items() if k != "overhead"}
            | {"overhead": results["overhead"]["overhead_percent"]},
            indent=2,
        )
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
