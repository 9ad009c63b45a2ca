"""Hypothesis strategies and assertion helpers for property tests of derivations.

Strategies: :func:`shapes`, :func:`chain_shapes`, :func:`real_arrays`,
:func:`well_conditioned_matrices` (bounded condition number, for inv/det/logdet),
:func:`arrays_away_from_kinks` (values away from relu's kink) and :func:`mlp_problems`.
Assertions: :func:`assert_gradient_correct` and :func:`assert_jacobian_correct` compare a
hand-written gradient or Jacobian with Gâteaux derivatives (eq 15) in random directions
and with a finite-difference Jacobian in the vec convention (eq 16), and on failure report
the worst direction, both values, the relative error and the tolerance;
:func:`assert_allclose_scaled` compares two arrays.
Grading: :func:`diagnose` compares a claimed gradient or Jacobian with the true one on
fresh random instances and returns a :class:`Diagnosis` — correct, or the mistake it
matches (:data:`MISTAKES`: a sign, a factor, transposed, another layout, Kronecker factors
swapped, vec stacked by rows, a missing symmetrisation or φ′ factor, …) in words a
student understands, with the worst direction (see :mod:`jacobian_calc.front.grade`).

The package's own tests are built from these, and users can build theirs from them too:

>>> from hypothesis import given
>>> from jacobian_calc.testing import mlp_problems
>>> @given(mlp_problems(max_depth=2))
... def test_literal_equals_compact(problem):
...     net = problem.network()
...     a = net.gradients(problem.x, problem.y, method="explicit")
...     b = net.gradients(problem.x, problem.y, method="backprop")
...     for name in a:
...         assert_allclose_scaled(a[name], b[name], rtol=1e-10)
>>> test_literal_equals_compact()

Requires the ``test`` extra (hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import scipy.sparse as sp

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .core.errors import JacobianCalcError, ShapeError
from .core.jacobian import Jacobian
from .front.grade import MISTAKES, Diagnosis, Hypothesis, diagnose
from .lecture.mlp import MLP
from .ops import ACTIVATIONS, LOSSES
from .ops.domain import hint
from .verify.check import max_relative_error
from .verify.compare import Comparison, compare_directions, compare_entries

__all__ = [
    "MLPProblem",
    "real_arrays",
    "shapes",
    "chain_shapes",
    "well_conditioned_matrices",
    "arrays_away_from_kinks",
    "mlp_problems",
    "assert_allclose_scaled",
    "assert_gradient_correct",
    "assert_jacobian_correct",
    "diagnose",
    "Diagnosis",
    "Hypothesis",
    "MISTAKES",
]


def real_arrays(shape: tuple[int, ...] | st.SearchStrategy, bound: float = 2.0
                ) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with entries in [−bound, bound], no NaN, inf or subnormals."""
    return hnp.arrays(
        np.float64, shape,
        elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                           allow_subnormal=False),
    )


@dataclass(frozen=True)
class MLPProblem:
    """Weights, input, target, activation and loss of one lecture-network instance."""

    weights: tuple[np.ndarray, ...]
    x: np.ndarray
    y: np.ndarray
    activation: str
    loss: str

    def network(self) -> MLP:
        return MLP(list(self.weights), activation=self.activation, loss=self.loss)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1],) + tuple(W.shape[0] for W in self.weights)


