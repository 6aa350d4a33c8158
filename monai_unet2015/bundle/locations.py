"""Where the repository's bundles are."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundles_dir"]


def bundles_dir() -> Path:
    """The repository's ``bundles/`` folder (the package is installed in editable mode).

    Example::

        >>> sorted(p.name for p in bundles_dir().iterdir() if p.is_dir())
        ['unet2015_cells_2d', 'unet3d_ct_organs']
    """
    folder = Path(__file__).resolve().parents[2] / "bundles"
    if not (folder / "unet3d_ct_organs" / "configs" / "train.json").is_file():
        raise FileNotFoundError(f"bundles not found at {folder}: use a checkout of the repository (make demo).")
    return folder
