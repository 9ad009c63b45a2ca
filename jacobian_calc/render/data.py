"""JSON-ready data: a Jacobian or a derivation as plain ``dict``/``list``/``str``/``float``.

``json.dumps`` accepts what these functions return as it is; non-finite numbers become
``None``, and values are given in full up to :data:`JSON_ENTRIES` entries, else ``None``.
"""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np

from ..core.jacobian import Jacobian
from ..engine.derivation import Derivation, FactorInfo
from ..engine.formulas import Formula
from .latex import derivation_title_latex

__all__ = ["JSON_ENTRIES", "json_values", "jacobian_to_dict", "factor_dict",
           "derivation_to_dict", "formula_to_dict"]

#: Values in JSON output are given in full up to this many entries, else ``None``.
JSON_ENTRIES = 100_000


def json_values(arr: Any) -> Any:
    """Nested lists of floats (non-finite → None), or None when too big to list."""
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size > JSON_ENTRIES:
        return None
    if np.all(np.isfinite(arr)):
        return arr.tolist()
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def jacobian_to_dict(J: Jacobian) -> dict[str, Any]:
    """The Jacobian as JSON-ready data: names, shapes, label, storage and (if not huge) entries.

    ``"entries"`` is the dense matrix as nested lists when it has at most 100 000 entries,
    else ``None`` (the sparse pattern is not serialised).

    Examples
    --------
    >>> import json
    >>> from jacobian_calc import linear_weight_jacobian, Jacobian
    >>> J = Jacobian(linear_weight_jacobian([1.0, 2.0], 2), of="h", wrt="W", of_shape=(2,),
    ...              wrt_shape=(2, 2), label="(x₁I₂, x₂I₂)")
    >>> data = json.loads(json.dumps(jacobian_to_dict(J)))
    >>> data["symbol"], data["shape"], data["entries"][1]
    ('∂h/∂vec(W)', [2, 4], [0.0, 1.0, 0.0, 2.0])
    """
    entries = json_values(J.toarray()) if prod(J.shape) <= JSON_ENTRIES else None  # no blow-up
    return {
        "symbol": J.symbol,
        "latex_symbol": J.latex_symbol,
        "of": J.of,
        "wrt": J.wrt,
        "of_shape": list(J.of_shape),
        "wrt_shape": list(J.wrt_shape),
        "shape": list(J.shape),
        "label": J.label,
        "latex": J.latex,
        "equation": J.equation,
        "sparse": J.issparse,
        "nnz": J.nnz,
        "entries": entries,
    }


def factor_dict(f: FactorInfo) -> dict[str, Any]:
    return {"symbol": f.symbol, "label": f.label, "latex_symbol": f.latex_symbol,
            "latex": f.latex, "shape": list(f.shape), "equation": f.equation,
            "sparse": f.sparse, "nnz": f.nnz}


def derivation_to_dict(d: Derivation) -> dict[str, Any]:
    """The derivation as JSON-ready data (see the module notes); values in full.

    Keys: ``of, wrt, title, title_latex, equations, setting, steps, paths (each with
    its factors, check and, for a few paths, its own value), costs (multiply-adds of
    reverse, forward and the cheapest order), matrix_form, result, gradient, notes``. Each step lists its terms (previous
    symbol, factor, dimension check) and its value, the running row product.
    """
    steps = []
    for step in d.steps:
        terms = [{"previous": prev, "previous_latex": prev_tex, "factor": factor_dict(f),
                  "check": check}
                 for (prev, prev_tex, f), check in zip(step.terms, step.checks)]
        steps.append({"target": step.target, "target_latex": step.target_latex,
                      "terms": terms, "shape": list(step.result.shape),
                      "value": json_values(step.result.toarray())
                      if prod(step.result.shape) <= JSON_ENTRIES else None})
    mf = d.matrix_form
    return {
        "of": d.of,
        "wrt": d.wrt,
        "title": d.title,
        "title_latex": derivation_title_latex(d),
        "equations": dict(d.equations),
        "setting": list(d.setting),
        "steps": steps,
        "paths": [{"factors": [factor_dict(f) for f in p], "check": check,
                   "value": (json_values(d.path_values[k].toarray())
                             if k < len(d.path_values) else None)}
                  for k, (p, check) in enumerate(zip(d.paths, d.path_checks))],
        "costs": [{"reverse": c.reverse, "forward": c.forward, "optimal": c.optimal.cost,
                   "optimal_order": c.optimal.describe(c.names), "winner": c.winner}
                  for c in d.costs],
        "matrix_form": None if mf is None else {
            "factors": list(mf.factors), "latex_factors": list(mf.latex_factors),
            "check": mf.check, "equation": mf.equation},
        "result": jacobian_to_dict(d.result),
        "gradient": None if d.gradient is None else json_values(np.asarray(d.gradient)),
        "gradient_shape": None if d.gradient is None else list(np.shape(d.gradient)),
        "notes": list(d.notes),
        "formula": None if d.formula is None else formula_to_dict(d.formula),
    }


def _form(form: Any) -> dict[str, str] | None:
    return None if form is None else {"text": form.text, "latex": form.latex}


def formula_to_dict(f: Formula) -> dict[str, Any]:
    """The formula as JSON-ready data: forms, definitions, steps, certificate."""
    cert = f.certificate
    return {
        "symbol": _form(f.symbol),
        "kind": f.kind,
        "text": f.text,
        "latex": f.latex,
        "equation": _form(f.equation),
        "variables": list(f.variables),
        "definitions": [{"name": sym.name, "symbol": _form(sym.written),
                         "definition": _form(d.form)} for sym, d in f.definitions],
        "complete": f.complete,
        "certified": f.certified,
        "certificate": None if cert is None else {
            "instances": [{"how": i.how, "error": i.error, "scale": i.scale,
                           "relative": i.relative} for i in cert.instances],
            "rtol": cert.rtol, "atol": cert.atol, "worst": cert.worst,
            "describe": cert.describe()},
        "steps": [{"kind": s.kind, "target": _form(s.target), "before": _form(s.before),
                   "after": _form(s.after), "rules": list(s.rules),
                   "source": _form(s.source), "value": _form(s.value),
                   "simplified": list(s.simplified)} for s in f.steps],
        "notes": list(f.notes),
    }
