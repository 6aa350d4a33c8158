"""RTSTRUCT files and DICOM-labelled datasets written for the tests (pydicom for RTSTRUCT, highdicom for SEG)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from skimage import measure

from monai_unet2015.data import ct_like_volume, write_dicom_seg, write_dicom_series

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def write_rtstruct(
    path: Path,
    series_files: Sequence[Path],
    rois: Mapping[str, Sequence[np.ndarray]],
    frame_of_reference_uid: str | None = None,
) -> Path:
    """An RTSTRUCT with one ROI per entry of ``rois``: ``{name: [(N, 3) LPS contour, ...]}`` (may be empty)."""
    reference = pydicom.dcmread(series_files[0], stop_before_pixels=True)
    frame = frame_of_reference_uid or reference.FrameOfReferenceUID
    ds = Dataset()
    ds.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "RTSTRUCT"
    ds.PatientID, ds.PatientName = reference.PatientID, reference.PatientName
    ds.StudyInstanceUID, ds.SeriesInstanceUID = reference.StudyInstanceUID, generate_uid()
    ds.StructureSetLabel = "test"
    referenced_frame = Dataset()
    referenced_frame.FrameOfReferenceUID = frame
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([referenced_frame])
    ds.StructureSetROISequence = DicomSequence()
    ds.ROIContourSequence = DicomSequence()
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, frame
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        if contours:
            item.ContourSequence = DicomSequence()
            for points in contours:
                contour = Dataset()
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(points)
                contour.ContourData = [f"{v:.4f}" for v in np.asarray(points, dtype=float).ravel()]
                item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RT_STRUCTURE_SET_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def voxel_to_lps(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Voxel indices ``(N, 3)`` as LPS patient coordinates under the RAS ``affine``."""
    ras = np.asarray(points, dtype=float) @ affine[:3, :3].T + affine[:3, 3]
    return ras * np.array([-1.0, -1.0, 1.0])


def mask_contours(mask: np.ndarray, affine: np.ndarray) -> list[np.ndarray]:
    """Closed LPS contours around a ``(x, y, z)`` mask, slice by slice (marching squares at 0.5).

    The 0.5 iso-line runs halfway between inside and outside voxel centres, so the even-odd
    fill of these contours gives the mask back (holes and islands included).
    """
    contours = []
    for k in range(mask.shape[2]):
        padded = np.pad(mask[:, :, k].astype(float), 1)  # closes contours at the image edge
        for line in measure.find_contours(padded, 0.5):
            voxels = np.column_stack([line - 1.0, np.full(len(line), float(k))])
            contours.append(voxel_to_lps(voxels[:-1], affine))  # find_contours repeats the first point
    return contours


def write_dicom_labelled_ct(
    root: Path,
    kinds: Sequence[str] = ("rtstruct", "seg", "rtstruct"),
    shape=(48, 40, 12),
    spacing=(1.2, 1.2, 2.5),
    roi_names: Mapping[int, str] = {1: "Liver", 2: "SPLEEN"},
) -> dict[str, np.ndarray]:
    """A dataset folder ``imagesTr/<case>/`` (CT series) + ``labelsTr/<case>.dcm`` + ``dataset.json``.

    Each case's label is an RTSTRUCT (contours around the liver / spleen masks) or a SEG of
    the same masks, per ``kinds``; the RTSTRUCT also holds a ``BODY`` ROI of no class.
    Returns the true label map of each case (the masks, classes 1 and 2).
    """
    truths = {}
    for index, kind in enumerate(kinds):
        case = f"case_{index:02d}"
        hu, labels, affine = ct_like_volume(shape, spacing, seed=index)
        truth = np.where(labels <= 2, labels, 0).astype(np.uint8)  # liver, spleen
        files = write_dicom_series(np.round(hu), affine, root / "imagesTr" / case, patient_id=case)
        label_path = root / "labelsTr" / f"{case}.dcm"
        if kind == "rtstruct":
            rois = {name: mask_contours(truth == value, affine) for value, name in roi_names.items()}
            rois["BODY"] = mask_contours(hu > -500, affine)
            write_rtstruct(label_path, files, rois)
        else:
            label_path.parent.mkdir(parents=True, exist_ok=True)
            write_dicom_seg(truth, affine, root / "imagesTr" / case, label_path, dict(roi_names))
        truths[case] = truth
    labels = {"0": "background", "1": ["liver", "Liver_1"], "2": ["spleen"]}
    (root / "dataset.json").write_text(json.dumps({"name": "dicom-labelled CT", "labels": labels}))
    return truths
