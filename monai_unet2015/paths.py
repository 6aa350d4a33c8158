"""Paths as a bundle run receives them: MONAI's config parser turns ``#`` in any value into ``::``.

MONAI reads ``#`` as its old id separator and rewrites it in every string of a config,
paths included (``ReferenceResolver.normalize_id``), so ``--dataset_dir /data/run#2`` reaches
the bundle as ``/data/run::2``. Reading there would fail with "does not exist", and writing
there would put the outputs in another folder without a word. :func:`check_not_mangled`
turns that into a one-line error that says why.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["check_not_mangled"]

_MONAI_SEPARATOR = "::"


def check_not_mangled(path: str | Path, name: str) -> Path:
    """``path`` as a ``Path``; a ``ValueError`` naming ``name`` if it is a ``#`` path that MONAI rewrote.

    Example::

        >>> check_not_mangled("/data/run2", "dataset_dir").as_posix()
        '/data/run2'
    """
    path = Path(str(path))
    text = str(path)
    if _MONAI_SEPARATOR not in text or path.exists():
        return path
    original = Path(text.replace(_MONAI_SEPARATOR, "#"))
    if original.exists() or original.parent.exists():
        raise ValueError(
            f"{name} {original} has a '#', which MONAI's config parser turns into '::' ({path}): rename the folder, "
            "or pass a path without '#' (a symbolic link to it works)."
        )
    return path
