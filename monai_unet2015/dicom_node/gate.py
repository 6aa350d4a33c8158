"""Before inference: is a series one the model was made for? A "not applicable" answer, with the reason.

An MR series sent to a CT model, a head CT sent to an abdominal one, or a CT with slices far
thicker than any the model was trained on, comes back as a confident but meaningless mask
(MONAI Deploy App SDK 175, 505; TotalSegmentator 220, 450). :class:`ApplicabilityGate`
checks a complete series before the bundle runs:

- the modality against the bundle's;
- with the plan the model was trained with (``python -m monai_unet2015 plan``: its
  ``*.fingerprint.json`` beside it), against the training cases:

  - the in-plane pixel spacing and the slice spacing: coarser than ``max * tolerance`` of the
    training images' per axis (a finer spacing is no reason: the bundle resamples every image
    to its own grid, ``pixdim``, and a finer image holds all a coarser one does; a too-small
    field of view is the field-of-view check's);
  - the slice plane (axial, coronal, sagittal): one the training cases never had;
  - the in-plane field of view (mm): outside ``[min / tolerance, max * tolerance]``;
  - the intensity range: the series' 1st percentile (for CT: the air; else also the 99th)
    more than ``intensity_margin`` from the training cases' (an uncalibrated CT, an MR or a
    PET labelled CT);
  - the body region, for CT: the mix of the body's voxels (above -500 HU: fat, soft tissue,
    bone), as quantiles, further from every training case than ``body_distance_hu`` or
    twice the training cases' own spread (:func:`~monai_unet2015.data.profiles.quantile_distance`).

Without a plan only the modality is checked, and the node says so at start; a plan made
before the fingerprint kept slice planes and intensity profiles checks the spacings only.
The thresholds are set a priori (what a CT's anatomy allows), not fitted to any test series;
``benchmarks/review_flag.py`` reports the gate's decisions on real series.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from monai_unet2015.data.profiles import intensity_profile, quantile_distance, slice_plane

__all__ = ["ApplicabilityGate", "SeriesLook", "series_look", "series_spacing"]

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
        fingerprint: the training data's fingerprint
            (:func:`~monai_unet2015.planning.dataset_fingerprint`: ``spacings``, ``shapes``,
            ``slice_planes``, ``intensity.profiles_per_case``), as
            :func:`~monai_unet2015.planning.write.read_plan_record` gives it; None: the
            modality alone is checked. Missing entries skip their checks.
        tolerance: how far past the training spacings (coarser only) and fields of view a
            series may be, as a factor (default 2: spacings up to twice the largest; fields of
            view from half the smallest to twice the largest).
        intensity_margin: how far (in the image's unit, HU for CT) the series' 1st (and, but
            for CT, 99th) intensity percentile may lie outside the training cases' (default 300).
        body_distance_hu: the body-region distance always allowed (default 100 HU: a head's
            skull moves the body's upper quantiles by several hundred HU, patients of one
            region differ by tens).

    Example::

        >>> gate = ApplicabilityGate("CT", {"spacings": [[0.8, 0.8, 1.5], [0.7, 0.7, 3.0]]})
        >>> gate.spacing_reasons((0.8, 0.8, 8.0))
        ['slice spacing 8 mm is coarser than the model was trained on (1.5-3 mm, up to x2 allowed: 6 mm)']
        >>> gate.spacing_reasons((0.3, 0.3, 0.5))  # finer: the bundle resamples it to its grid
        []
    """

    def __init__(
        self,
        modality: str,
        fingerprint: dict | None = None,
        tolerance: float = 2.0,
        intensity_margin: float = 300.0,
        body_distance_hu: float = 100.0,
    ) -> None:
        if not tolerance >= 1:
            raise ValueError(f"tolerance must be >= 1, got {tolerance!r}.")
        for name, value in (("intensity_margin", intensity_margin), ("body_distance_hu", body_distance_hu)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}.")
        fingerprint = fingerprint or {}
        self.modality, self.tolerance = modality, float(tolerance)
        self.intensity_margin, self.body_distance_hu = float(intensity_margin), float(body_distance_hu)
        spacings = np.asarray(fingerprint.get("spacings") or [], dtype=float).reshape(-1, 3)
        self.spacing_range = (spacings.min(axis=0), spacings.max(axis=0)) if len(spacings) else None
        shapes = np.asarray(fingerprint.get("shapes") or [], dtype=float).reshape(-1, 3)
        in_plane = (shapes * spacings)[:, :2] if len(shapes) == len(spacings) and len(shapes) else None
        self.field_of_view_range = (float(in_plane.min()), float(in_plane.max())) if in_plane is not None else None
        self.planes = sorted(set(fingerprint.get("slice_planes") or []))
        self.profiles = list((fingerprint.get("intensity") or {}).get("profiles_per_case") or [])

    @classmethod
    def from_plan(cls, modality: str, args_file: str | Path | None) -> ApplicabilityGate:
        """The gate of a bundle's modality and, where the plan has its fingerprint beside it, its training cases."""
        if args_file is None:
            logger.info("no plan given: the node checks each series' modality only")
            return cls(modality)
        from monai_unet2015.planning.write import read_plan_record

        try:
            fingerprint = read_plan_record(args_file)["fingerprint"]
        except (FileNotFoundError, KeyError) as error:
            logger.warning("plan %s has no fingerprint beside it (%s): the node checks modality only", args_file, error)
            return cls(modality)
        gate = cls(modality, fingerprint)
        if not gate.profiles:
            logger.warning(
                "plan %s was made before fingerprints kept intensity profiles and slice planes: the node checks "
                "modality, spacing and field of view only (make the plan again to check them all)",
                args_file,
            )
        return gate

    def reasons(self, modality: str, spacing: Sequence[float] | None, look: SeriesLook | None = None) -> list[str]:
        """Why a series of ``modality``, ``spacing`` (mm, x y z: :func:`series_spacing`) and ``look``
        (:func:`series_look`) is not for this model; empty where it is."""
        if modality != self.modality:
            return [f"modality {modality}: the model was made for {self.modality}"]
        reasons = self.spacing_reasons(spacing) if spacing is not None else []
        if look is not None:
            reasons += self.plane_reasons(look.plane) + self.field_of_view_reasons(look.field_of_view_mm)
            reasons += self.intensity_reasons(look.profile) if look.profile else []
        return reasons

    def spacing_reasons(self, spacing: Sequence[float]) -> list[str]:
        """The axes whose spacing (mm, x y z) is coarser than the training images' largest times the tolerance."""
        if self.spacing_range is None:
            return []
        reasons = []
        names = ("column spacing", "row spacing", "slice spacing")
        for name, value, low, high in zip(names, spacing, *self.spacing_range):
            if value > high * self.tolerance:
                reasons.append(
                    f"{name} {value:g} mm is coarser than the model was trained on ({low:g}-{high:g} mm, "
                    f"up to x{self.tolerance:g} allowed: {high * self.tolerance:g} mm)"
                )
        return reasons

    def plane_reasons(self, plane: str) -> list[str]:
        """A slice plane none of the training cases had."""
        if not self.planes or plane in self.planes:
            return []
        return [f"{plane} slices: the model was trained on {' and '.join(self.planes)} series"]

    def field_of_view_reasons(self, field_of_view_mm: Sequence[float]) -> list[str]:
        """An in-plane field of view (mm) outside the training cases' times the tolerance."""
        if self.field_of_view_range is None:
            return []
        low, high = self.field_of_view_range
        allowed = (low / self.tolerance, high * self.tolerance)
        if all(allowed[0] <= side <= allowed[1] for side in field_of_view_mm):
            return []
        shown = " x ".join(f"{side:.0f}" for side in field_of_view_mm)
        return [
            f"field of view {shown} mm is outside what the model was trained on ({low:.0f}-{high:.0f} mm, "
            f"x{self.tolerance:g} allowed: {allowed[0]:.0f}-{allowed[1]:.0f} mm)"
        ]

    def intensity_reasons(self, profile: dict[str, list[float]]) -> list[str]:
        """The intensity range and, for CT, the body region, against the training cases' profiles."""
        if not self.profiles:
            return []
        reasons = []
        # a CT's upper percentiles are bone and contrast, which vary with the body region: the body check judges them
        ends = ((0, "1st"),) if "body" in profile else ((0, "1st"), (-1, "99th"))
        for index, name in ends:
            trained = [case["all"][index] for case in self.profiles]
            low, high = min(trained) - self.intensity_margin, max(trained) + self.intensity_margin
            value = profile["all"][index]
            if not low <= value <= high:
                reasons.append(
                    f"intensity {name} percentile {value:g} is outside what the model was trained on "
                    f"({min(trained):g} to {max(trained):g}, {self.intensity_margin:g} allowed either side): "
                    "another modality, or pixel values not rescaled to the model's unit (HU)"
                )
        return reasons or self.body_reasons(profile.get("body") or [])

    def body_reasons(self, body: list[float]) -> list[str]:
        """For CT: the body's intensity mix further from every training case's than they are from each other."""
        trained = [case["body"] for case in self.profiles if case.get("body")]
        if not body or not trained:
            return []
        distance = min(quantile_distance(body, case) for case in trained)
        allowed = max(self.body_distance_hu, 2 * _spread(trained))
        if distance <= allowed:
            return []
        return [
            f"the body's intensities (fat, soft tissue, bone) differ from every training case's by {distance:.0f} HU "
            f"(up to {allowed:.0f} allowed): another body region than the model was trained on"
        ]


