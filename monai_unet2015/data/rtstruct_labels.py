"""RTSTRUCT contours as voxels of the image series they were drawn on.

The rule (stated in the docs, tested against scikit-image's rasteriser and against the
contours' own geometry):

- contour points (LPS, mm) become continuous voxel indices of the series' grid;
- each contour must lie in one slice plane of the series (within 0.05 of a slice); a contour
  that does not (drawn on an oblique reformat) is an error, never a silent projection;
- slice ``k`` takes the contours of the **nearest contour plane** in its half-open band
  ``[k - 1/2, k + 1/2)`` of slice positions (of two planes equally near, the lower one), so
  a plane half-way between two slices belongs to the upper one alone, and contours drawn at
  a finer step than the slices are sampled, not stacked;
- a voxel of that slice is inside where its **centre** is inside the plane's contours by the
  **even-odd rule** (a contour inside another is a hole, a third one inside it an island);
  a centre exactly on an edge counts on the edges that face +x (half-open, as a scanline
  fill does);
- contour parts past the image's edges are clipped; planes beyond the first or last slice
  are left out with a warning; an ROI without contours is an empty class with a warning;
- open contours and points (``POINT``, ``OPEN_PLANAR``, ``OPEN_NONPLANAR``) enclose nothing
  and are left out with a log line.

Parsing uses pydicom alone: an RTSTRUCT is a few nested sequences of numbers, and the
libraries that wrap it (rt-utils and kin) rasterise with OpenCV's ``fillPoly`` on axial
series only, which is the part we need to get right for any orientation.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np
import pydicom

from monai_unet2015.data.dicom_geometry import SeriesGrid

__all__ = ["RoiContours", "read_rtstruct", "rasterise_contours", "fill_even_odd"]

logger = logging.getLogger(__name__)

_CLOSED = ("CLOSED_PLANAR", "CLOSED_PLANAR_XOR")
_PLANE_TOLERANCE = 0.05  # of a slice: contour points written with a few decimals of a mm


@dataclass
class RoiContours:
    """One ROI of an RTSTRUCT: its number, name, frame of reference and closed contours (LPS, mm)."""

    number: int
    name: str
    frame_of_reference_uid: str = ""
    contours: list[np.ndarray] = field(default_factory=list)  # each (N, 3)


def read_rtstruct(path: str | os.PathLike) -> list[RoiContours]:
    """The ROIs of an RTSTRUCT file, each with its closed planar contours.

    Raises:
        ValueError: the file is not a readable RTSTRUCT, or a contour's point count does not
            match its data (named by file and ROI).
    """
    try:
        ds = pydicom.dcmread(path)
    except Exception as error:
        raise ValueError(f"{path} is not a readable DICOM file: {type(error).__name__}: {error}") from None
    if str(getattr(ds, "Modality", "")).upper() != "RTSTRUCT":
        raise ValueError(f"{path} is a {getattr(ds, 'Modality', 'no-Modality')} object, not an RTSTRUCT.")
    rois = {
        int(item.ROINumber): RoiContours(
            int(item.ROINumber), str(item.ROIName), str(getattr(item, "ReferencedFrameOfReferenceUID", ""))
        )
        for item in getattr(ds, "StructureSetROISequence", [])
    }
    for item in getattr(ds, "ROIContourSequence", []):
        roi = rois.get(int(item.ReferencedROINumber))
        if roi is None:
            logger.warning(
                "%s: contours of ROI number %s, which the structure set does not name", path, item.ReferencedROINumber
            )
            continue
        for contour in getattr(item, "ContourSequence", []):
            kind = str(getattr(contour, "ContourGeometricType", "CLOSED_PLANAR"))
            if kind not in _CLOSED:
                logger.info("%s: ROI %r has a %s contour, which encloses nothing: left out", path, roi.name, kind)
                continue
            points = np.asarray(contour.ContourData, dtype=float)
            if points.size % 3 or points.size // 3 != int(getattr(contour, "NumberOfContourPoints", points.size // 3)):
                raise ValueError(
                    f"{path}: ROI {roi.name!r} has a contour whose ContourData is not its NumberOfContourPoints x 3."
                )
            if len(points) >= 9:  # a polygon needs three points
                roi.contours.append(points.reshape(-1, 3))
    return list(rois.values())


def fill_even_odd(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The pixels of ``shape = (nx, ny)`` whose centres are inside ``polygons`` by the even-odd rule.

    Args:
        polygons: ``(N, 2)`` vertices ``(x, y)`` in pixel indices (pixel ``(i, j)``'s centre
            is ``(i, j)``); each closes back to its first vertex.
        shape: ``(nx, ny)``.

    Returns:
        A boolean ``(nx, ny)`` mask: a centre ``(x, y)`` is inside where an odd number of edges
        cross row ``y`` left of ``x`` (edges span ``[y_low, y_high)``).

    Example::

        >>> square = np.array([[0.5, 0.5], [2.5, 0.5], [2.5, 2.5], [0.5, 2.5]])
        >>> fill_even_odd([square], (4, 4)).astype(int).tolist()
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    nx, ny = shape
    toggles = np.zeros((ny, nx + 1), np.int32)
    for polygon in polygons:
        start, end = polygon, np.roll(polygon, -1, axis=0)
        low, high = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
        first = np.clip(np.ceil(low), 0, ny).astype(np.int64)
        stop = np.clip(np.ceil(high), 0, ny).astype(np.int64)  # rows first..stop-1 satisfy low <= y < high
        counts = np.maximum(stop - first, 0)
        edge = np.repeat(np.arange(len(polygon)), counts)
        if edge.size == 0:
            continue
        rows = first[edge] + (np.arange(edge.size) - np.repeat(np.cumsum(counts) - counts, counts))
        x0, y0, x1, y1 = start[edge, 0], start[edge, 1], end[edge, 0], end[edge, 1]
        crossing = x0 + (rows - y0) * (x1 - x0) / (y1 - y0)
        first_inside = np.clip(np.floor(crossing).astype(np.int64) + 1, 0, nx)  # first centre right of it
        np.add.at(toggles, (rows, first_inside), 1)
    return (np.cumsum(toggles, axis=1)[:, :nx] % 2 == 1).T


def _contour_planes(roi: RoiContours, grid: SeriesGrid, source) -> dict[float, list[np.ndarray]]:
    """The ROI's contours in voxel indices, grouped by their slice coordinate (rounded to 1e-3)."""
    planes: dict[float, list[np.ndarray]] = {}
    for index, contour in enumerate(roi.contours):
        voxels = grid.to_voxel(contour)
        extent = float(np.ptp(voxels[:, 2]))
        if extent > _PLANE_TOLERANCE:
            raise ValueError(
                f"{source}: contour {index} of ROI {roi.name!r} is not in a slice plane of series "
                f"{grid.series_instance_uid} (it spans {extent:.2f} slices): contours drawn on another "
                "orientation cannot be turned into voxels of this series."
            )
        planes.setdefault(round(float(voxels[:, 2].mean()), 3), []).append(voxels[:, :2])
    return planes


