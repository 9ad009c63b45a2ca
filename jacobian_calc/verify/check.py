r"""Numerical checks: Frobenius product and norm, Gâteaux derivatives, finite differences.

These are the independent oracles the tests use, shipped so users can check their own
derivations the same way.

* :func:`frobenius_inner` and :func:`frobenius_norm` are eq (14) and eq (13).
* :func:`gateaux_derivative` approximates the limit of eq (15),
  :math:`\lim_{t\to 0} (f(X + tV) - f(X))/t`, for functions of vectors or matrices;
  :func:`line_derivative` takes the same quotient, by the same step rule, of f given on
  the line through X along V (:math:`s \mapsto f(X + sV)`), for a caller who can evaluate
  f there more cheaply than at an arbitrary point.
* :func:`finite_difference_jacobian` builds a whole Jacobian column by column in the
  vec convention (eq 16), so it can be compared entry by entry with a literal one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from ..core.errors import ChoiceError, JacobianCalcError, ShapeError
from ..core.limits import check_work
from ..core.validation import as_real_array, check_same_shape, positive_finite

__all__ = [
    "frobenius_inner",
    "frobenius_norm",
    "gateaux_derivative",
    "finite_difference_jacobian",
    "max_relative_error",
    "default_step",
    "directional_derivative",
    "line_derivative",
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
    with np.errstate(over="ignore", invalid="ignore"):
        products = a * b
        if np.all(np.isfinite(products)):
            return float(np.sum(products))
        # A product overflowed, though the sum may not (1e400 − 1e400): scale both by powers
        # of two, which is exact, add, and scale back.
        ea, eb = int(np.frexp(np.max(np.abs(a)))[1]), int(np.frexp(np.max(np.abs(b)))[1])
        return float(np.ldexp(np.sum(np.ldexp(a, -ea) * np.ldexp(b, -eb)), ea + eb))


def frobenius_norm(A: object) -> float:
    r"""‖A‖_F = √(Σᵢⱼ aᵢⱼ²) (eq 13).

    Examples
    --------
    >>> frobenius_norm([[3.0, 0.0], [0.0, 4.0]])
    5.0
    """
    return _norm(as_real_array(A, "A"))


def _norm(a: np.ndarray) -> float:
    """‖a‖₂ over all entries, scaled by a power of two so that no square over- or underflows.

    The scaling is exact, so where ``np.linalg.norm`` has no trouble the result is the same;
    there (the sum of squares finite and well above the underflow threshold, which no
    square that underflowed could have changed) it is taken as it is, in one pass.
    """
    flat = a.ravel(order="K")
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        squares = float(np.dot(flat, flat))
    if 2.0 ** -900 <= squares < math.inf:
        return math.sqrt(squares)
    big = float(np.max(np.abs(a)))
    if big == 0.0:
        return 0.0
    e = int(np.frexp(big)[1])
    with np.errstate(over="ignore"):  # a norm beyond the float range is inf, as it should be
        return float(np.ldexp(np.linalg.norm(np.ldexp(a.ravel(), -e)), e))


def default_step(X: np.ndarray, V: np.ndarray, scheme: Scheme = "central") -> float:
    """The step t that balances truncation and rounding error along V from X.

    ∛ε·max(1, ‖X‖)/‖V‖ for central differences, √ε·max(1, ‖X‖)/‖V‖ for forward ones
    (‖·‖ the Frobenius norm), so that the move tV has the length ∛ε·max(1, ‖X‖) or
    √ε·max(1, ‖X‖) whatever the length of V; ∛ε or √ε when V is 0.

    Parameters
    ----------
    X, V : numpy.ndarray
        The point and the direction (already validated, same shape).
    scheme : {"central", "forward"}

    Returns
    -------
    float
        Positive; it can under- or overflow only when ‖V‖ is extreme (below about 1e-290
        or above about 1e290). :func:`gateaux_derivative` steps along V/‖V‖ instead.

    Examples
    --------
    >>> t = default_step(np.zeros(2), np.array([3.0, 4.0]), "forward")  # ‖V‖ = 5
    >>> round(float(t * 5 / np.sqrt(np.finfo(float).eps)), 12)
    1.0
    """
    _check_scheme(scheme)
    base = _EPS ** (1 / 3) if scheme == "central" else _EPS ** 0.5
    vnorm = _norm(np.asarray(V, dtype=np.float64))
    if vnorm == 0.0:
        return base
    return base * max(1.0, _norm(np.asarray(X, dtype=np.float64))) / vnorm


def _values(value: object, where: str) -> np.ndarray:
    arr = as_real_array(value, f"f({where})", ndim=None, finite=False)
    if arr.size == 0:
        raise ShapeError(f"f({where}) is empty")
    return arr


def _scalar(value: object, where: str) -> float:
    arr = as_real_array(value, f"f({where})", ndim=None, finite=False)
    if arr.size != 1:
        raise ShapeError(f"f must return a scalar, but f({where}) has shape {arr.shape}")
    return float(arr.reshape(()))


def _check_scheme(scheme: str) -> None:
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ChoiceError("scheme", scheme, SCHEMES)


def _check_function(f: object) -> None:
    if not callable(f):
        shown = repr(f) if len(repr(f)) <= 60 else f"{repr(f)[:57]}..."
        raise JacobianCalcError(
            f"f must be a callable taking an array, got {shown} (type {type(f).__name__})")


def gateaux_derivative(f: Callable[[np.ndarray], object], X: object, V: object, *,
                       t: float | None = None, scheme: Scheme = "central") -> float:
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
        differences and √ε·max(1, ‖X‖)/‖V‖ for forward ones. The default is taken along
        the unit direction V/‖V‖ (a step of ∛ε·max(1, ‖X‖) or √ε·max(1, ‖X‖)) and the
        quotient multiplied by ‖V‖: the same limit, for V of any magnitude.
    scheme : {"central", "forward"}
        Central differences have error O(t²), forward ones O(t).

    Returns
    -------
    float
        NaN or ±inf where f is not finite at the points it is evaluated at: judging that
        is the caller's part, as for :func:`finite_difference_jacobian`.

    Raises
    ------
    JacobianCalcError
        ``f`` is not callable or does not return a real number; ``t`` is not a positive
        finite number, is lost to rounding (X ± tV equals X while V is not 0) or overflows
        there; X or V is not a real finite array.
    ShapeError
        X and V differ in shape, or f does not return a scalar.

    Examples
    --------
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> X, V = np.eye(2), np.ones((2, 2))
    >>> round(gateaux_derivative(lambda X: np.trace(A @ X), X, V), 6)  # ⟨Aᵀ, V⟩ = 6
    6.0
    """
    value = directional_derivative(f, X, V, t=t, scheme=scheme, scalar=True)
    return float(value.reshape(()))


