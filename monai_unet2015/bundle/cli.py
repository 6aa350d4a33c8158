"""What a ``python -m monai.bundle run`` of our bundles adds to MONAI's command line.

- Override keys the config does not have are errors naming the closest keys: MONAI would
  add ``--max_epoch 1`` as a new, unused entry and train for the default number of epochs.
- Boolean options accept true / false in any case (:func:`as_bool`): fire hands ``false``
  over as the string "false", which is true.
- Errors come as one line naming the file and what to do instead of 100-300 lines of
  traceback ending in ``Failed to instantiate ...``; ``MONAI_UNET2015_TRACEBACK=1`` shows the
  full traceback. The library raises ordinary exceptions (``ValueError``, ``FileNotFoundError``);
  only this entry point turns them into one line and exit status 1. An error inside a training
  or evaluation run is also logged by MONAI's ``StatsHandler``: there its traceback is left out.

Each bundle config calls :func:`prepare_cli_run` first in ``initialize``. It acts only when
the process is MONAI's bundle command line (``python -m monai.bundle run``, also under
torchrun), so Python users and MONAI Label keep their own error handling. There it wraps the
interpreter's ``sys.excepthook`` (the hook that was set stays in charge of the full
traceback) and re-reads the command line's keys as fire parses them: both rely on the
MONAI and fire versions pinned in ``constraints.txt``, which ``tests/bundles/test_cli.py``
checks.
"""

from __future__ import annotations

import ast
import difflib
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from monai.apps import get_logger
from monai.bundle import ConfigParser

from monai_unet2015.bundle.errors import BundleInputError, error_line

__all__ = [
    "TRACEBACK_VARIABLE",
    "as_bool",
    "config_ids",
    "unknown_override_messages",
    "bundle_cli_arguments",
    "prepare_cli_run",
]

TRACEBACK_VARIABLE = "MONAI_UNET2015_TRACEBACK"
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


def unknown_override_messages(overrides: Iterable[str], config: dict) -> list[str]:
    """One message per override key that is neither a config id nor a ``run`` argument.

    Example::

        >>> unknown_override_messages(["max_epoch", "max_epochs"], {"max_epochs": 100, "val_interval": 5})
        ['--max_epoch is not an option of this bundle; did you mean --max_epochs?']
    """
    known = set(config_ids(config))
    messages = []
    for key in overrides:
        if key in known or key in _RUN_ARGUMENTS or _adds_a_component_argument(key, config):
            continue
        close = difflib.get_close_matches(key, sorted(known | _RUN_ARGUMENTS), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join('--' + c for c in close)}?" if close else " (see the bundle's README)."
        messages.append(f"--{key} is not an option of this bundle{hint}")
    return messages


def bundle_cli_arguments(argv: Sequence[str] | None = None) -> dict[str, str] | None:
    """``{key: value}`` of a ``python -m monai.bundle run ...`` command line; None for any other process."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or not Path(argv[0]).as_posix().endswith("monai/bundle/__main__.py"):
        return None
    if argv[1] not in ("run", "run_workflow"):
        return None
    arguments: dict[str, str] = {}
    tokens = argv[2:]
    for index, token in enumerate(tokens):
        if not token.startswith("--"):
            continue
        key, has_value, value = token[2:].partition("=")
        if not has_value:
            following = tokens[index + 1] if index + 1 < len(tokens) else "True"
            value = "True" if following.startswith("--") else following
        arguments[key] = value
    return arguments


def _config_files(value: str) -> list[str]:
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return [str(p) for p in parsed] if isinstance(parsed, (list, tuple)) else [str(parsed)]


class _OneLineExcepthook:
    """The one-line error for an uncaught exception; ``MONAI_UNET2015_TRACEBACK=1`` and Ctrl-C go to ``previous``."""

    def __init__(self, previous) -> None:
        self.previous = previous

    def __call__(self, kind, error, traceback) -> None:  # noqa: ANN001 (sys.excepthook's signature)
        if os.environ.get(TRACEBACK_VARIABLE) or issubclass(kind, KeyboardInterrupt):
            self.previous(kind, error, traceback)
            return
        sys.stderr.write(f"error: {error_line(error)}\n(set {TRACEBACK_VARIABLE}=1 for the full traceback)\n")


# The loggers of the StatsHandlers that the recipe (monai_unet2015.engines.workflows) attaches.
_ENGINE_LOGGERS = ("monai_unet2015.trainer", "monai_unet2015.evaluator")


class _WithoutTraceback(logging.Filter):
    """Keeps a log record and drops its traceback: the excepthook prints the error in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


def prepare_cli_run(argv: Sequence[str] | None = None) -> None:
    """Check the command line's override keys and switch to one-line errors (module docstring).

    Does nothing outside ``python -m monai.bundle run``; the bundles call it first in
    ``initialize``.
    """
    arguments = bundle_cli_arguments(argv)
    if arguments is None:
        return
    if not isinstance(sys.excepthook, _OneLineExcepthook):  # once, and whatever hook was there is kept
        sys.excepthook = _OneLineExcepthook(sys.excepthook)
    if not os.environ.get(TRACEBACK_VARIABLE):
        for name in _ENGINE_LOGGERS:
            # MONAI's get_logger, as StatsHandler makes it (stdout, INFO): a logger made here with
            # logging.getLogger would exist already when StatsHandler asks, and stay silent.
            get_logger(name).addFilter(_WithoutTraceback())
    if "config_file" not in arguments:
        return
    config = ConfigParser.load_config_files(_config_files(arguments["config_file"]))
    messages = unknown_override_messages(arguments, config)
    if messages:
        raise BundleInputError("; ".join(messages))