def _spread(profiles: list[list[float]]) -> float:
    """The largest distance from a training case to its nearest other case (0 for one case)."""
    if len(profiles) < 2:
        return 0.0
    return max(
        min(quantile_distance(case, other) for j, other in enumerate(profiles) if j != i)
        for i, case in enumerate(profiles)
    )


@dataclasses.dataclass(frozen=True)
class SeriesLook:
    """What the gate compares beyond the spacing: the slice plane, the in-plane field of view (mm,
    columns x rows) and the intensity profile (None where the pixels could not be read)."""

    plane: str
    field_of_view_mm: tuple[float, float]
    profile: dict[str, list[float]] | None


def series_look(geometry: Mapping, slices: Sequence[Path], ct: bool, max_slices: int = 24) -> SeriesLook:
    """The :class:`SeriesLook` of a series from the journal's ``geometry`` (Rows, Columns, PixelSpacing,
    ImageOrientationPatient) and up to ``max_slices`` of its files, evenly spaced, read with pydicom
    (rescaled to the modality's unit). Pixels pydicom cannot decode (a compressed transfer syntax
    without its decoder) leave the profile out, with a log line.
    """
    orientation = np.asarray(geometry["ImageOrientationPatient"], dtype=float)
    row_spacing, column_spacing = (float(v) for v in geometry["PixelSpacing"])
    field_of_view = (round(geometry["Columns"] * column_spacing, 1), round(geometry["Rows"] * row_spacing, 1))
    chosen = [slices[int(i)] for i in np.unique(np.linspace(0, len(slices) - 1, min(max_slices, len(slices))))]
    try:
        values = [_sampled_pixels(pydicom.dcmread(path)) for path in chosen]
        profile = intensity_profile(np.concatenate(values), ct=ct) if values else None
    except Exception as error:  # pydicom lacks a decoder for this transfer syntax, or a file broke
        logger.warning("intensities not checked: %s cannot be decoded here (%s)", chosen[0].parent, error)
        profile = None
    return SeriesLook(slice_plane(np.cross(orientation[:3], orientation[3:])), field_of_view, profile)


def _sampled_pixels(ds: pydicom.Dataset, step: int = 4) -> np.ndarray:
    """Every ``step``-th pixel of a slice in each direction, in the modality's unit (Rescale Slope / Intercept)."""
    return np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float64)[::step, ::step].ravel()
