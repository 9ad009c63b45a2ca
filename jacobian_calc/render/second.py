"""Second-order derivations in every format, through one report.

A :class:`~jacobian_calc.engine.second_derivation.SecondDerivation` is written as a
:class:`~jacobian_calc.render.report.Report` — per term a table of its factors (symbol,
shape, storage, Kronecker factors), the dimension checks, and why a term vanishes — so
text, Markdown, LaTeX, HTML and JSON say the same things.
"""

from __future__ import annotations

from typing import Any

from ..core.notation import dims
from ..engine.second_derivation import Factor, SecondDerivation, SecondStep
from .report import Heading, Lines, Report, Table, report_html, report_json, report_latex, \
    report_markdown, report_text

__all__ = ["second_report", "second_text", "second_markdown", "second_latex", "second_html",
           "second_to_dict"]

_COLUMNS = ("", "symbol", "shape", "stored as")
_KINDS = ("text", "text", "dims", "text")


def _row(role: str, f: Factor) -> list[Any]:
    return [role, f.symbol, dims(f.shape), f.stored_as]


def _step_lines(s: SecondStep) -> list[str]:
    lines = [f"dimension check: {s.check}"]
    if s.value.kron_check:
        lines.append(f"Kronecker factors: {s.value.kron_check}")
    lines += list(s.notes)
    if s.vanishes:
        lines.append(f"vanishes: {s.vanishes}")
    return lines


def _factor_data(f: Factor) -> dict[str, Any]:
    return {"symbol": f.symbol.text, "latex": f.symbol.latex, "shape": list(f.shape),
            "storage": f.storage,
            "kron": None if f.kron is None else [list(f.kron[0]), list(f.kron[1])],
            "kron_terms": f.terms or None}


def second_to_dict(d: SecondDerivation) -> dict[str, Any]:
    """The derivation as JSON-ready data."""
    return {
        "title": d.title.text, "title_latex": d.title.latex, "shape": list(d.shape),
        "context": list(d.context),
        "terms": [{"name": s.name, "node": s.node.text, "left": _factor_data(s.left),
                   "middle": _factor_data(s.middle), "right": _factor_data(s.right),
                   "value": _factor_data(s.value), "check": s.check,
                   "kron_check": s.value.kron_check, "vanishes": s.vanishes,
                   "notes": list(s.notes)} for s in d.steps],
        "total": _factor_data(d.total), "vanishing": list(d.vanishing), "notes": list(d.notes),
    }


def second_report(d: SecondDerivation, level: int = 1) -> Report:
    """The derivation as a report (headings at ``level`` and below)."""
    blocks: list[Any] = [
        Heading(f"Second-order derivation of {d.title.text}  ({dims(d.shape)})", level),
        Lines.of("H = Σ over the nodes n of Tᵢᵀ Sₙ Tⱼ: Tᵢ = ∂vec(argument i)/∂vec(variable) "
                 "(the tangents), Sₙ = the node's second derivative weighted by ∂f/∂n",
                 *d.context),
    ]
    for k, s in enumerate(d.steps, 1):
        blocks += [
            Heading(f"term {k}: {s.name}, from {s.node.text}", level + 1),
            Table(_COLUMNS, [_row("Tᵢ", s.left), _row("S", s.middle), _row("Tⱼ", s.right),
                             _row("Tᵢᵀ S Tⱼ", s.value)], kinds=_KINDS),
            Lines(tuple(_step_lines(s))),
        ]
    summary = [f"sum of {len(d.steps)} term(s): {dims(d.shape)}, stored {d.total.stored_as}"]
    if d.vanishing:
        summary.append(f"vanishing here: {', '.join(d.vanishing)}")
    blocks.append(Lines(tuple(summary + list(d.notes))))
    limit = 60 if d.max_values is None else d.max_values
    if d.shape[0] * d.shape[1] <= limit:
        blocks.append(d.result)
    return Report(blocks, second_to_dict(d), d.max_values)


def second_text(d: SecondDerivation) -> str:
    return report_text(second_report(d))


def second_markdown(d: SecondDerivation) -> str:
    return report_markdown(second_report(d))


def second_latex(d: SecondDerivation) -> str:
    return report_latex(second_report(d))


def second_html(d: SecondDerivation) -> str:
    return report_html(second_report(d))
