"""device_data_loader: cached deterministic part, random part on the device."""

from __future__ import annotations

import pytest
import torch
from monai.transforms import Randomizable, Transform

from monai_unet2015.data import ct_preprocessing, device_data_loader, msd_datalist
from monai_unet2015.transforms import RandCoarseElasticd
from tests.conftest import cuda_or_skip


class CountCalls(Transform):
    def __init__(self):
        self.calls = 0

    def __call__(self, data):
        self.calls += 1
        return data


class RecordDevice(Randomizable, Transform):
    """A 'random' transform that records where its input lives."""

    def __init__(self):
        self.devices = set()

    def randomize(self, data=None):
        pass

    def __call__(self, data):
        self.devices.add(data["image"].device.type)
        return data


def run_epochs(loader, epochs):
    return [[batch["image"].clone() for batch in loader] for _ in range(epochs)]


@pytest.mark.parametrize("cache, loads", [("memory", 2), ("none", 6)])
def test_cache_runs_the_deterministic_part_once(sample_root, cache, loads):
    counter = CountCalls()
    loader = device_data_loader(
        msd_datalist(sample_root / "ct"), [*ct_preprocessing(), counter], device="cpu", cache=cache, shuffle=False
    )
    epochs = run_epochs(loader, 3)
    assert counter.calls == loads
    for epoch in epochs[1:]:
        for a, b in zip(epoch, epochs[0]):
            torch.testing.assert_close(a, b)


def test_random_transforms_see_device_tensors_and_vary(sample_root):
    recorder = RecordDevice()
    keys = ["image", "label"]
    loader = device_data_loader(
        msd_datalist(sample_root / "ct"),
        ct_preprocessing(),
        [recorder, RandCoarseElasticd(keys, sigma=3.0, mode=["bilinear", "nearest"])],
        device="cpu",
        shuffle=False,
        seed=0,
    )
    first, second = run_epochs(loader, 2)
    assert recorder.devices == {"cpu"}
    assert not torch.equal(first[0], second[0])  # a new deformation each epoch


def test_gpu_path_keeps_the_cache_on_cuda(sample_root):
    device = cuda_or_skip()
    recorder = RecordDevice()
    loader = device_data_loader(msd_datalist(sample_root / "ct"), ct_preprocessing(), [recorder], device=device)
    batch = next(iter(loader))
    assert batch["image"].device.type == "cuda" and recorder.devices == {"cuda"}


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r"cache: Unsupported option 'disk', Available options are"):
        device_data_loader([{"image": "x"}], [], cache="disk")
    with pytest.raises(ValueError, match="datalist is empty"):
        device_data_loader([], [])


class Broken(Randomizable, Transform):
    """A random transform (so not cached) that fails."""

    def randomize(self, data=None):
        pass

    def __call__(self, data):
        raise ValueError("broken transform")


def test_an_error_in_the_loading_thread_reaches_the_training_loop():
    loader = device_data_loader([{"image": torch.zeros(1, 4, 4)}], [], [Broken()], keys=["image"], device="cpu")
    with pytest.raises(RuntimeError, match="applying transform") as info:
        list(loader)
    assert "broken transform" in str(info.value.__cause__)


@pytest.mark.parametrize("repeats, buffer_size", [(1, 1), (2, 1), (3, 2)])
def test_raising_loader_yields_what_monais_thread_loader_yields(repeats, buffer_size):
    from monai.data import Dataset, ThreadDataLoader

    from monai_unet2015.data import RaisingThreadDataLoader

    dataset = Dataset([{"image": torch.full((1, 2, 2), float(i))} for i in range(5)])
    arguments = {"batch_size": 2, "repeats": repeats, "buffer_size": buffer_size, "shuffle": False}
    ours = [batch["image"][:, 0, 0, 0].tolist() for batch in RaisingThreadDataLoader(dataset, **arguments)]
    monais = [batch["image"][:, 0, 0, 0].tolist() for batch in ThreadDataLoader(dataset, **arguments)]
    assert ours == monais and len(ours) == 3 * repeats
