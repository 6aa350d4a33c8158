"""Every ``Example::`` in the package's docstrings runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import monai_unet2015

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(monai_unet2015.__path__, prefix="monai_unet2015.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
