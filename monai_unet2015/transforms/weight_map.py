"""The border weight map of Ronneberger et al. 2015 as MONAI transforms."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms.transform import MapTransform, Transform
from monai.utils.enums import TransformBackends
from monai.utils.misc import ensure_tuple_rep
from monai.utils.type_conversion import convert_to_dst_type, convert_to_numpy

from monai_unet2015.transforms.weight_map_functional import border_weight_map, class_weight_map, find_objects

__all__ = ["BorderWeightMap", "BorderWeightMapd"]


class BorderWeightMap(Transform):
    r"""Pixel weights that make the net learn the thin borders between touching objects.

    :math:`w(x) = w_c(x) + w_0 \exp\left(-\frac{(d_1(x) + d_2(x))^2}{2\sigma^2}\right)`
    (Ronneberger et al. 2015, eq. 2): :math:`d_1` and :math:`d_2` are the Euclidean distances
    from a background pixel :math:`x` to the nearest and the second-nearest object; the border
    term applies to background pixels (label 0) and is 0 where fewer than two objects exist.
    :math:`w_c` balances the class frequencies.
    The map depends only on the label, so compute it once per ground truth (before the
    random transforms, inside a ``CacheDataset``) and deform it with the label's field.

    Fast and exact to 1e-8 * w0: see
    :func:`~monai_unet2015.transforms.weight_map_functional.border_weight_map` for the
    method and the argument; the tests compare it with the naive definition.

    Args:
        w0: border weight (the paper: 10).
        sigma: border width (the paper: about 5 pixels). In pixels unless ``spacing`` is set.
        class_weights: ``"balanced"`` (inverse class frequency, the default), None
            (``w_c = 1``), or one weight per class, background first.
        connected_components: False: the label is an instance map (every id one object,
            classes background / foreground); True: a semantic mask whose connected
            components of each class are the objects (classes are the label values).
        spacing: None: distances and sigma in pixels (the paper). ``"meta"``: the pixel
            size from the input MetaTensor (``pixdim``), sigma in those physical units (mm
            for NIfTI/DICOM), for anisotropic volumes. Or an explicit sequence per axis.

    Shapes:
        label ``(1, H, W[, D])`` in, float32 weight ``(1, H, W[, D])`` out (type follows input).

    Reference:
        O. Ronneberger, P. Fischer, T. Brox. U-Net. MICCAI 2015, section 3, eq. 2.

    Example::

        >>> import numpy as np
        >>> label = np.zeros((1, 20, 30), np.int64)
        >>> label[0, 5:15, 3:13], label[0, 5:15, 15:25] = 1, 2  # two squares, 2 pixels apart
        >>> weight = BorderWeightMap(class_weights=None)(label)
        >>> weight.shape, weight.dtype  # float32, one channel
        ((1, 20, 30), dtype('float32'))
        >>> round(float(weight[0, 10, 13]), 3)  # in the gap d1 = 1, d2 = 2: 1 + 10 exp(-9 / 50)
        9.353
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        w0: float = 10.0,
        sigma: float = 5.0,
        class_weights: str | Sequence[float] | None = "balanced",
        connected_components: bool = False,
        spacing: str | Sequence[float] | None = None,
    ) -> None:
        if not isinstance(w0, (int, float)) or isinstance(w0, bool) or w0 < 0:
            raise ValueError(f"w0 must be a number >= 0, got {w0!r}.")
        if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or sigma <= 0:
            raise ValueError(f"sigma must be a number > 0, got {sigma!r}.")
        if isinstance(class_weights, str) and class_weights != "balanced":
            raise ValueError(f"class_weights must be 'balanced', None or one weight per class, got {class_weights!r}.")
        if class_weights is not None and not isinstance(class_weights, str):
            if any(not isinstance(c, (int, float)) or c < 0 for c in class_weights):
                raise ValueError(f"class_weights must hold numbers >= 0, got {class_weights!r}.")
        if isinstance(spacing, str) and spacing != "meta":
            raise ValueError(f"spacing must be None, 'meta' or one positive number per axis, got {spacing!r}.")
        if spacing is not None and not isinstance(spacing, str) and any(s <= 0 for s in spacing):
            raise ValueError(f"spacing must hold positive numbers, got {spacing!r}.")
        self.w0 = float(w0)
        self.sigma = float(sigma)
        self.class_weights = class_weights
        self.connected_components = connected_components
        self.spacing = spacing

    def _spacing_for(self, label: NdarrayOrTensor, spatial_dims: int) -> Sequence[float] | None:
        if self.spacing is None:
            return None
        if self.spacing == "meta":
            if not isinstance(label, MetaTensor):
                raise ValueError("spacing='meta' needs a MetaTensor label (with pixdim); got a plain array.")
            return [float(s) for s in label.pixdim[:spatial_dims]]
        if len(self.spacing) != spatial_dims:
            raise ValueError(f"spacing has {len(self.spacing)} entries but the label has {spatial_dims} spatial axes.")
        return self.spacing

    def __call__(self, label: NdarrayOrTensor) -> NdarrayOrTensor:
        """Weight map ``(1, H, W[, D])`` of a channel-first label ``(1, H, W[, D])``."""
        if len(label.shape) not in (3, 4) or label.shape[0] != 1:
            raise ValueError(f"label must be channel-first (1, H, W[, D]), got shape {tuple(label.shape)}.")
        array = convert_to_numpy(label)[0]
        if array.dtype.kind == "f":
            if not np.all(np.equal(np.mod(array, 1), 0)):
                raise ValueError("label must hold integer ids; got non-integer values.")
            array = array.astype(np.int64)
        if array.min() < 0:
            raise ValueError(f"label must hold ids >= 0, got minimum {array.min()}.")
        objects = find_objects(array, self.connected_components)
        classes = array if self.connected_components else (array > 0).astype(np.int64)
        spacing = self._spacing_for(label, array.ndim)
        weight = class_weight_map(classes, self.class_weights)
        weight += border_weight_map(objects, self.w0, self.sigma, spacing)
        out, *_ = convert_to_dst_type(weight[None].astype(np.float32), dst=label, dtype=torch.float32)
        return out


class BorderWeightMapd(MapTransform):
    """Dictionary version of :class:`BorderWeightMap`: writes the weight map of each label key.

    Args:
        keys: label key(s), each ``(1, H, W[, D])``.
        weight_key: where to write the weight map; one per key (default ``"weight"``).
        w0, sigma, class_weights, connected_components, spacing: see :class:`BorderWeightMap`.
        allow_missing_keys: don't raise for missing keys.

    Example::

        >>> import numpy as np
        >>> label = np.zeros((1, 20, 30), np.int64)
        >>> label[0, 5:15, 3:13], label[0, 5:15, 15:25] = 1, 2
        >>> BorderWeightMapd("label")({"label": label})["weight"].shape
        (1, 20, 30)
    """

    backend = BorderWeightMap.backend

    def __init__(
        self,
        keys: KeysCollection,
        weight_key: str | Sequence[str] = "weight",
        w0: float = 10.0,
        sigma: float = 5.0,
        class_weights: str | Sequence[float] | None = "balanced",
        connected_components: bool = False,
        spacing: str | Sequence[float] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.weight_key = ensure_tuple_rep(weight_key, len(self.keys))
        self.weight_map = BorderWeightMap(w0, sigma, class_weights, connected_components, spacing)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, weight_key in self.key_iterator(d, self.weight_key):
            d[weight_key] = self.weight_map(d[key])
        return d
