"""Find the checkpoint to resume from and resume from it; load a trained network's weights."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from monai.handlers import CheckpointLoader

__all__ = [
    "latest_checkpoint",
    "interval_checkpoints",
    "ResumeFromLatest",
    "TrainingFinishedError",
    "describe_state_mismatch",
    "LoadNetworkWeights",
]

logger = logging.getLogger(__name__)

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


def interval_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """The interval checkpoints in ``ckpt_dir``, newest first (by the N in ``..._epoch=<N>.pt``)."""
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(2)), path) for path in folder.glob("*.pt") if (m := _INTERVAL_NAME.search(path.name))]
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

    ``attach`` adds a MONAI ``CheckpointLoader`` (run at ``STARTED``) for the newest
    checkpoint that loads; on a fresh run it adds nothing. ``load_dict`` is what
    ``CheckpointSaver`` saved (network, optimizer, scheduler, trainer), so epoch, iteration,
    momentum and learning rate continue where they stopped. Checked when attaching, before
    any work:

    - a newest checkpoint that cannot be read (a run killed while saving) is skipped with a
      warning, and the one before it is used;
    - a checkpoint whose network weights do not fit the network (another ``network_def``)
      is a ``ValueError`` saying which tensors differ;
    - a checkpoint that has already reached the trainer's ``max_epochs`` is a
      :class:`TrainingFinishedError` saying how to train on: a silent run of 0 epochs would
      keep the old model.

    Args:
        ckpt_dir: the folder ``CheckpointSaver(save_interval=...)`` writes to.
        load_dict: the objects to restore, by the names they were saved under.
        map_location: as in ``torch.load``.

    Example::

        >>> import tempfile
        >>> from ignite.engine import Engine, Events
        >>> engine = Engine(lambda e, b: None)
        >>> ResumeFromLatest(tempfile.mkdtemp(), {"trainer": engine}).attach(engine)  # nothing to resume from
        >>> engine.has_event_handler(CheckpointLoader, Events.STARTED)
        False
    """

    def __init__(self, ckpt_dir: str | Path, load_dict: dict, map_location=None) -> None:
        self.ckpt_dir, self.load_dict, self.map_location = Path(str(ckpt_dir)), load_dict, map_location

    def attach(self, engine: Engine) -> None:
        found = self._newest_readable()
        if found is None:
            return
        last, checkpoint = found
        self._check_networks(last, checkpoint)
        self._check_not_finished(last, checkpoint, engine)
        logger.info("resuming from %s", last)
        CheckpointLoader(load_path=str(last), load_dict=self.load_dict, map_location=self.map_location).attach(engine)

    def _newest_readable(self) -> tuple[Path, dict] | None:
        for path in interval_checkpoints(self.ckpt_dir):
            try:
                return path, torch.load(path, map_location="cpu", weights_only=False)
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
