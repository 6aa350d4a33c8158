"""Data: load + preprocess throughput for NIfTI and DICOM; cached vs uncached epochs.

1. Throughput on the sample CT cases (128x128x40 voxels, 0.8 x 0.8 x 2.5 mm): plain MONAI
   ``LoadImage`` against our ``ct_preprocessing`` (load, checks, RAS, resampling to
   1.6 x 1.6 x 2.5 mm, HU window), for NIfTI (ITK and nibabel readers) and for the same
   cases as DICOM series (ITK and pydicom readers). Volumes/s and MB/s (MB of decoded
   int16 voxels, so NIfTI and DICOM compare).
2. Epoch time of ``device_data_loader`` with the deterministic part cached
   (``cache="memory"``, cached on the device) against running it every epoch
   (``cache="none"``); the random part (RandCoarseElasticd + intensity) runs each epoch in
   both. On CUDA the random part runs on the GPU.

    python benchmarks/bench_data.py [--repeats 5] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from monai.transforms import Compose, LoadImage, RandScaleIntensityd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, write_results  # noqa: E402

from monai_unet2015.data import (  # noqa: E402
    ct_preprocessing,
    device_data_loader,
    msd_datalist,
    write_dicom_series,
    write_sample_data,
)
from monai_unet2015.devices import default_device  # noqa: E402
from monai_unet2015.transforms import RandCoarseElasticd  # noqa: E402

NUM_CASES = 6
PIXDIM = (1.6, 1.6, 2.5)


def prepare(root: Path) -> tuple[list[str], list[str]]:
    write_sample_data(root, num_ct=NUM_CASES, num_mri=0, num_cells=0, dicom=False)
    niftis = [item["image"] for item in msd_datalist(root / "ct")] + [
        item["image"] for item in msd_datalist(root / "ct", "test")
    ]
    folders = []
    for index, path in enumerate(niftis):
        image = LoadImage(image_only=True, reader="NibabelReader")(path)
        folder = root / "dicom" / f"case{index}"
        write_dicom_series(np.asarray(image, dtype=np.float32), np.asarray(image.affine), folder)
        folders.append(str(folder))
    return niftis, folders


def throughput(paths: list[str], repeats: int, decoded_mb: float) -> dict:
    candidates = {}
    readers = ("ITKReader", "PydicomReader") if Path(paths[0]).is_dir() else ("ITKReader", "NibabelReader")
    for reader in readers:
        load = LoadImage(image_only=True, reader=reader)
        preset = Compose(ct_preprocessing(label_key=None, pixdim=PIXDIM, reader=reader))
        candidates[f"LoadImage[{reader}]"] = lambda load=load: [load(p) for p in paths]
        candidates[f"ct_preprocessing[{reader}]"] = lambda preset=preset: [preset({"image": p}) for p in paths]
    timings = interleaved_medians(candidates, torch.device("cpu"), repeats)
    for result in timings.values():
        result["volumes_per_s"] = round(len(paths) / result["median_s"], 2)
        result["MB_per_s"] = round(len(paths) * decoded_mb / result["median_s"], 1)
    return timings


def epoch_times(datalist: list[dict], device: torch.device, epochs: int) -> dict:
    keys = ["image", "label"]
    random = [
        RandCoarseElasticd(keys, sigma=4.0, mode=["bilinear", "nearest"]),
        RandScaleIntensityd("image", factors=0.1, prob=1.0),
    ]
    results = {}
    for cache in ("memory", "none"):
        loader = device_data_loader(
            datalist, ct_preprocessing(pixdim=PIXDIM), random, device=device, cache=cache, seed=0, shuffle=True
        )
        seconds = []
        for _ in range(epochs):
            began = time.perf_counter()
            for batch in loader:
                batch["image"].sum().item()  # make sure the work is done (CUDA is asynchronous)
            seconds.append(time.perf_counter() - began)
        results[f"cache_{cache}"] = {
            "epoch_s": [round(s, 4) for s in seconds],
            "median_epoch_s": round(statistics.median(seconds), 4),
        }
    results["uncached_over_cached"] = round(
        results["cache_none"]["median_epoch_s"] / results["cache_memory"]["median_epoch_s"], 2
    )
    return results


def timed_cache_fill(datalist, device):
    """Seconds the CacheDataset takes to run the deterministic part once for every case."""
    began = time.perf_counter()
    device_data_loader(datalist, ct_preprocessing(pixdim=PIXDIM), [], device=device, cache="memory")
    return round(time.perf_counter() - began, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    device = default_device()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        niftis, dicoms = prepare(root)
        decoded_mb = 128 * 128 * 40 * 2 / 1e6
        datalist = msd_datalist(root / "ct")
        results = {
            "cases": len(niftis),
            "volume": "128x128x40 int16 HU, 0.8 x 0.8 x 2.5 mm; preset resamples to 1.6 x 1.6 x 2.5 mm",
            "decoded_MB_per_volume": decoded_mb,
            "nifti": throughput(niftis, args.repeats, decoded_mb),
            "dicom_series": throughput(dicoms, args.repeats, decoded_mb),
            "device": str(device),
            "epochs": epoch_times(datalist, device, args.epochs),
            "cache_fill_s": timed_cache_fill(datalist, device),
        }
    path = write_results(f"data_{device.type}", results)
    summary = {name: {k: v["volumes_per_s"] for k, v in results[name].items()} for name in ("nifti", "dicom_series")}
    summary["epochs"] = results["epochs"]
    print(json.dumps(summary, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
