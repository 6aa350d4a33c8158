"""pytest.raises for the innermost cause: MONAI wraps what a bundle's config expressions raise."""

from __future__ import annotations

import contextlib
import re

import pytest

from monai_unet2015.bundle.errors import innermost_cause


@contextlib.contextmanager
def raises_cause(kind: type[BaseException], match: str):
    """The block raises, and the innermost cause of what it raises is a ``kind`` whose message matches."""
    with pytest.raises(Exception) as raised:
        yield raised
    cause = innermost_cause(raised.value)
    assert isinstance(cause, kind), repr(cause)
    assert re.search(match, str(cause)), str(cause)
