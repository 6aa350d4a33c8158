"""Overlap-tile inference with mirroring (Ronneberger et al. 2015) as a MONAI inferer."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.data.meta_tensor import MetaTensor
from monai.data.utils import compute_importance_map
from monai.inferers.inferer import Inferer
from monai.utils import BlendMode
from monai.utils.type_conversion import convert_to_dst_type
from tqdm.auto import tqdm

from monai_unet2015.inferers.estimate import (
    Calibration,
    InferenceEstimate,
    calibrate,
    check_memory_limit,
    inferer_array_bytes,
    tile_count,
)
from monai_unet2015.inferers.precision import (
    MEMORY_FORMATS,
    PRECISIONS,
    CompiledNetworks,
    NetworkLayout,
    autocast_for,
    resolve_memory_format,
    resolve_precision,
)
from monai_unet2015.inferers.runtimes import (
    BACKEND_PRECISIONS,
    BACKENDS,
    MODEL_SUFFIXES,
    ExportedNetworks,
    require_runtime,
    runtime_available,
    smallest_valid_tile,
    tiles_from_file,
)
from monai_unet2015.inferers.tiling import (
    PADDING_MODES,
    extend_borders,
    flip_combinations,
    least_work_tile,
    tile_starts,
)
from monai_unet2015.options import option

__all__ = ["OverlapTileInferer", "flip_disagreement", "FLIP_DISAGREEMENT_KEY"]

# The class map's metadata entry for the share of each class's voxels the flips disagree on.
FLIP_DISAGREEMENT_KEY = "flip_disagreement"
# what resolved_backend names a callable given as backend
TILE_RUNNER = "tile runner"

logger = logging.getLogger(__name__)

_DEFAULT_TILE_BUDGET = {2: 572 * 572, 3: 132 * 132 * 116}


def _check_output_options(argmax, overlap: float, max_memory_gib) -> None:
    """``TypeError`` / ``ValueError`` naming ``argmax`` or ``max_memory_gib`` where they cannot be used."""
    if not isinstance(argmax, bool):
        raise TypeError(f"argmax must be True or False, got {argmax!r}.")
    if argmax and overlap:
        raise ValueError(
            f"argmax=True takes each tile's labels, overlap={overlap!r} blends overlapping tiles' scores "
            "first: use overlap=0 with argmax, or argmax=False."
        )
    if max_memory_gib is None or max_memory_gib == "auto":
        return
    if isinstance(max_memory_gib, bool) or not isinstance(max_memory_gib, (int, float)) or max_memory_gib <= 0:
        raise ValueError(f"max_memory_gib must be a positive number, 'auto' or None, got {max_memory_gib!r}.")


@dataclasses.dataclass(frozen=True)
class _TilePlan:
    """Where the tiles of one input go (:meth:`OverlapTileInferer._plan_tiles`)."""

    roi: tuple[int, ...]
    out_tile: tuple[int, ...]
    starts: list[list[int]]
    covered: list[int]  # the output extent the tiles cover (may pass the image end)
    margin_before: list[int]
    pad_after: list[int]
    flips: list[tuple[int, ...]]

    def padded_size(self, image_size: Sequence[int]) -> tuple[int, ...]:
        """The mirror-extended input's spatial size."""
        return tuple(s + m + p for s, m, p in zip(image_size, self.margin_before, self.pad_after))


