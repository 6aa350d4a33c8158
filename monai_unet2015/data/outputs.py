"""Write predictions where clinicians look: NIfTI on the input's grid, DICOM SEG for DICOM input."""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import Activationsd, AsDiscreted, Invertd, SaveImaged
from monai.transforms.transform import MapTransform, Transform
from monai.utils import optional_import
from monai.utils.enums import TransformBackends

from monai_unet2015 import __version__

hd, has_highdicom = optional_import("highdicom")

__all__ = ["inference_postprocessing", "write_dicom_seg", "read_series", "SaveDicomSegd", "has_highdicom"]

logger = logging.getLogger(__name__)
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def inference_postprocessing(
    preprocessing: Transform,
    output_dir: str | Path,
    pred_key: str = "pred",
    image_key: str = "image",
    output_postfix: str = "seg",
    sigmoid: bool = False,
    output_ext: str = ".nii.gz",
    invert: bool = True,
) -> list[Transform]:
    """Class map of the logits, back on the input's original grid, saved as NIfTI (uint8).

    ``Activationsd`` (soft-max, or sigmoid for one channel) and ``AsDiscreted`` (argmax /
    0.5) make a label map; ``Invertd`` undoes ``preprocessing``'s orientation and spacing
    (nearest neighbour) so the mask has the shape and affine of the file it came from; and
    ``SaveImaged`` writes ``<output_dir>/<input name>_<output_postfix><output_ext>`` with that
    affine (``output_ext=".png"`` for 2D images: labels scaled to 0 / 255 for a binary
    mask). For a DICOM series the affine is the series' geometry, so the NIfTI overlays the
    series in any viewer; :class:`SaveDicomSegd` writes the DICOM SEG as well.
    ``invert=False`` leaves out ``Invertd``, for preprocessing without spatial transforms.
    """
    activation = {"sigmoid": True} if sigmoid else {"softmax": True}
    discrete = {"threshold": 0.5} if sigmoid else {"argmax": True}
    inverse = [Invertd(pred_key, transform=preprocessing, orig_keys=image_key, nearest_interp=True, to_tensor=True)]
    return [
        Activationsd(pred_key, **activation),
        AsDiscreted(pred_key, **discrete),
        *(inverse if invert else []),
        SaveImaged(
            pred_key,
            output_dir=str(output_dir),
            output_postfix=output_postfix,
            output_ext=output_ext,
            output_dtype=np.uint8,
            resample=False,
            separate_folder=False,
            print_log=False,
            scale=255 if output_ext == ".png" else None,
        ),
    ]


