import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_unet2015.transforms import BorderWeightMap, BorderWeightMapd
from monai_unet2015.transforms.weight_map_functional import border_weight_map, border_weight_map_naive


def brute_force_border_term(objects, w0=10.0, sigma=5.0, spacing=None):
    """d1, d2 from explicit pixel coordinates: independent of any distance transform."""
    spacing = np.ones(objects.ndim) if spacing is None else np.asarray(spacing, float)
    coords = np.indices(objects.shape).reshape(objects.ndim, -1).T * spacing
    flat = objects.ravel()
    per_object = [
        np.sqrt(((coords[:, None, :] - coords[flat == i][None]) ** 2).sum(-1)).min(1) for i in np.unique(flat[flat > 0])
    ]
    term = np.zeros(flat.shape)
    if len(per_object) >= 2:
        distances = np.sort(np.stack(per_object), axis=0)
        term = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
        term[flat > 0] = 0
    return term.reshape(objects.shape)


def two_squares(gap=2):
    label = np.zeros((20, 30), np.int64)
    label[5:15, 3:13] = 1
    label[5:15, 13 + gap : 23 + gap] = 2
    return label


def random_instances(shape, count, seed):
    """Touching Voronoi-like objects separated by one-pixel background lines."""
    rng = np.random.default_rng(seed)
    seeds = np.stack([rng.integers(0, s, count) for s in shape], -1)
    grid = np.indices(shape).reshape(len(shape), -1).T
    label = (((grid[:, None] - seeds[None]) ** 2).sum(-1).argmin(1) + 1).reshape(shape)
    edge = np.zeros(shape, bool)
    for axis in range(len(shape)):
        a = [slice(None)] * len(shape)
        b = [slice(None)] * len(shape)
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        edge[tuple(a)] |= label[tuple(a)] != label[tuple(b)]
    label[edge] = 0
    return label


HAND_BUILT = {
    "two_touching_squares": two_squares(gap=1),
    "two_squares_gap_2": two_squares(gap=2),
    "one_object": np.pad(np.ones((5, 5), np.int64), 6),
    "empty": np.zeros((12, 14), np.int64),
    "3d_two_cubes": np.pad(np.stack([np.ones((4, 4, 4)), np.zeros((4, 4, 4))]).reshape(8, 4, 4), 3).astype(np.int64)
    + np.pad(np.stack([np.zeros((4, 4, 4)), 2 * np.ones((4, 4, 4))]).reshape(8, 4, 4), 3).astype(np.int64),
}


@pytest.mark.parametrize("name", HAND_BUILT)
def test_hand_built_cases_equal_the_direct_reference(name):
    objects = HAND_BUILT[name]
    expected = brute_force_border_term(objects)
    np.testing.assert_allclose(border_weight_map(objects), expected, atol=1e-6)
    np.testing.assert_allclose(border_weight_map_naive(objects), expected, atol=1e-6)


def test_value_in_the_gap_between_two_squares():
    weight = BorderWeightMap(class_weights=None)(two_squares(gap=2)[None])
    assert weight[0, 10, 13] == pytest.approx(1 + 10 * np.exp(-((1 + 2) ** 2) / 50), rel=1e-6)
    assert weight[0, 10, 5] == pytest.approx(1.0)  # inside an object: only w_c


def test_one_object_or_none_has_no_border_term():
    for objects in (HAND_BUILT["one_object"], HAND_BUILT["empty"]):
        assert not border_weight_map(objects).any()


@pytest.mark.parametrize("shape,count,seed", [((64, 64), 12, 0), ((96, 80), 30, 1), ((24, 20, 16), 8, 2)])
def test_random_label_images_equal_the_naive_method(shape, count, seed):
    objects = random_instances(shape, count, seed)
    np.testing.assert_allclose(border_weight_map(objects), border_weight_map_naive(objects), atol=1e-4)


def test_random_small_image_equals_the_direct_reference():
    objects = random_instances((30, 34), 7, 3)
    np.testing.assert_allclose(border_weight_map(objects), brute_force_border_term(objects), atol=1e-6)


