r"""Numerical checks: Frobenius product and norm, Gâteaux derivatives, finite differences.

These are the independent oracles the tests use, shipped so users can check their own
derivations the same way.

* :func:`frobenius_inner` and :func:`frobenius_norm` are eq (14) and eq (13).
* :func:`gateaux_derivative` approximates the limit of eq (15),
  :math:`\lim_{t\to 0} (f(X + tV) - f(X))/t`, for functions of vectors or matrices.
* :func:`finite_difference_jacobian` builds a whole Jacobian column by column in the
  vec convention (eq 16), so it can be compared entry by entry with a literal one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from ..core.errors import ChoiceError, JacobianCalcError, ShapeError
from ..core.validation import as_real_array, check_same_shape, positive_finite

__all__ = [
    "frobenius_inner",
    "frobenius_norm",
    "gateaux_derivative",
    "finite_difference_jacobian",
    "max_relative_error",
]

Scheme = Literal["central", "forward"]
SCHEMES = ("central", "forward")
_EPS = float(np.finfo(np.float64).eps)


def frobenius_inner(A: object, B: object) -> float:
    r"""⟨A, B⟩_F = Σᵢⱼ aᵢⱼ bᵢⱼ = tr(AᵀB) (eq 14). A and B must have the same shape.

    Examples
    --------
    >>> A, B = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> frobenius_inner(A, B), float(np.trace(A.T @ B))
    (5.0, 5.0)
    """
    a, b = as_real_array(A, "A"), as_real_array(B, "B")
    if a.ndim == 1 and b.ndim == 2 and b.shape[1] == 1:  # (n,) and (n, 1): the same vector
        a = a[:, None]
    elif b.ndim == 1 and a.ndim == 2 and a.shape[1] == 1:
        b = b[:, None]
    check_same_shape(a, b, ("A", "B"))
    return float(np.sum(a * b))


def frobenius_norm(A: object) -> float:
    r"""‖A‖_F = √(Σᵢⱼ aᵢⱼ²) (eq 13).

    Examples
    --------
    >>> frobenius_norm([[3.0, 0.0], [0.0, 4.0]])
    5.0
    """
    a = as_real_array(A, "A")
    return float(np.linalg.norm(a.ravel()))


def _scalar(value: object, where: str) -> float:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ShapeError(f"f must return a scalar, but f({where}) has shape {arr.shape}")
    return float(arr.reshape(()))


def _step(x: np.ndarray, v: np.ndarray, scheme: str) -> float:
    """A step that balances truncation and rounding error for the scheme's order."""
    base = _EPS ** (1 / 3) if scheme == "central" else _EPS ** 0.5
    vnorm = float(np.linalg.norm(v.ravel()))
    if vnorm == 0.0:
        return base
    return base * max(1.0, float(np.linalg.norm(x.ravel()))) / vnorm


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ChoiceError("scheme", scheme, SCHEMES)


def _check_function(f: object) -> None:
    if not callable(f):
        shown = repr(f) if len(repr(f)) <= 60 else f"{repr(f)[:57]}..."
        raise JacobianCalcError(
            f"f must be a callable taking an array, got {shown} (type {type(f).__name__})")


