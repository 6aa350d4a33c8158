"""Small Ignite handlers for reproducible, fail-loud training and evaluation with ``monai.engines``."""

from __future__ import annotations

import logging
import random
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist
from ignite.engine import Engine, Events
from monai.data.utils import set_rnd
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys

from monai_unet2015.distributed import rank_and_world_size

__all__ = [
    "SeedEveryEpoch",
    "StopOnNonFiniteLoss",
    "NonFiniteLossError",
    "ClipGradientNorm",
    "BroadcastBuffers",
    "ValidateLastEpoch",
    "CheckInputChannels",
    "channel_mismatch",
    "loss_from_output",
    "EpochLossLog",
]

logger = logging.getLogger(__name__)


def loss_from_output(output, loss_key: str = CommonKeys.LOSS) -> torch.Tensor:
    """The loss in a trainer's ``engine.state.output``: a dict, or MONAI's decollated list of dicts."""
    if isinstance(output, list):  # decollated by MONAI: every item holds the batch loss
        output = output[0]
    return output[loss_key] if isinstance(output, dict) else output


class NonFiniteLossError(FloatingPointError):
    """Raised by :class:`StopOnNonFiniteLoss` when the training loss is NaN or infinite."""


class SeedEveryEpoch:
    """Re-seed torch, NumPy, ``random`` and the data's random transforms at every epoch start.

    Epoch ``e`` draws everything (shuffling, augmentation, drop-out) from ``seed + e``, so
    a run that resumes from an epoch checkpoint continues exactly as the uninterrupted run
    would: nothing depends on how many random numbers earlier epochs consumed. The data
    loader's iterator is created after ``EPOCH_STARTED``, so its shuffling and its workers'
    seeds follow. Attach it before other ``EPOCH_STARTED`` handlers that draw random numbers.

    Args:
        seed: base seed (int >= 0).

    Example::

        >>> from ignite.engine import Engine
        >>> engine = Engine(lambda e, b: None)
        >>> SeedEveryEpoch(seed=0).attach(engine)
    """

    def __init__(self, seed: int = 0) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
        self.seed = seed

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self)

    def __call__(self, engine: Engine) -> None:
        epoch_seed = (self.seed + engine.state.epoch) % (2**32)
        torch.manual_seed(epoch_seed)
        np.random.seed(epoch_seed)
        random.seed(epoch_seed)
        dataset = getattr(getattr(engine.state, "dataloader", None), "dataset", None)
        if dataset is not None:
            set_rnd(dataset, epoch_seed)


class StopOnNonFiniteLoss:
    """Stop training with :class:`NonFiniteLossError` as soon as the loss is NaN or infinite.

    Ignite's ``TerminateOnNan`` ends the run quietly, and a bundle run would then report
    success; this raises, so the run fails with a message that says where and what to try.

    Args:
        loss_key: the key of the loss in ``engine.state.output`` (MONAI's ``"loss"``).

    Example::

        >>> from ignite.engine import Engine
        >>> engine = Engine(lambda e, b: {"loss": float("nan")})
        >>> StopOnNonFiniteLoss().attach(engine)
        >>> try:
        ...     engine.run([0])
        ... except NonFiniteLossError as error:
        ...     print(str(error)[:48])
        the training loss is nan at epoch 1, iteration 1
    """

    def __init__(self, loss_key: str = CommonKeys.LOSS) -> None:
        self.loss_key = loss_key

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        loss = loss_from_output(engine.state.output, self.loss_key)
        value = float(torch.as_tensor(loss).detach().float().mean())
        if not np.isfinite(value):
            raise NonFiniteLossError(
                f"the training loss is {value} at epoch {engine.state.epoch}, iteration {engine.state.iteration} "
                "(stopped). Lower the learning rate, check the images for NaN/inf values, or turn AMP off; "
                "training can resume from the last checkpoint."
            )


