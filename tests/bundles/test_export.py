"""A bundle's trained network exported: the ONNX and the OpenVINO IR compute what the bundle's network does."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from monai_unet2015.__main__ import main
from monai_unet2015.bundle import Predictor
from monai_unet2015.bundle.export import export_bundle
from monai_unet2015.bundle.locations import bundles_dir
from monai_unet2015.inferers import runtimes

ort = pytest.importorskip("onnxruntime")
ov = pytest.importorskip("openvino")

BUNDLE = bundles_dir() / "unet3d_ct_organs"
TINY = {"features": [4, 8, 16], "progress": False}


def test_the_exported_files_compute_the_bundles_network(tiny_ct_weights, tmp_path, monkeypatch):
    def converter(*args, **kwargs):
        raise AssertionError("OpenVINO's converter sends usage telemetry: the export must not call it")

    monkeypatch.setattr(ov, "convert_model", converter)
    overrides = {"bundle_root": str(tiny_ct_weights), **TINY}
    written = export_bundle(BUNDLE, tmp_path / "export", overrides=overrides)
    assert sorted(written) == ["metadata", "onnx", "openvino"]
    metadata = json.loads(written["metadata"].read_text())
    assert metadata["network"] == "UNet3D" and metadata["output"]["channels"] == 4
    assert metadata["smallest_valid_tile"] == [44, 44, 44] and metadata["tile_alignment"] == 4
    assert metadata["settings"]["features"] == [4, 8, 16]
    network = Predictor(BUNDLE, overrides=overrides).network
    tiles = torch.rand(2, 1, 44, 52, 60)  # not the traced size: every valid size runs
    with torch.no_grad():
        expected = network(tiles).numpy()
    onnx = ort.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(onnx.run(None, {"image": tiles.numpy()})[0], expected, atol=1e-4, rtol=1e-4)
    ir = ov.Core().read_model(str(written["openvino"]))
    ir.reshape(list(tiles.shape))
    compiled = ov.Core().compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(compiled(tiles.numpy())[0], expected, atol=1e-4, rtol=1e-4)


def test_the_command_writes_onnx_only_when_asked(tiny_ct_weights, tmp_path, capsys):
    code = main(
        ["export", str(BUNDLE), "--output-dir", str(tmp_path / "out"), "--format", "onnx"]
        + ["--override", f"bundle_root={tiny_ct_weights}", "--override", "features=[4,8,16]"]
    )
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["export.json", "model.onnx"]
    assert f"onnx: {tmp_path / 'out' / 'model.onnx'}" in capsys.readouterr().out


def test_the_command_names_what_is_missing(tmp_path, capsys, monkeypatch):
    assert main(["export", str(BUNDLE), "--output-dir", str(tmp_path), "--override", f"bundle_root={tmp_path}"]) == 2
    assert "model.pt" in capsys.readouterr().err
    monkeypatch.setattr(runtimes, "has_openvino", False)
    assert main(["export", str(BUNDLE), "--output-dir", str(tmp_path), "--format", "openvino"]) == 2
    assert "runtime 'openvino' is not installed: pip install openvino" in capsys.readouterr().err
    assert main(["export", str(BUNDLE), "--output-dir", str(tmp_path), "--format", "tensorrt"]) == 2
    assert "format must be one of ('onnx', 'openvino'), got 'tensorrt'" in capsys.readouterr().err


class _Reporting:
    """Stands for NNCF's telemetry client: any report is a test failure."""

    def __getattr__(self, name):
        raise AssertionError(f"NNCF reported usage ({name}): the export must send nothing")


def test_int8_export_runs_in_the_bundles_inference_and_reports_nothing(
    ct_sample, tiny_ct_weights, tmp_path, monkeypatch
):
    nncf_telemetry = pytest.importorskip("nncf.telemetry.decorator")
    monkeypatch.setattr(nncf_telemetry, "telemetry", _Reporting())  # NNCF stubs itself only under pytest
    overrides = {"bundle_root": str(tiny_ct_weights), **TINY}
    written = export_bundle(BUNDLE, tmp_path / "export", overrides=overrides, int8_calibration=ct_sample / "ct")
    assert written["openvino_int8"].name == "model_int8.xml"
    operations = {op.get_type_name() for op in ov.Core().read_model(str(written["openvino_int8"])).get_ops()}
    assert "FakeQuantize" in operations  # quantised, not a copy of the fp32 IR
    image = ct_sample / "ct" / "imagesTs" / "ct_002.nii.gz"
    fp32 = Predictor(BUNDLE, overrides=overrides)(image)
    int8 = Predictor(BUNDLE, overrides={**overrides, "backend": str(written["openvino_int8"])})(image)
    assert int8.shape == fp32.shape
    agreement = float((int8 == fp32).float().mean())
    assert agreement > 0.9, agreement  # an untrained net: near ties everywhere (a trained one: bench_runtimes.py)


def test_int8_export_needs_nncf_and_says_so(tiny_ct_weights, tmp_path, capsys, monkeypatch):
    from monai_unet2015.bundle import export

    monkeypatch.setattr(export, "HAS_NNCF", False)
    arguments = ["export", str(BUNDLE), "--output-dir", str(tmp_path), "--int8", str(tmp_path)]
    assert main(arguments + ["--override", f"bundle_root={tiny_ct_weights}"]) == 2
    assert "int8_calibration: INT8 quantisation needs NNCF: pip install nncf." in capsys.readouterr().err
