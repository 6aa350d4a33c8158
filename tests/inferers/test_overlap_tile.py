import itertools

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.networks.nets import BasicUNet

from monai_unet2015.inferers import OverlapTileInferer, extend_borders, tile_starts
from monai_unet2015.inferers.overlap_tile import FLIP_DISAGREEMENT_KEY, flip_disagreement
from monai_unet2015.networks import UNet3D, UNet2015


class CentreCrop(torch.nn.Module):
    """Returns the centre of its input, ``margin`` pixels in from each side; no output_size()."""

    def __init__(self, margin: int):
        super().__init__()
        self.margin = margin
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        m = self.margin
        return x[(slice(None), slice(None), *[slice(m, s - m) for s in x.shape[2:]])]


CROP_CASES = [
    # spatial size, roi, margin, batch, overlap
    ((37, 53), (20, 20), 4, 1, 0.0),
    ((37, 53), (20, 24), 3, 2, 0.5),
    ((9, 7), (20, 20), 5, 2, 0.0),  # smaller than one tile
    ((13, 21, 11), (12, 12, 12), 2, 1, 0.0),
    ((13, 21, 11), (12, 14, 10), 1, 2, 0.25),
    ((5, 6, 4), (12, 12, 12), 3, 1, 0.0),
]


@pytest.mark.parametrize("size,roi,margin,batch,overlap", CROP_CASES)
@pytest.mark.parametrize("mode", ["constant", "gaussian"])
def test_centre_crop_network_gives_back_its_input(size, roi, margin, batch, overlap, mode):
    image = torch.rand(batch, 2, *size)
    out = OverlapTileInferer(roi, sw_batch_size=3, overlap=overlap, mode=mode)(image, CentreCrop(margin))
    assert out.shape == image.shape
    torch.testing.assert_close(out, image, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("padding_mode", ["reflect", "symmetric", "replicate", "constant"])
def test_extend_borders_matches_numpy_for_any_width(padding_mode):
    image = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(1, 2, 5, 3)
    before, after = (7, 2), (11, 9)  # wider than the image: mirrored again and again
    out = extend_borders(image, before, after, padding_mode)
    numpy_mode = {"replicate": "edge"}.get(padding_mode, padding_mode)
    expected = np.pad(image.numpy(), [(0, 0), (0, 0), (7, 11), (2, 9)], mode=numpy_mode)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_tile_starts_cover_the_image():
    for size in range(1, 40):
        for tile in (1, 4, 7):
            for overlap in (0.0, 0.3, 0.75):
                starts = tile_starts(size, tile, overlap)
                covered = np.zeros(max(size, tile), bool)
                for s in starts:
                    covered[s : s + tile] = True
                assert covered[:size].all() and starts[0] == 0


@pytest.mark.parametrize(
    "net,size,roi",
    [
        (UNet2015(2, 1, 3, features=(4, 8, 16), dropout=0.0), (70, 45), (60, 52)),
        (UNet2015(3, 2, 2, features=(2, 4)), (18, 25, 13), (24, 20, 28)),
        (UNet3D(1, 2, features=(2, 4)), (18, 25, 13), (20, 24, 20)),
    ],
)
def test_tiled_equals_whole_image_inference(net, size, roi):
    net.eval()
    image = torch.rand(2, net.contracting[0][0].in_channels, *size)
    inferer = OverlapTileInferer(roi, sw_batch_size=2)
    # the whole mirror-extended image in one pass: the network's own output must be the answer
    whole_tile = net.input_size(size)
    margin = [(t - o) // 2 for t, o in zip(whole_tile, net.output_size(whole_tile))]
    after = [t - s - m for t, s, m in zip(whole_tile, size, margin)]
    with torch.no_grad():
        tiled = inferer(image, net)
        whole = net(extend_borders(image, margin, after, "reflect"))
    whole = whole[(slice(None), slice(None), *[slice(0, s) for s in size])]
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-4)


def test_flip_averaging_with_a_flip_equivariant_network_changes_nothing():
    image = torch.rand(1, 3, 31, 26)
    plain = OverlapTileInferer((16, 16))(image, CentreCrop(3))
    network = CentreCrop(3)
    flipped = OverlapTileInferer((16, 16), flip_axes=[0, 1])(image, network)
    torch.testing.assert_close(flipped, plain)
    tiles = len(tile_starts(31, 10, 0.0)) * len(tile_starts(26, 10, 0.0))
    assert network.calls == 1 + tiles  # one probe, then one call per tile with its 4 flips batched
    OverlapTileInferer((16, 16), flip_axes=[0, 1])(image, network)
    inferer = OverlapTileInferer((16, 16))
    inferer(image, network)
    calls = network.calls
    inferer(image, network)
    assert network.calls == calls + tiles  # the probed geometry is remembered per network


def test_flips_are_batched_into_one_call_per_tile_batch():
    network = CentreCrop(2)
    OverlapTileInferer((10, 10), sw_batch_size=4, flip_axes=[0, 1])(torch.rand(1, 1, 6, 6), network)
    assert network.calls == 2  # one probe, one call for 1 tile x 4 flips


def test_flip_averaging_makes_a_valid_unet_flip_invariant():
    net = UNet2015(2, 1, 2, features=(4, 8, 16), dropout=0.0).eval()
    image = torch.rand(1, 1, 40, 48)
    inferer = OverlapTileInferer((60, 60), flip_axes=[0, 1])
    with torch.no_grad():
        out = inferer(image, net)
        out_of_flipped = inferer(image.flip(2, 3), net).flip(2, 3)
    torch.testing.assert_close(out, out_of_flipped, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("spatial_dims,size,roi", [(2, (70, 50), (32, 32)), (3, (40, 36, 34), (32, 32, 32))])
@pytest.mark.parametrize("mode,overlap", [("constant", 0.25), ("gaussian", 0.5)])
def test_same_padding_network_matches_monai_sliding_window(spatial_dims, size, roi, mode, overlap):
    net = BasicUNet(spatial_dims, 1, 2, features=(4, 4, 8, 8, 16, 4)).eval()
    image = torch.rand(2, 1, *size)
    with torch.no_grad():
        ours = OverlapTileInferer(roi, sw_batch_size=3, overlap=overlap, mode=mode)(image, net)
        theirs = sliding_window_inference(image, roi, 3, net, overlap=overlap, mode=mode)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_metatensor_keeps_metadata_and_device_split():
    net = CentreCrop(2)
    image = MetaTensor(torch.rand(1, 1, 12, 12), meta={"filename_or_obj": "a.nii"})
    out = OverlapTileInferer((8, 8), device="cpu", sw_device="cpu")(image, net)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "a.nii"


def test_tiles_are_aligned_to_the_pooling_grid():
    net = UNet2015(2, 1, 2, features=(4, 8, 16), dropout=0.0).eval()
    assert net.tile_alignment == 4
    image = torch.rand(1, 1, 101, 57)
    with torch.no_grad():
        small = OverlapTileInferer((48, 48))(image, net)  # output tiles of 4: many tiles
        large = OverlapTileInferer((96, 80))(image, net)
    torch.testing.assert_close(small, large, atol=1e-5, rtol=1e-4)


def test_output_tile_smaller_than_alignment_raises():
    net = UNet2015(2, 1, 2, features=(4, 8, 16, 32))  # alignment 8, input 92 -> output 4
    with pytest.raises(
        ValueError, match=r"output tiles \(4, 4\): an output tile of 4 is smaller than the tile alignment 8"
    ):
        OverlapTileInferer((92, 92))(torch.rand(1, 1, 30, 30), net)


def test_invalid_roi_names_nearest_valid_sizes():
    net = UNet2015(2, 1, 2, features=(4, 8, 16))
    with pytest.raises(ValueError, match=r"roi_size \(50, 52\) is not a valid input tile .* nearest valid: 48 or 52"):
        OverlapTileInferer((50, 52))(torch.rand(1, 1, 30, 30), net)
    with pytest.raises(ValueError, match="roi_size has 3 entries but the input has 2 spatial axes"):
        OverlapTileInferer((44, 44, 44))(torch.rand(1, 1, 30, 30), net)
    with pytest.raises(ValueError, match=r"roi_size=None needs a network with input_size\(\)"):
        OverlapTileInferer(None)(torch.rand(1, 1, 30, 30), CentreCrop(1))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"roi_size": (0, 4)}, r"roi_size must be positive integers \(or None\), got \(0, 4\)"),
        ({"sw_batch_size": 0}, "sw_batch_size must be a positive integer, got 0"),
        ({"overlap": 1.0}, r"overlap must be in \[0, 1\), got 1.0"),
        ({"mode": "linear"}, r"mode: Unsupported option 'linear', Available options are .*'gaussian'"),
        ({"padding_mode": "wrap"}, r"padding_mode: Unsupported option 'wrap', Available options are .*'symmetric'"),
        ({"flip_axes": [0, 0]}, r"flip_axes must be distinct spatial axes \(0-based ints\), got \[0, 0\]"),
        ({"max_tile_voxels": 0}, "max_tile_voxels must be a positive integer, got 0"),
        ({"alignment": 0}, "alignment must be a positive integer, got 0"),
        ({"precision": "int8"}, r"precision: (.|\n)*'int8' is not a valid value"),
        ({"memory_format": "nhwc"}, r"memory_format: Unsupported option 'nhwc', Available options are"),
        ({"argmax": True, "overlap": 0.5}, r"argmax=True takes each tile's labels, overlap=0.5 blends"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OverlapTileInferer(**({"roi_size": (8, 8)} | kwargs))


def test_invalid_inputs():
    with pytest.raises(
        ValueError, match=r"inputs must be a tensor \(B, C, H, W\[, D\]\), got Tensor of shape \(8, 8\)"
    ):
        OverlapTileInferer((8, 8))(torch.rand(8, 8), CentreCrop(1))
    with pytest.raises(ValueError, match=r"flip_axes \(2,\) name an axis the 2D input lacks"):
        OverlapTileInferer((8, 8), flip_axes=[2])(torch.rand(1, 1, 8, 8), CentreCrop(1))
    with pytest.raises(ValueError, match="flip_axes needs a network that crops its input symmetrically"):
        odd = torch.nn.Conv2d(1, 1, 2)
        OverlapTileInferer((8, 8), flip_axes=[0])(torch.rand(1, 1, 8, 8), odd)


PRECISION_CASES = [
    # spatial_dims, net, roi, image size
    (2, lambda: UNet2015(2, 1, 3, features=(4, 8, 16)), (60, 60), (70, 45)),
    (3, lambda: UNet3D(1, 3, features=(4, 8, 16)), (60, 60, 60), (30, 26, 20)),
]


@pytest.mark.parametrize("spatial_dims, make_net, roi, size", PRECISION_CASES)
@pytest.mark.parametrize("as_meta", [False, True])
def test_channels_last_gives_the_fp32_result(spatial_dims, make_net, roi, size, as_meta):
    net = make_net().eval()
    image = torch.rand(1, 1, *size)
    image = MetaTensor(image, meta={"filename_or_obj": "x"}) if as_meta else image
    with torch.no_grad():
        reference = OverlapTileInferer(roi)(image, net)
        result = OverlapTileInferer(roi, memory_format="channels_last")(image, net)
        again = net(torch.rand(1, 1, *roi))  # the caller's own use of the converted net still works
    assert (
        result.dtype == torch.float32 and result.shape == reference.shape and isinstance(result, MetaTensor) == as_meta
    )
    torch.testing.assert_close(
        result.as_tensor() if as_meta else result, torch.as_tensor(reference), atol=1e-5, rtol=1e-4
    )
    assert again.shape[1] == 3


@pytest.mark.parametrize("memory_format", ["channels_last", "auto"])
@pytest.mark.parametrize("spatial_dims, make_net, roi, size", PRECISION_CASES)
def test_the_inferer_leaves_the_callers_network_as_it_was(spatial_dims, make_net, roi, size, memory_format):
    net = make_net().eval()
    before = {name: (t.clone(), t.stride()) for name, t in net.state_dict().items()}
    inferer = OverlapTileInferer(roi, memory_format=memory_format)
    with torch.no_grad():
        inferer(torch.rand(1, 1, *size), net)
    for name, tensor in net.state_dict().items():
        assert tensor.stride() == before[name][1], f"{name}: the inferer changed the network's memory layout"
        torch.testing.assert_close(tensor, before[name][0], rtol=0, atol=0)


def test_channels_last_sees_the_networks_new_weights_between_calls():
    net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
    image = torch.rand(1, 1, 50, 40)
    inferer = OverlapTileInferer((60, 60), memory_format="channels_last")
    with torch.no_grad():
        inferer(image, net)
        for parameter in net.parameters():  # as training between two validations does
            parameter.mul_(0.5)
        result = inferer(image, net)
        reference = OverlapTileInferer((60, 60))(image, net)
    torch.testing.assert_close(result, reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("spatial_dims, make_net, roi, size", PRECISION_CASES)
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_the_cpu_keeps_shape_dtype_and_almost_every_label(
    spatial_dims, make_net, roi, size, precision
):
    torch.manual_seed(1)
    net = make_net().eval()
    image = torch.rand(1, 1, *size)
    with torch.no_grad():
        reference = OverlapTileInferer(roi)(image, net)
        reduced = OverlapTileInferer(roi, precision=precision)(image, net)
    assert reduced.dtype == torch.float32 and reduced.shape == reference.shape
    assert not torch.equal(reduced, reference)  # it did run in reduced precision
    assert (reduced.argmax(1) == reference.argmax(1)).float().mean() > 0.97


def test_auto_precision_follows_the_stated_rule(monkeypatch, tmp_path):
    from monai_unet2015.inferers import precision as chooser

    without, with_bf16 = tmp_path / "avx2", tmp_path / "amx"
    without.write_text("flags : fpu sse avx2\n")
    with_bf16.write_text("flags : fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    assert chooser.cpu_has_native_bf16.__wrapped__(str(without)) is False
    assert chooser.cpu_has_native_bf16.__wrapped__(str(with_bf16)) is True
    monkeypatch.setattr(chooser, "cpu_has_native_bf16", lambda: False)
    assert chooser.fastest_precision("cpu") == "fp32"
    monkeypatch.setattr(chooser, "cpu_has_native_bf16", lambda: True)
    assert chooser.fastest_precision("cpu") == "bf16"
    assert chooser.fastest_memory_format("cpu", "fp32", 2) == "channels_last"
    assert chooser.fastest_memory_format("cpu", "fp32", 3) == "channels_last"


@pytest.mark.parametrize(
    "tf32, bf16_supported, expected", [(True, True, "fp32"), (False, True, "bf16"), (False, False, "fp32")]
)
def test_auto_precision_on_cuda_follows_the_stated_rule(monkeypatch, tf32, bf16_supported, expected):
    # the rule is checked without a GPU: it reads only these two switches
    from monai_unet2015.inferers import precision as chooser

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", tf32)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16_supported)
    assert chooser.fastest_precision("cuda") == expected
    assert chooser.fastest_memory_format("cuda", expected, 3) == "channels_last"


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_cuda(precision):
    from tests.conftest import cuda_or_skip

    device = cuda_or_skip()
    net = UNet2015(2, 1, 3, features=(8, 16, 32)).eval().to(device)
    image = torch.rand(1, 1, 150, 130, device=device)
    with torch.no_grad():
        reference = OverlapTileInferer((92, 92))(image, net)
        reduced = OverlapTileInferer((92, 92), precision=precision, memory_format="channels_last")(image, net)
    assert reduced.dtype == torch.float32 and reduced.device.type == "cuda"
    assert (reduced.argmax(1) == reference.argmax(1)).float().mean() > 0.99


def test_compile_compiles_each_network_once_and_gives_the_same_output(monkeypatch):
    compiled = []

    def fake_compile(module, **kwargs):  # torch.compile itself takes tens of seconds: bench_compile.py
        compiled.append((module, kwargs))
        return lambda x: module(x)

    monkeypatch.setattr(torch, "compile", fake_compile)
    net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
    image = torch.rand(1, 1, 70, 50)
    eager = OverlapTileInferer(roi_size=(60, 60))
    inferer = OverlapTileInferer(roi_size=(60, 60), compile=True)
    with torch.no_grad():
        expected = eager(image, net)
        first, second = inferer(image, net), inferer(image, net)
    assert compiled == [(net, {"dynamic": False})]
    assert torch.equal(first, expected) and torch.equal(second, expected)
    with pytest.raises(TypeError, match=r"compile must be True or False, got 'yes'"):
        OverlapTileInferer(roi_size=(60, 60), compile="yes")


ARGMAX_CASES = [
    # network, image size, roi (None: picked per image), flip axes
    (UNet2015(2, 1, 3, features=(4, 8, 16)), (70, 45), (60, 52), []),
    (UNet2015(2, 1, 4, features=(4, 8, 16)), (130, 97), None, [0, 1]),
    (UNet3D(1, 3, features=(2, 4)), (18, 25, 13), (20, 24, 20), [2]),
    (UNet3D(1, 5, features=(2, 4)), (30, 21, 17), None, []),
]


@pytest.mark.parametrize("net,size,roi,flips", ARGMAX_CASES)
def test_argmax_per_tile_equals_argmax_of_the_scores(net, size, roi, flips):
    net.eval()
    image = MetaTensor(torch.rand(2, 1, *size), meta={"filename_or_obj": "case.nii.gz"})
    budget = {"max_tile_voxels": 60 * 60 if len(size) == 2 else 24**3}
    with torch.no_grad():
        scores = OverlapTileInferer(roi, sw_batch_size=3, flip_axes=flips, **budget)(image, net)
        labels = OverlapTileInferer(roi, sw_batch_size=3, flip_axes=flips, argmax=True, **budget)(image, net)
    assert labels.shape == (2, 1, *size) and labels.dtype == torch.uint8
    assert isinstance(labels, MetaTensor) and labels.meta["filename_or_obj"] == "case.nii.gz"
    expected = scores.argmax(1, keepdim=True)
    top_two = scores.as_tensor().topk(2, dim=1).values
    near_tie = (top_two[:, :1] - top_two[:, 1:]) < 1e-4  # where two tiles' float noise may pick either class
    assert ((labels.as_tensor() == expected.as_tensor()) | near_tie).all()
    assert (labels.as_tensor() == expected.as_tensor()).float().mean() > 0.999


FLIP_CASES = [
    # network, roi, flip axes (spatial); the image is one output tile, so flipping the image is flipping the tile
    (lambda: UNet2015(2, 1, 3, features=(4, 8, 16)), (60, 52), [0]),
    (lambda: UNet2015(2, 1, 4, features=(4, 8, 16)), (76, 60), [0, 1]),
    (lambda: UNet3D(1, 3, features=(2, 4)), (20, 24, 20), [2]),
]


def _flipped_back(scores_of, image: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return scores_of(image.flip(dims)).flip(dims) if dims else scores_of(image)


@pytest.mark.parametrize("make_net,roi,flips", FLIP_CASES)
def test_flip_disagreement_is_the_share_of_each_class_where_a_flip_differs(make_net, roi, flips):
    """Against the flips run one by one without mirroring in the inferer: their own argmax maps."""
    # the same weights and image wherever the test runs (they were drawn at import before, in whatever
    # order the workers imported); with seed 2 each random network hesitates somewhere, which the
    # last assertion needs (with seed 0 the 2D three-class one happens to agree with its flips)
    torch.manual_seed(2)
    net = make_net().eval()
    image = MetaTensor(torch.rand(2, 1, *net.output_size(roi)), meta={"filename_or_obj": "case.nii.gz"})
    plain = OverlapTileInferer(roi)
    with torch.no_grad():
        labels = OverlapTileInferer(roi, flip_axes=flips, argmax=True)(image, net)
        combos = [()] + [
            tuple(a + 2 for a in c) for r in range(1, len(flips) + 1) for c in itertools.combinations(flips, r)
        ]
        per_flip = torch.stack([_flipped_back(lambda x: plain(x, net), image.as_tensor(), d) for d in combos])
    mean = per_flip.mean(0)
    assert (labels.as_tensor() == mean.argmax(1, keepdim=True)).float().mean() > 0.999
    unsure = (per_flip.argmax(2, keepdim=True) != labels.as_tensor()).any(0)
    classes = per_flip.shape[2]
    expected = flip_disagreement(labels.as_tensor(), unsure, classes)
    measured = labels.meta[FLIP_DISAGREEMENT_KEY]
    assert measured.shape == (2, classes)  # every class of the network, with a voxel or not
    assert torch.allclose(measured, expected, atol=2e-3)
    assert measured.max() > 0  # a random network hesitates somewhere: the test can see a difference


class PointwiseTwoClass(torch.nn.Module):
    """Scores (x, 1 - x) of the centre: the same whichever way the image is mirrored."""

    def forward(self, x):
        centre = x[(slice(None), slice(None), *[slice(2, s - 2) for s in x.shape[2:]])]
        return torch.cat([centre, 1 - centre], dim=1)


def test_a_network_that_mirrors_exactly_has_no_flip_disagreement():
    image = MetaTensor(torch.rand(1, 1, 30, 26))
    labels = OverlapTileInferer((20, 20), flip_axes=[0, 1], argmax=True)(image, PointwiseTwoClass())
    assert labels.meta[FLIP_DISAGREEMENT_KEY].tolist() == [[0.0, 0.0]]
    assert 0 < labels.float().mean() < 1  # both classes are there


def test_no_flips_no_flip_disagreement():
    net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
    with torch.no_grad():
        labels = OverlapTileInferer((60, 60), argmax=True)(MetaTensor(torch.rand(1, 1, 40, 40)), net)
    assert FLIP_DISAGREEMENT_KEY not in labels.meta


def test_flip_disagreement_refuses_maps_of_two_shapes():
    with pytest.raises(ValueError, match=r"labels \(1, 1, 4\) and unsure \(1, 1, 3\) must have one shape"):
        flip_disagreement(torch.zeros(1, 1, 4, dtype=torch.uint8), torch.zeros(1, 1, 3, dtype=torch.bool))


def test_argmax_needs_two_output_channels_and_a_bool():
    with pytest.raises(ValueError, match="argmax=True needs a network with at least 2 output channels, this one has 1"):
        OverlapTileInferer((8, 8), argmax=True)(torch.rand(1, 1, 8, 8), CentreCrop(1))
    with pytest.raises(TypeError, match=r"argmax must be True or False, got 'yes'"):
        OverlapTileInferer((8, 8), argmax="yes")


@pytest.mark.parametrize("dims, size, flips, argmax", [(2, (70, 45), [0], False), (3, (50, 41, 37), [], True)])
def test_a_tile_runner_as_backend_segments_as_its_network_does(dims, size, flips, argmax):
    torch.manual_seed(0)
    net = (UNet2015(2, 1, 3, features=(4, 8, 16)) if dims == 2 else UNet3D(1, 3, features=(2, 4, 8))).eval()
    calls = []

    def runner(tiles: torch.Tensor) -> torch.Tensor:  # e.g. an INT8 OpenVINO model of the same network
        calls.append(tuple(tiles.shape))
        return net(tiles)

    image = torch.rand(1, 1, *size)
    settings = {"max_tile_voxels": 60**dims, "flip_axes": flips, "argmax": argmax}
    with torch.no_grad():
        expected = OverlapTileInferer(None, **settings)(image, net)
        result = OverlapTileInferer(None, backend=runner, **settings)(image, net)
    torch.testing.assert_close(result, expected, rtol=0, atol=0)
    assert calls and OverlapTileInferer(None, backend=runner).resolved_backend(torch.device("cpu")) == "tile runner"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"backend": 42},
            TypeError,
            r"backend must be a backend's name, an exported model file \(.onnx, .xml\) or a tile runner "
            r"\(a callable\), got 42\.",
        ),
        (
            {"backend": abs, "precision": "bf16"},
            ValueError,
            r"precision 'bf16' is not computed by backend 'tile runner'",
        ),
        ({"backend": abs, "compile": True}, ValueError, r"are PyTorch's; backend 'tile runner' lays out"),
    ],
)
def test_invalid_tile_runner_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        OverlapTileInferer((60, 60), **kwargs)
