r"""The grader: a claimed derivative against the true one, and the name of the mistake.

:func:`~jacobian_calc.testing.diagnose` takes a candidate gradient or Jacobian — a
function of the variables' values, or an expression text read by the safe parser
(:mod:`jacobian_calc.front.parse`) — and the true derivative — the literal one of an
expression F with respect to a variable X, or a function — evaluates both on a few fresh
random instances (seeded, so a verdict can be reproduced), and returns a
:class:`~jacobian_calc.testing.Diagnosis`: ``"correct"``, or ``"wrong"`` with the mistake
the candidate matches, in words a student understands, and the direction in which it is
worst.

How a mistake is named
----------------------
Every mistake class of :data:`~jacobian_calc.front.grade.MISTAKES` is a *reading* of the
candidate: a prediction of what the candidate would be, on each instance, had the student
made that mistake — the
transpose of the truth, the truth with its Kronecker factors swapped, with vec taken row
by row, the literal chain with one factor replaced by the identity (a forgotten
diag(φ′(h))) or with one occurrence of X not differentiated (A X instead of
(A + Aᵀ) X), … A reading *holds* when the candidate equals c times its prediction on every
instance, to rounding (relative difference at most ``rtol``, 1e-7 by default), with one
constant c fitted on one instance and checked on all: c = 1 is the mistake itself,
c = −1 adds a sign, any other c a constant factor. Exact values on several random
instances are what make a wrong name impossible in practice: a prediction that is not
the candidate misses it by far more than rounding on the first instance already.

``correct`` is checked first, so a right answer is never named. Of the readings that
hold, the first in this order names the mistake: the teacher's own ``mistakes``; a sign
or a constant factor of the truth itself; a structural mistake as it is (transposed,
another layout, Kronecker factors swapped, vec stacked by rows, the tensor layout); a
term or factor of the literal chain left out; then the structural and chain mistakes that
also carry a factor. Every reading that holds is kept (``Diagnosis.matches``), but the
readings of the literal chain — one derivative each — are built only when no other
reading holds. A class whose shapes do not allow it (a transpose of a vector's gradient,
a row-stacked vec of a vector) or whose prediction equals the truth on these instances
(the transpose of a symmetric gradient) is skipped.

Examples
--------
>>> d = diagnose("B @ A", "trace(A @ X @ B)", wrt="X",
...              shapes={"A": (3, 3), "X": (3, 3), "B": (3, 3)})
>>> d.verdict, d.mistake
('wrong', 'transposed')
>>> diagnose("(B @ A).T", "trace(A @ X @ B)", wrt="X",
...          shapes={"A": (3, 4), "X": (4, 5), "B": (5, 3)}).verdict
'correct'
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import Any, Union

import numpy as np
import scipy.sparse as sp

from ..core.errors import ChoiceError, DomainError, ExpressionSyntaxError, \
    JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian
from ..core.layout import to_tensor_jacobian
from ..core.limits import work_limit
from ..core.notation import Form, dims, flat_name, latex_name, pretty
from ..core.structure import Identity
from ..core.validation import shape_tuple
from ..core.vec import commutation_matrix
from ..engine.graph import Graph, Node
from ..render import FORMATS, render
from ..render.report import Lines, Report, Table
from ..verify.compare import Comparison, compare_directions
from .calculator import MAX_ENTRIES, WORK_ENTRIES, WORK_OPERATIONS, check_declared, \
    data_notes, evaluate, random_values
from .expr import Expr, var
from .parse import ALLOWED_FUNCTIONS, parse_expression, validate

__all__ = ["MISTAKES", "LAYOUTS", "GRADER_FUNCTIONS", "RTOL", "Diagnosis", "Hypothesis",
           "diagnose", "diagnosis_report", "render_diagnosis"]

#: The mistake classes the grader names, with what each means (module notes: in which order).
MISTAKES: Mapping[str, str] = {
    "sign": "the negative of the true derivative",
    "factor": "a constant multiple of the true derivative (2×, 1/2×, or the factor found)",
    "transposed": "the gradient with respect to a matrix X written as Gᵀ, the shape of Xᵀ, "
                  "instead of G, shaped like X (eq 12)",
    "layout": "the right numbers in the other layout: a row gradient (eq 1) instead of a "
              "column (eq 6) or the reverse, vec(G) instead of G shaped like X, or Jᵀ "
              "instead of J (numerator vs denominator layout, eq 3)",
    "kronecker_swapped": "A ⊗ B instead of B ⊗ A, for a Jacobian that is a Kronecker product",
    "row_stacked_vec": "vec taken row by row (C order, numpy's default) instead of column "
                       "by column (eq 16): K J, J Kᵀ or K J Kᵀ with commutation matrices K",
    "tensor_layout": "the Jacobian in the out.shape + in.shape tensor layout of JAX/PyTorch "
                     "instead of the size(F)×size(X) matrix",
    "missing_symmetrisation": "X appears twice in a product and only one term of the "
                              "product rule is kept: A X instead of (A + Aᵀ) X",
    "missing_term": "X appears in several terms of a sum and one of them is not "
                    "differentiated",
    "missing_factor": "one factor of the chain rule left out (replaced by the identity), "
                      "such as diag(φ′(h)) of an activation (eq 29)",
}

#: How a gradient of a scalar may be asked for: shaped like X (eq 12), a row (eq 1) or a
#: column (eq 6). A Jacobian is always the size(F)×size(X) matrix (eq 3).
LAYOUTS = ("matrix", "row", "column")

#: Default relative tolerance of a match: rounding, with a wide margin.
RTOL = 1e-7

#: The most readings built from the literal chain (one per factor or occurrence of X).
MAX_CHAIN_READINGS = 48
#: ... and the most entries of their derivatives, over all instances (160 MB of float64).
MAX_CHAIN_ENTRIES = 20_000_000
#: Kronecker structure is looked for in Jacobians of at most this many entries.
MAX_KRON_ENTRIES = 65_536

Values = Mapping[str, np.ndarray]
Candidate = Union[str, Callable[..., object]]


# ----------------------------------------------------------------- claim functions
def _column(a: np.ndarray) -> np.ndarray:
    """A vector as the column it stands for; matrices as they are."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return a.reshape(1, 1)
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _count(value: np.ndarray, what: str, limit: int) -> int:
    v = float(np.asarray(value).reshape(-1)[0]) if np.size(value) == 1 else float("nan")
    if not (v == int(v) if np.isfinite(v) else False) or not 1 <= v <= limit:
        raise ShapeError(f"{what} takes a whole number between 1 and {limit}, got "
                         f"{np.asarray(value).tolist()!r}")
    return int(v)


def _kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.kron(_column(a), _column(b))


def _eye(n: np.ndarray) -> np.ndarray:
    return np.eye(_count(n, "eye(n)", MAX_ENTRIES))


