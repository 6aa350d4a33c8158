"""Find the checkpoint to resume from."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["latest_checkpoint"]

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
