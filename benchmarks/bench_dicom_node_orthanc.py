"""The DICOM node between a real Orthanc and itself: latency, instances per second, memory.

Orthanc (Debian's package, started on loopback with a configuration of this script's own)
holds 5 CT series, one study each: the sample CT volumes (``write_sample_data``: 128x128x40
voxels) written as DICOM (40 slices each). For
each of 5 series back to back, Orthanc sends it to the node (``/modalities/node/store``, one
C-STORE association) and the clock stops when the node's DICOM SEG is in Orthanc. The node is
``python -m monai_unet2015 dicom-node serve`` in its own process (the CT bundle's default network
and tile, weights drawn at random: the time does not depend on them), so its memory is read
from ``/proc``: resident size when idle after start, and the peak (VmHWM) after the 5 series.
The latency includes the node's ``--series-timeout`` (quiet time that ends a series).

    python benchmarks/bench_dicom_node_orthanc.py      # needs Orthanc: apt-get install orthanc
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_dicom_node import bundle_with_weights, free_port  # noqa: E402
from common import memory_kib, write_results  # noqa: E402

from monai_unet2015.data import write_dicom_series, write_sample_data  # noqa: E402
from tests.dicom_node.test_hospital_peers import Orthanc  # noqa: E402
from tests.dicom_node.test_node import echo, wait_for  # noqa: E402

SERIES = 5
SERIES_TIMEOUT = 2.0


def seg_count(orthanc: Orthanc) -> int:
    return sum(1 for s in orthanc.get("/series?expand") if s["MainDicomTags"].get("Modality") == "SEG")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench_node_orthanc_"))
    write_sample_data(root / "sample", num_ct=SERIES, num_mri=0, num_cells=0, dicom=False)
    volumes = sorted((root / "sample" / "ct").rglob("ct_*.nii.gz"))
    volumes = [v for v in volumes if "labels" not in v.parent.name][:SERIES]
    for index, path in enumerate(volumes):
        image = nib.load(path)
        write_dicom_series(np.asarray(image.dataobj, np.float32), image.affine, root / "series" / f"s{index}")
    bundle = bundle_with_weights(root / "bundle")
    node_port = free_port()
    orthanc = Orthanc(root, node_port)
    command = [sys.executable, "-m", "monai_unet2015", "dicom-node", "serve", "--bundle", str(bundle)]
    command += ["--ae-title", "UNET_NODE", "--host", "127.0.0.1", "--port", str(node_port)]
    command += ["--destination", f"ORTHANC@127.0.0.1:{orthanc.dicom}", "--work-dir", str(root / "work")]
    command += ["--series-timeout", str(SERIES_TIMEOUT), "--allowed-ae", "ORTHANC", "--allowed-ae", "SCANNER"]
    with open(root / "node.log", "w") as log:
        node = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: echo(node_port), 120, "the node")
        time.sleep(2.0)
        idle = memory_kib(node.pid)
        studies = []
        for folder in sorted((root / "series").iterdir()):
            for path in sorted(folder.iterdir()):
                orthanc.post("/instances", path.read_bytes())
        studies = orthanc.get("/studies")
        latencies, rates = [], []
        for study in studies:
            before = seg_count(orthanc)
            began = time.perf_counter()
            orthanc.post("/modalities/node/store", json.dumps({"Resources": [study]}).encode(), "application/json")
            sent = time.perf_counter()
            instances = len(orthanc.get(f"/studies/{study}/instances"))
            rates.append(instances / (sent - began))
            wait_for(lambda before=before: seg_count(orthanc) > before, 600, "the SEG in Orthanc")
            latencies.append(time.perf_counter() - began)
        peak = memory_kib(node.pid)
    finally:
        node.terminate()
        node.wait(timeout=60)
        orthanc.stop()
    results = {
        "series": SERIES,
        "slices_per_series": [len(list(f.iterdir())) for f in sorted((root / "series").iterdir())],
        "series_timeout_seconds": SERIES_TIMEOUT,
        "latency_seconds": [round(v, 2) for v in latencies],
        "latency_median_seconds": round(statistics.median(latencies), 2),
        "latency_median_without_quiet_time_seconds": round(statistics.median(latencies) - SERIES_TIMEOUT, 2),
        "instances_per_second_received": [round(v, 1) for v in rates],
        "instances_per_second_median": round(statistics.median(rates), 1),
        "node_memory_mib": {"idle_rss": round(idle["VmRSS"] / 1024, 1), "peak_rss": round(peak["VmHWM"] / 1024, 1)},
        "peers": "Orthanc 1.10.1 (Debian) sending by C-STORE; the node's SEG back to Orthanc",
    }
    print(write_results("dicom_node_orthanc_cpu", results))


if __name__ == "__main__":
    main()
