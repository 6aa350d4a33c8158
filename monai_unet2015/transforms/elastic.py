"""Elastic deformation on a coarse grid (Ronneberger et al. 2015): array transforms and dictionary versions."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms.transform import MapTransform, RandomizableTransform, Transform
from monai.utils import ensure_tuple_rep
from monai.utils.enums import GridSampleMode, GridSamplePadMode, TransformBackends
from monai.utils.type_conversion import convert_to_dst_type, convert_to_tensor

from monai_unet2015.options import option
from monai_unet2015.transforms.elastic_functional import resample, sampling_grid

__all__ = ["CoarseElastic", "RandCoarseElastic", "CoarseElasticd", "RandCoarseElasticd"]

_PADDING_ALIASES = {"mirror": "reflection", "reflect": "reflection"}


def check_mode(mode: str, name: str = "mode") -> str:
    """A ``grid_sample`` interpolation mode (MONAI's ``GridSampleMode``)."""
    return option(name, mode, GridSampleMode).value


def check_padding_mode(padding_mode: str, name: str = "padding_mode") -> str:
    """A ``grid_sample`` padding mode (MONAI's ``GridSamplePadMode``); ``"mirror"`` means ``"reflection"``."""
    return option(name, _PADDING_ALIASES.get(padding_mode, padding_mode), GridSamplePadMode).value


def _as_displacement_array(displacements) -> np.ndarray:
    array = np.asarray(displacements.detach().cpu() if isinstance(displacements, torch.Tensor) else displacements)
    if array.ndim not in (3, 4) or array.shape[0] != array.ndim - 1:
        raise ValueError(
            "displacements must have shape (spatial_dims, n_0, ..., n_{spatial_dims-1}) with spatial_dims 2 or 3, "
            f"got {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("displacements must be finite.")
    return array.astype(np.float64)


class CoarseElastic(Transform):
    """Deform an image with given displacement vectors on a coarse grid of control points.

    The deterministic half of :class:`RandCoarseElastic`: it applies (and replays) a drawn
    deformation. The control points span the image; the dense per-pixel displacement is
    their cubic B-spline interpolation (the paper: "per-pixel displacements are then
    computed using bicubic interpolation"); the image is resampled at ``x + u(x)`` on the
    input's device. Metadata of a ``MetaTensor`` is kept (the deformation is a local
    warp, so the affine is unchanged).

    The dense sampling grid is cached for the last spatial shape and device, so a
    dictionary transform that deforms image, label and weight map with one field builds
    the field once.

    Args:
        displacements: ``(spatial_dims, n_0, ..., n_{d-1})`` control-point displacements in
            pixels; component ``i`` moves along spatial axis ``i``.
        mode: ``"bilinear"`` (images, weight maps), ``"nearest"`` (labels) or ``"bicubic"``
            (2D only: torch has no tricubic resampling).
        padding_mode: where samples fall outside the image: ``"reflection"`` (mirror, the
            default), ``"border"`` or ``"zeros"``.

    Shapes:
        ``(C, H, W[, D])`` in and out, numpy or torch (CPU or CUDA); the output type follows
        the input.

    Reference:
        O. Ronneberger, P. Fischer, T. Brox. U-Net. MICCAI 2015, section 3.1.

    Example::

        >>> import numpy as np
        >>> zero = np.zeros((2, 3, 3))
        >>> image = np.random.rand(1, 32, 40).astype(np.float32)
        >>> np.allclose(CoarseElastic(zero)(image), image, atol=1e-5)
        True
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, displacements, mode: str = "bilinear", padding_mode: str = "reflection") -> None:
        self.mode = check_mode(mode)
        self.padding_mode = check_padding_mode(padding_mode)
        self.displacements = displacements

    @property
    def displacements(self) -> np.ndarray:
        """The control-point displacements, ``(spatial_dims, n_0, ..., n_{d-1})`` in pixels."""
        return self._displacements

    @displacements.setter
    def displacements(self, value) -> None:
        self._displacements = _as_displacement_array(value)
        self._grid_cache: tuple[tuple, torch.Tensor] | None = None

    def grid(self, spatial_shape: Sequence[int], device: torch.device | str | None = None) -> torch.Tensor:
        """The ``grid_sample`` grid ``(1, *spatial_shape, spatial_dims)`` of this deformation."""
        spatial_shape = tuple(int(s) for s in spatial_shape)
        if len(spatial_shape) != self._displacements.shape[0]:
            raise ValueError(
                f"the image has {len(spatial_shape)} spatial dimensions but displacements are for "
                f"{self._displacements.shape[0]} (shape {self._displacements.shape})."
            )
        device = torch.device(device) if device is not None else torch.device("cpu")
        key = (spatial_shape, device)
        if self._grid_cache is None or self._grid_cache[0] != key:
            displacements = torch.as_tensor(self._displacements, dtype=torch.float32, device=device)
            self._grid_cache = (key, sampling_grid(displacements, spatial_shape))
        return self._grid_cache[1]

    def __call__(
        self, img: NdarrayOrTensor, mode: str | None = None, padding_mode: str | None = None
    ) -> NdarrayOrTensor:
        """Deform ``img`` ``(C, H, W[, D])``; ``mode`` / ``padding_mode`` override the defaults."""
        mode = self.mode if mode is None else check_mode(mode)
        padding_mode = self.padding_mode if padding_mode is None else check_padding_mode(padding_mode)
        image = convert_to_tensor(img, track_meta=False)
        if mode == "bicubic" and image.ndim != 3:
            raise ValueError("mode 'bicubic' is 2D only (torch has no tricubic resampling); use 'bilinear' in 3D.")
        deformed = resample(image, self.grid(image.shape[1:], image.device), mode, padding_mode)
        out, *_ = convert_to_dst_type(deformed, dst=img)
        return out


class RandCoarseElastic(RandomizableTransform):
    """Random elastic deformation on a coarse grid, as in Ronneberger et al. 2015.

    Draws displacement vectors on a grid of ``num_control_points`` per axis (the paper:
    3x3; 3x3x3 in 3D) from N(0, sigma^2) with ``sigma`` in pixels (the paper: 10), and
    applies them with :class:`CoarseElastic`. After :meth:`randomize` (or a call) the drawn
    vectors are in :attr:`displacements`: log them, or replay them with
    ``CoarseElastic(rand.displacements)``.

    Args:
        sigma: standard deviation of the control-point displacements in pixels, one value
            or one per spatial axis (for anisotropic volumes).
        num_control_points: control points per axis, one value or one per axis (>= 2).
        prob: probability of deforming (the paper deforms every sample: default 1.0).
        mode: resampling mode, see :class:`CoarseElastic`.
        padding_mode: see :class:`CoarseElastic`; mirror by default.

    Shapes:
        ``(C, H, W[, D])`` in and out.

    Example::

        >>> import numpy as np
        >>> elastic = RandCoarseElastic(sigma=10.0, num_control_points=3)
        >>> _ = elastic.set_random_state(seed=0)
        >>> out = elastic(np.random.rand(1, 64, 64).astype(np.float32))
        >>> out.shape, elastic.displacements.shape
        ((1, 64, 64), (2, 3, 3))
        >>> replay = CoarseElastic(elastic.displacements)(np.ones((1, 64, 64), np.float32))
    """

    backend = CoarseElastic.backend

    def __init__(
        self,
        sigma: float | Sequence[float] = 10.0,
        num_control_points: int | Sequence[int] = 3,
        prob: float = 1.0,
        mode: str = "bilinear",
        padding_mode: str = "reflection",
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob!r}.")
        RandomizableTransform.__init__(self, prob)
        self.sigma = _check_per_axis_values(sigma, "sigma", minimum=0.0, integer=False)
        self.num_control_points = _check_per_axis_values(num_control_points, "num_control_points", 2, integer=True)
        self.deform = CoarseElastic(np.zeros((2, 2, 2)), mode=mode, padding_mode=padding_mode)
        self._drawn = False

    @property
    def displacements(self) -> np.ndarray:
        """The last drawn control-point displacements ``(spatial_dims, n_0, ..., n_{d-1})``."""
        if not self._drawn:
            raise RuntimeError("no displacements drawn yet: call randomize(spatial_dims) or the transform first.")
        return self.deform.displacements

    def randomize(self, spatial_dims: int) -> None:  # type: ignore[override]
        """Decide whether to deform and draw the displacements for ``spatial_dims`` (2 or 3)."""
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        super().randomize(None)
        if not self._do_transform:
            return
        points = _per_axis(self.num_control_points, spatial_dims, "num_control_points")
        sigma = np.asarray(_per_axis(self.sigma, spatial_dims, "sigma"), dtype=np.float64)
        draws = self.R.normal(0.0, 1.0, size=(spatial_dims, *points))
        self.deform.displacements = draws * sigma.reshape((spatial_dims,) + (1,) * spatial_dims)
        self._drawn = True

    def __call__(
        self, img: NdarrayOrTensor, mode: str | None = None, padding_mode: str | None = None, randomize: bool = True
    ) -> NdarrayOrTensor:
        """Deform ``img`` ``(C, H, W[, D])``; ``randomize=False`` reuses the last draw."""
        if randomize:
            self.randomize(len(img.shape) - 1)
        if not self._do_transform:
            return img
        return self.deform(img, mode=mode, padding_mode=padding_mode)


def _check_per_axis_values(value, name: str, minimum: float, integer: bool):
    values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    kind = int if integer else (int, float)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, kind) or v < minimum:
            what = "an integer" if integer else "a number"
            raise ValueError(f"{name} must be {what} >= {minimum} or a sequence of them (one per axis), got {value!r}.")
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) not in (2, 3):
        raise ValueError(f"{name} as a sequence needs one entry per spatial axis (2 or 3), got {value!r}.")
    return tuple(value) if isinstance(value, Sequence) else value


def _per_axis(value, spatial_dims: int, name: str) -> tuple:
    if isinstance(value, tuple):
        if len(value) != spatial_dims:
            raise ValueError(f"{name} has {len(value)} entries but the image has {spatial_dims} spatial dimensions.")
        return value
    return (value,) * spatial_dims


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
