"""Checking a string option against its vocabulary (a MONAI enum or a tuple), naming the argument."""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum

from monai.utils import look_up_option

__all__ = ["option"]


def option(name: str, value, supported: Collection | type[Enum]):
    """``value`` if ``supported`` has it (MONAI's ``look_up_option``), else a ``ValueError`` naming ``name``.

    For a MONAI enum (``GridSampleMode``, ``BlendMode``...) the enum member is returned;
    MONAI's message lists the options and suggests the closest one.

    Example::

        >>> from monai.utils import BlendMode
        >>> option("mode", "gaussian", BlendMode).value
        'gaussian'
        >>> try:
        ...     option("mode", "gausian", BlendMode)
        ... except ValueError as error:
        ...     print(str(error).splitlines()[0])
        mode: By 'gausian', did you mean 'gaussian'?
    """
    try:
        return look_up_option(value, supported)
    except ValueError as error:
        raise ValueError(f"{name}: {str(error).strip()}") from None
