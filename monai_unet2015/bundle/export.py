"""A bundle's trained network written as ONNX, and as an OpenVINO IR where OpenVINO is installed.

What MONAI's ``python -m monai.bundle ckpt_export`` does for TorchScript, for the runtimes a
CPU-only site runs: ``python -m monai_unet2015 export BUNDLE --output-dir DIR``. The network
and its weights come from the bundle's :class:`~monai_unet2015.bundle.Predictor`
(the configs, the plan and the overrides inference uses, weights loaded strictly), so the
export is the network inference runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from monai_unet2015.bundle.predictor import Predictor
from monai_unet2015.inferers.runtimes import export_onnx, require_runtime, runtime_available, smallest_valid_tile

__all__ = ["EXPORT_FORMATS", "export_bundle"]

EXPORT_FORMATS = ("onnx", "openvino")


def export_bundle(
    bundle_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    config_files: Sequence[str] = ("inference.json",),
    overrides: Mapping | None = None,
    args_file: str | os.PathLike | None = None,
    format: str | None = None,
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

    Returns:
        the written files by kind: ``onnx``, ``openvino`` (the ``.xml``), ``metadata``.
    """
    if format is None:
        format = "openvino" if runtime_available("openvino") else "onnx"
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {format!r}.")
    if format == "openvino":
        require_runtime("openvino")
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
        import openvino as ov

        written["openvino"] = output / "model.xml"
        # read_model, not convert_model: OpenVINO's converter sends usage telemetry unless opted
        # out, which a hospital machine must not. save_model halves weights to fp16 by default:
        # keep the trained fp32 weights.
        model = ov.Core().read_model(str(written["onnx"]))
        ov.save_model(model, str(written["openvino"]), compress_to_fp16=False)
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


def _plain(value) -> bool:
    """Whether a config value is data (not an expression or a component definition)."""
    if isinstance(value, str):
        return not value.startswith(("$", "@", "%"))
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (int, float, bool)) or value is None
