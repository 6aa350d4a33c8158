"""Structure volumes as a DICOM structured report: TID 1500 (Measurement Report) over the SEG's segments.

Viewers and PACS that read measurements (OHIF, IHE AIR) find each structure's volume as a
numeric content item of a measurement group that references its segment of the DICOM SEG
(highdicom's ``Comprehensive3DSR`` and ``MeasurementReport``). The figures are those of
:func:`~monai_unet2015.data.structure_measurements`, on the mask as written.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pydicom
from monai.utils import optional_import
from pydicom.sr.codedict import codes

from monai_unet2015 import __version__
from monai_unet2015.data.outputs import NOT_FOR_DIAGNOSTIC_USE, SaveDicomObjectd, atomic_output, read_series
from monai_unet2015.data.structure_report import structure_measurements

hd, has_highdicom = optional_import("highdicom")

__all__ = ["write_volume_report", "SaveVolumeReportd"]

_MILLILITER = ("ml", "UCUM", "milliliter")
_NEEDS_REVIEW = ("needs-review", "99MONAIUNET", "Needs review")
_PROCEDURE = {
    "CT": ("25045-6", "LN", "CT unspecified body region"),
    "MR": ("25056-3", "LN", "MR unspecified body region"),
}


def _concept(value: str, scheme: str, meaning: str):
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _needs_review():
    """The qualitative evaluation a flagged structure's group carries: "Needs review: Yes" (private code:
    DICOM has no concept for an algorithm's own doubt)."""
    return hd.sr.QualitativeEvaluation(name=_concept(*_NEEDS_REVIEW), value=codes.SCT.Yes)


def _measurement_group(
    seg: pydicom.Dataset, segment, volume_ml: float, source_series_uid: str, needs_review: bool = False
):
    reference = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=int(segment.SegmentNumber),
        source_series=hd.sr.SourceSeriesForSegmentation(source_series_uid),
    )
    volume = hd.sr.Measurement(name=codes.SCT.Volume, value=float(volume_ml), unit=_concept(*_MILLILITER))
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=str(segment.SegmentLabel)),
        referenced_segment=reference,
        finding_type=codes.SCT.AnatomicalStructure,
        measurements=[volume],
        qualitative_evaluations=[_needs_review()] if needs_review else None,
    )


def write_volume_report(
    seg_path: str | os.PathLike,
    source_folder: str | os.PathLike,
    volumes_ml: Mapping[str, float],
    out_path: str | os.PathLike,
    overwrite: bool = False,
    needs_review: Collection[str] = (),
) -> Path:
    """Write a TID 1500 measurement report with each segment's volume, referencing the SEG and its series.

    Args:
        seg_path: the DICOM SEG whose segments are measured (:func:`~monai_unet2015.data.write_dicom_seg`).
        source_folder: the series it segments (the report's evidence, patient and study).
        volumes_ml: ``{segment label: volume in mL}``; every segment of the SEG must have one.
        out_path: the report's file, written atomically; an existing one is an error unless
            ``overwrite``.
        needs_review: the segment labels the review flagged
            (:func:`~monai_unet2015.data.review.review_result`'s ``structures``): their groups
            carry a qualitative evaluation "Needs review: Yes".

    Raises:
        ValueError: a segment of the SEG without a volume, naming it.
    """
    if not has_highdicom:
        raise ImportError("writing a structured report needs highdicom: pip install 'monai_unet2015[dicom]'.")
    seg = pydicom.dcmread(seg_path)
    sources = read_series(source_folder)
    missing = [s.SegmentLabel for s in seg.SegmentSequence if s.SegmentLabel not in volumes_ml]
    if missing:
        raise ValueError(f"volumes_ml has no volume for segment(s) {missing} of {seg_path}.")
    groups = [
        _measurement_group(
            seg, s, volumes_ml[s.SegmentLabel], sources[0].SeriesInstanceUID, s.SegmentLabel in needs_review
        )
        for s in seg.SegmentSequence
    ]
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name="monai_unet2015", model_name="U-Net")
    observer = hd.sr.ObserverContext(observer_type=codes.DCM.Device, observer_identifying_attributes=device)
    procedure = _PROCEDURE.get(str(sources[0].get("Modality", "CT")), _PROCEDURE["CT"])
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=_concept(*procedure),
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg, *sources],
        content=report,
        series_number=903,
        series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="monai_unet2015",
        series_description=f"U-Net volumes ({NOT_FOR_DIAGNOSTIC_USE})",
    )
    sr.SoftwareVersions = __version__
    out_path = Path(out_path)
    with atomic_output(out_path, overwrite) as partial:
        sr.save_as(partial, enforce_file_format=True)
    return out_path


class SaveVolumeReportd(SaveDicomObjectd):
    """Save the structure volumes of a label map from a DICOM series as a TID 1500 report: ``<name>_sr.dcm``.

    Use it after :class:`~monai_unet2015.data.SaveDicomSegd` (the report references the SEG's
    segments: ``<name>_seg.dcm`` must have been written); :func:`write_volume_report` writes
    it with the volumes of :func:`~monai_unet2015.data.structure_measurements`. Arguments as
    :class:`~monai_unet2015.data.outputs.SaveDicomObjectd`'s (``warn_without_dicom``: asked
    for explicitly, ``--dicom_sr true``).
    """

    suffix, kind, option = "_sr.dcm", "structured report", "dicom_sr"

    def write(
        self, mask: np.ndarray, affine: np.ndarray, source: Path, out_path: Path, review: Mapping | None = None
    ) -> None:
        seg_path = out_path.with_name(out_path.name.removesuffix(self.suffix) + "_seg.dcm")
        if not seg_path.is_file():
            raise ValueError(f"dicom_sr needs dicom_seg: the report references the SEG's segments ({seg_path}).")
        measured = structure_measurements(mask, affine, self.labels)["structures"]
        volumes = {s["name"]: s["volume_ml"] for s in measured}
        flagged = (review or {}).get("structures", [])
        write_volume_report(seg_path, source, volumes, out_path, self.overwrite, flagged)
