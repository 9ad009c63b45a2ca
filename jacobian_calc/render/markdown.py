"""Markdown: a Jacobian or a derivation as a paragraph with its formulas in ``$$ … $$``.

Markdown uses ``$…$`` and ``$$…$$`` for mathematics (as Jupyter and MyST do) and writes
dimension checks as plain text (``(3×3)·(3×2)·(2×1)·(1×5) → 3×5``). This is what Jupyter
shows for a :class:`~jacobian_calc.Jacobian` or a derivation (``_repr_markdown_``).
"""

from __future__ import annotations

import re


from ..core.jacobian import Jacobian
from ..core.notation import dims, pretty
from ..engine.derivation import Derivation
from .latex import derivation_title_latex, jacobian_latex, matrix_latex
from .text import storage_text

__all__ = ["markdown_escape", "jacobian_markdown", "derivation_markdown"]

_CDOT = r" \cdot "


def _md_eq(eq: str | None) -> str:
    if not eq:
        return ""
    return f"eq {eq if eq.startswith('(') else f'({eq})'}"


def markdown_escape(text: str) -> str:
    """Plain text for Markdown: the characters that would start emphasis or a table cell."""
    return re.sub(r"([\\*_|`$<>])", r"\\\1", text)


def jacobian_markdown(J: Jacobian) -> str:
    """A Markdown paragraph naming the Jacobian, then its LaTeX formula in ``$$ … $$``.

    Examples
    --------
    >>> import numpy as np
    >>> from jacobian_calc import Jacobian
    >>> J = Jacobian(np.eye(2), of="y", wrt="x", of_shape=(2,), wrt_shape=(2,), label="I")
    >>> print(J._repr_markdown_().splitlines()[0])
    **∂y/∂x** = I — 2×2, dense
    """
    label = f" = {markdown_escape(J.label)}" if J.label else ""
    eq = f", {_md_eq(J.equation)}" if J.equation else ""
    head = f"**{markdown_escape(J.symbol)}**{label} — {dims(J.shape)}, {storage_text(J)}{eq}"
    return f"{head}\n\n$$\n{jacobian_latex(J)}\n$$\n"


def derivation_markdown(d: Derivation, heading: int = 3) -> str:
    """The derivation as Markdown: a heading, the setting, a table of steps, chains, checks.

    Parameters
    ----------
    heading : int
        Level of the title heading (``###`` by default); parts are bold paragraphs.
    """
    eqs = d.equations
    hashes = "#" * heading
    eq = f" — {_md_eq(eqs['title'])}" if "title" in eqs else ""
    out = [f"{hashes} Derivation of {markdown_escape(d.title)}{eq}", ""]
    out += [f"- {markdown_escape(line)}" for line in d.setting]
    out += ["", "**Steps, tail to head**", "",
            "| step | quantity | = | factor | eq | dimensions |",
            "|---:|---|---|---|---|---|"]
    for k, step in enumerate(d.steps, 1):
        for j, ((_, prev_tex, f), check) in enumerate(zip(step.terms, step.checks)):
            number = str(k) if j == 0 else ""
            target = f"${step.target_latex}$" if j == 0 else "+"
            if prev_tex is None:
                product, factor = f"${f.latex}$", ""
            else:
                product = rf"${prev_tex} \cdot {f.latex_symbol}$"
                factor = f"${f.latex_symbol} = {f.latex}$"
            if f.sparse:
                factor += f" (sparse, {f.nnz} stored)"
            out.append(f"| {number} | {target} | {product} | {factor} | "
                       f"{_md_eq(f.equation)} | {check} |")
    for p, check in zip(d.paths, d.path_checks):
        out += ["", f"**Chain rule{', ' + _md_eq(eqs['chain']) if 'chain' in eqs else ''}**", ""]
        target = d.steps[-1].target_latex if d.steps else d.result.latex_symbol
        out += ["$$",
                rf"{target} = {_CDOT.join(f.latex_symbol for f in p)}"
                rf" = {_CDOT.join(f.latex for f in p)}",
                "$$", "", f"dimension check: {check}"]
    if d.path_count > 1:
        out += ["", f"{markdown_escape(d.result.symbol)} is the sum of these {d.path_count:,} paths."]
    if d.matrix_form is not None:
        mf = d.matrix_form
        label = f", {_md_eq(eqs['matrix'])}" if "matrix" in eqs else ""
        out += ["", f"**Lemma 2.6 in matrix form{label}**", "", "$$",
                rf"{derivation_title_latex(d)} = {_CDOT.join(mf.latex_factors)}", "$$", "",
                f"dimension check{', ' + _md_eq(eqs['check']) if 'check' in eqs else ''}: "
                f"{mf.check}"]
    if d.gradient is not None:
        g = d.gradient
        shown = g if g.ndim == 2 else g.reshape(-1, 1)
        out += ["", f"**Value** ({dims(g.shape) or 'scalar'}, shaped like "
                    f"{markdown_escape(pretty(d.wrt))})", "", "$$",
                f"{derivation_title_latex(d)} = {matrix_latex(shown)}", "$$"]
    for k, report in enumerate(d.costs, 1):
        which = f", path {k}" if len(d.costs) > 1 else ""
        out += ["", f"**Evaluation order{which}** (multiply-adds, cost model of "
                    "`jacobian_calc.engine.cost`)", ""]
        out += [f"- {markdown_escape(line)}" for line in report.lines()]
    if d.notes:
        out.append("")
        out += [f"> {markdown_escape(n)}" for n in d.notes]
    return "\n".join(out) + "\n"
