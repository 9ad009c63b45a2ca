r"""The expression calculator behind ``jacobian-calc expr``: text in, a proved Jacobian out.

:func:`calculate` takes an expression text such as ``"trace(A @ X @ B)"``, the shapes of
its variables and the variable to differentiate by; it parses the text with the safe
parser (:mod:`jacobian_calc.front.parse`), builds it with the expression API on seeded
random data, derives the closed form (:func:`~jacobian_calc.formula`, certified against
the literal Jacobian on fresh values; printed first), computes the literal Jacobian and the
derivation, and verifies the Jacobian
(:mod:`jacobian_calc.verify.compare`) against central differences of the expression's
value, evaluated straight from the parsed text with the operations' forward functions —
nothing of the literal machinery takes part in the check.

Random data is drawn so the expression is defined, following the domain rules of the
operations the text uses (:mod:`jacobian_calc.ops.domain`): a square matrix inside an
operation that needs it invertible (inv, logdet) or square (det) is I + E with
‖E‖₂ = ½ (condition number ≤ 3, determinant > 0); a variable under an operation that needs
positive entries (log, a fractional or negative power) has entries in [0.5, 2] — except
that a variable reached there through an operation that declares ``positive_on`` (det:
``log(det(X))``) gets that hint, I + E, whose determinant is positive; the target of a
loss that prefers "probability" data (the cross-entropy), when it is a variable, is a
probability vector (positive entries, each column summing to 1). All of these are read
from the operations table; none is written here for a particular operation.
``random_values`` reads these hints for ``expr``, ``grade`` and
:func:`jacobian_calc.testing.diagnose`, and draws through
:func:`jacobian_calc.ops.domain.draw`, as :func:`jacobian_calc.formula`'s certificate does.

The work of a calculation is bounded: every dimension at most :data:`MAX_SIDE`, every
variable at most :data:`MAX_ENTRIES` entries, and the derivation's literal factors,
products and order searches at most :data:`WORK_ENTRIES` entries and
:data:`WORK_OPERATIONS` multiply-adds, checked before anything is built.

Examples
--------
>>> calc = calculate("trace(A @ X)", {"A": (2, 3), "X": (3, 2)}, wrt="X", seed=1)
>>> calc.jacobian.shape, calc.ok
((1, 6), True)
>>> import json
>>> json.loads(render_calculation(calc, "json"))["verification"]["ok"]
True
"""

from __future__ import annotations

import ast
import keyword
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from typing import Any, Callable

import numpy as np

from ..core.errors import ChoiceError, DomainError, JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian
from ..core.limits import work_limit
from ..core.notation import dims
from ..engine.derivation import Derivation
from ..engine.formulas import Formula
from ..ops import TABLE, domain
from ..render import FORMATS, render
from ..render.data import json_values
from ..render.report import Lines, Report
from ..verify.compare import ATOL, ENTRY_LIMIT, RTOL, Comparison, verify_jacobian
from .expr import Expr, derivation, formula, jacobian, var
from .parse import call_parts, parse_expression, validate

__all__ = [
    "Calculation",
    "MAX_SIDE",
    "MAX_ENTRIES",
    "WORK_ENTRIES",
    "WORK_OPERATIONS",
    "parse_shape",
    "random_values",
    "data_notes",
    "calculate",
    "calculation_report",
    "render_calculation",
]

MAX_SIDE = 64  # a teaching calculator: every dimension at most this
MAX_ENTRIES = 1024  # and every variable at most this many entries
WORK_ENTRIES = 32_000_000  # entries built and kept (≈ 256 MB of float64)
WORK_OPERATIONS = 2_000_000_000  # multiply-adds and entries written (a few seconds)
#: Entry-by-entry finite differences evaluate the expression 2·size(X) times: they are
#: taken while size(X) × (operations in the text) stays below this.
ENTRY_CHECK_BUDGET = 50_000
SMALL = 400  # print the entries of a Jacobian with at most this many

_SHAPE = re.compile(r"\s*(\d{1,6})\s*(?:[x×X*]\s*(\d{1,6})\s*)?\Z")
_EXPECTED = ("expected NAME=MxN for a matrix (e.g. A=3x4), NAME=N for a vector (e.g. x=5) "
             "or NAME=scalar")


