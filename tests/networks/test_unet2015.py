import io
import math

import numpy as np
import pytest
import torch
from torch import nn

from monai_unet2015.networks import UNet3D, UNet2015
from monai_unet2015.networks.blocks import center_crop, incoming_nodes
from tests.conftest import cuda_or_skip

SHAPES = [
    # spatial_dims, features, in, out, batch, input spatial size, output spatial size
    (2, (4, 8), 1, 2, 1, (20, 20), (4, 4)),
    (2, (4, 8, 16), 3, 5, 2, (44, 60), (4, 20)),
    (2, (4, 8, 16, 32), 1, 1, 1, (92, 108), (4, 20)),
    (3, (2, 4), 1, 2, 2, (20, 24, 28), (4, 8, 12)),
    (3, (2, 4, 8), 2, 3, 1, (44, 44, 60), (4, 4, 20)),
]


@pytest.mark.parametrize("spatial_dims,features,c_in,c_out,batch,size,out_size", SHAPES)
def test_output_shape_table(spatial_dims, features, c_in, c_out, batch, size, out_size):
    net = UNet2015(spatial_dims, c_in, c_out, features=features)
    assert net.output_size(size) == out_size
    y = net(torch.randn(batch, c_in, *size))
    assert y.shape == (batch, c_out, *out_size)


