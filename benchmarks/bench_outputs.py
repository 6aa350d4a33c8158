"""The DICOM outputs of one CT series: the time and size of each (issue 41).

A generated abdomen CT (``ct_like_volume``: liver, spleen, kidneys; ``--shape``, default
512 x 512 x 100 at 0.8 x 0.8 x 1.5 mm) is written as a DICOM series; its own label map stands
for a prediction. Each writer runs on it once after a warm-up on a small series (imports,
first-call costs apart): the NIfTI mask, the structure volumes JSON, DICOM SEG, RTSTRUCT,
the overlay series and the TID 1500 report. Reported: seconds (median of ``--repeats``) and
bytes on disk.

    python benchmarks/bench_outputs.py [--shape 512 512 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

from monai_unet2015.data import (  # noqa: E402
    CT_LABELS,
    ct_like_volume,
    series_grid,
    structure_measurements,
    write_dicom_seg,
    write_dicom_series,
    write_overlay_series,
    write_rtstruct,
    write_volume_report,
)

LABELS = {value: name for name, value in CT_LABELS.items() if value > 0}
PATHS = {"nifti_mask": "mask.nii.gz", "seg": "seg.dcm", "rtstruct": "rt.dcm", "overlay": "overlay", "sr": "sr.dcm"}


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def writers(mask: np.ndarray, affine: np.ndarray, series: Path, out: Path) -> dict:
    """name -> (a call writing that output into ``out``, the path it writes)."""
    volumes = {s["name"]: s["volume_ml"] for s in structure_measurements(mask, affine, LABELS)["structures"]}
    by_value = {value: volumes[name] for value, name in LABELS.items()}
    paths = {name: out / file for name, file in PATHS.items()}
    return {
        "nifti_mask": (lambda: nib.save(nib.Nifti1Image(mask, affine), paths["nifti_mask"]), paths["nifti_mask"]),
        "volumes_json": (lambda: structure_measurements(mask, affine, LABELS), None),
        "seg": (lambda: write_dicom_seg(mask, affine, series, paths["seg"], LABELS, overwrite=True), paths["seg"]),
        "rtstruct": (
            lambda: write_rtstruct(mask, affine, series, paths["rtstruct"], LABELS, overwrite=True),
            paths["rtstruct"],
        ),
        "overlay": (
            lambda: write_overlay_series(mask, affine, series, paths["overlay"], LABELS, by_value, overwrite=True),
            paths["overlay"],
        ),
        "sr": (
            lambda: write_volume_report(paths["seg"], series, volumes, paths["sr"], overwrite=True),
            paths["sr"],
        ),
    }


def measure(shape: tuple[int, int, int], repeats: int, root: Path) -> dict:
    image, labels, affine = ct_like_volume(shape, spacing=(0.8, 0.8, 1.5), seed=0)
    write_dicom_series(image.astype(np.float32), affine, root / "series")
    grid_affine = series_grid(sorted((root / "series").iterdir())).affine
    mask = labels.astype(np.uint8)
    out = root / "out"
    out.mkdir()
    results = {}
    for name, (call, path) in writers(mask, grid_affine, root / "series", out).items():
        seconds = []
        for _ in range(repeats):
            began = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - began)
        results[name] = {"seconds": round(statistics.median(seconds), 3), "bytes": size_of(path) if path else None}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 100))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure((64, 64, 8), 1, Path(tmp) / "warm")  # imports and first calls
        results = measure(tuple(args.shape), args.repeats, Path(tmp) / "run")
    payload = {"shape": list(args.shape), "spacing_mm": [0.8, 0.8, 1.5], "structures": len(LABELS), "outputs": results}
    print(write_results("outputs_cpu", payload))


if __name__ == "__main__":
    main()