def rasterise_contours(roi: RoiContours, grid: SeriesGrid, source: str | os.PathLike = "RTSTRUCT") -> np.ndarray:
    """The voxels of ``grid`` inside ``roi``'s contours, by the module's rule: a bool ``(x, y, z)`` mask.

    Raises:
        ValueError: a contour that is not in a slice plane of the series (names ``source``
            and the ROI).
    """
    mask = np.zeros(grid.shape, bool)
    planes = _contour_planes(roi, grid, source)
    if not planes:
        logger.warning("%s: ROI %r has no closed contour: its class is empty in this case", source, roi.name)
        return mask
    levels = np.array(sorted(planes))
    band = np.floor(levels + 0.5 + 1e-6).astype(np.int64)  # the slice whose band holds each plane
    outside = levels[(band < 0) | (band >= grid.shape[2])]
    if outside.size:
        logger.warning(
            "%s: ROI %r has %d contour plane(s) beyond the series' slices (slice positions %s): left out",
            source,
            roi.name,
            outside.size,
            np.round(outside, 2).tolist()[:5],
        )
    for k in np.unique(band[(band >= 0) & (band < grid.shape[2])]):
        candidates = levels[band == k]
        nearest = candidates[int(np.argmin(np.abs(candidates - k)))]  # the first of equals: the lower
        mask[:, :, k] = fill_even_odd(planes[float(nearest)], grid.shape[:2])
    return mask
