"""The lecture network's Hessian blocks checked against the compact formulas and the numbers.

For every block H_XY asked for, :func:`verify_hessian` compares the literal block
(:meth:`MLP.hessian <jacobian_calc.lecture.hessians.Curvature.hessian>`, assembled node by node from the operations'
second-order rules)

* with the compact Hessian-vector product of :mod:`jacobian_calc.lecture.curvature` (the
  R-operator, written independently): H_XY vec(V) against (H v)_X for V in Y only, in k
  random directions;
* with Gâteaux derivatives of the compact gradient ∂f/∂X in random directions of Y
  (eq 15 applied to the gradient): H_XY vec(V) against a central difference of
  ∇_X f along V — :func:`~jacobian_calc.verify.compare.compare_directions`, the one
  verifier;
* while Y has at most :data:`~jacobian_calc.verify.compare.ENTRY_LIMIT` entries, with the
  central differences of the gradient column by column;

and reports how far a diagonal block is from symmetric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..lecture import backprop, curvature
from ..lecture.mlp import MLP
from ..core.structure import product
from .compare import ATOL, ENTRY_LIMIT, RTOL, Comparison, compare_directions, compare_entries, \
    random_directions

__all__ = ["BlockCheck", "verify_hessian", "gradient_of", "SYMMETRY_TOLERANCE",
           "COMPACT_TOLERANCE"]

#: A literal diagonal block and its transpose agree to rounding.
SYMMETRY_TOLERANCE = 1e-10
#: The literal block and the compact R-operator are both exact: they agree to rounding
#: (relative to the largest entry of H v).
COMPACT_TOLERANCE = 1e-8


@dataclass(frozen=True)
class BlockCheck:
    """One row of the second-order verification: a block H_XY by three routes."""

    x: str
    y: str
    shape: tuple[int, int]
    literal_vs_compact: float
    directions: Comparison
    entries: Comparison | None
    asymmetry: float | None

    @property
    def name(self) -> str:
        return self.x if self.x == self.y else f"{self.x},{self.y}"

    @property
    def ok(self) -> bool:
        entries_ok = self.entries is None or self.entries.ok
        symmetric = self.asymmetry is None or self.asymmetry <= SYMMETRY_TOLERANCE
        return bool(self.literal_vs_compact <= COMPACT_TOLERANCE and self.directions.ok and entries_ok
                    and symmetric)


def _parameters(net: MLP) -> dict[str, np.ndarray]:
    params = dict(zip(net.weight_names, net.weights))
    if net.biases is not None:
        params.update(zip(net.bias_names, net.biases))
    return params


def gradient_of(net: MLP, x: np.ndarray, y: np.ndarray, of: str, wrt: str
                ) -> Callable[[np.ndarray], np.ndarray]:
    """∇_{of} f as a function of the parameter ``wrt``, by the compact formulas (numpy only)."""
    weights, biases = net.weights, net.biases

    def g(value: np.ndarray) -> np.ndarray:
        ws, bs = list(weights), None if biases is None else list(biases)
        if wrt.startswith("W"):
            ws[int(wrt[1:]) - 1] = value
        else:
            bs[int(wrt[1:]) - 1] = value  # type: ignore[index]
        with np.errstate(all="ignore"):
            return backprop.mlp_gradients(ws, x, y, net.activation, net.loss, biases=bs)[of]

    return g


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    diff = float(np.max(np.abs(a - b), initial=0.0))
    return diff / scale if scale > 0 else diff


def verify_hessian(net: MLP, x: object, y: object, blocks: Sequence[tuple[str, str]], *,
                   directions: int = 8, seed: int = 0, entries: bool | None = None,
                   rtol: float = RTOL, atol: float = ATOL) -> list[BlockCheck]:
    """Check each Hessian block three ways (see the module notes).

    Parameters
    ----------
    net : MLP
    x, y : array_like
    blocks : sequence of (str, str)
        The blocks (X, Y), e.g. ``[("W1", "W1"), ("W1", "W2")]``.
    directions, seed : int
        The random directions (the same for both direction checks).
    entries : bool or None
        Compare column by column; ``None`` does so while Y has at most
        :data:`~jacobian_calc.verify.compare.ENTRY_LIMIT` entries.
    rtol, atol : float
        The verdict's tolerances against the numerical derivatives.
    """
    xv, yv = net.data(x, y)
    params = _parameters(net)
    biases = net.biases
    rows = []
    for a, b in blocks:
        H = net.hessian(xv, yv, wrt=(a, b))
        worst = 0.0
        for V in random_directions(params[b].shape, directions, seed):
            compact = curvature.mlp_hvp(net.weights, xv, yv, net.activation, net.loss, {b: V},
                                        biases=biases)[a]
            literal = np.ravel(product(H.storage, V.reshape(-1, 1, order="F")))
            worst = max(worst, _relative(literal, np.ravel(compact, order="F")))
        g = gradient_of(net, xv, yv, a, b)
        by_direction = compare_directions(g, params[b], H, directions=directions, seed=seed,
                                          rtol=rtol, atol=atol)
        take = params[b].size <= ENTRY_LIMIT if entries is None else entries
        by_entry = compare_entries(g, params[b], H, rtol=rtol, atol=atol) if take else None
        asymmetry = H.symmetric_error() if a == b and H.shape[0] * H.shape[1] <= 1 << 22 \
            else None
        rows.append(BlockCheck(a, b, H.shape, worst, by_direction, by_entry, asymmetry))
    return rows
