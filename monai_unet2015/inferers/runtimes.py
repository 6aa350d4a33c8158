"""Run a network's tiles through an exported runtime: ONNX Runtime or OpenVINO, on the CPU.

:class:`~monai_unet2015.inferers.OverlapTileInferer` (``backend="onnxruntime"`` /
``"openvino"``) exports the network to ONNX once (:func:`export_onnx`; batch and spatial
axes free) and runs every tile there instead of in PyTorch.
``benchmarks/bench_runtimes.py`` measures them against PyTorch fp32, bf16 and bf16 with
channels-last in one run. Both runtimes are optional (``pip install onnxruntime`` /
``pip install openvino``); the core does not import them.
"""

from __future__ import annotations

import io
import tempfile
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.utils import optional_import

from monai_unet2015.inferers.precision import cpu_has_native_bf16

__all__ = [
    "BACKENDS",
    "BACKEND_PRECISIONS",
    "export_onnx",
    "OnnxRuntimeTiles",
    "OpenVinoTiles",
    "ExportedNetworks",
    "MODEL_SUFFIXES",
    "tiles_from_file",
    "require_runtime",
    "runtime_available",
    "smallest_valid_tile",
]

ort, has_onnxruntime = optional_import("onnxruntime")
ov, has_openvino = optional_import("openvino")

BACKENDS = ("torch", "onnxruntime", "openvino")
#: the precisions each exported runtime computes in (PyTorch: all of ``PRECISIONS``)
BACKEND_PRECISIONS = {"onnxruntime": ("fp32",), "openvino": ("fp32", "bf16")}
_INSTALL = {"onnxruntime": "pip install onnxruntime", "openvino": "pip install openvino"}
_OPSET = 17


def export_onnx(network: torch.nn.Module, in_channels: int, example_size: Sequence[int], path=None) -> bytes:
    """The network as an ONNX model for input tiles ``(N, in_channels, *S)``, any ``N`` and valid ``S``.

    Traced once on an ``example_size`` tile in eval mode (opset 17, input ``image``, output
    ``logits``); batch and spatial axes stay free, so one export serves every tile size a
    valid-convolution net is run at (its crops are traced as shape arithmetic:
    ``tests/inferers/test_runtimes.py`` runs an export at other sizes). PyTorch's
    TorchScript-based exporter is used, not the ``torch.export``-based default: that one
    would need the valid-size rule as symbolic constraints to leave the spatial axes free.

    Args:
        network: the network (its current weights are exported; its train / eval mode is kept).
        in_channels: input channels.
        example_size: a valid spatial input size to trace with.
        path: also write the model there (a ``.onnx`` file).

    Returns:
        the serialised ONNX model.

    Example::

        >>> from monai_unet2015.networks import UNet2015
        >>> model = export_onnx(UNet2015(2, 1, 2, features=(4, 8, 16)), 1, (44, 44))
        >>> len(model) > 1000
        True
    """
    axes = {0: "batch", **{2 + i: f"spatial{i}" for i in range(len(example_size))}}
    buffer = io.BytesIO()
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the exporter's deprecation notice, and the tracer's note on the size checks' branches
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                network,
                (torch.zeros((1, in_channels, *example_size)),),
                buffer,
                dynamo=False,
                opset_version=_OPSET,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": axes, "logits": axes},
            )
    finally:
        network.train(was_training)
    model = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(model)
    return model


def runtime_available(runtime: str) -> bool:
    """Whether ``runtime``'s package is installed (``"torch"`` always is)."""
    return {"onnxruntime": has_onnxruntime, "openvino": has_openvino}.get(runtime, True)


