"""The shipped bundles' JSON declarations, read from Python: one declaration of each pipeline.

The bundles (``monai_unet2015.bundles``, package data: neither core nor shell code) declare
their transforms once, as ``_target_`` entries in ``configs/*.json``. The Python presets
(:mod:`monai_unet2015.data.presets`) read those declarations here with MONAI's
``ConfigParser`` instead of building the same lists a second time, so a change to a bundle's
JSON is a change to the preset.
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser
from monai.transforms.transform import Transform

__all__ = ["COMMON_CONFIG", "declared_transforms", "bundles_dir", "with_common_config"]

SHIPPED_BUNDLES = "monai_unet2015.bundles"
#: what training, inference and evaluation share, declared once; merged before the others
COMMON_CONFIG = "common.json"


def bundles_dir() -> Path:
    """The folder holding the shipped bundles (inside the installed package).

    Example::

        >>> sorted(p.name for p in bundles_dir().iterdir() if p.is_dir() and not p.name.startswith("_"))
        ['unet2015_cells_2d', 'unet3d_ct_organs']
    """
    folder = Path(str(importlib.resources.files(SHIPPED_BUNDLES)))
    if not folder.is_dir():  # a zipped install: the bundles must be real files for MONAI's parser
        raise FileNotFoundError(
            f"the bundles of {SHIPPED_BUNDLES} are not a folder on disk ({folder}); install unzipped."
        )
    return folder


def with_common_config(config_file: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """``config_file`` (one or a list) with its folder's ``common.json`` first, where the folder has one.

    A bundle declares the settings that ``train.json``, ``inference.json`` and ``evaluate.json``
    share (the network, the intensity and spacing settings, the paths) once, in
    ``configs/common.json``. MONAI merges config files in order, so it comes first and the
    main config and a preset after it still override it. Already listed, it is not added twice.

    Example::

        >>> configs = bundles_dir() / "unet3d_ct_organs" / "configs"
        >>> [Path(p).name for p in with_common_config(str(configs / "inference.json"))]
        ['common.json', 'inference.json']
    """
    files = [str(config_file)] if isinstance(config_file, (str, os.PathLike)) else [str(f) for f in config_file]
    if not files:
        return files
    common = Path(files[0]).parent / COMMON_CONFIG
    listed = {Path(f).resolve() for f in files}
    return ([str(common)] if common.is_file() and common.resolve() not in listed else []) + files


def _shipped_config(bundle: str, config: str) -> Path:
    folder = bundles_dir()
    names = sorted(p.name for p in folder.iterdir() if (p / "configs").is_dir() and not p.name.startswith("_"))
    if bundle not in names:
        raise ValueError(f"bundle: no shipped bundle {bundle!r}; the shipped bundles: {', '.join(names)}.")
    path = folder / bundle / "configs" / config
    if not path.is_file():
        raise ValueError(f"config: bundle {bundle!r} has no configs/{config}.")
    return path


def _check_settings(parser: ConfigParser, settings: dict[str, Any], bundle: str) -> None:
    declared = sorted(key for key in parser.config if not key.startswith("_"))
    for name in settings:
        if name not in declared:
            nearest = difflib.get_close_matches(name, declared, n=1)
            hint = f" (did you mean {nearest[0]!r}?)" if nearest else ""
            raise ValueError(
                f"bundle {bundle!r} declares no setting {name!r}{hint}; its settings: {', '.join(declared)}."
            )


def _argument_error(error: RuntimeError) -> BaseException:
    """The ``ValueError`` / ``TypeError`` a transform raised, under MONAI's "Failed to instantiate" wrappers."""
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return cause if isinstance(cause, (ValueError, TypeError)) else error


def declared_transforms(
    bundle: str,
    list_id: str = "preprocessing",
    config: str = "train.json",
    entries: Mapping[str, Any] | None = None,
    **settings: Any,
) -> list[Transform]:
    """The transform list ``list_id`` that shipped bundle ``bundle`` declares, with ``settings`` set.

    ``config`` (with the bundle's ``common.json`` merged first, as every bundle run merges it)
    is read by MONAI's ``ConfigParser``; each keyword sets one top-level setting of the bundle
    (``pixdim``, ``ct_window``, ``intensity_range``, ...) exactly as ``--pixdim`` would on the
    command line. A setting the bundle does not declare is an error naming the nearest one.
    ``entries`` set values inside the list by id, as ``--preprocessing#0#reader`` would. A
    transform's own argument error (a reversed window, say) is raised as that transform
    raised it, not inside MONAI's instantiation error.

    Args:
        bundle: a shipped bundle's name (``"unet3d_ct_organs"``, ``"unet2015_cells_2d"``).
        list_id: the id of the list, ``"preprocessing"`` or e.g. ``"train#random"``.
        config: the bundle config it is read from: ``train.json`` (image and label) or
            ``inference.json`` (image only).
        entries: ``{"preprocessing#0#reader": "ITKReader"}``: ids inside the bundle's configs.
        settings: top-level settings of the bundle to override.

    Example::

        >>> steps = declared_transforms("unet3d_ct_organs", ct_window=[-100, 200])
        >>> [type(t).__name__ for t in steps]
        ['LoadImaged', 'CheckImageLabeld', 'Orientationd', 'Spacingd', 'ModalityIntensityd']
        >>> steps[-1].transform.scaler.a_min
        -100
    """
    parser = ConfigParser()
    parser.read_config(with_common_config(str(_shipped_config(bundle, config))))
    _check_settings(parser, settings, bundle)
    parser.update({**settings, **(entries or {})})
    try:
        transforms = parser.get_parsed_content(list_id)
    except RuntimeError as error:
        raise _argument_error(error) from error
    if not isinstance(transforms, list):
        raise ValueError(f"list_id: {list_id!r} of bundle {bundle!r} is a {type(transforms).__name__}, not a list.")
    return transforms
