"""Plain text: a Jacobian's summary line and entries, and a derivation step by step.

The text form is what ``print`` shows and what ``jacobian-calc`` writes by default: each
step with its factor, label, lecture equation and eq (33) dimension check, then the
numbers (up to a limit the caller sets), the chain of every listed path, Lemma 2.6 in
matrix form and the evaluation-order report.
"""

from __future__ import annotations

from math import prod

import numpy as np
import scipy.sparse as sp

from ..core.jacobian import Jacobian
from ..core.notation import dims, flat_name, pretty
from ..core.structure import Diagonal, Identity, Kron, KronSum
from ..engine.derivation import Derivation, row_symbol

__all__ = ["DEFAULT_MAX_VALUES", "storage_text", "jacobian_summary", "jacobian_text",
           "values_text", "derivation_text"]

#: Values printed per step, path and gradient unless the caller says otherwise.
DEFAULT_MAX_VALUES = 60
#: A Jacobian prints its entries when it has at most this many.
_JACOBIAN_ENTRIES = 400


def storage_text(J: Jacobian) -> str:
    """How a Jacobian is stored: ``dense``, ``sparse csr, 12 stored entries``, ``Kronecker …``."""
    s = J.storage
    if isinstance(s, Identity):
        return "identity, nothing stored" if s.scale == 1 else "scaled identity"
    if isinstance(s, Diagonal):
        return f"diagonal, {s.nnz} stored entries"
    if isinstance(s, Kron):
        kind = "dense" if s.dense else "sparse"
        return f"{kind} Kronecker product, {s.nnz} entries kept as its factors ({s.nbytes} bytes)"
    if isinstance(s, KronSum):
        return (f"sum of {len(s.terms)} Kronecker products, kept as their factors "
                f"({s.nbytes} bytes)")
    if sp.issparse(s):
        return f"sparse {s.format}, {s.nnz} stored entries"
    return "dense"


def jacobian_summary(J: Jacobian) -> str:
    """One line: symbol, label, shape and storage."""
    label = f" = {J.label}" if J.label else ""
    return f"{J.symbol}{label}  ({dims(J.shape)}, {storage_text(J)})"


def jacobian_text(J: Jacobian) -> str:
    """The summary line, then the entries of a small Jacobian."""
    if prod(J.shape) <= _JACOBIAN_ENTRIES:
        body = np.array2string(J.toarray() + 0.0, precision=4, suppress_small=True,
                               max_line_width=120)
        return f"{jacobian_summary(J)}\n{body}"
    return jacobian_summary(J)


def values_text(value: Jacobian | np.ndarray, indent: str, limit: int | None) -> str:
    """``= [[…]]`` under a step, or a note that there are too many values to print."""
    shape = value.shape
    limit = DEFAULT_MAX_VALUES if limit is None else limit
    if prod(shape) > limit:
        return (f"{indent}= ({dims(shape)}: {prod(shape):,} values, more than {limit:,} to "
                f"print; raise the limit with max_values)")
    arr = value.toarray() if isinstance(value, Jacobian) else np.asarray(value)
    body = np.array2string(arr[0] if arr.ndim and arr.shape[0] == 1 else arr, precision=4,
                           suppress_small=True, max_line_width=100, threshold=max(limit, 1))
    return "\n".join(f"{indent}{'= ' if i == 0 else '  '}{line}"
                     for i, line in enumerate(body.splitlines()))


def _eq(eqs: dict[str, str], key: str) -> str:
    return f", eq {eqs[key]}" if key in eqs else ""


def derivation_text(d: Derivation, max_values: int | None = None) -> str:
    """The derivation as plain text, one block per step.

    Parameters
    ----------
    d : Derivation
    max_values : int, optional
        Print a value with at most this many entries (default: the derivation's own
        ``max_values``, else :data:`DEFAULT_MAX_VALUES`).
    """
    limit = max_values if max_values is not None else d.max_values
    eqs = d.equations
    out = [f"Derivation of {d.title}{_eq(eqs, 'title')}"]
    out += [f"  {line}" for line in d.setting]
    out.append("")
    for k, step in enumerate(d.steps, 1):
        for j, ((prev, _, f), check) in enumerate(zip(step.terms, step.checks)):
            lead = (f"Step {k}  {step.target} = " if j == 0
                    else " " * (len(f"Step {k}  {step.target}") + 1) + "+ ")
            product = f.label if prev is None else f"{prev} · {f.symbol}"
            where = "" if prev is None else f"    where {f.symbol} = {f.label}"
            eq = f", eq ({f.equation})" if f.equation else ""
            store = f", sparse, {f.nnz} stored" if f.sparse else ""
            out.append(f"{lead}{product}{where}{eq}{store}")
            out.append(f"        dimensions: {check}")
        out.append(values_text(step.result, "        ", limit))
    out.append("")
    listed = len(d.paths)
    for i, (p, check) in enumerate(zip(d.paths, d.path_checks)):
        which = f", path {i + 1} of {d.path_count:,}" if d.path_count > 1 else ""
        out.append(f"Chain rule{_eq(eqs, 'chain')}{which}:")
        lhs = row_symbol(d.result)
        out.append(f"  {lhs} = " + " · ".join(f.symbol for f in p))
        out.append(f"  {' ' * len(lhs)} = " + " · ".join(f.label for f in p))
        out.append(f"  dimension check: {check}")
        if i < len(d.path_values):
            out.append(values_text(d.path_values[i], "  ", limit))
    if d.path_count > 1:
        shown = "" if listed == d.path_count else f" ({listed} listed above)"
        out.append(f"  {d.result.symbol} is the sum of these {d.path_count:,} paths{shown}")
    if d.gradient is not None:
        out.append("")
        name = flat_name(d.wrt, d.gradient.shape)
        out.append(f"Reshape {name} back to the shape of {pretty(d.wrt)} (unvec, eq 23–25): "
                   f"∂{pretty(d.of)}/∂{pretty(d.wrt)} is {dims(d.gradient.shape) or 'a scalar'}")
    if d.matrix_form is not None:
        mf = d.matrix_form
        out.append(f"Lemma 2.6 in matrix form{_eq(eqs, 'matrix')}:")
        out.append(f"  ∂{pretty(d.of)}/∂{pretty(d.wrt)} = " + " · ".join(mf.factors))
        out.append(f"  dimension check{_eq(eqs, 'check')}: {mf.check}")
    if d.gradient is not None:
        out.append(values_text(d.gradient, "  ", limit))
    for k, report in enumerate(d.costs, 1):
        which = f" of path {k}" if len(d.costs) > 1 else ""
        out.append(f"Evaluation order{which}, multiply-adds (cost model of "
                   f"jacobian_calc.engine.cost):")
        out += [f"  {line}" for line in report.lines()]
    out += [f"Note: {n}" for n in d.notes]
    return "\n".join(out)