def test_paper_net_shape_and_parameter_count():
    with torch.device("meta"):
        net = UNet2015(2, 1, 2)
        y = net(torch.empty(1, 1, 572, 572))
    assert y.shape == (1, 2, 388, 388)
    assert sum(p.numel() for p in net.parameters()) == 31_030_658
    convs = [m for m in net.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    assert len(convs) == 23  # the paper's 23 convolutional layers
    assert [m.out_channels for m in convs if isinstance(m, nn.Conv2d)][:10:2] == [64, 128, 256, 512, 1024]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def test_paper_net_convolutions_are_unpadded_3x3_and_pooling_2x2():
    net = UNet2015(2, 1, 2)
    for module in net.modules():
        if isinstance(module, nn.Conv2d) and module.kernel_size != (1, 1):
            assert module.kernel_size == (3, 3) and module.padding == (0, 0)
        if isinstance(module, nn.ConvTranspose2d):
            assert module.kernel_size == (2, 2) and module.stride == (2, 2)
            assert module.out_channels == module.in_channels // 2  # halving the channels
    assert net.pool.kernel_size == 2 and net.pool.stride == 2


def test_he_gaussian_init_per_layer():
    net = UNet2015(2, 1, 2)
    for name, module in net.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            expected = math.sqrt(2.0 / incoming_nodes(module))
            weight = module.weight.detach()
            # relative standard error of a std estimate is about 1 / sqrt(2 n): 3% for n = 576
            tolerance = 5 / math.sqrt(2 * weight.numel()) + 0.01
            assert abs(weight.std().item() / expected - 1) < tolerance, name
            assert abs(weight.mean().item()) < 5 * expected / math.sqrt(weight.numel()), name
            assert torch.count_nonzero(module.bias) == 0, name
    first = net.contracting[0][0]
    assert incoming_nodes(first) == 9
    up = net.expansive[0].up[0]
    assert incoming_nodes(up) == 1024


def test_dropout_only_in_train_mode():
    net = UNet2015(2, 1, 2, features=(4, 8, 16), dropout=0.5)
    x = torch.randn(1, 1, 44, 44)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
    deterministic = UNet2015(2, 1, 2, features=(4, 8, 16), dropout=0.0).train()
    assert torch.equal(deterministic(x), deterministic(x))


def test_dropout_sits_at_the_end_of_the_contracting_path():
    net = UNet2015(2, 1, 2, features=(4, 8, 16, 32), dropout=0.5)
    assert net.dropout.p == 0.5
    assert net.dropout_from_level == 2  # the two deepest of four levels


@pytest.mark.parametrize("spatial_dims,size", [(2, (44, 44)), (3, (20, 20, 20))])
def test_a_few_optimizer_steps_reduce_the_loss(spatial_dims, size):
    net = UNet2015(spatial_dims, 1, 2, features=(4, 8) if spatial_dims == 3 else (4, 8, 16), dropout=0.0)
    x = torch.randn(2, 1, *size)
    target = center_crop(x[:, :1] > 0, net.output_size(size))[:, 0].long()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"spatial_dims": 1}, ValueError, "spatial_dims must be 2 or 3, got 1"),
        ({"in_channels": 0}, ValueError, "in_channels must be a positive integer, got 0"),
        ({"out_channels": 1.5}, ValueError, "out_channels must be a positive integer, got 1.5"),
        ({"features": (8,)}, ValueError, r"features needs at least 2 levels, got \(8,\)"),
        ({"features": (8, 0)}, ValueError, r"features must hold positive integers, got \(8, 0\)"),
        ({"features": "64"}, TypeError, "features must be a sequence of ints"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\), got 1.0"),
        ({"norm": "nonsense"}, ValueError, "norm must be None or a MONAI normalisation .* got 'nonsense'"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    arguments = {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "features": (4, 8)} | kwargs
    with pytest.raises(error, match=match):
        UNet2015(**arguments)


def test_invalid_input_size_names_nearest_valid_sizes():
    net = UNet2015(2, 1, 2, features=(4, 8, 16))
    assert net.nearest_valid_input_sizes((45, 44)) == ((44, 48), (44, 44))
    with pytest.raises(ValueError, match=r"spatial axis 0: input size 45 .* nearest valid: 44 or 48"):
        net(torch.zeros(1, 1, 45, 44))
    with pytest.raises(ValueError, match=r"must have shape \(B, C, H, W\) for spatial_dims=2, got \(1, 44, 44\)"):
        net(torch.zeros(1, 44, 44))
    with pytest.raises(ValueError, match=r"input_size must have 2 entries"):
        net.output_size((44, 44, 44))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_size_arithmetic_agrees_with_the_forward_pass(spatial_dims):
    net = UNet2015(spatial_dims, 1, 1, features=(2, 2, 2)).eval()
    for output in (1, 5, 9):
        tile = net.input_size(output)
        with torch.no_grad():
            y = net(torch.zeros(1, 1, *tile))
        assert tuple(y.shape[2:]) == net.output_size(tile)
        assert all(o >= output for o in y.shape[2:])


@pytest.mark.parametrize("export", ["script", "trace"])
@pytest.mark.parametrize("net", [UNet2015(2, 1, 3, features=(4, 8, 16)), UNet3D(1, 2, features=(2, 4))])
def test_torchscript_round_trip(export, net):
    net.eval()
    x = torch.randn(1, 1, *([44, 44] if net.spatial_dims == 2 else [20, 20, 20]))
    module = torch.jit.script(net) if export == "script" else torch.jit.trace(net, x)
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))


def test_onnx_export(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    net = UNet2015(2, 1, 2, features=(4, 8, 16)).eval()
    path = tmp_path / "unet.onnx"
    torch.onnx.export(net, (torch.randn(1, 1, 44, 44),), str(path), dynamo=False, input_names=["image"])
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["image"]


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cuda_matches_cpu(spatial_dims, monkeypatch):
    device = cuda_or_skip()
    # cuDNN computes fp32 convolutions in TF32 by default on Ampere and newer (10-bit mantissa):
    # 3D outputs then differ from the CPU's by up to 3% (seen on an H200). Compared in full fp32.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    net = UNet2015(spatial_dims, 1, 2, features=(4, 8, 16)).eval()
    x = torch.randn(1, 1, *[44] * spatial_dims)
    with torch.no_grad():
        expected = net(x)
        actual = net.to(device)(x.to(device)).cpu()
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=1e-4, rtol=1e-3)
