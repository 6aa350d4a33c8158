"""One series through a bundle's ``inference.json``: mask and DICOM SEG in a folder."""

from __future__ import annotations

import json
from pathlib import Path

from monai.bundle import ConfigParser, ConfigWorkflow

from monai_unet2015.data.presets import dicom_modality

__all__ = ["BundleSegmenter"]


class BundleSegmenter:
    """Segment a DICOM series folder with a bundle, as ``python -m monai.bundle run`` would.

    The bundle's own ``inference.json`` runs (its checks, overlap-tile inference,
    post-processing) with ``dataset_dir`` the series folder, ``output_dir`` the result folder
    and ``dicom_seg`` on, plus the model's training set-up: the same preset configs merged
    after it and the same plan (``--args_file``) as in training, then ``overrides``.

    Args:
        bundle_dir: the bundle (``configs/inference.json``, ``models/model.pt``).
        overrides: further config overrides, e.g. ``{"network_def#features": [4, 8, 16]}``.
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
        self.config_files = [self._config_path(name) for name in config_files]
        if not self.config_files or self.config_files[0].name != "inference.json":
            raise ValueError(f"config_files must start with inference.json, got {list(config_files)!r}.")
        plan = {}
        if args_file is not None:
            args_path = Path(args_file)
            if not args_path.is_file():
                raise FileNotFoundError(
                    f"args_file {args_path} does not exist (python -m monai_unet2015 plan writes it)."
                )
            plan = json.loads(args_path.read_text())
            if not isinstance(plan, dict):
                raise ValueError(f"args_file {args_path} must hold a JSON object of bundle options.")
        self.overrides = {**plan, **dict(overrides or {})}
        config = ConfigParser.load_config_files([str(p) for p in self.config_files])
        modality = self.overrides.get("modality", config.get("modality"))
        if modality is None:
            raise ValueError(
                f"bundle {self.bundle_dir} does not segment DICOM series (its inference.json has no modality)."
            )
        #: the DICOM Modality this bundle segments ("CT", "MR")
        self.modality = dicom_modality(modality)

    def _config_path(self, name: str) -> Path:
        path = Path(name) if Path(name).is_absolute() else self.bundle_dir / "configs" / name
        if not path.is_file():
            raise FileNotFoundError(f"bundle {self.bundle_dir}: config {path} does not exist.")
        return path

    def segment(self, series_dir: Path, output_dir: Path) -> Path:
        """Run the bundle on ``series_dir``; the DICOM SEG it wrote in ``output_dir``."""
        flow = ConfigWorkflow(
            config_file=[str(p) for p in self.config_files],
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
