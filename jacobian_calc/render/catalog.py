r"""The documented list of operations, generated from the operations table.

The documentation never lists the functions by hand: its build calls
:func:`functions_page`, which writes one row per entry of :data:`jacobian_calc.ops.TABLE`
— spellings, family, arity, how the result and each literal factor are written, domain —
and an ``autofunction`` directive for every function. An operation added with
:mod:`jacobian_calc.extend` appears in it like the built-in ones.

>>> rows = operation_rows()
>>> row = next(r for r in rows if r["name"] == "inv")
>>> row["spellings"], row["result"], row["factors"]
(['inv'], 'X⁻¹', ['−(X⁻ᵀ⊗X⁻¹)'])
"""

from __future__ import annotations

from typing import Any

from ..ops import TABLE
from ..ops.base import Operation

__all__ = ["operation_rows", "operations_markdown", "functions_page"]

#: Names the arguments take in the catalogue, by arity.
_ARGUMENTS = {1: ("X",), 2: ("A", "B")}


class _Placeholder:
    """What a template's field functions read of a node, without a node: defaults only."""

    def __init__(self, op: Operation) -> None:
        self.params = {p.name: p.default for p in op.params if p.default is not None}
        self.args = ()


def _written(template: Any, op: Operation, field_fn: Any, latex: bool) -> str:
    """A template filled with placeholder arguments; fields that need a node show their names."""
    names = _ARGUMENTS.get(op.arity, tuple(f"X{i + 1}" for i in range(op.arity)))
    fields: dict[str, Any] = {str(i): n for i, n in enumerate(names)}
    for fn in (op.fields, field_fn):
        if fn is not None:
            try:
                fields.update(fn(_Placeholder(op)))
            except (KeyError, AttributeError, TypeError, ValueError, IndexError):
                pass  # a field computed from the values: shown by its name below
    fields.update({f: f for f in template.fields if f not in fields})
    return template.latex(**fields) if latex else template.text(**fields)


def operation_rows() -> list[dict[str, Any]]:
    """One record per operation: name, spellings, family, arity, result and factor notation."""
    rows = []
    for op in TABLE.values():
        rows.append({
            "name": op.name, "spellings": list(op.spellings), "family": op.family,
            "arity": op.arity, "result": _written(op.notation, op, None, False),
            "result_latex": _written(op.notation, op, None, True),
            "factors": [_written(p.label, op, p.fields, False) for p in op.partials],
            "factors_latex": [_written(p.label, op, p.fields, True) for p in op.partials],
            "domain": [r.sample for r in op.domain if r.sample], "summary": op.summary,
            "roles": sorted(op.roles), "parser": op.parser,
        })
    return rows


def operations_markdown() -> str:
    """The table of every operation as Markdown (math in ``$…$``)."""
    out = ["| operation | called as | family | result | literal factor(s) | summary |",
           "|---|---|---|---|---|---|"]
    for r in operation_rows():
        called = ", ".join(f"`{s}`" for s in r["spellings"]) or "an operator"
        result = f"${r['result_latex']}$" if r["result_latex"] else ""
        factors = "; ".join(f"${f}$" for f in r["factors_latex"] if f) or "(depends on shapes)"
        summary = r["summary"].replace("|", r"\|")
        out.append(f"| `{r['name']}` | {called} | {r['family']} | {result} | {factors} | "
                   f"{summary} |")
    return "\n".join(out) + "\n"


def functions_page() -> str:
    """The generated page: the operations table, then an ``autofunction`` per function."""
    directives = "\n".join(f".. autofunction:: jacobian_calc.{name}"
                           for name in TABLE.functions())
    return ("Every operation of the table, as :mod:`jacobian_calc.ops` defines it (this page is "
            "generated from the table when the documentation is built):\n\n"
            + operations_markdown()
            + "\nThe functions, ``jc.<name>``:\n\n```{eval-rst}\n" + directives + "\n```\n")
