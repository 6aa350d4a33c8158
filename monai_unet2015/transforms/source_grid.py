"""A label map put back on its source image's grid, nearest neighbour, in the memory of its output."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms.transform import MapTransform, Transform
from monai.utils.enums import TransformBackends

__all__ = ["LabelsToSourceGrid", "LabelsToSourceGridd", "nearest_labels_on_grid"]

# voxels per slab on the oblique path: its coordinates and indices take about 72 bytes a voxel (70 MB)
_STEP_VOXELS = 1_000_000


def _label_dtype(labels: np.ndarray) -> np.dtype:
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max):
        raise ValueError(f"labels must be class ids in 0..65535, got {labels.min()}..{labels.max()}.")
    return np.dtype(np.uint8) if not labels.size or labels.max() <= 255 else np.dtype(np.uint16)


def nearest_labels_on_grid(
    labels: NdarrayOrTensor,
    labels_affine: np.ndarray,
    target_affine: np.ndarray,
    target_shape: Sequence[int],
) -> np.ndarray:
    """The label map ``labels`` ``(1, *S)`` sampled at the voxel centres of another grid.

    Each target voxel takes the label of the nearest ``labels`` voxel (its centre mapped
    through ``inv(labels_affine) @ target_affine`` and rounded); a centre past the labels'
    border takes the border voxel's label. A centre exactly halfway between two label voxels
    (every other voxel where the spacing ratio is exactly 2, e.g. 0.8 mm resampled to 1.6 mm)
    goes to the even index; MONAI's ``Invertd`` decides such ties by float32 rounding noise,
    either way. Elsewhere the two agree voxel for voxel (tested).

    The memory is the output (uint8, or uint16 above 255 classes) and little more: where the
    map is axis-aligned (orientation and spacing only, the bundles' case) one index list per
    axis; otherwise (an oblique grid) the indices of a slab of whole slices at a time.
    ``Invertd`` builds a float sampling grid of the whole target (about 4 GB for a
    512 x 512 x 300 CT).

    Args:
        labels: ``(1, *S)`` class ids (any numeric dtype).
        labels_affine: ``labels``' voxel-to-world matrix, ``(N+1, N+1)``.
        target_affine: the target grid's voxel-to-world matrix.
        target_shape: the target grid's spatial shape.

    Returns:
        ``(1, *target_shape)`` uint8 (uint16 for ids above 255).

    Example::

        >>> import numpy as np
        >>> labels = np.array([[[1, 2]]])  # (1, 1, 2): 2 mm voxels along y
        >>> nearest_labels_on_grid(labels, np.diag([1.0, 2.0, 1.0]), np.eye(3), (1, 4))[0].tolist()
        [[1, 1, 2, 2]]
    """
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim < 2 or array.shape[0] != 1:
        raise ValueError(f"labels must be (1, *S), got shape {array.shape}.")
    array = array[0]
    spatial = array.ndim
    target_shape = tuple(int(s) for s in target_shape)
    for name, matrix in (("labels_affine", labels_affine), ("target_affine", target_affine)):
        if np.shape(matrix) != (spatial + 1, spatial + 1):
            expected = f"{spatial + 1}x{spatial + 1}"
            raise ValueError(f"{name} must be {expected} for {spatial}D labels, got {np.shape(matrix)}.")
    if len(target_shape) != spatial:
        raise ValueError(f"target_shape must have {spatial} entries, got {target_shape}.")
    to_source = np.linalg.inv(np.asarray(labels_affine, np.float64)) @ np.asarray(target_affine, np.float64)
    array = array.astype(_label_dtype(array), copy=False)
    source_axes = _axis_aligned(to_source[:spatial, :spatial])
    if source_axes is not None:
        return _gather_axis_aligned(array, to_source, source_axes, target_shape)[None]
    return _gather_in_slabs(array, to_source, target_shape)[None]


def _axis_aligned(linear: np.ndarray) -> list[int] | None:
    """Per target axis the one source axis it moves along; None for an oblique map."""
    tolerance = 1e-6 * np.abs(linear).max()
    source_axes = []
    for column in np.abs(linear).T:
        moving = np.flatnonzero(column > tolerance)
        if len(moving) != 1:
            return None
        source_axes.append(int(moving[0]))
    return source_axes if len(set(source_axes)) == len(source_axes) else None


def _nearest(coordinates: np.ndarray, size: int) -> np.ndarray:
    return np.clip(np.rint(coordinates), 0, size - 1).astype(np.intp)


def _gather_axis_aligned(
    array: np.ndarray, to_source: np.ndarray, source_axes: list[int], target_shape: tuple[int, ...]
) -> np.ndarray:
    """Orientation and spacing only: one index list per axis, the output gathered in one step."""
    spatial = array.ndim
    index = [
        _nearest(to_source[source, target] * np.arange(size) + to_source[source, spatial], array.shape[source])
        for target, (source, size) in enumerate(zip(source_axes, target_shape))
    ]
    return np.transpose(array, source_axes)[np.ix_(*index)]


def _gather_in_slabs(array: np.ndarray, to_source: np.ndarray, target_shape: tuple[int, ...]) -> np.ndarray:
    """Any affine map: the source index of every target voxel, a slab of whole slices at a time."""
    spatial = array.ndim
    output = np.empty(target_shape, array.dtype)
    plane = int(np.prod(target_shape[:-1]))
    step = max(1, _STEP_VOXELS // max(plane, 1))
    grid = np.indices(target_shape[:-1], dtype=np.float64).reshape(spatial - 1, -1)
    for first in range(0, target_shape[-1], step):
        last = min(first + step, target_shape[-1])
        depth = np.repeat(np.arange(first, last, dtype=np.float64), plane)
        voxels = np.vstack([np.tile(grid, last - first), depth])
        source = to_source[:spatial, :spatial] @ voxels + to_source[:spatial, spatial:]
        index = tuple(_nearest(source[axis], array.shape[axis]) for axis in range(spatial))
        output[..., first:last] = np.moveaxis(array[index].reshape(last - first, *target_shape[:-1]), 0, -1)
    return output


class LabelsToSourceGrid(Transform):
    """Put a label map back on the grid of the image it was predicted from (nearest neighbour).

    The label map's grid is its MetaTensor affine (the network's grid: after ``Orientationd``
    and ``Spacingd``); the source grid is ``target_affine`` and ``target_shape`` (what
    ``LoadImage`` read: the image meta's ``original_affine`` and ``spatial_shape``). In the
    bundles this replaces MONAI's ``Invertd(nearest_interp=True)`` after the argmax: the same
    voxels (ties aside) in a bounded memory, see :func:`nearest_labels_on_grid`.

    Args:
        target_affine: the source image's voxel-to-world matrix.
        target_shape: the source image's spatial shape.

    Shapes:
        ``(1, H, W[, D])`` MetaTensor in; ``(1, *target_shape)`` uint8 MetaTensor out, with
        the input's metadata and ``target_affine`` as its affine.

    Example::

        >>> import numpy as np, torch
        >>> from monai.data import MetaTensor
        >>> labels = MetaTensor(torch.tensor([[[1, 2]]]), affine=torch.diag(torch.tensor([1.0, 2.0, 1.0])))
        >>> LabelsToSourceGrid(np.eye(3), (1, 4))(labels)[0].tolist()
        [[1, 1, 2, 2]]
    """

    backend = [TransformBackends.NUMPY]

    def __init__(self, target_affine: NdarrayOrTensor, target_shape: Sequence[int]) -> None:
        affine = np.asarray(target_affine.cpu() if isinstance(target_affine, torch.Tensor) else target_affine, float)
        if affine.ndim != 2 or affine.shape[0] != affine.shape[1] or affine.shape[0] not in (3, 4):
            raise ValueError(f"target_affine must be a 3x3 or 4x4 matrix, got shape {affine.shape}.")
        shape = tuple(int(s) for s in np.asarray(target_shape).ravel())
        if len(shape) != affine.shape[0] - 1 or any(s < 1 for s in shape):
            raise ValueError(f"target_shape must be {affine.shape[0] - 1} positive sizes, got {target_shape!r}.")
        self.target_affine, self.target_shape = affine, shape

    def __call__(self, labels: NdarrayOrTensor) -> MetaTensor:
        if not isinstance(labels, MetaTensor):
            raise TypeError(f"labels must be a MetaTensor (its affine is the grid), got {type(labels).__name__}.")
        resampled = nearest_labels_on_grid(labels, labels.affine.cpu().numpy(), self.target_affine, self.target_shape)
        meta = dict(labels.meta)
        meta["spatial_shape"] = np.asarray(self.target_shape)
        return MetaTensor(torch.from_numpy(resampled), affine=torch.as_tensor(self.target_affine), meta=meta)


class LabelsToSourceGridd(MapTransform):
    """Dictionary version of :class:`LabelsToSourceGrid`: the source grid from ``image_key``'s metadata.

    ``image_key`` holds the preprocessed image (a MetaTensor); its ``original_affine`` and
    ``spatial_shape`` are the file's grid as ``LoadImaged`` read it, and every key goes back
    to that grid.

    Args:
        keys: the label maps (after the argmax), on the preprocessed image's grid.
        image_key: the preprocessed image.
        allow_missing_keys: skip absent ``keys``.

    Example::

        >>> import numpy as np, torch
        >>> from monai.data import MetaTensor
        >>> image = MetaTensor(torch.zeros(1, 1, 2), meta={"original_affine": np.eye(3), "spatial_shape": (1, 4)})
        >>> pred = MetaTensor(torch.tensor([[[1, 2]]]), affine=torch.diag(torch.tensor([1.0, 2.0, 1.0])))
        >>> LabelsToSourceGridd("pred")({"image": image, "pred": pred})["pred"][0].tolist()
        [[1, 1, 2, 2]]
    """

    backend = LabelsToSourceGrid.backend

    def __init__(self, keys: KeysCollection, image_key: str = "image", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        if not isinstance(image_key, str) or not image_key:
            raise TypeError(f"image_key must be a non-empty string, got {image_key!r}.")
        self.image_key = image_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        image = d[self.image_key]
        meta = image.meta if isinstance(image, MetaTensor) else {}
        missing = [name for name in ("original_affine", "spatial_shape") if name not in meta]
        if missing:
            raise ValueError(
                f"{self.image_key!r} lacks {' and '.join(missing)} in its metadata: load it with LoadImaged "
                "(image_only=True keeps the metadata on the MetaTensor)."
            )
        to_source = LabelsToSourceGrid(meta["original_affine"], meta["spatial_shape"])
        for key in self.key_iterator(d):
            d[key] = to_source(d[key])
        return d