def _diag(v: np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 2 and min(a.shape) > 1:
        raise ShapeError(f"diag(v) takes a vector (it builds the diagonal matrix diag(v)), "
                         f"got a {dims(a.shape)} matrix")
    return np.diag(a.reshape(-1))


def _vec(a: np.ndarray) -> np.ndarray:
    return _column(a).reshape(-1, 1, order="F")


def _commutation(m: np.ndarray, n: np.ndarray) -> np.ndarray:
    rows = _count(m, "commutation(m, n)", MAX_ENTRIES)
    cols = _count(n, "commutation(m, n)", MAX_ENTRIES)
    if rows * cols > MAX_ENTRIES:
        raise ShapeError(f"commutation({rows}, {cols}) would be {rows * cols}×{rows * cols}; "
                         f"at most {MAX_ENTRIES} rows")
    return commutation_matrix(rows, cols).toarray()


#: Functions a claimed answer may call beyond the expression functions, with their
#: (min, max) argument counts: ``kron(A, B)`` (A ⊗ B, vectors as columns), ``eye(n)``,
#: ``diag(v)`` (the diagonal matrix of a vector), ``vec(A)`` (column stacking, eq 16)
#: and ``commutation(m, n)`` (K with K vec(A) = vec(Aᵀ) for an m×n A).
GRADER_FUNCTIONS: Mapping[str, tuple[int, int]] = {
    "kron": (2, 2), "eye": (1, 1), "diag": (1, 1), "vec": (1, 1), "commutation": (2, 2)}
_CLAIM_FUNCTIONS: Mapping[str, Callable[..., np.ndarray]] = {
    "kron": _kron, "eye": _eye, "diag": _diag, "vec": _vec, "commutation": _commutation}


# ------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Hypothesis:
    """One reading of the candidate that the grader tried, and how it came out.

    Attributes
    ----------
    mistake : str
        ``"correct"``, a key of :data:`~jacobian_calc.front.grade.MISTAKES`, or a name
        from ``mistakes=``.
    reading : str
        What the prediction is, in words (``"Gᵀ"``, ``"diag(σ′(h)) replaced by I"``).
    holds : bool
        The candidate equals ``factor`` times the prediction on every instance.
    factor : float or None
        The constant c fitted (1 for the mistake itself, −1 for a sign); ``None`` when the
        shapes differ or the prediction is zero.
    difference : float
        The largest relative difference ‖C − c·P‖_F / max(‖C‖_F, ‖c·P‖_F) over the
        instances (∞ when the shapes differ).
    detail : str
        The sentence a student reads when this is the mistake named.
    fits : bool
        The prediction has the candidate's shape (else it cannot hold).
    """

    mistake: str
    reading: str
    holds: bool
    factor: float | None
    difference: float
    detail: str = ""
    fits: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"mistake": self.mistake, "reading": self.reading, "holds": self.holds,
                "fits": self.fits, "factor": self.factor,
                "difference": self.difference if np.isfinite(self.difference) else None}


@dataclass(frozen=True)
class Diagnosis:
    """The grader's verdict on a claimed derivative.

    Attributes
    ----------
    verdict : {"correct", "wrong"}
    mistake : str or None
        The first mistake class that matches (a key of
        :data:`~jacobian_calc.front.grade.MISTAKES` or a name given in ``mistakes=``);
        ``None`` when the answer is correct or matches none.
    message : str
        The verdict in words a student understands.
    factor : float or None
        The constant factor of the match: −1 for ``"sign"``, 2 for a doubled answer, and
        for a structural mistake that also carries a factor (``"transposed"`` with −1:
        transposed and of the wrong sign); ``None`` otherwise.
    matches : tuple of Hypothesis
        Every reading tried that holds, the named one first (see the module notes for the
        order).
    tried : tuple of Hypothesis
        Every reading tried, in order (those that do not apply are not listed).
    worst : Comparison or None
        For a wrong answer of the expected shape: the claimed derivative against central
        differences in random directions (eq 15), with the worst direction in
        ``worst.worst`` — as :func:`~jacobian_calc.testing.assert_gradient_correct`
        reports it.
    worst_entry : dict or None
        The entry of the claimed Jacobian farthest from the true one: ``row``, ``column``,
        ``true``, ``claimed`` and ``where`` (``"X[2, 0]"``).
    question : Form
        ∂F/∂X, as text and LaTeX.
    claim : str
        The claimed answer's text, or the name of the function that computed it.
    kind : {"gradient", "jacobian"}
    layout : str
        How the gradient was asked for (one of :data:`~jacobian_calc.front.grade.LAYOUTS`).
    expected_shape, claimed_shape : tuple of int
    difference : float
        The largest relative difference from the true derivative over the instances (∞
        when the shapes differ).
    instances, seed : int
    rtol : float
    shapes : dict of str to tuple
        The variables' shapes.
    notes : tuple of str
        How the data were drawn, readings skipped for size, …
    """

    verdict: str
    mistake: str | None
    message: str
    factor: float | None
    matches: tuple[Hypothesis, ...]
    tried: tuple[Hypothesis, ...]
    worst: Comparison | None
    worst_entry: dict[str, Any] | None
    question: Form
    claim: str
    kind: str
    layout: str
    expected_shape: tuple[int, ...]
    claimed_shape: tuple[int, ...]
    difference: float
    instances: int
    seed: int
    rtol: float
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def correct(self) -> bool:
        """``verdict == "correct"``."""
        return self.verdict == "correct"

    def report(self) -> Report:
        """The diagnosis as a :class:`~jacobian_calc.render.report.Report` (every format)."""
        return diagnosis_report(self)

    def to_text(self) -> str:
        """Plain text: the question, the verdict and why, the readings, the worst direction."""
        return render_diagnosis(self, "text")

    def to_markdown(self) -> str:
        return render_diagnosis(self, "markdown")

    def to_latex(self) -> str:
        """A LaTeX fragment: the table of readings as a display, the words as ``%`` comments."""
        return render_diagnosis(self, "latex")

    def to_json(self) -> str:
        return render_diagnosis(self, "json")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document as plain data."""
        return diagnosis_report(self).data

    def assert_correct(self) -> Diagnosis:
        """Return ``self`` if correct; otherwise raise AssertionError with :meth:`to_text`.

        For a teacher's test: ``diagnose(student.grad, "…", wrt="W", …).assert_correct()``.
        """
        __tracebackhide__ = True  # pytest shows the caller's line, not this one
        if not self.correct:
            raise AssertionError(self.to_text())
        return self

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        named = f", mistake={self.mistake!r}" if self.mistake else ""
        return f"<Diagnosis {self.question.text}: {self.verdict}{named}>"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return str(render(self.report(), "html"))


# ------------------------------------------------------------------- the problem
def _shape_name(shape: Sequence[int]) -> str:
    return dims(shape) if len(shape) else "scalar"


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(np.ravel(a)))


def _flat2(a: np.ndarray) -> np.ndarray:
    """A scalar as 1×1 and a vector as the column it stands for, so (n,) and (n, 1) compare."""
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    return a


def _same_shape(a: Sequence[int], b: Sequence[int]) -> bool:
    return _flat2(np.empty(tuple(a))).shape == _flat2(np.empty(tuple(b))).shape


def _rows_cols(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, columns) of a value: a vector is a column, a scalar 1×1."""
    return _flat2(np.empty(shape)).shape  # type: ignore[return-value]


def _as_array(value: object, what: str) -> np.ndarray:
    if isinstance(value, Jacobian):
        value = value.toarray()
    elif isinstance(value, Expr):
        value = value.value
    elif sp.issparse(value):
        value = value.toarray()  # type: ignore[union-attr]
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise JacobianCalcError(f"{what} did not return real numbers: {exc}") from None
    return arr


def _call(function: Callable[..., object], values: Values, what: str) -> object:
    """``function`` called with the variables it names as keyword arguments (copies)."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin without a signature: give it everything
        params = None
    if params is None or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        chosen = dict(values)
    else:
        missing = [n for n, p in params.items() if n not in values and p.default is p.empty
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if missing:
            raise JacobianCalcError(
                f"{what} takes {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'}"
                f" not declared; it is called with the variables as keyword arguments, and "
                f"the declared ones are {', '.join(values) or '(none)'}")
        chosen = {n: v for n, v in values.items() if n in params}
    # copies: a function that writes into its arguments cannot skew the next one
    return function(**{n: np.array(v) for n, v in chosen.items()})


def _within(what: str, thunk: Callable[[], Any]) -> Any:
    """Run ``thunk``; an error of ours says which text it is about (the claim, the truth)."""
    try:
        return thunk()
    except ExpressionSyntaxError as exc:
        raise ExpressionSyntaxError(f"{what}: {exc}", position=exc.position,
                                    reason=exc.reason) from None
    except JacobianCalcError as exc:
        kind = type(exc)
        if kind.__init__ is not JacobianCalcError.__init__:  # pragma: no cover - own signature
            raise
        raise kind(f"{what}: {exc}") from None


def _seed_of(seed: int, k: int) -> int:
    """The seed of instance k: independent streams for (seed, k), reproducible."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