def test_large_sigma_and_anisotropic_spacing():
    objects = random_instances((40, 36, 10), 9, 4)
    spacing = (0.8, 0.8, 2.5)
    fast = border_weight_map(objects, sigma=8.0, spacing=spacing)
    np.testing.assert_allclose(fast, brute_force_border_term(objects, sigma=8.0, spacing=spacing), atol=1e-6)


def test_spacing_from_metatensor():
    objects = random_instances((30, 30, 8), 6, 5)
    affine = torch.diag(torch.tensor([0.8, 0.8, 2.5, 1.0], dtype=torch.float64))
    label = MetaTensor(torch.as_tensor(objects)[None], affine=affine)
    weight = BorderWeightMap(class_weights=None, spacing="meta")(label)
    assert isinstance(weight, MetaTensor) and weight.dtype == torch.float32 and weight.shape == label.shape
    expected = 1 + border_weight_map(objects, spacing=(0.8, 0.8, 2.5))
    np.testing.assert_allclose(weight[0].numpy(), expected, atol=1e-5)


def test_balanced_class_weights():
    label = two_squares()[None]
    class_part = BorderWeightMap(w0=0.0)(label)[0]
    foreground = label[0] > 0
    assert class_part.mean() == pytest.approx(1.0, rel=1e-6)
    assert class_part[~foreground][0] / class_part[foreground][0] == pytest.approx(
        foreground.sum() / (~foreground).sum()
    )
    explicit = BorderWeightMap(w0=0.0, class_weights=[0.5, 2.0])(label)[0]
    assert explicit[~foreground].max() == 0.5 and explicit[foreground].min() == 2.0


def test_semantic_mask_with_connected_components():
    semantic = (two_squares(gap=2) > 0).astype(np.int64)[None]
    instances = two_squares(gap=2)[None]
    semantic_map = BorderWeightMap(connected_components=True, class_weights=None)(semantic)
    np.testing.assert_allclose(semantic_map, BorderWeightMap(class_weights=None)(instances))


@pytest.mark.parametrize("to_type", [np.asarray, torch.as_tensor])
def test_dictionary_version_writes_weight_key(to_type):
    data = {"label": to_type(two_squares()[None])}
    out = BorderWeightMapd("label", weight_key="w")(data)
    assert out["w"].shape == (1, 20, 30) and type(out["w"]) is type(data["label"])
    assert out["w"].dtype in (np.float32, torch.float32)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"w0": -1}, "w0 must be a number >= 0, got -1"),
        ({"sigma": 0}, "sigma must be a number > 0, got 0"),
        ({"class_weights": "inverse"}, "class_weights must be 'balanced', None or one weight per class, got 'inverse'"),
        ({"class_weights": [1.0, -2.0]}, r"class_weights must hold numbers >= 0"),
        ({"spacing": "mm"}, "spacing must be None, 'meta' or one positive number per axis, got 'mm'"),
        ({"spacing": (1.0, 0.0)}, r"spacing must hold positive numbers, got \(1.0, 0.0\)"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BorderWeightMap(**kwargs)


def test_invalid_labels():
    with pytest.raises(ValueError, match=r"label must be channel-first \(1, H, W\[, D\]\), got shape \(2, 5, 5\)"):
        BorderWeightMap()(np.zeros((2, 5, 5), np.int64))
    with pytest.raises(ValueError, match="label must hold ids >= 0, got minimum -1"):
        BorderWeightMap()(-np.ones((1, 5, 5), np.int64))
    with pytest.raises(ValueError, match="label must hold integer ids"):
        BorderWeightMap()(np.full((1, 5, 5), 0.5))
    with pytest.raises(ValueError, match="class_weights has 2 entries but the label has class 3"):
        BorderWeightMap(connected_components=True, class_weights=[1, 1])(np.full((1, 5, 5), 3))
    with pytest.raises(ValueError, match="spacing='meta' needs a MetaTensor label"):
        BorderWeightMap(spacing="meta")(np.zeros((1, 5, 5), np.int64))
