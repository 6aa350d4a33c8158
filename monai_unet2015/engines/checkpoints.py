"""Find the checkpoint to resume from and resume from it; keep the best model across resumes; load weights."""

from __future__ import annotations

import logging
import re
import shutil
import warnings
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint

from monai_unet2015.data.outputs import atomic_output
from monai_unet2015.paths import check_not_mangled

__all__ = [
    "latest_checkpoint",
    "interval_checkpoints",
    "checkpoint_count",
    "ResumeFromLatest",
    "TrainingFinishedError",
    "describe_state_mismatch",
    "LoadNetworkWeights",
    "SaveBestModel",
    "BestMetricState",
]

logger = logging.getLogger(__name__)

# Ignite's default Checkpoint.filename_pattern, "{filename_prefix}_{name}_{score_name}={score}.{ext}", as
# MONAI's CheckpointSaver(save_interval=...) uses it; Ignite has no look-up of the files on disk.
_INTERVAL_NAME = re.compile(r"_(epoch|iteration)=(\d+)\.pt$")


class TrainingFinishedError(ValueError):
    """The checkpoint to resume from has already reached the run's ``max_epochs``."""


def describe_state_mismatch(network: torch.nn.Module, state: dict) -> str:
    """What keeps ``state`` from loading into ``network`` ("" if it fits): counts and one example each."""
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    parts = []
    if shapes:
        k = shapes[0]
        theirs, ours = tuple(state[k].shape), tuple(own[k].shape)
        parts.append(f"{len(shapes)} shape mismatch(es), e.g. {k}: checkpoint {theirs} vs network {ours}")
    if missing:
        parts.append(f"{len(missing)} weight(s) missing, e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
    return "; ".join(parts)


def checkpoint_count(path: str | Path) -> int:
    """The epochs (or iterations) an interval checkpoint was saved after: the N of ``..._epoch=<N>.pt``.

    Read from the file name that MONAI's ``CheckpointSaver(save_interval=...)`` writes, without
    loading the file.

    Raises:
        ValueError: ``path`` is not named as an interval checkpoint.

    Example::

        >>> checkpoint_count("models/checkpoint_epoch=120.pt")
        120
    """
    count = _interval_count(Path(path).name)
    if count is None:
        raise ValueError(f"{path} is not an interval checkpoint (a name ending in _epoch=<N>.pt or _iteration=<N>.pt).")
    return count


def _interval_count(name: str) -> int | None:
    found = _INTERVAL_NAME.search(name)
    return None if found is None else int(found.group(2))


def interval_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """The interval checkpoints in ``ckpt_dir``, newest first (by the N in ``..._epoch=<N>.pt``)."""
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return []
    counted = ((_interval_count(path.name), path) for path in folder.glob("*.pt"))
    found = [(count, path) for count, path in counted if count is not None]
    return [path for _, path in sorted(found, reverse=True)]


def latest_checkpoint(ckpt_dir: str | Path) -> Path | None:
    """The newest interval checkpoint in ``ckpt_dir``, or None if there is none.

    Looks for the files MONAI's ``CheckpointSaver(save_interval=...)`` writes
    (``<prefix>checkpoint_epoch=<N>.pt`` or ``..._iteration=<N>.pt``) and returns the one
    with the largest N. A missing directory means "nothing to resume from".

    Example::

        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for n in (2, 10):
        ...     _ = (folder / f"checkpoint_epoch={n}.pt").write_bytes(b"")
        >>> latest_checkpoint(folder).name
        'checkpoint_epoch=10.pt'
    """
    found = interval_checkpoints(ckpt_dir)
    return found[0] if found else None


class ResumeFromLatest:
    """Continue from the newest interval checkpoint in ``ckpt_dir``, if there is one.

    ``attach`` reads the newest checkpoint that loads, once, and restores it at ``STARTED``
    with Ignite's ``Checkpoint.load_objects``; on a fresh run it adds nothing. ``load_dict``
    is what ``CheckpointSaver`` saved (network, optimizer, scheduler, trainer, the best
    validation score), so epoch, iteration, momentum, learning rate and the best model so far
    continue where they stopped. The trainer keeps the ``max_epochs`` of this run (a resumed
    run may be asked to train longer). Checked when attaching, before any work:

    - a newest checkpoint that cannot be read (a run killed while saving) is skipped with a
      warning, and the one before it is used;
    - a checkpoint whose network weights do not fit the network (another ``network_def``)
      is a ``ValueError`` saying which tensors differ;
    - a checkpoint that has already reached the trainer's ``max_epochs`` is a
      :class:`TrainingFinishedError` saying how to train on: a silent run of 0 epochs would
      keep the old model;
    - an object of ``load_dict`` that the checkpoint lacks (one written before it was
      checkpointed) keeps its fresh state, with a warning.

    Args:
        ckpt_dir: the folder ``CheckpointSaver(save_interval=...)`` writes to.
        load_dict: the objects to restore, by the names they were saved under.
        map_location: as in ``torch.load``.

    Example::

        >>> import tempfile
        >>> from ignite.engine import Engine, Events
        >>> engine = Engine(lambda e, b: None)
        >>> resume = ResumeFromLatest(tempfile.mkdtemp(), {"trainer": engine})
        >>> resume.attach(engine)  # nothing to resume from
        >>> engine.has_event_handler(resume.restore, Events.STARTED)
        False
    """

    def __init__(self, ckpt_dir: str | Path, load_dict: dict, map_location=None) -> None:
        self.ckpt_dir, self.load_dict, self.map_location = Path(str(ckpt_dir)), load_dict, map_location
        self._checkpoint: dict | None = None

    def attach(self, engine: Engine) -> None:
        found = self._newest_readable()
        if found is None:
            return
        last, checkpoint = found
        self._check_networks(last, checkpoint)
        self._check_not_finished(last, checkpoint, engine)
        missing = [name for name in self.load_dict if name not in checkpoint]
        if missing:
            warnings.warn(f"checkpoint {last} has no {', '.join(missing)}: those start afresh.", stacklevel=2)
        logger.info("resuming from %s", last)
        self._checkpoint = checkpoint
        engine.add_event_handler(Events.STARTED, self.restore)

    def restore(self, engine: Engine) -> None:
        """Load the checkpoint found by ``attach`` into ``load_dict`` (at ``STARTED``), keeping ``max_epochs``."""
        if self._checkpoint is None:
            return
        max_epochs = engine.state.max_epochs
        present = {name: obj for name, obj in self.load_dict.items() if name in self._checkpoint}
        Checkpoint.load_objects(to_load=present, checkpoint=self._checkpoint)
        engine.state.max_epochs = max_epochs
        self._checkpoint = None  # restored once; the memory is not kept for the run

    def _newest_readable(self) -> tuple[Path, dict] | None:
        for path in interval_checkpoints(self.ckpt_dir):
            try:
                return path, torch.load(path, map_location=self.map_location, weights_only=False)
            except Exception as error:  # a truncated file raises EOFError, RuntimeError, UnpicklingError...
                warnings.warn(
                    f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); trying the one before it.",
                    stacklevel=3,
                )
        return None

    def _check_networks(self, path: Path, checkpoint: dict) -> None:
        for name, module in self.load_dict.items():
            if isinstance(module, torch.nn.Module) and isinstance(checkpoint.get(name), dict):
                mismatch = describe_state_mismatch(module, checkpoint[name])
                if mismatch:
                    raise ValueError(
                        f"checkpoint {path} does not fit the network ({mismatch}): resume with the network_def it "
                        f"was trained with, or train the new network in a fresh ckpt_dir."
                    )

    @staticmethod
    def _check_not_finished(path: Path, checkpoint: dict, engine: Engine) -> None:
        state = checkpoint.get("trainer", {})
        # Ignite saves the iteration and the epoch length (the epoch only for some engines)
        trained = int(state.get("epoch", state.get("iteration", 0) // max(1, int(state.get("epoch_length") or 1))))
        max_epochs = engine.state.max_epochs
        if max_epochs is not None and trained >= max_epochs:
            raise TrainingFinishedError(
                f"the training in {path.parent} has already run {trained} epochs (max_epochs {max_epochs}), so there "
                f"is nothing left to do: pass a larger max_epochs (e.g. --max_epochs {trained + max_epochs}) to train "
                "on, or a fresh ckpt_dir to train anew."
            )


class BestMetricState:
    """The evaluator's best key-metric score and its epoch, as a checkpointable object.

    MONAI's evaluators keep ``state.best_metric`` / ``state.best_metric_epoch`` (updated at
    ``EPOCH_COMPLETED`` before any handler); with this object in the trainer's checkpoint a
    resumed run knows the score its ``model.pt`` has to beat.

    Example::

        >>> from types import SimpleNamespace
        >>> evaluator = SimpleNamespace(state=SimpleNamespace(best_metric=-1, best_metric_epoch=-1))
        >>> BestMetricState(evaluator).load_state_dict({"best_metric": 0.8, "best_metric_epoch": 12})
        >>> evaluator.state.best_metric, evaluator.state.best_metric_epoch
        (0.8, 12)
    """

    def __init__(self, evaluator) -> None:
        self.evaluator = evaluator

    def state_dict(self) -> dict:
        state = self.evaluator.state
        return {"best_metric": float(state.best_metric), "best_metric_epoch": int(state.best_metric_epoch)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.evaluator.state.best_metric = state_dict["best_metric"]
        self.evaluator.state.best_metric_epoch = state_dict["best_metric_epoch"]


def save_whole(state: dict, path: Path) -> None:
    """``torch.save`` through :func:`~monai_unet2015.data.atomic_output`: ``path`` is whole or untouched.

    A write that fails (a full disk: torch says ``basic_ios::clear: iostream error``) leaves
    no temporary file and raises ``OSError`` naming ``path`` and the space left on its disk.
    """
    try:
        with atomic_output(path, overwrite=True) as partial:
            torch.save(state, partial)
    except (OSError, RuntimeError) as error:
        free_mib = shutil.disk_usage(path.parent).free / 2**20
        raise OSError(
            f"could not write {path} ({error}); {free_mib:.0f} MiB free on its disk: free space there, "
            "or train into a --bundle_root on another disk."
        ) from error


class SaveBestModel:
    """Write the network's weights to ``save_dir/filename`` when the evaluator reaches a new best score.

    The evaluator's own comparison decides (MONAI's ``best_metric`` / ``best_metric_epoch``,
    see :class:`BestMetricState`), so a run resumed with that state overwrites ``model.pt``
    only with a better network. The file is the plain state dict (the model-zoo
    ``models/model.pt``), written to a temporary name and renamed, so a kill never leaves
    half a file.

    Why not MONAI's ``CheckpointSaver(save_key_metric=True, key_metric_save_state=True)``:
    that keeps the best score inside ``model.pt`` (a ``{"model", "checkpointer"}`` dict),
    which ``ckpt_export``, MONAI Label and model-zoo users read as a plain state dict; here
    the score travels in the interval checkpoints that resume reads anyway.

    Args:
        network: the (unwrapped) network to save.
        save_dir: the folder (created if needed).
        filename: the file name (default ``model.pt``).

    Example::

        >>> import tempfile, torch
        >>> from types import SimpleNamespace
        >>> folder = tempfile.mkdtemp()
        >>> saver = SaveBestModel(torch.nn.Linear(1, 1), folder)
        >>> saver(SimpleNamespace(state=SimpleNamespace(epoch=3, best_metric_epoch=3)))
        >>> sorted(p.name for p in Path(folder).iterdir())
        ['model.pt']
    """

    def __init__(self, network: torch.nn.Module, save_dir: str | Path, filename: str = "model.pt") -> None:
        if not isinstance(network, torch.nn.Module):
            raise TypeError(f"network must be a torch.nn.Module, got {type(network).__name__}.")
        self.network, self.path = network, Path(str(save_dir)) / filename

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if engine.state.best_metric_epoch != engine.state.epoch:
            return
        save_whole(self.network.state_dict(), self.path)
        logger.info("best model so far (epoch %d) saved to %s", engine.state.epoch, self.path)


class LoadNetworkWeights:
    """Load ``model.pt`` into the network at ``STARTED``; a misfit is a one-line error.

    Accepts a plain state dict (the model-zoo ``models/model.pt``) or a checkpoint dict with
    the weights under ``key``.

    Args:
        load_path: the checkpoint file.
        network: the network to fill.
        key: the entry holding the weights in a checkpoint dict.
        map_location: as in ``torch.load``.
    """

    def __init__(self, load_path: str | Path, network: torch.nn.Module, key: str = "model", map_location=None) -> None:
        self.load_path, self.network, self.key, self.map_location = Path(str(load_path)), network, key, map_location

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine | None = None) -> None:
        check_not_mangled(self.load_path, "ckpt_dir")
        if not self.load_path.is_file():
            raise FileNotFoundError(
                f"checkpoint {self.load_path} does not exist: train first (configs/train.json), or pass "
                "--ckpt_dir with the folder that holds model.pt."
            )
        state = torch.load(self.load_path, map_location=self.map_location, weights_only=True)
        if isinstance(state, dict) and self.key in state and isinstance(state[self.key], dict):
            state = state[self.key]
        mismatch = describe_state_mismatch(self.network, state)
        if mismatch:
            raise ValueError(
                f"checkpoint {self.load_path} does not fit the network ({mismatch}): use the network_def it was "
                "trained with, or retrain."
            )
        self.network.load_state_dict(state)
        logger.info("weights loaded from %s", self.load_path)