@dataclass
class _Problem:
    """Everything fixed before the candidate is looked at: the instances and the truth."""

    wrt: str
    shapes: dict[str, tuple[int, ...]]
    x_shape: tuple[int, ...]
    f_shape: tuple[int, ...]
    kind: str
    layout: str
    values: list[dict[str, np.ndarray]]
    truths: list[np.ndarray]  # (size F, size X), the vec convention
    question: Form
    tree: ast.Expression | None = None  # the truth's text, when it is one
    exprs: list[tuple[Expr, Expr]] = field(default_factory=list)  # (F, X) per instance
    graphs: list[Graph] = field(default_factory=list)  # F's composition per instance
    function: Callable[..., object] | None = None
    notes: list[str] = field(default_factory=list)

    def present(self, T: np.ndarray) -> np.ndarray:
        """The derivative T (size F × size X) in the form asked for."""
        if self.kind == "jacobian":
            return T
        if self.layout == "row":
            return T.reshape(1, -1)
        if self.layout == "column":
            return T.reshape(-1, 1)
        return T.reshape(self.x_shape, order="F")

    def canonical(self, C: np.ndarray) -> np.ndarray:
        """A candidate of the expected shape as the (size F × size X) matrix."""
        if self.kind == "jacobian":
            return _flat2(C)
        return C.reshape(1, -1, order="F") if self.layout == "matrix" else C.reshape(1, -1)

    @property
    def expected_shape(self) -> tuple[int, ...]:
        return self.present(self.truths[0]).shape


def _shapes_of(shapes: Mapping[str, object] | None, sample_values: Values | None
               ) -> dict[str, tuple[int, ...]]:
    if shapes is None:
        if sample_values is None:
            raise JacobianCalcError("declare the variables' shapes (shapes={'X': (3, 4), …}) "
                                    "or give sample= to draw their values")
        return {str(n): tuple(np.shape(v)) for n, v in sample_values.items()}
    if not isinstance(shapes, Mapping):
        raise JacobianCalcError(f"shapes must be a mapping of names to shapes, got "
                                f"{type(shapes).__name__}")
    out = {}
    for name, shape in shapes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise JacobianCalcError(f"variable names must be identifiers, got {name!r}")
        out[name] = shape_tuple(shape, f"the shape of {name}", min_ndim=0)
    return out


def _together(trees: list[ast.Expression]) -> ast.Expression:
    """One tree holding every text: the domain rules are read by walking it."""
    return ast.Expression(body=ast.Tuple(elts=[t.body for t in trees], ctx=ast.Load()))


def _draw(shapes: dict[str, tuple[int, ...]], trees: list[ast.Expression],
          sample: Callable[[np.random.Generator], Values] | None, seed: int
          ) -> dict[str, np.ndarray]:
    if sample is None:
        # The domain rules of every text involved decide which variables must be positive
        # or invertible (the calculator's rules).
        return random_values(shapes, _together(trees), seed)
    drawn = sample(np.random.default_rng(seed))
    if not isinstance(drawn, Mapping):
        raise JacobianCalcError(f"sample(rng) must return a mapping of names to values, got "
                                f"{type(drawn).__name__}")
    values = {str(n): np.array(v, dtype=np.float64) for n, v in drawn.items()}
    for name, shape in shapes.items():
        if name not in values:
            raise JacobianCalcError(f"sample(rng) did not return a value for {name}")
        if values[name].shape != shape:
            raise ShapeError(f"sample(rng) returned {name} of shape {values[name].shape}, "
                             f"but it is declared {shape}")
    return {n: values[n] for n in shapes}


def _truth_of(raw: object, x_shape: tuple[int, ...], f_shape: tuple[int, ...] | None
              ) -> tuple[np.ndarray, tuple[int, ...]]:
    """A derivative from a user's function as (size F × size X) and the shape of F."""
    n = prod(x_shape)
    if isinstance(raw, Jacobian):
        if raw.shape[1] != n:
            raise ShapeError(f"the true derivative is a Jacobian {raw.symbol} of shape "
                             f"{raw.shape}, but X has {n} entries")
        return raw.toarray(), raw.of_shape
    T = _as_array(raw, "truth")
    if _same_shape(T.shape, x_shape) or (len(x_shape) == 1 and T.shape == (1, n)):
        return T.reshape(1, -1, order="F"), ()  # a gradient: its vec is the row (eq 24)
    if T.ndim == 2 and T.shape[1] == n:
        m = T.shape[0]
        if f_shape is not None and prod(f_shape) != m:
            raise ShapeError(f"the true derivative has {m} rows but function(...) has "
                             f"shape {f_shape}")
        return T, f_shape if f_shape is not None else (m,)
    raise ShapeError(f"the true derivative has shape {T.shape}: expected a gradient shaped "
                     f"like X {x_shape} or a Jacobian with {n} columns (size of X)")


def _problem(truth: Candidate, wrt: str, shapes: dict[str, tuple[int, ...]], layout: str,
             instances: int, seed: int, trees: list[ast.Expression],
             function: Callable[..., object] | None,
             sample: Callable[[np.random.Generator], Values] | None) -> _Problem:
    x_shape = shapes[wrt]
    values = [_draw(shapes, trees, sample, _seed_of(seed, k)) for k in range(instances)]
    truths: list[np.ndarray] = []
    exprs: list[tuple[Expr, Expr]] = []
    graphs: list[Graph] = []
    tree = None
    if isinstance(truth, str):
        tree = validate(truth, list(shapes))
        with work_limit(WORK_ENTRIES, WORK_OPERATIONS):
            for vals in values:
                env = {name: var(name, value) for name, value in vals.items()}
                F = _within("the expression", lambda: parse_expression(truth, env))
                if not isinstance(F, Expr):
                    raise JacobianCalcError(f"the expression {truth!r} is a constant ({F!r}); "
                                            f"it must use at least one declared variable")
                X = env[wrt]
                exprs.append((F, X))
                # the engine's accumulation (as jc.jacobian); the graph keeps its factors
                # for the readings of the chain
                graph = Graph(F.node, X.node)  # X too: F need not depend on it
                graphs.append(graph)
                with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                    truths.append(graph.jacobian(F.node, X.node).toarray())
        F0 = exprs[0][0]
        f_shape = F0.shape
        # ∂tr(A X B)/∂X for a gradient (shaped like X), ∂vec(A X B)/∂vec(X) for a Jacobian
        x_flat = F0.size > 1 and len(x_shape) == 2
        question = Form(
            f"∂{flat_name(F0.text, f_shape, formed=True)}/∂"
            f"{flat_name(wrt, x_shape) if x_flat else pretty(wrt)}",
            rf"\frac{{\partial {flat_name(F0.latex, f_shape, True, formed=True)}}}"
            rf"{{\partial {flat_name(wrt, x_shape, True) if x_flat else latex_name(wrt)}}}")
    else:
        if not callable(truth):
            raise JacobianCalcError(f"the truth must be an expression text or a function of "
                                    f"the variables, got {type(truth).__name__}")
        f_shape = None
        if function is not None:
            f_shape = _as_array(_call(function, values[0], "function"), "function").shape
        found = [_truth_of(_call(truth, vals, "truth"), x_shape, f_shape) for vals in values]
        truths = [T for T, _ in found]
        f_shape = found[0][1]
        name = getattr(truth, "__name__", "truth")
        question = Form(f"∂F/∂{pretty(wrt)} ({name})",
                        rf"\frac{{\partial F}}{{\partial {latex_name(wrt)}}}")
    for T in truths:
        if not np.all(np.isfinite(T)):
            raise DomainError("the true derivative is not finite at a random point; try "
                              "another seed")
    kind = "gradient" if truths[0].shape[0] == 1 else "jacobian"
    if kind == "jacobian" and layout != "matrix":
        raise JacobianCalcError(f"layout={layout!r} applies to the gradient of a scalar; the "
                                f"Jacobian of a {_shape_name(f_shape)} F is always the "
                                f"size(F)×size(X) matrix (eq 3)")
    notes = [] if sample is not None else data_notes(shapes, _together(trees))
    return _Problem(wrt, shapes, x_shape, tuple(f_shape), kind, layout, values, truths,
                    question, tree, exprs, graphs, function, notes)