def gateaux_derivative(
    f: Callable[[np.ndarray], object],
    X: object,
    V: object,
    *,
    t: float | None = None,
    scheme: Scheme = "central",
) -> float:
    r"""The directional derivative of a scalar function at X in the direction V (eq 15).

    .. math:: \lim_{t \to 0} \frac{f(X + tV) - f(X)}{t} \approx \frac{f(X + tV) - f(X - tV)}{2t}

    If f has a gradient G at X, the result approximates ⟨G, V⟩_F (eq 14).

    Parameters
    ----------
    f : callable
        Takes an array shaped like X, returns a scalar.
    X, V : array_like
        The point and the direction, of the same shape (vector or matrix).
    t : float, optional
        The step, a positive finite number; by default ∛ε·max(1, ‖X‖)/‖V‖ for central
        differences and √ε·max(1, ‖X‖)/‖V‖ for forward ones.
    scheme : {"central", "forward"}
        Central differences have error O(t²), forward ones O(t).

    Returns
    -------
    float

    Raises
    ------
    JacobianCalcError
        ``f`` is not callable, ``t`` is not a positive finite number, or X or V is not a
        real finite array.
    ShapeError
        X and V differ in shape, or f does not return a scalar.

    Examples
    --------
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> X, V = np.eye(2), np.ones((2, 2))
    >>> round(gateaux_derivative(lambda X: np.trace(A @ X), X, V), 6)  # ⟨Aᵀ, V⟩ = 6
    6.0
    """
    _check_function(f)
    _check_scheme(scheme)
    x, v = as_real_array(X, "X"), as_real_array(V, "V")
    check_same_shape(x, v, ("X", "V"))
    t = positive_finite(_step(x, v, scheme) if t is None else t, "t")
    up = _scalar(f(x + t * v), "X + tV")
    if scheme == "central":
        return float((up - _scalar(f(x - t * v), "X − tV")) / (2 * t))
    return float((up - _scalar(f(x.copy()), "X")) / t)


def finite_difference_jacobian(
    f: Callable[[np.ndarray], object],
    X: object,
    *,
    step: float | None = None,
    scheme: Scheme = "central",
) -> np.ndarray:
    r"""The Jacobian ∂vec(f(X))/∂vec(X) by finite differences, in the vec convention.

    Column j perturbs entry j of vec(X) (column stacking, eq 16); the rows are vec of the
    output. The result therefore has the layout of the literal Jacobians of this library.

    Parameters
    ----------
    f : callable
        Takes an array shaped like X; returns a scalar, vector or matrix.
    X : array_like
    step : float, optional
        Per-entry step, a positive finite number; by default ∛ε·max(1, |x_j|) (central)
        or √ε·max(1, |x_j|) (forward).
    scheme : {"central", "forward"}

    Returns
    -------
    numpy.ndarray, shape (size(f(X)), size(X))

    Raises
    ------
    JacobianCalcError
        ``f`` is not callable, ``step`` is not a positive finite number, or X is not a
        real finite array.

    Examples
    --------
    >>> W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> J = finite_difference_jacobian(lambda x: W @ x, np.array([1.0, -1.0]))
    >>> np.allclose(J, W)  # eq (11)
    True
    """
    _check_function(f)
    _check_scheme(scheme)
    if step is not None:
        step = positive_finite(step, "step")
    x = as_real_array(X, "X")
    flat = x.reshape(-1, order="F")
    base = _EPS ** (1 / 3) if scheme == "central" else _EPS ** 0.5

    def evaluate(point: np.ndarray) -> np.ndarray:
        out = np.asarray(f(point.reshape(x.shape, order="F")), dtype=np.float64)
        return out.reshape(-1, order="F")

    f0 = evaluate(flat) if scheme == "forward" else None
    columns = []
    for j in range(flat.size):
        h = step if step is not None else base * max(1.0, abs(flat[j]))
        up = flat.copy()
        up[j] += h
        if scheme == "central":
            down = flat.copy()
            down[j] -= h
            columns.append((evaluate(up) - evaluate(down)) / (2 * h))
        else:
            columns.append((evaluate(up) - f0) / h)
    return np.stack(columns, axis=1)


def max_relative_error(a: object, b: object) -> float:
    """max|a − b| / max(max|a|, max|b|): 0 when both are all zero, inf if any is not finite.

    Examples
    --------
    >>> max_relative_error([1.0, 2.0], [1.0, 2.2])
    0.0909...
    """
    x, y = as_real_array(a, "a", finite=False), as_real_array(b, "b", finite=False)
    check_same_shape(x, y, ("a", "b"))
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return float("inf")  # never let NaN compare as "close"
    scale = max(float(np.max(np.abs(x))), float(np.max(np.abs(y))))
    diff = float(np.max(np.abs(x - y)))
    if scale == 0.0:
        return diff
    return diff / scale
