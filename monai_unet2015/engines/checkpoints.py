"""Find the checkpoint to resume from, and resume from it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ignite.engine import Engine
from monai.handlers import CheckpointLoader

__all__ = ["latest_checkpoint", "ResumeFromLatest"]

logger = logging.getLogger(__name__)

_INTERVAL_NAME = re.compile(r"_(epoch|iteration)=(\d+)\.pt$")


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
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(2)), path) for path in folder.glob("*.pt") if (m := _INTERVAL_NAME.search(path.name))]
    return max(found)[1] if found else None


class ResumeFromLatest:
    """Continue from the newest interval checkpoint in ``ckpt_dir``, if there is one.

    ``attach`` adds a MONAI ``CheckpointLoader`` (run at ``STARTED``) for the file
    :func:`latest_checkpoint` finds; on a fresh run it adds nothing. ``load_dict`` is what
    ``CheckpointSaver`` saved (network, optimizer, scheduler, trainer), so epoch, iteration,
    momentum and learning rate continue where they stopped.

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
        last = latest_checkpoint(self.ckpt_dir)
        if last is None:
            return
        logger.info("resuming from %s", last)
        CheckpointLoader(load_path=str(last), load_dict=self.load_dict, map_location=self.map_location).attach(engine)
