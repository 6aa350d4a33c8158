"""The DICOM node between real hospital software: dcmtk's storescu as the sender, Orthanc as the PACS.

Debian's ``dcmtk`` and ``orthanc`` packages (``.ci/run`` and ``make test`` install them where
they are missing). Each test starts its own Orthanc on 127.0.0.1 with a configuration of its
own, and a node in this process that sends its SEGs there; Orthanc's REST API shows what it
stored. Without the programs these tests skip and say so.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import urllib.request

import numpy as np
import pydicom
import pytest

from tests.dicom_node.test_network_rules import InProcessNode, ct_series, uid_of
from tests.dicom_node.test_node import wait_for
from tests.ports import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("Orthanc") is None, reason="Orthanc is not installed (apt-get install orthanc)"),
    pytest.mark.skipif(shutil.which("storescu") is None, reason="dcmtk is not installed (apt-get install dcmtk)"),
]


class Orthanc:
    """An Orthanc server of this test's own on loopback, knowing the node as the modality ``node``."""

    def __init__(self, root, node_port: int) -> None:
        self.http, self.dicom = free_port(), free_port()
        config = {
            "Name": "test",
            "StorageDirectory": str(root / "storage"),
            "IndexDirectory": str(root / "index"),
            "HttpPort": self.http,
            "DicomPort": self.dicom,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [],
            "DicomModalities": {"node": ["UNET_NODE", "127.0.0.1", node_port]},
        }
        (root / "orthanc.json").write_text(json.dumps(config))
        self.log = open(root / "orthanc.log", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            ["Orthanc", str(root / "orthanc.json")], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: self.process.poll() is not None or self._answers(), 180, "Orthanc's REST API")
        assert self.process.poll() is None, (root / "orthanc.log").read_text()[-2000:]

    def _answers(self) -> bool:
        try:
            self.get("/system")
            return True
        except OSError:
            return False

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=10) as answer:
            return json.loads(answer.read())

    def post(self, path: str, body: bytes, content_type: str = "application/octet-stream"):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http}{path}", data=body, headers={"Content-Type": content_type}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())

    def instances_of_modality(self, modality: str) -> list[dict]:
        found = []
        for series in self.get("/series?expand"):
            if series["MainDicomTags"].get("Modality") == modality:
                found += [self.get(f"/instances/{i}/simplified-tags") for i in series["Instances"]]
        return found

    def dataset_of_modality(self, modality: str) -> pydicom.Dataset:
        """The one instance of ``modality`` Orthanc holds, as Orthanc gives it back."""
        (series,) = [s for s in self.get("/series?expand") if s["MainDicomTags"].get("Modality") == modality]
        return self.dataset_of_instance(series["Instances"][0])

    def dataset_of_instance(self, orthanc_id: str) -> pydicom.Dataset:
        url = f"http://127.0.0.1:{self.http}/instances/{orthanc_id}/file"
        with urllib.request.urlopen(url, timeout=30) as answer:
            return pydicom.dcmread(io.BytesIO(answer.read()))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def peers(bundle, tmp_path, request):
    """(orthanc, node) with the node sending its SEGs (and, where the test asks, more) to Orthanc."""
    node_port = free_port()
    orthanc = Orthanc(tmp_path, node_port)
    running = InProcessNode(
        bundle,
        tmp_path / "work",
        destination=f"ORTHANC@127.0.0.1:{orthanc.dicom}",
        port=node_port,
        allowed=["STORESCU", "ORTHANC"],
        outputs=getattr(request, "param", ("seg",)),
    )
    node = running.node
    yield orthanc, node
    running.close()
    orthanc.stop()


