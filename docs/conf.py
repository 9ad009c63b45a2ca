"""Sphinx configuration for the jacobian_calc documentation.

Build (from the repository root)::

    pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html

The notebooks in ``notebooks/`` are committed without outputs and executed at build time
by MyST-NB. Math is typeset by a MathJax copy bundled into ``_static`` (the
``sphinx-mathjax-offline`` extension), so reading the site needs no network.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# Document the source tree, so the API pages describe this checkout even when the
# package is not installed (and the notebook kernels import the same copy).
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
)

import jacobian_calc  # noqa: E402

project = "jacobian_calc"
author = "jacobian_calc developers"
copyright = "jacobian_calc developers"
version = release = jacobian_calc.__version__

extensions = [
    "myst_nb",                 # MyST Markdown pages and executed notebooks
    "sphinx.ext.autodoc",      # API reference from the docstrings
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",     # numpydoc-style sections
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # copies MathJax into _static: no CDN at reading time
]

exclude_patterns = ["_build", "_generated", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_theme = "alabaster"
html_title = "jacobian_calc"
html_theme_options = {
    "description": "literal Jacobians, proved numerically",
    "page_width": "1180px",  # room for 100-column code cells and wide derivation tables
    "sidebar_width": "230px",
}

# Markdown: $…$ and $$…$$ math, label targets such as (eq-22)= and {ref} roles.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# Notebooks are stored without outputs; run them on every build, from their own folder.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Markdown outputs (a Derivation's _repr_markdown_) hold tables and $…$ math: parse them
# as MyST, with the extensions above, rather than as plain CommonMark.
nb_render_markdown_format = "myst"

autodoc_member_order = "bysource"
autodoc_typehints = "none"          # the numpydoc sections already state the types
autosummary_generate = False
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

# Docstrings are written for the terminal as much as for Sphinx: an absolute value such
# as |x_j| would be read by reStructuredText as a substitution reference. The package
# defines no substitutions, so escape that pattern before autodoc parses it.
_BARS = re.compile(r"(?<![\\`|])\|([A-Za-z_][A-Za-z0-9_]*)\|(?!_)")


def _escape_absolute_values(app, what, name, obj, options, lines):
    lines[:] = [_BARS.sub(r"\\|\1\\|", line) for line in lines]


def _write_function_list(app):
    """The list of operations on the API page is generated from the table at every build."""
    from jacobian_calc.render.catalog import functions_page

    target = Path(app.srcdir) / "_generated" / "functions.md"
    target.parent.mkdir(exist_ok=True)
    text = functions_page()
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("autodoc-process-docstring", _escape_absolute_values)
    app.connect("builder-inited", _write_function_list)

# Cross-references must resolve: a {py:func} on the equation map that names nothing would
# otherwise render as plain text without a warning. Types in numpydoc parameter lists
# ("array_like", "numpy.ndarray", …) are descriptions, not links, so classes and generic
# objects are exempt.
nitpicky = True
nitpick_ignore_regex = [
    ("py:class", r".*"),
    ("py:obj", r".*"),
    # other projects' objects: no intersphinx, because the build must not need a network
    (r"py:.*", r"(numpy|scipy|matplotlib|hypothesis|ast)\..*"),
]
# Attribute names such as ``shape`` in numpydoc type fields match both Jacobian.shape and
# Expr.shape; they are descriptions, not links, so the ambiguity is not an error.
suppress_warnings = ["ref.python"]
