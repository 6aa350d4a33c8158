"""One series through a bundle's ``inference.json``: mask and DICOM SEG in a folder."""

from __future__ import annotations

from pathlib import Path

from monai.bundle import ConfigParser, ConfigWorkflow

from monai_unet2015.data.presets import dicom_modality

__all__ = ["BundleSegmenter"]


class BundleSegmenter:
    """Segment a DICOM series folder with a bundle, as ``python -m monai.bundle run`` would.

    The bundle's own ``inference.json`` runs (its checks, overlap-tile inference,
    post-processing) with ``dataset_dir`` the series folder, ``output_dir`` the result folder
    and ``dicom_seg`` on, plus ``overrides``.

    Args:
        bundle_dir: the bundle (``configs/inference.json``, ``models/model.pt``).
        overrides: further config overrides, e.g. ``{"network_def#features": [4, 8, 16]}``.
    """

    def __init__(self, bundle_dir: str | Path, overrides: dict | None = None) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.config_file = self.bundle_dir / "configs" / "inference.json"
        if not self.config_file.is_file():
            raise FileNotFoundError(f"bundle {self.bundle_dir} has no configs/inference.json.")
        self.overrides = dict(overrides or {})
        config = ConfigParser.load_config_file(self.config_file)
        modality = self.overrides.get("modality", config.get("modality"))
        if modality is None:
            raise ValueError(
                f"bundle {self.bundle_dir} does not segment DICOM series (its inference.json has no modality)."
            )
        #: the DICOM Modality this bundle segments ("CT", "MR")
        self.modality = dicom_modality(modality)

    def segment(self, series_dir: Path, output_dir: Path) -> Path:
        """Run the bundle on ``series_dir``; the DICOM SEG it wrote in ``output_dir``."""
        flow = ConfigWorkflow(
            config_file=str(self.config_file),
            meta_file=str(self.bundle_dir / "configs" / "metadata.json"),
            workflow_type="infer",
            bundle_root=str(self.bundle_dir),
            dataset_dir=str(series_dir),
            output_dir=str(output_dir),
            dicom_seg=True,
            overwrite=True,
            progress=False,
            **self.overrides,
        )
        flow.initialize()
        try:
            flow.run()
        finally:
            flow.finalize()
        segs = sorted(p for p in Path(output_dir).rglob("*.dcm") if not p.name.startswith("."))
        if len(segs) != 1:
            raise RuntimeError(f"the bundle wrote {len(segs)} DICOM SEG files in {output_dir}, expected 1.")
        return segs[0]