def directional_derivative(
    f: Callable[[np.ndarray], object],
    X: object,
    V: object,
    *,
    t: float | None = None,
    scheme: Scheme = "central",
    scalar: bool = False,
) -> np.ndarray:
    r"""The Gâteaux derivative (eq 15) of a scalar-, vector- or matrix-valued f at X along V.

    .. math:: \frac{f(X + tV) - f(X - tV)}{2t} \approx J \operatorname{vec}(V)

    Parameters and step rules are those of :func:`gateaux_derivative`; ``scalar=True``
    requires f to return one number.

    Returns
    -------
    numpy.ndarray
        Shaped like f(X): the derivative of every entry of f along V.

    Examples
    --------
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> directional_derivative(lambda x: A @ x, np.zeros(2), np.array([1.0, 0.0])).round(6)
    array([2., 0.])
    """
    _check_function(f)
    _check_scheme(scheme)
    x, v = as_real_array(X, "X"), as_real_array(V, "V")
    check_same_shape(x, v, ("X", "V"))
    central = scheme == "central"
    t, scale, what = _gateaux_step(x, v, t, central)
    # The limit is linear in V: by default step along V/‖V‖ and scale the quotient back by
    # ‖V‖, so that neither a tiny nor a huge V makes the step under- or overflow.
    direction = v / scale if scale != 1.0 else v
    sign = "±" if central else "+"
    with np.errstate(over="ignore"):  # an overflow is reported just below
        points = [x + t * direction] + ([x - t * direction] if central else [])
    if not all(np.all(np.isfinite(p)) for p in points):
        raise JacobianCalcError(f"{what} overflows: X {sign} tV is not finite")
    if np.any(direction != 0) and any(np.array_equal(p, x) for p in points):
        raise JacobianCalcError(f"{what} is lost to rounding: X {sign} tV equals X in float64; "
                                f"take a larger t")
    read = _scalar if scalar else _values
    up = read(f(points[0]), "X + tV")
    low = read(f(points[1]), "X − tV") if central else read(f(x.copy()), "X")
    return _gateaux_quotient(up, low, t, scale, central)


