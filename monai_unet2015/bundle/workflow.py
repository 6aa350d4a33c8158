"""The bundles' workflow class: MONAI's ``ConfigWorkflow`` with the checks a command-line user needs.

Run a bundle through it with MONAI's own route::

    python -m monai.bundle run --workflow_name monai_unet2015.bundle.UNet2015Workflow \\
        --config_file configs/train.json --dataset_dir /data/ct

(``run_workflow`` takes the same arguments). Against a plain ``ConfigWorkflow`` it adds:

- override keys that are settings of no config of the bundle are errors naming the closest
  keys, whether they come from the command line or from an ``--args_file`` (MONAI would add
  ``--max_epoch 1`` as a new, unused entry and train for the default number of epochs);
- a spatial setting of the wrong length (a 3D plan given to the 2D bundle) is an error
  naming both lengths;
- every error of its steps (construction, ``initialize``, ``run``, ``finalize``) ends the
  process as one line naming the file and what to do, exit status 1
  (``SystemExit``), instead of 100-300 lines of traceback ending in ``Failed to instantiate
  ...``. ``MONAI_UNET2015_TRACEBACK=1`` lets the error through unchanged, with its traceback.

Nothing of the interpreter is replaced and the command line is not re-read: the overrides
are the keyword arguments MONAI's ``create_workflow`` passes, after it merged the args file.
A plain ``python -m monai.bundle run`` without ``--workflow_name`` still runs the same
configs, with MONAI's own error handling and no override check.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.apps import get_logger
from monai.bundle import ConfigParser, ConfigWorkflow

from monai_unet2015.bundle.cli import unknown_override_messages
from monai_unet2015.bundle.errors import BundleInputError, error_line
from monai_unet2015.bundle.locations import with_common_config

__all__ = ["TRACEBACK_VARIABLE", "WORKFLOW_NAME", "UNet2015Workflow", "bundle_run_command", "spatial_length_messages"]

# what --workflow_name takes (MONAI locates the class by its dotted path)
WORKFLOW_NAME = "monai_unet2015.bundle.UNet2015Workflow"
TRACEBACK_VARIABLE = "MONAI_UNET2015_TRACEBACK"
# Settings whose length is the number of spatial dimensions of the bundle.
SPATIAL_SETTINGS = ("roi_size", "pixdim")
# The loggers of the StatsHandlers that the recipe (monai_unet2015.engines.workflows) attaches.
_ENGINE_LOGGERS = ("monai_unet2015.trainer", "monai_unet2015.evaluator")


def bundle_run_command(config_file: str, *arguments: str, launcher: Sequence[str] = (sys.executable,)) -> list[str]:
    """The documented bundle command as a list: ``python -m monai.bundle run --workflow_name ... --config_file ...``.

    ``launcher`` runs the module (another environment's python, or ``torchrun ... --nproc_per_node 2``).

    Example::

        >>> bundle_run_command("configs/train.json", "--max_epochs", "1", launcher=["python"])[1:6]
        ['-m', 'monai.bundle', 'run', '--workflow_name', 'monai_unet2015.bundle.UNet2015Workflow']
    """
    return [
        *launcher,
        "-m",
        "monai.bundle",
        "run",
        "--workflow_name",
        WORKFLOW_NAME,
        "--config_file",
        config_file,
        *arguments,
    ]


def _workflow_arguments() -> frozenset[str]:
    """``ConfigWorkflow``'s own keyword arguments (``run_id``, ``tracking``...): not config overrides."""
    return frozenset(inspect.signature(ConfigWorkflow.__init__).parameters) - {"self", "override"}


def spatial_length_messages(overrides: Mapping[str, Any], config: Mapping) -> list[str]:
    """One message per spatial setting whose override has another length than the bundle's.

    Example::

        >>> spatial_length_messages({"roi_size": [76, 76, 76]}, {"roi_size": [572, 572]})
        ['--roi_size [76, 76, 76] has 3 entries, this bundle takes 2 (a plan made for the other bundle?)']
    """
    messages = []
    for key in SPATIAL_SETTINGS:
        given, default = overrides.get(key), config.get(key)
        if isinstance(given, Sequence) and not isinstance(given, str) and isinstance(default, Sequence):
            if len(given) != len(default):
                messages.append(
                    f"--{key} {list(given)} has {len(given)} entries, this bundle takes {len(default)} "
                    "(a plan made for the other bundle?)"
                )
    return messages


def sibling_configs(config_file: str | Sequence[str]) -> list[dict]:
    """The other configs of the folders of ``config_file`` (``metadata.json`` aside), each as loaded.

    A plan (``--args_file``) serves training and inference alike, so a setting of the bundle's
    inference config (``min_object_size``) in a training run's args file is no typo; it is
    an error only where no config of the bundle has it.
    """
    files = [config_file] if isinstance(config_file, (str, os.PathLike)) else list(config_file)
    given = {Path(file).resolve() for file in files}
    folders = sorted({Path(file).parent for file in files})
    paths = [p for folder in folders for p in sorted(folder.glob("*.json")) if p.name != "metadata.json"]
    return [ConfigParser.load_config_file(str(p)) for p in paths if p.resolve() not in given]


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """An exception inside becomes ``SystemExit`` with its innermost message (module docstring)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 (every error of a run is reported the same way)
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        raise SystemExit(f"error: {error_line(error)}\n(set {TRACEBACK_VARIABLE}=1 for the full traceback)") from None


class _WithoutTraceback(logging.Filter):
    """Keeps a log record and drops its traceback: the workflow reports the error in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


class UNet2015Workflow(ConfigWorkflow):
    """``ConfigWorkflow`` that checks its overrides and reports errors in one line (module docstring).

    Args:
        config_file: the bundle's config file(s), as for ``ConfigWorkflow``.
        kwargs: ``ConfigWorkflow``'s own arguments (``meta_file``, ``logging_file``, ``run_id``...)
            and the config overrides (``max_epochs=3``, ``features=[4, 8, 16]``).

    Raises:
        SystemExit: with one line naming the problem, for an unknown override key, a spatial
            setting of the wrong length, or any error of a step; the exception itself when
            ``MONAI_UNET2015_TRACEBACK`` is set.

    Example::

        >>> import json, tempfile, pathlib
        >>> config = pathlib.Path(tempfile.mkdtemp()) / "train.json"
        >>> _ = config.write_text(json.dumps({"max_epochs": 100, "run": ["$print(@max_epochs)"]}))
        >>> workflow = UNet2015Workflow(config_file=str(config), max_epochs=3)
        >>> try:
        ...     UNet2015Workflow(config_file=str(config), max_epoch=3)
        ... except SystemExit as stop:
        ...     print(str(stop).splitlines()[0])
        error: --max_epoch is not an option of this bundle; did you mean --max_epochs?
    """

    def __init__(self, config_file: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        with _one_line_errors():
            overrides = {key: value for key, value in kwargs.items() if key not in _workflow_arguments()}
            if config_file is not None:
                config_file = with_common_config(config_file)
                config = ConfigParser.load_config_files(config_file)
                messages = unknown_override_messages(overrides, config, *sibling_configs(config_file))
                messages += spatial_length_messages(overrides, config)
                if messages:
                    raise BundleInputError("; ".join(messages))
            super().__init__(config_file=config_file, **kwargs)

    def initialize(self) -> Any:
        if not os.environ.get(TRACEBACK_VARIABLE):
            for name in _ENGINE_LOGGERS:
                # MONAI's get_logger, as StatsHandler makes it (stdout, INFO): a logger made here with
                # logging.getLogger would exist already when StatsHandler asks, and stay silent.
                logger = get_logger(name)
                if not any(isinstance(f, _WithoutTraceback) for f in logger.filters):
                    logger.addFilter(_WithoutTraceback())
        with _one_line_errors():
            return super().initialize()

    def run(self) -> Any:
        with _one_line_errors():
            return super().run()

    def finalize(self) -> Any:
        with _one_line_errors():
            return super().finalize()
