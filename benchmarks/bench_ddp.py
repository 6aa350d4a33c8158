"""DDP overhead at one process: the same training steps with and without DistributedDataParallel.

One process, world size 1 (gloo on CPU, NCCL on CUDA): what wrapping the net in DDP costs when
nothing needs to be exchanged (gradient bucketing, hooks, the all-reduce call). Scaling across
several GPUs needs a machine with several GPUs (run the bundle with torchrun there).

    python benchmarks/bench_ddp.py [--repeats 7] [--iterations 10]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_trainer import cell_batches, plain_loop  # noqa: E402
from common import interleaved_medians, write_results  # noqa: E402

from monai_unet2015.devices import default_device  # noqa: E402
from monai_unet2015.engines import paper_optimizer  # noqa: E402
from monai_unet2015.losses import PixelWeightedCrossEntropyLoss  # noqa: E402
from monai_unet2015.networks import UNet2015  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    device = default_device()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        features = (16, 32, 64, 128, 256)
        plain_net = UNet2015(2, 1, 2, features=features).to(device)
        ddp_net = UNet2015(2, 1, 2, features=features).to(device)
        ddp_net.load_state_dict(plain_net.state_dict())
        wrapped = DistributedDataParallel(ddp_net, device_ids=[device] if device.type == "cuda" else None)
        batches = cell_batches(args.iterations, (380, 380), device)
        loss = PixelWeightedCrossEntropyLoss()
        timings = interleaved_medians(
            {
                "plain": plain_loop(plain_net, batches, paper_optimizer(plain_net.parameters()), loss, device),
                "ddp_world_size_1": plain_loop(wrapped, batches, paper_optimizer(wrapped.parameters()), loss, device),
            },
            device,
            args.repeats,
        )
    finally:
        dist.destroy_process_group()
    ratio = timings["ddp_world_size_1"]["median_s"] / timings["plain"]["median_s"]
    results = {
        "device": str(device),
        "network": f"UNet2015(2, 1, 2, features={features})",
        "tile": [380, 380],
        "iterations_per_sample": args.iterations,
        "timings": timings,
        "ddp_over_plain": round(ratio, 4),
        "overhead_percent": round(100 * (ratio - 1), 2),
        "scaling": "not measured: needs several GPUs",
    }
    path = write_results(f"ddp_{device.type}", results)
    print(json.dumps({"overhead_percent": results["overhead_percent"], "device": str(device)}))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
