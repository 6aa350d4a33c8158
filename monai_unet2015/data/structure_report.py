"""The figures of a label map a clinician reads: each structure's volume, size and extent, as JSON.

Computed on the mask as written (the input's own grid and affine), so the volume is the
voxel count times the voxel volume of the image the radiologist sees. ``<name>_volumes.json``
goes beside the mask (:class:`SaveStructureReportd`); the DICOM node's outputs carry the
same figures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from monai_unet2015 import __version__
from monai_unet2015.data.outputs import (
    NOT_FOR_DIAGNOSTIC_USE,
    LabelledOutputd,
    atomic_output,
    check_label_map,
    output_name,
)
from monai_unet2015.data.review import REVIEW_KEY, check_review_thresholds, read_training_volumes, review_result
from monai_unet2015.inferers.overlap_tile import FLIP_DISAGREEMENT_KEY

__all__ = ["structure_measurements", "SaveStructureReportd"]

logger = logging.getLogger(__name__)


def _hull_candidates(binary: np.ndarray) -> np.ndarray:
    """The voxel indices ``(N, ndim)`` that can be vertices of the structure's convex hull.

    A voxel strictly between two others on an axis line is not a vertex, so a vertex is the
    first or last voxel of the structure on each of the axis lines through it. Found with one
    ``argmax`` per axis and direction, so the cost is that of a few passes over the mask,
    whatever the structure's surface (an untrained net's speckle has tens of millions of
    surface voxels).
    """
    extremes = []
    for axis in range(binary.ndim):
        first = binary.argmax(axis)
        last = binary.shape[axis] - 1 - np.flip(binary, axis).argmax(axis)
        extremes.append((first, last))
    columns = np.nonzero(binary.any(-1))
    found = []
    for along_last_axis in extremes[-1]:
        candidates = np.stack([*columns, along_last_axis[columns]], 1)
        for axis in range(binary.ndim - 1):
            first, last = extremes[axis]
            line = tuple(np.delete(candidates, axis, 1).T)
            candidates = candidates[(candidates[:, axis] == first[line]) | (candidates[:, axis] == last[line])]
        found.append(candidates)
    return np.unique(np.concatenate(found), axis=0)


def _largest_diameter(points: np.ndarray) -> float:
    """The largest distance between two of ``points`` ``(N, 3)`` (mm): over the convex hull's vertices."""
    if len(points) < 2:
        return 0.0
    try:
        points = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # flat or tiny: every point is a candidate
        pass
    if len(points) > 4000:  # a hull this large is rare; keep the pairwise step bounded
        points = points[np.linspace(0, len(points) - 1, 4000).astype(int)]
    differences = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((differences**2).sum(-1)).max())


def _measure(mask: np.ndarray, value: int, box: tuple[slice, ...] | None, affine: np.ndarray, voxel_ml: float):
    """The figures of structure ``value``, measured inside its bounding ``box`` in ``mask`` (None: absent)."""
    binary = mask[box] == value if box is not None else None
    voxels = 0 if binary is None else int(binary.sum())
    if not voxels:
        return {"voxels": 0, "volume_ml": 0.0, "components": 0, "largest_diameter_mm": 0.0, "touches_edge": False}
    indices = (_hull_candidates(binary) + [b.start for b in box]).astype(float)
    points = indices @ affine[:3, :3].T + affine[:3, 3]
    return {
        "voxels": voxels,
        "volume_ml": round(voxels * voxel_ml, 3),
        "components": int(ndimage.label(binary)[1]),
        "largest_diameter_mm": round(_largest_diameter(points), 2),
        "touches_edge": any(b.start == 0 or b.stop == n for b, n in zip(box, mask.shape)),
    }


def _bounding_boxes(mask: np.ndarray, values) -> dict[int, tuple[slice, ...] | None]:
    """Each value's bounding box in ``mask`` (None where absent), from one pass over the mask."""
    boxes = ndimage.find_objects(mask, max_label=max([0, *values]))
    return {value: boxes[value - 1] if value >= 1 else tuple(slice(0, n) for n in mask.shape) for value in values}


