"""Reduced precision and memory layout for inference: what to run the network in, and how.

The network runs under ``torch.autocast`` with the chosen dtype (outputs are accumulated in
float32 by the caller), and tiles can be handed over in channels-last layout, which oneDNN
(CPU) and cuDNN (CUDA, with bf16 / fp16) run faster. Which of these pays depends on the
hardware; :func:`fastest_precision` and :func:`fastest_memory_format` state the rules the
bundles' ``"auto"`` defaults follow (measured in ``benchmarks/bench_precision.py``).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
import weakref
from copy import deepcopy
from pathlib import Path

import torch

from monai_unet2015.options import option

__all__ = [
    "CompiledNetworks",
    "PRECISIONS",
    "MEMORY_FORMATS",
    "cpu_has_native_bf16",
    "fastest_precision",
    "fastest_memory_format",
    "resolve_precision",
    "resolve_memory_format",
    "autocast_for",
    "NetworkLayout",
]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
MEMORY_FORMATS = ("contiguous", "channels_last")
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bf16 natively (AVX512_BF16 or AMX-BF16 in its flags).

    Without them PyTorch emulates bf16 on the CPU: a narrow UNet2015 forward measured 20x
    slower than fp32 on such a CPU (AVX2 only), so reduced precision is no speed-up there.
    """
    try:
        flags = Path(cpuinfo).read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in _NATIVE_BF16_FLAGS)


def fastest_precision(device: str | torch.device) -> str:
    """The rule for ``precision="auto"``: the fastest dtype that keeps the masks.

    - CUDA: ``"fp32"`` while cuDNN may compute fp32 convolutions in TF32 (PyTorch's default,
      ``torch.backends.cudnn.allow_tf32``; Ampere and newer): with channels-last tiles the
      fastest of fp32, bf16 and fp16 on every GPU-sized input of
      ``benchmarks/bench_precision.py --large`` (``benchmarks/results/precision_cuda_large.json``):
      autocast's casts cost more than bf16 saves over TF32. Where TF32
      is turned off, ``"bf16"`` where the GPU supports it, else ``"fp32"``: fp16's range can
      overflow in deep activations, bf16 keeps fp32's.
    - CPU: ``"bf16"`` where the CPU has native bf16 (:func:`cpu_has_native_bf16`), else
      ``"fp32"``.

    Example::

        >>> fastest_precision("cpu") in ("bf16", "fp32")
        True
    """
    device = torch.device(device)
    if device.type == "cuda":
        if torch.backends.cudnn.allow_tf32:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def fastest_memory_format(device: str | torch.device, precision: str, spatial_dims: int) -> str:
    """The rule for ``memory_format="auto"``: channels-last, on the CPU (oneDNN's preferred
    layout; faster for every net measured in ``benchmarks/bench_precision.py``) and on CUDA
    (cuDNN's tensor-core layout: with fp32 / TF32 on an H200, 1.04x to 1.64x the contiguous
    speed on the GPU-sized inputs of ``--large``; a few-millisecond call of a handful of tiles
    can be slower). ``device``, ``precision`` and ``spatial_dims`` are part of the rule's
    signature for layouts that differ by device, dtype or between 2D and 3D; today's rule is
    the same for all."""
    return "channels_last"


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """``precision`` itself, or :func:`fastest_precision` for ``"auto"``."""
    return fastest_precision(device) if precision == "auto" else precision


def resolve_memory_format(memory_format: str, device: str | torch.device, precision: str, spatial_dims: int) -> str:
    """``memory_format`` itself, or :func:`fastest_memory_format` for ``"auto"``."""
    if memory_format == "auto":
        return fastest_memory_format(device, precision, spatial_dims)
    return memory_format


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` with the precision's dtype on ``device``; nothing for ``"fp32"``."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _torch_format(memory_format: str, ndim: int) -> torch.memory_format:
    if memory_format == "contiguous":
        return torch.contiguous_format
    return torch.channels_last if ndim == 4 else torch.channels_last_3d


class NetworkLayout:
    """Put tiles, and a copy of the network's weights, into a memory layout.

    The caller's network is never changed (MONAI's inferers do not touch it): for
    channels-last, a copy of it is converted once and kept (weakly, per network); before each
    use its weights, buffers and train / eval mode are refreshed from the caller's network,
    so training between two inferences is seen. That costs one copy of the weights in memory
    and one weight copy per image. A network that cannot be deep-copied runs as it is, in the
    contiguous layout, with a warning.

    Example::

        >>> import torch
        >>> net = torch.nn.Conv2d(1, 2, 3)
        >>> copy = NetworkLayout("channels_last").network(net, spatial_dims=2)
        >>> copy is net, net.weight.is_contiguous(), copy.weight.is_contiguous(memory_format=torch.channels_last)
        (False, True, True)
    """

    def __init__(self, memory_format: str) -> None:
        option("memory_format", memory_format, MEMORY_FORMATS)
        self.memory_format = memory_format
        self._copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def network(self, network, spatial_dims: int):
        """The network to run: ``network`` itself (contiguous), or its refreshed channels-last copy."""
        if self.memory_format == "contiguous" or not isinstance(network, torch.nn.Module):
            return network
        copy = self._copies.get(network)
        if copy is None:
            try:
                copy = deepcopy(network).to(memory_format=_torch_format(self.memory_format, spatial_dims + 2))
            except Exception as error:  # hooks, parametrizations, ...: stay correct, just slower
                warnings.warn(
                    f"memory_format {self.memory_format!r}: the network cannot be copied ({type(error).__name__}: "
                    f"{error}); running it contiguous.",
                    stacklevel=3,
                )
                copy = network
            self._copies[network] = copy
        if copy is not network:
            with torch.no_grad():
                copy.load_state_dict(network.state_dict())  # copy_ into the copy: its layout stays
            copy.train(network.training)
        return copy

    def tiles(self, tiles: torch.Tensor) -> torch.Tensor:
        if self.memory_format == "contiguous":
            return tiles
        return tiles.contiguous(memory_format=_torch_format(self.memory_format, tiles.ndim))


class CompiledNetworks:
    """``torch.compile`` of the network, once, for :class:`OverlapTileInferer` (``compile=True``).

    The compiled module is kept for the last network called (the network object itself is
    not changed, the caller's own calls of it stay eager); another network replaces it, so
    the one before can be freed (a compiled module holds its network as ``_orig_mod``: a
    cache of every network would keep them all alive). Tiles all have one shape, so the
    network compiles once (``dynamic=False``); the first call pays the compilation, tens of
    seconds on a CPU (``benchmarks/bench_compile.py``). A callable that is not an
    ``nn.Module`` runs as it is.

    Example::

        >>> networks = CompiledNetworks()
        >>> networks(print) is print
        True
    """

    def __init__(self) -> None:
        self._network: weakref.ref | None = None
        self._compiled: object | None = None

    def __call__(self, network):
        if not isinstance(network, torch.nn.Module):
            return network
        if self._network is None or self._network() is not network:
            self._compiled = None  # the previous network's compiled module goes first
            self._network, self._compiled = weakref.ref(network), torch.compile(network, dynamic=False)
        return self._compiled