def parse_shape(spec: str) -> tuple[str, tuple[int, ...]]:
    """Read one ``--shape``: ``"A=3x4"``, ``"x=5"`` (a vector) or ``"c=scalar"``.

    Examples
    --------
    >>> parse_shape("A=3x4"), parse_shape("x = 5"), parse_shape("c=scalar")
    (('A', (3, 4)), ('x', (5,)), ('c', ()))
    >>> parse_shape("A=3by4")
    Traceback (most recent call last):
    ...
    jacobian_calc.ShapeError: malformed --shape 'A=3by4': expected NAME=MxN for a matrix (e.g. A=3x4), NAME=N for a vector (e.g. x=5) or NAME=scalar
    """
    text = str(spec)
    shown = text if len(text) <= 40 else text[:37] + "..."
    name, sep, size = text.partition("=")
    name = name.strip()
    if not sep:
        raise ShapeError(f"malformed --shape {shown!r}: no '='; {_EXPECTED}")
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__") \
            or name.endswith("__"):
        raise ShapeError(f"malformed --shape {shown!r}: {name[:30]!r} is not a valid variable "
                         f"name (letters, digits and _, not a Python keyword, no leading or "
                         f"trailing __); {_EXPECTED}")
    if size.strip().lower() == "scalar":
        return name, ()
    digits = re.fullmatch(r"\s*(\d+)\s*(?:[x×X*]\s*(\d+)\s*)?", size)
    if digits and any(g is not None and len(g) > 6 for g in digits.groups()):
        raise ShapeError(f"--shape {shown!r}: every dimension must be between 1 and {MAX_SIDE}")
    m = _SHAPE.match(size)
    if not m:
        raise ShapeError(f"malformed --shape {shown!r}: {_EXPECTED}")
    shape = tuple(int(g) for g in m.groups() if g is not None)
    if any(not 1 <= n <= MAX_SIDE for n in shape):
        raise ShapeError(f"--shape {shown!r}: every dimension must be between 1 and {MAX_SIDE}")
    if prod(shape) > MAX_ENTRIES:
        raise ShapeError(f"--shape {shown!r}: {prod(shape)} entries; at most {MAX_ENTRIES} "
                         f"per variable")
    return name, shape


