"""A full-size clinical CT from file to mask on the CPU, stage by stage (issue 40).

The volume: a generated 512 x 512 x 300 abdominal CT at 0.8 x 0.8 x 1.5 mm
(:func:`monai_unet2015.data.synthetic_volumes.ct_like_volume`: air, fat, soft tissue, a spine and
contrast-enhanced organs at clinical HU, 12 HU scanner noise), stored as scanners store it: a
NIfTI of int16 and a 300-file DICOM series. No real CT of that size ships in the package
registries (TotalSegmentator's examples are a 3 mm volume and a 20-slice slab). The weights are
untrained: only the times and the memory mean anything.

It goes through the 3D bundle's ``inference.json`` + ``cpu.json`` one transform at a time:
reading, orientation, resampling, intensity, the overlap-tile inferer, argmax, the label map
back on the file's grid, the NIfTI and (for the DICOM series) the DICOM SEG. Each stage gets
its seconds and its peak RSS (a thread reading ``/proc/self/statm`` every 10 ms); each run is a
fresh process, so the peaks share one baseline (the interpreter, torch and MONAI). Variants:

- ``before``: the configs before this benchmark's change: the training tile (76 x 76 x 44) as
  the inference tile, the class scores of the whole image turned into labels by ``Activationsd``
  and ``AsDiscreted``, MONAI's ``Invertd`` to go back to the file's grid, float64 resampling;
- ``now_torch``: the bundle's defaults with PyTorch running the tiles (``backend: torch``);
- ``now``: the bundle's defaults (``backend: auto``: OpenVINO where it is installed).

Before the inferer runs, its estimate (``OverlapTileInferer.estimate``: the tiles counted, one
tile batch timed on this machine) is recorded beside the inferer's measured seconds and the
memory it added (``added_gib``: its peak above the RSS when it began).

Then, for ``now``: the same CT at 100, 200 and 300 slices, and with 4 and 14 classes (peak RSS
against size and class count), and the documented command (``python -m monai.bundle run``)
end to end, as a user runs it: its wall time and the child process's peak RSS.

    python benchmarks/bench_clinical_ct.py [--repeats 3] [--quick] [--nnunet [--nnunet-only 2d 3d_lowres]]
        [--nnunet-from EARLIER.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import memory_kib, write_results  # noqa: E402

SHAPE = (512, 512, 300)
SPACING = (0.8, 0.8, 1.5)
BEFORE = {
    "roi_size": [76, 76, 44],
    "inferer#roi_size": "@roi_size",
    "preprocessing#3#dtype": "$torch.float64",
    "inferer#argmax": False,  # stage_times then adds the soft-max and argmax steps
    "backend": "torch",
    "max_memory_gib": None,  # no estimate inside the inferer then
    "postprocessing#transforms#1": {
        "_target_": "Invertd",
        "keys": "pred",
        "transform": "$monai.transforms.Compose(@preprocessing)",
        "orig_keys": "image",
        "nearest_interp": True,
        "to_tensor": True,
    },
}
VARIANTS = {"before": BEFORE, "now_torch": {"backend": "torch"}, "now": {}}


# Runs `-m module args...` or `script.py args...` and writes its peak RSS (GiB) to stderr as it exits.
_MEASURED = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write(f'\\nVmHWM_GIB {int(line.split()[1]) / 2**20}\\n')\n"
    "atexit.register(peak)\n"
    "if sys.argv[1] == '-m':\n"
    "    sys.argv = sys.argv[2:]\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "else:\n"
    "    sys.argv = sys.argv[1:]\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def measured_run(python: str, arguments: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run ``python arguments...``: its wall seconds, its peak RSS (GiB) and its stdout."""
    began = time.perf_counter()
    done = subprocess.run([python, "-c", _MEASURED, *arguments], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - began
    if done.returncode:
        raise RuntimeError(f"{python} {' '.join(arguments[:4])} failed:\n{done.stderr[-3000:]}")
    return seconds, float(done.stderr.rsplit("VmHWM_GIB", 1)[1].split()[0]), done.stdout


def _rss_gib() -> float:
    return memory_kib()["VmRSS"] / 2**20


class PeakRss:
    """The largest resident set size seen while the block runs (sampled every 10 ms)."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss_gib()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, _rss_gib())
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, _rss_gib())


# -- data --------------------------------------------------------------------------------------


def write_ct(
    folder: Path, slices: int, dicom: bool, size: tuple[int, int] = SHAPE[:2], spacing: tuple = SPACING
) -> Path:
    """``folder/imagesTs/ct.nii.gz`` (int16) or ``folder/imagesTs/ct/`` (a DICOM series); cached."""
    import nibabel as nib
    import numpy as np

    from monai_unet2015.data.dicom_writer import write_dicom_series
    from monai_unet2015.data.synthetic_volumes import ct_like_volume

    target = folder / "imagesTs" / ("ct" if dicom else "ct.nii.gz")
    if target.exists():
        return folder
    target.parent.mkdir(parents=True, exist_ok=True)
    hu, _, affine = ct_like_volume((*size, slices), spacing, seed=0)
    if dicom:
        write_dicom_series(hu, affine, target, patient_id="BENCH", series_description="generated CT")
    else:
        nib.save(nib.Nifti1Image(np.round(hu).astype(np.int16), affine), target)
    return folder


def write_weights(folder: Path, num_classes: int) -> Path:
    """``folder/models/model.pt``: untrained weights of the CPU preset's network."""
    import torch

    from monai_unet2015.bundle.locations import preset_settings
    from monai_unet2015.networks import UNet3D

    torch.manual_seed(0)
    features = preset_settings("unet3d_ct_organs", "cpu")["features"]
    (folder / "models").mkdir(parents=True, exist_ok=True)
    torch.save(UNet3D(1, num_classes, features=features).state_dict(), folder / "models" / "model.pt")
    return folder


# -- one run, in its own process ---------------------------------------------------------------


def stage_times(dataset: str, bundle_root: str, output_dir: str, overrides: dict) -> dict:
    """Seconds and peak RSS (GiB) of each stage of one case through the bundle's configs."""
    import torch
    from monai.bundle import ConfigParser
    from monai.data import decollate_batch, list_data_collate
    from monai.transforms import Activationsd, AsDiscreted

    from monai_unet2015.bundle.locations import bundle_path, with_common_config
    from monai_unet2015.data import add_output_names

    configs = bundle_path("unet3d_ct_organs") / "configs"
    parser = ConfigParser()
    parser.read_config(with_common_config([configs / "inference.json", configs / "cpu.json"]))
    if "postprocessing#transforms#1" in overrides:  # BEFORE swaps the step back; it must still be that step
        replaced = parser["postprocessing"]["transforms"][1]["_target_"]
        if not replaced.endswith("LabelsToSourceGridd"):
            raise RuntimeError(f"postprocessing step 1 is {replaced}, not LabelsToSourceGridd: update BEFORE")
    parser.update({"bundle_root": bundle_root, "dataset_dir": dataset, "output_dir": output_dir})
    parser.update({"progress": False, "overwrite": True, **overrides})
    network = parser.get_parsed_content("network")
    parser.get_parsed_content("load_weights")()
    network.eval()
    inferer = parser.get_parsed_content("inferer")
    stages = {}

    def run(name, function, value):
        with PeakRss() as peak:
            began = time.perf_counter()
            result = function(value)
            seconds = time.perf_counter() - began
        stages[name] = {"seconds": round(seconds, 2), "peak_rss_gib": round(peak.peak, 3)}
        stages[name]["added_gib"] = round(peak.peak - peak.start, 3)  # above the RSS when the stage began
        return result

    data = add_output_names([dict(parser.get_parsed_content("datalist")[0])], "image")[0]
    for transform in parser.get_parsed_content("preprocessing"):
        data = run(type(transform).__name__, transform, data)
    inputs = list_data_collate([data])["image"]
    with torch.no_grad():
        estimate = run("estimate", lambda x: inferer.estimate(x, network), inputs)
        pred = run("inferer", lambda x: inferer(x, network), inputs)
    extras = {k: v for k, v in data.items() if not isinstance(v, torch.Tensor)}
    output = {**extras, **decollate_batch({"image": inputs, "pred": pred})[0]}
    del data, inputs, pred
    to_labels = [] if inferer.argmax else [Activationsd("pred", softmax=True), AsDiscreted("pred", argmax=True)]
    for transform in [*to_labels, *parser.get_parsed_content("postprocessing").transforms]:
        output = run(type(transform).__name__, transform, output)
    return {
        "stages": stages,
        "seconds": round(sum(s["seconds"] for s in stages.values()), 2),
        "peak_rss_gib": round(memory_kib()["VmHWM"] / 2**20, 3),
        "network_grid": list(output["image"].shape[1:]),
        "predicted_inferer": {
            "seconds": round(estimate.seconds, 2),
            "memory_gib": round(estimate.memory_bytes / 2**30, 3),
            "tiles": estimate.tiles,
            "calibration": dataclasses.asdict(estimate.calibration),
        },
        "inference_tile": list(inferer.tile_geometry(network, output["image"].shape[1:], 1, torch.device("cpu"))[0]),
    }


def in_fresh_process(**arguments) -> dict:
    """:func:`stage_times` in a new interpreter, so that each peak starts from the same baseline."""
    _, _, stdout = measured_run(sys.executable, [__file__, "--one-run", json.dumps(arguments)])
    return json.loads(stdout.strip().splitlines()[-1])


def end_to_end(dataset: Path, bundle_root: Path, output_dir: Path) -> dict:
    """The documented command's wall time and its process's peak RSS."""
    from monai_unet2015.bundle.locations import bundle_path
    from monai_unet2015.bundle.workflow import bundle_run_command

    configs = bundle_path("unet3d_ct_organs") / "configs"
    command = bundle_run_command(
        f"['{configs / 'inference.json'}','{configs / 'cpu.json'}']",
        *("--bundle_root", str(bundle_root), "--dataset_dir", str(dataset), "--output_dir", str(output_dir)),
        *("--progress", "false", "--overwrite", "true"),
    )
    seconds, peak, _ = measured_run(sys.executable, command[1:])
    return {"seconds": round(seconds, 2), "peak_rss_gib": round(peak, 3)}


def nnunet_predictions(work: Path, test_case: Path, budget_s: float, only: list[str] | None = None) -> dict:
    """nnU-Net v2's predictor on the same CT, in each configuration its planner makes (no mirroring).

    ``only``: these of the planned configurations (None: all).

    nnU-Net needs a trained model folder: its planner and preprocessing run on two more
    generated CTs of the same size and spacing (so its plan is the one this CT would get), and
    its trainer runs for ``budget_s`` seconds (the weights are as untrained as ours). Then its
    ``nnUNetPredictor`` segments the benchmark's NIfTI; seconds are the predictor's own
    (``predict_from_files``, no model loading) and the process's wall time; the peak RSS is the
    predicting process's.
    """
    import shutil

    import nibabel as nib
    import numpy as np
    from peer_nnunet import DRIVER, PEER_PYTHON, RESULT, nnunet_environment, run_nnunet

    from monai_unet2015.data.synthetic_volumes import ct_like_volume

    env = nnunet_environment(work / "nnunet")
    raw = Path(env["nnUNet_raw"]) / "Dataset990_ClinicalCT"
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (raw / sub).mkdir(parents=True, exist_ok=True)
    for seed in (1, 2):
        if not (raw / "labelsTr" / f"ct{seed}.nii.gz").exists():
            hu, labels, affine = ct_like_volume(SHAPE, SPACING, seed=seed)
            nib.save(nib.Nifti1Image(np.round(hu).astype(np.int16), affine), raw / "imagesTr" / f"ct{seed}_0000.nii.gz")
            nib.save(nib.Nifti1Image(labels, affine), raw / "labelsTr" / f"ct{seed}.nii.gz")
    shutil.copy(test_case, raw / "imagesTs" / "ct_0000.nii.gz")
    description = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "spleen": 2, "kidney": 3}}
    (raw / "dataset.json").write_text(json.dumps({**description, "numTraining": 2, "file_ending": ".nii.gz"}))
    configurations = run_nnunet(["plan", "990", "2d", "3d_fullres", "3d_lowres"], env)["configurations"]
    results = {}
    for configuration in [c for c in configurations if only is None or c in only]:
        run_dir = work / "nnunet" / f"run_{configuration}"
        config_env = {**env, "nnUNet_results": str(run_dir / "results")}
        trained = run_nnunet(
            ["train", "990", configuration, "--budget-s", str(budget_s), "--output-dir", str(run_dir)], config_env
        )
        arguments = [str(DRIVER), "predict", trained["model_folder"], str(raw / "imagesTs"), str(run_dir / "pred")]
        seconds, peak, stdout = measured_run(str(PEER_PYTHON), arguments, config_env)
        answer = json.loads([line for line in stdout.splitlines() if line.startswith(RESULT)][-1][len(RESULT) :])
        results[configuration] = {
            "predictor_s": answer["infer_s"],
            "process_s": round(seconds, 2),
            "peak_rss_gib": round(peak, 3),
            "patch_size": trained["patch_size"],
            "mirroring": False,
        }
        print(json.dumps({configuration: results[configuration]}), flush=True)
    return results


