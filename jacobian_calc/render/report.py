r"""Reports and tables: what the command line prints, in every output format.

A :class:`Report` is a list of blocks — headings, plain lines, :class:`Table` objects,
Jacobians and derivations — plus the document it is as JSON. The command line builds
one (the lecture's derivations and verification table, the calculator's expression,
Jacobian, derivation and verdict) and this module writes it as text, Markdown, LaTeX (a
fragment for an amsmath document: displays, with everything else as ``%`` comments, so
it compiles as it is) or JSON.
"""

from __future__ import annotations

import json
from html import escape
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.jacobian import Jacobian
from ..core.notation import Form, dims, latex_name
from ..engine.derivation import Derivation
from ..engine.formulas import Formula
from .latex import derivation_latex, formula_latex, jacobian_latex, latex_dims, latex_number, \
    words_latex
from .markdown import derivation_markdown, formula_html, formula_markdown, jacobian_markdown, \
    markdown_escape
from .text import derivation_text, formula_text, jacobian_text

__all__ = ["Heading", "Lines", "Table", "Report", "report_text", "report_markdown",
           "report_latex", "report_html", "report_json"]


@dataclass(frozen=True)
class Heading:
    """A heading line (``#`` in Markdown, a ``%`` comment in LaTeX)."""

    text: str
    level: int = 1


@dataclass(frozen=True)
class Lines:
    """Plain lines of text (``%`` comments in LaTeX)."""

    lines: tuple[str, ...]

    @classmethod
    def of(cls, *lines: str) -> Lines:
        return cls(tuple(lines))


@dataclass(frozen=True)
class Table:
    """A table of numbers and words.

    Attributes
    ----------
    columns : sequence of str
    rows : sequence of sequence
        Cells: ``str`` (written as they are), numbers (written with ``number_format``) or
        a :class:`~jacobian_calc.core.notation.Form` (its text, and its LaTeX in LaTeX).
    number_format : str
        A format spec for numeric cells (default ``".1e"``).
    kinds : sequence of str, optional
        Per column, how its cells are typeset in LaTeX: ``"name"`` (a symbol),
        ``"dims"`` (a shape ``3×4``), ``"number"`` or ``"text"``. By default numbers are
        numbers and everything else text.
    """

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    number_format: str = ".1e"
    kinds: Sequence[str] | None = None

    def cell(self, value: Any) -> str:
        if isinstance(value, Form):  # notation: its text here, its LaTeX in a LaTeX table
            return value.text
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return format(value, self.number_format)
        return str(value)


@dataclass
class Report:
    """A printable document: blocks in order, and the same content as JSON data.

    Attributes
    ----------
    blocks : list
        :class:`Heading`, :class:`Lines`, :class:`Table`, :class:`~jacobian_calc.Jacobian`,
        :class:`~jacobian_calc.Formula` or :class:`~jacobian_calc.Derivation` objects (a
        ``str`` is one line).
    data : dict
        The JSON document (plain ``dict``/``list``/``str``/numbers).
    max_values : int or None
        The most values a derivation step prints in text (``None``: the default).
    """

    blocks: list[Any] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    max_values: int | None = None


# ------------------------------------------------------------------------------ text
def _table_text(t: Table) -> list[str]:
    cells = [[t.cell(v) for v in row] for row in t.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(t.columns)]
    numeric = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool)
                   for r in t.rows) and t.rows for i in range(len(t.columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric)).rstrip()

    head = line(list(t.columns))
    return [head, "-" * len(head)] + [line(r) for r in cells]


# -------------------------------------------------------------------------- markdown
def _table_markdown(t: Table) -> list[str]:
    align = ["---:" if all(isinstance(r[i], (int, float)) for r in t.rows) and t.rows else "---"
             for i in range(len(t.columns))]
    out = ["| " + " | ".join(t.columns) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(markdown_escape(t.cell(v)) for v in row) + " |" for row in t.rows]
    return out


# ----------------------------------------------------------------------------- LaTeX
def _table_latex(t: Table) -> str:
    kinds = list(t.kinds) if t.kinds is not None else [
        "number" if all(isinstance(r[i], (int, float)) for r in t.rows) else "text"
        for i in range(len(t.columns))]

    def cell(value: Any, kind: str) -> str:
        if isinstance(value, Form):
            return value.latex
        if kind == "number" and isinstance(value, (int, float)):
            return latex_number(value, 2)
        if kind == "dims":
            return latex_dims(dims(value) if not isinstance(value, str) else value)
        if kind == "name":
            return latex_name(str(value))
        return words_latex(t.cell(value))

    spec = "".join("r" if k == "number" else "l" for k in kinds)
    head = " & ".join(words_latex(c) for c in t.columns)
    body = [" & ".join(cell(v, k) for v, k in zip(row, kinds)) for row in t.rows]
    rows = [head] + ([r"\hline " + body[0]] + body[1:] if body else [])
    return f"\\begin{{array}}{{{spec}}}\n" + " \\\\\n".join(rows) + "\n\\end{array}"


