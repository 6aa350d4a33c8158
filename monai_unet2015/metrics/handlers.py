"""The paper's object measures in an evaluation run: an Ignite handler beside MONAI's Dice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.transforms import CenterSpatialCrop

from monai_unet2015.metrics.instances import InstanceMatchingMetric, RandErrorMetric, SEGMeasureMetric
from monai_unet2015.transforms.instances import InstanceLabels

__all__ = ["InstanceMetricsHandler"]


class InstanceMetricsHandler:
    """Object F1, SEG and Rand error of an evaluator's masks against true instance labels.

    After each iteration, each item's predicted foreground (the argmax's non-zero classes, or
    the one channel above 0.5) is split into connected components with regions under
    ``min_size`` removed (touching ones split with ``split_distance``), as the cells bundle
    writes its instance output
    (:class:`~monai_unet2015.transforms.InstanceLabels`), and scored against the true
    instance ids in the batch's ``instances_key`` (centre-cropped to the prediction).
    At the end of the run ``engine.state.metrics`` holds the means and
    ``engine.state.metric_details`` the per-case scores under ``val_instance_f1`` (one
    column per IoU threshold), ``val_seg`` and ``val_rand_error``, which MONAI's
    ``MetricsSaver`` writes as per-case CSV files and a summary.

    Args:
        instances_key: the batch key with the true instance labels ``(1, H, W[, D])`` per item.
        min_size: components smaller than this (pixels / voxels) are dropped, >= 0.
        split_distance: touching objects split as the bundle's instance output does (None: not).
        thresholds: the IoU thresholds of the object F1 (matched one-to-one, Hungarian).
        pred_key: the output key of the post-processed prediction ``(C, H, W[, D])``.

    Example::

        >>> import torch
        >>> from ignite.engine import Engine
        >>> truth = torch.zeros(1, 8, 8); truth[0, 1:3, 1:3] = 1; truth[0, 5:7, 5:7] = 2
        >>> pred = torch.stack([truth[0] == 0, truth[0] > 0]).float()  # one-hot, 2 classes
        >>> engine = Engine(lambda e, b: [{"pred": pred}])
        >>> handler = InstanceMetricsHandler()
        >>> handler.attach(engine)
        >>> _ = engine.run([[{"instances": truth}]])
        >>> engine.state.metrics["val_instance_f1"], engine.state.metrics["val_seg"]
        (1.0, 1.0)
    """

    def __init__(
        self,
        instances_key: str = "instances",
        min_size: int = 0,
        thresholds: Sequence[float] = (0.5,),
        pred_key: str = "pred",
        split_distance: int | None = None,
    ) -> None:
        self.instances_key, self.pred_key = instances_key, pred_key
        self.labeller = InstanceLabels(min_size, split_distance)  # checks both arguments
        self.metrics = {
            "val_instance_f1": InstanceMatchingMetric(thresholds),
            "val_seg": SEGMeasureMetric(),
            "val_rand_error": RandErrorMetric(),
        }

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.update)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.complete)

    def reset(self, engine: Engine) -> None:
        for metric in self.metrics.values():
            metric.reset()

    def update(self, engine: Engine) -> None:
        outputs, batch = engine.state.output, engine.state.batch
        items = batch if isinstance(batch, list) else [{k: v[i] for k, v in batch.items()} for i in range(len(outputs))]
        for output, item in zip(outputs, items):
            if self.instances_key not in item:
                raise KeyError(
                    f"the batch has no {self.instances_key!r} (the true instance labels): add "
                    f"CopyItemsd(keys='label', names='{self.instances_key}') before the label is binarised."
                )
            predicted = self._predicted_instances(output[self.pred_key])
            truth = CenterSpatialCrop(predicted.shape[1:])(torch.as_tensor(item[self.instances_key]))
            y_pred, y = predicted[None], torch.as_tensor(np.asarray(truth.detach().cpu()), dtype=torch.int64)[None]
            for metric in self.metrics.values():
                metric(y_pred=y_pred, y=y)

    def _predicted_instances(self, pred: torch.Tensor) -> torch.Tensor:
        pred = torch.as_tensor(pred).detach().cpu()
        foreground = pred.argmax(0, keepdim=True) > 0 if pred.shape[0] > 1 else pred[:1] > 0.5
        return self.labeller(foreground).long()

    def complete(self, engine: Engine) -> None:
        for name, metric in self.metrics.items():
            mean = metric.aggregate()
            engine.state.metrics[name] = float(mean) if mean.numel() == 1 else mean.tolist()
            if not hasattr(engine.state, "metric_details"):
                engine.state.metric_details = {}
            engine.state.metric_details[name] = metric.get_buffer()
