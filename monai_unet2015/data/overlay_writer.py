"""A label map burned into a copy of its series: a secondary-capture overlay any viewer shows.

For PACS viewers that cannot show a DICOM SEG (MONAI Label 1621, 1633): each source slice
becomes an RGB secondary-capture image (highdicom's ``SCImage``) in a new series of the same
study, with the structures drawn on the windowed image (a translucent fill and a solid
outline, in the colours every output uses, :func:`~monai_unet2015.data.rtstruct_writer.structure_color`),
a legend with each structure's volume, "NEEDS REVIEW" with the reasons where the review
flagged the result (:mod:`~monai_unet2015.data.review`), and "NOT FOR DIAGNOSTIC USE", all burned in
(Burned In Annotation: YES). The structures are looked up through each slice's own
geometry, as the SEG's frames are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom
from monai.utils import optional_import
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from monai_unet2015 import __version__
from monai_unet2015.data.outputs import (
    NOT_FOR_DIAGNOSTIC_USE,
    SaveDicomObjectd,
    atomic_output,
    check_label_map,
    read_series,
    slice_label_frame,
)
from monai_unet2015.data.rtstruct_writer import structure_color
from monai_unet2015.data.structure_report import structure_measurements

hd, has_highdicom = optional_import("highdicom")

__all__ = ["write_overlay_series", "overlay_slice", "SaveOverlayd", "NOT_FOR_DIAGNOSIS", "NEEDS_REVIEW"]

NOT_FOR_DIAGNOSIS = NOT_FOR_DIAGNOSTIC_USE.upper()  # burned in: capitals read from further away
NEEDS_REVIEW = "NEEDS REVIEW"
_REVIEW_COLOR = (255, 140, 0)
_FILL_OPACITY = 0.35
_CT_WINDOW = (40.0, 400.0)  # level, width: abdominal soft tissue, where the slice names none


def _first_value(value) -> float:
    return float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)


def _window(ds: pydicom.Dataset, values: np.ndarray) -> np.ndarray:
    """The slice's values as 0..255 grey: its own first window, the soft-tissue window for CT, else the 1-99 %."""
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        center, width = _first_value(center), _first_value(width)
    elif ds.get("Modality") == "CT":
        center, width = _CT_WINDOW
    else:
        low, high = np.percentile(values, [1, 99])
        center, width = (low + high) / 2, max(high - low, 1e-6)
    grey = (values - (center - width / 2)) / width
    return (np.clip(grey, 0, 1) * 255).astype(np.uint8)


