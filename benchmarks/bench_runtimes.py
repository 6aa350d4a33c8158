"""Exported runtimes against PyTorch on the CPU: time and mask agreement with PyTorch fp32 (issue 40).

Side by side in one run, through ``OverlapTileInferer`` (the bundles' inference path), timed
in turn (A, B, C, ... repeated, so that the machine's drift hits all alike):

- the paper's UNet2015 (64..1024 features) on one 572x572 tile (a 388x388 image: its output)
  and on a 700x700 image with 572x572 tiles (4 tiles);
- the 3D bundle's CPU-preset net (UNet3D 8/16/32, two poolings) on a 180x180x150 volume
  with the inference tile it picks (``roi_size=None``, the default ``max_tile_voxels``).

Options: PyTorch fp32 (the reference), bf16, bf16 + channels-last; ONNX Runtime fp32;
OpenVINO fp32 and bf16 (``OverlapTileInferer(backend=...)``). Each gets the median of
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

``--int8`` (needs ``pip install nncf``): one measured try of post-training INT8 quantisation
(NNCF, OpenVINO's quantiser), calibrated on 16 crops of each case's own generated image and,
for ``--trained``, on crops of the training patient; judged by Dice on the held-out CT.

``--trained-cells DIR --plan FILE --data ROOT`` adds the paper's 572x572 tile on real nuclei: the
cells bundle (paper widths, batch norm) trained on ``ROOT/nuclei`` of ``benchmarks/real_data.py``,
on the held-out ``ROOT/nuclei_test`` image (512x192, two tiles), preprocessed as the bundle does;
INT8 is calibrated on the training crops, never the held-out image. ``--results NAME`` names
the results file (default ``runtimes_cpu``).

    python benchmarks/bench_runtimes.py [--repeats 5] [--cases ...] [--trained DIR --plan FILE --test DIR] [--int8]
    python benchmarks/bench_runtimes.py --cases --trained-cells DIR --plan FILE --data ROOT --int8 --results NAME
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
from monai.transforms import LoadImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import time_call, write_results  # noqa: E402

from monai_unet2015.bundle.export import calibration_tiles, quantize_network_int8  # noqa: E402
from monai_unet2015.data.synthetic_cells import touching_cells_2d  # noqa: E402
from monai_unet2015.data.synthetic_volumes import ct_like_volume  # noqa: E402
from monai_unet2015.inferers import OverlapTileInferer, cpu_has_native_bf16  # noqa: E402
from monai_unet2015.inferers.runtimes import OpenVinoTiles  # noqa: E402
from monai_unet2015.metrics import dice  # noqa: E402
from monai_unet2015.networks import UNet3D, UNet2015  # noqa: E402

OPTIONS = {
    "torch_fp32": {"precision": "fp32"},
    "torch_bf16": {"precision": "bf16"},
    "torch_bf16_channels_last": {"precision": "bf16", "memory_format": "channels_last"},
    "onnxruntime_fp32": {"backend": "onnxruntime", "precision": "fp32"},
    "openvino_fp32": {"backend": "openvino", "precision": "fp32"},
    "openvino_bf16": {"backend": "openvino", "precision": "bf16"},
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


def run_case(make_net, make_image, roi, repeats: int, int8: bool = False, int8_model=None, truth=None) -> dict:
    """Each option on one image: time and labels against PyTorch fp32.

    ``int8_model``: the INT8 model to run (``export --int8``'s); default one quantised here on
    crops of the image itself. ``truth`` (the image's spatial shape): each option's foreground
    Dice against it.
    """
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
    if int8 and native_bf16:  # NNCF's INT8 beside the rest
        began = time.perf_counter()
        if int8_model is None:  # calibrated on crops of this (generated) image
            tile = inferers["torch_fp32"].tile_geometry(net, image.shape[2:], 1, torch.device("cpu"))[0]
            with tempfile.TemporaryDirectory() as folder:
                tiles = int8_tiles(net, image.shape[1], tile, calibration_tiles(image[0], tile, 16), Path(folder))
            inferers["openvino_int8"] = OverlapTileInferer(roi, backend=tiles)  # the quantised model runs the tiles
        else:
            inferers["openvino_int8"] = OverlapTileInferer(roi, backend=int8_model)
        with torch.no_grad():
            labels["openvino_int8"] = inferers["openvino_int8"](image, net).argmax(1)
        results["openvino_int8"] = {"first_call_s": round(time.perf_counter() - began, 3)}
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
        if truth is not None:
            foreground = (labels[name][0] > 0).numpy()
            results[name]["foreground_dice_against_truth"] = round(dice(foreground, (truth > 0).numpy(), True), 4)
    tile = inferers["torch_fp32"].tile_geometry(net, image.shape[2:], 1, torch.device("cpu"))[0]
    return {"image": list(image.shape), "tile": list(tile), "options": results}


def int8_tiles(network, in_channels: int, tile, calibration: list[np.ndarray], folder: Path) -> OpenVinoTiles:
    """The network quantised to INT8 by NNCF on ``calibration`` tiles (the export's own code), as OpenVINO tiles."""
    folder.mkdir(parents=True, exist_ok=True)
    path = quantize_network_int8(network, in_channels, tile, calibration, folder / "int8.xml")
    return OpenVinoTiles(path, "bf16")


def trained_bundle_on_real_ct(bundle_root: Path, plan: Path, test: Path, work: Path, int8: bool) -> dict:
    """The trained bundle on the held-out real CT, once per option: seconds, Dice, agreement.

    ``int8``: also OpenVINO with the network quantised by NNCF, calibrated on tiles of the
    training patient (``<test>/../abdomen_ct``), never the held-out one.
    """
    import nibabel as nib

    from monai_unet2015.bundle.locations import bundle_path
    from monai_unet2015.bundle.predictor import Predictor

    images = sorted((test / "imagesTr").glob("*.nii.gz"))
    truth = {image.name: np.asarray(nib.load(test / "labelsTr" / image.name).dataobj) for image in images}
    names = {1: "liver", 2: "spleen", 3: "stomach"}
    results, masks = {}, {}

    def segment(name: str, predictor: Predictor) -> None:
        began = time.perf_counter()
        predictor(test / "imagesTr", work / name)
        seconds = time.perf_counter() - began
        masks[name] = {
            i.name: np.asarray(nib.load(next((work / name).glob(f"{i.name[:-7]}*"))).dataobj) for i in images
        }
        results[name] = {
            "seconds": round(seconds, 2),
            "dice": {
                image: {organ: round(dice(masks[name][image], truth[image], v), 4) for v, organ in names.items()}
                for image in truth
            },
            "voxels_equal_to_torch_fp32": round(
                float(np.mean([(masks[name][i] == masks["torch_fp32"][i]).mean() for i in truth])), 5
            ),
        }
        print(name, json.dumps(results[name]), flush=True)

    def predictor_for(settings: dict) -> Predictor:
        overrides = {"bundle_root": str(bundle_root), "progress": False, "overwrite": True, **settings}
        return Predictor(bundle_path("unet3d_ct_organs"), overrides=overrides, args_file=plan)

    for name, settings in OPTIONS.items():
        if settings["precision"] != "bf16" or cpu_has_native_bf16():
            segment(name, predictor_for(settings))
    if int8:
        predictor = predictor_for({"backend": "torch", "precision": "fp32"})  # its preprocessing and tile
        preprocessing = predictor.preprocessing()
        grid = preprocessing({"image": str(images[0])})["image"].shape[1:]
        tile = predictor.inferer.tile_geometry(predictor.network, grid, 1, torch.device("cpu"))[0]
        calibration = [
            crop
            for path in sorted((test.parent / "abdomen_ct" / "imagesTr").glob("*.nii.gz"))
            for crop in calibration_tiles(preprocessing({"image": str(path)})["image"], tile, 16)
        ]
        tiles = int8_tiles(predictor.network, 1, tile, calibration, work / "int8_model")
        segment("openvino_int8", predictor_for({"backend": tiles, "precision": "auto"}))
        results["openvino_int8"]["calibration"] = f"{len(calibration)} tiles of {list(tile)} from the training patient"
    return {"bundle_root": str(bundle_root), "plan": str(plan), "test": str(test), "options": results}


def trained_cells_case(bundle_root: Path, plan: Path, data: Path, work: Path, int8: bool):
    """The paper's tile on real nuclei: the cells bundle trained on ``data/nuclei`` (its paper-width net).

    The image is the held-out ``data/nuclei_test`` image, preprocessed as the bundle does. With
    ``int8``, the INT8 model is what ``python -m monai_unet2015 export --int8 data/nuclei`` writes
    (:func:`~monai_unet2015.bundle.export.quantize_int8`: calibrated on the training crops only).
    Returns :func:`run_case`'s arguments from ``make_net`` to ``truth``.
    """
    from monai_unet2015.bundle import Predictor
    from monai_unet2015.bundle.export import quantize_int8
    from monai_unet2015.bundle.locations import bundle_path

    overrides = {"bundle_root": str(bundle_root), "progress": False}
    predictor = Predictor(bundle_path("unet2015_cells_2d"), overrides=overrides, args_file=plan)
    test = predictor.preprocessing()({"image": str(data / "nuclei_test" / "imagesTr" / "nuclei_test.tif")})["image"]
    image = torch.as_tensor(test)[None].float()
    truth = torch.as_tensor(LoadImage(image_only=True)(str(data / "nuclei_test" / "labelsTr" / "nuclei_test.tif")))
    int8_model = quantize_int8(predictor, data / "nuclei", work / "model_int8.xml") if int8 else None
    return lambda: predictor.network, lambda: image, (572, 572), int8, int8_model, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--trained", type=Path, default=None, help="a 3D bundle folder trained on real CT")
    parser.add_argument("--plan", type=Path, default=None, help="the plan it was trained with")
    parser.add_argument("--test", type=Path, default=None, help="held-out cases: imagesTr/, labelsTr/")
    parser.add_argument("--int8", action="store_true", help="also OpenVINO INT8 quantised by NNCF (pip install nncf)")
    parser.add_argument(
        "--trained-cells", type=Path, default=None, help="a cells bundle folder trained on real_data.py's nuclei"
    )
    parser.add_argument("--data", type=Path, default=None, help="real_data.py's folder (nuclei/, nuclei_test/)")
    parser.add_argument("--results", default="runtimes_cpu", help="the results file's name")
    args = parser.parse_args()
    if (args.trained is None) != (args.test is None):
        parser.error("--trained and --test go together")
    if (args.trained_cells is None) != (args.data is None):
        parser.error("--trained-cells and --data go together")
    results = {}
    cases = {case: (*CASES[case], args.int8) for case in args.cases}
    with tempfile.TemporaryDirectory() as work:
        if args.trained_cells is not None:
            arguments = trained_cells_case(args.trained_cells, args.plan, args.data, Path(work), args.int8)
            cases["unet2015_paper_trained_real_nuclei_tile572"] = arguments
        for case, arguments in cases.items():
            make_net, make_image, roi, *rest = arguments
            results[case] = run_case(make_net, make_image, roi, args.repeats, *rest)
            options = results[case]["options"]
            best = max(
                (n for n in options if "median_s" in options[n]), key=lambda n: options[n]["speed_up_over_torch_fp32"]
            )
            print(case, "fastest:", best, options[best], flush=True)
    if args.trained is not None:
        with tempfile.TemporaryDirectory() as work:
            results["trained_3d_bundle_on_real_ct"] = trained_bundle_on_real_ct(
                args.trained, args.plan, args.test, Path(work), args.int8
            )
    path = write_results(
        args.results,
        {"repeats": args.repeats, "threads": torch.get_num_threads(), "native_bf16": cpu_has_native_bf16(), **results},
    )
    print(path)


if __name__ == "__main__":
    main()
