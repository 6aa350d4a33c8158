"""Shared fixtures of the DICOM node tests."""

from __future__ import annotations

import pytest

from tests.dicom_node.test_node import tiny_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The CT bundle's configs with a small random network's weights."""
    return tiny_bundle(tmp_path_factory.mktemp("bundle"))
