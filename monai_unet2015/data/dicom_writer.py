"""Write a volume as a DICOM series whose geometry matches its RAS affine exactly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

__all__ = ["write_dicom_series", "CT_IMAGE_STORAGE", "MR_IMAGE_STORAGE"]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _base_dataset(modality: str, patient_id: str, study_uid: str, series_uid: str, frame_uid: str) -> Dataset:
    now = datetime(2026, 1, 1, 12, 0, 0)  # fixed: the generated data must be reproducible
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
    ds.Modality = modality
    ds.PatientName = f"Sample^{patient_id}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.Manufacturer = "monai_unet2015 sample data (generated, not a patient)"
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "ABDOMEN" if modality == "CT" else "HEAD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0  # unsigned: HU are stored with an intercept, as most scanners do
    return ds


def write_dicom_series(
    volume: np.ndarray,
    affine: np.ndarray,
    out_dir: str | Path,
    modality: str = "CT",
    patient_id: str = "SAMPLE",
    series_description: str = "generated",
    rescale_intercept: float = -1024.0,
    rescale_slope: float = 1.0,
) -> list[Path]:
    """Write ``volume`` (x, y, z) with RAS ``affine`` as one DICOM file per z slice.

    Pixel ``(row r, column c)`` of slice ``k`` is voxel ``(c, r, k)``; ImagePositionPatient,
    ImageOrientationPatient (LPS, as DICOM requires) and PixelSpacing follow from the affine,
    so MONAI's ITK and pydicom readers return the same array and RAS affine (tested).
    Values are stored as ``round((value - intercept) / slope)`` in unsigned 16 bits with
    RescaleIntercept / RescaleSlope set: HU come back as ``slope * stored + intercept``.

    Args:
        volume: ``(x, y, z)`` values (HU for CT).
        affine: 4x4 RAS voxel-to-world matrix (NIfTI convention).
        out_dir: created if needed; files are ``IM_0001.dcm``...
        modality: ``"CT"`` or ``"MR"``.
        patient_id, series_description: written to the headers.
        rescale_intercept, rescale_slope: the stored-value mapping (slope > 0).

    Returns:
        The files written, in slice order.

    Raises:
        ValueError: values that do not fit 16 bits after rescaling, a non-3D volume, a bad
            modality or slope.
    """
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3D (x, y, z), got shape {volume.shape}.")
    if modality not in ("CT", "MR"):
        raise ValueError(f"modality must be 'CT' or 'MR', got {modality!r}.")
    if not rescale_slope > 0:
        raise ValueError(f"rescale_slope must be > 0, got {rescale_slope!r}.")
    stored = np.round((volume - rescale_intercept) / rescale_slope)
    if stored.min() < 0 or stored.max() > 65535:
        raise ValueError(
            f"volume values {volume.min()}..{volume.max()} do not fit 16 unsigned bits with intercept "
            f"{rescale_intercept} and slope {rescale_slope}."
        )
    affine = np.asarray(affine, dtype=float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    row_direction = _RAS_TO_LPS @ affine[:3, 0] / spacing[0]  # along a row: column index c = x grows
    column_direction = _RAS_TO_LPS @ affine[:3, 1] / spacing[1]  # down a column: row index r = y grows
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    written = []
    for k in range(volume.shape[2]):
        ds = _base_dataset(modality, patient_id, study_uid, series_uid, frame_uid)
        ds.SeriesDescription = series_description
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        position = _RAS_TO_LPS @ (affine @ np.array([0.0, 0.0, k, 1.0]))[:3]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row_direction, *column_direction)]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[0]:.6f}"]  # row spacing (y), column spacing (x)
        ds.SliceThickness = f"{spacing[2]:.6f}"
        ds.SpacingBetweenSlices = f"{spacing[2]:.6f}"
        ds.SliceLocation = f"{position[2]:.6f}"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.RescaleIntercept = f"{rescale_intercept:g}"
        ds.RescaleSlope = f"{rescale_slope:g}"
        if modality == "CT":
            ds.RescaleType = "HU"
            ds.KVP = "120"
            ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T.astype("<u2")).tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        path = out_dir / f"IM_{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written