class ClipGradientNorm:
    """Clip the gradients' total 2-norm to ``max_norm`` between backward and the optimizer step.

    Why: the 3D U-Net's batch normalisation at batch size 1 divides by the standard deviation
    of each feature map; on a tile where the image is constant (the zero background around a
    brain MRI after normalisation) that is ~0 and the backward pass multiplies the gradient by
    up to ``1/sqrt(eps)`` (~316) at every normalisation layer. One such tile gave a gradient
    norm of 4e10 (``benchmarks/real_data_quality.py``'s MRI), and momentum 0.99 carried it into
    NaN a few iterations later. nnU-Net clips at 12, the value used by the bundles; the paper
    does not clip (``grad_clip_norm=None`` in :func:`~monai_unet2015.engines.create_trainer`).

    A non-finite norm (an overflow) skips the update: the gradients are zeroed, with a warning.
    Under MONAI's AMP ``GradScaler`` the gradients are unscaled first and the scaler skips
    non-finite steps itself.

    Args:
        max_norm: the largest total gradient norm, > 0.
        parameters: the parameters to clip (default: those of ``engine.network``).

    Example::

        >>> import torch
        >>> from monai.engines import SupervisedTrainer
        >>> net = torch.nn.Linear(2, 1)
        >>> trainer = SupervisedTrainer("cpu", 1, [{"image": torch.ones(1, 2) * 1e6, "label": torch.zeros(1, 1)}],
        ...     net, torch.optim.SGD(net.parameters(), lr=0.0), torch.nn.MSELoss())
        >>> ClipGradientNorm(1.0).attach(trainer)
        >>> _ = trainer.run()
        >>> round(float(torch.cat([p.grad.flatten() for p in net.parameters()]).norm()), 3)
        1.0
    """

    def __init__(self, max_norm: float, parameters=None) -> None:
        if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not max_norm > 0:
            raise ValueError(f"max_norm must be a number > 0, got {max_norm!r}.")
        self.max_norm = float(max_norm)
        self.parameters = None if parameters is None else list(parameters)
        self.skipped = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        parameters = self.parameters if self.parameters is not None else list(engine.network.parameters())
        scaler = getattr(engine, "scaler", None)
        if getattr(engine, "amp", False) and scaler is not None:
            scaler.unscale_(engine.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(parameters, self.max_norm)
        if not torch.isfinite(norm) and scaler is None:
            for parameter in parameters:
                parameter.grad = None
            self.skipped += 1
            warnings.warn(
                f"gradient norm {float(norm)} at iteration {engine.state.iteration}: update skipped "
                f"({self.skipped} so far).",
                stacklevel=2,
            )


class BroadcastBuffers:
    """Before each evaluation under torch.distributed, every rank takes rank 0's buffers.

    DDP hands rank 0's buffers (batch-norm running statistics) to the other ranks before each
    *training* forward; the forward then updates each rank's statistics with its own batch. So
    after the last iteration the ranks' networks differ, and rank 1 would score its share of
    the validation set with statistics that no rank saves (``model.pt`` is rank 0's). The
    buffers are those of ``engine.network`` (the evaluator's, which
    :func:`~monai_unet2015.engines.create_evaluator` gives the unwrapped module). Without
    torch.distributed it does nothing.

    Example::

        >>> from ignite.engine import Engine
        >>> engine = Engine(lambda e, b: None)
        >>> BroadcastBuffers().attach(engine)
        >>> _ = engine.run([0])  # one process: nothing to do
    """

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine) -> None:
        if rank_and_world_size()[1] < 2:
            return
        for buffer in engine.network.buffers():
            dist.broadcast(buffer.data, src=0)


class ValidateLastEpoch:
    """When training completes on an epoch that was not validated, validate it.

    ``ValidationHandler`` validates every ``val_interval`` epochs, so a run of
    ``max_epochs`` 1 with ``val_interval`` 16 never validated and left no ``model.pt``
    behind while exiting 0. This handler runs the evaluator once more at ``COMPLETED``
    unless it already ran at that epoch (a validation epoch, or a time budget's stop), so
    the best-model choice always sees the network training ended on. Attach it after the
    ``ValidationHandler`` and before the checkpoint handlers.

    Args:
        evaluator: the validation engine, a MONAI ``Evaluator``: ``run(epoch)`` is called with
            the trainer's epoch.

    Example::

        >>> from ignite.engine import Engine
        >>> class Validation(Engine):  # run(epoch), as MONAI's Evaluator
        ...     def run(self, epoch):
        ...         return super().run([epoch])
        >>> runs = []
        >>> evaluator = Validation(lambda e, epoch: runs.append(epoch))
        >>> trainer = Engine(lambda e, b: None)
        >>> ValidateLastEpoch(evaluator).attach(trainer)
        >>> _ = trainer.run([0], max_epochs=3)
        >>> runs
        [3]
    """

    def __init__(self, evaluator: Engine) -> None:
        if not isinstance(evaluator, Engine):
            raise TypeError(f"evaluator must be an ignite Engine, got {type(evaluator).__name__}.")
        self.evaluator = evaluator
        self._validated_epoch: int | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)
        self.evaluator.add_event_handler(Events.COMPLETED, self._note_validation, engine)

    def _note_validation(self, evaluator: Engine, trainer: Engine) -> None:
        self._validated_epoch = trainer.state.epoch

    def __call__(self, engine: Engine) -> None:
        if engine.state.epoch > 0 and self._validated_epoch != engine.state.epoch:
            self.evaluator.run(engine.state.epoch)


