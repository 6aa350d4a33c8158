"""A bundle's inference set up once and called per input, like nnU-Net's ``nnUNetPredictor``.

The network (with its weights) and the inferer (with its compiled network, where
``compile`` is on) are made once from the bundle's ``inference.json``; each call then
parses the bundle's config again for that call's input only (datalist, preprocessing,
post-processing: cheap). A call with an output folder runs the bundle's own ``evaluator``
(:class:`~monai_unet2015.bundle.SegmentCases`, the loop of batch inference: files written,
a bad case reported and the others done); a call without one returns the label map of one
image (a file, a DICOM series folder or an array), nothing written. The DICOM node, MONAI
Label, the demo and ``export`` use the one predictor, so none builds a network per input.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose, LoadImaged

from monai_unet2015.bundle.cli import unknown_override_messages
from monai_unet2015.bundle.errors import BundleInputError
from monai_unet2015.bundle.inference import InferenceReport
from monai_unet2015.bundle.locations import with_common_config
from monai_unet2015.bundle.workflow import sibling_configs
from monai_unet2015.data import SaveMaskd, SaveStructureReportd, load_datalist, release_series_links
from monai_unet2015.data.outputs import SaveDicomObjectd

__all__ = ["OUTPUT_WRITERS", "Predictor"]

#: the post-processing steps that write files: left out where a label map is returned instead
OUTPUT_WRITERS = (SaveMaskd, SaveDicomObjectd, SaveStructureReportd)

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


class Predictor:
    """A bundle's network, weights and inferer, set up once; ``predictor(case)`` per input.

    ``Predictor.from_bundle(DIR, device=..., backend=...)`` makes one; then
    ``predictor(path_or_array)`` returns one image's label map, and
    ``predictor(folder, output_dir)`` writes every case's outputs as batch inference does.

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
        >>> predictor = Predictor.from_bundle(bundle_path("unet3d_ct_organs"), device="cpu",
        ...     overrides={"bundle_root": root, "features": [4, 8, 16], "progress": False})
        >>> type(predictor.network).__name__
        'UNet3D'
        >>> predictor(torch.zeros(1, 48, 48, 48)).shape  # (C, H, W, D) on the bundle's grid
        torch.Size([1, 48, 48, 48])
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike,
        config_files: Sequence[str] = ("inference.json",),
        overrides: Mapping | None = None,
        args_file: str | os.PathLike | None = None,
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        given = [self._config_path(name) for name in config_files]
        if not given or given[0].name != "inference.json":
            raise ValueError(f"config_files must start with inference.json, got {list(config_files)!r}.")
        self.config_files = [Path(p) for p in with_common_config(given)]
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
        self.device = torch.device(parser.get_parsed_content("device"))

    @classmethod
    def from_bundle(
        cls,
        bundle_dir: str | os.PathLike,
        device: str | torch.device | None = None,
        backend: str | None = None,
        config_files: Sequence[str] = ("inference.json",),
        args_file: str | os.PathLike | None = None,
        overrides: Mapping | None = None,
    ) -> Predictor:
        """The predictor of the bundle in ``bundle_dir``.

        Args:
            bundle_dir: the bundle folder (``configs/``, ``models/model.pt``).
            device: where the network runs (``"cpu"``, ``"cuda:0"``); None: the bundle's rule
                (CUDA where there is one).
            backend: the inferer's runtime (``"torch"``, ``"onnxruntime"``, ``"openvino"``,
                ``"auto"``); None: the bundle's setting.
            config_files: the configs to merge, ``inference.json`` first (then a preset).
            args_file: a plan (``python -m monai_unet2015 plan``).
            overrides: any other bundle settings, e.g. ``{"flip_axes": []}``.
        """
        chosen = {"device": None if device is None else str(device), "backend": backend}
        settings = {**{k: v for k, v in chosen.items() if v is not None}, **dict(overrides or {})}
        return cls(bundle_dir, config_files, settings, args_file)

    def __call__(
        self,
        case: str | os.PathLike | np.ndarray | torch.Tensor,
        output_dir: str | os.PathLike | None = None,
        key: str = "pred",
        **overrides,
    ) -> MetaTensor | InferenceReport:
        """Segment ``case``: return its label map, or write the outputs of every case into ``output_dir``.

        Args:
            case: one image file, one DICOM series folder, or an array ``(C, H, W[, D])``
                (numpy or torch; a MetaTensor keeps its affine, a plain array is taken as
                already on the bundle's grid, ``pixdim``); with ``output_dir``, a folder of
                cases or one file.
            output_dir: where batch inference writes each case's files; None: nothing is
                written and the label map is returned.
            key: which result to return: ``"pred"`` (the class map) or, for the cells
                bundle, ``"instances"`` (one id per object).
            overrides: bundle settings for this call only (``dicom_seg=True``,
                ``overwrite=True``...); the settings the network, its weights and the
                inferer were made from (``features``, ``roi_size``...: :attr:`fixed`) cannot
                change per call (``ValueError``).

        Returns:
            The label map, ``(1, H, W[, D])`` on the input's own grid (a MetaTensor with its
            affine), or, with ``output_dir``, the :class:`~monai_unet2015.bundle.inference.InferenceReport`.

        Raises:
            CasesFailedError: with ``output_dir``, after the other cases, if a case failed.
            ValueError: an array of the wrong dimensionality, a folder of several cases
                without ``output_dir``, or a fixed setting in ``overrides``.
        """
        self._check_keys(overrides)
        fixed = sorted(key for key in overrides if key.split("#")[0] in self.fixed)
        if fixed:
            raise ValueError(f"{fixed} are set up once per predictor: make another Predictor to change them.")
        if output_dir is not None:
            parser = self._parser({"dataset_dir": str(case), "output_dir": str(output_dir), **overrides})
            parser["network"], parser["inferer"], parser["evaluator#load_weights"] = self.network, self.inferer, None
            return parser.get_parsed_content("evaluator").run()
        return self._label_map(case, key, overrides)

    def preprocessing(self, **overrides: Any) -> Compose:
        """The bundle's ``preprocessing`` with this predictor's settings (and ``overrides``), as inference runs it.

        What a tile of the network sees: for calibrating a quantised copy of the network, or to
        look at a case on the grid the bundle segments it on.
        """
        self._check_keys(overrides)
        return Compose(self._parser(overrides).get_parsed_content("preprocessing"))

    def _label_map(self, case, key: str, overrides: dict) -> MetaTensor:
        parser = self._parser(overrides)
        steps, item = parser.get_parsed_content("preprocessing"), self._input_item(case, parser)
        from_file = isinstance(item["image"], str)
        # an array: what LoadImaged would do is done already
        preprocessing = Compose([t for t in steps if from_file or not isinstance(t, LoadImaged)])
        postprocessing = parser.get_parsed_content("postprocessing")
        postprocessing = Compose([t for t in postprocessing.transforms if not isinstance(t, OUTPUT_WRITERS)])
        try:
            data = preprocessing(item)
        finally:
            if from_file:
                release_series_links(item["image"])
        with torch.no_grad():
            pred = self.inferer(data["image"].unsqueeze(0).to(self.device), self.network)[0]
        result = postprocessing({**data, "pred": pred})
        if key not in result:
            found = sorted(k for k in ("pred", "instances") if k in result)
            raise ValueError(f"key must be one of the results {found}, got {key!r}.")
        return result[key]

    def _input_item(self, case, parser: ConfigParser) -> dict:
        """``{"image": ...}`` for one case: a path as the datalist gives it, an array as a MetaTensor."""
        if isinstance(case, (np.ndarray, torch.Tensor)):
            return {"image": _as_image(case, parser)}
        items = load_datalist(str(case), "test", False, parser.get_parsed_content("modality", default=None))
        if len(items) != 1:
            raise ValueError(f"case {case} holds {len(items)} images: give one, or an output_dir for a folder.")
        return items[0]

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


def _as_image(array: np.ndarray | torch.Tensor, parser: ConfigParser) -> MetaTensor:
    """``array`` ``(C, *spatial)`` as a float MetaTensor; a plain array on the bundle's grid (``pixdim``)."""
    spatial_dims = int(parser.get_parsed_content("evaluator#spatial_dims"))
    if array.ndim != spatial_dims + 1:
        raise ValueError(
            f"case must be an array (C, {', '.join('HWD'[:spatial_dims])}) for this {spatial_dims}D bundle, "
            f"got shape {tuple(array.shape)}."
        )
    if isinstance(array, MetaTensor):
        image = array.float()
    else:
        affine = torch.eye(4, dtype=torch.float64)
        if "pixdim" in parser.get():
            affine[:spatial_dims, :spatial_dims] = torch.diag(torch.as_tensor(parser["pixdim"], dtype=torch.float64))
        image = MetaTensor(torch.as_tensor(np.asarray(array), dtype=torch.float32), affine=affine)
    # what LoadImaged records, so that the labels go back onto this grid (LabelsToSourceGridd)
    image.meta.setdefault("original_affine", image.affine.numpy().copy())
    image.meta.setdefault("spatial_shape", np.asarray(image.shape[1:]))
    return image


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