def _pre_activations(weights: Sequence[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    # Only relu has a kink; the smooth activations never need this.
    hs, z = [], x
    for W in weights[:-1]:
        h = W @ z
        hs.append(h)
        z = np.maximum(h, 0.0)
    return hs


@st.composite
def mlp_problems(
    draw: st.DrawFn,
    min_depth: int = 1,
    max_depth: int = 4,
    max_size: int = 12,
    activations: Sequence[str] = tuple(ACTIVATIONS),
    losses: Sequence[str] = tuple(LOSSES),
    kink_margin: float = 1e-3,
) -> MLPProblem:
    """Random lecture networks: depth, sizes (1–``max_size``), values, activation and loss.

    Weights are drawn in [−2, 2] and scaled by 1/√fan-in so values stay moderate at any
    depth. For relu, inputs whose pre-activations come within ``kink_margin`` of the kink
    at 0 are rejected, so finite differences stay meaningful. For a loss whose target
    prefers "probability" data (the cross-entropy) the target is a probability vector.
    """
    depth = draw(st.integers(min_depth, max_depth))
    sizes = draw(st.lists(st.integers(1, max_size), min_size=depth + 1, max_size=depth + 1))
    weights = tuple(
        draw(real_arrays((n_out, n_in))) / np.sqrt(n_in)
        for n_in, n_out in zip(sizes, sizes[1:])
    )
    x = draw(real_arrays((sizes[0],)))
    activation = draw(st.sampled_from(list(activations)))
    loss = draw(st.sampled_from(list(losses)))
    if hint(LOSSES[loss], 1) == "probability":  # the target is a distribution
        raw = draw(hnp.arrays(np.float64, (sizes[-1],), elements=st.floats(0.0, 1.0)))
        y = raw / raw.sum() if raw.sum() > 0 else np.full(sizes[-1], 1.0 / sizes[-1])
    else:
        y = draw(real_arrays((sizes[-1],)))
    if activation == "relu":
        assume(all(np.min(np.abs(h)) > kink_margin for h in _pre_activations(weights, x)))
    return MLPProblem(weights, x, y, activation, loss)


def assert_allclose_scaled(actual: object, expected: object, rtol: float = 1e-10,
                           what: str = "arrays", *, atol: float = 0.0) -> None:
    """Assert max|actual − expected| ≤ atol + rtol · max(max|actual|, max|expected|).

    A relative error measured against the largest entry, so tiny entries of a large
    gradient do not make a correct result fail, and all-zero results compare exactly.
    ``atol`` covers results that are themselves rounding noise (a gradient that cancels to
    1e-19): two exact routes agree there only to the rounding of their inputs' scale.
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shapes differ, {a.shape} vs {b.shape}")
    err = max_relative_error(a, b)
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b)))) if a.size else 0.0
    if not (err <= rtol or float(np.max(np.abs(a - b))) <= atol + rtol * scale):
        worst = np.unravel_index(np.argmax(np.abs(a - b)), a.shape) if a.size else ()
        raise AssertionError(
            f"{what}: relative error {err:.3e} > {rtol:.1e}; worst entry {tuple(map(int, worst))}: "
            f"{a[worst]!r} vs {b[worst]!r}"
        )


# ---------------------------------------------------------------------------- strategies
def shapes(*, min_dims: int = 1, max_dims: int = 2, min_side: int = 1, max_side: int = 5
           ) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of scalars ``()``, vectors ``(n,)`` and matrices ``(m, n)``.

    Parameters
    ----------
    min_dims, max_dims : int
        Between 0 (scalar) and 2 (matrix).
    min_side, max_side : int
        The range of every dimension (at least 1).

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(shapes(min_dims=2, max_side=3))
    ... def test_matrix_shapes(shape):
    ...     assert len(shape) == 2 and all(1 <= n <= 3 for n in shape)
    >>> test_matrix_shapes()
    """
    if not 0 <= min_dims <= max_dims <= 2:
        raise JacobianCalcError(f"need 0 ≤ min_dims ≤ max_dims ≤ 2, got {min_dims}, "
                                f"{max_dims}")
    if not 1 <= min_side <= max_side:
        raise JacobianCalcError(f"need 1 ≤ min_side ≤ max_side, got {min_side}, {max_side}")
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def chain_shapes(count: int, *, min_side: int = 1, max_side: int = 5
                 ) -> st.SearchStrategy[list[tuple[int, int]]]:
    """Shapes of ``count`` matrices that can be multiplied in order, A₁ @ A₂ @ … (eq 33).

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(chain_shapes(3))
    ... def test_they_chain(s):
    ...     assert s[0][1] == s[1][0] and s[1][1] == s[2][0]
    >>> test_they_chain()
    """
    if count < 1 or not 1 <= min_side <= max_side:
        raise JacobianCalcError(f"need count ≥ 1 and 1 ≤ min_side ≤ max_side, got "
                                f"count={count}, min_side={min_side}, max_side={max_side}")
    sides = st.lists(st.integers(min_side, max_side), min_size=count + 1, max_size=count + 1)
    return sides.map(lambda d: [(d[i], d[i + 1]) for i in range(count)])


@st.composite
def well_conditioned_matrices(
    draw: st.DrawFn,
    shape: tuple[int, int] | st.SearchStrategy[tuple[int, int]] = (3, 3),
    *,
    max_condition: float = 10.0,
    symmetric: bool = False,
    positive_determinant: bool = False,
) -> np.ndarray:
    r"""Matrices with condition number at most ``max_condition``: safe under inv, det, logdet.

    Built as :math:`U \operatorname{diag}(\sigma) V^T` from orthonormal U, V (QR factors of
    drawn matrices, orthonormal even when the drawn matrix is singular) and singular values
    σ in [c, c·max_condition] with a drawn scale c ∈ [0.5, 2], so
    σ_max/σ_min ≤ max_condition by construction.

    Parameters
    ----------
    shape : (m, n) or a strategy of such
        Rectangular shapes are allowed; their condition number is σ_max/σ_min.
    max_condition : float
        At least 1.
    symmetric : bool
        Square only: V = U, giving a symmetric positive definite matrix.
    positive_determinant : bool
        Square only: flip a singular vector's sign if needed so det > 0 (for logdet).

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(well_conditioned_matrices((4, 4), max_condition=5.0, positive_determinant=True))
    ... def test_invertible(A):
    ...     assert np.linalg.cond(A) <= 5.0 * (1 + 1e-9) and np.linalg.det(A) > 0
    >>> test_invertible()
    """
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ShapeError(f"well_conditioned_matrices needs a matrix shape (m, n), got {shape}")
    if not max_condition >= 1.0:
        raise JacobianCalcError(f"max_condition must be at least 1, got {max_condition!r}")
    m, n = (int(k) for k in shape)
    if (symmetric or positive_determinant) and m != n:
        raise ShapeError(f"symmetric/positive_determinant need a square shape, got {shape}")
    k = min(m, n)
    U, _ = np.linalg.qr(draw(real_arrays((m, k))))
    V = U if symmetric else np.linalg.qr(draw(real_arrays((n, k))))[0]
    scale = draw(st.floats(0.5, 2.0))
    sigma = scale * draw(hnp.arrays(np.float64, (k,), elements=st.floats(1.0, max_condition)))
    if positive_determinant and not symmetric and np.linalg.det(U) * np.linalg.det(V) < 0:
        U = U.copy()
        U[:, 0] *= -1.0
    return (U * sigma) @ V.T


def arrays_away_from_kinks(
    shape: tuple[int, ...] | st.SearchStrategy,
    *,
    kinks: Sequence[float] = (0.0,),
    margin: float = 1e-3,
    bound: float = 2.0,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays whose entries keep at least ``margin`` away from each non-differentiable point.

    The default kink is relu's at 0. An entry drawn too close to a kink is pushed to
    kink ± margin (on its own side), so nothing is rejected and shrinking still works.
    Finite differences with steps much smaller than ``margin`` then see a smooth function.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(arrays_away_from_kinks((5,), margin=0.01))
    ... def test_no_kink(h):
    ...     assert np.min(np.abs(h)) >= 0.01
    >>> test_no_kink()
    """
    kinks = tuple(float(k) for k in kinks)
    if not margin > 0:
        raise JacobianCalcError(f"margin must be positive, got {margin!r}")

    def push(v: float) -> float:
        for k in kinks:
            if abs(v - k) < margin:
                v = k + margin if v >= k else k - margin
        return v

    def clear(v: float) -> bool:  # two kinks closer than 2·margin can push into each other
        return all(abs(v - k) >= margin for k in kinks)

    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False).map(push).filter(clear)
    return hnp.arrays(np.float64, shape, elements=elements)


# ------------------------------------------------------------------- assertion helpers
def _point(X: object) -> np.ndarray:
    try:
        return np.array(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise JacobianCalcError(f"X must be a real array, got {type(X).__name__}: {exc}") from None


def _evaluate(f: Callable, x: np.ndarray, what: str) -> np.ndarray:
    out = f(x.copy())  # a copy, so a function that writes into its argument cannot skew X
    if isinstance(out, Jacobian) or sp.issparse(out):
        out = out.toarray()
    try:
        arr = np.array(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} did not return real numbers: {exc}") from None
    return arr


def _fmt(a: object) -> str:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.10g}"
    return np.array2string(arr, precision=6, threshold=24, max_line_width=100,
                           separator=", ").replace("\n", "\n      ")


def _index_text(flat: int, shape: tuple[int, ...]) -> str:
    """Entry ``flat`` of vec(X) (column stacking) as X[i, j]."""
    if not shape:
        return "X"
    idx = np.unravel_index(flat, shape, order="F")
    return f"X[{', '.join(str(int(i)) for i in idx)}]"


def _verdict(c: Comparison) -> str:
    return (f"relative error {c.relative:.3e}: |difference| {c.error:.3e} > tolerance "
            f"{c.tolerance:.3e} = atol + rtol·scale (rtol={c.rtol:g}, atol={c.atol:g}, "
            f"scale {c.scale:.3e})")


def _direction_failure(c: Comparison, name: str, scalar: bool) -> str:
    w = c.worst
    if scalar:
        values = (f"    Gâteaux derivative (f(X + tV) − f(X − tV))/2t = {_fmt(w['numeric'][0])}\n"
                  f"    ⟨{name}(X), V⟩_F = {_fmt(w['analytic'][0])}")
    else:
        values = (f"    finite differences (f(X + tV) − f(X − tV))/2t = {_fmt(w['numeric'])}\n"
                  f"    {name}(X) · vec(V) = {_fmt(w['analytic'])}")
    return (f"  worst direction: #{w['direction']} of {w['of']} (seed {w['seed']}), unit "
            f"V = {_fmt(w['V'])}\n{values}\n    {_verdict(c)}")


def _entry_failure(c: Comparison, name: str, shape: tuple[int, ...], scalar: bool) -> str:
    w = c.worst
    i, j = w["row"], w["column"]
    if scalar:
        where = f"entry {_index_text(j, shape)}"
    else:
        where = (f"entry ({i}, {j}) = ∂vec(f)[{i}]/∂vec(X)[{j}], X entry "
                 f"{_index_text(j, shape)}")
    return (f"  finite-difference Jacobian, worst {where}:\n"
            f"    finite differences = {_fmt(w['numeric'])}\n"
            f"    {name}(X) = {_fmt(w['analytic'])}\n"
            f"    {_verdict(c)}")


def assert_gradient_correct(f: Callable[[np.ndarray], object], grad_f: Callable[[np.ndarray], object],
                            X: object, *, rtol: float = 1e-5, atol: float = 1e-8, directions: int = 8,
                            seed: int = 0, finite_differences: bool = True) -> float:
    r"""Assert that ``grad_f`` is the gradient of the scalar function ``f`` at ``X``.

    Two independent numerical checks:

    1. for ``directions`` random unit directions V (seeded), the Gâteaux derivative
       (eq 15) :math:`(f(X+tV) - f(X-tV))/2t` must equal :math:`\langle G, V\rangle_F`
       (eq 14), where G = grad_f(X);
    2. (``finite_differences=True``) G must equal the finite-difference gradient, entry by
       entry (one central difference per entry of X: 2·size(X) calls of f).

    An error passes when ``|numeric − analytic| ≤ atol + rtol·scale``; the scale is
    ‖G‖_F (which bounds the absolute value of ⟨G, V⟩ for a unit V) or the largest
    entry, so a directional derivative near zero does not make a correct gradient fail.

    Parameters
    ----------
    f : callable
        X ↦ scalar.
    grad_f : callable
        X ↦ the gradient shaped like X (eq 12); a :class:`~jacobian_calc.Jacobian` row
        gradient is accepted, and for a vector X so are the row (1, n) and column (n, 1)
        forms (eq 1, eq 6).
    X : array_like
        The point: a scalar, vector or matrix.
    rtol, atol : float
        The tolerance.
    directions : int
        How many random directions.
    seed : int
        Seed of the directions, so a failure can be reproduced.
    finite_differences : bool
        Also compare with the entry-by-entry finite-difference gradient.

    Returns
    -------
    float
        The largest relative error seen (for reporting).

    Raises
    ------
    AssertionError
        The gradient has the wrong shape, is not finite, or disagrees; the message gives
        the worst direction, both values, the relative error and the tolerance used.

    Examples
    --------
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> f = lambda X: np.trace(A @ X)
    >>> err = assert_gradient_correct(f, lambda X: A.T, np.eye(2))  # ∂tr(AX)/∂X = Aᵀ
    >>> assert_gradient_correct(f, lambda X: A, np.eye(2))  # transposed: wrong
    Traceback (most recent call last):
    ...
    AssertionError: gradient check failed: grad_f(X) disagrees with f at X of shape (2, 2)
      worst direction: #...
    """
    x = _point(X)
    f0 = _evaluate(f, x, "f")
    if f0.size != 1:
        raise ShapeError(f"f must return a scalar for a gradient check, but f(X) has shape "
                         f"{f0.shape}; use assert_jacobian_correct for vector or matrix outputs")
    raw = grad_f(x.copy())
    if isinstance(raw, Jacobian):
        if raw.shape != (1, x.size):
            raise AssertionError(f"grad_f(X) returned a Jacobian of shape {raw.shape}, but the "
                                 f"gradient of a scalar w.r.t. X of shape {x.shape} is a row "
                                 f"(1, {x.size}) (eq 1)")
        raw = raw.toarray().reshape(x.shape, order="F")
    G = _evaluate(lambda _: raw, x, "grad_f")
    if G.shape != x.shape:
        if x.ndim == 1 and G.shape in ((1, x.size), (x.size, 1)):
            G = G.reshape(x.shape)  # row (eq 1) or column (eq 6) gradient of a vector
        elif x.ndim == 0 and G.size == 1:
            G = G.reshape(())
        else:
            hint = ""
            if G.ndim == 2 and x.ndim == 2 and G.shape == x.shape[::-1]:
                hint = "; it looks transposed"
            elif G.size == x.size:
                hint = ("; same number of entries but a different shape — reshape with unvec "
                        "(column stacking, eq 16/25)")
            raise AssertionError(f"grad_f(X) has shape {G.shape}, but X has shape {x.shape}; "
                                 f"the gradient must be shaped like X (eq 12){hint}")
    if not np.all(np.isfinite(G)):
        raise AssertionError(f"grad_f(X) has non-finite entries: {_fmt(G)}")
    J = G.reshape(1, -1, order="F")  # vec(G)ᵀ, the row gradient (eq 24)
    return _compare(f, x, J, "grad_f", True, directions, seed, rtol, atol, finite_differences,
                    f"gradient check failed: grad_f(X) disagrees with f at X of shape {x.shape}")


def _compare(f: Callable[[np.ndarray], object], x: np.ndarray, J: np.ndarray, name: str,
             scalar: bool, directions: int, seed: int, rtol: float, atol: float,
             finite_differences: bool, headline: str) -> float:
    """Both checks of a claimed Jacobian J (random directions, then entries): worst error."""
    def evaluate(point: np.ndarray) -> np.ndarray:
        return _evaluate(f, point, "f")

    checks = [compare_directions(evaluate, x, J, directions=directions, seed=seed, rtol=rtol,
                                 atol=atol)] if directions else []
    if finite_differences:
        checks.append(compare_entries(evaluate, x, J, rtol=rtol, atol=atol))
    failures = []
    for c in checks:
        if not c.ok:
            failures.append(_entry_failure(c, name, x.shape, scalar) if "row" in c.worst
                            else _direction_failure(c, name, scalar))
    if failures:
        raise AssertionError(headline + "\n" + "\n".join(failures))
    return max((c.relative for c in checks), default=0.0)


def _as_jacobian_matrix(raw: object, m: int, n: int, y_shape: tuple, x_shape: tuple
                        ) -> np.ndarray:
    if isinstance(raw, Jacobian):
        J = raw.toarray()
    elif sp.issparse(raw):
        J = raw.toarray()
    else:
        try:
            J = np.array(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"jac_f(X) is not a real matrix: {exc}") from None
    if J.shape != (m, n):
        hints = []
        if J.shape == tuple(y_shape) + tuple(x_shape):
            hints.append("it has the out.shape + in.shape tensor layout of JAX/PyTorch "
                         "(row-major); flatten both sides with vec (column stacking)")
        elif J.shape == (n, m):
            hints.append("it looks transposed: rows are outputs and columns inputs (eq 3)")
        elif J.size == m * n:
            hints.append("the number of entries is right; flatten to 2-D with vec")
        hint = f"; {hints[0]}" if hints else ""
        raise AssertionError(
            f"jac_f(X) has shape {J.shape}, but ∂vec(f)/∂vec(X) in the vec convention is "
            f"{m}×{n} (size of f(X) {y_shape} × size of X {x_shape}){hint}")
    if not np.all(np.isfinite(J)):
        raise AssertionError(f"jac_f(X) has non-finite entries: {_fmt(J)}")
    return J


def assert_jacobian_correct(f: Callable[[np.ndarray], object], jac_f: Callable[[np.ndarray], object],
                            X: object, *, rtol: float = 1e-5, atol: float = 1e-8, directions: int = 8,
                            seed: int = 0, finite_differences: bool = True) -> float:
    r"""Assert that ``jac_f(X)`` is the Jacobian ∂vec(f(X))/∂vec(X) in the vec convention.

    ``jac_f`` returns an ndarray, a scipy sparse matrix or a
    :class:`~jacobian_calc.Jacobian` of shape (size(f(X)), size(X)) (eq 3, eq 16). The
    checks are those of :func:`assert_gradient_correct`: J·vec(V) against the central
    difference (f(X+tV) − f(X−tV))/2t in random unit directions V (the 2-norm of the
    difference, scaled by ‖J‖_F), and J against the finite-difference Jacobian entry by
    entry.

    Returns
    -------
    float
        The largest relative error seen.

    Raises
    ------
    AssertionError
        Wrong shape (with a hint when it is transposed or in the tensor layout of
        JAX/PyTorch), non-finite entries, or disagreement: the message gives the worst
        direction, both values, the relative error and the tolerance used.

    Examples
    --------
    >>> A, B = np.arange(6.0).reshape(2, 3), np.arange(8.0).reshape(4, 2)
    >>> f = lambda X: A @ X @ B                      # X is 3×4
    >>> err = assert_jacobian_correct(f, lambda X: np.kron(B.T, A), np.ones((3, 4)))
    >>> assert_jacobian_correct(f, lambda X: np.kron(B, A.T), np.ones((3, 4)))
    Traceback (most recent call last):
    ...
    AssertionError: jac_f(X) has shape (12, 4), but ∂vec(f)/∂vec(X) in the vec convention is 4×12 ... it looks transposed...
    """
    x = _point(X)
    y = _evaluate(f, x, "f")
    m, n = y.size, x.size
    J = _as_jacobian_matrix(jac_f(x.copy()), m, n, y.shape, x.shape)
    return _compare(f, x, J, "jac_f", False, directions, seed, rtol, atol, finite_differences,
                    f"Jacobian check failed: jac_f(X) disagrees with f at X of shape {x.shape} "
                    f"(f(X) has shape {y.shape})")
