"""Sphinx configuration for the jacobian_calc documentation.

Build (from the repository root)::

    pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html

The notebooks in ``notebooks/`` are committed with their outputs, and the site shows those
stored outputs: MyST-NB does not re-execute them (``nb_execution_mode = "off"``). That
they are current is the test suite's job: ``python -m pytest`` re-runs every notebook
with nbval and fails on any output that no longer matches (tests/test_notebooks.py). So
the site, the notebooks on a Git host and a fresh run all show the same thing, and the
build needs no kernel. Math is typeset by a MathJax copy bundled into ``_static`` (the
``sphinx-mathjax-offline`` extension), so reading the site needs no network.
``_static/jacobian_calc.css`` lets wide math, outputs, code and tables scroll
sideways on their own instead of running past the text column.
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
html_css_files = ["jacobian_calc.css"]  # wide blocks scroll on their own
html_theme = "alabaster"
html_title = "jacobian_calc"
html_theme_options = {
    "description": "literal Jacobians, proved numerically",
    "page_width": "1180px",  # room for 100-column code cells and wide derivation tables
    "sidebar_width": "230px",
}

# Markdown: $…$ and $$…$$ math, label targets such as (eq-22)=, and plain links such as
# [notebook 04](notebooks/04_vec_and_lemma.ipynb#eq-22) or [vec](api.md#jacobian_calc.vec)
# that read on a Git host too (docs/equations.md uses only those).
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# The notebooks are shown with the outputs they are committed with (checked current by
# nbval in the test suite); the build does not run them.
nb_execution_mode = "off"
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


# A page links an API name as [`vec`](api.md#jacobian_calc.vec): on a Git host that opens
# the API page. For the site the link becomes [`vec`](#jacobian_calc.vec), which MyST
# resolves as a cross-reference to the documented object (and warns, so -W fails, when
# the name is documented nowhere).
_API_LINK = re.compile(r"\]\(api\.md#(jacobian_calc[\w.]*)\)")


def _api_links_as_references(app, docname, source):
    source[0] = _API_LINK.sub(r"](#\1)", source[0])


def _canonical(name: str, module: str | None, cls: str | None) -> list[str]:
    """Where ``name``, referenced from ``module``/``cls``, is documented under its own module.

    A docstring says :data:`MAX_LISTED_PATHS` or :meth:`materialize` relative to the
    module that defines it; the page may document the object under its re-exported name
    (``jacobian_calc.Derivation``), or the target under its defining module.
    """
    import importlib
    import inspect

    candidates = []
    context = None
    if module:
        try:
            context = importlib.import_module(module)
        except ImportError:
            context = None
    owner = getattr(context, cls.split(".")[0], None) if context and cls else None
    if inspect.isclass(owner):
        for base in owner.__mro__:
            if base.__module__.startswith("jacobian_calc"):
                candidates.append(f"{base.__module__}.{base.__qualname__}.{name}")
        candidates.append(f"{owner.__module__}.{name}")
    if "." in name:  # a full name re-exported elsewhere: the object's own module
        head, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(head), attr)
            if getattr(obj, "__module__", None) and hasattr(obj, "__qualname__"):
                candidates.append(f"{obj.__module__}.{obj.__qualname__}")
            candidates.append(f"jacobian_calc.{attr}")
        except (ImportError, AttributeError):
            pass
    elif module:
        candidates.append(f"{module}.{name}")
    return candidates


def _resolve_relative(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    domain = env.get_domain("py")
    candidates = _canonical(target, node.get("py:module"), node.get("py:class"))
    # Last, a short name documented exactly once in the package, wherever that is.
    suffix = "." + target.rpartition(".")[2]
    documented = [name for name in domain.objects
                  if name.startswith("jacobian_calc.") and name.endswith(suffix)]
    if len(documented) == 1:
        candidates.append(documented[0])
    for candidate in candidates:
        if candidate in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       candidate, node, contnode)
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_absolute_values)
    app.connect("builder-inited", _write_function_list)
    app.connect("source-read", _api_links_as_references)
    app.connect("missing-reference", _resolve_relative)

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
