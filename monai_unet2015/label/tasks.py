"""MONAI Label infer and train tasks for this project's bundles.

Both extend MONAI Label's own bundle tasks (``monailabel.tasks.infer.bundle`` and
``monailabel.tasks.train.bundle``), so inference runs the bundle's ``inference.json``
(``preprocessing``, the :class:`~monai_unet2015.inferers.OverlapTileInferer`, ``postprocessing``)
and training runs its ``train.json`` with the annotators' labels as the training set. What
they change is listed on each class. monailabel is optional (``pip install`` steps in the
README); without it these classes can be imported but not created. ``has_infer_task`` is
False where MONAI Label's infer task does not import (it needs ``torchvision.utils``).
"""

from __future__ import annotations

import logging
import os

import monai.bundle
import numpy as np
from monai.utils import optional_import

from monai_unet2015.bundle.locations import with_common_config
from monai_unet2015.bundle.predictor import OUTPUT_WRITERS, Predictor

BundleInferTask, has_infer_task = optional_import(
    "monailabel.tasks.infer.bundle", name="BundleInferTask", as_type="base"
)
BundleTrainTask, _ = optional_import("monailabel.tasks.train.bundle", name="BundleTrainTask", as_type="base")

__all__ = ["UNet2015BundleInferTask", "UNet2015BundleTrainTask", "training_overrides", "has_infer_task"]

logger = logging.getLogger(__name__)

_MAX_EPOCHS = "train#trainer#max_epochs"
_TRAIN_HANDLERS = "train#handlers"
_VALIDATION_DATA = "validate#dataset#data"


class UNet2015BundleInferTask(BundleInferTask):
    """Segmentation with a bundle's ``configs/inference.json`` behind a MONAI Label server.

    Differences from MONAI Label's ``BundleInferTask``:

    - the bundle's file writers (:class:`~monai_unet2015.data.SaveMaskd`, the DICOM SEG and
      RTSTRUCT writers, the structure report) are left out: the server writes the result it
      sends back;
    - weights load strictly: a ``model.pt`` that does not fit the network is an error, not a
      warning followed by a half-random network;
    - the label map is written as uint8 (MONAI Label's default is float32), and a 2D map
      without its channel (MONAI Label wrote a 1 x W image for a 2D PNG);
    - the network, its weights and the inferer are the bundle's
      :class:`~monai_unet2015.bundle.Predictor`'s, the one batch inference, the DICOM
      node and the demo use: loaded strictly (a ``model.pt`` that does not fit the network is
      an error, not a warning followed by a half-random network), once, and again when
      ``models/model.pt`` changes (a training run's new best model is used by the next
      request). MONAI Label's choice of another ``models/*.pt`` per request is not offered.

    Args:
        path: the bundle folder (``configs/``, ``models/model.pt``).
        conf: the app's ``--conf`` settings.
        kwargs: passed to MONAI Label's ``BundleInferTask``.
    """

    def __init__(self, path: str, conf: dict[str, str], **kwargs) -> None:
        kwargs.setdefault("post_filter", list(OUTPUT_WRITERS))
        super().__init__(path, conf, **kwargs)
        self._predictor: Predictor | None = None
        self._weights_stamp: int | None = None

    def _current_predictor(self) -> Predictor:
        """The bundle's predictor, made again where ``models/model.pt`` changed since."""
        stamp = os.stat(self.get_path()).st_mtime_ns
        if self._predictor is None or stamp != self._weights_stamp:
            self._predictor, self._weights_stamp = Predictor(self.bundle_path), stamp
        return self._predictor

    def _load_bundle_config(self, path, config):
        # MONAI Label reads one config file; the bundle's common.json comes before it
        return super()._load_bundle_config(path, with_common_config(config))

    def _get_network(self, device, data):
        return self._current_predictor().network

    def inferer(self, data=None):
        return self._current_predictor().inferer

    def run_pre_transforms(self, data, transforms):
        # MONAI 1.6's Spacingd updates every "<key>_*" entry as a meta dict, and MONAI Label keeps
        # the input's path (a str) as "image_path": keep it out of the transforms' way.
        image_path = data.pop("image_path", None)
        data = super().run_pre_transforms(data, transforms)
        if image_path is not None:
            data["image_path"] = image_path
        return data

    def writer(self, data, extension=None, dtype=None):
        label = data[self.output_label_key]
        if label.ndim == self.dimension + 1 and label.shape[0] == 1:
            data[self.output_label_key] = label[0]  # MONAI Label's Restored keeps the channel of a 2D map
        return super().writer(data, extension, dtype if dtype is not None else np.uint8)


