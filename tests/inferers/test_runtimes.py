import numpy as np
import pytest
import torch

from monai_unet2015.inferers import OverlapTileInferer, runtimes
from monai_unet2015.inferers.runtimes import ExportedNetworks, OnnxRuntimeTiles, OpenVinoTiles, export_onnx
from monai_unet2015.networks import UNet3D, UNet2015, UNet2015Slices

ort = pytest.importorskip("onnxruntime")
ov = pytest.importorskip("openvino")

NETWORKS = {
    "2d": lambda: UNet2015(2, 2, 3, features=(4, 8, 16)).eval(),
    "3d": lambda: UNet3D(1, 4, features=(2, 4, 8)).eval(),
    "slices": lambda: UNet2015Slices(1, 3, features=(4, 8, 16)).eval(),
}
# a tile to trace with, then tiles of other valid sizes the one export must run
SIZES = {"2d": [(44, 44), (60, 76), (92, 44)], "3d": [(44, 44, 44), (60, 44, 52)]}


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_one_export_runs_every_valid_tile_size_as_torch_does(dims, runtime):
    torch.manual_seed(0)
    net = NETWORKS[dims]()
    channels = net.contracting[0][0].in_channels
    model = export_onnx(net, channels, SIZES[dims][0])
    tiles = OnnxRuntimeTiles(model) if runtime == "onnxruntime" else OpenVinoTiles(model, "fp32")
    for batch, size in zip((1, 3, 2), SIZES[dims]):
        x = torch.randn(batch, channels, *size)
        with torch.no_grad():
            expected = net(x)
        np.testing.assert_allclose(tiles(x).numpy(), expected.numpy(), atol=1e-4, rtol=1e-4)


INFERER_CASES = [
    # dims, image size, tile budget, flips, argmax
    ("2d", (130, 97), 92 * 92, [0, 1], False),
    ("2d", (70, 45), 60 * 60, [], True),
    ("3d", (50, 61, 47), 60**3, [2], False),
    ("3d", (50, 61, 47), 60**3, [], True),
    ("slices", (90, 70, 9), 100 * 100 * 5, [0], False),
]


@pytest.mark.parametrize("dims,size,budget,flips,argmax", INFERER_CASES)
@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_inferer_with_a_backend_equals_torch(dims, size, budget, flips, argmax, runtime):
    torch.manual_seed(1)
    net = NETWORKS[dims]()
    image = torch.rand(2, 2 if dims == "2d" else 1, *size)
    settings = {"max_tile_voxels": budget, "flip_axes": flips, "argmax": argmax, "sw_batch_size": 2}
    with torch.no_grad():
        expected = OverlapTileInferer(None, **settings)(image, net)
        result = OverlapTileInferer(None, backend=runtime, precision="fp32", **settings)(image, net)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    if argmax:
        assert (result == expected).float().mean() > 0.999  # float noise at near ties of an untrained net
    else:
        torch.testing.assert_close(result, expected, atol=1e-4, rtol=1e-4)


def test_openvino_bf16_keeps_the_labels():
    torch.manual_seed(2)
    net = NETWORKS["3d"]()
    image = torch.rand(1, 1, 60, 60, 60)
    with torch.no_grad():
        fp32 = OverlapTileInferer(None, max_tile_voxels=60**3)(image, net)
        bf16 = OverlapTileInferer(None, max_tile_voxels=60**3, backend="openvino", precision="bf16")(image, net)
    assert (bf16.argmax(1) == fp32.argmax(1)).float().mean() > 0.98  # untrained logits: many near ties


def test_the_network_is_exported_again_only_when_its_weights_change(monkeypatch):
    exports = []
    real_export = runtimes.export_onnx
    monkeypatch.setattr(runtimes, "export_onnx", lambda *a, **k: exports.append(a) or real_export(*a, **k))
    net = NETWORKS["2d"]()
    image = torch.rand(1, 2, 70, 45)
    inferer = OverlapTileInferer((60, 60), backend="onnxruntime")
    with torch.no_grad():
        first, again = inferer(image, net), inferer(image, net)
        assert len(exports) == 1 and torch.equal(first, again)
        for parameter in net.parameters():
            parameter.add_(0.1)  # an optimiser step, in place
        changed = inferer(image, net)
        expected = OverlapTileInferer((60, 60))(image, net)
    assert len(exports) == 2
    torch.testing.assert_close(changed, expected, atol=1e-4, rtol=1e-4)