def _slice_values(ds: pydicom.Dataset) -> np.ndarray:
    """The slice's values (rows, columns) after the modality LUT (HU for CT)."""
    try:
        stored = ds.pixel_array
    except Exception:  # a syntax pydicom cannot decode here (JPEG lossless): ITK's GDCM can
        import itk

        path = Path(ds.filename)
        stored = itk.GetArrayFromImage(itk.imread(str(path))).reshape(int(ds.Rows), int(ds.Columns))
        return stored.astype(np.float32)  # ITK applies the rescale itself
    return pydicom.pixels.apply_modality_lut(stored, ds).astype(np.float32)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def overlay_slice(
    grey: np.ndarray,
    labels_frame: np.ndarray,
    labels: Mapping[int, str],
    legend: list[str],
    review: Sequence[str] = (),
) -> np.ndarray:
    """One slice ``(rows, columns)`` as RGB ``(rows, columns, 3)`` with the structures, legend and warning burned in.

    ``review``: the reasons the result needs review; burned in as "NEEDS REVIEW" lines above
    the warning, in orange.

    Example::

        >>> frame = np.zeros((64, 64), np.uint8)
        >>> frame[20:40, 20:40] = 1
        >>> rgb = overlay_slice(np.full((64, 64), 80, np.uint8), frame, {1: "liver"}, ["liver 1.0 mL"])
        >>> rgb.shape, tuple(rgb[20, 30]) == (230, 159, 0)
        ((64, 64, 3), True)
    """
    rgb = np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)
    for index, value in enumerate(sorted(labels)):
        inside = labels_frame == value
        if not inside.any():
            continue
        color = np.asarray(structure_color(index), np.float32)
        rgb[inside] = (1 - _FILL_OPACITY) * rgb[inside] + _FILL_OPACITY * color
        rgb[inside & ~ndimage.binary_erosion(inside)] = color
    image = Image.fromarray(rgb.round().astype(np.uint8))
    draw = ImageDraw.Draw(image)
    size = max(8, grey.shape[0] // 40)
    font = _font(size)
    for index, text in enumerate(legend):
        top = 4 + index * (size + 4)
        draw.rectangle((4, top, 4 + size, top + size), fill=structure_color(index))
        _text_on_black(draw, (8 + size, top), text, (255, 255, 255), font)
    bottom = grey.shape[0] - size - 6
    _text_on_black(draw, (4, bottom), NOT_FOR_DIAGNOSIS, (255, 255, 0), font)
    for index, text in enumerate(reversed([f"{NEEDS_REVIEW}: {reason}" for reason in review]), start=1):
        fitted = _fit(draw, text, font, grey.shape[1] - 12)
        _text_on_black(draw, (4, bottom - index * (size + 6)), fitted, _REVIEW_COLOR, font)
    return np.asarray(image)


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text``, cut with "..." where it is wider than ``width`` pixels (the whole reason is in the JSON)."""
    length = draw.textlength(text, font=font)
    if length <= width:
        return text
    text = text[: max(1, int(len(text) * width / length) - 3)]  # about the width, then a few characters less
    while len(text) > 1 and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _text_on_black(draw: ImageDraw.ImageDraw, where: tuple[int, int], text: str, color, font) -> None:
    """Text on a black box: legible over any tissue."""
    left, top, right, bottom = draw.textbbox(where, text, font=font)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
    draw.text(where, text, fill=color, font=font)


def _slice_order(ds: pydicom.Dataset) -> tuple[int, str]:
    return int(ds.get("InstanceNumber") or 0), str(ds.SOPInstanceUID)


def _orientation_letters(direction: np.ndarray) -> str:
    """A DICOM patient-orientation code of an LPS direction (its dominant axis), e.g. ``"L"``."""
    axis = int(np.argmax(np.abs(direction)))
    return ("L", "P", "H")[axis] if direction[axis] > 0 else ("R", "A", "F")[axis]


def _secondary_capture(ds: pydicom.Dataset, rgb: np.ndarray, series_uid: str, number: int) -> pydicom.Dataset:
    orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ds,
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=series_uid,
        series_number=902,
        sop_instance_uid=hd.UID(),
        instance_number=number,
        manufacturer="monai_unet2015",
        pixel_spacing=tuple(float(v) for v in ds.PixelSpacing),
        patient_orientation=(_orientation_letters(orientation[:3]), _orientation_letters(orientation[3:])),
    )
    sc.SeriesDescription = f"U-Net overlay ({NOT_FOR_DIAGNOSIS.lower()})"
    sc.BurnedInAnnotation = "YES"
    sc.Laterality = ds.get("Laterality", "")  # type 2C: the source's, or empty (an unpaired body part)
    sc.SoftwareVersions = __version__
    sc.ImageComments = NOT_FOR_DIAGNOSIS
    return sc


def write_overlay_series(
    mask: np.ndarray,
    affine: np.ndarray,
    source_folder: str | os.PathLike,
    out_dir: str | os.PathLike,
    labels: Mapping[int, str],
    volumes_ml: Mapping[int, float] | None = None,
    overwrite: bool = False,
    review: Sequence[str] = (),
) -> list[Path]:
    """Write one RGB secondary-capture image per source slice into ``out_dir``; the files, in slice order.

    Args:
        mask: the label map ``(x, y, z)`` on the series' grid (RAS ``affine``).
        affine: the mask's voxel-to-world matrix.
        source_folder: the DICOM series.
        out_dir: the new series' folder (``IM_0001.dcm``...); created.
        labels: ``{value: name}`` of the structures.
        volumes_ml: each structure's volume for the legend (``{value: mL}``); None: the
            legend names the structures only.
        overwrite: replace existing files (``FileExistsError`` otherwise).
        review: why the result needs review (:func:`~monai_unet2015.data.review.review_result`'s
            ``reasons``), burned into every image as "NEEDS REVIEW" lines; empty: none.

    The images are ordered and numbered as the source slices (by Instance Number, then
    position), reference the series' patient and study, and need highdicom.
    """
    if not has_highdicom:
        raise ImportError("writing an overlay series needs highdicom: pip install 'monai_unet2015[dicom]'.")
    mask = check_label_map(mask, labels)
    legend = [
        f"{labels[value]}: {volumes_ml[value]:.1f} mL" if volumes_ml and value in volumes_ml else labels[value]
        for value in sorted(labels)
    ]
    sources = sorted(read_series(source_folder), key=_slice_order)
    series_uid, written = hd.UID(), []
    for number, ds in enumerate(sources, start=1):
        frame = slice_label_frame(mask, affine, ds)
        rgb = overlay_slice(_window(ds, _slice_values(ds)), frame, labels, legend, review)
        path = Path(out_dir) / f"IM_{number:04d}.dcm"
        with atomic_output(path, overwrite) as partial:
            _secondary_capture(ds, rgb, series_uid, number).save_as(partial, enforce_file_format=True)
        written.append(path)
    return written


class SaveOverlayd(SaveDicomObjectd):
    """Save a label map from a DICOM series as a secondary-capture overlay series: ``<name>_overlay/IM_*.dcm``.

    Use it after :class:`~monai_unet2015.transforms.LabelsToSourceGridd`, as
    :class:`~monai_unet2015.data.SaveDicomSegd`; :func:`write_overlay_series` writes it, the
    legend with each structure's volume (:func:`~monai_unet2015.data.structure_measurements`).
    Arguments as :class:`~monai_unet2015.data.outputs.SaveDicomObjectd`'s
    (``warn_without_dicom``: asked for explicitly, ``--dicom_overlay true``).
    """

    suffix, kind, option = "_overlay", "overlay series", "dicom_overlay"

    def write(
        self, mask: np.ndarray, affine: np.ndarray, source: Path, out_path: Path, review: Mapping | None = None
    ) -> None:
        volumes = {s["value"]: s["volume_ml"] for s in structure_measurements(mask, affine, self.labels)["structures"]}
        reasons = (review or {}).get("reasons", [])
        write_overlay_series(mask, affine, source, out_path, self.labels, volumes, self.overwrite, reasons)
