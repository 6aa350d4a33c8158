"""The training recipe: the paper's trainer and evaluator from ``monai.engines`` and MONAI handlers.

This module is the one place the recipe is written. Python users call
:func:`create_trainer` / :func:`create_evaluator`; the bundles' ``train#trainer`` and
``validate#evaluator`` are these same functions as ``_target_`` components, with their
arguments (``max_epochs``, ``ckpt_dir``, ``resume``, ``amp``...) overridable from the
command line and MONAI Label. What a bundle adds goes in its ``train#handlers`` /
``validate#handlers`` lists (``train_handlers`` / ``val_handlers`` here).

Nothing here subclasses a MONAI engine: the weight map reaches the loss through
:class:`PrepareBatchWeightMap`, labels are cropped for metrics in the evaluator's
post-processing, and everything else is a standard MONAI / Ignite handler. Under
torch.distributed (torchrun), every rank loads and trains; only rank 0 logs, shows progress
and writes checkpoints.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from ignite.engine import Events
from ignite.handlers import EarlyStopping, ProgressBar
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import (
    CheckpointSaver,
    LrScheduleHandler,
    MeanDice,
    StatsHandler,
    TensorBoardStatsHandler,
    ValidationHandler,
    from_engine,
)
from monai.inferers import Inferer, SimpleInferer
from monai.transforms import Activationsd, AsDiscreted, Compose

from monai_unet2015.devices import as_device
from monai_unet2015.distributed import is_main_process
from monai_unet2015.engines.checkpoints import BestMetricState, ResumeFromLatest, SaveBestModel
from monai_unet2015.engines.handlers import (
    BroadcastBuffers,
    CheckInputChannels,
    ClipGradientNorm,
    EpochLossLog,
    SeedEveryEpoch,
    StopOnNonFiniteLoss,
    ValidateLastEpoch,
    loss_from_output,
)
from monai_unet2015.engines.prepare_batch import PrepareBatchWeightMap
from monai_unet2015.engines.time_budget import TimePolyLR, TrainingTimeBudget
from monai_unet2015.losses import PixelWeightedCrossEntropyLoss
from monai_unet2015.options import option
from monai_unet2015.transforms.crop import CenterCropToReferenced
from monai_unet2015.transforms.sparse_labels import DiscretizeSparseLabeld

__all__ = [
    "paper_optimizer",
    "poly_lr_scheduler",
    "evaluation_postprocessing",
    "create_evaluator",
    "create_trainer",
    "plateau_stop",
    "MODEL_KEY",
    "AMP_DTYPE",
    "GRAD_CLIP_NORM",
]

# The key of the network's weights in every checkpoint (the model zoo's and MONAI Label's name).
MODEL_KEY = "model"
# Mixed precision (``amp=True``, CUDA only): bf16 needs no loss scaling and keeps fp32's range.
AMP_DTYPE = torch.bfloat16
# The gradient-norm clip of create_trainer and the bundles (nnU-Net's value; see ClipGradientNorm).
GRAD_CLIP_NORM = 12.0

_OPTIMIZERS = ("sgd", "adam")


def paper_optimizer(
    parameters: Iterable[torch.nn.Parameter],
    name: str = "sgd",
    learning_rate: float = 0.003,
    momentum: float = 0.99,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """SGD with the paper's momentum 0.99 (default), or Adam.

    Ronneberger et al. 2015 use "a high momentum (0.99) such that a large number of the
    previously seen training samples determine the update", with batch size 1; the paper
    gives no learning rate. 0.003 is ours, for
    :class:`~monai_unet2015.losses.PixelWeightedCrossEntropyLoss` with ``reduction="mean"``
    and the paper's weight map (w0 = 10): with momentum 0.99 the effective step is 100x the
    learning rate, and 0.01 and 0.005 diverged on some generated cell datasets, 0.003 on
    none (``tests/engines/test_learning.py``). Adam ignores ``momentum``.

    Example::

        >>> import torch
        >>> paper_optimizer(torch.nn.Linear(2, 2).parameters()).defaults["momentum"]
        0.99
    """
    option("name", name, _OPTIMIZERS)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}.")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)
    return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum, weight_decay=weight_decay)


def poly_lr_scheduler(
    optimizer: torch.optim.Optimizer, max_epochs: int, power: float = 0.9
) -> torch.optim.lr_scheduler.PolynomialLR:
    """nnU-Net's "poly" learning-rate decay: ``lr * (1 - epoch / max_epochs) ** power``, stepped per epoch.

    Example::

        >>> import torch
        >>> optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.01)
        >>> scheduler = poly_lr_scheduler(optimizer, max_epochs=10)
        >>> for _ in range(5):
        ...     scheduler.step()
        >>> round(optimizer.param_groups[0]["lr"], 6)
        0.005359
    """
    return torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=max_epochs, power=power)


def evaluation_postprocessing(
    num_classes: int, pred_key: str = "pred", label_key: str = "label", ignore_index: int | None = None
) -> Compose:
    """Per-item post-processing for Dice: crop the label to the prediction, discretise both.

    Soft-max + argmax for ``num_classes >= 2`` (both one-hot), sigmoid + 0.5 threshold for
    one output channel. The label holds class indices ``(1, H, W[, D])``; voxels labelled
    ``ignore_index`` (not annotated, the 3D paper's sparse labels) are left out of both
    (:class:`~monai_unet2015.transforms.DiscretizeSparseLabeld`).

    Example::

        >>> import torch
        >>> post = evaluation_postprocessing(2, ignore_index=255)
        >>> out = post({"pred": torch.tensor([[[2.0, 0.0]], [[0.0, 2.0]]]), "label": torch.tensor([[[0, 255]]])})
        >>> out["pred"].tolist(), out["label"].tolist()
        ([[[1.0, 0.0]], [[0.0, 0.0]]], [[[1.0, 0.0]], [[0.0, 0.0]]])
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}.")
    crop = CenterCropToReferenced(keys=label_key, reference_key=pred_key)
    if num_classes == 1:
        activate = [Activationsd(keys=pred_key, sigmoid=True), AsDiscreted(keys=pred_key, threshold=0.5)]
    else:
        activate = [
            Activationsd(keys=pred_key, softmax=True),
            AsDiscreted(keys=pred_key, argmax=True, to_onehot=num_classes),
        ]
    return Compose([crop, *activate, DiscretizeSparseLabeld(label_key, pred_key, num_classes, ignore_index)])


