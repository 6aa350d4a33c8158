"""Sphinx configuration: the user guide (Markdown, MyST) and the API reference from the docstrings."""

from __future__ import annotations

import monai_unet2015

project = "monai_unet2015"
author = "monai_unet2015 developers"
release = monai_unet2015.__version__
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
html_theme = "alabaster"
html_static_path: list[str] = []
napoleon_custom_sections = ["Shapes"]
