"""The render layer: every printed form of every value, in one place.

:data:`FORMATS` are the output formats the front doors offer. :func:`render` writes a
:class:`~jacobian_calc.Jacobian`, a :class:`~jacobian_calc.Derivation` or a
:class:`~jacobian_calc.render.report.Report` in one of them; the values themselves only
call the hook of :mod:`jacobian_calc.core.display`, which this package installs when it
is imported. Pictures are in :mod:`jacobian_calc.render.plot` (the ``plot`` extra).

>>> import numpy as np, jacobian_calc as jc
>>> J = jc.Jacobian(np.eye(2), of="y", wrt="x", of_shape=(2,), wrt_shape=(2,), label="I")
>>> print(render(J, "text"))
∂y/∂x = I  (2×2, dense)
[[1. 0.]
 [0. 1.]]
"""

from __future__ import annotations

from typing import Any

from ..core import display
from ..core.errors import ChoiceError
from ..core.jacobian import Jacobian
from ..engine.derivation import Derivation
from ..engine.second_derivation import SecondDerivation
from ..engine.formulas import Formula
from .data import derivation_to_dict, formula_to_dict, jacobian_to_dict
from .latex import SMALL_ENTRIES, check_latex, derivation_latex, formula_latex, \
    jacobian_latex, latex_dims, latex_number, matrix_latex
from .markdown import derivation_markdown, formula_html, formula_markdown, jacobian_markdown
from .report import Report, report_html, report_json, report_latex, report_markdown, \
    report_text
from .second import second_html, second_latex, second_markdown, second_text, second_to_dict
from .text import derivation_text, formula_text, jacobian_summary, jacobian_text

__all__ = ["FORMATS", "render", "check_latex", "SMALL_ENTRIES", "matrix_latex",
           "latex_number", "latex_dims", "jacobian_latex", "jacobian_markdown",
           "jacobian_to_dict", "derivation_latex", "derivation_markdown",
           "derivation_to_dict", "formula_text", "formula_latex", "formula_markdown",
           "formula_html", "formula_to_dict", "Report"]

#: The output formats of every front door (``--format``).
FORMATS = ("text", "markdown", "latex", "json")

_WRITERS: dict[type, dict[str, Any]] = {
    Jacobian: {"text": jacobian_text, "summary": jacobian_summary, "latex": jacobian_latex,
               "markdown": jacobian_markdown, "dict": jacobian_to_dict},
    Derivation: {"text": derivation_text, "latex": derivation_latex,
                 "markdown": derivation_markdown, "dict": derivation_to_dict},
    SecondDerivation: {"text": second_text, "latex": second_latex, "markdown": second_markdown,
                       "html": second_html, "dict": second_to_dict},
    Formula: {"text": formula_text, "latex": formula_latex, "markdown": formula_markdown,
              "html": formula_html, "dict": formula_to_dict},
    Report: {"text": report_text, "latex": report_latex, "markdown": report_markdown,
             "html": report_html, "json": report_json},
}


def render(value: object, fmt: str = "text") -> Any:
    """``value`` written in the format ``fmt``.

    Parameters
    ----------
    value : Jacobian, Derivation, Formula or Report
    fmt : str
        One of :data:`FORMATS` (``"json"`` for a report); ``"dict"`` gives a Jacobian's
        or a derivation's JSON-ready data, ``"summary"`` a Jacobian's one-line summary.

    Raises
    ------
    ChoiceError
        A format the value cannot be written in.
    """
    for kind, writers in _WRITERS.items():
        if isinstance(value, kind):
            if fmt not in writers:
                raise ChoiceError(f"format for a {kind.__name__}", fmt, writers)
            return writers[fmt](value)
    raise TypeError(f"nothing renders a {type(value).__name__}")


display.register_renderer(render)