# ------------------------------------------------------------------------ readings
@dataclass
class _Reading:
    mistake: str
    reading: str
    predict: Callable[[int], np.ndarray | None]  # instance → prediction (None: not here)
    detail: str = ""


def _fits(C: Sequence[np.ndarray], P: Sequence[np.ndarray]) -> bool:
    """Same shapes on every instance, a vector (n,) counting as the column (n, 1)."""
    return all(_flat2(c).shape == _flat2(p).shape for c, p in zip(C, P))


def _compare(C: Sequence[np.ndarray], P: Sequence[np.ndarray], rtol: float, fit: bool
             ) -> tuple[float | None, float]:
    """(c, largest relative difference of C from c·P); c = 1 unless ``fit``.

    (None, ∞) when the shapes differ, the prediction is zero or c would be (about) zero.
    """
    if not _fits(C, P):
        return None, float("inf")
    c = 1.0
    if fit:
        k = int(np.argmax([_norm(p) for p in P]))
        pp = float(np.vdot(P[k], P[k]))
        if pp == 0.0:
            return None, float("inf")  # a prediction of zero names nothing
        c = float(np.vdot(_flat2(C[k]), _flat2(P[k]))) / pp
        if abs(c) <= rtol:
            return None, float("inf")
    worst = 0.0
    for ck, pk in zip(C, P):
        a, b = _flat2(ck), c * _flat2(pk)
        scale = max(_norm(a), _norm(b))
        if scale > 0:
            worst = max(worst, _norm(a - b) / scale)
    return c, worst


def _nice(c: float, rtol: float) -> float:
    """c as a simple fraction (2, 1/2, −1, 3/2, …) when it is one to the match's tolerance."""
    f = Fraction(c).limit_denominator(12)
    if f != 0 and abs(f.numerator) <= 144 and abs(float(f) - c) <= rtol * abs(c):
        return float(f)
    return c


def _factor_text(c: float) -> str:
    """2, 1/2, −1/3 for simple fractions; otherwise the digits that tell c from them."""
    f = Fraction(c).limit_denominator(12)
    if float(f) == c:
        return str(f).replace("-", "−")
    return f"{c:.10g}".replace("-", "−")


def _gradient_readings(p: _Problem) -> list[_Reading]:
    x = p.x_shape
    grads = [T.reshape(x, order="F") for T in p.truths]
    X = pretty(p.wrt)
    out: list[_Reading] = []
    matrix = len(x) == 2 and x != (1, 1)
    if matrix and p.layout == "matrix":
        out.append(_Reading(
            "transposed", "Gᵀ", lambda k: grads[k].T,
            f"Transposed: your answer is the transpose of the gradient. The gradient of a "
            f"scalar with respect to {X} ({dims(x)}) is shaped like {X}: entry (i, j) is the "
            f"derivative by {X}[i, j] (eq 12); yours has it in entry (j, i) — it is Gᵀ, "
            f"shaped like {X}ᵀ."))
    shaped = (f"the gradient shaped like {X}, {_shape_name(x)} (eq 12)" if len(x) != 1 else
              f"the gradient shaped like {X}, a column of {x[0]} (eq 6, 12)")
    forms = {
        "matrix": (f"G shaped like {X}", lambda k: grads[k], shaped),
        "column": ("the column vec(G)", lambda k: p.truths[k].reshape(-1, 1),
                   f"the column vec(G), {prod(x)}×1 (the ML convention, eq 6)"),
        "row": ("the row vec(G)ᵀ", lambda k: p.truths[k].reshape(1, -1),
                f"the row vec(G)ᵀ, 1×{prod(x)} (the analysis convention, eq 1)"),
    }
    asked = forms[p.layout][2]
    for name, (reading, predict, words) in forms.items():
        if name != p.layout:
            out.append(_Reading("layout", reading, predict,
                                f"Layout: the right numbers in another layout. You gave {words}, "
                                f"but the answer asked for is {asked}."))
    if len(x) == 2 and min(x) > 1:
        c_order = [g.reshape(-1) for g in grads]  # numpy's default flattening, row by row
        rows = ("Row-stacked vec: your answer lists the gradient's entries row by row "
                "(C order, numpy's default flatten/reshape) where vec stacks the columns "
                "(eq 16): vec(G) = (G[0, 0], G[1, 0], …)")
        if p.layout == "matrix":
            out.append(_Reading(
                "row_stacked_vec", "vec(G) reshaped row by row", lambda k: p.truths[k]
                .reshape(x, order="C"),
                "Row-stacked vec: your answer is vec(G) (column stacking) reshaped row by row "
                "— numpy's default reshape order='C'. Undo vec with unvec, which fills the "
                "columns (eq 16, 25): reshape(…, order='F')."))
            out.append(_Reading("row_stacked_vec", "G flattened row by row (column)",
                                lambda k: c_order[k].reshape(-1, 1),
                                rows + f", and the gradient should be shaped like {X}."))
            out.append(_Reading("row_stacked_vec", "G flattened row by row (row)",
                                lambda k: c_order[k].reshape(1, -1),
                                rows + f", and the gradient should be shaped like {X}."))
        else:
            shape = (1, -1) if p.layout == "row" else (-1, 1)
            out.append(_Reading("row_stacked_vec", "vec of Gᵀ",
                                lambda k: c_order[k].reshape(shape), rows + "."))
    return out


def _kron_factors(T: np.ndarray, f_shape: tuple[int, ...], x_shape: tuple[int, ...],
                  rtol: float) -> tuple[np.ndarray, np.ndarray] | None:
    """T = P ⊗ Q with P acting on the columns and Q on the rows (vec, eq 16), or None.

    vec stacks columns, so an entry of vec(F) is (row r, column s) at r + a·s and the
    Kronecker row index is s·a + r: Q is (rows of F)×(rows of X), P (columns of
    F)×(columns of X). T is such a product exactly when its rearrangement
    R[(s, t), (r, u)] = T[s·a + r, t·c + u] has rank one (Van Loan and Pitsianis).
    """
    a, b = _rows_cols(f_shape)
    c, d = _rows_cols(x_shape)
    if (b == 1 and d == 1) or (a == 1 and c == 1) or T.size > MAX_KRON_ENTRIES:
        return None  # one factor is a number: swapping them changes nothing
    R = T.reshape(b, a, d, c).transpose(0, 2, 1, 3).reshape(b * d, a * c)
    u, s, vt = np.linalg.svd(R, full_matrices=False)
    if s[0] == 0 or (len(s) > 1 and s[1] > rtol * s[0]):
        return None
    root = np.sqrt(s[0])
    return (root * u[:, 0]).reshape(b, d), (root * vt[0]).reshape(a, c)


