"""Exported runtimes against PyTorch on the CPU: time and mask agreement with PyTorch fp32 (issue 40).

Side by side in one run, through ``OverlapTileInferer`` (the bundles' inference path), timed
in turn (A, B, C, ... repeated, so that the machine's drift hits all alike):

- the paper's UNet2015 (64..1024 features) on one 572x572 tile (a 388x388 image: its output)
  and on a 700x700 image with 572x572 tiles (4 tiles);
- the 3D bundle's CPU-preset net (UNet3D 8/16/32, two poolings) on a 180x180x150 volume
  with the inference tile it picks (``roi_size=None``, the default ``max_tile_voxels``).

Options: PyTorch fp32 (the reference), bf16, bf16 + channels-last; ONNX Runtime fp32;
OpenVINO fp32 and bf16 (``OverlapTileInferer(runtime=...)``). Each gets the median of
``--repeats`` calls after a warm-up call (the warm-up of an exported runtime includes the
ONNX export and compilation: recorded as ``first_call_s``), and the fraction of argmax labels
equal to PyTorch fp32's. The weights are seeded random ones and the inputs are generated
(touching cells, an abdomen-like CT windowed as the bundle does): agreement on a random net is
a lower bound, its logits lie closer together than a trained net's. Where the CPU lacks native
bf16 the bf16 options are skipped (recorded as not run).

``--trained BUNDLE_ROOT --plan PLAN --test FOLDER`` adds the question agreement on a random
net cannot answer: a 3D bundle trained on real CT (``benchmarks/peer_nnunet.py --dataset
abdomen_ct`` leaves one in ``<work>/unet3d_ct_organs_b330_s0`` with its plan
``<work>/abdomen_ct_plan.json``; ``FOLDER`` = ``<data>/abdomen_ct_test``, the held-out patient
of ``benchmarks/real_data.py``, TotalSegmentator's silver-standard labels) segments the
held-out CT through the bundle's own ``inference.json`` once per option; per option the
seconds, each organ's Dice against the labels, and the voxels equal to PyTorch fp32's mask.

    python benchmarks/bench_runtimes.py [--repeats 5] [--cases ...] [--trained DIR --plan FILE --test DIR]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import time_call, write_results  # noqa: E402

from monai_unet2015.data.synthetic_cells import touching_cells_2d  # noqa: E402
from monai_unet2015.data.synthetic_volumes import ct_like_volume  # noqa: E402
from monai_unet2015.inferers import OverlapTileInferer, cpu_has_native_bf16  # noqa: E402
from monai_unet2015.networks import UNet3D, UNet2015  # noqa: E402

OPTIONS = {
    "torch_fp32": {"precision": "fp32"},
    "torch_bf16": {"precision": "bf16"},
    "torch_bf16_channels_last": {"precision": "bf16", "memory_format": "channels_last"},
    "onnxruntime_fp32": {"runtime": "onnxruntime", "precision": "fp32"},
    "openvino_fp32": {"runtime": "openvino", "precision": "fp32"},
    "openvino_bf16": {"runtime": "openvino", "precision": "bf16"},
}


def cells_image(size: int = 700) -> torch.Tensor:
    image, _ = touching_cells_2d((size, size), num_cells=160 * size**2 // 700**2, seed=0)
    return torch.from_numpy(image.astype(np.float32))[None, None]


def ct_image() -> torch.Tensor:
    hu, _, _ = ct_like_volume((180, 180, 150), (1.6, 1.6, 2.5), seed=0)
    return torch.from_numpy(np.clip((hu - -160.0) / 400.0, 0.0, 1.0).astype(np.float32))[None, None]


CASES = {
    "unet2015_paper_one_tile572": (lambda: UNet2015(2, 1, 2), lambda: cells_image(388), (572, 572)),
    "unet2015_paper_700x700_tile572": (lambda: UNet2015(2, 1, 2), cells_image, (572, 572)),
    "unet3d_cpu_preset_180x180x150": (lambda: UNet3D(1, 4, features=(8, 16, 32)), ct_image, None),
}


def run_case(make_net, make_image, roi, repeats: int) -> dict:
    torch.manual_seed(0)
    net, image = make_net().eval(), make_image()
    native_bf16 = cpu_has_native_bf16()
    inferers, results, labels = {}, {}, {}
    for name, settings in OPTIONS.items():
        if settings["precision"] == "bf16" and not native_bf16:
            results[name] = {"not_run": "no native bf16 on this CPU (PyTorch and OpenVINO would emulate it)"}
            continue
        inferers[name] = OverlapTileInferer(roi, **settings)
        began = time.perf_counter()
        with torch.no_grad():
            labels[name] = inferers[name](image, net).argmax(1)  # warm-up (export, compile) and the labels
        results[name] = {"first_call_s": round(time.perf_counter() - began, 3)}
    samples: dict[str, list[float]] = {name: [] for name in inferers}
    with torch.no_grad():
        for _ in range(repeats):
            for name, inferer in inferers.items():
                samples[name].append(time_call(lambda inferer=inferer: inferer(image, net), torch.device("cpu")))
    reference = samples["torch_fp32"]
    for name, values in samples.items():
        results[name].update(
            median_s=round(statistics.median(values), 4),
            samples_s=[round(v, 4) for v in values],
            speed_up_over_torch_fp32=round(statistics.median(reference) / statistics.median(values), 3),
            labels_equal_to_torch_fp32=round(float((labels[name] == labels["torch_fp32"]).float().mean()), 5),
        )
    tile = inferers["torch_fp32"].tile_geometry(net, image.shape[2:], 1, torch.device("cpu"))[0]
    return {"image": list(image.shape), "tile": list(tile), "options": results}


def trained_bundle_on_real_ct(bundle_root: Path, plan: Path, test: Path, work: Path) -> dict:
    """The trained bundle on the held-out real CT, once per option: seconds, Dice, agreement."""
    import nibabel as nib

    from monai_unet2015.bundle.locations import bundle_path
    from monai_unet2015.bundle.predictor import BundlePredictor
    from monai_unet2015.metrics import dice

    images = sorted((test / "imagesTr").glob("*.nii.gz"))
    truth = {image.name: np.asarray(nib.load(test / "labelsTr" / image.name).dataobj) for image in images}
    names = {1: "liver", 2: "spleen", 3: "stomach"}
    results, masks = {}, {}
    for name, settings in OPTIONS.items():
        if settings["precision"] == "bf16" and not cpu_has_native_bf16():
            continue
        overrides = {"bundle_root": str(bundle_root), "progress": False, "overwrite": True, **settings}
        predictor = BundlePredictor(bundle_path("unet3d_ct_organs"), overrides=overrides, args_file=plan)
        began = time.perf_counter()
        predictor(test / "imagesTr", work / name)
        seconds = time.perf_counter() - began
        masks[name] = {
            i.name: np.asarray(nib.load(next((work / name).glob(f"{i.name[:-7]}*"))).dataobj) for i in images
        }
        results[name] = {
            "seconds": round(seconds, 2),
            "dice": {
                image: {
                    organ: round(dice(masks[name][image], truth[image], value), 4) for value, organ in names.items()
                }
                for image in truth
            },
            "voxels_equal_to_torch_fp32": round(
                float(np.mean([(masks[name][i] == masks["torch_fp32"][i]).mean() for i in truth])), 5
            ),
        }
        print(name, json.dumps(results[name]), flush=True)
    return {"bundle_root": str(bundle_root), "plan": str(plan), "test": str(test), "options": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--trained", type=Path, default=None, help="a 3D bundle folder trained on real CT")
    parser.add_argument("--plan", type=Path, default=None, help="the plan it was trained with")
    parser.add_argument("--test", type=Path, default=None, help="held-out cases: imagesTr/, labelsTr/")
    args = parser.parse_args()
    if (args.trained is None) != (args.test is None):
        parser.error("--trained and --test go together")
    results = {}
    for case in args.cases:
        results[case] = run_case(*CASES[case], args.repeats)
        best = max(
            (n for n, r in results[case]["options"].items() if "median_s" in r),
            key=lambda n: results[case]["options"][n]["speed_up_over_torch_fp32"],
        )
        print(case, "fastest:", best, results[case]["options"][best], flush=True)
    if args.trained is not None:
        with tempfile.TemporaryDirectory() as work:
            results["trained_3d_bundle_on_real_ct"] = trained_bundle_on_real_ct(
                args.trained, args.plan, args.test, Path(work)
            )
    path = write_results(
        "runtimes_cpu",
        {"repeats": args.repeats, "threads": torch.get_num_threads(), "native_bf16": cpu_has_native_bf16(), **results},
    )
    print(path)


if __name__ == "__main__":
    main()