class UNet2015BundleTrainTask(BundleTrainTask):
    """Training with a bundle's ``configs/train.json`` on the labels saved in MONAI Label.

    Each request fine-tunes ``models/model.pt`` (``pretrained``, the default) or starts from
    fresh weights (``pretrained: false``) for ``max_epochs`` epochs. ``models/model.pt``
    becomes the best validated net of the run, the starting weights included; without
    validation images, the final one (see :func:`training_overrides` for what is changed in
    the bundle run). ``pretrained: false`` works here; MONAI Label 0.8.5's own task fails on it
    (``os.path.exists(None)``).

    Args:
        path: the bundle folder.
        conf: the app's ``--conf`` settings.
        kwargs: passed to MONAI Label's ``BundleTrainTask``.
    """

    def __init__(self, path: str, conf: dict[str, str], **kwargs) -> None:
        kwargs.setdefault("load_strict", True)
        super().__init__(path, conf, **kwargs)

    def _load_bundle_config(self, path, config):
        # MONAI Label reads one config file; the bundle's common.json comes before it
        return super()._load_bundle_config(path, with_common_config(config))

    def run_single_gpu(self, request, overrides):
        # MONAI Label 0.8.5's own, with the bundle's common.json before train.json
        monai.bundle.run(
            run_id=request.get("run_id", "run"),
            init_id=None,
            final_id=None,
            meta_file=self.bundle_metadata_path,
            config_file=with_common_config(self.bundle_config_path),
            **overrides,
        )

    def _load_checkpoint(self, model_pytorch, pretrained, train_handlers):
        if pretrained:
            super()._load_checkpoint(model_pytorch, pretrained, train_handlers)

    def _update_overrides(self, overrides):
        overrides.update(training_overrides(overrides, int(self.bundle_config.get("val_interval", 1))))
        return overrides


def training_overrides(overrides: dict, val_interval: int) -> dict:
    """Changes to a bundle training run that MONAI Label starts, given MONAI Label's ``overrides``.

    - ``train#trainer#resume`` off: each request trains for its own ``max_epochs`` from
      ``model.pt`` (or fresh weights). Resuming from an earlier request's epoch checkpoint
      would count its epochs and stop at once.
    - validation also before the first epoch (``train#trainer#validate_at_start``), and
      ``val_interval`` at most ``max_epochs``: ``model.pt`` is the run's best validated net,
      so it is replaced only by one that scores higher on this run's validation images than
      the weights it started from (a fine-tuning round with a fresh momentum can get worse
      before it gets better).
    - without validation data (one labelled image, or ``val_split`` 0 or -1) there is no
      evaluator, and a handler added to ``train#handlers`` saves the final weights as ``model.pt``.
    - no progress bar in the server's log.

    Example::

        >>> new = training_overrides({"train#trainer#max_epochs": 1, "train#handlers": [],
        ...                           "validate#dataset#data": [{"image": "a", "label": "b"}]}, 5)
        >>> new["val_interval"], new["train#trainer#resume"], new["train#trainer#validate_at_start"]
        (1, False, True)
    """
    changes: dict = {"train#trainer#resume": False, "progress": False}
    changes["val_interval"] = max(1, min(val_interval, int(overrides.get(_MAX_EPOCHS, val_interval))))
    if overrides.get(_VALIDATION_DATA):
        changes["train#trainer#validate_at_start"] = True
        return changes
    # "$None", not None: monai.bundle.run drops overrides whose value is None.
    changes["train#trainer#evaluator"] = "$None"
    changes[_TRAIN_HANDLERS] = list(overrides.get(_TRAIN_HANDLERS, [])) + [
        {
            "_target_": "CheckpointSaver",
            "save_dir": "@ckpt_dir",
            "save_dict": {"model": "@network"},
            "save_final": True,
            "final_filename": "model.pt",
        }
    ]
    changes[_VALIDATION_DATA] = []
    logger.info("No validation data: the final weights of this run become models/model.pt.")
    return changes