def _amp_on(amp: bool, device: torch.device) -> bool:
    if amp and device.type != "cuda":
        warnings.warn("amp=True needs a CUDA device; running in float32 on the CPU.", stacklevel=3)
        return False
    return amp


def _unwrapped(network: torch.nn.Module) -> torch.nn.Module:
    """The network inside a ``DistributedDataParallel`` wrapper: checkpoints hold its plain weights."""
    return network.module if isinstance(network, torch.nn.parallel.DistributedDataParallel) else network


def _attach(engine, handlers: Iterable) -> None:
    for handler in handlers:
        handler.attach(engine)


def create_evaluator(
    network: torch.nn.Module,
    val_loader: Iterable,
    num_classes: int,
    inferer: Inferer | None = None,
    device: str | torch.device | None = None,
    amp: bool = False,
    amp_dtype: torch.dtype = AMP_DTYPE,
    ckpt_dir: str | Path | None = None,
    log_dir: str | Path | None = None,
    progress: bool = False,
    in_channels: int | None = None,
    ignore_index: int | None = None,
    val_handlers: Sequence = (),
    image_key: str = "image",
    label_key: str = "label",
) -> SupervisedEvaluator:
    """A ``SupervisedEvaluator`` whose key metric is the mean Dice without background.

    The label is centre-cropped to the prediction, so both whole-image inference with
    :class:`~monai_unet2015.inferers.OverlapTileInferer` (prediction = label size) and a
    single valid tile with ``SimpleInferer`` (the default; prediction = the centre) are
    scored on the right pixels. With ``ckpt_dir`` the best network by that Dice is saved
    as ``<ckpt_dir>/model.pt`` (the model-zoo name; the plain state dict). Under torchrun
    every rank first takes rank 0's batch-norm statistics (:class:`BroadcastBuffers`) and
    runs the unwrapped module, not the DDP wrapper, so the gathered Dice is that of the
    network rank 0 saves (``tests/bundles/test_multi_gpu.py``).

    Args:
        network: the net ``(B, C, *S) -> (B, num_classes, *S')``; may be wrapped in DDP.
        val_loader: batches of dicts with ``image_key`` and ``label_key`` (class indices).
        num_classes: output channels of the net.
        inferer: default ``SimpleInferer()`` (the batch is a valid tile).
        device: default :func:`~monai_unet2015.devices.default_device`.
        amp, amp_dtype: autocast on CUDA (bf16 by default); ignored with a warning on CPU.
        ckpt_dir: where the best model goes (None: not saved).
        log_dir: TensorBoard folder (None: no TensorBoard).
        progress: show a progress bar.
        in_channels: the channels the network takes; a batch with others stops the run with a
            ``ValueError`` naming the file (None: not checked).
        ignore_index: the label value of voxels that are not annotated (the 3D paper's sparse
            labels): left out of the Dice (None: every voxel is annotated).
        val_handlers: further handlers, attached after these (a bundle's ``validate#handlers``).
        image_key, label_key: keys of the batch.

    Example::

        >>> import torch
        >>> from monai_unet2015.networks import UNet2015
        >>> net = UNet2015(2, 1, 2, features=(4, 8, 16))
        >>> batch = {"image": torch.rand(1, 1, 44, 44), "label": torch.ones(1, 1, 44, 44)}
        >>> evaluator = create_evaluator(net, [batch], num_classes=2, device="cpu")
        >>> type(evaluator.inferer).__name__, evaluator.state.key_metric_name
        ('SimpleInferer', 'val_mean_dice')
    """
    device = as_device(device)
    handlers: list = [BroadcastBuffers()]
    if in_channels is not None:
        handlers.append(CheckInputChannels(in_channels, image_key))
    if is_main_process():
        handlers.append(StatsHandler(iteration_log=False, name="monai_unet2015.evaluator"))
        if log_dir is not None:
            # ValidationHandler runs the evaluator with the trainer's epoch, so the curves line up.
            handlers.append(TensorBoardStatsHandler(log_dir=str(log_dir), iteration_log=False))
        if ckpt_dir is not None:
            handlers.append(SaveBestModel(_unwrapped(network), ckpt_dir, "model.pt"))
    evaluator = SupervisedEvaluator(
        device=device,
        val_data_loader=val_loader,
        network=_unwrapped(network),  # inference needs no DDP; through the wrapper the Dice moved
        prepare_batch=_image_label_batch(image_key, label_key),
        inferer=inferer if inferer is not None else SimpleInferer(),
        postprocessing=evaluation_postprocessing(num_classes, ignore_index=ignore_index),
        key_val_metric={
            "val_mean_dice": MeanDice(include_background=False, output_transform=from_engine(["pred", "label"]))
        },
        val_handlers=handlers + list(val_handlers),
        amp=_amp_on(amp, device),
        amp_kwargs={"dtype": amp_dtype},
    )
    if progress and is_main_process():
        ProgressBar(desc="validation", persist=False).attach(evaluator)
    return evaluator


