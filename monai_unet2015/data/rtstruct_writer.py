"""A label map written as a DICOM RT Structure Set (RTSTRUCT): contours for radiotherapy planning.

The writer is this module, on pydicom alone: an RTSTRUCT is a few nested sequences of
numbers, and highdicom does not write it (rt-utils does, on axial series only, through
OpenCV). The rule, the inverse of :mod:`~monai_unet2015.data.rtstruct_labels`' reader:

- each source slice's labels are looked up in the mask through the slice's own position,
  orientation and pixel spacing (as the DICOM SEG's frames are), so any orientation works;
- each structure's outline in a slice is traced by marching squares at 0.5 between pixel
  centres (scikit-image's ``find_contours``), so every centre inside the structure is inside
  the contour and every other one outside it; holes come out as contours inside contours
  (the even-odd rule of the reader; ``CLOSED_PLANAR``), collinear points are dropped;
- the points go to patient coordinates (LPS, mm) through the slice's geometry, with three
  decimals: reading the file back (:func:`~monai_unet2015.data.rtstruct_labels.read_rtstruct`
  and :func:`~monai_unet2015.data.rtstruct_labels.rasterise_contours`) gives the mask again, voxel for voxel
  (``tests/data/test_rtstruct_writer.py``).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from skimage.measure import approximate_polygon, find_contours

from monai_unet2015 import __version__
from monai_unet2015.data.outputs import (
    NOT_FOR_DIAGNOSTIC_USE,
    SaveDicomObjectd,
    atomic_output,
    check_label_map,
    read_series,
    slice_label_frame,
)

__all__ = ["RTSTRUCT_STORAGE", "SaveRtStructd", "structure_color", "slice_outlines", "write_rtstruct"]

RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
_STUDY_COMPONENT = "1.2.840.10008.3.1.2.3.1"  # the Detached Study Management SOP class RTSTRUCTs reference
_PATIENT_AND_STUDY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
    "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
)  # fmt: skip
# distinct, colour-blind-friendly colours (Okabe-Ito, then Tol's), one per structure in label order
_PALETTE = (
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
    (204, 121, 167), (68, 119, 170), (102, 204, 238), (34, 136, 51), (204, 187, 68), (238, 102, 119),
)  # fmt: skip


def structure_color(index: int) -> tuple[int, int, int]:
    """The display colour (RGB, 0-255) of the ``index``-th structure (0-based), shared by every output.

    Example::

        >>> structure_color(0), structure_color(12) == structure_color(0)
        ((230, 159, 0), True)
    """
    return _PALETTE[index % len(_PALETTE)]


def slice_outlines(binary: np.ndarray) -> list[np.ndarray]:
    """The closed outlines ``(N, 2)`` (row, column) of a binary slice ``(rows, columns)``, holes included.

    Example::

        >>> square = np.zeros((4, 4), bool)
        >>> square[1:3, 1:3] = True
        >>> [len(outline) for outline in slice_outlines(square)]
        [8]
    """
    padded = np.pad(np.asarray(binary, dtype=np.float32), 1)
    outlines = []
    for contour in find_contours(padded, 0.5):
        contour = approximate_polygon(contour[:-1], tolerance=0) if len(contour) > 3 else contour[:-1]
        if len(contour) >= 3:
            outlines.append(contour - 1.0)  # back from the padding
    return outlines


def _to_patient(outline: np.ndarray, ds: Dataset) -> np.ndarray:
    """(row, column) pixel coordinates of slice ``ds`` as patient coordinates ``(N, 3)`` (LPS, mm)."""
    position = np.asarray(ds.ImagePositionPatient, dtype=float)
    orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    along_row, down_column = orientation[:3] * column_spacing, orientation[3:] * row_spacing
    return position + outline[:, 1:2] * along_row + outline[:, 0:1] * down_column


def _image_reference(ds: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    return item


def _header(first: Dataset, label: str) -> Dataset:
    """The patient, study, series, equipment, structure set and SOP common modules."""
    now = datetime.datetime.now()
    ds = Dataset()
    for keyword in _PATIENT_AND_STUDY:
        setattr(ds, keyword, first.get(keyword, ""))
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_STORAGE, pydicom.uid.generate_uid()
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "RTSTRUCT", pydicom.uid.generate_uid(), 901
    ds.SeriesDescription, ds.OperatorsName = f"{label} ({NOT_FOR_DIAGNOSTIC_USE})", ""
    ds.FrameOfReferenceUID = first.FrameOfReferenceUID
    ds.PositionReferenceIndicator = first.get("PositionReferenceIndicator", "")
    ds.Manufacturer, ds.ManufacturerModelName, ds.SoftwareVersions = "monai_unet2015", label, __version__
    ds.InstanceNumber, ds.StructureSetLabel = 1, label[:16]
    ds.StructureSetDate = ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.StructureSetTime = ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.SpecificCharacterSet = first.get("SpecificCharacterSet", "ISO_IR 100")
    return ds


def _frame_of_reference(sources: list[Dataset]) -> Sequence:
    first = sources[0]
    series = Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    series.ContourImageSequence = Sequence([_image_reference(ds) for ds in sources])
    study = Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = _STUDY_COMPONENT, first.StudyInstanceUID
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame.RTReferencedStudySequence = Sequence([study])
    return Sequence([frame])


def _roi_contours(number: int, value: int, frames: list[np.ndarray], sources: list[Dataset]) -> Dataset:
    contours = []
    for frame, ds in zip(frames, sources):
        for outline in slice_outlines(frame == value):
            contour = Dataset()
            contour.ContourImageSequence = Sequence([_image_reference(ds)])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(outline)
            contour.ContourData = [f"{v:.3f}" for v in _to_patient(outline, ds).ravel()]
            contours.append(contour)
    roi = Dataset()
    roi.ROIDisplayColor = list(structure_color(number - 1))
    roi.ReferencedROINumber = number
    if contours:  # type 3: absent rather than empty for a structure the mask does not hold
        roi.ContourSequence = Sequence(contours)
    return roi


def _structure_set(labels: Mapping[int, str], frames: list[np.ndarray], sources: list[Dataset]) -> Dataset:
    ds = _header(sources[0], "U-Net contours")
    ds.ReferencedFrameOfReferenceSequence = _frame_of_reference(sources)
    rois, contours, observations = [], [], []
    for number, value in enumerate(sorted(labels), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID = number, sources[0].FrameOfReferenceUID
        roi.ROIName, roi.ROIGenerationAlgorithm = labels[value], "AUTOMATIC"
        rois.append(roi)
        contours.append(_roi_contours(number, value, frames, sources))
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType, observation.ROIInterpreter = "ORGAN", ""
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    return ds


def write_rtstruct(
    mask: np.ndarray,
    affine: np.ndarray,
    source_folder: str | os.PathLike,
    out_path: str | os.PathLike,
    labels: Mapping[int, str],
    overwrite: bool = False,
) -> Path:
    """Write the label map ``mask`` (x, y, z; RAS ``affine``) as an RTSTRUCT of the series in ``source_folder``.

    One ROI per entry of ``labels`` (``{1: "liver", ...}``, in value order, ``ORGAN``,
    generated ``AUTOMATIC``), with the colour every output of this package gives it
    (:func:`structure_color`); a structure absent from the mask is an ROI without contours.
    The file references the series' slices and its frame of reference, and carries the
    series' patient and study; it is written atomically and an existing ``out_path`` is an
    error unless ``overwrite``. A mask not on the series' grid is an error, never shifted
    contours.

    Example::

        >>> import tempfile
        >>> from monai_unet2015.data import write_dicom_series
        >>> folder = Path(tempfile.mkdtemp())
        >>> affine = np.diag([1.0, 1.0, 2.0, 1.0])
        >>> _ = write_dicom_series(np.zeros((8, 8, 3), np.float32), affine, folder / "ct")
        >>> mask = np.zeros((8, 8, 3), np.uint8)
        >>> mask[2:5, 2:6, 1] = 1
        >>> path = write_rtstruct(mask, affine, folder / "ct", folder / "rt.dcm", {1: "liver"})
        >>> pydicom.dcmread(path).StructureSetROISequence[0].ROIName
        'liver'
    """
    mask = check_label_map(mask, labels)
    sources = read_series(source_folder)
    frames = [slice_label_frame(mask, np.asarray(affine, dtype=float), ds) for ds in sources]
    ds = _structure_set(labels, frames, sources)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    out_path = Path(out_path)
    with atomic_output(out_path, overwrite) as partial:
        ds.save_as(partial, enforce_file_format=True)
    return out_path


class SaveRtStructd(SaveDicomObjectd):
    """Save a label map that came from a DICOM series as an RTSTRUCT next to the NIfTI: ``<name>_rtstruct.dcm``.

    Use it after :class:`~monai_unet2015.transforms.LabelsToSourceGridd`, as
    :class:`~monai_unet2015.data.SaveDicomSegd`; :func:`write_rtstruct` writes it. Arguments as
    :class:`~monai_unet2015.data.outputs.SaveDicomObjectd`'s (``warn_without_dicom``: asked for
    explicitly, ``--dicom_rtstruct true``).
    """

    suffix, kind, option = "_rtstruct.dcm", "RTSTRUCT", "dicom_rtstruct"

    def write(
        self, mask: np.ndarray, affine: np.ndarray, source: Path, out_path: Path, review: Mapping | None = None
    ) -> None:
        write_rtstruct(mask, affine, source, out_path, self.labels, self.overwrite)
