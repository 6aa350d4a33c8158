import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_unet2015.transforms import CoarseElastic, RandCoarseElastic, RandCoarseElasticd
from monai_unet2015.transforms.elastic_functional import dense_displacement_field
from tests.conftest import cuda_or_skip

INPUT_TYPES = {
    "numpy": lambda a: a,
    "torch": torch.as_tensor,
    "metatensor": lambda a: MetaTensor(torch.as_tensor(a), meta={"filename_or_obj": "case.nii"}),
}
SHAPES = [(1, 32, 40), (3, 17, 23), (1, 16, 18, 20), (2, 9, 12, 7)]


def blobs(shape, seed=0, num=4) -> np.ndarray:
    """Integer label (1, *shape) with a few boxes of ids 1..num."""
    rng = np.random.default_rng(seed)
    label = np.zeros((1, *shape), np.int64)
    for i in range(1, num + 1):
        lo = [rng.integers(0, s // 2) for s in shape]
        label[(0, *[slice(a, a + s // 3) for a, s in zip(lo, shape)])] = i
    return label


MODES_BY_SHAPE = [(s, m) for s in SHAPES for m in ("bilinear", "nearest", "bicubic") if m != "bicubic" or len(s) == 3]


@pytest.mark.parametrize("shape,mode", MODES_BY_SHAPE)
@pytest.mark.parametrize("input_type", INPUT_TYPES)
def test_zero_displacement_is_identity(shape, input_type, mode):
    spatial_dims = len(shape) - 1
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    out = CoarseElastic(np.zeros((spatial_dims,) + (3,) * spatial_dims), mode=mode)(INPUT_TYPES[input_type](image))
    assert type(out) is type(INPUT_TYPES[input_type](image))
    np.testing.assert_allclose(np.asarray(out), image, atol=1e-5)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_constant_displacement_shifts_by_that_many_pixels(spatial_dims):
    shape = (1,) + (20,) * spatial_dims
    image = np.random.default_rng(1).random(shape).astype(np.float32)
    shift = (2, -3, 1)[:spatial_dims]
    displacements = np.stack([np.full((3,) * spatial_dims, float(s)) for s in shift])
    out = CoarseElastic(displacements, mode="nearest")(image)
    # output at x samples the input at x + u: out[y, x] = image[y + 2, x - 3] inside the image
    inner = tuple(slice(4, -4) for _ in range(spatial_dims))
    shifted = tuple(slice(4 + s, 16 + s) for s in shift)
    np.testing.assert_array_equal(out[(0, *inner)], image[(0, *shifted)])


@pytest.mark.parametrize("shape", SHAPES)
def test_label_keeps_its_values_and_dtype(shape):
    label = blobs(shape[1:])
    out = RandCoarseElastic(sigma=5.0, mode="nearest").set_random_state(seed=3)(label)
    assert out.dtype == label.dtype
    assert set(np.unique(out)) <= set(np.unique(label))


@pytest.mark.parametrize("spatial_shape", [(48, 56), (24, 28, 20)])
def test_image_and_label_deform_consistently(spatial_shape):
    label = blobs(spatial_shape, num=3)
    data = {"label": label, "float_label": label.astype(np.float32)}
    out = RandCoarseElasticd(["label", "float_label"], sigma=4.0, mode=["nearest", "bilinear"]).set_random_state(
        seed=7
    )(data)
    smooth = np.asarray(out["float_label"])
    # away from label borders the bilinear copy is an exact integer: it must equal the nearest label
    interior = np.abs(smooth - np.round(smooth)) < 1e-4
    assert interior.mean() > 0.8
    np.testing.assert_array_equal(np.asarray(out["label"])[interior], np.round(smooth[interior]))


def test_dictionary_moves_image_label_and_weight_with_one_field():
    image = np.random.default_rng(0).random((1, 40, 44)).astype(np.float32)
    data = {"image": image, "label": image.copy(), "weight": image.copy()}
    out = RandCoarseElasticd(["image", "label", "weight"], mode="bilinear").set_random_state(seed=1)(data)
    assert not np.allclose(out["image"], image, atol=1e-2)  # it did deform
    np.testing.assert_array_equal(out["image"], out["label"])
    np.testing.assert_array_equal(out["image"], out["weight"])


def test_displacement_at_the_centre_has_mean_zero_and_std_sigma():
    elastic = RandCoarseElastic(sigma=10.0).set_random_state(seed=0)
    centre = []
    for _ in range(3000):
        elastic.randomize(2)
        field = dense_displacement_field(torch.as_tensor(elastic.displacements), (33, 41))
        centre.append(field[:, 16, 20].numpy())
    centre = np.asarray(centre)
    np.testing.assert_allclose(centre.mean(0), 0.0, atol=0.6)  # standard error 10 / sqrt(3000) = 0.18
    np.testing.assert_allclose(centre.std(0), 10.0, rtol=0.05)


def test_same_seed_same_output_and_replay():
    image = np.random.default_rng(0).random((2, 30, 34)).astype(np.float32)
    first = RandCoarseElastic().set_random_state(seed=42)
    second = RandCoarseElastic().set_random_state(seed=42)
    out1, out2 = first(image), second(image)
    np.testing.assert_array_equal(out1, out2)
    replayed = CoarseElastic(first.displacements)(image)
    np.testing.assert_array_equal(out1, replayed)
    assert not np.array_equal(RandCoarseElastic().set_random_state(seed=43)(image), out1)


def test_metadata_is_kept():
    affine = torch.diag(torch.tensor([0.8, 0.8, 2.5, 1.0], dtype=torch.float64))
    image = MetaTensor(torch.rand(1, 20, 22, 12), affine=affine, meta={"filename_or_obj": "ct.nii.gz"})
    out = RandCoarseElastic(sigma=2.0).set_random_state(seed=0)(image)
    assert isinstance(out, MetaTensor)
    assert torch.equal(out.affine, affine) and out.meta["filename_or_obj"] == "ct.nii.gz"


def test_prob_zero_returns_the_input():
    image = np.random.rand(1, 10, 10).astype(np.float32)
    assert RandCoarseElastic(prob=0.0)(image) is image
    data = {"image": image}
    assert RandCoarseElasticd("image", prob=0.0)(data)["image"] is image


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_cuda_matches_cpu(spatial_dims):
    device = cuda_or_skip()
    image = torch.rand(1, *[24] * spatial_dims)
    elastic = RandCoarseElastic().set_random_state(seed=0)
    cpu = elastic(image)
    gpu = CoarseElastic(elastic.displacements)(image.to(device))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sigma": -1.0}, r"sigma must be a number >= 0.0 .* got -1.0"),
        ({"num_control_points": 1}, r"num_control_points must be an integer >= 2 .* got 1"),
        ({"num_control_points": (3, 3, 3, 3)}, r"num_control_points as a sequence needs one entry per spatial axis"),
        ({"prob": 1.5}, r"prob must be in \[0, 1\], got 1.5"),
        ({"mode": "cubic"}, r"mode: By 'cubic', did you mean 'bicubic'\?"),
        ({"padding_mode": "wrap"}, r"padding_mode: Unsupported option 'wrap', Available options are .*'reflection'"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandCoarseElastic(**kwargs)


def test_invalid_displacements_and_inputs():
    with pytest.raises(ValueError, match=r"displacements must have shape \(spatial_dims, n_0"):
        CoarseElastic(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="displacements must be finite"):
        CoarseElastic(np.full((2, 3, 3), np.nan))
    with pytest.raises(ValueError, match="the image has 3 spatial dimensions but displacements are for 2"):
        CoarseElastic(np.zeros((2, 3, 3)))(np.zeros((1, 8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="mode 'bicubic' is 2D only"):
        CoarseElastic(np.zeros((3, 3, 3, 3)), mode="bicubic")(np.zeros((1, 8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="sigma has 2 entries but the image has 3 spatial dimensions"):
        RandCoarseElastic(sigma=(1.0, 2.0))(np.zeros((1, 8, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"mode needs one entry per key \(2\)"):
        RandCoarseElasticd(["image", "label"], mode=["bilinear", "nearest", "nearest"])
    with pytest.raises(RuntimeError, match="no displacements drawn yet"):
        _ = RandCoarseElastic().displacements


def test_padding_mode_mirror_alias_and_anisotropic_sigma():
    elastic = RandCoarseElastic(sigma=(5.0, 5.0, 1.0), num_control_points=(3, 3, 2), padding_mode="mirror")
    assert elastic.deform.padding_mode == "reflection"
    out = elastic.set_random_state(seed=0)(np.random.rand(1, 16, 16, 8).astype(np.float32))
    assert out.shape == (1, 16, 16, 8) and elastic.displacements.shape == (3, 3, 3, 2)
