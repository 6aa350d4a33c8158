"""The training data path: deterministic part cached (on the GPU when there is one), random part on the device."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from monai.data import CacheDataset, Dataset, ThreadBuffer, ThreadDataLoader
from monai.transforms import Compose, EnsureTyped
from monai.transforms.transform import Transform
from torch.utils.data import DataLoader

from monai_unet2015.devices import as_device
from monai_unet2015.options import option

__all__ = ["device_data_loader", "memory_cache_rate", "RaisingThreadDataLoader"]

_CACHE_MODES = ("memory", "none")


def memory_cache_rate(cache: str) -> float:
    """``CacheDataset``'s ``cache_rate`` for a bundle's ``cache`` option: ``"memory"`` 1.0, ``"none"`` 0.0.

    Example::

        >>> memory_cache_rate("none")
        0.0
    """
    return 1.0 if option("cache", cache, _CACHE_MODES) == "memory" else 0.0


def _recording_errors(batches: Iterator, errors: list) -> Iterator:
    """``batches``, with an error that ends them recorded in ``errors`` instead of ending the thread silently."""
    try:
        yield from batches
    except BaseException as error:  # re-raised in the consuming thread
        errors.append(error)


class RaisingThreadDataLoader(ThreadDataLoader):
    """``monai.data.ThreadDataLoader`` whose loading-thread errors are raised, not lost.

    MONAI's ``ThreadBuffer`` lets an exception end its thread and the epoch then simply ends
    early, so a broken transform would train on nothing without a word. Here the error is
    raised in the training loop. Batches come as ``ThreadDataLoader``'s do (a ``ThreadBuffer``
    of ``buffer_size``, each batch yielded ``repeats`` times); arguments as ``ThreadDataLoader``.
    Built on public API only: ``DataLoader.__iter__`` and ``ThreadBuffer`` (the test
    ``tests/data/test_loaders.py`` compares the batches with ``ThreadDataLoader``'s).

    Example::

        >>> import torch
        >>> from monai.data import Dataset
        >>> loader = RaisingThreadDataLoader(Dataset([{"image": torch.zeros(1, 4, 4)}] * 3), batch_size=2)
        >>> [tuple(batch["image"].shape) for batch in loader]
        [(2, 1, 4, 4), (1, 1, 4, 4)]
    """

    def __iter__(self):
        errors: list[BaseException] = []
        batches = _recording_errors(DataLoader.__iter__(self), errors)
        for batch in ThreadBuffer(batches, self.buffer_size, self.buffer_timeout):
            for _ in range(self.repeats):
                yield batch
        if errors:
            raise errors[0]


def device_data_loader(
    datalist: Sequence[dict],
    deterministic: Sequence[Transform],
    random: Sequence[Transform] = (),
    keys: Sequence[str] = ("image", "label"),
    device: str | torch.device | None = None,
    cache: str = "memory",
    cache_rate: float = 1.0,
    cache_workers: int | None = None,
    batch_size: int = 1,
    shuffle: bool = True,
    seed: int | None = None,
) -> ThreadDataLoader:
    """A loader whose random transforms run on ``device`` (the GPU when there is one).

    The layout of MONAI's fast-training recipe: ``deterministic`` transforms (loading,
    orientation, spacing, intensity, weight maps), then ``EnsureTyped(keys, device=device)``,
    all cached once by a ``CacheDataset`` (``cache="memory"``; the cached tensors live on
    the device), then ``random`` transforms (elastic deformation, intensity augmentation)
    on device tensors each epoch, fed by a ``ThreadDataLoader`` (a thread, not worker
    processes, which cannot touch CUDA tensors). It is a :class:`RaisingThreadDataLoader`:
    a transform's error is raised instead of ending the epoch silently, as MONAI's does.
    ``cache="none"`` runs every transform for every sample each epoch (a ``Dataset``), for
    data that do not fit in memory. Without CUDA the same pipeline runs on the CPU.

    Args:
        datalist: ``[{"image": ..., "label": ...}, ...]``.
        deterministic, random: lists of dictionary transforms.
        keys: the keys to move to the device (image, label, weight map...).
        device: default :func:`~monai_unet2015.devices.default_device`.
        cache: ``"memory"`` or ``"none"``.
        cache_rate, cache_workers: as in ``CacheDataset``.
        batch_size, shuffle: as in ``DataLoader`` (the paper: batch size 1).
        seed: seeds the random transforms (None: not seeded here).

    Example::

        >>> import numpy as np
        >>> data = [{"image": np.zeros((1, 8, 8), np.float32), "label": np.zeros((1, 8, 8))}]
        >>> loader = device_data_loader(data, deterministic=[], device="cpu")
        >>> next(iter(loader))["image"].shape
        torch.Size([1, 1, 8, 8])
    """
    rate = cache_rate * memory_cache_rate(cache)
    if not datalist:
        raise ValueError("datalist is empty: there is nothing to load.")
    device = as_device(device)
    to_device = EnsureTyped(list(keys), device=device, allow_missing_keys=True)
    transform = Compose([*deterministic, to_device, *random])
    if seed is not None:
        transform.set_random_state(seed=seed)
    if rate > 0:
        dataset = CacheDataset(list(datalist), transform, cache_rate=rate, num_workers=cache_workers, progress=False)
    else:
        dataset = Dataset(list(datalist), transform)
    return RaisingThreadDataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=0)