def _jacobian_readings(p: _Problem, rtol: float) -> list[_Reading]:
    out: list[_Reading] = []
    F, X = "F", pretty(p.wrt)
    m, n = p.truths[0].shape
    out.append(_Reading(
        "layout", "Jᵀ", lambda k: p.truths[k].T,
        f"Layout: your answer is the transpose Jᵀ ({n}×{m}, the denominator layout). The "
        f"Jacobian ∂vec({F})/∂vec({X}) has one row per entry of {F} and one column per entry "
        f"of {X} (eq 3): {m}×{n}."))
    kron = [_kron_factors(T, p.f_shape, p.x_shape, rtol) for T in p.truths]
    if all(f is not None for f in kron):
        P, Q = kron[0]  # type: ignore[misc]
        out.append(_Reading(
            "kronecker_swapped", "Q ⊗ P for P ⊗ Q",
            lambda k: np.kron(kron[k][1], kron[k][0]),  # type: ignore[index]
            f"Kronecker factors swapped: the Jacobian is a Kronecker product P ⊗ Q, with P "
            f"({dims(P.shape)}) acting on the columns of {X} and Q ({dims(Q.shape)}) on its "
            f"rows, and your answer is Q ⊗ P. Because vec stacks columns (eq 16), "
            f"vec(A {X} B) = (Bᵀ ⊗ A) vec({X}): the factor of the columns comes first. "
            f"(Swapping the factors is the same as stacking both vecs row by row.)"))
    a, b = _rows_cols(p.f_shape)
    c, d = _rows_cols(p.x_shape)
    KF = commutation_matrix(a, b) if a > 1 and b > 1 else None
    KX = commutation_matrix(c, d) if c > 1 and d > 1 else None
    start = ("Row-stacked vec: your answer is the Jacobian with vec taken row by row (C "
             "order, numpy's default flatten) instead of column by column (eq 16) ")
    if KF is not None:
        out.append(_Reading("row_stacked_vec", f"K vec({F}): K J", lambda k: KF @ p.truths[k],
                            start + f"for {F}: K J, with K vec({F}) = vec({F}ᵀ)."))
    if KX is not None:
        out.append(_Reading("row_stacked_vec", f"K vec({X}): J Kᵀ",
                            lambda k: p.truths[k] @ KX.T,
                            start + f"for {X}: J Kᵀ, with K vec({X}) = vec({X}ᵀ)."))
    if KF is not None and KX is not None:
        out.append(_Reading("row_stacked_vec", "K J Kᵀ", lambda k: KF @ p.truths[k] @ KX.T,
                            start + f"for both {F} and {X}: K J Kᵀ."))
    if len(p.f_shape) + len(p.x_shape) > 2:
        def tensor(k: int) -> np.ndarray:
            J = Jacobian(p.truths[k], of="F", wrt="X", of_shape=p.f_shape,
                         wrt_shape=p.x_shape)
            return to_tensor_jacobian(J)
        shape = tuple(p.f_shape) + tuple(p.x_shape)
        out.append(_Reading(
            "tensor_layout", f"the {dims(shape)} tensor", tensor,
            f"Tensor layout: your answer has the out.shape + in.shape layout of JAX and "
            f"PyTorch ({dims(shape)}, row-major). In the vec convention the Jacobian is the "
            f"{m}×{n} matrix ∂vec({F})/∂vec({X}): flatten both sides by vec (column "
            f"stacking, eq 16)."))
    return out


# ---------------------------------------------------------------- the literal chain
class _Altered(Graph):
    """The composition of F with one literal factor replaced: by the identity or by zero.

    The engine's own accumulation then gives the derivative a student gets who forgot
    that factor (a diag(φ′(h)) dropped) or that occurrence of X (one term of a product
    rule) — the chain rule itself is not written again.
    """

    def __init__(self, base: Graph, output: Node, wrt: Node, edge: tuple[int, int],
                 zero: bool) -> None:
        super().__init__(output, wrt)
        self._base, self._edge, self._zero = base, edge, zero

    def factor(self, ref: str | Node, position: int) -> Jacobian:
        node = self.node(ref)
        if (id(node), position) != self._edge:
            return self._base.factor(node, position)  # built once per instance, and kept
        arg = node.args[position]
        if self._zero:
            return Jacobian.zeros(node.label, arg.label, node.shape, arg.shape)
        return Jacobian(Identity(node.size), of=node.label, wrt=arg.label,
                        of_shape=node.shape, wrt_shape=arg.shape, label="I")


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def _first_common(graph: Graph, a: Node, b: Node) -> Node | None:
    """The first node (in the order of the composition) computed from both a and b."""
    for node in graph.nodes:
        if graph.depends_on(node, a) and graph.depends_on(node, b):
            return node
    return None


def _chain_readings(p: _Problem) -> list[_Reading]:
    """One reading per square factor of the chain (replaced by I) and per occurrence of X."""
    if not p.exprs:
        return []
    F0, X0 = p.exprs[0]
    g0 = p.graphs[0]
    nodes0 = list(g0.nodes)
    index = {id(nd): i for i, nd in enumerate(nodes0)}
    live = [(node, pos) for node in nodes0 if node.op is not None
            for pos, arg in enumerate(node.args) if g0.depends_on(arg, X0.node)]
    occurrences = [(node, pos) for node, pos in live if node.args[pos] is X0.node]
    X = pretty(p.wrt)
    plans: list[tuple[str, str, int, int, bool, str]] = []
    if len(occurrences) > 1:
        for node, pos in occurrences:
            # Occurrences that meet first in a sum are separate terms; meeting in a
            # product (X ᵀA X, X ⊙ X) they are the two slots of a symmetrisation.
            meets = [_first_common(g0, node, o) for o, _ in occurrences if o is not node]
            sums = all(c is not None and c.op is not None and c.op.name in ("add", "sub")
                       for c in meets)
            mistake = "missing_term" if sums else "missing_symmetrisation"
            where = node.form.text
            if mistake == "missing_symmetrisation":
                detail = (f"Missing symmetrisation: {X} appears {_times(len(occurrences))} in a "
                          f"product, and by the product rule each occurrence gives a term of "
                          f"the derivative — (A + Aᵀ){X}, not A{X}, for {X}ᵀA{X}. Your answer "
                          f"has no term for the occurrence of {X} in {where}.")
            else:
                detail = (f"Missing term: {X} appears in {len(occurrences)} terms of a sum, "
                          f"and each contributes to the derivative. Your answer has no term "
                          f"for the occurrence of {X} in {where}.")
            plans.append((mistake, f"no term for {X} in {where}", index[id(node)], pos, True,
                          detail))
    for node, pos in live:
        arg = node.args[pos]
        if node.size != arg.size:
            continue  # only a square factor can be left out of a product and keep it defined
        J = g0.factor(node, pos)
        label = J.label or J.symbol
        if node.op.pointwise is not None:  # type: ignore[union-attr]
            name = node.op.name  # type: ignore[union-attr]
            detail = (f"Missing φ′ factor: your answer is the chain rule without the "
                      f"derivative of {name}: the factor {J.symbol} = {label}, its "
                      f"pointwise derivative at h = {arg.form.text} (eq 29), is left out. "
                      f"Multiply by φ′(h) entry by entry (⊙).")
        else:
            detail = (f"Missing factor: your answer is the chain rule with the factor "
                      f"{J.symbol} = {label} left out (replaced by the identity).")
        plans.append(("missing_factor", f"{label} replaced by I", index[id(node)], pos, False,
                       detail))
    # Each reading is one derivative per instance: bounded in number and in entries.
    room = MAX_CHAIN_ENTRIES // max(1, len(p.values) * p.truths[0].size)
    most = min(MAX_CHAIN_READINGS, room)
    if len(plans) > most:
        p.notes.append(f"the literal chain has {len(plans)} factors and occurrences of {X}; "
                       f"only the first {most} were tried as mistakes")
        plans = plans[:most]
    cache: dict[tuple[int, int, bool], list[np.ndarray]] = {}
    bases = p.graphs  # the same text on every instance: the nodes in the same order

    def variant(i: int, pos: int, zero: bool) -> list[np.ndarray]:
        key = (i, pos, zero)
        if key not in cache:
            found = []
            with work_limit(WORK_ENTRIES, WORK_OPERATIONS):
                for base, (F, Xk) in zip(bases, p.exprs):
                    g = _Altered(base, F.node, Xk.node, (id(base.nodes[i]), pos), zero)
                    found.append(g.jacobian(F.node, Xk.node).toarray())
            cache[key] = found
        return cache[key]

    return [_Reading(mistake, reading,
                     lambda k, i=i, pos=pos, zero=zero: p.present(variant(i, pos, zero)[k]),
                     detail)
            for mistake, reading, i, pos, zero, detail in plans]


def _user_readings(p: _Problem, mistakes: Mapping[str, Candidate] | None,
                   trees: Mapping[str, ast.Expression]) -> list[_Reading]:
    out = []
    for name, how in (mistakes or {}).items():
        if isinstance(how, str):
            tree = trees[name]
            predict = (lambda k, tree=tree, name=name: _within(
                f"mistakes[{name!r}]", lambda: evaluate(tree, p.values[k], _CLAIM_FUNCTIONS)))
        else:
            predict = (lambda k, how=how, name=name:
                       _as_array(_call(how, p.values[k], f"mistakes[{name!r}]"),
                                 f"mistakes[{name!r}]"))
        out.append(_Reading(name, f"the mistake {name!r}", predict,
                            f"A known mistake, {name!r}: your answer equals it on every "
                            f"instance."))
    return out


