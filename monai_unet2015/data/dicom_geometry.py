"""The voxel grid of a DICOM image series from its headers: what DICOM labels are drawn onto."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

__all__ = ["SeriesGrid", "series_grid"]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class SeriesGrid:
    """The grid of a DICOM image series as MONAI's readers load it.

    Voxel ``(i, j, k)`` is column ``i`` and row ``j`` of the ``k``-th slice, slices sorted by
    their position along the slice normal (row direction x column direction), which is the
    array and RAS affine ``LoadImage`` returns for the series folder (tested against it).

    Attributes:
        shape: ``(columns, rows, slices)``, MONAI's ``(x, y, z)``.
        lps_affine: 4x4 voxel index -> patient (LPS, mm) matrix, DICOM's own frame.
        sop_instance_uids: the slices' SOPInstanceUIDs, in ``k`` order.
        frame_of_reference_uid: the series' FrameOfReferenceUID.
        series_instance_uid: the series' SeriesInstanceUID.
    """

    shape: tuple[int, int, int]
    lps_affine: np.ndarray
    sop_instance_uids: tuple[str, ...]
    frame_of_reference_uid: str
    series_instance_uid: str

    @property
    def affine(self) -> np.ndarray:
        """The RAS voxel-to-world matrix (NIfTI's and MONAI's convention)."""
        return LPS_TO_RAS @ self.lps_affine

    def to_voxel(self, points: np.ndarray) -> np.ndarray:
        """Patient coordinates ``(N, 3)`` (LPS, mm) as continuous voxel indices ``(N, 3)``."""
        points = np.asarray(points, dtype=float).reshape(-1, 3)
        inverse = np.linalg.inv(self.lps_affine)
        return points @ inverse[:3, :3].T + inverse[:3, 3]


def _slice_normal(orientation: np.ndarray) -> np.ndarray:
    return np.cross(orientation[:3], orientation[3:])


def series_grid(files: Sequence[str | os.PathLike]) -> SeriesGrid:
    """The :class:`SeriesGrid` of the image files of one series (headers only, no pixel data).

    Args:
        files: the series' image files, in any order.

    Raises:
        ValueError: no files, slices of several series, orientations or pixel spacings that
            differ between slices, or a file without the geometry tags; each names the file
            or series.

    Example::

        >>> import tempfile, pathlib, numpy as np
        >>> from monai_unet2015.data import write_dicom_series
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> files = write_dicom_series(np.zeros((6, 5, 4)), np.diag([0.8, 0.8, 2.5, 1.0]), folder)
        >>> grid = series_grid(files)
        >>> grid.shape, np.round(np.diag(grid.affine), 2).tolist()
        ((6, 5, 4), [0.8, 0.8, 2.5, 1.0])
    """
    if not files:
        raise ValueError("series_grid needs the image files of a series, got none.")
    headers = [(Path(f), pydicom.dcmread(f, stop_before_pixels=True)) for f in files]
    first_path, first = headers[0]
    for path, ds in headers:
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
            if keyword not in ds:
                raise ValueError(f"{path} has no {keyword}: its place in the patient is unknown.")
        if ds.SeriesInstanceUID != first.SeriesInstanceUID:
            raise ValueError(f"{path} belongs to series {ds.SeriesInstanceUID}, not {first.SeriesInstanceUID}.")
    orientation = np.asarray(first.ImageOrientationPatient, dtype=float)
    spacing = np.asarray(first.PixelSpacing, dtype=float)  # (between rows, between columns)
    for path, ds in headers[1:]:
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, dtype=float), orientation, atol=1e-4):
            raise ValueError(f"{path} is oriented unlike {first_path} in series {first.SeriesInstanceUID}.")
        if not np.allclose(np.asarray(ds.PixelSpacing, dtype=float), spacing, atol=1e-4):
            raise ValueError(f"{path} has a pixel spacing unlike {first_path} in series {first.SeriesInstanceUID}.")
        if (ds.Rows, ds.Columns) != (first.Rows, first.Columns):
            raise ValueError(f"{path} has another image size than {first_path} in series {first.SeriesInstanceUID}.")
    normal = _slice_normal(orientation)
    headers.sort(key=lambda item: float(np.asarray(item[1].ImagePositionPatient, dtype=float) @ normal))
    positions = np.array([np.asarray(ds.ImagePositionPatient, dtype=float) for _, ds in headers])
    if len(positions) > 1:
        step = (positions[-1] - positions[0]) / (len(positions) - 1)
    else:
        step = normal * float(getattr(first, "SpacingBetweenSlices", 0) or getattr(first, "SliceThickness", 1) or 1)
    lps_affine = np.eye(4)
    lps_affine[:3, 0] = orientation[:3] * spacing[1]  # one column to the right
    lps_affine[:3, 1] = orientation[3:] * spacing[0]  # one row down
    lps_affine[:3, 2] = step
    lps_affine[:3, 3] = positions[0]
    return SeriesGrid(
        shape=(int(first.Columns), int(first.Rows), len(headers)),
        lps_affine=lps_affine,
        sop_instance_uids=tuple(str(ds.SOPInstanceUID) for _, ds in headers),
        frame_of_reference_uid=str(getattr(first, "FrameOfReferenceUID", "")),
        series_instance_uid=str(first.SeriesInstanceUID),
    )
