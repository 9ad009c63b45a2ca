r"""The expression calculator behind ``jacobian-calc expr``: text in, a proved Jacobian out.

:func:`calculate` takes an expression text such as ``"trace(A @ X @ B)"``, the shapes of
its variables and the variable to differentiate by; it parses the text with the safe
parser (:mod:`jacobian_calc.parse`), builds it with the expression API on seeded random
data, computes the literal Jacobian and the derivation, and verifies the Jacobian against
central finite differences of the expression's value (re-evaluated from the text at
perturbed points, so the check uses nothing of the literal machinery).

Random data is chosen so the expression is defined: square matrices that appear inside
inv, det or logdet are I + E with ‖E‖₂ = ½ (condition number ≤ 3, determinant > 0), and
variables under log or a non-integer power get positive entries.

Examples
--------
>>> calc = calculate("trace(A @ X)", {"A": (2, 3), "X": (3, 2)}, wrt="X", seed=1)
>>> calc.jacobian.shape, calc.ok
((1, 6), True)
>>> import json
>>> json.loads(render(calc, "json"))["verification"]["ok"]
True
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from ..verify.check import finite_difference_jacobian, max_relative_error
from ..engine.derivation import Derivation
from ..core.errors import JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian
from ..core.notation import dims
from .parse import MATRIX_FUNCTIONS, parse_expression, validate

__all__ = [
    "Calculation",
    "FORMATS",
    "MAX_SIDE",
    "MAX_ENTRIES",
    "parse_shape",
    "random_values",
    "data_notes",
    "calculate",
    "render",
]

FORMATS = ("text", "markdown", "latex", "json")
MAX_SIDE = 64  # a teaching calculator: every dimension at most this
MAX_ENTRIES = 1024  # and every variable at most this many entries
FD_COLUMNS = 256  # beyond this many entries of the variable, check in random directions
SMALL = 400  # print the entries of a Jacobian with at most this many
MAX_WORK = 32_000_000  # entries of all literal factors together (≈ 256 MB if all dense)

_SHAPE = re.compile(r"\s*(\d+)\s*(?:[x×X*]\s*(\d+)\s*)?\Z")
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
    name, sep, size = str(spec).partition("=")
    name = name.strip()
    if not sep:
        raise ShapeError(f"malformed --shape {spec!r}: no '='; {_EXPECTED}")
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__") \
            or name.endswith("__"):
        raise ShapeError(f"malformed --shape {spec!r}: {name!r} is not a valid variable name "
                         f"(letters, digits and _, not a Python keyword, no dunder); {_EXPECTED}")
    if size.strip().lower() == "scalar":
        return name, ()
    m = _SHAPE.match(size)
    if not m:
        raise ShapeError(f"malformed --shape {spec!r}: {_EXPECTED}")
    shape = tuple(int(g) for g in m.groups() if g is not None)
    if any(not 1 <= n <= MAX_SIDE for n in shape):
        raise ShapeError(f"--shape {spec!r}: every dimension must be between 1 and {MAX_SIDE}")
    if prod(shape) > MAX_ENTRIES:
        raise ShapeError(f"--shape {spec!r}: {prod(shape)} entries; at most {MAX_ENTRIES} "
                         f"per variable")
    return name, shape


def _special_variables(tree: ast.Expression) -> tuple[set[str], set[str]]:
    """(variables inside inv/det/logdet, variables that must be positive)."""
    positive: set[str] = set()
    for node in ast.walk(tree):
        under = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "log":
            under = node.args
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            k = node.right
            sign = 1
            while isinstance(k, ast.UnaryOp):
                sign, k = (-sign if isinstance(k.op, ast.USub) else sign), k.operand
            if isinstance(k, ast.Constant) and float(k.value) != int(k.value):
                under = [node.left]
            elif isinstance(k, ast.Constant) and sign < 0:
                under = [node.left]  # negative powers: keep entries away from 0
        for arg in under or ():
            positive.update(n.id for n in ast.walk(arg) if isinstance(n, ast.Name))
    invertible: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in MATRIX_FUNCTIONS:
            for arg in node.args:
                invertible.update(n.id for n in ast.walk(arg) if isinstance(n, ast.Name))
    return invertible, positive


def data_notes(shapes: Mapping[str, tuple[int, ...]], tree: ast.Expression) -> list[str]:
    """How :func:`random_values` chose each variable that is not plain standard normal."""
    invertible, positive = _special_variables(tree)
    notes = []
    for name, shape in shapes.items():
        if name in positive:
            notes.append(f"{name}: entries uniform in [0.5, 2] (under log or a fractional or "
                         f"negative power)")
        elif name in invertible and len(shape) == 2 and shape[0] == shape[1]:
            notes.append(f"{name}: I + E with ‖E‖₂ = ½ (under inv/det/logdet: condition "
                         f"number ≤ 3, det > 0)")
    return notes


def random_values(shapes: Mapping[str, tuple[int, ...]], tree: ast.Expression, seed: int
                  ) -> dict[str, np.ndarray]:
    """Seeded random values, in the order the variables are declared.

    Standard normal entries, except: a square matrix inside inv/det/logdet is I + E with
    ‖E‖₂ = ½ (det > 0, condition number ≤ 3); a variable under log, a non-integer or a
    negative power has entries in [0.5, 2].
    """
    rng = np.random.default_rng(seed)
    invertible, positive = _special_variables(tree)
    values = {}
    for name, shape in shapes.items():
        if name in positive:
            value = rng.uniform(0.5, 2.0, size=shape)
        elif name in invertible and len(shape) == 2 and shape[0] == shape[1]:
            E = rng.standard_normal(shape)
            norm = np.linalg.norm(E, 2)
            value = np.eye(shape[0]) + (0.5 / norm) * E if norm > 0 else np.eye(shape[0])
        else:
            value = rng.standard_normal(shape)
        values[name] = np.asarray(value, dtype=np.float64)
    return values


def _build(source: str, values: Mapping[str, np.ndarray]):  # -> Expr
    from .expr import var

    env = {name: var(name, value) for name, value in values.items()}
    return parse_expression(source, env), env


@dataclass
class Calculation:
    """Everything ``jacobian-calc expr`` prints: inputs, Jacobian, derivation, verification."""

    source: str
    wrt: str
    seed: int
    shapes: dict[str, tuple[int, ...]]
    values: dict[str, np.ndarray]
    text: str  # the expression as the expression API writes it
    value: np.ndarray
    jacobian: Jacobian
    derivation: Derivation | None  # None when the expression is the variable itself
    method: str
    max_relative_error: float
    tolerance: float
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.max_relative_error <= self.tolerance)


def calculate(source: str, shapes: Mapping[str, tuple[int, ...]], wrt: str, *,
              seed: int = 0, tolerance: float = 1e-6) -> Calculation:
    """Parse, build on random data, differentiate by ``wrt`` and verify.

    Raises
    ------
    ExpressionSyntaxError
        Malformed text or a construct outside the whitelist (with position and reason).
    JacobianCalcError
        ``wrt`` not declared, shapes that do not fit (from the expression layer), …
    """
    from .expr import derivation, jacobian

    shapes = {str(k): tuple(v) for k, v in shapes.items()}
    declared = ", ".join(shapes) or "(none)"
    if wrt not in shapes:
        raise JacobianCalcError(f"--wrt {wrt!r} is not a declared variable; declared with "
                                f"--shape: {declared}")
    tree = validate(source, list(shapes))
    values = random_values(shapes, tree, seed)
    F, env = _build(source, values)
    if not hasattr(F, "node"):
        raise JacobianCalcError(f"the expression {source!r} is a constant ({F!r}); it must use "
                                f"at least one declared variable")
    _check_work(F, env[wrt], source)
    # The expression that is just the variable has no chain to derive: ∂vec(X)/∂vec(X) = I.
    # Otherwise the derivation's accumulated result is the Jacobian: computed once.
    d = None if F.node is env[wrt].node else derivation(F, env[wrt])
    J = jacobian(F, env[wrt]) if d is None else d.result
    method, err = _verify(source, values, wrt, J)
    return Calculation(source, wrt, seed, shapes, values, F.text, np.array(F.value), J, d,
                       method, err, tolerance, tuple(data_notes(shapes, tree)))


def _check_work(F: Any, X: Any, source: str) -> None:
    """Refuse an expression whose literal factors would be too large to build in time.

    Every factor on a path from X to F is at most (size of the node) × (size of the
    argument) entries; their sum bounds the work of the tail-to-head accumulation. A short
    text can still ask for a lot (each ``inv(X)`` of a 32×32 X is a dense 1024×1024
    factor), so the bound is checked before any factor is built.
    """
    from ..engine.graph import Graph

    graph = Graph(F.node, X.node)
    work = 0
    for node in graph.nodes.values():
        for arg in node.args:
            if graph.depends_on(arg, X.node):
                work += node.size * arg.size
    if work > MAX_WORK:
        raise JacobianCalcError(
            f"the expression {_abridged(source)!r} is too large for the calculator: its literal factors "
            f"would hold up to {work:,} entries (limit {MAX_WORK:,}); use smaller shapes or "
            f"fewer operations")


def _abridged(source: str, width: int = 60) -> str:
    return source if len(source) <= width else f"{source[:width - 1]}…"


def _verify(source: str, values: Mapping[str, np.ndarray], wrt: str, J: Jacobian
            ) -> tuple[str, float]:
    """The literal Jacobian against central differences of the value (re-built from text)."""
    def f(point: np.ndarray) -> np.ndarray:
        trial = dict(values)
        trial[wrt] = point
        return np.array(_build(source, trial)[0].value)

    x = values[wrt]
    if x.size <= FD_COLUMNS:
        fd = finite_difference_jacobian(f, x)
        return (f"central finite differences, all {x.size} column{'s' if x.size > 1 else ''}",
                max_relative_error(J.toarray(), fd))
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(16):
        v = rng.standard_normal(x.shape)
        t = 1e-5 * max(1.0, float(np.linalg.norm(x))) / float(np.linalg.norm(v))
        numeric = (f(x + t * v) - f(x - t * v)).reshape(-1, order="F") / (2 * t)
        analytic = np.asarray(J.matrix @ v.reshape(-1, order="F")).ravel()
        worst = max(worst, max_relative_error(analytic, numeric))
    return "central differences in 16 random directions", worst


# ---------------------------------------------------------------------- rendering
def _shapes_text(shapes: Mapping[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{n} {dims(s) if s else 'scalar'}" for n, s in shapes.items())


def _verdict(calc: Calculation) -> str:
    return (f"Verification ({calc.method}): max relative error {calc.max_relative_error:.2e}, "
            f"tolerance {calc.tolerance:g}: {'ok' if calc.ok else 'MISMATCH'}")


def _render_text(calc: Calculation, body: str) -> str:
    J = calc.jacobian
    lines = [
        f"Expression: {calc.source}",
        f"  read as {calc.text}, value {dims(calc.value.shape) if calc.value.shape else 'scalar'}",
        f"Variables (random, seed {calc.seed}): {_shapes_text(calc.shapes)}",
        *(f"  {note}" for note in calc.notes),
        "",
        f"Literal Jacobian {J.describe()}",
    ]
    if np.prod(J.shape) <= SMALL:
        lines.append(np.array2string(J.toarray(), precision=4, suppress_small=True,
                                     max_line_width=120))
    else:
        lines.append(f"  ({np.prod(J.shape)} entries; not printed)")
    lines += ["", body, "", _verdict(calc)]
    return "\n".join(lines)


def _json(calc: Calculation) -> str:
    J = calc.jacobian
    d = calc.derivation
    small = int(np.prod(J.shape)) <= SMALL
    doc = {
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
            "storage": f"sparse {J.matrix.format}" if J.issparse else "dense",
            "stored_entries": J.nnz,
            "entries": J.toarray().tolist() if small else None,
        },
        "gradient": (None if d is None or d.gradient is None
                     else np.asarray(d.gradient).tolist()),
        "derivation": None if d is None else {
            "title": d.title,
            "paths": [[{"symbol": f.symbol, "label": f.label, "shape": list(f.shape),
                        "sparse": f.sparse} for f in path] for path in d.paths],
            "dimension_checks": list(d.path_checks),
            "text": d.to_text(),
        },
        "verification": {
            "method": calc.method,
            "max_relative_error": calc.max_relative_error,
            "tolerance": calc.tolerance,
            "ok": calc.ok,
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def render(calc: Calculation, fmt: str = "text") -> str:
    """The calculation as ``text``, ``markdown``, ``latex`` or ``json``.

    ``latex`` is a fragment for an amsmath document: the Jacobian and the derivation as
    displays, everything else as ``%`` comments, so it compiles as it is.
    """
    if fmt not in FORMATS:
        from ..core.errors import ChoiceError

        raise ChoiceError("format", fmt, FORMATS)
    if fmt == "json":
        return _json(calc)
    if calc.derivation is None:
        body = (f"No chain to derive: the expression is {calc.wrt} itself, so "
                f"∂vec({calc.wrt})/∂vec({calc.wrt}) is the identity.")
    elif fmt == "markdown":
        body = calc.derivation.to_markdown()
    elif fmt == "latex":
        body = f"\\[\n{calc.derivation.to_latex()}\n\\]"
    else:
        body = calc.derivation.to_text()
    text = _render_text(calc, body)
    if fmt != "latex":
        return text
    # Comment out the plain-text header and verdict; keep the displays; add the Jacobian.
    header, _, rest = text.partition("\n\n" + body)
    lines = [f"% {line}" if line else "%" for line in header.splitlines()]
    if calc.derivation is None:
        lines.append(f"% {body}")
        body = ""
    lines += [f"\\[\n{calc.jacobian.to_latex()}\n\\]", body]
    lines += [f"% {line}" for line in rest.strip().splitlines()]
    return "\n".join(line for line in lines if line)
