"""The bundles' command-line settings: booleans as words, override keys checked against the config.

- Boolean options accept true / false in any case (:func:`as_bool`): fire hands ``false``
  over as the string "false", which is true.
- :func:`unknown_override_messages` names the override keys a config does not have, with the
  closest keys; :class:`~monai_unet2015.bundle.UNet2015Workflow` refuses them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from monai.bundle import ConfigParser

from monai_unet2015.bundle.errors import BundleInputError

__all__ = ["as_bool", "dicom_seg_setting", "config_ids", "unknown_override_messages"]

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
# monai.bundle run / run_workflow's own arguments: not config ids
_RUN_ARGUMENTS = frozenset(
    {
        "run_id",
        "init_id",
        "final_id",
        "meta_file",
        "config_file",
        "logging_file",
        "tracking",
        "args_file",
        "workflow_name",
        "workflow_type",
        "properties_path",
    }
)


def as_bool(value: object, name: str = "value") -> bool:
    """``value`` as a boolean: True / False, or true / false, yes / no, on / off, 1 / 0 in any case.

    Example::

        >>> as_bool("FALSE"), as_bool(True), as_bool("1")
        (False, True, True)
    """
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BundleInputError(f"--{name} must be true or false, got {value!r}.")


def dicom_seg_setting(value: object) -> tuple[bool, bool]:
    """``(write SEGs for DICOM input, warn for other input)`` of the ``dicom_seg`` option.

    ``"auto"`` (the default) writes a SEG for each DICOM series where highdicom is installed
    and says nothing of NIfTI input; an explicit true writes them and warns, naming the case,
    for input that is not DICOM (no SEG can refer to it); false writes none.

    Example::

        >>> dicom_seg_setting("TRUE"), dicom_seg_setting("false")
        ((True, True), (False, False))
    """
    if str(value).strip().lower() == "auto":
        from monai_unet2015.data import has_highdicom

        return bool(has_highdicom), False
    asked = as_bool(value, "dicom_seg")
    return asked, asked


def config_ids(config: object, prefix: str = "") -> Iterable[str]:
    """Every id of a config (``"train#trainer#max_epochs"``, list items by index), as MONAI names them."""
    if isinstance(config, Mapping):
        items = config.items()
    elif isinstance(config, list):
        items = enumerate(config)
    else:
        return
    for key, value in items:
        name = f"{prefix}#{key}" if prefix else str(key)
        yield name
        yield from config_ids(value, name)


def _adds_a_component_argument(key: str, config: dict) -> bool:
    """``network_def#dropout``: a new argument to a ``_target_`` component is a legitimate override."""
    parent, _, _ = key.rpartition("#")
    if not parent:
        return False
    try:
        node = ConfigParser(config)[parent]
    except (KeyError, IndexError, ValueError, TypeError):
        return False
    return isinstance(node, Mapping) and "_target_" in node


def unknown_override_messages(overrides: Iterable[str], config: dict, *other_configs: dict) -> list[str]:
    """One message per override key that is no id of ``config`` or ``other_configs`` and no ``run`` argument.

    Example::

        >>> unknown_override_messages(["max_epoch", "max_epochs"], {"max_epochs": 100, "val_interval": 5})
        ['--max_epoch is not an option of this bundle; did you mean --max_epochs?']
    """
    configs = (config, *other_configs)
    known = {name for each in configs for name in config_ids(each)}
    messages = []
    for key in overrides:
        if key in known or key in _RUN_ARGUMENTS or any(_adds_a_component_argument(key, each) for each in configs):
            continue
        close = difflib.get_close_matches(key, sorted(known | _RUN_ARGUMENTS), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join('--' + c for c in close)}?" if close else " (see the bundle's README)."
        messages.append(f"--{key} is not an option of this bundle{hint}")
    return messages
