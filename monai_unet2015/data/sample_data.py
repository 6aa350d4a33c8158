"""The embedded demo dataset: CT (NIfTI and DICOM), MRI and 2D cells, generated in seconds."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

from monai_unet2015.data.dicom_writer import write_dicom_series
from monai_unet2015.data.synthetic_cells import touching_cells_2d
from monai_unet2015.data.synthetic_volumes import CT_LABELS, MRI_LABELS, ct_like_volume, mri_like_volume

__all__ = ["write_sample_data"]

logger = logging.getLogger(__name__)


def _save_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    image = nib.Nifti1Image(array, affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)  # scanner coordinates: readers agree on the geometry
    image.set_sform(affine, code=1)
    nib.save(image, path)


def _write_msd(
    folder: Path, file_names: list[str], save_case: Callable[[int, Path, Path], None], num_test: int, header: dict
) -> dict:
    """imagesTr/labelsTr/imagesTs/labelsTs and dataset.json in the Decathlon layout.

    ``save_case(index, image_path, label_path)`` writes case ``index``; the last ``num_test``
    cases go to the test folders. ``header`` holds the dataset.json fields that describe the data.
    """
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    training, test = [], []
    for index, file_name in enumerate(file_names):
        split = "Ts" if index >= len(file_names) - num_test else "Tr"
        save_case(index, folder / f"images{split}" / file_name, folder / f"labels{split}" / file_name)
        entry = {"image": f"./images{split}/{file_name}", "label": f"./labels{split}/{file_name}"}
        (test if split == "Ts" else training).append(entry)
    dataset = {
        **header,
        "numTraining": len(training),
        "numTest": len(test),
        "training": training,
        "test": [t["image"] for t in test],
        "test_labels": test,  # not in the MSD format: lets the demo score its test predictions
    }
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n")
    return {"folder": str(folder), "training": len(training), "test": len(test)}


def _write_volumes(folder: Path, name: str, modality: str, labels: dict[str, int], cases: list[tuple]) -> dict:
    """3D ``(image, label, affine)`` cases as NIfTI; the last one for testing."""

    def save_case(index: int, image_path: Path, label_path: Path) -> None:
        image, label, affine = cases[index]
        _save_nifti(image, affine, image_path)
        _save_nifti(label, affine, label_path)

    header = {
        "name": f"monai_unet2015 sample {name}",
        "description": "generated, not patient data (monai_unet2015.data.sample_data)",
        "tensorImageSize": "3D",
        "modality": {"0": modality},
        "labels": {str(v): k for k, v in labels.items()},
    }
    return _write_msd(folder, [f"{name}_{i:03d}.nii.gz" for i in range(len(cases))], save_case, 1, header)


def _write_cells(folder: Path, count: int, num_test: int, shape: tuple[int, int], seed: int) -> dict:
    """2D touching cells as 8-bit PNG images and 16-bit PNG instance labels."""

    def save_case(index: int, image_path: Path, label_path: Path) -> None:
        image, instances = touching_cells_2d(shape, num_cells=shape[0] * shape[1] // 2700, seed=seed + index)
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(image_path)
        Image.fromarray(instances.astype(np.uint16)).save(label_path)

    header = {
        "name": "monai_unet2015 sample cells",
        "description": "generated light-microscopy-like touching cells; labels are instance ids (0 = background)",
        "tensorImageSize": "2D",
        "modality": {"0": "microscopy"},
        "labels": {"0": "background", "1": "cell"},
    }
    return _write_msd(folder, [f"cells_{i:03d}.png" for i in range(count)], save_case, num_test, header)


def write_sample_data(
    out_dir: str | Path,
    num_ct: int = 6,
    num_mri: int = 4,
    num_cells: int = 10,
    ct_shape: Sequence[int] = (128, 128, 40),
    ct_spacing: Sequence[float] = (0.8, 0.8, 2.5),
    mri_shape: Sequence[int] = (80, 80, 56),
    cells_shape: tuple[int, int] = (256, 256),
    dicom: bool = True,
    seed: int = 0,
) -> dict:
    """Write the demo dataset under ``out_dir``; deterministic for a given ``seed``.

    - ``ct/``: MSD layout (``dataset.json``, imagesTr, labelsTr, imagesTs, labelsTs):
      abdomen-like CT in HU (int16 NIfTI, 0.8 x 0.8 x 2.5 mm) labelled liver 1, spleen 2,
      kidney 3 (:func:`~monai_unet2015.data.synthetic_volumes.ct_like_volume`); the last case
      is the test case.
    - ``ct_dicom/<case>/IM_*.dcm``: the first training case and the test case again, as
      DICOM CT series (stored values + RescaleIntercept -1024), and ``ct_dicom_labels/<case>.nii.gz``.
    - ``mri/``: head-like T1 MRI in arbitrary units, labelled ventricles 1, lesion 2.
    - ``cells/``: 2D light-microscopy-like PNGs of touching cells with instance labels
      (uint16 PNG) for the paper's 2D set-up; the last two (one if fewer than 4) for testing.
    - ``manifest.json``: what was written.

    Each part is skipped when its count is 0 (``dicom=False`` skips the DICOM copies).
    The first and the last case of each part are used: keep at least 2.

    Returns:
        The manifest.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"seed": seed, "generated_by": "python -m monai_unet2015 sample-data", "parts": {}}
    if num_ct:
        cases = []
        for index in range(num_ct):
            hu, labels, affine = ct_like_volume(ct_shape, ct_spacing, seed=seed + index)
            cases.append((np.round(hu).astype(np.int16), labels, affine))
        part = _write_volumes(out_dir / "ct", "ct", "CT", CT_LABELS, cases)
        part.update(spacing_mm=list(map(float, ct_spacing)), shape=list(map(int, ct_shape)), labels=CT_LABELS)
        manifest["parts"]["ct"] = part
        if dicom:
            (out_dir / "ct_dicom_labels").mkdir(exist_ok=True)
            for index in (0, num_ct - 1):
                image, labels, affine = cases[index]
                case = f"ct_{index:03d}"
                write_dicom_series(image.astype(np.float32), affine, out_dir / "ct_dicom" / case, patient_id=case)
                _save_nifti(labels, affine, out_dir / "ct_dicom_labels" / f"{case}.nii.gz")
            manifest["parts"]["ct_dicom"] = {"folder": str(out_dir / "ct_dicom"), "series": 2}
    if num_mri:
        cases = [mri_like_volume(mri_shape, seed=seed + 100 + index) for index in range(num_mri)]
        manifest["parts"]["mri"] = _write_volumes(out_dir / "mri", "mri", "MRI", MRI_LABELS, cases)
    if num_cells:
        num_test = min(2, num_cells // 2)
        manifest["parts"]["cells"] = _write_cells(out_dir / "cells", num_cells, num_test, cells_shape, seed=seed + 200)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("sample data written to %s", out_dir)
    return manifest
