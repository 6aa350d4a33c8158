"""One series through a bundle's inference: mask and DICOM SEG in a folder, the network made once."""

from __future__ import annotations

from pathlib import Path

from monai_unet2015.bundle.predictor import BundlePredictor
from monai_unet2015.data.presets import dicom_modality

__all__ = ["BundleSegmenter"]


class BundleSegmenter:
    """Segment DICOM series folders with a bundle, as ``python -m monai.bundle run`` would.

    The bundle's network and weights are loaded once (:class:`~monai_unet2015.bundle.BundlePredictor`);
    each series then runs through the bundle's own ``inference.json`` (its checks,
    overlap-tile inference, post-processing) with ``dataset_dir`` the series folder,
    ``output_dir`` the result folder and ``dicom_seg`` on, plus the model's training set-up:
    the same preset configs merged after it and the same plan (``--args_file``) as in
    training, then ``overrides``.

    Args:
        bundle_dir: the bundle (``configs/inference.json``, ``models/model.pt``).
        overrides: further config overrides, e.g. ``{"features": [4, 8, 16]}``.
        config_files: the configs to merge, in order, relative to ``configs/`` or as paths
            (default ``("inference.json",)``; a preset: ``("inference.json", "cpu.json")``).
        args_file: a plan from ``python -m monai_unet2015 plan`` (JSON options), applied
            before ``overrides`` as MONAI's ``--args_file`` is.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        overrides: dict | None = None,
        config_files: tuple[str, ...] | list[str] = ("inference.json",),
        args_file: str | Path | None = None,
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.predictor = BundlePredictor(bundle_dir, config_files, {"progress": False, **(overrides or {})}, args_file)
        modality = self.predictor.config.get("modality")
        if modality is None:
            raise ValueError(
                f"bundle {self.bundle_dir} does not segment DICOM series (its inference.json has no modality)."
            )
        #: the DICOM Modality this bundle segments ("CT", "MR")
        self.modality = dicom_modality(modality)

    def segment(self, series_dir: Path, output_dir: Path) -> Path:
        """Run the bundle on ``series_dir``; the DICOM SEG it wrote in ``output_dir``."""
        self.predictor(series_dir, output_dir, dicom_seg=True, overwrite=True)
        segs = sorted(p for p in Path(output_dir).rglob("*.dcm") if not p.name.startswith("."))
        if len(segs) != 1:
            raise RuntimeError(f"the bundle wrote {len(segs)} DICOM SEG files in {output_dir}, expected 1.")
        return segs[0]
