"""Sphinx configuration: the user guide (Markdown, MyST) and the API reference from the docstrings."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
from PIL import Image

import monai_unet2015

project = "monai_unet2015"
author = "monai_unet2015 developers"
copyright = "2026, the monai_unet2015 developers (Apache-2.0)"  # noqa: A001 (Sphinx's name)
release = monai_unet2015.__version__
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    # MathJax served from the site itself, not a CDN: the formulas show on a hospital's offline network
    "sphinx-mathjax-offline",
    # the papers as citations: per page ({footcite} + {footbibliography}), all of them on references.md
    "sphinxcontrib.bibtex",
]
bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "plain"
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# MONAI's own theme. The site's navigation (the page titles are too long for the header bar) and
# "On this page" share the one left sidebar, so
# the article is wide enough for 100-character code lines on a 1366 px laptop screen
# (scripts/check_docs_layout.py measures it: `make docs-layout`).
html_theme = "pydata_sphinx_theme"
html_theme_options = {
    "navbar_center": [],
    "secondary_sidebar_items": [],
    "show_toc_level": 2,
    "navigation_depth": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"**": ["site-nav.html", "page-toc"]}
templates_path = ["_templates"]
html_static_path = ["_static/css"]
html_css_files = ["layout.css"]
html_title = f"monai_unet2015 {release}"
napoleon_custom_sections = ["Shapes"]


DOCS = Path(__file__).resolve().parent
FIGURE_REFERENCE = re.compile(r"\]\(((?:\.\./)*_static/figures/[\w.-]+\.png)\)")


def figure_problems(docs: Path = DOCS) -> list[str]:
    """Every figure a page shows that is missing or blank (one colour, or almost), named with its page.

    ``scripts/make_figures.py`` draws them; the build fails on any problem found here.
    """
    problems = []
    for page in sorted(docs.rglob("*.md")):
        if "_build" in page.parts:
            continue
        for reference in FIGURE_REFERENCE.findall(page.read_text()):
            path = (page.parent / reference).resolve()
            if not path.is_file():
                problems.append(f"{page.relative_to(docs)}: {reference} does not exist (scripts/make_figures.py)")
                continue
            grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
            if grey.std() < 5 or min(grey.shape) < 100:
                problems.append(
                    f"{page.relative_to(docs)}: {reference} is blank or tiny ({grey.shape}, std {grey.std():.1f})"
                )
    return problems


def _check_figures(app) -> None:
    problems = figure_problems()
    if problems:
        raise RuntimeError("figures: " + "; ".join(problems))


def _init_signature(app, what, name, obj, options, signature, return_annotation):
    """A class whose base defines ``__new__(*args, **kwargs)`` (MONAI's ``MapTransform``) shows its
    ``__init__``'s parameters, not ``(*args, **kwargs)``."""
    if what != "class" or signature != "(*args, **kwargs)" or obj.__init__ is object.__init__:
        return None
    parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]  # without self
    return str(inspect.Signature(parameters)), return_annotation


def setup(app):
    app.connect("builder-inited", _check_figures)
    app.connect("autodoc-process-signature", _init_signature)