# -- the benchmark -----------------------------------------------------------------------------


def _median_run(runs: list[dict]) -> dict:
    middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {**middle, "seconds_each": [r["seconds"] for r in runs]}


def compare_variants(work: Path, repeats: int, inputs: dict[str, Path]) -> dict:
    """``before`` and ``now`` on each input, interleaved; the median run of each."""
    bundle = write_weights(work / "bundle4", 4)
    runs: dict[str, list[dict]] = {}
    for _ in range(repeats):
        for source, dataset in inputs.items():
            for variant, overrides in VARIANTS.items():
                if variant != "now" and source == "dicom":
                    continue  # the NIfTI shows the change; the DICOM series adds reading and the SEG
                runs.setdefault(f"{source}/{variant}", []).append(
                    in_fresh_process(
                        dataset=str(dataset),
                        bundle_root=str(bundle),
                        output_dir=str(work / "out" / variant),
                        overrides=overrides,
                    )
                )
    return {name: _median_run(values) for name, values in runs.items()}


def memory_by_size_and_classes(work: Path, quick: bool) -> list[dict]:
    rows = []
    for slices in (100, 200) if quick else (100, 200, 300):
        dataset = write_ct(work / f"nifti{slices}", slices, dicom=False)
        for classes in (4, 14):
            bundle = write_weights(work / f"bundle{classes}", classes)
            run = in_fresh_process(
                dataset=str(dataset),
                bundle_root=str(bundle),
                output_dir=str(work / "out" / "sizes"),
                overrides={"num_classes": classes},
            )
            rows.append(
                {"slices": slices, "classes": classes, "seconds": run["seconds"], "peak_rss_gib": run["peak_rss_gib"]}
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat, 200 slices at most, no end-to-end run")
    parser.add_argument("--work", type=Path, default=None, help="keep the generated data here (default: a temp dir)")
    parser.add_argument("--nnunet", action="store_true", help="also nnU-Net v2's predictor (make peer-install)")
    parser.add_argument(
        "--nnunet-from",
        type=Path,
        default=None,
        help="instead of --nnunet: nnU-Net's figures from an earlier results file of this benchmark (kept with "
        "that run's git revision and machine); its 35 minutes of prediction need not run again",
    )
    parser.add_argument(
        "--nnunet-only",
        nargs="+",
        default=None,
        help="with --nnunet: run only these configurations (e.g. 2d 3d_lowres, without the 35 minutes of "
        "3d_fullres); with --nnunet-from too, the others come from that file, marked as such",
    )
    parser.add_argument("--one-run", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(stage_times(**json.loads(args.one_run))))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="clinical_ct_"))
    slices = 200 if args.quick else SHAPE[2]
    inputs = {
        "nifti": write_ct(work / f"nifti{slices}", slices, dicom=False),
        "dicom": write_ct(work / f"dicom{slices}", slices, dicom=True),
    }
    if args.nnunet and args.nnunet_from and not args.nnunet_only:
        parser.error("--nnunet and --nnunet-from exclude each other (unless --nnunet-only names what runs)")
    test_case = inputs["nifti"] / "imagesTs" / "ct.nii.gz"
    peer = nnunet_predictions(work, test_case, 5.0, args.nnunet_only) if args.nnunet else None
    results = {
        "volume": {"shape": [*SHAPE[:2], slices], "spacing_mm": list(SPACING), "generated": True},
        "bundle": "unet3d_ct_organs, configs inference.json + cpu.json, untrained weights",
        "variants": {"before": BEFORE, "now_torch": VARIANTS["now_torch"], "now": "the bundle's defaults"},
        "repeats": 1 if args.quick else args.repeats,
        "stages": compare_variants(work, 1 if args.quick else args.repeats, inputs),
    }
    print(json.dumps(results["stages"], indent=1), flush=True)
    results["memory"] = memory_by_size_and_classes(work, args.quick)
    if not args.quick:
        bundle = write_weights(work / "bundle4", 4)
        results["end_to_end"] = {
            source: end_to_end(dataset, bundle, work / "out" / f"cli_{source}") for source, dataset in inputs.items()
        }
        print(json.dumps(results["end_to_end"]), flush=True)
    nnunet = dict(peer or {})
    if args.nnunet_from is not None:
        earlier = json.loads(args.nnunet_from.read_text())
        kept = {name: figures for name, figures in earlier["nnunet"].items() if name not in nnunet}
        nnunet.update({name: {**figures, "from_earlier_run": True} for name, figures in kept.items()})
        results["nnunet_run"] = {"git_revision": earlier["git_revision"], "machine": earlier["machine"]}
    if nnunet:
        results["nnunet"] = nnunet
    print(write_results("clinical_ct_cpu" if not args.quick else "clinical_ct_quick_cpu", results))


if __name__ == "__main__":
    main()