def flip_disagreement(labels: torch.Tensor, unsure: torch.Tensor, classes: int = 2) -> torch.Tensor:
    """Per image and class, the share of the class's voxels where the test-time flips do not all agree.

    A signal the model gives about itself: voxels whose label changes when the image is
    mirrored are where it hesitates. A structure whose voxels are mostly unsure is one a
    person should look at (:mod:`~monai_unet2015.data.review`).

    Args:
        labels: the class map ``(B, 1, *S)``.
        unsure: ``(B, 1, *S)`` bool, True where a flip combination's argmax differs from ``labels``.
        classes: the number of classes (the network's output channels).

    Returns:
        ``(B, K)`` float32, ``K`` = ``classes`` (or the largest label + 1 where larger); 0 for a
        class with no voxel.

    Example::

        >>> labels = torch.tensor([[[0, 1, 1, 1]]])
        >>> unsure = torch.tensor([[[True, True, False, False]]])
        >>> flip_disagreement(labels, unsure).tolist()  # class 0: 1 of 1, class 1: 1 of 3
        [[1.0, 0.3333333432674408]]
    """
    if labels.shape != unsure.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and unsure {tuple(unsure.shape)} must have one shape.")
    classes = max(int(labels.max()) + 1 if labels.numel() else 0, classes)
    shares = torch.zeros((labels.shape[0], classes), dtype=torch.float32)
    for b in range(labels.shape[0]):
        flat = labels[b].reshape(-1).long().cpu()
        total = torch.bincount(flat, minlength=classes).float()
        hesitant = torch.bincount(flat[unsure[b].reshape(-1).cpu()], minlength=classes).float()
        shares[b] = torch.where(total > 0, hesitant / total.clamp(min=1), torch.zeros_like(total))
    return shares


