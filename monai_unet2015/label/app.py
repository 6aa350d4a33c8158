"""The MONAI Label app: this project's bundles served to 3D Slicer / OHIF, offline.

Start it with MONAI Label's own command on the app folder that the repository ships::

    monailabel start_server --app apps/monai_unet2015 --studies /path/to/images \\
        --conf models unet3d_ct_organs

The app folder's ``main.py`` only imports :class:`UNet2015LabelApp`; MONAI Label finds it there.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from monai.utils import optional_import

import monai_unet2015
from monai_unet2015.bundle.locations import bundles_dir
from monai_unet2015.label.tasks import UNet2015BundleInferTask, UNet2015BundleTrainTask, has_infer_task
from monai_unet2015.planning import apply_plan
from monai_unet2015.planning.write import read_plan_record

MONAILabelApp, _ = optional_import("monailabel.interfaces.app", name="MONAILabelApp", as_type="base")

__all__ = ["UNet2015LabelApp", "install_bundle", "WEIGHTS"]

logger = logging.getLogger(__name__)

_INFER_IMPORT_PROBLEM = (
    "torchvision.utils (monailabel/transform/post.py imports it): install a torchvision build that matches torch"
)

#: Where a bundle keeps the weights that inference uses (the model-zoo layout).
WEIGHTS = Path("models") / "model.pt"


def install_bundle(source: Path, target: Path) -> Path:
    """Copy a bundle to the app's model folder, once: its working copy, where training writes.

    ``configs/``, ``docs/``, ``LICENSE`` and, if the source has one, ``models/model.pt`` are
    copied; ``models/`` is created either way, so a ``model.pt`` can be copied in. A target
    that already holds a bundle (with its trained weights) is left as it is.

    Args:
        source: a bundle folder (``configs/inference.json`` at least).
        target: the working copy's folder.

    Returns:
        ``target``.

    Example::

        >>> import tempfile
        >>> from monai_unet2015.bundle.locations import bundles_dir
        >>> copy = install_bundle(bundles_dir() / "unet3d_ct_organs", Path(tempfile.mkdtemp()) / "ct")
        >>> sorted(p.name for p in copy.iterdir())
        ['LICENSE', 'configs', 'docs', 'models']
    """
    if (target / "configs").is_dir():
        logger.info("Using the bundle at %s", target)
        return target
    if not (source / "configs" / "inference.json").is_file():
        raise FileNotFoundError(f"bundle {source} has no configs/inference.json.")
    target.mkdir(parents=True)
    for part in ("configs", "docs"):
        shutil.copytree(source / part, target / part)
    shutil.copy2(source / "LICENSE", target / "LICENSE")
    (target / WEIGHTS).parent.mkdir()
    if (source / WEIGHTS).is_file():
        shutil.copy2(source / WEIGHTS, target / WEIGHTS)
    logger.info("Copied the bundle %s to %s", source, target)
    return target


def _requested_bundles(models: str, source: Path) -> dict[str, Path]:
    """``{name: bundle folder}`` for ``--conf models``: names of bundles in ``source``, folders, or ``all``."""
    available = {p.name: p for p in sorted(source.iterdir()) if (p / "configs" / "inference.json").is_file()}
    if models.strip().lower() == "all":
        return available
    requested: dict[str, Path] = {}
    for entry in (m.strip() for m in models.split(",") if m.strip()):
        folder = Path(entry).expanduser()
        if entry in available:
            requested[entry] = available[entry]
        elif folder.is_dir() and (folder / "configs" / "inference.json").is_file():
            requested[folder.resolve().name] = folder.resolve()
        else:
            requested = {}
            break
    if not requested:
        raise ValueError(
            f"conf 'models' must name bundles in {source}: {sorted(available)}, bundle folders, or 'all'; "
            f"got {models!r}."
        )
    return requested


def _apply_plan_to(bundle_paths: dict[str, Path], plan_file: Path) -> None:
    bundle = read_plan_record(plan_file)["bundle"]
    if bundle not in bundle_paths:
        raise ValueError(
            f"conf 'plan' {plan_file} is for the bundle {bundle!r}, not one served: {sorted(bundle_paths)}."
        )
    changed = apply_plan(bundle_paths[bundle], plan_file)
    logger.info("Plan %s applied to %s: %s", plan_file, bundle_paths[bundle], changed)


def _not_found(detail: str) -> Exception:
    from fastapi import HTTPException  # the server's web framework: raised here, it answers 404

    return HTTPException(status_code=404, detail=detail)


class UNet2015LabelApp(MONAILabelApp):
    """MONAI Label app serving the bundles: auto-segmentation and retraining on saved labels.

    Every bundle named in ``--conf models`` (default ``all``) gets an infer task
    (:class:`~monai_unet2015.label.tasks.UNet2015BundleInferTask`: the bundle's
    ``inference.json``, with the overlap-tile inferer) and a train task
    (:class:`~monai_unet2015.label.tasks.UNet2015BundleTrainTask`: its ``train.json`` on the
    images that have a final label). The bundles are copied once to ``--conf model_dir``
    (default ``<app>/model``); nothing is downloaded, there is no model-zoo look-up.

    A bundle without ``models/model.pt`` is served for training only, and for inference from
    the first request after a training run has written its weights (no restart needed).
    Requests for a model or an image that the server does not have are answered 404 with the
    names it does have (MONAI Label itself answers 500).

    Settings (``--conf KEY VALUE``):
        models: comma-separated bundle names or bundle folders, or ``all``.
        bundles_dir: where the named bundles are (default: the shipped bundles, inside the package).
        model_dir: where the app keeps its copies (default ``<app>/model``).
        skip_trainers: ``true`` to serve inference only.
        plan: a plan file from ``python -m monai_unet2015 plan``: its preset and options are
            written into the working copy of the bundle it was made for
            (:func:`~monai_unet2015.planning.apply_plan`), at every start.
    """

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        source = Path(conf["bundles_dir"]) if conf.get("bundles_dir") else bundles_dir()
        self.model_dir = Path(conf.get("model_dir") or Path(app_dir) / "model")
        requested = _requested_bundles(conf.get("models", "all"), source)
        self.bundle_paths = {name: install_bundle(folder, self.model_dir / name) for name, folder in requested.items()}
        if conf.get("plan"):
            _apply_plan_to(self.bundle_paths, Path(conf["plan"]))
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="monai_unet2015",
            description="U-Net (2015) and 3D U-Net (2016) with valid convolutions and overlap-tile inference",
            version=monai_unet2015.__version__,
        )

    def init_infers(self) -> dict:
        infers = {}
        if not has_infer_task:
            logger.error("No inference: MONAI Label's bundle infer task does not import (%s).", _INFER_IMPORT_PROBLEM)
            return infers
        for name, path in self.bundle_paths.items():
            if (path / WEIGHTS).is_file():
                infers[name] = UNet2015BundleInferTask(str(path), self.conf)
            else:
                logger.warning("%s has no %s yet: served for training; inference after the first run.", name, WEIGHTS)
        return infers

    def init_trainers(self) -> dict:
        if str(self.conf.get("skip_trainers", "false")).lower() == "true":
            return {}
        return {name: UNet2015BundleTrainTask(str(path), self.conf) for name, path in self.bundle_paths.items()}

    def init_strategies(self) -> dict:
        from monailabel.tasks.activelearning.first import First
        from monailabel.tasks.activelearning.random import Random

        return {"random": Random(), "first": First()}

    def info(self):
        self._serve_new_weights()
        return super().info()

    def infer(self, request, datastore=None):
        self._serve_new_weights()
        model = request.get("model")
        if model not in self._infers:
            raise _not_found(self._unknown_model_message(model))
        image = request.get("image")
        datastore = datastore if datastore else self.datastore()
        if isinstance(image, str) and not os.path.exists(image) and not datastore.get_image_uri(image):
            raise _not_found(f"image {image!r} is not in the datastore {self.studies!r}: see GET /datastore/.")
        return super().infer(request, datastore)

    def model_file(self, model, validate=True):
        # GET /model/info/{model} and /model/{model}: weights a training run has just written count
        self._serve_new_weights()
        return super().model_file(model, validate)

    def bundle_path(self, model):
        # The server's only look at a train request before it starts the training process.
        if model is not None and model not in self._trainers and model not in self._infers:
            raise _not_found(self._unknown_model_message(model))
        return super().bundle_path(model)

    def _serve_new_weights(self) -> None:
        if not has_infer_task:
            return
        for name, path in self.bundle_paths.items():
            if name not in self._infers and (path / WEIGHTS).is_file():
                logger.info("%s has weights now: serving it for inference.", name)
                self._infers[name] = UNet2015BundleInferTask(str(path), self.conf)

    def _unknown_model_message(self, model) -> str:
        if model in self.bundle_paths and not has_infer_task:
            return f"model {model!r} cannot infer here: MONAI Label's infer task needs {_INFER_IMPORT_PROBLEM}."
        if model in self.bundle_paths:
            return f"model {model!r} has no weights yet ({self.bundle_paths[model] / WEIGHTS}): train it first."
        return f"model {model!r} is not served here; served models: {sorted(self._infers)}."