# ------------------------------------------------------------------------ diagnose
def _evaluate_claim(candidate: Candidate, tree: ast.Expression | None, p: _Problem,
                    what: str) -> list[np.ndarray]:
    out = []
    for vals in p.values:
        if tree is not None:
            out.append(_within(what, lambda: evaluate(tree, vals, _CLAIM_FUNCTIONS)))
        else:
            out.append(_as_array(_call(candidate, vals, what), what))  # type: ignore[arg-type]
    return out


def _worst(p: _Problem, C: np.ndarray, directions: int, seed: int
           ) -> tuple[Comparison | None, dict[str, Any] | None, str | None]:
    """The candidate against central differences (eq 15), and its farthest entry."""
    J = p.canonical(C)
    T = p.truths[0]
    values = p.values[0]
    diff = np.abs(J - T)
    i, j = (int(v) for v in np.unravel_index(int(np.argmax(diff)), diff.shape))
    xi = np.unravel_index(j, p.x_shape, order="F") if p.x_shape else ()
    fi = np.unravel_index(i, p.f_shape, order="F") if p.f_shape else ()
    X = pretty(p.wrt)
    where = f"{X}[{', '.join(str(int(v)) for v in xi)}]" if xi else X
    if p.kind == "jacobian":
        where = f"∂F[{', '.join(str(int(v)) for v in fi)}]/∂{where}"
    entry = {"row": i, "column": j, "where": where, "true": float(T[i, j]),
             "claimed": float(J[i, j])}
    note = None
    if p.tree is not None:
        tree = p.tree

        def f(point: np.ndarray) -> np.ndarray:
            out = evaluate(tree, {**values, p.wrt: point})
            if not np.all(np.isfinite(out)):
                raise DomainError("the expression is not finite near the random point")
            return out
    elif p.function is not None:
        function = p.function

        def f(point: np.ndarray) -> np.ndarray:
            return _as_array(_call(function, {**values, p.wrt: point}, "function"),
                             "function")
    else:
        note = ("no function F was given: the directions compare the claim with the true "
                "derivative itself")

        def f(point: np.ndarray) -> np.ndarray:  # linear: its central differences are T V
            return T @ np.ravel(point, order="F")
    try:
        comparison = compare_directions(f, values[p.wrt], J, directions=directions, seed=seed)
    except JacobianCalcError as exc:
        return None, entry, f"no worst direction: {exc}"
    return comparison, entry, note


