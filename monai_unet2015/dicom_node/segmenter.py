"""One series through a bundle's inference: the mask and the DICOM outputs in a folder, the network made once."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np

from monai_unet2015.bundle.predictor import Predictor
from monai_unet2015.data.overlay_writer import write_overlay_series
from monai_unet2015.data.presets import dicom_modality
from monai_unet2015.planning.write import fingerprint_path

__all__ = ["BundleSegmenter", "OUTPUTS"]

logger = logging.getLogger(__name__)

#: the DICOM objects the node can make of a series, by name, with the bundle setting that writes
#: each and the file name it ends with
OUTPUTS = {
    "seg": ("dicom_seg", "_seg.dcm"),
    "rtstruct": ("dicom_rtstruct", "_rtstruct.dcm"),
    "overlay": ("dicom_overlay", "_overlay"),  # a folder: one secondary-capture image per slice
    "sr": ("dicom_sr", "_sr.dcm"),  # references the SEG's segments: needs "seg"
}


def _training_volumes_for_review(args_file: str | Path | None) -> dict:
    """``{"training_fingerprint": path}`` where the plan has a fingerprint with the training volumes beside it.

    The review after inference then compares each structure's volume with the training
    cases' (:mod:`~monai_unet2015.data.review`); a plan made before the fingerprint kept them
    reviews without volumes, said once here.
    """
    if args_file is None:
        return {}
    path = fingerprint_path(args_file)
    if not path.is_file():
        return {}
    if "class_volumes_ml_per_case" not in json.loads(path.read_text()).get("fingerprint", {}):
        logger.warning("%s keeps no training volumes (an older plan): results are reviewed without them", path)
        return {}
    return {"training_fingerprint": str(path)}


class BundleSegmenter:
    """Segment DICOM series folders with a bundle, as ``python -m monai.bundle run`` would.

    The bundle's network and weights are loaded once (:class:`~monai_unet2015.bundle.Predictor`);
    each series then runs through the bundle's own ``inference.json`` (its checks,
    overlap-tile inference, post-processing) with ``dataset_dir`` the series folder,
    ``output_dir`` the result folder and the ``outputs`` on, plus the model's training set-up:
    the same preset configs merged after it and the same plan (``--args_file``) as in
    training, then ``overrides``.

    Args:
        bundle_dir: the bundle (``configs/inference.json``, ``models/model.pt``).
        overrides: further config overrides, e.g. ``{"features": [4, 8, 16]}``.
        config_files: the configs to merge, in order, relative to ``configs/`` or as paths
            (default ``("inference.json",)``; a preset: ``("inference.json", "cpu.json")``).
        args_file: a plan from ``python -m monai_unet2015 plan`` (JSON options), applied
            before ``overrides`` as MONAI's ``--args_file`` is.
        outputs: the DICOM objects to write for each series, in the order they are sent:
            ``"seg"`` (DICOM SEG), ``"rtstruct"`` (RT Structure Set), ``"overlay"`` (a
            secondary-capture series with the structures burned in), ``"sr"`` (the volumes as a
            TID 1500 report on the SEG's segments; needs ``"seg"``); see :data:`OUTPUTS`.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        overrides: dict | None = None,
        config_files: tuple[str, ...] | list[str] = ("inference.json",),
        args_file: str | Path | None = None,
        outputs: tuple[str, ...] | list[str] = ("seg",),
    ) -> None:
        unknown = [name for name in outputs if name not in OUTPUTS]
        if not outputs or unknown or len(set(outputs)) != len(outputs):
            raise ValueError(f"outputs must be distinct names among {sorted(OUTPUTS)}, got {list(outputs)!r}.")
        if "sr" in outputs and "seg" not in outputs:
            raise ValueError(f"outputs: 'sr' references the SEG's segments, add 'seg', got {list(outputs)!r}.")
        self.outputs = tuple(outputs)
        self.bundle_dir = Path(bundle_dir)
        overrides = {"progress": False, **_training_volumes_for_review(args_file), **(overrides or {})}
        self.predictor = Predictor(bundle_dir, config_files, overrides, args_file)
        modality = self.predictor.config.get("modality")
        if modality is None:
            raise ValueError(
                f"bundle {self.bundle_dir} does not segment DICOM series (its inference.json has no modality)."
            )
        #: the DICOM Modality this bundle segments ("CT", "MR")
        self.modality = dicom_modality(modality)

    def segment(self, series_dir: Path, output_dir: Path) -> Path:
        """Run the bundle on ``series_dir``; the first of the ``outputs`` it wrote in ``output_dir``."""
        return self.segment_outputs(series_dir, output_dir)[0]

    def segment_outputs(self, series_dir: Path, output_dir: Path) -> list[Path]:
        """Run the bundle on ``series_dir``; the DICOM objects it wrote in ``output_dir``, in ``outputs`` order."""
        switches = {setting: name in self.outputs for name, (setting, _) in OUTPUTS.items()}
        self.predictor(series_dir, output_dir, **switches, overwrite=True)
        written = []
        for name in self.outputs:
            suffix = OUTPUTS[name][1]
            found = sorted(p for p in Path(output_dir).rglob(f"*{suffix}") if not p.name.startswith("."))
            if len(found) != 1:
                raise RuntimeError(f"the bundle wrote {len(found)} *{suffix} outputs in {output_dir}, expected 1.")
            written += sorted(found[0].glob("*.dcm")) if found[0].is_dir() else found
        return written

    @staticmethod
    def review(output_dir: Path) -> list[str]:
        """Why the series' result needs review (``*_volumes.json``'s ``review``); empty where nothing was flagged."""
        reasons = []
        for report in sorted(Path(output_dir).rglob("*_volumes.json")):
            reasons += json.loads(report.read_text()).get("review", {}).get("reasons", [])
        return reasons

    def overlay_from_results(self, series_dir: Path, output_dir: Path) -> list[Path]:
        """The overlay series of a series segmented before, from the mask and volumes in ``output_dir``.

        For a destination that refuses DICOM SEG: the node then sends this instead. Reuses
        the written mask (``*_seg.nii.gz``, on the series' grid) and ``*_volumes.json``; no
        second inference.
        """
        (mask_path,) = sorted(Path(output_dir).rglob("*_seg.nii.gz"))
        mask = nib.load(mask_path)
        labels = {int(k): str(v) for k, v in self.predictor.config["label_names"].items()}
        volumes = {}
        for report in Path(output_dir).rglob("*_volumes.json"):
            volumes = {s["value"]: s["volume_ml"] for s in json.loads(report.read_text())["structures"]}
        folder = mask_path.with_name(mask_path.name.replace("_seg.nii.gz", "_overlay"))
        array = np.asarray(mask.dataobj)
        review = self.review(output_dir)
        return write_overlay_series(array, mask.affine, series_dir, folder, labels, volumes, True, review)