def storescu(port: int, files, calling: str = "STORESCU", *options: str) -> None:
    command = ["storescu", *options, "-aet", calling, "-aec", "UNET_NODE", "127.0.0.1", str(port), *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def the_seg(orthanc: Orthanc, study_uid: str, series_uid: str) -> dict:
    (seg,) = wait_for(lambda: orthanc.instances_of_modality("SEG"), 240, "the SEG in Orthanc")
    assert seg["StudyInstanceUID"] == study_uid
    assert seg["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg["ReferencedSeriesSequence"][0]["SeriesInstanceUID"] == series_uid
    return seg


@pytest.mark.parametrize("per_instance", [False, True], ids=["one association", "one association per instance"])
def test_storescu_to_the_node_and_the_seg_stored_in_orthanc_in_the_same_study(peers, tmp_path, per_instance):
    orthanc, node = peers
    files = ct_series(tmp_path / "series")
    if per_instance:
        for path in files:
            storescu(node.port, [path])
    else:
        storescu(node.port, files)
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    seg = the_seg(orthanc, study, uid_of(files[0]))
    referenced = {
        i["ReferencedSOPInstanceUID"] for i in seg["ReferencedSeriesSequence"][0]["ReferencedInstanceSequence"]
    }
    assert referenced == {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}


def test_orthanc_sends_a_study_to_the_node_and_gets_the_seg_back(peers, tmp_path):
    orthanc, node = peers
    files = ct_series(tmp_path / "series")
    for path in files:
        orthanc.post("/instances", path.read_bytes())
    (study,) = orthanc.get("/studies")
    orthanc.post("/modalities/node/store", json.dumps({"Resources": [study]}).encode(), "application/json")
    study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    the_seg(orthanc, study_uid, uid_of(files[0]))
    time.sleep(1.0)
    assert len(orthanc.get(f"/studies/{study}")["Series"]) == 2  # the CT and its SEG, one study


@pytest.mark.parametrize(
    "compressor, propose, syntax",
    [
        (["dcmcrle"], "-xr", pydicom.uid.RLELossless),
        (["dcmcjpeg", "+e1"], "-xs", pydicom.uid.JPEGLosslessSV1),
        (["dcmcjpls", "+el"], "-xt", pydicom.uid.JPEGLSLossless),
    ],
    ids=["RLE", "JPEG lossless SV1", "JPEG-LS lossless"],
)
def test_a_losslessly_compressed_series_gives_the_uncompressed_ones_seg(
    bundle, peers, tmp_path, compressor, propose, syntax
):
    from monai_unet2015.dicom_node import BundleSegmenter
    from tests.dicom_node.test_node import OVERRIDES

    orthanc, node = peers
    files = ct_series(tmp_path / "series")
    compressed = tmp_path / "compressed"
    compressed.mkdir()
    for path in files:
        subprocess.run([*compressor, str(path), str(compressed / path.name)], check=True, capture_output=True)
    # the compressed syntax first, then the uncompressed ones: before, the node accepted only
    # those, and storescu (which does not decompress) could send nothing
    storescu(node.port, sorted(compressed.iterdir()), "STORESCU", propose)
    stored = sorted(node.journal.series_dir(uid_of(files[0])).iterdir())
    assert {pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID for p in stored} == {syntax}
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    the_seg(orthanc, study, uid_of(files[0]))
    received = orthanc.dataset_of_modality("SEG")
    uncompressed = pydicom.dcmread(BundleSegmenter(bundle, OVERRIDES).segment(tmp_path / "series", tmp_path / "own"))
    assert np.array_equal(received.pixel_array, uncompressed.pixel_array)


def dciodvfy_errors(ds: pydicom.Dataset, folder) -> list[str]:
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    report = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True)
    return [line for line in (report.stdout + report.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.parametrize("peers", [("seg", "rtstruct", "overlay", "sr")], indirect=True)
def test_seg_rtstruct_overlay_and_sr_come_back_to_orthanc_in_the_study_and_read_back_as_the_mask(peers, tmp_path):
    import nibabel as nib

    from monai_unet2015.data import series_grid
    from monai_unet2015.data.rtstruct_labels import rasterise_contours, read_rtstruct

    orthanc, node = peers
    files = ct_series(tmp_path / "series")
    storescu(node.port, files)
    uid = uid_of(files[0])
    wait_for(lambda: node.journal.records.get(uid) and node.journal.records[uid].state == "sent", 240, "sent")
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    seg, rtstruct = orthanc.dataset_of_modality("SEG"), orthanc.dataset_of_modality("RTSTRUCT")
    assert seg.StudyInstanceUID == rtstruct.StudyInstanceUID == study
    assert rtstruct.FrameOfReferenceUID == pydicom.dcmread(files[0], stop_before_pixels=True).FrameOfReferenceUID
    # read back from Orthanc, the contours are the node's own mask, voxel for voxel
    (nifti,) = node.journal.result_dir(uid).glob("*_seg.nii.gz")
    mask = np.asarray(nib.load(nifti).dataobj)
    grid = series_grid(files)
    rtstruct.save_as(tmp_path / "rt.dcm", enforce_file_format=True)
    rois = read_rtstruct(tmp_path / "rt.dcm")
    for number, roi in enumerate(rois, start=1):
        np.testing.assert_array_equal(rasterise_contours(roi, grid), mask == number)
    (study_id,) = orthanc.get("/studies")
    series = orthanc.get(f"/studies/{study_id}/series")
    (overlay,) = [s for s in series if "overlay" in s["MainDicomTags"].get("SeriesDescription", "")]
    assert len(series) == 4 and len(overlay["Instances"]) == len(files)  # SEG, RTSTRUCT, overlay, SR (CT: node only)
    report = orthanc.dataset_of_modality("SR")
    from tests.data.test_sr_writer import volumes_in

    measured = json.loads(next(node.journal.result_dir(uid).glob("*_volumes.json")).read_text())["structures"]
    assert volumes_in(report) == {s["name"]: (s["volume_ml"], "ml", s["value"]) for s in measured}
    if shutil.which("dciodvfy"):
        first_overlay = orthanc.dataset_of_instance(overlay["Instances"][0])
        for ds in (seg, rtstruct, first_overlay, report):
            assert dciodvfy_errors(ds, tmp_path) == [], ds.SOPClassUID.name
