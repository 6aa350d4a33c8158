"""A MONAI Label studies folder from a dataset in the Medical Segmentation Decathlon layout."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["studies_from_msd"]

#: Where MONAI Label's local datastore keeps the labels that annotators submitted.
FINAL_LABELS = Path("labels") / "final"


def studies_from_msd(msd_dir: str | Path, studies_dir: str | Path, with_labels: bool = True) -> Path:
    """Copy ``imagesTr/`` and ``imagesTs/`` to ``studies_dir`` and ``labelsTr/`` to its ``labels/final/``.

    The result is what ``monailabel start_server --studies`` reads: the images at the top, the
    training labels as if annotators had submitted them (the test cases stay unlabelled).

    Args:
        msd_dir: the dataset folder (``imagesTr/`` at least; ``imagesTs/``, ``labelsTr/`` if present).
        studies_dir: the folder to write; created, and filled on top of what it holds.
        with_labels: copy ``labelsTr/`` as final labels.

    Returns:
        ``studies_dir``.

    Example::

        >>> import tempfile
        >>> from monai_unet2015.data import write_sample_data
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = write_sample_data(root / "sample", num_ct=2, num_mri=0, num_cells=0, ct_shape=(16, 16, 4), dicom=False)
        >>> studies = studies_from_msd(root / "sample" / "ct", root / "studies")
        >>> sorted(p.name for p in studies.glob("*.nii.gz")), sorted(p.name for p in (studies / FINAL_LABELS).iterdir())
        (['ct_000.nii.gz', 'ct_001.nii.gz'], ['ct_000.nii.gz'])
    """
    msd_dir, studies_dir = Path(msd_dir), Path(studies_dir)
    if not (msd_dir / "imagesTr").is_dir():
        raise FileNotFoundError(f"msd_dir {msd_dir} has no imagesTr/ folder (Medical Segmentation Decathlon layout).")
    parts = [("imagesTr", studies_dir), ("imagesTs", studies_dir)]
    if with_labels:
        parts.append(("labelsTr", studies_dir / FINAL_LABELS))
    for part, target in parts:
        if (msd_dir / part).is_dir():
            target.mkdir(parents=True, exist_ok=True)
            for file in sorted((msd_dir / part).iterdir()):
                shutil.copy2(file, target / file.name)
    return studies_dir