def test_openvino_keeps_only_the_last_compiled_shapes():
    tiles = OpenVinoTiles(export_onnx(NETWORKS["2d"](), 2, (44, 44)))
    for size in (44, 60, 76, 92, 108):
        tiles(torch.rand(1, 2, size, size))
    assert list(tiles._compiled) == [(1, 2, s, s) for s in (60, 76, 92, 108)]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"backend": "tensorrt"}, r"backend: Unsupported option 'tensorrt', Available options are"),
        ({"backend": "onnxruntime", "precision": "bf16"}, r"precision 'bf16' is not computed by backend 'onnxruntime'"),
        ({"backend": "openvino", "precision": "fp16"}, r"precision 'fp16' is not computed by backend 'openvino'"),
        ({"backend": "openvino", "memory_format": "channels_last"}, r"memory_format='channels_last' and compile=True"),
        ({"backend": "onnxruntime", "compile": True}, r"are PyTorch's; backend 'onnxruntime' lays out"),
    ],
)
def test_invalid_backend_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OverlapTileInferer((60, 60), **kwargs)


@pytest.mark.parametrize(
    "kwargs,sw_device,installed,expected",
    [
        ({}, "cpu", True, "openvino"),
        ({}, "cpu", False, "torch"),
        ({}, "meta", True, "torch"),
        ({"compile": True}, "cpu", True, "torch"),
        ({"memory_format": "channels_last"}, "cpu", True, "torch"),
        ({"precision": "fp16"}, "cpu", True, "torch"),
        ({"backend": "onnxruntime"}, "cpu", True, "onnxruntime"),
    ],
)
def test_auto_backend_is_openvino_on_the_cpu_where_installed(monkeypatch, kwargs, sw_device, installed, expected):
    monkeypatch.setattr(runtimes, "has_openvino", installed)
    inferer = OverlapTileInferer((60, 60), **({"backend": "auto"} | kwargs))
    assert inferer.resolved_backend(torch.device(sw_device)) == expected


def test_auto_backend_segments_as_openvino_does():
    net, image = NETWORKS["2d"](), torch.rand(1, 2, 70, 45)
    with torch.no_grad():
        auto = OverlapTileInferer((60, 60), backend="auto", precision="fp32")(image, net)
        openvino = OverlapTileInferer((60, 60), backend="openvino", precision="fp32")(image, net)
    assert torch.equal(auto, openvino)


def test_backend_errors_name_the_problem(monkeypatch):
    with pytest.raises(ValueError, match=r"backend 'openvino' runs on the CPU, sw_device is meta"):
        OverlapTileInferer((60, 60), backend="openvino", sw_device="meta")(torch.rand(1, 2, 60, 60), NETWORKS["2d"]())
    with pytest.raises(TypeError, match=r"runtime 'onnxruntime' exports a torch.nn.Module, got function"):
        ExportedNetworks("onnxruntime")(lambda x: x, 1, (44, 44), "fp32")
    monkeypatch.setattr(runtimes, "has_openvino", False)
    with pytest.raises(ImportError, match=r"runtime 'openvino' is not installed: pip install openvino"):
        OverlapTileInferer((60, 60), backend="openvino")
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\), got 'int8'"):
        monkeypatch.setattr(runtimes, "has_openvino", True)
        OpenVinoTiles(b"", precision="int8")


@pytest.mark.parametrize("suffix", [".onnx", ".xml"])
def test_an_exported_model_file_as_backend_segments_as_torch_does(suffix, tmp_path):
    torch.manual_seed(2)
    net = NETWORKS["2d"]()
    path = tmp_path / "model.onnx"
    export_onnx(net, 2, (44, 44), path)
    if suffix == ".xml":
        ov.save_model(ov.Core().read_model(str(path)), str(tmp_path / "model.xml"), compress_to_fp16=False)
        path = tmp_path / "model.xml"
    runner = runtimes.tiles_from_file(path)
    assert isinstance(runner, OnnxRuntimeTiles if suffix == ".onnx" else OpenVinoTiles)
    image, settings = torch.rand(1, 2, 90, 70), {"max_tile_voxels": 92 * 92, "flip_axes": [0]}
    with torch.no_grad():
        expected = OverlapTileInferer(None, **settings)(image, net)
        result = OverlapTileInferer(None, backend=str(path), **settings)(image, net)
    tolerance = 1e-4 if suffix == ".onnx" or not runtimes.cpu_has_native_bf16() else 0.1  # an IR runs in bf16 there
    torch.testing.assert_close(result, expected, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize(
    "path, error, match",
    [
        ("missing/model.xml", FileNotFoundError, r"backend 'missing/model.xml': no such model file \(python -m"),
        ("model.pt", ValueError, r"backend: Unsupported option 'model.pt'"),
    ],
)
def test_a_model_file_backend_that_cannot_be_read(path, error, match):
    with pytest.raises(error, match=match):
        OverlapTileInferer((60, 60), backend=path)


def test_tiles_from_file_names_the_model_files_it_reads(tmp_path):
    with pytest.raises(ValueError, match=r"backend '.*model.pt': an exported model is a .onnx or .xml file\."):
        runtimes.tiles_from_file(tmp_path / "model.pt")