def smallest_valid_tile(network, tile: Sequence[int]) -> tuple[int, ...]:
    """The smallest valid input tile where the network says (``input_size``), else ``tile``.

    What an export traces: one forward pass on it costs milliseconds, not the seconds of a
    full fp32 tile, and the exported model takes every valid size anyway.

    Example::

        >>> from monai_unet2015.networks import UNet3D
        >>> smallest_valid_tile(UNet3D(1, 2, features=(4, 8, 16)), (132, 132, 116))
        (44, 44, 44)
    """
    if callable(getattr(network, "input_size", None)):
        return tuple(network.input_size([1] * len(tile)))
    return tuple(tile)


def require_runtime(runtime: str) -> None:
    """``ImportError`` naming the install command where ``runtime``'s package is missing."""
    if not runtime_available(runtime):
        raise ImportError(f"runtime {runtime!r} is not installed: {_INSTALL[runtime]}.")


class OnnxRuntimeTiles:
    """An ONNX model run by ONNX Runtime's CPU provider: ``tiles (N, C, *S) -> (N, C_out, *S')``.

    Args:
        model: the serialised ONNX model (:func:`export_onnx`) or a path to one.
        threads: intra-op threads; default: PyTorch's (``torch.get_num_threads()``).

    Example::

        >>> import torch
        >>> from monai_unet2015.networks import UNet2015
        >>> net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
        >>> tiles = OnnxRuntimeTiles(export_onnx(net, 1, (44, 44)))
        >>> tiles(torch.rand(3, 1, 60, 60)).shape  # any batch, any valid size
        torch.Size([3, 2, 20, 20])
    """

    def __init__(self, model: bytes | str | Path, threads: int | None = None) -> None:
        require_runtime("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        source = str(model) if isinstance(model, (str, Path)) else model
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    def __call__(self, tiles: torch.Tensor) -> torch.Tensor:
        array = tiles.detach().cpu().float().numpy()
        return torch.from_numpy(self.session.run(None, {"image": np.ascontiguousarray(array)})[0])


class OpenVinoTiles:
    """An ONNX model compiled by OpenVINO for the CPU: ``tiles (N, C, *S) -> (N, C_out, *S')``.

    The model is read once and compiled for each tile shape it meets (a few tens of
    milliseconds each; the last :attr:`max_shapes` compiled shapes are kept).

    Args:
        model: the serialised ONNX model (:func:`export_onnx`) or a path to one (``.onnx`` or
            an OpenVINO IR ``.xml``).
        precision: ``"fp32"`` or ``"bf16"`` (OpenVINO's ``INFERENCE_PRECISION_HINT``; bf16
            only pays where the CPU computes it natively).
        threads: inference threads; default: PyTorch's (``torch.get_num_threads()``).

    Example::

        >>> import torch
        >>> from monai_unet2015.networks import UNet3D
        >>> net = UNet3D(1, 3, features=(4, 8, 16)).eval()
        >>> tiles = OpenVinoTiles(export_onnx(net, 1, (44, 44, 44)), precision="fp32")
        >>> tiles(torch.rand(1, 1, 44, 52, 60)).shape
        torch.Size([1, 3, 4, 12, 20])
    """

    max_shapes = 4

    def __init__(self, model: bytes | str | Path, precision: str = "fp32", threads: int | None = None) -> None:
        require_runtime("openvino")
        if precision not in BACKEND_PRECISIONS["openvino"]:
            raise ValueError(f"precision must be one of {BACKEND_PRECISIONS['openvino']}, got {precision!r}.")
        self.core = ov.Core()
        if isinstance(model, (str, Path)):
            self.model = self.core.read_model(str(model))
        else:
            with tempfile.TemporaryDirectory() as folder:  # OpenVINO reads ONNX from a file
                onnx_file = Path(folder) / "network.onnx"
                onnx_file.write_bytes(model)
                self.model = self.core.read_model(str(onnx_file))
        self.config = {
            "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
            "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._compiled: OrderedDict[tuple[int, ...], object] = OrderedDict()

    def compiled_for(self, shape: Sequence[int]):
        """The model compiled for input tiles of ``shape`` ``(N, C, *S)``."""
        shape = tuple(shape)
        if shape not in self._compiled:
            static = self.model.clone()
            static.reshape(list(shape))
            self._compiled[shape] = self.core.compile_model(static, "CPU", self.config)
            if len(self._compiled) > self.max_shapes:
                self._compiled.popitem(last=False)
        self._compiled.move_to_end(shape)
        return self._compiled[shape]

    def __call__(self, tiles: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(tiles.detach().cpu().float().numpy())
        compiled = self.compiled_for(array.shape)
        return torch.from_numpy(compiled(array)[compiled.output(0)])


#: the exported model files a tile runner is made from: ONNX, and OpenVINO's IR (INT8 too)
MODEL_SUFFIXES = (".onnx", ".xml")


def tiles_from_file(path: str | Path) -> OnnxRuntimeTiles | OpenVinoTiles:
    """A tile runner for an exported model: ONNX Runtime for ``.onnx``, OpenVINO for an IR (``.xml``).

    What ``python -m monai_unet2015 export`` writes (``model.onnx``, ``model.xml``, and with
    ``--int8`` the quantised ``model_int8.xml``), for ``OverlapTileInferer(backend=PATH)`` and
    so the bundles' ``--backend PATH``. An IR runs its unquantised layers in bf16 where the CPU
    computes bf16 natively, else in fp32.

    Example::

        >>> import tempfile, torch
        >>> from monai_unet2015.networks import UNet2015
        >>> path = Path(tempfile.mkdtemp()) / "model.onnx"
        >>> _ = export_onnx(UNet2015(2, 1, 2, features=(4, 8, 16)).eval(), 1, (44, 44), path)
        >>> tiles_from_file(path)(torch.rand(1, 1, 60, 60)).shape
        torch.Size([1, 2, 20, 20])
    """
    path = Path(path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ValueError(f"backend {str(path)!r}: an exported model is a {' or '.join(MODEL_SUFFIXES)} file.")
    if not path.is_file():
        raise FileNotFoundError(
            f"backend {str(path)!r}: no such model file (python -m monai_unet2015 export writes one)."
        )
    if path.suffix == ".onnx":
        return OnnxRuntimeTiles(path)
    return OpenVinoTiles(path, "bf16" if cpu_has_native_bf16() else "fp32")


def _weights_stamp(network: torch.nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or updated in place (an optimiser step)."""
    return tuple((t.data_ptr(), t._version) for t in (*network.parameters(), *network.buffers()))


class ExportedNetworks:
    """A network's exported runtime, made on first use and again when its weights change.

    Keeps one exported network (the last network and precision asked for), so a loop over
    many cases exports once; training between two calls (new weights) is seen and exported
    again.

    Args:
        runtime: ``"onnxruntime"`` or ``"openvino"``.

    Example::

        >>> from monai_unet2015.networks import UNet2015
        >>> net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
        >>> exported = ExportedNetworks("onnxruntime")
        >>> exported(net, 1, (44, 44), "fp32") is exported(net, 1, (44, 44), "fp32")  # exported once
        True
    """

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self._network: weakref.ref | None = None
        self._key: tuple | None = None
        self._tiles = None

    def __call__(self, network: torch.nn.Module, in_channels: int, example_size: Sequence[int], precision: str):
        """The runtime for ``network``'s current weights; ``example_size``: a valid tile to trace with."""
        if not isinstance(network, torch.nn.Module):
            raise TypeError(f"runtime {self.runtime!r} exports a torch.nn.Module, got {type(network).__name__}.")
        key = (in_channels, precision, _weights_stamp(network))
        if self._network is None or self._network() is not network or self._key != key:
            self._tiles = None  # the previous runtime goes first
            model = export_onnx(network, in_channels, example_size)
            if self.runtime == "onnxruntime":
                self._tiles = OnnxRuntimeTiles(model)
            else:
                self._tiles = OpenVinoTiles(model, precision)
            self._network, self._key = weakref.ref(network), key
        return self._tiles
