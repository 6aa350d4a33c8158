"""A bundle's trained network written as ONNX, and as an OpenVINO IR where OpenVINO is installed.

What MONAI's ``python -m monai.bundle ckpt_export`` does for TorchScript, for the runtimes a
CPU-only site runs: ``python -m monai_unet2015 export BUNDLE --output-dir DIR``. The network
and its weights come from the bundle's :class:`~monai_unet2015.bundle.Predictor`
(the configs, the plan and the overrides inference uses, weights loaded strictly), so the
export is the network inference runs. ``--int8 FOLDER`` adds ``model_int8.xml``: the network
quantised by NNCF (OpenVINO's quantiser, ``pip install nncf``), calibrated on tiles of the
images in ``FOLDER``; ``--backend DIR/model_int8.xml`` runs a bundle's inference on it. NNCF is
imported only then, and sends none of its usage reports (:func:`_without_nncf_telemetry`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.utils import optional_import

from monai_unet2015.bundle.predictor import Predictor
from monai_unet2015.data import load_datalist
from monai_unet2015.inferers import extend_borders
from monai_unet2015.inferers.runtimes import export_onnx, require_runtime, runtime_available, smallest_valid_tile

ov, _ = optional_import("openvino")
HAS_NNCF = importlib.util.find_spec("nncf") is not None  # imported only to quantise (module docstring)

__all__ = ["EXPORT_FORMATS", "calibration_tiles", "export_bundle", "quantize_int8", "quantize_network_int8"]

EXPORT_FORMATS = ("onnx", "openvino")


def export_bundle(
    bundle_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    config_files: Sequence[str] = ("inference.json",),
    overrides: Mapping | None = None,
    args_file: str | os.PathLike | None = None,
    format: str | None = None,
    int8_calibration: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Write ``model.onnx`` (and ``model.xml`` / ``model.bin``) and ``export.json`` into ``output_dir``.

    The ONNX model takes tiles ``(N, C, *S)`` of any batch size ``N`` and any valid spatial
    size ``S`` (:func:`~monai_unet2015.inferers.runtimes.export_onnx`); ``export.json`` says
    which: the channels, the smallest valid tile and the tile alignment, with the bundle's
    settings the network was made from.

    Args:
        bundle_dir: the bundle folder with ``models/model.pt``.
        output_dir: where the files go (created).
        config_files: the bundle configs, as for :class:`~monai_unet2015.bundle.Predictor`.
        overrides: config overrides (``{"features": [4, 8, 16]}``...).
        args_file: the plan the model was trained with.
        format: ``"onnx"`` (``model.onnx`` only) or ``"openvino"`` (the IR too, made from the
            ONNX model); None: ``"openvino"`` where OpenVINO is installed, else ``"onnx"``.
            ``"openvino"`` without it is an ``ImportError`` naming the install command.
        int8_calibration: a folder of images (a dataset folder: its training images, never the
            ones you will score) to calibrate post-training INT8 quantisation on
            (:func:`quantize_int8`); writes ``model_int8.xml`` / ``.bin`` too. Needs OpenVINO
            and NNCF (``pip install nncf``).

    Returns:
        the written files by kind: ``onnx``, ``openvino`` (the ``.xml``), ``metadata``.
    """
    if format is None:
        format = "openvino" if runtime_available("openvino") else "onnx"
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {format!r}.")
    if format == "openvino" or int8_calibration is not None:
        require_runtime("openvino")
    if int8_calibration is not None and not HAS_NNCF:
        raise ImportError("int8_calibration: INT8 quantisation needs NNCF: pip install nncf.")
    predictor = Predictor(bundle_dir, config_files, overrides, args_file)
    network, config = predictor.network.cpu(), predictor.config
    in_channels = int(config.get("in_channels", 1))
    spatial_dims = int(network.spatial_dims)
    smallest = smallest_valid_tile(network, [1] * spatial_dims)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    written = {"onnx": output / "model.onnx"}
    export_onnx(network, in_channels, smallest, written["onnx"])
    if format == "openvino":
        written["openvino"] = output / "model.xml"
        # read_model, not convert_model: OpenVINO's converter sends usage telemetry unless opted
        # out, which a hospital machine must not. save_model halves weights to fp16 by default:
        # keep the trained fp32 weights.
        model = ov.Core().read_model(str(written["onnx"]))
        ov.save_model(model, str(written["openvino"]), compress_to_fp16=False)
    if int8_calibration is not None:
        written["openvino_int8"] = quantize_int8(predictor, int8_calibration, output / "model_int8.xml")
    written["metadata"] = output / "export.json"
    metadata = {
        "bundle": str(Path(bundle_dir).resolve()),
        "network": type(network).__name__,
        "input": {"name": "image", "shape": ["N", in_channels, *["S"] * spatial_dims]},
        "output": {"name": "logits", "channels": int(config["num_classes"])},
        "smallest_valid_tile": list(smallest),
        "tile_alignment": int(getattr(network, "tile_alignment", 1)),
        "settings": {key: config[key] for key in sorted(predictor.fixed) if key in config and _plain(config[key])},
        "files": {kind: path.name for kind, path in written.items()},
    }
    written["metadata"].write_text(json.dumps(metadata, indent=2) + "\n")
    return written


