"""Where the bundles are: inside the package (``monai_unet2015.bundles``), or a folder of the user's.

The bundles' source is the repository's top-level ``bundles/``; the wheel ships it as the
package ``monai_unet2015.bundles`` (``pyproject.toml``), so the same code finds them in a
checkout (editable install) and in a plain ``pip install``. Every command that takes a
bundle takes either the name of a shipped bundle or the path of a bundle folder
(``configs/train.json`` or ``configs/inference.json`` in it), such as one copied out with
:func:`init_bundle`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from monai_unet2015.data.bundle_configs import COMMON_CONFIG, bundles_dir, with_common_config

__all__ = [
    "bundles_dir",
    "bundle_names",
    "bundle_path",
    "is_bundle_folder",
    "init_bundle",
    "preset_settings",
    "bundle_presets",
    "COMMON_CONFIG",
    "with_common_config",
]

# what a bundle run writes into its folder: not copied by init_bundle
_RUN_OUTPUTS = ("models", "logs", "eval", "__pycache__")
# a bundle's own configs: not presets
_MAIN_CONFIGS = ("common", "train", "inference", "evaluate")


def is_bundle_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a bundle's ``configs/train.json`` or ``configs/inference.json``."""
    configs = Path(folder) / "configs"
    return (configs / "train.json").is_file() or (configs / "inference.json").is_file()


def bundle_names() -> list[str]:
    """The names of the shipped bundles.

    Example::

        >>> bundle_names()
        ['unet2015_cells_2d', 'unet3d_ct_organs']
    """
    return sorted(p.name for p in bundles_dir().iterdir() if p.is_dir() and is_bundle_folder(p))


def bundle_path(bundle: str | Path) -> Path:
    """A bundle folder from a shipped bundle's name or a folder's path.

    A path to an existing folder wins over a name; a name must be one of :func:`bundle_names`.

    Raises:
        FileNotFoundError: ``bundle`` is neither a bundle folder nor a shipped bundle's name.

    Example::

        >>> bundle_path("unet3d_ct_organs").name
        'unet3d_ct_organs'
    """
    given = Path(bundle).expanduser()
    if given.is_dir():
        if not is_bundle_folder(given):
            raise FileNotFoundError(
                f"bundle folder {given} has no configs/train.json or configs/inference.json; shipped bundles: "
                f"{', '.join(bundle_names())}."
            )
        return given.resolve()
    names = bundle_names()
    if str(bundle) in names:
        return bundles_dir() / str(bundle)
    raise FileNotFoundError(
        f"bundle {str(bundle)!r} is neither a folder nor a shipped bundle; the shipped bundles are "
        f"{', '.join(names)} (or copy one out: python -m monai_unet2015 bundle init NAME DIR)."
    )


def init_bundle(name: str, directory: str | Path, overwrite: bool = False) -> Path:
    """Copy a shipped bundle to ``directory/name`` to train, configure and run it there.

    MONAI's habit (``python -m monai.bundle init_bundle``, the model zoo's ``download``): a
    bundle is a folder the user owns, whose ``models/``, ``logs/`` and ``eval/`` are written
    by its runs. The package's own copy is never written to.

    Args:
        name: a shipped bundle (:func:`bundle_names`).
        directory: the parent folder (created if needed).
        overwrite: replace an existing ``directory/name`` (its trained models too).

    Returns:
        The new bundle folder.

    Raises:
        FileNotFoundError: ``name`` is not a shipped bundle.
        FileExistsError: ``directory/name`` exists and ``overwrite`` is False.

    Example::

        >>> import tempfile
        >>> folder = init_bundle("unet2015_cells_2d", tempfile.mkdtemp())
        >>> sorted(p.name for p in (folder / "configs").glob("*.json"))[:2]
        ['common.json', 'cpu.json']
    """
    if name not in bundle_names():
        raise FileNotFoundError(f"bundle {name!r} is not shipped; the shipped bundles are {', '.join(bundle_names())}.")
    target = Path(directory).expanduser().resolve() / name
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{target} exists: choose another DIR, or pass --overwrite to replace it.")
        shutil.rmtree(target)
    shutil.copytree(bundles_dir() / name, target, ignore=shutil.ignore_patterns(*_RUN_OUTPUTS))
    return target


def preset_settings(bundle: str, preset: str) -> dict:
    """The bundle's ``configs/<preset>.json``: the ``features`` and ``roi_size`` of that preset.

    Example::

        >>> preset_settings("unet3d_ct_organs", "cpu")
        {'features': [8, 16, 32], 'roi_size': [76, 76, 44]}
    """
    return _network_and_tile(json.loads((bundle_path(bundle) / "configs" / f"{preset}.json").read_text()))


def _network_and_tile(config: dict) -> dict:
    return {"features": config["features"], "roi_size": config["roi_size"]}


def bundle_presets(bundle: str) -> dict[str, dict]:
    """The presets of a bundle (the configs merged after ``train.json`` / ``inference.json`` that set
    a network width and a tile): ``{name: preset_settings(bundle, name)}``."""
    presets = {}
    for path in sorted((bundle_path(bundle) / "configs").glob("*.json")):
        config = json.loads(path.read_text())
        if path.stem not in _MAIN_CONFIGS and {"features", "roi_size"} <= set(config):
            presets[path.stem] = _network_and_tile(config)
    return presets


def bundle_identity(bundle_root: str | Path) -> dict[str, str]:
    """``{"name", "version"}`` of the bundle at ``bundle_root``, from its ``configs/metadata.json``.

    The configs call it to name the model in what they write (the DICOM SEG's model name and
    series description), so the version is declared once, in the metadata. A folder without
    its metadata gives the package's name and version.

    Example::

        >>> bundle_identity(bundle_path("unet3d_ct_organs"))["name"]
        'UNet3D CT organ segmentation'
    """
    from monai_unet2015 import __version__

    path = Path(bundle_root) / "configs" / "metadata.json"
    if not path.is_file():
        return {"name": "monai_unet2015 U-Net", "version": __version__}
    metadata = json.loads(path.read_text())
    return {"name": str(metadata.get("name", "monai_unet2015 U-Net")), "version": str(metadata.get("version", ""))}
