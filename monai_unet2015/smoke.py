"""Smoke run: build both paper networks and push a generated sample through each.

This is the main job until the bundles land: it proves that the installation works end to
end (networks, size arithmetic, NIfTI output). The networks are untrained, so the masks
show the plumbing, not a segmentation quality.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from monai_unet2015.devices import as_device
from monai_unet2015.networks import UNet3D, UNet2015, ValidUNet

__all__ = ["run_smoke"]

logger = logging.getLogger(__name__)


def blob_image(shape: tuple[int, ...], seed: int, num_blobs: int = 6) -> np.ndarray:
    """A float32 image of bright Gaussian blobs on noise, values in about [0, 1]."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij", sparse=True)
    image = np.zeros(shape, np.float32)
    for _ in range(num_blobs):
        center = [rng.uniform(0.2, 0.8) * s for s in shape]
        radius = rng.uniform(0.05, 0.12) * min(shape)
        distance2 = sum((g - c) ** 2 for g, c in zip(grids, center))
        image += np.exp(-distance2 / (2 * radius**2))
    return np.clip(image + rng.normal(0, 0.05, shape).astype(np.float32), 0, None)


def segment_tile(network: ValidUNet, image: np.ndarray, device: torch.device) -> tuple[np.ndarray, float]:
    """Class mask of one valid tile ``image`` (C, *S); returns the mask (*S') and seconds taken."""
    network = network.eval().to(device)
    x = torch.as_tensor(image)[None].to(device)
    began = time.perf_counter()
    with torch.inference_mode():
        logits = network(x)
    seconds = time.perf_counter() - began
    return logits.argmax(1)[0].to(torch.uint8).cpu().numpy(), seconds


def run_smoke(output_dir: str | Path, device: str | None = None) -> dict:
    """Build the paper's 2D and 3D nets, segment a generated sample with each, write masks.

    Writes ``<output_dir>/smoke_{2d,3d}_mask.nii.gz`` and ``smoke_summary.json``; returns
    the summary. Uses CUDA when present unless ``device`` says otherwise.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch_device = as_device(device)
    torch.manual_seed(0)
    cases = {
        "2d": (UNet2015(spatial_dims=2, in_channels=1, out_channels=2), (572, 572)),
        "3d": (UNet3D(in_channels=3, out_channels=3), (132, 132, 116)),
    }
    summary: dict = {"device": str(torch_device), "note": "untrained networks: a plumbing check", "cases": {}}
    for name, (network, tile) in cases.items():
        channels = network.contracting[0][0].in_channels
        image = np.stack([blob_image(tile, seed=c) for c in range(channels)])
        mask, seconds = segment_tile(network, image, torch_device)
        expected = network.output_size(tile)
        if mask.shape != expected:  # pragma: no cover - a broken installation
            raise RuntimeError(f"{name}: output {mask.shape} differs from output_size {expected}")
        path = output_dir / f"smoke_{name}_mask.nii.gz"
        nib.save(nib.Nifti1Image(mask, np.eye(4)), path)
        summary["cases"][name] = {
            "network": type(network).__name__,
            "parameters": sum(p.numel() for p in network.parameters()),
            "input_shape": [1, channels, *tile],
            "output_shape": [1, network.output_conv.out_channels, *mask.shape],
            "forward_seconds": round(seconds, 3),
            "mask": str(path),
        }
        logger.info("%s: %s %s -> %s in %.2f s", name, type(network).__name__, tile, mask.shape, seconds)
    (output_dir / "smoke_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