def calibration_tiles(image: torch.Tensor, tile: Sequence[int], count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` input tiles ``(1, C, *tile)`` cut at random from ``image`` ``(C, *S)``, mirrored past its border.

    Example::

        >>> [t.shape for t in calibration_tiles(torch.rand(1, 30, 50), (44, 44), 2)]
        [(1, 1, 44, 44), (1, 1, 44, 44)]
    """
    margins = [max(0, t - s) for t, s in zip(tile, image.shape[1:])]
    padded = extend_borders(torch.as_tensor(image)[None].float(), margins, margins, "reflect")[0]
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(count):
        start = [int(rng.integers(0, s - t + 1)) for s, t in zip(padded.shape[1:], tile)]
        region = tuple(slice(b, b + t) for b, t in zip(start, tile))
        tiles.append(padded[(slice(None), *region)][None].numpy().astype(np.float32))
    return tiles


@contextlib.contextmanager
def _without_nncf_telemetry() -> Iterator[None]:
    """NNCF's usage reports (Google Analytics) replaced by its own stub while it quantises.

    NNCF sends an event for each ``quantize`` call unless the user has opted out with
    OpenVINO's opt-in script (no answer counts as consent), and stubs itself only under
    pytest or its own CI variables. A hospital machine must send nothing.
    """
    from nncf.telemetry import decorator, wrapper

    reporting = decorator.telemetry
    decorator.telemetry = wrapper.NNCFTelemetryStub()
    try:
        yield
    finally:
        decorator.telemetry = reporting


def quantize_int8(predictor: Predictor, calibration: str | os.PathLike, path: Path, tiles: int = 32) -> Path:
    """The predictor's network quantised to INT8 by NNCF, written as an OpenVINO IR at ``path``.

    Post-training quantisation: ``tiles`` input tiles of the size inference uses, cut from the
    images of the folder ``calibration`` after the bundle's own preprocessing, set the INT8
    ranges. Judge the result on images it was not calibrated on: in
    ``benchmarks/bench_runtimes.py --int8`` the masks of a trained paper-width 2D net on
    held-out real nuclei agree with fp32's on 99.7% of the pixels at 5.7x its speed (AMD EPYC,
    AVX512_BF16, 2 cores), at equal Dice.
    """
    images = [item["image"] for item in load_datalist(calibration, "training", with_labels=False)]
    if not images:
        raise ValueError(f"int8_calibration: {calibration} holds no image.")
    preprocessing, network = predictor.preprocessing(), predictor.network.cpu()
    prepared = [preprocessing({"image": image})["image"] for image in images]
    channels = int(prepared[0].shape[0])
    tile = predictor.inferer.tile_geometry(network, prepared[0].shape[1:], channels, torch.device("cpu"))[0]
    per_image = max(1, tiles // len(prepared))
    crops = [crop for index, image in enumerate(prepared) for crop in calibration_tiles(image, tile, per_image, index)]
    return quantize_network_int8(network, channels, tile, crops, path)


def quantize_network_int8(
    network: torch.nn.Module, in_channels: int, tile: Sequence[int], calibration: list[np.ndarray], path: Path
) -> Path:
    """``network`` quantised to INT8 by NNCF on ``calibration`` tiles ``(1, C, *tile)``: an OpenVINO IR at ``path``."""
    import nncf  # here, not at the top: importing it starts OpenVINO's telemetry client

    with tempfile.TemporaryDirectory() as folder, _without_nncf_telemetry():
        onnx_file = Path(folder) / "fp32.onnx"
        export_onnx(network, in_channels, smallest_valid_tile(network, tile), onnx_file)
        model = ov.Core().read_model(str(onnx_file))
        model.reshape([1, in_channels, *tile])
        quantized = nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration))
    ov.save_model(quantized, str(path), compress_to_fp16=False)  # read_model, never the telemetry converter
    return path


def _plain(value) -> bool:
    """Whether a config value is data (not an expression or a component definition)."""
    if isinstance(value, str):
        return not value.startswith(("$", "@", "%"))
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (int, float, bool)) or value is None