def _image_label_batch(image_key: str, label_key: str):
    """``prepare_batch`` returning ``(image, label)`` for any two keys of a dictionary batch."""

    def prepare(batchdata, device=None, non_blocking=False, **kwargs):
        return tuple(
            torch.as_tensor(batchdata[key]).to(device=device, non_blocking=non_blocking, **kwargs)
            for key in (image_key, label_key)
        )

    return prepare


def create_trainer(
    network: torch.nn.Module,
    train_loader: Iterable,
    max_epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    loss_function: torch.nn.Module | None = None,
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler | str | None = "poly",
    grad_clip_norm: float | None = GRAD_CLIP_NORM,
    evaluator: SupervisedEvaluator | None = None,
    val_interval: int = 1,
    validate_at_start: bool = False,
    device: str | torch.device | None = None,
    amp: bool = False,
    amp_dtype: torch.dtype = AMP_DTYPE,
    ckpt_dir: str | Path | None = None,
    resume: bool = True,
    log_dir: str | Path | None = None,
    progress: bool = True,
    verbose: bool = False,
    seed: int | None = 0,
    epoch_length: int | None = None,
    use_weight_map: bool = True,
    in_channels: int | None = None,
    time_budget_s: float | None = None,
    early_stop_patience: int | None = None,
    train_handlers: Sequence = (),
    image_key: str = "image",
    label_key: str = "label",
    weight_key: str = "weight",
) -> SupervisedTrainer:
    """A ``SupervisedTrainer`` with the paper's defaults and MONAI's usual handlers.

    Defaults: :class:`~monai_unet2015.losses.PixelWeightedCrossEntropyLoss` fed with the
    batch's weight map (:class:`PrepareBatchWeightMap`), SGD with momentum 0.99
    (:func:`paper_optimizer`); use a ``DataLoader`` with ``batch_size=1`` on large tiles as
    the paper does. Two deviations from the paper, on by default, both nnU-Net's: the gradient
    norm is clipped to ``grad_clip_norm``
    (:class:`~monai_unet2015.engines.handlers.ClipGradientNorm`, which says why), and the
    learning rate decays as ``(1 - epoch / max_epochs) ** 0.9`` (:func:`poly_lr_scheduler`):
    with momentum 0.99 and a constant rate the validation Dice on a real brain MRI swung between
    epochs (CHANGELOG). ``grad_clip_norm=None, lr_scheduler=None``
    trains as the paper did. Handlers, in this order: per-epoch seeding
    (:class:`SeedEveryEpoch`), the input-channel check, gradient clipping, a stop on a NaN or
    infinite loss
    (:class:`~monai_unet2015.engines.handlers.NonFiniteLossError`), loss logging
    (``StatsHandler``), a progress bar, TensorBoard (``log_dir``), the LR schedule
    (``LrScheduleHandler``, stepped per epoch), validation every ``val_interval`` epochs
    and at the last epoch (``ValidationHandler``, :class:`ValidateLastEpoch`; with
    ``early_stop_patience``, a stop when its Dice plateaus,
    :func:`plateau_stop`), an epoch checkpoint of network (key ``"model"``), optimizer,
    scheduler and trainer state (``CheckpointSaver``, last 2 kept) and, with ``resume``,
    :class:`ResumeFromLatest`, which continues from the newest of them: same epoch,
    iteration, optimizer momentum and LR. Then ``train_handlers``. With ``seed``, every
    epoch is seeded from ``seed + epoch``, so a resumed run repeats the uninterrupted one.

    Args:
        network: the net, moved to ``device`` here; may be wrapped in DDP.
        train_loader: batches of dicts with image, label and (``use_weight_map``) weight.
        max_epochs: epochs to train in all (a resumed run stops there too); with
            ``time_budget_s``, the most epochs.
        optimizer: default ``paper_optimizer(network.parameters())``.
        loss_function: default ``PixelWeightedCrossEntropyLoss()``; called as
            ``loss(pred, {"label": ..., "weight": ...})`` with the weight map, or
            ``loss(pred, label)`` when ``use_weight_map`` is False.
        lr_scheduler: stepped once per epoch; ``"poly"`` (default): :func:`poly_lr_scheduler`,
            or with ``time_budget_s`` the same decay over the budget's time
            (:class:`~monai_unet2015.engines.time_budget.TimePolyLR`, stepped every
            iteration); None: a constant learning rate, as in the paper.
        grad_clip_norm: the largest total gradient norm (nnU-Net's 12 by default); None: no
            clipping, as in the paper.
        evaluator: run every ``val_interval`` epochs (see :func:`create_evaluator`).
        validate_at_start: also validate before the first epoch (MONAI Label's fine-tuning:
            the starting weights are the score to beat).
        device: default :func:`~monai_unet2015.devices.default_device`.
        amp, amp_dtype: autocast on CUDA (bf16 by default); ignored with a warning on CPU.
        ckpt_dir: checkpoint folder (None: no checkpoints, no resume).
        resume: continue from the newest checkpoint in ``ckpt_dir`` if there is one.
        log_dir: TensorBoard folder (None: no TensorBoard).
        progress: show a progress bar.
        verbose: log every iteration's loss (MONAI's ``StatsHandler``) and Ignite's own lines
            per epoch end and checkpoint. Default False: one line per epoch with the mean
            loss (:class:`~monai_unet2015.engines.handlers.EpochLossLog`); warnings still show.
        seed: base seed for :class:`SeedEveryEpoch` (None: not seeded here).
        epoch_length: iterations per epoch (default ``len(train_loader)``).
        use_weight_map: feed ``weight_key`` to the loss.
        in_channels: the channels the network takes; a batch with others stops the run with a
            ``ValueError`` naming the file (None: not checked).
        time_budget_s: train for this many seconds of wall-clock time, then stop at the end
            of the epoch (:class:`~monai_unet2015.engines.time_budget.TrainingTimeBudget`,
            which validates that last epoch and keeps the time spent in the checkpoint).
            None (default): ``max_epochs`` decides alone.
        early_stop_patience: stop once this many validations in a row have not raised the
            evaluator's best Dice (Ignite's ``EarlyStopping`` on the key metric, its counter
            kept in the checkpoint, so a resumed run counts on). ``model.pt`` is the best
            network either way. None (default): no plateau stop.
        train_handlers: further handlers, attached last (a bundle's ``train#handlers``).
        image_key, label_key, weight_key: keys of the batch.

    Example::

        >>> import torch
        >>> from monai_unet2015.networks import UNet2015
        >>> net = UNet2015(2, 1, 2, features=(4, 8, 16))  # 2 poolings
        >>> ones = torch.ones(1, 1, 44, 44)
        >>> batch = {"image": torch.rand(1, 1, 44, 44), "label": ones, "weight": ones}
        >>> trainer = create_trainer(net, [batch] * 2, max_epochs=1, device="cpu", progress=False)
        >>> type(trainer.optimizer).__name__, trainer.optimizer.defaults["momentum"], trainer.state.max_epochs
        ('SGD', 0.99, 1)
    """
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 1:
        raise ValueError(f"max_epochs must be an int >= 1, got {max_epochs!r}.")
    if not isinstance(val_interval, int) or isinstance(val_interval, bool) or val_interval < 1:
        raise ValueError(f"val_interval must be an int >= 1, got {val_interval!r}.")
    _check_early_stop(early_stop_patience, evaluator)
    device = as_device(device)
    network = network.to(device)
    optimizer = optimizer if optimizer is not None else paper_optimizer(network.parameters())
    loss_function = loss_function if loss_function is not None else PixelWeightedCrossEntropyLoss()
    prepare_batch = (
        PrepareBatchWeightMap(image_key, label_key, weight_key)
        if use_weight_map
        else _image_label_batch(image_key, label_key)
    )
    trainer = SupervisedTrainer(
        device=device,
        max_epochs=max_epochs,
        train_data_loader=train_loader,
        network=network,
        optimizer=optimizer,
        loss_function=loss_function,
        prepare_batch=prepare_batch,
        epoch_length=epoch_length,
        amp=_amp_on(amp, device),
        amp_kwargs={"dtype": amp_dtype},
        decollate=False,
    )
    if not verbose:  # Ignite's own line per epoch end and per checkpoint: EpochLossLog's line says it
        # a child logger of this trainer's own (before the handlers take it), so that a verbose
        # trainer made later keeps Ignite's lines
        trainer.logger = logging.getLogger(f"{trainer.logger.name}.quiet")
        trainer.logger.setLevel(logging.WARNING)
    handlers = _step_handlers(seed, in_channels, grad_clip_norm, image_key, log_dir, verbose)
    budget = None if time_budget_s is None else TrainingTimeBudget(time_budget_s, evaluator)
    lr_scheduler = _scheduler(lr_scheduler, optimizer, max_epochs, budget)
    if lr_scheduler is not None:
        per_iteration = isinstance(lr_scheduler, TimePolyLR)
        handlers.append(LrScheduleHandler(lr_scheduler, print_lr=False, epoch_level=not per_iteration))
    stopper = None if early_stop_patience is None else plateau_stop(evaluator, trainer, early_stop_patience)
    if evaluator is not None:
        handlers.append(
            ValidationHandler(
                validator=evaluator, interval=val_interval, epoch_level=True, exec_at_start=validate_at_start
            )
        )
        handlers.append(ValidateLastEpoch(evaluator))  # so that a short run leaves a model.pt too
    if ckpt_dir is not None:
        best = None if evaluator is None else BestMetricState(evaluator)
        extras = {"lr_scheduler": lr_scheduler, "best_metric": best, "time_budget": budget, "early_stop": stopper}
        state: dict = {MODEL_KEY: _unwrapped(network), "optimizer": optimizer, "trainer": trainer}
        state.update({name: part for name, part in extras.items() if part is not None})
        handlers += _checkpoint_handlers(state, Path(ckpt_dir), resume, device)
    if budget is not None:
        handlers.append(budget)  # after validation and the checkpoint: the last epoch has both
    _attach(trainer, handlers + list(train_handlers))
    if progress and is_main_process():
        ProgressBar(desc="training", persist=True).attach(
            trainer, output_transform=lambda output: {"loss": loss_from_output(output)}
        )
    return trainer


