"""Before inference: is a series one the model was made for? A "not applicable" answer, with the reason.

An MR series sent to a CT model, or a CT with slices far thicker or thinner than any the
model was trained on, comes back as a confident but meaningless mask (MONAI Deploy App SDK
175, 505; TotalSegmentator 220, 450). :class:`ApplicabilityGate` checks a complete series'
headers before the bundle runs:

- the modality against the bundle's;
- with the plan the model was trained with (``python -m monai_unet2015 plan``: its
  ``*.fingerprint.json`` beside it), the in-plane pixel spacing and the slice spacing
  against the training images' spacings: outside ``[min / tolerance, max * tolerance]`` per
  axis is not applicable.

Without a plan only the modality is checked, and the node says so at start. Intensity and
body-region checks are not done yet (issue 41, item 3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom

__all__ = ["ApplicabilityGate", "series_spacing"]

logger = logging.getLogger(__name__)


def series_spacing(headers: Sequence[pydicom.Dataset]) -> tuple[float, float, float]:
    """``(column spacing, row spacing, slice spacing)`` in mm of a series' slices (MONAI's x, y, z order).

    The slice spacing is the median step between the slices' positions along the normal;
    a single slice gives its Slice Thickness (or 0).

    Example::

        >>> import pydicom
        >>> slices = []
        >>> for z in (0.0, 2.5, 5.0):
        ...     ds = pydicom.Dataset()
        ...     ds.PixelSpacing, ds.ImageOrientationPatient = [0.7, 0.8], [1, 0, 0, 0, 1, 0]
        ...     ds.ImagePositionPatient = [0, 0, z]
        ...     slices.append(ds)
        >>> series_spacing(slices)
        (0.8, 0.7, 2.5)
    """
    first = headers[0]
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    orientation = np.asarray(first.ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    along = np.sort([float(np.asarray(ds.ImagePositionPatient, dtype=float) @ normal) for ds in headers])
    steps = np.diff(along)
    slice_spacing = float(np.median(steps)) if len(steps) else float(first.get("SliceThickness") or 0.0)
    return round(column_spacing, 4), round(row_spacing, 4), round(slice_spacing, 4)


class ApplicabilityGate:
    """Whether a series is one the model was made for (module docstring); the reasons where it is not.

    Args:
        modality: the DICOM Modality the bundle segments (``"CT"``, ``"MR"``).
        fingerprint: the training data's fingerprint (``spacings``: one ``[x, y, z]`` mm per
            case), as :func:`~monai_unet2015.planning.write.read_plan_record` gives it; None: the
            modality alone is checked.
        tolerance: how far outside the training spacings a series may be, as a factor
            (default 2: half the smallest to twice the largest).

    Example::

        >>> gate = ApplicabilityGate("CT", {"spacings": [[0.8, 0.8, 1.5], [0.7, 0.7, 3.0]]})
        >>> gate.spacing_reasons((0.8, 0.8, 8.0))
        ['slice spacing 8 mm is outside what the model was trained on (1.5-3 mm, x2 allowed: 0.75-6 mm)']
    """

    def __init__(self, modality: str, fingerprint: dict | None = None, tolerance: float = 2.0) -> None:
        if not tolerance >= 1:
            raise ValueError(f"tolerance must be >= 1, got {tolerance!r}.")
        self.modality, self.tolerance = modality, float(tolerance)
        spacings = np.asarray((fingerprint or {}).get("spacings") or [], dtype=float).reshape(-1, 3)
        self.spacing_range = (spacings.min(axis=0), spacings.max(axis=0)) if len(spacings) else None

    @classmethod
    def from_plan(cls, modality: str, args_file: str | Path | None) -> ApplicabilityGate:
        """The gate of a bundle's modality and, where the plan has its fingerprint beside it, its training spacings."""
        if args_file is None:
            logger.info("no plan given: the node checks each series' modality only")
            return cls(modality)
        from monai_unet2015.planning.write import read_plan_record

        try:
            fingerprint = read_plan_record(args_file)["fingerprint"]
        except (FileNotFoundError, KeyError) as error:
            logger.warning("plan %s has no fingerprint beside it (%s): the node checks modality only", args_file, error)
            return cls(modality)
        return cls(modality, fingerprint)

    def reasons(self, modality: str, spacing: Sequence[float] | None) -> list[str]:
        """Why a series of ``modality`` and ``spacing`` (mm, x y z: :func:`series_spacing`) is not for this
        model; empty where it is."""
        if modality != self.modality:
            return [f"modality {modality}: the model was made for {self.modality}"]
        return self.spacing_reasons(spacing) if spacing is not None else []

    def spacing_reasons(self, spacing: Sequence[float]) -> list[str]:
        """The axes whose spacing (mm, x y z) lies outside the training range times the tolerance."""
        if self.spacing_range is None:
            return []
        reasons = []
        names = ("column spacing", "row spacing", "slice spacing")
        for name, value, low, high in zip(names, spacing, *self.spacing_range):
            allowed = (low / self.tolerance, high * self.tolerance)
            if not allowed[0] <= value <= allowed[1]:
                reasons.append(
                    f"{name} {value:g} mm is outside what the model was trained on ({low:g}-{high:g} mm, "
                    f"x{self.tolerance:g} allowed: {allowed[0]:g}-{allowed[1]:g} mm)"
                )
        return reasons
