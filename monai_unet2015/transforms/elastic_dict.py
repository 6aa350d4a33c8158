"""Elastic deformation on a coarse grid (Ronneberger et al. 2015), dictionary transforms."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms.transform import MapTransform, RandomizableTransform
from monai.utils import ensure_tuple_rep

from monai_unet2015.transforms.elastic import CoarseElastic, RandCoarseElastic, check_mode, check_padding_mode

__all__ = ["CoarseElasticd", "RandCoarseElasticd"]


def _per_key(value, keys: tuple, name: str, check) -> tuple[str, ...]:
    """One checked value per key, from one value or a sequence (MONAI's ``ensure_tuple_rep``)."""
    try:
        values = ensure_tuple_rep(value, len(keys))
    except ValueError:
        raise ValueError(f"{name} needs one entry per key ({len(keys)}), got {value!r}.") from None
    return tuple(check(v, name) for v in values)


class CoarseElasticd(MapTransform):
    """Dictionary version of :class:`CoarseElastic`: one deformation for every key.

    Args:
        keys: the keys to deform (image, label, weight map...), each ``(C, H, W[, D])``.
        displacements: ``(spatial_dims, n_0, ..., n_{d-1})`` control-point displacements in pixels.
        mode: one mode or one per key: ``"bilinear"`` for images and weight maps,
            ``"nearest"`` for labels.
        padding_mode: one or one per key; mirror (``"reflection"``) by default.
        allow_missing_keys: don't raise for missing keys.

    Example::

        >>> import numpy as np
        >>> image, label = np.random.rand(1, 32, 32).astype(np.float32), np.zeros((1, 32, 32), np.int64)
        >>> data = {"image": image, "label": label}
        >>> out = CoarseElasticd(["image", "label"], np.zeros((2, 3, 3)), mode=["bilinear", "nearest"])(data)
        >>> np.allclose(out["image"], data["image"], atol=1e-5)
        True
    """

    backend = CoarseElastic.backend

    def __init__(
        self,
        keys: KeysCollection,
        displacements,
        mode: str | Sequence[str] = "bilinear",
        padding_mode: str | Sequence[str] = "reflection",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mode = _per_key(mode, self.keys, "mode", check_mode)
        self.padding_mode = _per_key(padding_mode, self.keys, "padding_mode", check_padding_mode)
        self.deform = CoarseElastic(displacements)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, mode, padding_mode in self.key_iterator(d, self.mode, self.padding_mode):
            d[key] = self.deform(d[key], mode=mode, padding_mode=padding_mode)
        return d


class RandCoarseElasticd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandCoarseElastic`: one random field moves every key.

    The paper's elastic deformation: displacement vectors on a coarse grid (3x3, or 3x3x3
    in 3D) drawn from N(0, sigma^2) with sigma = 10 pixels, cubic B-spline interpolation to
    a dense field, the image resampled smoothly, the label by nearest neighbour and the
    weight map with the same field. The field is drawn once per call and built once for
    all keys. ``self.elastic.displacements`` holds the last draw.

    Args:
        keys: keys to deform, each ``(C, H, W[, D])`` with the same spatial shape.
        sigma: control-point displacement standard deviation in pixels (one or per axis).
        num_control_points: control points per axis (one or per axis).
        prob: probability of deforming a sample (the paper: always, 1.0).
        mode: one or one per key, e.g. ``["bilinear", "nearest", "bilinear"]`` for image,
            label and weight map.
        padding_mode: one or one per key; mirror (``"reflection"``) by default.
        allow_missing_keys: don't raise for missing keys.

    Reference:
        O. Ronneberger, P. Fischer, T. Brox. U-Net. MICCAI 2015, section 3.1; Çiçek et al.
        2016 use the same on a 3x3x3 grid (sigma 4 there).

    Example::

        >>> import numpy as np
        >>> image, label = np.random.rand(1, 64, 64).astype(np.float32), np.ones((1, 64, 64), np.int64)
        >>> data = {"image": image, "label": label}
        >>> elastic = RandCoarseElasticd(["image", "label"], sigma=10.0, mode=["bilinear", "nearest"])
        >>> out = elastic.set_random_state(seed=0)(data)
        >>> out["image"].shape, elastic.elastic.displacements.shape
        ((1, 64, 64), (2, 3, 3))
    """

    backend = RandCoarseElastic.backend

    def __init__(
        self,
        keys: KeysCollection,
        sigma: float | Sequence[float] = 10.0,
        num_control_points: int | Sequence[int] = 3,
        prob: float = 1.0,
        mode: str | Sequence[str] = "bilinear",
        padding_mode: str | Sequence[str] = "reflection",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob!r}.")
        RandomizableTransform.__init__(self, prob)
        self.mode = _per_key(mode, self.keys, "mode", check_mode)
        self.padding_mode = _per_key(padding_mode, self.keys, "padding_mode", check_padding_mode)
        self.elastic = RandCoarseElastic(sigma=sigma, num_control_points=num_control_points, prob=1.0)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.elastic.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        first_key = self.first_key(d)
        if not self._do_transform or first_key == ():
            return d
        self.elastic.randomize(len(d[first_key].shape) - 1)
        for key, mode, padding_mode in self.key_iterator(d, self.mode, self.padding_mode):
            d[key] = self.elastic(d[key], mode=mode, padding_mode=padding_mode, randomize=False)
        return d