def _step_handlers(seed, in_channels, grad_clip_norm, image_key: str, log_dir, verbose: bool) -> list:
    """Per-step handlers in the order they must run: seeding first, the non-finite check before logging."""
    handlers: list = [] if seed is None else [SeedEveryEpoch(seed)]
    if in_channels is not None:
        handlers.append(CheckInputChannels(in_channels, image_key))
    if grad_clip_norm is not None:
        handlers.append(ClipGradientNorm(grad_clip_norm))
    handlers.append(StopOnNonFiniteLoss())
    if is_main_process():
        handlers.append(
            StatsHandler(name="monai_unet2015.trainer", tag_name="train_loss", output_transform=loss_from_output)
            if verbose
            else EpochLossLog()
        )
        if log_dir is not None:
            handlers.append(
                TensorBoardStatsHandler(log_dir=str(log_dir), tag_name="train_loss", output_transform=loss_from_output)
            )
    return handlers


def _scheduler(lr_scheduler, optimizer, max_epochs: int, budget: TrainingTimeBudget | None):
    """``"poly"``: the poly decay over the epochs, or over the time budget; a scheduler object as it is."""
    if not isinstance(lr_scheduler, str):
        return lr_scheduler
    option("lr_scheduler", lr_scheduler, ("poly",))
    return poly_lr_scheduler(optimizer, max_epochs) if budget is None else TimePolyLR(optimizer, budget)


