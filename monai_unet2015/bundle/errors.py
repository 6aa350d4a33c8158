"""How an error a user caused is put in one line.

MONAI wraps a transform's error in ``RuntimeError("applying transform ...")`` and a config
component's in ``RuntimeError("Failed to instantiate ...")`` with the whole component printed;
the message worth showing is the innermost cause's.
"""

from __future__ import annotations

__all__ = ["BundleInputError", "innermost_cause", "error_line"]

# Errors whose message is written for the user (ours name the file and what to do).
_USER_FACING = (ValueError, FileNotFoundError, FileExistsError)
_IOSTREAM_FAILURE = "basic_ios::clear"


class BundleInputError(ValueError):
    """A bundle run's command line is wrong (an unknown option, a value that is not a boolean)."""


def innermost_cause(error: BaseException) -> BaseException:
    """The last exception of the ``__cause__`` / ``__context__`` chain."""
    while error.__cause__ is not None or (error.__context__ is not None and not error.__suppress_context__):
        error = error.__cause__ or error.__context__
    return error


def error_line(error: BaseException) -> str:
    """The innermost cause's message: as it is for user-facing errors, else its type and first line.

    Example::

        >>> try:
        ...     try:
        ...         raise ValueError("label a_seg.nii.gz: values [7] are outside 0..3")
        ...     except ValueError as inner:
        ...         raise RuntimeError("applying transform <CheckImageLabeld>") from inner
        ... except RuntimeError as outer:
        ...     error_line(outer)
        'label a_seg.nii.gz: values [7] are outside 0..3'
    """
    cause = innermost_cause(error)
    text = str(cause)
    if isinstance(cause, _USER_FACING) or type(cause).__module__.startswith("monai_unet2015"):
        return text
    line = f"{type(cause).__name__}: {text.splitlines()[0] if text else ''}"
    if _IOSTREAM_FAILURE in text:  # torch.save's only word for a full disk
        line += " (torch could not write a file: is the disk full?)"
    return line
