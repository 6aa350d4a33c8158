"""Input checks: what checking every case before work costs, beside the work it guards.

On the sample CT data (``write_sample_data`` defaults: 128x128x40 voxels, 5 training cases):

1. ``check_training_cases`` on all training cases (reads each image and label once:
   dimensionality, channels, finite voxels, label grid and values) against filling the
   training cache the bundle builds anyway (``ct_preprocessing`` of the same cases), and
   against one epoch of the sample bundle's default training (measured by the demo).
2. ``inference_case_problem`` (headers only) per case, NIfTI and DICOM series, against
   loading and preprocessing that case.

    python benchmarks/bench_checks.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from monai.transforms import Compose

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, write_results  # noqa: E402

from monai_unet2015.bundle import check_training_cases  # noqa: E402
from monai_unet2015.bundle.cases import inference_case_problem  # noqa: E402
from monai_unet2015.data import (  # noqa: E402
    ct_preprocessing,
    load_datalist,
    write_sample_data,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_sample_data(root, num_mri=0, num_cells=0)
        training = load_datalist(root / "ct")
        preprocessing = Compose(ct_preprocessing(pixdim=(1.6, 1.6, 2.5)))
        nifti = load_datalist(root / "ct", "test", with_labels=False)[0]
        dicom = load_datalist(root / "ct_dicom", "test", with_labels=False)[0]
        training_side = interleaved_medians(
            {
                "check_training_cases": lambda: check_training_cases(training, num_classes=4, ignore_index=255),
                "preprocess_cases_for_the_cache": lambda: [preprocessing(dict(item)) for item in training],
            },
            cpu,
            args.repeats,
        )
        inference_side = interleaved_medians(
            {
                "header_check_nifti": lambda: inference_case_problem(nifti, 1, 3),
                "header_check_dicom_series": lambda: inference_case_problem(dicom, 1, 3),
                "load_and_preprocess_nifti": lambda: Compose(ct_preprocessing(label_key=None))(dict(nifti)),
            },
            cpu,
            args.repeats,
        )
    check, cache = (training_side[k]["median_s"] for k in ("check_training_cases", "preprocess_cases_for_the_cache"))
    results = {
        "data": "write_sample_data defaults: 5 CT training cases of 128x128x40, 1 test case (NIfTI and DICOM)",
        "num_training_cases": len(training),
        "training": training_side,
        "check_over_cache_fill": round(check / cache, 3),
        "inference": inference_side,
        "repeats": args.repeats,
        "median_of": statistics.median.__name__,
    }
    path = write_results("checks_cpu", results)
    print(f"check {check:.3f} s vs cache fill {cache:.3f} s for {len(training)} cases ({check / cache:.2f}x); {path}")


if __name__ == "__main__":
    main()