def _comment(line: str) -> str:
    return f"% {line}" if line else "%"


#: How each kind of block is written, per format: block → list of lines.
_WRITERS: dict[str, dict[type, Callable[[Any, Report], list[str]]]] = {
    "text": {
        str: lambda b, r: [b],
        Heading: lambda b, r: [b.text],
        Lines: lambda b, r: list(b.lines),
        Table: lambda b, r: _table_text(b),
        Jacobian: lambda b, r: [jacobian_text(b)],
        Formula: lambda b, r: [f"Formula: {formula_text(b)}"],
        Derivation: lambda b, r: [derivation_text(b, r.max_values)],
    },
    "markdown": {
        str: lambda b, r: [b],
        Heading: lambda b, r: [f"{'#' * b.level} {markdown_escape(b.text)}", ""],
        # a paragraph, then a blank line, so a table after it is a table
        Lines: lambda b, r: [markdown_escape(line) for line in b.lines] + [""],
        Table: lambda b, r: _table_markdown(b) + [""],
        Jacobian: lambda b, r: [jacobian_markdown(b)],
        Formula: lambda b, r: [formula_markdown(b)],
        Derivation: lambda b, r: [derivation_markdown(b)],
    },
    "latex": {
        str: lambda b, r: [_comment(b)],
        Heading: lambda b, r: [_comment(b.text)],
        Lines: lambda b, r: [_comment(line) for line in b.lines],
        Table: lambda b, r: [f"\\[\n{_table_latex(b)}\n\\]"],
        Jacobian: lambda b, r: [f"\\[\n{jacobian_latex(b)}\n\\]"],
        Formula: lambda b, r: [f"% Formula: {b.equation.text}\n\\[\n{formula_latex(b)}\n\\]"],
        Derivation: lambda b, r: [f"% Derivation of {b.title}\n\\[\n{derivation_latex(b)}\n\\]"],
    },
}


def _html_table(t: Table) -> str:
    numeric = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in t.rows)
               and bool(t.rows) for i in range(len(t.columns))]
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="text-align:{"right" if n else "left"}">'
                         f"{escape(t.cell(v))}</td>" for v, n in zip(row, numeric)) + "</tr>"
        for row in t.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_WRITERS["html"] = {
    str: lambda b, r: [f"<p>{escape(b)}</p>"] if b else [],
    Heading: lambda b, r: [f"<h{b.level + 2}>{escape(b.text)}</h{b.level + 2}>"],
    Lines: lambda b, r: ["<p>" + "<br>".join(escape(line) for line in b.lines) + "</p>"],
    Table: lambda b, r: [_html_table(b)],
    # MathJax (Jupyter's, the docs site's) typesets $$…$$ inside HTML
    Jacobian: lambda b, r: [f"<div>$${escape(jacobian_latex(b))}$$</div>"],
    Formula: lambda b, r: [formula_html(b)],
    Derivation: lambda b, r: [f"<pre>{escape(derivation_text(b, r.max_values))}</pre>"],
}


def _write(report: Report, fmt: str) -> list[str]:
    writers = _WRITERS[fmt]
    out: list[str] = []
    for block in report.blocks:
        for kind, write in writers.items():
            if isinstance(block, kind):
                out.extend(write(block, report))
                break
        else:
            raise TypeError(f"a report cannot hold a {type(block).__name__}")
    return out


def report_text(report: Report) -> str:
    """The report as plain text."""
    return "\n".join(_write(report, "text"))


def report_markdown(report: Report) -> str:
    """The report as Markdown: headings, paragraphs, tables and typeset displays."""
    return "\n".join(_write(report, "markdown")).rstrip()


def report_latex(report: Report) -> str:
    """The report as a LaTeX fragment: displays for the mathematics, ``%`` comments for the rest."""
    return "\n".join(line for line in _write(report, "latex") if line != "%")


def report_html(report: Report) -> str:
    """The report as an HTML fragment (what Jupyter's ``_repr_html_`` shows)."""
    return "<div>" + "\n".join(_write(report, "html")) + "</div>"


def report_json(report: Report) -> str:
    """The report's data as JSON text (UTF-8, indented; non-finite numbers are refused)."""
    return json.dumps(report.data, indent=1, ensure_ascii=False, allow_nan=False)
