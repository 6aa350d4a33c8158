import pytest
import torch

from monai_unet2015.inferers import OverlapTileInferer, extend_borders
from monai_unet2015.inferers import estimate as estimate_module
from monai_unet2015.inferers.estimate import available_memory_bytes, measure_call
from monai_unet2015.networks import UNet3D, UNet2015


class CountingNet(torch.nn.Module):
    """A UNet2015 that counts its calls."""

    def __init__(self, **kwargs):
        super().__init__()
        self.net = UNet2015(2, 1, 3, features=(4, 8, 16), **kwargs)
        self.calls = 0
        self.input_size, self.output_size = self.net.input_size, self.net.output_size
        self.nearest_valid_input_sizes, self.tile_alignment = self.net.nearest_valid_input_sizes, 4

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("batch,sw_batch_size,size", [(1, 1, (130, 97)), (2, 3, (130, 97)), (1, 2, (40, 40))])
def test_the_estimate_counts_the_network_calls_inference_makes(batch, sw_batch_size, size):
    net = CountingNet().eval()
    inferer = OverlapTileInferer((60, 60), sw_batch_size=sw_batch_size, flip_axes=[0])
    image = torch.rand(batch, 1, *size)
    with torch.no_grad():
        estimate = inferer.estimate(image, net)
        net.calls = 0
        inferer(image, net)
    assert estimate.network_calls == net.calls
    assert estimate.seconds == pytest.approx(estimate.network_calls * estimate.calibration.call_s)
    assert estimate.calibration.out_channels == 3 and estimate.calibration.setup_s > 0
    assert f"{estimate.tiles} tiles of 60x60 in {net.calls} network calls" in estimate.describe()


def test_the_calibration_runs_once_per_tile_shape():
    net = CountingNet().eval()
    inferer = OverlapTileInferer((60, 60))
    with torch.no_grad():
        inferer.estimate((1, 1, 130, 97), net)
        calls = net.calls
        inferer.estimate((1, 1, 90, 70), net)  # other image, same tile: no new calibration
        assert net.calls == calls
        inferer.estimate((1, 1, 90, 70), CountingNet().eval())  # another network: calibrated for it
    assert len(inferer._calibrations) == 2


@pytest.mark.parametrize("argmax, flips", [(False, None), (True, None), (True, [0])])
def test_the_array_memory_is_what_inference_allocates(argmax, flips):
    net = UNet3D(1, 5, features=(2, 4)).eval()
    inferer = OverlapTileInferer((44, 44, 44), argmax=argmax, flip_axes=flips)
    image = torch.rand(2, 1, 30, 41, 20)
    with torch.no_grad():
        estimate = inferer.estimate(image, net)
    plan = inferer._plan_tiles(net, image.shape[2:], 1, torch.device("cpu"))
    padded = extend_borders(image, plan.margin_before, plan.pad_after, "reflect")
    covered = torch.Size(plan.covered).numel()
    if argmax:
        outputs = 2 * covered * (2 if flips else 1)  # uint8 labels, with flips the bool map of their disagreement
    else:  # float32 sums, weights and the divided crop
        outputs = 4 * (2 * 5 * covered + covered + 2 * 5 * image[0, 0].numel())
    assert estimate.array_bytes == 4 * padded.numel() + outputs


def test_scores_cost_memory_per_class_the_class_map_does_not():
    image = (1, 1, 60, 60, 60)

    def arrays(classes, argmax):
        net = UNet3D(1, classes, features=(2, 4)).eval()
        with torch.no_grad():
            return OverlapTileInferer((44, 44, 44), argmax=argmax).estimate(image, net).array_bytes

    assert arrays(14, True) == arrays(4, True)
    assert arrays(14, False) - arrays(4, False) >= 10 * 4 * 2 * 60**3  # per class: the sums and the crop


def test_a_memory_limit_refuses_before_inference():
    net = CountingNet().eval()
    with torch.no_grad():
        OverlapTileInferer((60, 60), max_memory_gib=64.0)(torch.rand(1, 1, 70, 45), net)
        net.calls = 0
        with pytest.raises(ValueError, match=r"max_memory_gib=1e-06 \(0.00 GiB\): this input needs about .* GiB"):
            OverlapTileInferer((60, 60), max_memory_gib=1e-6)(torch.rand(1, 1, 70, 45), net)
    assert net.calls == 2  # the calibration's two calls, no tile of the image


def test_auto_memory_limit_is_the_available_memory(monkeypatch):
    net = CountingNet().eval()
    image = torch.rand(1, 1, 70, 45)
    with torch.no_grad():
        OverlapTileInferer((60, 60), max_memory_gib="auto")(image, net)
        monkeypatch.setattr(estimate_module, "available_memory_bytes", lambda: 1024)
        with pytest.raises(ValueError, match=r"max_memory_gib='auto' \(0.00 GiB\)"):
            OverlapTileInferer((60, 60), max_memory_gib="auto")(image, net)


@pytest.mark.parametrize("value", [0, -1.0, "lots", True])
def test_invalid_memory_limit(value):
    with pytest.raises(ValueError, match=rf"max_memory_gib must be a positive number, 'auto' or None, got {value!r}"):
        OverlapTileInferer((60, 60), max_memory_gib=value)


def test_a_measured_call_sees_its_memory():
    def allocate():
        block = torch.ones(50_000_000)  # 200 MB, held for a few samples
        for _ in range(20):
            block.add_(1)
        return block.sum()

    seconds, used = measure_call(allocate, torch.device("cpu"))
    assert seconds > 0 and used is not None and used > 150e6


def test_available_memory_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   12000000 kB\n")
    assert available_memory_bytes(meminfo) == 12000000 * 1024
    assert available_memory_bytes(tmp_path / "missing") is None