def line_derivative(
    line: Callable[[float], object],
    X_norm: float,
    V_norm: float,
    *,
    t: float | None = None,
    scheme: Scheme = "central",
    scalar: bool = False,
) -> np.ndarray:
    r"""The Gâteaux derivative (eq 15) at X along V of f given on the line: ``line(s) = f(X + sV)``.

    .. math:: \frac{\varphi(s) - \varphi(-s)}{2s} \approx J \operatorname{vec}(V),
              \qquad \varphi(s) = f(X + sV)

    The quotient, the step rule and the treatment of NaN, ∞ and overflow are those of
    :func:`~jacobian_calc.verify.check.directional_derivative` (the two share them); only the way f is reached differs.
    This is for a caller who can evaluate f along a fixed line more cheaply than at an
    arbitrary point — a network whose layers below the perturbed weight W do not change
    along the line, for example, so that :math:`(W \pm sV)z = Wz \pm s\,(Vz)` reuses Wz.
    No point X ± sV is formed here, so what :func:`~jacobian_calc.verify.check.directional_derivative` checks on those
    points (finite, and different from X in float64) is the line's part.

    Parameters
    ----------
    line : callable
        s ↦ f(X + sV) for a float s; returns a scalar, or an array of one fixed shape.
    X_norm, V_norm : float
        ‖X‖_F and ‖V‖_F (eq 13), for the default step (see :func:`gateaux_derivative`):
        the move along V has the length ∛ε·max(1, ‖X‖) (√ε·max(1, ‖X‖) forward), so
        ``line`` is evaluated at s = ±∛ε·max(1, ‖X‖)/‖V‖. They choose the step only: the
        quotient is the derivative along V itself whatever they are.
    t : float, optional
        The step, a positive finite number: ``line`` is evaluated at ±t (central) or at t
        and 0 (forward). By default as above.
    scheme : {"central", "forward"}
    scalar : bool
        Require ``line`` to return one number.

    Returns
    -------
    numpy.ndarray
        Shaped like the values of ``line``; NaN or ±inf where they are not finite.

    Raises
    ------
    JacobianCalcError
        ``line`` is not callable or does not return real numbers; ``t``, ``X_norm`` or
        ``V_norm`` is not a finite number (``t`` > 0, the norms ≥ 0); the default step
        along V underflows to 0 or overflows (‖V‖ extreme: pass a V of moderate norm).
    ShapeError
        ``line`` returns different shapes at the two points, or not a scalar when
        ``scalar=True``.

    Examples
    --------
    >>> A, X, V = np.array([[2.0, 1.0], [0.0, 3.0]]), np.eye(2), np.ones((2, 2))
    >>> f = lambda M: np.trace(A @ M)
    >>> on_line = lambda s: f(X + s * V)  # here simply f at X + sV
    >>> float(line_derivative(on_line, frobenius_norm(X), frobenius_norm(V)).round(6))
    6.0
    """
    if not callable(line):
        shown = repr(line) if len(repr(line)) <= 60 else f"{repr(line)[:57]}..."
        raise JacobianCalcError(f"line must be a callable taking a float s, got {shown} "
                                f"(type {type(line).__name__})")
    _check_scheme(scheme)
    norms = []
    for name, value in (("X_norm", X_norm), ("V_norm", V_norm)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not np.isfinite(value) or value < 0:
            raise JacobianCalcError(f"{name} must be a finite number ≥ 0, got {value!r}")
        norms.append(float(value))
    central = scheme == "central"
    t, scale, what = _gateaux_step(norms[0], norms[1], t, central)
    with np.errstate(over="ignore"):
        s = t / scale  # the step along V itself
    if not (np.isfinite(s) and s > 0):
        raise JacobianCalcError(f"{what} along V of norm {norms[1]!r} is t/‖V‖ = {s!r}: "
                                f"pass a direction of moderate norm")
    read = _scalar if scalar else _values
    up = read(line(s), "X + sV")
    low = read(line(-s), "X − sV") if central else read(line(0.0), "X")
    return _gateaux_quotient(up, low, t, scale, central)


def _gateaux_step(x: np.ndarray | float, v: np.ndarray | float, t: float | None,
                  central: bool) -> tuple[float, float, str]:
    """The step rule of eq (15)'s quotient: (t, scale, what).

    f is evaluated at X ± t·V/scale (X + t·V/scale and X when forward), the difference is
    divided by 2t (t) and multiplied by scale. By default scale = ‖V‖ (1 when V is 0) and
    t = ∛ε·max(1, ‖X‖) (√ε·max(1, ‖X‖) forward); a given t is used along V itself.
    ``x`` and ``v`` are the arrays or their norms.
    """
    if t is None:
        vnorm = v if isinstance(v, float) else _norm(v)
        xnorm = x if isinstance(x, float) else _norm(x)
        t = (_EPS ** (1 / 3) if central else _EPS ** 0.5) * max(1.0, xnorm)
        return t, vnorm or 1.0, f"the default step t = {t!r}"
    t = positive_finite(t, "t")
    return t, 1.0, f"t = {t!r}"


def _gateaux_quotient(up: object, low: object, t: float, scale: float,
                      central: bool) -> np.ndarray:
    """scale·(up − low)/(2t) (central) or scale·(up − low)/t, without spurious overflow."""
    if np.shape(up) != np.shape(low):
        raise ShapeError(f"f(X + tV) has shape {np.shape(up)} but the other value of f has "
                         f"shape {np.shape(low)}; f must return the same shape at every point")
    width = 2 * t if central else t
    with np.errstate(over="ignore", invalid="ignore"):  # NaN and inf pass through
        quotient = (np.asarray(up) - np.asarray(low)) / width
        overflowed = np.isinf(quotient) & np.isfinite(up) & np.isfinite(low)
        if np.any(overflowed):  # the difference of two huge values overflowed
            quotient = np.where(overflowed, np.asarray(up) / width - np.asarray(low) / width,
                                quotient)
        return np.asarray(scale * quotient, dtype=np.float64)


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
        Each column is divided by the step really taken (``x_j + h − x_j``, which is ``h``
        rounded); a difference of two huge values that overflows is divided first. Where
        f is NaN or infinite the entries are too, without numpy warnings: judging them is
        the caller's part (:func:`max_relative_error` counts them as infinitely wrong).

    Raises
    ------
    JacobianCalcError
        ``f`` is not callable or returns something other than real numbers; ``step`` is
        not a positive finite number, or is lost to rounding next to an entry of X (or
        overflows there, or the step taken does); X is not a real finite array.
    ShapeError
        f returns an empty array, or arrays of different shapes at different points.
    WorkLimitError
        The Jacobian would exceed the work bound; checked after the first value of f,
        before the Jacobian is built.

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
    n = flat.size
    central = scheme == "central"
    base = _EPS ** (1 / 3) if central else _EPS ** 0.5
    first: list[tuple[str, tuple[int, ...]]] = []  # the name and shape of the first value of f

    def evaluate(point: np.ndarray, name: str) -> np.ndarray:
        out = as_real_array(f(point.reshape(x.shape, order="F")), name, ndim=None, finite=False)
        if not first:
            first.append((name, out.shape))
            check_work(out.size * n + 2 * n, out.size * n + 2 * n * n,
                       f"finite_difference_jacobian(f, X), a {out.size}×{n} Jacobian from "
                       f"{2 * n if central else n + 1:,} evaluations of f,")
        elif out.shape != first[0][1]:
            raise ShapeError(f"{name} has shape {out.shape} but {first[0][0]} has shape "
                             f"{first[0][1]}; f must return the same shape at every point")
        return out.reshape(-1, order="F")

    f0 = None if central else evaluate(flat.copy(), "f(X)")
    J: np.ndarray | None = None
    for j in range(n):
        xj = float(flat[j])
        h = step if step is not None else base * max(1.0, abs(xj))
        up = flat.copy()
        with np.errstate(over="ignore"):  # an overflow is reported just below
            up[j] += h
            moved = [float(up[j])]
            if central:
                down = flat.copy()
                down[j] -= h
                moved.append(float(down[j]))
        sign = "±" if central else "+"
        if xj in moved:
            raise JacobianCalcError(
                f"step {h!r} is lost to rounding at entry {j} of vec(X), {xj!r}: "
                f"X {sign} step·e_{j} equals X in float64; take a step well above "
                f"{float(np.spacing(abs(xj))):.3g}, the spacing of float64 there")
        if not all(np.isfinite(moved)):
            raise JacobianCalcError(f"step {h!r} overflows at entry {j} of vec(X), {xj!r}: "
                                    f"X {sign} step·e_{j} is not finite")
        # Divide by the step really taken (x_j + h − x_j is h rounded), not by h itself.
        with np.errstate(over="ignore"):
            taken = moved[0] - moved[1] if central else moved[0] - xj
        if not np.isfinite(taken):
            start = f"X − step·e_{j}" if central else "X"
            raise JacobianCalcError(f"step {h!r} overflows at entry {j} of vec(X), {xj!r}: the "
                                    f"step taken, from {start} to X + step·e_{j}, is not finite")
        high = evaluate(up, f"f(X + h·e_{j})")
        low_value = evaluate(down, f"f(X − h·e_{j})") if central else f0
        with np.errstate(over="ignore", invalid="ignore"):  # NaN and inf pass through
            column = (high - low_value) / taken
            lost = ~np.isfinite(column) & np.isfinite(high) & np.isfinite(low_value)
            if lost.any():  # the difference of two huge finite values overflowed
                column[lost] = high[lost] / taken - low_value[lost] / taken
        if J is None:
            J = np.empty((column.size, n))
        J[:, j] = column
    return J


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
    if scale == 0.0:
        return 0.0
    # Both scaled by the same power of two (exact): x − y cannot overflow, and the ratio
    # is the unscaled one wherever that one is representable.
    e = int(np.frexp(scale)[1])
    return float(np.max(np.abs(np.ldexp(x, -e) - np.ldexp(y, -e)))) / float(np.ldexp(scale, -e))