def check_declared(shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Refuse two declared names that Python reads as the same identifier (``X`` and ``𝐗``).

    Python folds identifiers to NFKC, so ``𝐗`` in an expression *is* ``X``; declaring both
    would silently make one of them unreachable.
    """
    folded: dict[str, str] = {}
    for name in shapes:
        key = unicodedata.normalize("NFKC", name)
        if key in folded:
            raise JacobianCalcError(
                f"--shape {name!r} and --shape {folded[key]!r} are the same variable to the "
                f"parser (Python reads both as {key!r}); declare one of them")
        folded[key] = name


# --------------------------------------------------------------- domain-driven data
def _names_under(node: ast.AST, hint: str, wanted: dict[str, set[str]]) -> None:
    """Add the variables inside ``node`` to ``wanted[hint]``; under "positive", the
    variables of an operation that declares ``positive_on`` (det: "invertible") get that
    hint instead, since positive entries would not make its value positive."""
    functions = TABLE.functions()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name):
            wanted[hint].add(n.id)
            continue
        if hint == "positive" and isinstance(n, ast.Call) and isinstance(n.func, ast.Name) \
                and n.func.id in functions and functions[n.func.id].positive_on:
            _names_under(n.args[0], functions[n.func.id].positive_on, wanted)
            continue
        stack.extend(c for c in ast.iter_child_nodes(n)
                     if not (isinstance(n, ast.Call) and c is n.func))


def _special_variables(tree: ast.Expression) -> dict[str, set[str]]:
    """Which variables need special data:
    ``{"positive": {...}, "invertible": {...}, "probability": {...}}``.

    Read from the domain rules of the operations the text uses: a call of a function,
    or ``**`` with its constant exponent. A "probability" hint (a loss's target) applies
    to an argument that is a variable itself.
    """
    functions = TABLE.functions()
    wanted: dict[str, set[str]] = {"positive": set(), "invertible": set(),
                                   "probability": set()}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in functions:
            op = functions[node.func.id]
            args, given = call_parts(node)
            params = op.check_params(given)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = _constant(node.right)
            if exponent is None:
                continue
            op, args, params = TABLE["power"], [node.left], {"p": exponent}
        else:
            continue
        for rule in op.domain:
            if rule.sample in ("positive", "invertible") and rule.applies(params):
                for i in rule.on:
                    if i < len(args):
                        _names_under(args[i], rule.sample, wanted)
            elif rule.sample == "probability" and rule.applies(params):
                wanted["probability"].update(args[i].id for i in rule.on
                                             if i < len(args) and isinstance(args[i], ast.Name))
    return wanted


def _constant(node: ast.AST) -> float | None:
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * float(node.value)
    return None


def data_notes(shapes: Mapping[str, tuple[int, ...]], tree: ast.Expression) -> list[str]:
    """How :func:`random_values` chose each variable that is not plain standard normal."""
    special = _special_variables(tree)
    notes = []
    for name, shape in shapes.items():
        hint = _hint(name, shape, special)
        if hint == "probability":
            notes.append(f"{name}: a probability vector (entries uniform in [0.5, 2], each "
                         f"column divided by its sum: the target of a cross-entropy)")
        elif hint == "positive":
            notes.append(f"{name}: entries uniform in [0.5, 2] (an operation needs them "
                         f"positive: log, a fractional or a negative power)")
        elif hint == "invertible":
            notes.append(f"{name}: I + E with ‖E‖₂ = ½ (inside inv/det/logdet: condition "
                         f"number ≤ 3, det > 0)")
    return notes


def random_values(shapes: Mapping[str, tuple[int, ...]], tree: ast.Expression, seed: int
                  ) -> dict[str, np.ndarray]:
    """Seeded random values, in the order the variables are declared (see the module notes)."""
    rng = np.random.default_rng(seed)
    special = _special_variables(tree)
    values = {}
    for name, shape in shapes.items():
        values[name] = domain.draw(shape, _hint(name, shape, special), rng)
    return values


def _hint(name: str, shape: tuple[int, ...], special: Mapping[str, set[str]]) -> str | None:
    """The one sample hint a variable's data follows: positive entries win over a target
    distribution, which wins over I + E; a hint that does not fit the shape is dropped."""
    if name in special["positive"]:
        return "positive"
    if name in special["probability"] and len(shape) in (1, 2):
        return "probability"
    if name in special["invertible"] and len(shape) == 2 and shape[0] == shape[1]:
        return "invertible"
    return None


# -------------------------------------------------------------- numeric evaluation
def _column_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim == 1 and b.ndim == 2 and b.shape[0] == 1:
        a = a.reshape(-1, 1)  # a vector is a column: x @ yᵀ is the outer product
    return a @ b


def _transpose(a: np.ndarray) -> np.ndarray:
    return a[None, :] if a.ndim == 1 else a.T


_NUMERIC_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
    ast.MatMult: _column_matmul, ast.Pow: np.power,
}


def evaluate(tree: ast.Expression, values: Mapping[str, np.ndarray],
             functions: Mapping[str, Callable[..., Any]] | None = None) -> np.ndarray:
    """The value of a validated expression from the operations' forward functions alone.

    No graph, no factor: this is what the finite differences differentiate.

    Parameters
    ----------
    tree : ast.Expression
        Validated by :func:`~jacobian_calc.front.parse.validate`.
    values : mapping of str to ndarray
    functions : mapping of str to callable, optional
        Functions beyond the operations table, by name, taking and returning arrays
        (the grader's ``kron``, ``eye``, …); they are looked up first.

    Raises
    ------
    ShapeError
        An operation's operands do not fit (numpy refused them); the message names the
        sub-expression and the operands' shapes.
    """
    table = TABLE.functions()
    extra = functions or {}

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.Attribute):
            return _transpose(ev(node.value))
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            return _numeric(node, lambda: _NUMERIC_BINOPS[type(node.op)](left, right),
                            (left, right))
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            if name in extra:
                args = [np.asarray(ev(a), dtype=np.float64) for a in node.args]
                return _numeric(node, lambda: extra[name](*args), args)
            op = table[name]
            exprs, given = call_parts(node)  # parameters such as a stride, checked
            params = op.check_params(given)
            args = [np.asarray(ev(a), dtype=np.float64) for a in exprs]
            return _numeric(node, lambda: op.forward(*args, **params), args)
        raise JacobianCalcError(f"cannot evaluate {type(node).__name__}")

    with np.errstate(all="ignore"):
        return np.asarray(ev(tree.body), dtype=np.float64)


def _numeric(node: ast.AST, thunk: Callable[[], Any], operands: Any) -> Any:
    """Run one numpy operation; operands that do not fit become a ShapeError naming them."""
    try:
        return thunk()
    except JacobianCalcError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        shapes = " and ".join(dims(np.shape(a)) or "scalar" for a in operands)
        # numpy's own words add nothing to a product whose inner sizes differ
        why = "" if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) \
            else f": {exc}"
        raise ShapeError(f"{ast.unparse(node)}: the operands do not fit ({shapes}){why}"
                         ) from None


# ----------------------------------------------------------------------- the record
@dataclass
class Calculation:
    """Everything ``jacobian-calc expr`` prints: formula, inputs, Jacobian, derivation, verification.

    ``formula`` is the certified closed form (``None`` only when it would be too large to
    write; the notes then say so).
    """

    source: str
    wrt: str
    seed: int
    shapes: dict[str, tuple[int, ...]]
    values: dict[str, np.ndarray]
    text: str  # the expression as the expression layer writes it
    value: np.ndarray
    jacobian: Jacobian
    derivation: Derivation | None  # None when the expression is the variable itself
    checks: tuple[Comparison, ...]
    notes: tuple[str, ...] = ()
    formula: Formula | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def max_relative_error(self) -> float:
        return max((c.relative for c in self.checks), default=0.0)


def calculate(source: str, shapes: Mapping[str, tuple[int, ...]], wrt: str, *,
              seed: int = 0, rtol: float = RTOL, atol: float = ATOL, directions: int = 8,
              max_values: int | None = None) -> Calculation:
    """Parse, build on random data, differentiate by ``wrt`` and verify.

    Parameters
    ----------
    source : str
    shapes : mapping of str to tuple
        The declared variables and their shapes.
    wrt : str
    seed : int
    rtol, atol : float
        The verdict's tolerances (:mod:`jacobian_calc.verify.compare`).
    directions : int
        Random directions of the Gâteaux check.
    max_values : int, optional
        The most values a printed step shows.

    Raises
    ------
    ExpressionSyntaxError
        Malformed text or a construct outside the whitelist (with position and reason).
    WorkLimitError
        The derivation would build more than the calculator's bound.
    JacobianCalcError
        ``wrt`` not declared, shapes that do not fit (from the expression layer), …
    """
    shapes = {str(k): tuple(v) for k, v in shapes.items()}
    check_declared(shapes)
    declared = ", ".join(shapes) or "(none)"
    if wrt not in shapes:
        folded = {unicodedata.normalize("NFKC", n): n for n in shapes}
        hint = (f" (did you mean {folded[unicodedata.normalize('NFKC', wrt)]!r}?)"
                if unicodedata.normalize("NFKC", wrt) in folded else "")
        raise JacobianCalcError(f"--wrt {wrt!r} is not a declared variable{hint}; declared "
                                f"with --shape: {declared}")
    tree = validate(source, list(shapes))
    values = random_values(shapes, tree, seed)
    with work_limit(WORK_ENTRIES, WORK_OPERATIONS):
        env = {name: var(name, value) for name, value in values.items()}
        F = parse_expression(source, env)
        if not isinstance(F, Expr):
            raise JacobianCalcError(f"the expression {source!r} is a constant ({F!r}); it must "
                                    f"use at least one declared variable")
        X = env[wrt]
        # The expression that is just the variable has no chain to derive:
        # ∂vec(X)/∂vec(X) = I. Otherwise the derivation's result is the Jacobian.
        d = None if F.node is X.node else derivation(F, X, max_values=max_values)
        J = jacobian(F, X) if d is None else d.result
        closed = formula(F, X) if d is None else d.formula
    checks = _verify(tree, values, wrt, J, len(list(ast.walk(tree))), rtol, atol, directions,
                     seed)
    return Calculation(source, wrt, seed, shapes, values, F.text, np.array(F.value), J, d,
                       tuple(checks), tuple(data_notes(shapes, tree)), closed)


def _verify(tree: ast.Expression, values: Mapping[str, np.ndarray], wrt: str, J: Jacobian,
            size: int, rtol: float, atol: float, directions: int, seed: int
            ) -> list[Comparison]:
    """The literal Jacobian against central differences of the value, from the text alone."""
    def f(point: np.ndarray) -> np.ndarray:
        trial = dict(values)
        trial[wrt] = point
        out = evaluate(tree, trial)
        if not np.all(np.isfinite(out)):
            raise DomainError("the expression is not finite near the random point; the finite "
                              "differences cannot be taken (try another --seed)")
        return out

    x = values[wrt]
    entries = x.size <= ENTRY_LIMIT and x.size * size <= ENTRY_CHECK_BUDGET
    return verify_jacobian(f, x, J, directions=directions, entries=entries, seed=seed,
                           rtol=rtol, atol=atol)


# ---------------------------------------------------------------------- rendering
def _shapes_text(shapes: Mapping[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{n} {dims(s) if s else 'scalar'}" for n, s in shapes.items())


def _verdicts(calc: Calculation) -> list[str]:
    return [f"Verification, {c.describe()}" for c in calc.checks]


def calculation_report(calc: Calculation) -> Report:
    """The calculation as a :class:`~jacobian_calc.render.report.Report`, for every format.

    The formula comes first (the answer a student writes), then the expression and its
    data, the literal Jacobian, the derivation and the verification.
    """
    J, d, f = calc.jacobian, calc.derivation, calc.formula
    if f is not None:
        first: list[Any] = [f, ""]
    else:
        first = [Lines.of("Formula: none (it would be too large to write; see the notes)"), ""]
    head = Lines.of(
        f"Expression: {calc.source}",
        f"  read as {calc.text}, value {dims(calc.value.shape) if calc.value.shape else 'scalar'}",
        f"Variables (random, seed {calc.seed}): {_shapes_text(calc.shapes)}",
        *(f"  {note}" for note in calc.notes),
        "", "Literal Jacobian:")
    blocks: list[Any] = first + [head, J, ""]
    if d is None:
        blocks.append(Lines.of(f"No chain to derive: the expression is {calc.wrt} itself, so "
                               f"∂vec({calc.wrt})/∂vec({calc.wrt}) is the identity."))
    else:
        blocks.append(d)
    blocks += ["", Lines(tuple(_verdicts(calc)))]
    small = prod(J.shape) <= SMALL
    data = {
        "formula": None if f is None else render(f, "dict"),
        "expression": calc.source,
        "wrt": calc.wrt,
        "seed": calc.seed,
        "read_as": calc.text,
        "variables": {n: {"shape": list(s), "value": calc.values[n].tolist()}
                      for n, s in calc.shapes.items()},
        "data_notes": list(calc.notes),
        "value": {"shape": list(calc.value.shape), "entries": calc.value.tolist()},
        "jacobian": {
            "symbol": J.symbol,
            "shape": list(J.shape),
            "storage": "sparse" if J.issparse else "dense",
            "stored_entries": J.nnz,
            "entries": json_values(J.toarray()) if small else None,
        },
        "gradient": None if d is None or d.gradient is None else json_values(d.gradient),
        "derivation": None if d is None else {
            "title": d.title,
            "path_count": d.path_count,
            "paths": [[{"symbol": f.symbol, "label": f.label, "shape": list(f.shape),
                        "sparse": f.sparse} for f in path] for path in d.paths],
            "dimension_checks": list(d.path_checks),
            "text": d.to_text(),
        },
        "verification": {
            "checks": [{"method": c.method, "error": c.error, "scale": c.scale,
                        "relative_error": c.relative, "rtol": c.rtol, "atol": c.atol,
                        "ok": c.ok} for c in calc.checks],
            "max_relative_error": calc.max_relative_error,
            "ok": calc.ok,
        },
    }
    return Report(blocks, data, d.max_values if d is not None else None)


def render_calculation(calc: Calculation, fmt: str = "text") -> str:
    """The calculation as ``text``, ``markdown``, ``latex`` or ``json`` (the render layer's formats)."""
    if fmt not in FORMATS:
        raise ChoiceError("format", fmt, FORMATS)
    return str(render(calculation_report(calc), fmt))