def _frame_indices(ds: pydicom.Dataset, affine: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Voxel indices (x, y, z) of every pixel (row, column) of the DICOM slice ``ds``."""
    position = _RAS_TO_LPS @ np.asarray(ds.ImagePositionPatient, dtype=float)
    orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    along_row = _RAS_TO_LPS @ orientation[:3] * column_spacing  # one column to the right
    down_column = _RAS_TO_LPS @ orientation[3:] * row_spacing  # one row down
    to_voxel = np.linalg.inv(affine)
    origin = (to_voxel @ np.append(position, 1.0))[:3]
    step_column, step_row = to_voxel[:3, :3] @ along_row, to_voxel[:3, :3] @ down_column
    rows, columns = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
    voxel = origin[:, None, None] + step_column[:, None, None] * columns + step_row[:, None, None] * rows
    nearest = np.round(voxel)
    if (
        np.abs(voxel - nearest).max() > 1e-2
        or nearest.min() < 0
        or np.any(nearest.max(axis=(1, 2)) >= np.asarray(shape))
    ):
        raise ValueError(
            f"the mask's grid does not contain the pixels of DICOM slice {getattr(ds, 'SOPInstanceUID', '?')}: "
            "save the mask on the series' own grid (invert the preprocessing first)."
        )
    return tuple(nearest.astype(np.int64))


def _segment_description(number: int, name: str):
    from pydicom.sr.codedict import codes

    property_type = getattr(codes.SCT, re.sub(r"[^A-Za-z]", "", name.title()), None) or codes.SCT.Tissue
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name,
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=property_type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="monai_unet2015 U-Net", version=__version__, family=codes.cid7162.ArtificialIntelligence
        ),
    )


def read_series(folder: str | Path) -> list[pydicom.Dataset]:
    """The image files of a DICOM series folder, as datasets (unsorted order is fine for SEG)."""
    datasets = []
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        if "PixelData" in ds:
            datasets.append(ds)
    if not datasets:
        raise FileNotFoundError(f"{folder} holds no DICOM image files.")
    return datasets


def write_dicom_seg(
    mask: np.ndarray,
    affine: np.ndarray,
    source_folder: str | Path,
    out_path: str | Path,
    labels: Mapping[int, str],
) -> Path:
    """Write the label map ``mask`` (x, y, z; RAS ``affine``) as a DICOM SEG of the series.

    Each frame of the SEG belongs to one source slice: its pixels are looked up in
    ``mask`` through the slice's ImagePositionPatient / ImageOrientationPatient /
    PixelSpacing and the mask's affine, so any orientation works, and a mask that is not on
    the series' grid is an error rather than a shifted overlay. One segment per entry of
    ``labels`` (``{1: "liver", ...}``); names that are SNOMED concepts in pydicom's
    dictionary (Liver, Spleen, Kidney...) get that code, others "Tissue". Needs the
    optional ``highdicom`` package (``pip install monai_unet2015[dicom]``).
    """
    if not has_highdicom:
        raise ImportError("writing DICOM SEG needs highdicom: pip install 'monai_unet2015[dicom]'.")
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be (x, y, z), got shape {mask.shape}.")
    if mask.dtype.kind == "f":
        if not np.array_equal(mask, np.round(mask)):
            raise ValueError("mask must hold integer label values, got fractions (discretise the prediction first).")
        mask = mask.astype(np.int64)
    unknown = sorted(set(np.unique(mask).tolist()) - {0, *labels})
    if unknown:
        raise ValueError(f"mask holds values {unknown} that labels {dict(labels)} does not name.")
    sources = read_series(source_folder)
    frames = np.stack([mask[_frame_indices(ds, np.asarray(affine, dtype=float), mask.shape)] for ds in sources])
    segment_numbers = {value: number for number, value in enumerate(sorted(labels), start=1)}
    lookup = np.zeros(max(labels, default=0) + 1, np.uint8)
    for value, number in segment_numbers.items():
        lookup[value] = number
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=lookup[frames],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(n, labels[v]) for v, n in segment_numbers.items()],
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="monai_unet2015",
        manufacturer_model_name="UNet2015",
        software_versions=__version__,
        device_serial_number="0",
        omit_empty_frames=False,
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out_path)
    return out_path


class SaveDicomSegd(MapTransform):
    """Save a label map that came from a DICOM series as a DICOM SEG next to the NIfTI.

    Use it after ``Invertd`` (the label map on the series' own grid), as in
    :func:`inference_postprocessing`. The source series is the folder in the label map's
    ``filename_or_obj`` meta entry (MONAI's DICOM readers put the series folder there);
    samples that did not come from a DICOM folder are passed through untouched.

    Args:
        keys: the label-map key(s), ``(1, x, y, z)`` MetaTensors.
        output_dir: where ``<series folder name>_seg.dcm`` goes.
        labels: ``{value: name}`` of the segments.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, keys: KeysCollection, output_dir: str | Path, labels: Mapping[int, str]) -> None:
        super().__init__(keys)
        if not has_highdicom:
            raise ImportError("SaveDicomSegd needs highdicom: pip install 'monai_unet2015[dicom]'.")
        if not labels or any(int(k) <= 0 for k in labels):
            raise ValueError(f"labels must map values > 0 to names, got {labels!r}.")
        self.output_dir = Path(output_dir)
        self.labels = {int(k): str(v) for k, v in labels.items()}

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            source = value.meta.get("filename_or_obj") if isinstance(value, MetaTensor) else None
            if not source or not Path(str(source)).is_dir():
                continue
            out_path = self.output_dir / f"{Path(str(source)).name}_seg.dcm"
            write_dicom_seg(np.asarray(value)[0], np.asarray(value.affine), source, out_path, self.labels)
            logger.info("DICOM SEG written: %s", out_path)
        return d
