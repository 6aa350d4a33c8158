"""One training at a time in a bundle's models folder: a lock file naming the holder.

Without it two trainings into one bundle folder both exit 0 and overwrite each other's
checkpoints and ``model.pt``. The bundles' ``train.json`` acquires the lock in ``initialize``
and releases it in ``finalize``; a run that stops on an error releases it at exit, and a lock
left by a process that no longer runs on this machine (killed) is taken over with a warning.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import time
import warnings
from pathlib import Path

from monai_unet2015.bundle.errors import BundleInputError

__all__ = ["TrainingLock", "LOCK_NAME"]

LOCK_NAME = ".training.lock"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _is_main_rank() -> bool:
    """Rank 0 under torchrun (its ``RANK`` variable), every other process too: the rank that takes the lock."""
    return os.environ.get("RANK", "0") == "0"


class TrainingLock:
    """A lock file ``<folder>/.training.lock`` that names the training holding ``folder``.

    Under torchrun only rank 0 takes it (the ranks of one run share the folder); where rank
    0 stops on the lock, torchrun stops the other ranks.

    Args:
        folder: the folder one training owns (the bundles pass ``ckpt_dir``).

    Example::

        >>> import tempfile
        >>> lock = TrainingLock(tempfile.mkdtemp())
        >>> lock.acquire(); lock.path.exists()
        True
        >>> lock.release(); lock.path.exists()
        False
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"folder must be a path, got {type(folder).__name__}.")
        self.path = Path(folder) / LOCK_NAME
        self._held = False

    def acquire(self) -> None:
        """Take the lock; ``BundleInputError`` naming the holder if a running training has it."""
        if not _is_main_rank() or self._held:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            if self._create(holder):
                self._held = True
                atexit.register(self.release)
                return
            self._refuse_or_clear()  # outside the except: the holder's error has no FileExistsError behind it
        raise BundleInputError(f"{self.path}: could not take the training lock; another run keeps taking it.")

    def _create(self, holder: dict) -> bool:
        try:
            with open(self.path, "x") as stream:  # exclusive create: one winner
                json.dump(holder, stream)
        except FileExistsError:
            return False
        return True

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

    def _refuse_or_clear(self) -> None:
        try:
            holder = json.loads(self.path.read_text())
            pid, host = int(holder["pid"]), str(holder["host"])
        except (OSError, ValueError, KeyError, TypeError):
            return  # vanished or half-written: try again
        here = host == socket.gethostname()
        if here and (pid == os.getpid() or not _running(pid)):
            if pid != os.getpid():
                warnings.warn(
                    f"{self.path}: taking over the lock of process {pid}, which no longer runs.", stacklevel=3
                )
            self.path.unlink(missing_ok=True)
            return
        raise BundleInputError(
            f"{self.path.parent} is being trained by process {pid} on {host} since {holder.get('started', '?')}: "
            "wait for it to finish, or train into another --bundle_root (or --ckpt_dir); "
            f"delete {self.path} only if that process is gone."
        )
