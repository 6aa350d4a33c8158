"""The DICOM node and batch inference: series-to-SEG latency, and cases per minute with 1 and 2 processes.

1. Latency, first series and later ones, with the model loaded once (the node as shipped:
   one :class:`~monai_unet2015.bundle.Predictor` per process) and, in the same run,
   made anew for each series (what the node did before the predictor: a fresh bundle
   workflow, network and weights per series). ``--series`` CT series (the sample data's two
   DICOM series, 128x128x40 voxels at 0.8 x 0.8 x 2.5 mm, each sent again with new UIDs) are
   sent by C-STORE, in one association each, to a running
   :class:`~monai_unet2015.dicom_node.DicomNode` (the CT bundle's default network and tile,
   weights drawn at random: the time does not depend on them); the clock stops when the
   DICOM SEG arrives at a test PACS on localhost. The latency includes the node's quiet time
   (``series_timeout``, 1 s here) that ends a series. Each variant's node runs in a fresh
   process: its resident memory idle (after start) and at peak (reset before the first series).
2. Throughput: the CT bundle's ``inference.json`` over 8 sample NIfTI images, with
   ``python -m monai.bundle run`` in one process and with ``torchrun --nproc_per_node 2`` and
   ``multi_gpu_inference.json`` (on the CPU each process gets one core: OMP_NUM_THREADS=1 for
   both runs, so the comparison is of the split, not of thread counts).

    python benchmarks/bench_dicom_node.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
import torch
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, SegmentationStorage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import memory_kib, write_results  # noqa: E402

from monai_unet2015.bundle.locations import bundles_dir  # noqa: E402
from monai_unet2015.bundle.workflow import bundle_run_command
from monai_unet2015.data import write_sample_data  # noqa: E402
from monai_unet2015.dicom_node import BundleSegmenter, DicomNode  # noqa: E402
from monai_unet2015.networks import UNet3D  # noqa: E402

BUNDLE = bundles_dir() / "unet3d_ct_organs"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bundle_with_weights(root: Path) -> Path:
    shutil.copytree(BUNDLE / "configs", root / "configs")
    (root / "models").mkdir()
    torch.manual_seed(0)
    torch.save(UNet3D(1, 4, features=(8, 16, 32)).state_dict(), root / "models" / "model.pt")
    return root


QUIET_SECONDS = 1.0


def with_new_uids(folder: Path) -> list[pydicom.Dataset]:
    """The series' slices as a new series of a new study (so the node does not take it for a re-send)."""
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    slices = []
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        slices.append(ds)
    return slices


def reset_peak_memory() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS


def latencies(bundle: Path, series: list[list[pydicom.Dataset]], work: Path, model_per_series: bool) -> dict:
    arrived: list[float] = []

    def on_store(event):
        arrived.append(time.perf_counter())
        return 0x0000

    pacs_ae = AE(ae_title="PACS")
    pacs_ae.add_supported_context(SegmentationStorage)
    pacs_port, node_port = free_port(), free_port()
    pacs = pacs_ae.start_server(("127.0.0.1", pacs_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    destination = f"PACS@127.0.0.1:{pacs_port}"
    node = DicomNode(
        bundle, "UNET_NODE", node_port, destination, work_dir=work, poll_interval=0.05, series_timeout=QUIET_SECONDS
    )
    if model_per_series:
        node.segmenter.segment = lambda series_dir, out: BundleSegmenter(bundle).segment(series_dir, out)
    node.start()
    idle = memory_kib()["VmRSS"]
    reset_peak_memory()
    seconds = []
    try:
        for slices in series:
            scanner = AE(ae_title="SCANNER")
            scanner.add_requested_context(CTImageStorage)
            began, before = time.perf_counter(), len(arrived)
            assoc = scanner.associate("127.0.0.1", node_port, ae_title="UNET_NODE")
            for ds in slices:
                assoc.send_c_store(ds)
            assoc.release()
            while len(arrived) == before:
                time.sleep(0.01)
            seconds.append(arrived[-1] - began)
        peak = memory_kib()["VmHWM"]
    finally:
        node.stop()
        pacs.shutdown()
    return {
        "seconds": [round(s, 2) for s in seconds],
        "first": round(seconds[0], 2),
        "later_median": round(statistics.median(seconds[1:]), 2),
        "rss_idle_mib": round(idle / 1024),
        "rss_peak_mib": round(peak / 1024),
    }


def batch_seconds(bundle: Path, images: Path, out: Path, processes: int) -> float:
    launcher = (
        [sys.executable]
        if processes == 1
        else [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", str(processes)]
    )
    configs = (
        "configs/inference.json" if processes == 1 else "['configs/inference.json','configs/multi_gpu_inference.json']"
    )
    command = bundle_run_command(configs, "--bundle_root", str(bundle), launcher=launcher)
    command += ["--dataset_dir", str(images), "--output_dir", str(out), "--progress", "false"]
    began = time.perf_counter()
    subprocess.run(command, cwd=bundle, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=6, help="series sent per variant (default 6)")
    parser.add_argument("--skip-batch", action="store_true", help="only the latency part")
    parser.add_argument("--one-variant", nargs=2, metavar=("VARIANT", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.one_variant:  # a child process: one variant's latencies as JSON on stdout
        variant, root = args.one_variant[0], Path(args.one_variant[1])
        folders = sorted((root / "sample" / "ct_dicom").iterdir())
        series = [with_new_uids(folders[i % len(folders)]) for i in range(args.series)]
        print(json.dumps(latencies(root / "bundle", series, root / f"work_{variant}", variant == "model_per_series")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_sample_data(root / "sample", num_ct=9, num_mri=0, num_cells=0)
        bundle = bundle_with_weights(root / "bundle")
        variants = {}
        for variant in ("model_per_series", "model_once"):  # each in a fresh process: no warm caches carried
            command = [sys.executable, __file__, "--series", str(args.series), "--one-variant", variant, str(root)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            variants[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        images = root / "sample" / "ct" / "imagesTr"
        cases = len(list(images.iterdir()))
        if not args.skip_batch:
            one = batch_seconds(bundle, images, root / "one", 1)
            two = batch_seconds(bundle, images, root / "two", 2)
    later = variants["model_per_series"]["later_median"] / variants["model_once"]["later_median"]
    results = {
        "series_to_seg_seconds": variants,
        "later_series_speed_up": round(later, 2),
        "quiet_seconds": QUIET_SECONDS,
        "series_slices": 40,
        "note": "each variant's node in a fresh process; model_per_series: what the node did before the predictor",
    }
    if not args.skip_batch:
        results["batch_inference"] = {
            "cases": cases,
            "one_process_seconds": round(one, 1),
            "two_processes_seconds": round(two, 1),
            "cases_per_minute": {"one": round(60 * cases / one, 1), "two": round(60 * cases / two, 1)},
            "speed_up": round(one / two, 2),
            "note": "wall time of the whole command, start-up (imports, weights) included; OMP_NUM_THREADS=1",
        }
    print(write_results("dicom_node_cpu" if not torch.cuda.is_available() else "dicom_node_cuda", results))


if __name__ == "__main__":
    main()
