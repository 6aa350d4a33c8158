"""Small generated cell datasets and tiny nets for the engine tests."""

from __future__ import annotations

import pytest
import torch
from monai.data import CacheDataset, DataLoader
from monai.transforms import AsDiscreted, Compose, EnsureTyped

from monai_unet2015.data import touching_cells_2d
from monai_unet2015.networks import UNet2015
from monai_unet2015.transforms import BorderWeightMapd, RandCoarseElasticd


def cell_samples(count: int, size: int, first_seed: int = 0) -> list[dict]:
    samples = []
    for seed in range(first_seed, first_seed + count):
        image, instances = touching_cells_2d((size, size), num_cells=max(2, size * size // 2700), seed=seed)
        samples.append({"image": image[None], "label": instances[None]})
    return samples


def training_loader(samples: list[dict], augment: bool = True) -> DataLoader:
    """Weight map cached, then (optionally) random elastic deformation; shuffled, batch size 1."""
    cached = [
        BorderWeightMapd("label", weight_key="weight"),
        AsDiscreted("label", threshold=0.5),
        EnsureTyped(["image", "label", "weight"], track_meta=False),
    ]
    random = [RandCoarseElasticd(["image", "label", "weight"], mode=["bilinear", "nearest", "bilinear"])]
    dataset = CacheDataset(samples, Compose(cached + (random if augment else [])), progress=False)
    return DataLoader(dataset, batch_size=1, shuffle=True, num_workers=0)


def validation_loader(samples: list[dict]) -> DataLoader:
    transform = Compose([AsDiscreted("label", threshold=0.5), EnsureTyped(["image", "label"], track_meta=False)])
    return DataLoader(CacheDataset(samples, transform, progress=False), batch_size=1)


def tiny_net() -> UNet2015:
    """Two poolings, 4..16 channels: valid input 60 -> output 20."""
    return UNet2015(2, 1, 2, features=(4, 8, 16))


@pytest.fixture
def tiny_samples() -> list[dict]:
    return cell_samples(3, 60)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level("WARNING")
    torch.manual_seed(0)
