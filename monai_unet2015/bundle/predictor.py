"""A bundle's inference set up once and called per input, like nnU-Net's ``nnUNetPredictor``.

The network (with its weights) and the inferer (with its compiled network, where
``compile`` is on) are made once from the bundle's ``inference.json``; each call then
parses the bundle's config again for that call's input and output folders only (datalist,
preprocessing, post-processing: cheap) and runs the bundle's own ``evaluator``
(:class:`~monai_unet2015.bundle.SegmentCases`) with the network and inferer made before.
So every case is segmented by the one loop batch inference uses, and the DICOM node no
longer builds a network for every series.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from monai.bundle import ConfigParser

from monai_unet2015.bundle.cli import unknown_override_messages
from monai_unet2015.bundle.errors import BundleInputError
from monai_unet2015.bundle.inference import InferenceReport
from monai_unet2015.bundle.workflow import sibling_configs

__all__ = ["BundlePredictor"]

# Made once per predictor; the rest of inference.json is made per call.
_MADE_ONCE = ("network", "inferer", "load_weights")
_REFERENCE = re.compile(r"@([\w#]+)")


def _settings_behind(config: Mapping, ids: Sequence[str]) -> set[str]:
    """``ids`` and every top-level setting they reference (``@features``...), however indirectly."""
    found, todo = set(), list(ids)
    while todo:
        key = todo.pop()
        if key in found or key not in config:
            continue
        found.add(key)
        todo += [ref.split("#")[0] for ref in _REFERENCE.findall(json.dumps(config[key]))]
    return found


class BundlePredictor:
    """A bundle's network, weights and inferer, set up once; ``predictor(input, output_dir)`` per input.

    Args:
        bundle_dir: the bundle folder (``configs/inference.json``, ``models/model.pt``).
        config_files: the configs to merge, in order, relative to ``configs/`` or as paths;
            the first must be ``inference.json`` (a preset after it: ``("inference.json", "cpu.json")``).
        overrides: config overrides for every call, e.g. ``{"features": [4, 8, 16]}``.
        args_file: a plan (``python -m monai_unet2015 plan``), applied before ``overrides`` as
            MONAI's ``--args_file`` is.

    Raises:
        FileNotFoundError: a config, the plan or the weights are missing.
        ValueError: ``config_files`` does not start with ``inference.json``, the plan is not
            a JSON object, or a key of the plan or of ``overrides`` is no setting of the
            bundle's configs (:class:`~monai_unet2015.bundle.BundleInputError`, naming the
            closest keys, as the bundles' command line does).

    Example::

        >>> import tempfile, torch
        >>> from monai_unet2015.bundle.locations import bundle_path
        >>> from monai_unet2015.networks import UNet3D
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/models")
        >>> torch.save(UNet3D(1, 4, features=(4, 8, 16)).state_dict(), f"{root}/models/model.pt")
        >>> predictor = BundlePredictor(bundle_path("unet3d_ct_organs"),
        ...     overrides={"bundle_root": root, "features": [4, 8, 16], "progress": False})
        >>> type(predictor.network).__name__
        'UNet3D'
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike,
        config_files: Sequence[str] = ("inference.json",),
        overrides: Mapping | None = None,
        args_file: str | os.PathLike | None = None,
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.config_files = [self._config_path(name) for name in config_files]
        if not self.config_files or self.config_files[0].name != "inference.json":
            raise ValueError(f"config_files must start with inference.json, got {list(config_files)!r}.")
        self.overrides = {"bundle_root": str(self.bundle_dir), **_plan(args_file), **dict(overrides or {})}
        self._known_configs: list[dict] | None = None
        self._check_keys(self.overrides)
        parser = self._parser({})
        #: the merged config (configs, plan, overrides), as the network was made from it
        self.config: dict = parser.get()
        #: the settings the network, its weights and the inferer are made from: fixed for this predictor
        self.fixed = _settings_behind(self.config, _MADE_ONCE)
        self.network = parser.get_parsed_content("network")
        parser.get_parsed_content("load_weights")()
        self.network.eval()  # for whoever calls it directly (MONAI Label); SegmentCases sets it too
        self.inferer = parser.get_parsed_content("inferer")

    def __call__(self, dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, **overrides) -> InferenceReport:
        """Segment every case of ``dataset_dir`` (a folder or one file) into ``output_dir``.

        ``overrides`` apply to this call only (``dicom_seg=True``, ``overwrite=True``...);
        the settings the network, its weights and the inferer were made from (``features``,
        ``roi_size``...: :attr:`fixed`) cannot change per call (``ValueError``).
        Raises :class:`~monai_unet2015.bundle.CasesFailedError` after the other cases if
        any case failed, as batch inference does.
        """
        self._check_keys(overrides)
        fixed = sorted(key for key in overrides if key.split("#")[0] in self.fixed)
        if fixed:
            raise ValueError(f"{fixed} are set up once per predictor: make another BundlePredictor to change them.")
        parser = self._parser({"dataset_dir": str(dataset_dir), "output_dir": str(output_dir), **overrides})
        parser["network"], parser["inferer"], parser["evaluator#load_weights"] = self.network, self.inferer, None
        return parser.get_parsed_content("evaluator").run()

    def _check_keys(self, overrides: Mapping) -> None:
        """``BundleInputError`` for keys no config of the bundle has (a typo: ``max_epoch``)."""
        if self._known_configs is None:  # read once: the check runs for every call
            files = [str(p) for p in self.config_files]
            self._known_configs = [ConfigParser.load_config_files(files), *sibling_configs(files)]
        messages = unknown_override_messages(overrides, *self._known_configs)
        if messages:
            raise BundleInputError(f"bundle {self.bundle_dir}: " + "; ".join(messages))

    def _parser(self, call_overrides: dict) -> ConfigParser:
        parser = ConfigParser()
        parser.read_config([str(p) for p in self.config_files])
        parser.read_meta(str(self.bundle_dir / "configs" / "metadata.json"))
        parser.update({**self.overrides, **call_overrides})
        return parser

    def _config_path(self, name: str) -> Path:
        path = Path(name) if Path(name).is_absolute() else self.bundle_dir / "configs" / name
        if not path.is_file():
            raise FileNotFoundError(f"bundle {self.bundle_dir}: config {path} does not exist.")
        return path


def _plan(args_file: str | os.PathLike | None) -> dict:
    if args_file is None:
        return {}
    path = Path(args_file)
    if not path.is_file():
        raise FileNotFoundError(f"args_file {path} does not exist (python -m monai_unet2015 plan writes it).")
    plan = json.loads(path.read_text())
    if not isinstance(plan, dict):
        raise ValueError(f"args_file {path} must hold a JSON object of bundle options.")
    return plan