def structure_measurements(mask: np.ndarray, affine: np.ndarray, labels: Mapping[int, str]) -> dict:
    """Each structure's voxels, volume (mL), connected components, largest diameter (mm) and field-of-view edge.

    Args:
        mask: the label map ``(x, y, z)``.
        affine: its voxel-to-world matrix (mm; RAS or LPS: lengths are the same).
        labels: ``{value: name}``; a structure absent from the mask is listed with zeros.

    Returns:
        a dict: ``voxel_volume_ml``, and ``structures``, one dict per structure in value order
        with ``value``, ``name``, ``voxels``, ``volume_ml``, ``components``,
        ``largest_diameter_mm`` and ``touches_edge``. The diameter is the largest distance
        between two surface voxel centres (the Feret diameter, over the convex hull);
        ``touches_edge``: the structure reaches the image's border, so part of it may lie
        outside the field of view.

    Example::

        >>> mask = np.zeros((10, 10, 10), np.uint8)
        >>> mask[2:6, 2:6, 2:6] = 1
        >>> report = structure_measurements(mask, np.diag([2.0, 2.0, 2.0, 1.0]), {1: "liver"})
        >>> report["structures"][0]["volume_ml"], report["structures"][0]["largest_diameter_mm"]
        (0.512, 10.39)
    """
    mask = check_label_map(mask)
    affine = np.asarray(affine, dtype=float)
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    names = {int(value): str(name) for value, name in sorted(labels.items())}
    boxes = _bounding_boxes(mask, list(names))
    structures = [
        {"value": value, "name": name, **_measure(mask, value, boxes[value], affine, voxel_ml)}
        for value, name in names.items()
    ]
    return {"voxel_volume_ml": round(voxel_ml, 9), "structures": structures}


class SaveStructureReportd(LabelledOutputd):
    """Write ``<output_dir>/<name>_volumes.json``: :func:`structure_measurements` of the label map and its review.

    Use it after :class:`~monai_unet2015.transforms.LabelsToSourceGridd` (the mask on the
    input's grid), beside :class:`~monai_unet2015.data.SaveMaskd`; named like its output,
    written atomically, never over an existing file unless ``overwrite``. The JSON names the
    input (``filename_or_obj``), the software version and that the figures are not for
    diagnostic use; each structure carries its ``flip_disagreement`` where the inferer gave
    one; ``review`` holds :func:`~monai_unet2015.data.review.review_result` (the "needs
    review" flag and its reasons). The review is also left in the label map's
    ``meta["review"]``, where the overlay and report writers after this transform read it.

    Args:
        keys: the label-map key(s), ``(1, x, y, z)`` MetaTensors.
        output_dir: where the JSON goes.
        labels: ``{value: name}`` of the structures.
        name_key: the sample's entry holding the output name.
        overwrite: replace existing files.
        training_fingerprint: the plan's ``*.fingerprint.json`` (or its dict): the volumes
            the training cases had, for the review; None: volumes are not reviewed.
        max_flip_disagreement: the review's flip threshold (share of a structure's voxels).
        volume_tolerance: the review's volume factor.
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | Path,
        labels: Mapping[int, str],
        name_key: str = "name",
        overwrite: bool = False,
        training_fingerprint: str | Path | Mapping | None = None,
        max_flip_disagreement: float = 0.1,
        volume_tolerance: float = 2.0,
    ) -> None:
        super().__init__(keys, output_dir, labels, name_key, overwrite)
        self.training_volumes = read_training_volumes(training_fingerprint)
        check_review_thresholds(max_flip_disagreement, volume_tolerance)
        self.max_flip_disagreement, self.volume_tolerance = max_flip_disagreement, volume_tolerance

    def planned_outputs(self, data: Mapping[Hashable, object]) -> list[Path]:
        """The files this transform will write for a sample."""
        return [self.output_dir / f"{output_name(data, 'image', self.name_key)}_volumes.json" for _ in self.keys]

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            if not isinstance(value, MetaTensor):
                raise TypeError(f"{key!r} must be a MetaTensor with its affine, got {type(value).__name__}.")
            report = self.report(value)
            path = self.output_dir / f"{output_name(d, key, self.name_key)}_volumes.json"
            with atomic_output(path, self.overwrite) as partial:
                partial.write_text(json.dumps(report, indent=2) + "\n")
            value.meta[REVIEW_KEY] = report["review"]
            logger.info("structure volumes written: %s", path)
            if report["review"]["needs_review"]:
                logger.warning("%s needs review: %s", path.name, "; ".join(report["review"]["reasons"]))
        return d

    def report(self, value: MetaTensor) -> dict:
        """The JSON's content for one label map ``(1, x, y, z)``."""
        measured = structure_measurements(np.asarray(value)[0], np.asarray(value.affine), self.labels)
        flips = value.meta.get(FLIP_DISAGREEMENT_KEY)
        flips = None if flips is None else [float(v) for v in np.asarray(flips).reshape(-1)]
        for structure in measured["structures"]:
            inside = flips is not None and structure["value"] < len(flips)
            structure["flip_disagreement"] = round(flips[structure["value"]], 4) if inside else None
        review = review_result(
            measured["structures"], flips, self.training_volumes, self.max_flip_disagreement, self.volume_tolerance
        )
        return {
            "source": str(value.meta.get("filename_or_obj", "")),
            "software": f"monai_unet2015 {__version__}",
            "note": NOT_FOR_DIAGNOSTIC_USE,
            **measured,
            "review": review,
        }