def diagnose(candidate: Candidate, truth: Candidate, *, wrt: str,
             shapes: Mapping[str, object] | None = None, layout: str = "matrix",
             instances: int = 3, seed: int = 0, rtol: float = RTOL,
             function: Callable[..., object] | None = None,
             mistakes: Mapping[str, Candidate] | None = None,
             sample: Callable[[np.random.Generator], Values] | None = None,
             directions: int = 8) -> Diagnosis:
    r"""Grade a claimed gradient or Jacobian: correct, or the name of the mistake it matches.

    Parameters
    ----------
    candidate : str or callable
        The claimed derivative. A text such as ``"A.T @ B.T"``, read by the safe parser
        over the declared variables (the expression functions, and ``kron``, ``eye``,
        ``diag``, ``vec``, ``commutation`` of
        :data:`~jacobian_calc.front.grade.GRADER_FUNCTIONS`; numbers may be added and
        multiplied, ``1 - sigmoid(h)``), or a function called with the
        variables it names as keyword arguments (``grad(W, b, x, y)``). It returns an
        array, a scipy sparse matrix or a :class:`~jacobian_calc.Jacobian`.
    truth : str or callable
        The true derivative. A text F (``"trace(A @ X @ B)"``): the literal derivative of
        F with respect to ``wrt`` computed by the library. Or a function of the variables
        returning the true gradient (shaped like X) or Jacobian (size(F)×size(X)).
    wrt : str
        The variable X.
    shapes : mapping of str to shape, optional
        Every variable and its shape (``()``, ``(n,)`` or ``(m, n)``); may be left out
        when ``sample`` gives the values.
    layout : {"matrix", "row", "column"}
        For the gradient of a scalar: shaped like X (eq 12, the default), the row
        vec(G)ᵀ (eq 1) or the column vec(G) (eq 6). A vector's gradient may be (n,) or
        (n, 1) for ``"matrix"`` and ``"column"``.
    instances : int
        How many random instances (default 3); a reading must hold on all of them.
    seed : int
        Seed of the instances (each has its own stream) and of the directions.
    rtol : float
        Relative tolerance of a match, ‖C − c·P‖_F ≤ rtol · max(‖C‖_F, ‖c·P‖_F) on every
        instance (default :data:`~jacobian_calc.front.grade.RTOL` = 1e-7: rounding, with a
        wide margin).
    function : callable, optional
        With a function ``truth``: F itself (called like it), so that the worst direction
        of a wrong answer is measured against central differences of F, and so that the
        shape of a matrix-valued F is known (row-stacked vec, Kronecker readings).
    mistakes : mapping of str to (str or callable), optional
        Mistakes of the teacher's own, by name: each predicts the wrong answer (a text or
        a function, like ``candidate``). They are tried right after ``correct``.
    sample : callable, optional
        ``sample(rng) -> {name: value}``: draw the instances' values yourself (a
        probability vector, a positive definite matrix). By default the values are drawn
        as ``jacobian-calc expr`` draws them: standard normal, and positive or
        well-conditioned where an operation of the texts needs it.
    directions : int
        Random directions of the worst-direction report.

    Returns
    -------
    Diagnosis

    Raises
    ------
    ExpressionSyntaxError
        A text is malformed or uses something outside the whitelist.
    ShapeError
        A text's operands do not fit the declared shapes; a function returned a shape
        that is not a derivative of this F and X.
    JacobianCalcError
        ``wrt`` is not declared, an option is out of range, a function cannot be called
        with the declared variables.

    Examples
    --------
    >>> shapes = {"A": (3, 3), "X": (3, 3)}
    >>> d = diagnose("A @ X", "trace(X.T @ A @ X)", wrt="X", shapes=shapes)
    >>> d.mistake
    'missing_symmetrisation'
    >>> diagnose("-(A + A.T) @ X", "trace(X.T @ A @ X)", wrt="X", shapes=shapes).mistake
    'sign'
    >>> diagnose("kron(A, B.T)", "A @ X @ B", wrt="X",
    ...          shapes={"A": (2, 3), "X": (3, 4), "B": (4, 2)}).mistake
    'kronecker_swapped'
    """
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ChoiceError("layout", layout, LAYOUTS)
    for name, value, low, high in (("instances", instances, 1, 100),
                                   ("directions", directions, 1, 1000)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise JacobianCalcError(f"{name} must be an int between {low} and {high}, got "
                                    f"{value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise JacobianCalcError(f"seed must be an int ≥ 0, got {seed!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 0.01:
        raise JacobianCalcError(f"rtol must be a number in (0, 0.01): a match is equality to "
                                f"rounding; got {rtol!r}")
    if not isinstance(wrt, str):
        raise JacobianCalcError(f"wrt must be the name of a variable, got {wrt!r}")
    first = None
    if sample is not None and shapes is None:
        first = sample(np.random.default_rng(_seed_of(int(seed), 0)))
        if not isinstance(first, Mapping):
            raise JacobianCalcError("sample(rng) must return a mapping of names to values")
    declared = _shapes_of(shapes, first)
    check_declared(declared)
    if wrt not in declared:
        raise JacobianCalcError(f"wrt {wrt!r} is not a declared variable; declared: "
                                f"{', '.join(declared) or '(none)'}")
    names = list(declared)
    claim_functions = {**dict(ALLOWED_FUNCTIONS), **GRADER_FUNCTIONS}
    trees: list[ast.Expression] = []
    if isinstance(truth, str):  # the question first: its errors are reported before the claim's
        trees.append(_within("the expression", lambda: validate(truth, names)))
    claim_tree = None
    if isinstance(candidate, str):
        claim_tree = _within("the claimed answer",
                             lambda: validate(candidate, names, claim_functions))
        trees.append(claim_tree)
    elif not callable(candidate):
        raise JacobianCalcError(f"the candidate must be an expression text or a function of "
                                f"the variables, got {type(candidate).__name__}")
    mistake_trees = {}
    for name, how in (mistakes or {}).items():
        if not isinstance(name, str) or not name:
            raise JacobianCalcError(f"a mistake's name must be a non-empty str, got {name!r}")
        if isinstance(how, str):
            mistake_trees[name] = _within(f"mistakes[{name!r}]",
                                          lambda: validate(how, names, claim_functions))
        elif not callable(how):
            raise JacobianCalcError(f"mistakes[{name!r}] must be a text or a function")
    p = _problem(truth, wrt, declared, layout, instances, int(seed),
                 trees + list(mistake_trees.values()), function, sample)
    claims = _evaluate_claim(candidate, claim_tree, p, "the claimed answer")
    claim = candidate if isinstance(candidate, str) else getattr(candidate, "__name__",
                                                                 "candidate")
    expected = [p.present(T) for T in p.truths]
    base = dict(question=p.question, claim=claim, kind=p.kind, layout=p.layout,
                expected_shape=expected[0].shape, claimed_shape=claims[0].shape,
                instances=instances, seed=int(seed), rtol=float(rtol), shapes=dict(declared))

    def verdict(**kw: Any) -> Diagnosis:
        return Diagnosis(**{**base, **kw, "notes": tuple(p.notes)})

    if any(c.shape != claims[0].shape for c in claims):
        shapes_seen = ", ".join(sorted({_shape_name(c.shape) for c in claims}))
        return verdict(verdict="wrong", mistake=None, factor=None, matches=(), tried=(),
                       worst=None, worst_entry=None, difference=float("inf"),
                       message=f"Wrong: your answer changes shape from one instance to the "
                               f"next ({shapes_seen}).")
    if not all(np.all(np.isfinite(c)) for c in claims):
        return verdict(verdict="wrong", mistake=None, factor=None, matches=(), tried=(),
                       worst=None, worst_entry=None, difference=float("inf"),
                       message="Wrong: your answer has entries that are not finite "
                               "(NaN or ∞) where the true derivative is finite.")
    _, difference = _compare(claims, expected, rtol, fit=False)
    what = (f"the gradient shaped like {pretty(p.wrt)}" if p.kind == "gradient"
            and p.layout == "matrix" else f"the {p.layout} gradient" if p.kind == "gradient"
            else "the Jacobian in the vec convention")
    if difference <= rtol:
        correct = Hypothesis("correct", "the true derivative", True, 1.0, difference)
        return verdict(verdict="correct", mistake=None, factor=None, matches=(correct,),
                       tried=(correct,), worst=None, worst_entry=None, difference=difference,
                       message=f"Correct: your answer equals {p.question.text}, {what}, on "
                               f"{instances} random instance{'s' * (instances != 1)} (largest "
                               f"relative difference {difference:.1e}).")
    structural = _gradient_readings(p) if p.kind == "gradient" else _jacobian_readings(p, rtol)
    if p.kind != "gradient" and claim_tree is not None and _uses_kron(claim_tree):
        structural = _kron_first(structural, _swapped_kron_reading(claim_tree, claims,
                                                                   expected, p, rtol),
                                 claims, instances, rtol)
    groups: list[list[_Reading] | None] = [
        [_Reading("correct", "the true derivative", lambda k: expected[k])]
        + _user_readings(p, mistakes, mistake_trees),
        structural,
        None,  # the literal chain's readings, built only when needed
    ]
    tried: list[Hypothesis] = []
    ranked: list[tuple[int, Hypothesis]] = []
    for g, group in enumerate(groups):
        if group is None:
            if ranked:
                break  # a derivative per factor of the chain: only when nothing simpler holds
            group = _chain_readings(p)
        for r in group:
            predictions = [r.predict(k) for k in range(instances)]
            if any(q is None for q in predictions):
                continue
            predictions = [np.asarray(q, dtype=np.float64) for q in predictions]
            if r.mistake != "correct":
                _, same = _compare(predictions, expected, rtol, fit=False)
                if same <= rtol:
                    continue  # the mistake changes nothing on these instances: it cannot be told
            c, diff = _compare(claims, predictions, rtol, fit=True)
            holds = c is not None and diff <= rtol
            c = None if c is None else _nice(c, rtol)
            name = r.mistake
            if holds and r.mistake == "correct":
                name = "sign" if c == -1 else "factor"
            h = Hypothesis(name, r.reading, holds, c, diff, r.detail, _fits(claims, predictions))
            tried.append(h)
            if holds:
                ranked.append((_rank(g, r.mistake, c), h))
    matches = [h for _, h in sorted(ranked, key=lambda pair: pair[0])]  # stable: in order
    worst = entry = None
    if _same_shape(claims[0].shape, expected[0].shape):
        worst, entry, note = _worst(p, claims[0], directions, int(seed))
        if note:
            p.notes.append(note)
    if not matches:
        if _same_shape(claims[0].shape, expected[0].shape):
            message = (f"Wrong: your answer is not {p.question.text}, and it matches "
                       f"none of the common mistakes (a sign or a constant factor, transposed, "
                       f"another layout, Kronecker factors swapped, vec stacked by rows, a "
                       f"missing term or factor of the chain rule). Largest relative "
                       f"difference {difference:.2g}; the worst direction and entry are below.")
        else:
            message = (f"Wrong shape: your answer is {_shape_name(claims[0].shape)}, but "
                       f"{p.question.text}, {what}, is {_shape_name(expected[0].shape)}; and "
                       f"it matches none of the common mistakes.")
        return verdict(verdict="wrong", mistake=None, factor=None, matches=(), tried=tuple(tried),
                       worst=worst, worst_entry=entry, difference=difference, message=message)
    top = matches[0]
    factor = None if top.factor == 1 else top.factor
    message = _message(top, p)
    return verdict(verdict="wrong", mistake=top.mistake, factor=factor, matches=tuple(matches),
                   tried=tuple(tried), worst=worst, worst_entry=entry, difference=difference,
                   message=message)


def _uses_kron(tree: ast.Expression) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "kron"
               for n in ast.walk(tree))


def _swapped_kron_reading(tree: ast.Expression, claims: Sequence[np.ndarray],
                          expected: Sequence[np.ndarray], p: _Problem, rtol: float
                          ) -> _Reading | None:
    """The claim read with the factors of every kron(·, ·) swapped, when that reading is
    c × the true derivative on every instance (I ⊗ X + Xᵀ ⊗ I written as
    kron(X, I) + kron(I, Xᵀ)); None otherwise.

    The prediction is the claim itself divided by c, so the claim matches it with the
    factor c, the factor of the swapped reading.
    """
    functions = {**_CLAIM_FUNCTIONS, "kron": lambda a, b: _kron(b, a)}
    try:
        swapped = [np.asarray(evaluate(tree, vals, functions), dtype=np.float64)
                   for vals in p.values]
    except (JacobianCalcError, ValueError, ArithmeticError):
        return None
    c, diff = _compare(swapped, expected, rtol, fit=True)
    if c is None or diff > rtol:
        return None
    X = pretty(p.wrt)
    return _Reading(
        "kronecker_swapped", "your kron(A, B) read as kron(B, A)",
        lambda k: claims[k] / c,
        f"Kronecker factors swapped: with the two factors of each kron(…, …) of your answer "
        f"exchanged, it is the true Jacobian. Because vec stacks columns (eq 16), "
        f"vec(A {X} B) = (Bᵀ ⊗ A) vec({X}): the factor acting on the columns of {X} comes "
        f"first.")


def _kron_first(readings: list[_Reading], swapped: _Reading | None,
                claims: Sequence[np.ndarray], count: int, rtol: float) -> list[_Reading]:
    """For a claim written with kron(…): the swapped-factor readings first (the more
    specific name than "layout" when both hold, as for X⁻¹ where Q ⊗ P = Jᵀ). The reading
    of the claim's own krons follows the structural one (P ⊗ Q of the truth, with its
    fuller explanation), and only where that one does not hold already."""
    kron = [r for r in readings if r.mistake == "kronecker_swapped"]
    rest = [r for r in readings if r.mistake != "kronecker_swapped"]
    if swapped is not None:
        def holds(r: _Reading) -> bool:
            predictions = [r.predict(k) for k in range(count)]
            if any(q is None for q in predictions):
                return False
            c, diff = _compare(claims, [np.asarray(q, dtype=np.float64)
                                        for q in predictions], rtol, fit=True)
            return c is not None and diff <= rtol
        if not any(holds(r) for r in kron):
            kron.append(swapped)
    return kron + rest


def _rank(group: int, mistake: str, c: float | None) -> int:
    """Which match names the mistake: the teacher's own, then a sign or a factor of the
    truth itself, then a structural mistake as it is (transposed, a layout, …), then one of
    the chain (a factor or an occurrence left out), then those with a factor as well."""
    if group == 0:
        return 0 if mistake != "correct" else 1
    return (2 if group == 1 else 3) + (0 if c == 1 else 2)


def _message(top: Hypothesis, p: _Problem) -> str:
    c = top.factor
    if top.mistake == "sign":
        return "Sign: your answer is the negative of the true derivative."
    if top.mistake == "factor":
        extra = (" (and of the wrong sign)" if c is not None and c < 0 else "")
        shown = _factor_text(c)  # type: ignore[arg-type]
        return f"A constant factor: your answer is {shown} × the true derivative{extra}."
    detail = top.detail or f"{top.mistake}: your answer matches this mistake."
    if c is None or c == 1:
        return detail
    if c == -1:
        return detail + " It also has the wrong sign."
    if c == 2 and top.mistake == "missing_symmetrisation":
        return (detail + " It has twice the term it keeps — right only if the two terms "
                "were equal, as for a symmetric A (2AX instead of (A + Aᵀ)X).")
    return detail + f" It is also off by the constant factor {_factor_text(c)}."


# ------------------------------------------------------------------------- report
def _fmt(a: object) -> str:
    """A number or array on one line (a report line is one line in every format)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.10g}"
    return " ".join(np.array2string(arr, precision=6, threshold=24, separator=", ").split())


def _worst_lines(d: Diagnosis) -> list[str]:
    lines: list[str] = []
    c = d.worst
    if c is not None and c.worst:
        w = c.worst
        if d.kind == "gradient":
            claimed = f"⟨your answer, V⟩_F = {_fmt(w['analytic'][0])}"
            numeric = _fmt(w["numeric"][0])
        else:
            claimed = f"your answer · vec(V) = {_fmt(w['analytic'])}"
            numeric = _fmt(w["numeric"])
        lines += [
            f"Worst direction: #{w['direction']} of {w['of']} (seed {w['seed']}), unit "
            f"V = {_fmt(w['V'])}",
            f"  Gâteaux derivative (f(X + tV) − f(X − tV))/2t = {numeric}",
            f"  {claimed}",
            f"  relative error {c.relative:.3e}: |difference| {c.error:.3e} "
            f"{'≤' if c.ok else '>'} tolerance {c.tolerance:.3e} (rtol={c.rtol:g}, "
            f"atol={c.atol:g})",
        ]
    if d.worst_entry is not None:
        e = d.worst_entry
        lines.append(f"Worst entry: {e['where']} (row {e['row']}, column {e['column']} of the "
                     f"{'row gradient' if d.kind == 'gradient' else 'Jacobian'}): true "
                     f"{e['true']:.10g}, yours {e['claimed']:.10g}")
    return lines


def diagnosis_report(d: Diagnosis) -> Report:
    """A :class:`~jacobian_calc.testing.Diagnosis` as a
    :class:`~jacobian_calc.render.report.Report`, for every format."""
    variables = ", ".join(f"{pretty(n)} {_shape_name(s)}" for n, s in d.shapes.items())
    if d.kind == "gradient":
        asked = {"matrix": "the gradient shaped like the variable (eq 12)",
                 "row": "the row gradient vec(G)ᵀ (eq 1)",
                 "column": "the column gradient vec(G) (eq 6)"}[d.layout]
    else:
        asked = "the Jacobian ∂vec(F)/∂vec(X) in the vec convention (eq 3, 16)"
    verdict = d.verdict if d.mistake is None else f"{d.verdict} ({d.mistake})"
    head = Lines.of(
        f"Question: {d.question.text}, {asked}, {_shape_name(d.expected_shape)}",
        f"Claimed answer: {d.claim}  ({_shape_name(d.claimed_shape)})",
        f"Checked on {d.instances} random instance{'s' * (d.instances != 1)} (seed {d.seed}) "
        f"of {variables}; a match holds to rtol {d.rtol:g} on every one",
        f"Verdict: {verdict}",
        d.message)
    blocks: list[Any] = [head]
    question = Table(["question", "claimed answer", "verdict"],
                     [[d.question, d.claim, verdict]], kinds=["text", "text", "text"])
    blocks += ["", question]
    shaped = [h for h in d.tried if h.fits]
    if shaped and not d.correct:
        rows = [[h.mistake, h.reading, _factor_text(h.factor) if h.holds and h.factor
                 is not None else "—", f"{h.difference:.1e}" if np.isfinite(h.difference)
                 else "—", "holds" if h.holds else "no"] for h in shaped]
        others = len(d.tried) - len(shaped)
        blocks += ["", Lines.of("Readings of your answer's shape tried (your answer = factor × "
                                "reading on every instance)"
                                + (f"; {others} of other shapes skipped:" if others else ":")),
                   Table(["mistake", "reading", "factor", "relative difference", "result"],
                         rows, kinds=["text"] * 5)]
    worst = _worst_lines(d)
    if worst:
        blocks += ["", Lines(tuple(worst))]
    if d.notes:
        blocks += ["", Lines(tuple(f"Note: {n}" for n in d.notes))]
    c = d.worst
    data = {
        "question": d.question.text,
        "claim": d.claim,
        "kind": d.kind,
        "layout": d.layout,
        "variables": {n: list(s) for n, s in d.shapes.items()},
        "expected_shape": list(d.expected_shape),
        "claimed_shape": list(d.claimed_shape),
        "instances": d.instances,
        "seed": d.seed,
        "rtol": d.rtol,
        "verdict": d.verdict,
        "mistake": d.mistake,
        "factor": d.factor,
        "message": d.message,
        "difference": d.difference if np.isfinite(d.difference) else None,
        "matches": [h.to_dict() for h in d.matches],
        "tried": [h.to_dict() for h in d.tried],
        "worst_direction": None if c is None else {
            "method": c.method, "error": c.error if np.isfinite(c.error) else None,
            "scale": c.scale if np.isfinite(c.scale) else None,
            "relative_error": c.relative if np.isfinite(c.relative) else None,
            "rtol": c.rtol, "atol": c.atol, "direction": c.worst.get("direction"),
            "V": None if c.worst.get("V") is None else np.asarray(c.worst["V"]).tolist(),
            "numeric": np.asarray(c.worst["numeric"]).tolist(),
            "claimed": np.asarray(c.worst["analytic"]).tolist()},
        "worst_entry": d.worst_entry,
        "notes": list(d.notes),
    }
    return Report(blocks, data)


def render_diagnosis(d: Diagnosis, fmt: str = "text") -> str:
    """The diagnosis as ``text``, ``markdown``, ``latex`` or ``json`` (the render formats)."""
    if fmt not in FORMATS:
        raise ChoiceError("format", fmt, FORMATS)
    return str(render(diagnosis_report(d), fmt))