def _check_early_stop(patience, evaluator) -> None:
    if patience is None:
        return
    if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
        raise ValueError(f"early_stop_patience must be an int >= 1 or None, got {patience!r}.")
    if evaluator is None:
        raise ValueError(f"early_stop_patience={patience} needs an evaluator: the plateau is the validation Dice's.")


def plateau_stop(evaluator: SupervisedEvaluator, trainer: SupervisedTrainer, patience: int) -> EarlyStopping:
    """Ignite's ``EarlyStopping`` on ``evaluator``'s key metric, stopping ``trainer``; attached to ``evaluator``.

    Checked when a validation completes. Under torchrun every rank sees the same gathered
    Dice, so every rank stops after the same epoch. Not in the paper, which trains for a
    fixed number of iterations: it is how ``create_trainer(early_stop_patience=...)`` trains
    "until the validation Dice plateaus" within the plan's time cap.

    Args:
        evaluator: the validation engine; its ``key_metric`` (mean Dice) is the score.
        trainer: the engine to stop.
        patience: validations without a better score before ``trainer`` stops, >= 1
            (checked by ``create_trainer``).

    Returns:
        The handler; its ``state_dict()`` (the counter and best score) goes into the
        checkpoint, so a resumed run keeps counting.

    Example::

        >>> import torch
        >>> from monai.engines import SupervisedTrainer
        >>> from monai_unet2015.networks import UNet2015
        >>> net = UNet2015(2, 1, 2, features=(4, 8, 16))
        >>> batch = {"image": torch.rand(1, 1, 44, 44), "label": torch.ones(1, 1, 44, 44)}
        >>> evaluator = create_evaluator(net, [batch], num_classes=2, device="cpu")
        >>> optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
        >>> trainer = SupervisedTrainer("cpu", 1, [batch], net, optimizer, lambda pred, label: pred.mean())
        >>> stopper = plateau_stop(evaluator, trainer, patience=3)
        >>> stopper.patience, evaluator.has_event_handler(stopper, Events.COMPLETED)
        (3, True)
    """
    stopper = EarlyStopping(patience=patience, score_function=_key_metric, trainer=trainer)
    evaluator.add_event_handler(Events.COMPLETED, stopper)
    return stopper


def _key_metric(evaluator: SupervisedEvaluator) -> float:
    return float(evaluator.state.metrics[evaluator.state.key_metric_name])


def _checkpoint_handlers(state: dict, ckpt_dir: Path, resume: bool, device) -> list:
    """Resume (every rank loads) and the epoch checkpoints of ``state`` (rank 0 writes)."""
    handlers: list = [ResumeFromLatest(ckpt_dir, state, map_location=device)] if resume else []
    if is_main_process():
        handlers.append(
            CheckpointSaver(save_dir=str(ckpt_dir), save_dict=state, save_interval=1, n_saved=2, epoch_level=True)
        )
    return handlers