class OverlapTileInferer(Inferer):
    """Segment images of any size with a network whose output is smaller than its input.

    The paper's overlap-tile strategy: each input tile's output covers only its centre;
    the output tiles partition (``overlap=0``) or overlap the image, the input tiles reach
    ``margin`` pixels past them, and beyond the image border the missing context is
    extrapolated by mirroring the input. For a valid-convolution network and ``overlap=0``
    the result equals running the network once on the whole mirror-extended image: the
    output tiles start at multiples of ``2**poolings`` (a U-Net is translation-equivariant
    only for such shifts), so neighbouring tiles may overlap by a few pixels and the last
    one may reach into the mirrored extension.

    The size reduction comes from ``network.output_size`` where the network has it
    (:class:`~monai_unet2015.networks.UNet2015`, :class:`~monai_unet2015.networks.UNet3D`),
    else from one probe call on a zero tile. A network whose output has its input's size
    ("same" padding, any MONAI network) works too; then this is a sliding window with the
    same tile placement as MONAI's ``sliding_window_inference``.

    Args:
        roi_size: the input tile (per axis, or one int for all). Must be valid for the
            network (a ``ValueError`` names the nearest valid sizes). None picks, per image,
            the valid tile of at most ``max_tile_voxels`` whose tiles read the fewest voxels
            in all (:func:`~monai_unet2015.inferers.tiling.least_work_tile`; needs a network
            with ``input_size``): a valid-convolution net's output does not depend on the
            tile, so a large CT costs a fraction of a small training tile's time.
        sw_batch_size: tiles per network call.
        overlap: fraction of the output tile by which neighbouring tiles overlap, in [0, 1).
        mode: blending where output tiles overlap: ``"constant"`` (mean) or ``"gaussian"``
            (importance with sigma = tile / 8, as MONAI's).
        padding_mode: how the image is extended past its border: ``"reflect"`` (mirror,
            the paper), ``"symmetric"``, ``"replicate"`` or ``"constant"`` (with ``cval``).
        flip_axes: spatial axes (0-based) for test-time mirroring: the prediction is the
            mean over every combination of flips of these axes, batched in one call.
        device: where the output accumulates (e.g. ``"cpu"`` for a large CT); default: the
            input's device.
        sw_device: where the network runs (e.g. ``"cuda"``); default: the input's device.
        progress: show a tqdm progress bar over tile batches.
        max_tile_voxels: tile budget for ``roi_size=None``; default 572^2 (2D) or
            132*132*116 (3D), the papers' tiles.
        cval: fill value for ``padding_mode="constant"``.
        alignment: output tiles start at multiples of this. Default: the network's
            ``tile_alignment`` (``2**poolings`` for UNet2015 / UNet3D, so tiled inference
            equals whole-image inference), else 1 (MONAI's placement). A network that pools
            but lacks the attribute needs it here for exact tiling.
        precision: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``: the network calls run under
            ``torch.autocast`` with that dtype on ``sw_device`` (CPU or CUDA); outputs are
            accumulated in float32. ``"auto"`` picks by the hardware
            (:func:`~monai_unet2015.inferers.precision.fastest_precision`: on CUDA fp32,
            which cuDNN computes in TF32, or bf16 where TF32 is turned off; on the CPU bf16
            where it computes bf16 natively, else fp32).
        memory_format: ``"contiguous"`` (default) or ``"channels_last"`` (channels-last /
            channels-last-3d tiles, run by a converted copy of the network that is refreshed
            from it on each call; the caller's network is left as it is, see
            :class:`~monai_unet2015.inferers.precision.NetworkLayout`); ``"auto"`` picks by
            the hardware (:func:`~monai_unet2015.inferers.precision.fastest_memory_format`).
        compile: run the network through ``torch.compile`` (compiled once per network, for the
            tile shape; the network object is unchanged:
            :class:`~monai_unet2015.inferers.precision.CompiledNetworks`). The first call
            compiles (tens of seconds on a CPU); worth it for many cases in one process
            (``benchmarks/bench_compile.py`` has the measured gain). Default off.
        argmax: return the class map, ``(B, 1, H, W[, D])`` uint8 (int32 past 256 classes),
            taken tile by tile, instead of the class scores: memory then no longer grows with
            the number of classes (a 14-class CT holds one byte per voxel, not 14 floats, and
            no soft-max copy). Needs ``overlap=0`` and a network with at least 2 output
            channels. Where aligned output tiles overlap by a few voxels the later tile's
            labels are kept: a valid-convolution network predicts the same there, so the map
            equals the argmax of the whole-image scores. With ``flip_axes`` and a MetaTensor
            input, the map's ``meta["flip_disagreement"]`` holds, per image and class, the
            share of the class's voxels on which the flip combinations' own argmax maps do
            not all agree (:func:`flip_disagreement`; one bool map more, 1 byte per voxel).
        backend: what runs the tiles: ``"torch"`` (default), or, on the CPU, ``"onnxruntime"``
            or ``"openvino"``: the network is exported to ONNX once (and again when its
            weights change) and run there (:mod:`~monai_unet2015.inferers.runtimes`;
            optional packages). ONNX Runtime computes in fp32 (``precision`` ``"fp32"`` or
            ``"auto"``), OpenVINO in fp32 or bf16 (``"auto"``: bf16 where the CPU computes it
            natively); ``memory_format`` and ``compile`` are PyTorch's and stay at their
            defaults. ``"auto"``: OpenVINO where it is installed and the network runs on the
            CPU (the fastest there in ``benchmarks/bench_runtimes.py``) unless ``compile``,
            ``memory_format="channels_last"`` or ``precision="fp16"`` ask for PyTorch, else
            PyTorch. Or the path of an exported model (``.onnx``, or an OpenVINO ``.xml`` such
            as the INT8 one ``export --int8`` writes; :func:`~monai_unet2015.inferers.runtimes.tiles_from_file`).
            Or a tile runner of your own: a callable ``tiles (N, C, *S) -> (N, C_out,
            *S')`` that runs this network's tiles in its own precision, such as
            :class:`~monai_unet2015.inferers.runtimes.OpenVinoTiles` of an INT8 model
            (``benchmarks/bench_runtimes.py --int8``); the network passed to the call then
            serves only to size the tiles, and ``precision`` stays ``"fp32"`` or ``"auto"``.
        max_memory_gib: before each input, :meth:`estimate` its cost (logged at INFO) and
            refuse it (``ValueError``) where the inferer would need more than this many GiB:
            a clear error instead of the out-of-memory killer. ``"auto"``: the memory the
            machine has available at that moment (Linux ``MemAvailable``; where it cannot be
            read, the estimate is logged and nothing refused). The estimate covers the
            inferer (its arrays and one network call), not the caller's input or the steps
            before and after it. Default None: no estimate, no check.

    Shapes:
        ``inputs`` ``(B, C, H, W[, D])``; returns ``(B, C_out, H, W[, D])`` on ``device``,
        float32 whatever the precision (a MetaTensor input gives a MetaTensor with its
        metadata); with ``argmax``, ``(B, 1, H, W[, D])`` class indices.

    Reference:
        O. Ronneberger, P. Fischer, T. Brox. U-Net. MICCAI 2015, section 2 and Fig. 2.

    Example::

        >>> import torch
        >>> from monai_unet2015.networks import UNet2015
        >>> net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
        >>> inferer = OverlapTileInferer(roi_size=(60, 60), flip_axes=[0, 1])
        >>> with torch.no_grad():
        ...     inferer(torch.rand(2, 1, 70, 45), net).shape
        torch.Size([2, 2, 70, 45])
    """

    def __init__(
        self,
        roi_size: int | Sequence[int] | None,
        sw_batch_size: int = 1,
        overlap: float = 0.0,
        mode: str = "constant",
        padding_mode: str = "reflect",
        flip_axes: Sequence[int] | None = None,
        device: torch.device | str | None = None,
        sw_device: torch.device | str | None = None,
        progress: bool = False,
        max_tile_voxels: int | None = None,
        cval: float = 0.0,
        alignment: int | None = None,
        precision: str = "fp32",
        memory_format: str = "contiguous",
        compile: bool = False,
        argmax: bool = False,
        backend: str | os.PathLike | Callable[[torch.Tensor], torch.Tensor] = "torch",
        max_memory_gib: float | str | None = None,
    ) -> None:
        super().__init__()
        option("precision", precision, (*PRECISIONS, "auto"))
        option("memory_format", memory_format, (*MEMORY_FORMATS, "auto"))
        if roi_size is not None:
            sizes = (roi_size,) if isinstance(roi_size, int) else tuple(roi_size)
            if any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
                raise ValueError(f"roi_size must be positive integers (or None), got {roi_size!r}.")
        if not isinstance(sw_batch_size, int) or sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be a positive integer, got {sw_batch_size!r}.")
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap!r}.")
        option("mode", mode, BlendMode)
        option("padding_mode", padding_mode, PADDING_MODES)
        if flip_axes is not None and (
            any(not isinstance(a, int) or a < 0 for a in flip_axes) or len(set(flip_axes)) != len(flip_axes)
        ):
            raise ValueError(f"flip_axes must be distinct spatial axes (0-based ints), got {flip_axes!r}.")
        if alignment is not None and (not isinstance(alignment, int) or alignment < 1):
            raise ValueError(f"alignment must be a positive integer, got {alignment!r}.")
        if max_tile_voxels is not None and max_tile_voxels < 1:
            raise ValueError(f"max_tile_voxels must be a positive integer, got {max_tile_voxels!r}.")
        self.roi_size = roi_size
        self.sw_batch_size = sw_batch_size
        self.overlap = float(overlap)
        self.mode = mode
        self.padding_mode = padding_mode
        self.flip_axes = tuple(flip_axes) if flip_axes else ()
        self.device = torch.device(device) if device is not None else None
        self.sw_device = torch.device(sw_device) if sw_device is not None else None
        self.progress = progress
        self.max_tile_voxels = max_tile_voxels
        self.cval = cval
        self.alignment = alignment
        self.precision = precision
        self.memory_format = memory_format
        self._layouts = {name: NetworkLayout(name) for name in MEMORY_FORMATS}
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be True or False, got {compile!r}.")
        self.compile = compile
        _check_output_options(argmax, overlap, max_memory_gib)
        self.argmax = argmax
        self.backend = self._checked_backend(backend, precision, memory_format, compile)
        self._exported = {name: ExportedNetworks(name) for name in BACKENDS if name != "torch"}
        self.max_memory_gib = max_memory_gib
        self._calibrations: dict[tuple, Calibration] = {}
        self._compiled = CompiledNetworks()
        # probed (roi, channels) -> output tile, per network: the probe runs once per geometry
        self._probed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def _checked_backend(cls, backend, precision: str, memory_format: str, compile: bool):
        """``backend`` validated against the other settings; an exported model file becomes its tile runner."""
        if isinstance(backend, (str, os.PathLike)) and Path(backend).suffix in MODEL_SUFFIXES:
            backend = tiles_from_file(backend)
        if isinstance(backend, str):
            option("backend", backend, (*BACKENDS, "auto"))
            if backend not in ("torch", "auto"):
                require_runtime(backend)
                cls._check_backend_settings(backend, precision, memory_format, compile)
        elif callable(backend):
            cls._check_backend_settings(TILE_RUNNER, precision, memory_format, compile)
        else:
            raise TypeError(
                f"backend must be a backend's name, an exported model file ({', '.join(MODEL_SUFFIXES)}) or a "
                f"tile runner (a callable), got {backend!r}."
            )
        return backend

    @staticmethod
    def _check_backend_settings(backend: str, precision: str, memory_format: str, compile: bool) -> None:
        computed = BACKEND_PRECISIONS.get(backend, ("fp32",))  # a tile runner computes in its own precision
        if precision != "auto" and precision not in computed:
            raise ValueError(
                f"precision {precision!r} is not computed by backend {backend!r}: use one of {computed} or 'auto'."
            )
        if memory_format == "channels_last" or compile:
            raise ValueError(
                f"memory_format='channels_last' and compile=True are PyTorch's; backend {backend!r} "
                "lays out and compiles the network itself: leave them at their defaults."
            )

    def resolved_backend(self, sw_device: torch.device) -> str:
        """``backend``, ``"auto"`` resolved for ``sw_device`` and what is installed (a runner: ``"tile runner"``)."""
        if not isinstance(self.backend, str):
            return TILE_RUNNER
        if self.backend != "auto":
            return self.backend
        wants_torch = self.compile or self.memory_format == "channels_last" or self.precision == "fp16"
        return "openvino" if runtime_available("openvino") and sw_device.type == "cpu" and not wants_torch else "torch"

    def _backend_precision(self, backend: str, sw_device: torch.device) -> str:
        """The precision the tiles compute in: ``precision``, with ``"auto"`` resolved for the backend."""
        precision = resolve_precision(self.precision, sw_device)
        if backend != "torch" and precision not in BACKEND_PRECISIONS[backend]:
            return "fp32"  # "auto" asked for a precision this backend does not compute
        return precision

    # -- geometry -------------------------------------------------------------------------

    def tile_geometry(
        self, network: Callable, image_size: Sequence[int], channels: int, device: torch.device, *args, **kwargs
    ) -> tuple[tuple[int, ...], tuple[int, ...], int | None]:
        """``(input tile, output tile, output channels or None)`` for this network and image size."""
        spatial_dims = len(image_size)
        roi = self._input_tile(network, image_size)
        if len(roi) != spatial_dims:
            raise ValueError(f"roi_size has {len(roi)} entries but the input has {spatial_dims} spatial axes.")
        output_size = getattr(network, "output_size", None)
        if callable(output_size):
            try:
                return roi, tuple(output_size(roi)), None
            except ValueError as error:
                raise ValueError(f"roi_size {roi} is not a valid input tile for this network: {error}") from None
        known = self._probed.setdefault(network, {}) if isinstance(network, torch.nn.Module) else {}
        if (roi, channels) not in known:
            with torch.no_grad():
                probe = network(torch.zeros((1, channels, *roi), device=device), *args, **kwargs)
            out = tuple(probe.shape[2:])
            if len(out) != spatial_dims or any(o > r for o, r in zip(out, roi)):
                raise ValueError(
                    f"the network maps a {roi} tile to {tuple(probe.shape)}: expected at most {roi} spatially."
                )
            known[(roi, channels)] = (out, probe.shape[1])
        out, out_channels = known[(roi, channels)]
        return roi, out, out_channels

    def _input_tile(self, network: Callable, image_size: Sequence[int]) -> tuple[int, ...]:
        spatial_dims = len(image_size)
        if self.roi_size is not None:
            return (self.roi_size,) * spatial_dims if isinstance(self.roi_size, int) else tuple(self.roi_size)
        if not callable(getattr(network, "input_size", None)) or not callable(
            getattr(network, "nearest_valid_input_sizes", None)
        ):
            raise ValueError("roi_size=None needs a network with input_size() (UNet2015, UNet3D); give roi_size.")
        budget = self.max_tile_voxels or _DEFAULT_TILE_BUDGET[spatial_dims]
        return least_work_tile(network, image_size, budget, self._alignment(network), self.overlap)

    def _alignment(self, network: Callable) -> int:
        """Output tiles start at multiples of this: ``alignment``, else the net's ``tile_alignment``, else 1."""
        return self.alignment or int(getattr(network, "tile_alignment", 1))

    # -- inference ------------------------------------------------------------------------

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any):
        """Predict ``(B, C_out, *S)`` for ``inputs`` ``(B, C, *S)``; args go to the network."""
        image_size = self._check_inputs(inputs)
        device = self.device or inputs.device
        sw_device = self.sw_device or inputs.device
        plan = self._plan_tiles(network, image_size, inputs.shape[1], sw_device, *args, **kwargs)
        predict = self._tile_predictor(network, plan, inputs.shape[1], sw_device, *args, **kwargs)
        if self.max_memory_gib is not None:
            check_memory_limit(
                self._estimate(network, tuple(inputs.shape), plan, predict, sw_device), self.max_memory_gib
            )
        # a plain tensor: MetaTensor bookkeeping on every tile and layer costs time and keeps nothing we need
        source = inputs.as_subclass(torch.Tensor).to(device)
        padded = extend_borders(source, plan.margin_before, plan.pad_after, self.padding_mode, self.cval)
        crop = (slice(None), slice(None), *[slice(0, s) for s in image_size])
        unsure = None
        if self.argmax:
            labels, unsure, classes = self._labels(padded, plan, predict, device)
            output = labels[crop]
        else:
            accumulated, weights = self._accumulate(padded, plan, predict, device)
            output = accumulated[crop] / weights[crop]
        if isinstance(inputs, MetaTensor):
            output, *_ = convert_to_dst_type(output, inputs, device=device, dtype=output.dtype)
            if unsure is not None:
                output.meta[FLIP_DISAGREEMENT_KEY] = flip_disagreement(output, unsure[crop], classes)
        return output

    def _tile_predictor(self, network, plan: _TilePlan, channels: int, sw_device: torch.device, *args, **kwargs):
        """``predict(tiles)``: a batch of input tiles to the outputs of each flip, ``(F, B, C, *S)``, by the backend."""
        backend = self.resolved_backend(sw_device)
        if backend == TILE_RUNNER:
            return lambda tiles: self._predict(self.backend, tiles, plan.flips)
        precision = self._backend_precision(backend, sw_device)
        if backend != "torch":
            if sw_device.type != "cpu":
                raise ValueError(f"backend {backend!r} runs on the CPU, sw_device is {sw_device}.")
            run = self._exported[backend](network, channels, smallest_valid_tile(network, plan.roi), precision)
            return lambda tiles: self._predict(run, tiles, plan.flips)
        spatial_dims = len(plan.roi)
        layout = self._layouts[resolve_memory_format(self.memory_format, sw_device, precision, spatial_dims)]
        laid_out = layout.network(network, spatial_dims)  # a converted copy: the caller's is not changed
        run = self._compiled(laid_out) if self.compile else laid_out

        def predict(tiles: torch.Tensor) -> torch.Tensor:
            with autocast_for(sw_device, precision):
                return self._predict(run, layout.tiles(tiles.to(sw_device)), plan.flips, *args, **kwargs)

        return predict

    # -- what it will cost ----------------------------------------------------------------

    def estimate(
        self, inputs: torch.Tensor | Sequence[int], network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any
    ) -> InferenceEstimate:
        """Seconds and memory that inferring ``inputs`` will take on this machine, before it runs.

        The tiles are counted as :meth:`__call__` places them; one batch of zero tiles is run
        twice, once per network, tile shape and backend
        (:func:`~monai_unet2015.inferers.estimate.calibrate`: the second call's time, the
        larger working memory of the two); the inferer's own arrays (the mirror-extended
        input, the scores or the class map) are added.

        Args:
            inputs: the input, or its shape ``(B, C, H, W[, D])``.
            network: the network, as for :meth:`__call__`.

        Example::

            >>> import torch
            >>> from monai_unet2015.networks import UNet2015
            >>> net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
            >>> estimate = OverlapTileInferer(roi_size=(60, 60)).estimate((1, 1, 70, 45), net)
            >>> estimate.tiles, estimate.seconds > 0  # output tiles of 20 x 20: 4 x 3 of them
            (12, True)
        """
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else tuple(int(s) for s in inputs)
        if len(shape) not in (4, 5):
            raise ValueError(f"inputs must be a tensor or shape (B, C, H, W[, D]), got {shape}.")
        on = inputs.device if isinstance(inputs, torch.Tensor) else torch.device("cpu")
        sw_device = self.sw_device or on
        plan = self._plan_tiles(network, shape[2:], shape[1], sw_device, *args, **kwargs)
        predict = self._tile_predictor(network, plan, shape[1], sw_device, *args, **kwargs)
        return self._estimate(network, shape, plan, predict, sw_device)

    def _estimate(self, network, shape: tuple[int, ...], plan: _TilePlan, predict: Callable, sw_device):
        tiles = tile_count(shape[0], plan.starts)
        batch = min(self.sw_batch_size, tiles)
        key = (id(network), plan.roi, batch, shape[1], self.resolved_backend(sw_device), str(sw_device))
        if key not in self._calibrations:
            zeros = torch.zeros((batch, shape[1], *plan.roi), device=sw_device)
            self._calibrations[key] = calibrate(lambda: _mean_over_flips(predict(zeros)), self.argmax, sw_device)
        calibration = self._calibrations[key]
        estimate = InferenceEstimate(
            tile=plan.roi,
            tiles=tiles,
            network_calls=math.ceil(tiles / self.sw_batch_size),
            calibration=calibration,
            array_bytes=inferer_array_bytes(
                shape, calibration.out_channels, plan.padded_size(shape[2:]), plan.covered, self.argmax, len(plan.flips)
            ),
        )
        logger.info("overlap-tile %s: %s", "x".join(map(str, shape[2:])), estimate.describe())
        return estimate

    def _check_inputs(self, inputs: torch.Tensor) -> tuple[int, ...]:
        """The spatial size of ``inputs``; ``ValueError`` for a tensor of the wrong rank or flips it lacks."""
        if not isinstance(inputs, torch.Tensor) or inputs.ndim not in (4, 5):
            raise ValueError(
                f"inputs must be a tensor (B, C, H, W[, D]), got {type(inputs).__name__} "
                f"of shape {tuple(getattr(inputs, 'shape', ()))}."
            )
        image_size = tuple(inputs.shape[2:])
        if any(a >= len(image_size) for a in self.flip_axes):
            raise ValueError(f"flip_axes {self.flip_axes} name an axis the {len(image_size)}D input lacks.")
        return image_size

    def _plan_tiles(self, network, image_size, channels, sw_device, *args, **kwargs) -> _TilePlan:
        """Where the tiles go: their input and output sizes, output starts per axis, and the padding."""
        roi, out_tile, _ = self.tile_geometry(network, image_size, channels, sw_device, *args, **kwargs)
        margin_before = [(r - o) // 2 for r, o in zip(roi, out_tile)]
        if self.flip_axes and any((r - o) % 2 for r, o in zip(roi, out_tile)):
            raise ValueError(
                f"flip_axes needs a network that crops its input symmetrically; it maps {roi} to {out_tile}."
            )
        alignment = self._alignment(network)
        try:
            starts = [tile_starts(s, o, self.overlap, alignment) for s, o in zip(image_size, out_tile)]
        except ValueError as error:
            raise ValueError(f"roi_size {roi} gives output tiles {out_tile}: {error} Use a larger roi_size.") from None
        covered = [st[-1] + o for st, o in zip(starts, out_tile)]  # may pass the image end
        pad_after = [c - s + (r - o - m) for c, s, r, o, m in zip(covered, image_size, roi, out_tile, margin_before)]
        flips = flip_combinations(self.flip_axes)
        return _TilePlan(tuple(roi), tuple(out_tile), starts, covered, margin_before, pad_after, flips)

    def _tile_batches(self, padded: torch.Tensor, plan: _TilePlan) -> Iterator[tuple[torch.Tensor, list]]:
        """Batches of ``sw_batch_size`` input tiles, each with its ``(batch index, *output start)``."""
        locations = list(itertools.product(range(padded.shape[0]), *plan.starts))
        batches = range(0, len(locations), self.sw_batch_size)
        if self.progress:
            batches = tqdm(batches, desc="overlap-tile", unit="batch")
        for first in batches:
            chunk = locations[first : first + self.sw_batch_size]
            tiles = [
                padded[(slice(b, b + 1), slice(None), *[slice(p, p + r) for p, r in zip(start, plan.roi)])]
                for b, *start in chunk
            ]
            yield torch.cat(tiles), chunk

    def _labels(
        self, padded: torch.Tensor, plan: _TilePlan, predict: Callable, device
    ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """The class map ``(B, 1, *covered)``, each tile's argmax written where its output goes; with flips,
        where the flip combinations' own argmax maps do not all agree with it (bool, same shape); the classes."""
        labels: torch.Tensor | None = None
        unsure: torch.Tensor | None = None
        for tiles, chunk in self._tile_batches(padded, plan):
            outputs = predict(tiles)
            if outputs.shape[2] < 2:
                raise ValueError(
                    f"argmax=True needs a network with at least 2 output channels, this one has {outputs.shape[2]}."
                )
            if labels is None:
                dtype = torch.uint8 if outputs.shape[2] <= 256 else torch.int32
                labels = torch.zeros((padded.shape[0], 1, *plan.covered), dtype=dtype, device=device)
                if outputs.shape[0] > 1:
                    unsure = torch.zeros(labels.shape, dtype=torch.bool, device=device)
            tile_labels = _mean_over_flips(outputs).argmax(1, keepdim=True)
            tile_unsure = (outputs.argmax(2, keepdim=True) != tile_labels).any(0) if unsure is not None else None
            for i, (b, *start) in enumerate(chunk):
                region = (b, slice(None), *[slice(p, p + o) for p, o in zip(start, plan.out_tile)])
                labels[region] = tile_labels[i].to(device=device, dtype=labels.dtype)
                if unsure is not None:
                    unsure[region] = tile_unsure[i].to(device)
        return labels, unsure, outputs.shape[2]

    def _accumulate(
        self, padded: torch.Tensor, plan: _TilePlan, predict: Callable, device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The blended sum of every tile's output and the weight each output voxel got."""
        # constant blending: plain sums divided by how many tiles cover each pixel
        importance = (
            None
            if self.mode == "constant"
            else compute_importance_map(plan.out_tile, mode=self.mode, sigma_scale=0.125, device=device)
        )
        accumulated: torch.Tensor | None = None
        weights = torch.zeros((1, 1, *plan.covered), device=device)
        for tiles, chunk in self._tile_batches(padded, plan):
            predictions = _mean_over_flips(predict(tiles)).float().to(device)
            if accumulated is None:
                accumulated = torch.zeros((padded.shape[0], predictions.shape[1], *plan.covered), device=device)
            for prediction, (b, *start) in zip(predictions, chunk):
                region = tuple(slice(p, p + o) for p, o in zip(start, plan.out_tile))
                accumulated[(b, slice(None), *region)] += prediction if importance is None else prediction * importance
                if b == 0:
                    weights[(0, 0, *region)] += 1.0 if importance is None else importance
        return accumulated, weights

    @staticmethod
    def _predict(network: Callable, tiles: torch.Tensor, flips: list[tuple[int, ...]], *args, **kwargs) -> torch.Tensor:
        """Network outputs for a batch of tiles, one per flip combination, flipped back: ``(F, B, C, *S)``."""
        if len(flips) == 1:
            return network(tiles, *args, **kwargs).unsqueeze(0)
        stacked = torch.cat([tiles.flip(dims) if dims else tiles for dims in flips])
        outputs = network(stacked, *args, **kwargs).split(tiles.shape[0])
        return torch.stack([out.flip(dims) if dims else out for out, dims in zip(outputs, flips)])


def _mean_over_flips(outputs: torch.Tensor) -> torch.Tensor:
    """``(F, B, C, *S)`` -> ``(B, C, *S)``: the prediction, the mean over the flip combinations."""
    return outputs[0] if outputs.shape[0] == 1 else outputs.float().mean(0)