def channel_mismatch(channels: int, in_channels: int) -> str:
    """What to say when an image has ``channels`` channels and the network takes ``in_channels``."""
    return (
        f"has {channels} channel(s) but the network takes {in_channels}: set --in_channels {channels}, or select "
        "the channel(s) the network was trained on."
    )


class CheckInputChannels:
    """Stop at the first batch whose images have another channel count than the network takes.

    Args:
        in_channels: the network's input channels.
        image_key: the image key of the batch.

    Example::

        >>> import torch
        >>> from ignite.engine import Engine
        >>> engine = Engine(lambda e, b: None)
        >>> CheckInputChannels(in_channels=1).attach(engine)
        >>> try:
        ...     engine.run([{"image": torch.zeros(1, 3, 8, 8)}])
        ... except ValueError as error:
        ...     print(str(error)[:56])
        the images has 3 channel(s) but the network takes 1: set
    """

    def __init__(self, in_channels: int, image_key: str = "image") -> None:
        self.in_channels, self.image_key = int(in_channels), image_key
        self.checked = False

    def attach(self, engine: Engine) -> None:
        # Not ``ITERATION_STARTED(once=1)``: a resumed run starts at a later iteration.
        engine.add_event_handler(Events.ITERATION_STARTED, self)

    def __call__(self, engine: Engine) -> None:
        if self.checked:
            return
        self.checked = True
        batch = engine.state.batch
        image = batch[self.image_key] if isinstance(batch, dict) else batch[0]
        channels = image.shape[1]
        if channels != self.in_channels:
            source = getattr(image, "meta", {}).get("filename_or_obj")
            source = source[0] if isinstance(source, (list, tuple)) and source else source
            name = f" ({source})" if source else ""
            raise ValueError(f"the images{name} {channel_mismatch(channels, self.in_channels)}")


class EpochLossLog:
    """One log line per epoch: the mean training loss of its iterations and the epoch's seconds.

    The quiet console of :func:`~monai_unet2015.engines.create_trainer` (``verbose=False``):
    MONAI's ``StatsHandler`` logs every iteration, and Ignite logs every epoch's end and every
    checkpoint; this line replaces the three.

    Args:
        name: the logger's name.

    Example::

        >>> from ignite.engine import Engine
        >>> engine = Engine(lambda e, b: {"loss": torch.tensor(float(b))})
        >>> EpochLossLog().attach(engine)
        >>> _ = engine.run([1, 2, 3], max_epochs=1)
        >>> engine.state.epoch_losses
        [2.0]
    """

    def __init__(self, name: str = "monai_unet2015.trainer") -> None:
        self.logger = logging.getLogger(name)

    def attach(self, engine: Engine) -> None:
        engine.state.epoch_losses = []
        engine.add_event_handler(Events.EPOCH_STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._add)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._log)

    def _start(self, engine: Engine) -> None:
        self._sum, self._count = 0.0, 0
        self._began = time.perf_counter()

    def _add(self, engine: Engine) -> None:
        self._sum += float(loss_from_output(engine.state.output))
        self._count += 1

    def _log(self, engine: Engine) -> None:
        mean = self._sum / max(self._count, 1)
        engine.state.epoch_losses.append(mean)
        self.logger.info(
            "epoch %d/%d: train_loss %.4f (%.1f s)",
            engine.state.epoch,
            engine.state.max_epochs,
            mean,
            time.perf_counter() - self._began,
        )
