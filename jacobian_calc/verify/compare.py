r"""Verdicts: a claimed Jacobian against the numerical derivatives of :mod:`~jacobian_calc.verify.check`.

Two comparisons, the same ones the package's own tests and the command line use:

* in random directions (eq 15): for k seeded unit directions V (Frobenius norm 1), the
  central difference :math:`(f(X + tV) - f(X - tV)) / 2t` against :math:`J \operatorname{vec}(V)`
  — for a scalar f that is :math:`\langle G, V \rangle_F`. This costs 2k evaluations of f
  whatever the size of X, so it verifies a gradient of a million entries in seconds. The
  identity holds for every direction, so how V is drawn is a free choice:
  :func:`random_directions` draws standard-normal entries by default, or uniform ones
  (8-bit), many times cheaper to draw, which
  :func:`~jacobian_calc.verify.network.verify_network` uses; either way V is normalised
  and the draws are seeded;
* entry by entry: J against the finite-difference Jacobian (2·size(X) evaluations), while
  X is small.

The verdict
-----------
A comparison passes when

.. math:: \lVert \text{numeric} - \text{analytic} \rVert \le \text{atol} + \text{rtol}\cdot\text{scale},

with the scale ``max(‖J‖_F, ‖numeric‖)`` for a direction (‖JV‖ ≤ ‖J‖_F for a unit V, so the
scale does not shrink when JV happens to be small) and ``max(max|J|, max|numeric|)`` for
the entries. The absolute part ``atol`` is what makes an exactly-zero Jacobian pass: the
finite differences of a constant are rounding noise of order ε/t, whose *relative* error
against zero is 1. The defaults :data:`RTOL` = 1e-6 and :data:`ATOL` = 1e-8 fit central
differences of functions of order one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core.errors import ChoiceError, JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian
from ..core.structure import Structured, product
from .check import (directional_derivative, finite_difference_jacobian, frobenius_norm,
                    line_derivative)

__all__ = ["RTOL", "ATOL", "ENTRY_LIMIT", "DISTRIBUTIONS", "Comparison", "compare_directions",
           "compare_entries", "verify_jacobian", "random_directions"]

#: Default relative tolerance of a verdict.
RTOL = 1e-6
#: Default absolute tolerance of a verdict.
ATOL = 1e-8
#: Entry-by-entry finite differences are taken only up to this many entries of X.
ENTRY_LIMIT = 2000
#: How :func:`random_directions` can draw the entries of a direction.
DISTRIBUTIONS = ("normal", "uniform")


@dataclass(frozen=True)
class Comparison:
    """The outcome of one comparison of a claimed Jacobian with numerical derivatives.

    Attributes
    ----------
    method : str
        What was compared, e.g. ``"Gâteaux derivatives in 8 random directions"``.
    error : float
        The worst absolute error seen (∞ if anything was not finite).
    scale : float
        The magnitude it is judged against (see the module notes).
    rtol, atol : float
    worst : dict
        Where the worst error is: for directions ``{"direction", "V", "numeric",
        "analytic"}``, for entries ``{"row", "column", "numeric", "analytic"}``.
    """

    method: str
    error: float
    scale: float
    rtol: float
    atol: float
    worst: dict[str, Any] = field(default_factory=dict)

    @property
    def tolerance(self) -> float:
        """atol + rtol·scale: the largest error that passes."""
        return self.atol + self.rtol * self.scale

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.error) and self.error <= self.tolerance)

    @property
    def relative(self) -> float:
        """error / scale (the error itself when the scale is 0)."""
        if not np.isfinite(self.error):
            return float("inf")
        return self.error / self.scale if self.scale > 0 else self.error

    def describe(self) -> str:
        """``"… : error 3.2e-11 ≤ tolerance 1.0e-08 (atol 1e-08 + rtol 1e-06 · scale 4.1e-03): ok"``."""
        verdict = "ok" if self.ok else "MISMATCH"
        sign = "≤" if self.ok else ">"
        return (f"{self.method}: error {self.error:.2e} {sign} tolerance {self.tolerance:.2e} "
                f"(atol {self.atol:g} + rtol {self.rtol:g} · scale {self.scale:.2e}): {verdict}")


def _tolerances(rtol: float, atol: float) -> None:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not np.isfinite(value) or value < 0:
            raise JacobianCalcError(f"{name} must be a finite number ≥ 0, got {value!r}")


def random_directions(shape: tuple[int, ...], count: int, seed: int,
                      distribution: str = "normal") -> Iterator[np.ndarray]:
    """``count`` seeded random directions of unit Frobenius norm, shaped like X, one at a time.

    Drawn lazily: for a parameter of a million entries only one direction is held at once.
    :func:`compare_directions` draws the same directions for the same seed.

    Parameters
    ----------
    shape : tuple of int
    count : int
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same directions.
    distribution : {"normal", "uniform"}
        ``"normal"`` (default): independent standard-normal entries, drawn in row-major
        order. ``"uniform"``: independent entries uniform on [−1, 1) at 8-bit resolution
        — the integers −128 … 127, each with probability 1/256, scaled by 1/128 — taken
        from the bytes of the generator's raw 64-bit outputs (eight per output, lowest
        byte first on every platform) in vec order (column stacking, eq 16) into a
        column-major array, so vec(V) is a view; V = 0, which has the chance 256⁻ⁿ for n
        entries, is drawn again. They cost a small fraction of normal entries to draw: one
        raw output per eight entries, against at least one per entry.

        Either way, for an error E = G′ − G of a gradient, ⟨E, V⟩ has mean (about) 0 and
        variance proportional to ‖E‖²_F, and a wrong gradient escapes a direction only
        where ⟨E, V⟩ comes out below the tolerance. That it is exactly 0 has probability 0
        for normal entries and at most 1/256 for uniform ones (given the other entries, at
        most one of the 256 values of an entry where E is not 0 cancels), 2⁻⁶⁴ for 8
        directions.

    Yields
    ------
    numpy.ndarray
        V of the given shape with ‖V‖_F = 1 (to rounding), a fresh array each time.

    Examples
    --------
    >>> [V] = random_directions((2, 3), 1, seed=0, distribution="uniform")
    >>> V.shape, round(float(np.linalg.norm(V)), 12)
    ((2, 3), 1.0)
    """
    _check_count(count)
    _check_distribution(distribution)
    rng = np.random.default_rng(seed)
    for _ in range(count):
        v, norm = _draw(rng, tuple(shape), distribution)
        if norm > 0:
            v /= norm
        yield v


def _check_count(count: object) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise JacobianCalcError(f"the number of directions must be an int ≥ 0, got {count!r}")


def _check_distribution(distribution: object) -> None:
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ChoiceError("distribution", distribution, DISTRIBUTIONS)


def _draw(rng: np.random.Generator, shape: tuple[int, ...], distribution: str,
          out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """One direction of :func:`random_directions` before it is normalised, and its norm.

    ``out`` (uniform only): a column-major float64 array of the shape to draw into instead
    of a fresh one. The norm is ``np.linalg.norm`` of the entries.
    """
    if distribution == "normal":
        v = rng.standard_normal(shape)
        return v, float(np.linalg.norm(np.ravel(v)))
    size = int(np.prod(shape, dtype=np.int64))
    v = np.empty(shape, order="F") if out is None else out
    flat = v.reshape(-1, order="F")  # a view: v is column-major
    while True:
        # Each raw 64-bit output gives eight bytes, read little-endian (the lowest byte
        # first) so that the directions are the same on every platform.
        raw = rng.bit_generator.random_raw(-(-size // 8))
        octets = raw.astype("<u8", copy=False).view(np.int8)[:size]
        np.copyto(flat, octets)  # exact; the factor 1/128 cancels in the normalisation
        norm = float(np.sqrt(np.dot(flat, flat)))
        if norm > 0 or size == 0:  # V = 0 (chance 256^-size) is no direction: draw again
            return v, norm


def _apply(J: Any, v: np.ndarray) -> np.ndarray:
    """J · vec(V) for a dense, sparse or structured J, or a Jacobian, without densifying it."""
    column = v.reshape(-1, 1, order="F")
    storage = J.storage if isinstance(J, Jacobian) else J
    if isinstance(storage, Structured):
        return np.asarray(product(storage, column)).ravel()
    return np.asarray(storage @ column).ravel()


def _frobenius(J: Any) -> float:
    storage = J.storage if isinstance(J, Jacobian) else J
    if isinstance(storage, Structured):
        storage = storage.materialize()
    if sp.issparse(storage):
        return float(np.sqrt(np.sum(storage.data ** 2)))
    return float(np.linalg.norm(np.asarray(storage)))


def compare_directions(f: Callable[[np.ndarray], object], X: np.ndarray, J: Any, *,
                       directions: int = 8, seed: int = 0, rtol: float = RTOL,
                       atol: float = ATOL, distribution: str = "normal",
                       along: Callable[[np.ndarray], Callable[[float], object]] | None = None
                       ) -> Comparison:
    """``J`` against central differences of ``f`` in ``directions`` random unit directions (eq 15).

    Parameters
    ----------
    f : callable
        X ↦ scalar, vector or matrix (vec of the output is compared).
    X : ndarray
        The point.
    J : ndarray, scipy sparse, structured matrix or Jacobian, shape (size(f(X)), size(X))
    directions : int
    seed : int
        Seed of the directions, so a failure can be reproduced.
    distribution : {"normal", "uniform"}
        How the directions' entries are drawn (:func:`random_directions`).
    along : callable, optional
        f restricted to lines through X: ``along(V)`` returns s ↦ f(X + sV). When given,
        the central differences are taken on it
        (:func:`~jacobian_calc.verify.check.line_derivative`, the same quotient and step
        rule) instead of forming X ± tV and calling f — for an f that is cheaper to evaluate
        along a fixed line than at an arbitrary point. It must agree with f (to rounding);
        f itself is then not called.
    """
    _tolerances(rtol, atol)
    _check_count(directions)
    _check_distribution(distribution)
    x = np.asarray(X, dtype=np.float64)
    rows = J.shape[0]
    if J.shape[1] != x.size:
        raise ShapeError(f"the Jacobian has {J.shape[1]} columns but X has {x.size} entries")
    norm = _frobenius(J)
    x_norm = 0.0
    if along is not None and x.size:  # ‖X‖ sets the step along each line: max(1, ‖X‖)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            x_norm = float(np.linalg.norm(x.ravel(order="K")))  # underflow: any ‖X‖ < 1 will do
        if not np.isfinite(x_norm):
            if not np.all(np.isfinite(x)):
                raise JacobianCalcError("X contains NaN or ±inf; the point must be finite")
            x_norm = frobenius_norm(x)  # the sum of squares overflowed: scaled, exactly
    rng = np.random.default_rng(seed)
    # Along lines, uniform directions are drawn into one buffer, used without being
    # normalised (numeric and analytic are divided by ‖V‖ instead), and the generator's
    # state before each draw is kept: the worst direction is drawn again at the end.
    reuse = along is not None and distribution == "uniform"
    buffer = np.empty(x.shape, order="F") if reuse else None
    worst_error, worst_scale, worst, worst_norm, worst_state = 0.0, norm, {}, 1.0, None
    for k in range(directions):
        state = rng.bit_generator.state if reuse else None
        V, v_norm = _draw(rng, x.shape, distribution, out=buffer)
        if along is None:
            if v_norm > 0:
                V /= v_norm
            analytic = _apply(J, V)
            numeric = np.ravel(directional_derivative(f, x, V), order="F")
        else:
            unit = 1.0 / v_norm if v_norm > 0 else 1.0
            analytic = _apply(J, V) * unit
            numeric = np.ravel(line_derivative(along(V), x_norm, v_norm), order="F") * unit
        if numeric.shape != (rows,):
            raise ShapeError(f"f(X) has {numeric.size} entries but the Jacobian has {rows} rows")
        diff = numeric - analytic
        error = float(np.linalg.norm(diff)) if np.all(np.isfinite(diff)) else float("inf")
        scale = max(norm, float(np.linalg.norm(numeric)) if np.all(np.isfinite(numeric)) else 0.0)
        if not worst or error / max(scale, 1e-300) > worst_error / max(worst_scale, 1e-300):
            worst_error, worst_scale, worst_state = error, scale, state
            worst_norm = v_norm if along is not None and v_norm > 0 else 1.0
            worst = {"direction": k + 1, "of": directions, "seed": seed,
                     "V": None if reuse else V, "numeric": numeric, "analytic": analytic}
    if worst and reuse:  # the buffer holds the last direction: draw the worst one again
        rng.bit_generator.state = worst_state
        worst["V"], _ = _draw(rng, x.shape, distribution, out=buffer)
    if worst and worst_norm != 1.0:
        worst["V"] /= worst_norm  # the unit direction, as random_directions yields it
    kind = "" if distribution == "normal" else f" {distribution}"
    method = (f"Gâteaux derivatives (central differences) in {directions} random{kind} "
              f"direction{'s' if directions != 1 else ''}")
    return Comparison(method, worst_error, worst_scale, rtol, atol, worst)


def compare_entries(f: Callable[[np.ndarray], object], X: np.ndarray, J: Any, *,
                    rtol: float = RTOL, atol: float = ATOL) -> Comparison:
    """``J`` against the central finite-difference Jacobian of ``f``, entry by entry (vec convention)."""
    _tolerances(rtol, atol)
    x = np.asarray(X, dtype=np.float64)
    fd = finite_difference_jacobian(f, x)
    dense = J.toarray() if isinstance(J, (Jacobian, Structured)) or sp.issparse(J) \
        else np.asarray(J, dtype=np.float64)
    if dense.shape != fd.shape:
        raise ShapeError(f"the Jacobian has shape {dense.shape} but the finite differences of f "
                         f"have shape {fd.shape}")
    diff = np.abs(fd - dense)
    if not (np.all(np.isfinite(fd)) and np.all(np.isfinite(dense))):
        error, scale = float("inf"), 1.0
        diff = np.where(np.isfinite(diff), diff, np.inf)
    else:
        error = float(diff.max()) if diff.size else 0.0
        scale = max(float(np.abs(dense).max()), float(np.abs(fd).max())) if dense.size else 0.0
    worst: dict[str, Any] = {}
    if diff.size:
        i, j = (int(a) for a in np.unravel_index(int(np.argmax(diff)), diff.shape))
        worst = {"row": i, "column": j, "numeric": float(fd[i, j]),
                 "analytic": float(dense[i, j])}
    method = f"central differences, all {x.size} entr{'y' if x.size == 1 else 'ies'}"
    return Comparison(method, error, scale, rtol, atol, worst)


def verify_jacobian(f: Callable[[np.ndarray], object], X: np.ndarray, J: Any, *,
                    directions: int = 8, entries: bool | None = None, seed: int = 0,
                    rtol: float = RTOL, atol: float = ATOL) -> list[Comparison]:
    """Both comparisons: random directions, then (while X is small) entry by entry.

    Parameters
    ----------
    entries : bool or None
        Compare entry by entry; ``None`` (default) does so when X has at most
        :data:`ENTRY_LIMIT` entries.

    Returns
    -------
    list of Comparison
        The direction comparison, then the entry comparison when it was made.
    """
    x = np.asarray(X, dtype=np.float64)
    out = [compare_directions(f, x, J, directions=directions, seed=seed, rtol=rtol, atol=atol)]
    if entries is None:
        entries = x.size <= ENTRY_LIMIT
    if entries:
        out.append(compare_entries(f, x, J, rtol=rtol, atol=atol))
    return out
