"""The lecture network's gradients checked three ways: literal chain, compact formulas, numbers.

For every parameter (W1 … WL, then the biases) :func:`verify_network` compares

* the literal chain (:meth:`~jacobian_calc.MLP.gradients` with ``method="explicit"``)
  with the compact formulas (26), (32), (38) (``method="backprop"``), entry by entry;
* the literal gradient G with Gâteaux derivatives of the loss in k random directions V
  (eq 15): ⟨G, V⟩_F against the central difference (f(P + tV) − f(P − tV))/2t at the
  parameter's value P — 2k evaluations of the loss whatever the size, so a network of a
  million weights is checked in seconds. The directions have independent entries uniform
  on [−1, 1), normalised and seeded (:func:`~jacobian_calc.verify.compare.random_directions`
  with ``distribution="uniform"``): the identity holds for every V, and uniform entries
  cost a fraction of normal ones to draw;
* while the parameter has at most :data:`~jacobian_calc.verify.compare.ENTRY_LIMIT`
  entries, the literal gradient with the finite-difference gradient, entry by entry.

The loss is evaluated by the compact forward pass alone (numpy, no graph, no factor), so
the numerical side shares nothing with the literal machinery. Along a direction V of the
weight W_k it is evaluated from the forward values at the point (:func:`loss_along`):
only h_k moves, (W_k + sV) z_{k−1} = W_k z_{k−1} + s·(V z_{k−1}), so each value of f costs
the layers above k and the direction one product V z_{k−1} — not two whole forward passes
and two perturbed copies of W_k. The quotient and its step are those of every other check
(:func:`~jacobian_calc.verify.check.line_derivative`, the same rule as
:func:`~jacobian_calc.gateaux_derivative`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.errors import ShapeError
from ..lecture.backprop import mlp_forward
from ..lecture.mlp import MLP
from ..ops import ACTIVATIONS, LOSSES
from .compare import ATOL, ENTRY_LIMIT, RTOL, Comparison, compare_directions, compare_entries

__all__ = ["LITERAL_TOLERANCE", "ParameterCheck", "verify_network", "loss_of", "loss_along"]

#: How the Gâteaux check of :func:`verify_network` draws its directions.
DIRECTION_DISTRIBUTION = "uniform"

#: The literal chain and the compact formulas are exact: they must agree to rounding.
LITERAL_TOLERANCE = 1e-10


@dataclass(frozen=True)
class ParameterCheck:
    """One row of the verification: a parameter's gradient by three routes."""

    name: str
    shape: tuple[int, ...]
    literal_vs_compact: float
    directions: Comparison
    entries: Comparison | None

    @property
    def ok(self) -> bool:
        entries_ok = self.entries is None or self.entries.ok
        return bool(self.literal_vs_compact <= LITERAL_TOLERANCE and self.directions.ok
                    and entries_ok)


def _largest(a: np.ndarray) -> float:
    """max|a| in two reductions, without the temporary |a|."""
    return max(float(np.max(a)), -float(np.min(a)))


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """max|a − b| / max(max|a|, max|b|), entry by entry."""
    scale = max(_largest(a), _largest(b))
    # The literal gradient is stored column-major (it is unvec of a row), the compact one
    # row-major: one copy of b in a's order costs less than a subtraction that strides
    # through one of them.
    diff = np.array(b, order="F" if a.flags.f_contiguous else "C")
    np.subtract(a, diff, out=diff)
    diff = _largest(diff)
    return diff / scale if scale > 0 else diff


class _Losses:
    """f of one parameter of a network, by the compact forward pass (numpy only).

    Holds the network's values once; the forward pass at the point is run on the first
    line asked for and kept for the others.
    """

    def __init__(self, net: MLP, x: np.ndarray, y: np.ndarray) -> None:
        self.weights = net.weights
        self.biases = net.biases
        self.activation = net.activation
        self.loss = LOSSES[net.loss]
        self.x, self.y = x, y
        self._forward: tuple[list[np.ndarray], list[np.ndarray]] | None = None

    def _layer(self, name: str) -> tuple[bool, int]:
        return name.startswith("W"), int(name[1:])

    def at(self, name: str) -> Callable[[np.ndarray], float]:
        """P ↦ f with the parameter ``name`` set to P, the rest as in the network."""
        weight, k = self._layer(name)

        def f(value: np.ndarray) -> float:
            ws, bs = list(self.weights), None if self.biases is None else list(self.biases)
            if weight:
                ws[k - 1] = value
            else:
                bs[k - 1] = value  # type: ignore[index]
            with np.errstate(all="ignore"):
                hs, _ = mlp_forward(ws, self.x, self.activation, bs)
                return float(self.loss.forward(hs[-1], self.y))

        return f

    def along(self, name: str) -> Callable[[np.ndarray], Callable[[float], float]]:
        """V ↦ (s ↦ f with the parameter ``name`` at P + sV), from the forward values at P."""
        weight, k = self._layer(name)
        params = self.weights if weight else self.biases
        shape = params[k - 1].shape  # type: ignore[index]  # IndexError/TypeError as loss_of
        if self._forward is None:
            with np.errstate(all="ignore"):
                self._forward = mlp_forward(self.weights, self.x, self.activation, self.biases)
        hs, zs = self._forward
        h_k = hs[k - 1]  # W_k z_{k−1} (+ b_k) at the point
        last = k == len(self.weights)
        phi = None if last else ACTIVATIONS.lookup(self.activation).pointwise.function
        above_w = self.weights[k:]
        above_b = None if self.biases is None else self.biases[k:]

        def direction(V: np.ndarray) -> Callable[[float], float]:
            v = np.asarray(V, dtype=np.float64)
            if v.shape != shape:
                raise ShapeError(f"a direction of {name} must have its shape {shape}, "
                                 f"got {v.shape}")
            with np.errstate(all="ignore"):
                if weight:  # (W_k + sV) z_{k−1} = W_k z_{k−1} + s·(V z_{k−1})
                    u = v @ zs[k - 1]
                else:  # b_k + sV is added to every column of a batch, as mlp_forward does
                    u = v.reshape(-1) if h_k.ndim == 1 else v.reshape(-1)[:, None]

            def on_line(s: float) -> float:
                with np.errstate(all="ignore"):
                    h = h_k + s * u
                    if last:
                        yhat = h
                    else:  # only the layers above k see the move
                        yhat = mlp_forward(above_w, phi(h), self.activation, above_b)[0][-1]
                    return float(self.loss.forward(yhat, self.y))

            return on_line

        return direction


def loss_of(net: MLP, x: np.ndarray, y: np.ndarray, name: str):  # -> Callable
    """f as a function of one parameter, by the compact forward pass (numpy only)."""
    return _Losses(net, x, y).at(name)


def loss_along(net: MLP, x: np.ndarray, y: np.ndarray, name: str
               ) -> Callable[[np.ndarray], Callable[[float], float]]:
    r"""f along lines through the network's point in one parameter: V ↦ (s ↦ f(P + sV)).

    P is the value of the parameter ``name`` (``"W2"``, ``"b1"``, …) in ``net``. The value
    equals ``loss_of(net, x, y, name)(P + s * V)`` to rounding, but is computed from the
    forward values at P, kept once: for W_k only h_k moves,

    .. math:: (W_k + sV)\,z_{k-1} = W_k z_{k-1} + s\,(V z_{k-1}),

    so a direction costs one product V z_{k−1} and each value of s the layers above k
    (for b_k, h_k + sV). The numerics are the compact forward pass alone, as for
    :func:`loss_of`.

    Parameters
    ----------
    net : MLP
    x, y : ndarray
        The data, as ``net.data(x, y)`` returns them.
    name : str

    Returns
    -------
    callable
        ``along(V)`` for V shaped like the parameter returns ``line`` with
        ``line(s)`` = f(P + sV), a float.

    Examples
    --------
    >>> import jacobian_calc as jc
    >>> rng = np.random.default_rng(0)
    >>> net = jc.MLP([rng.normal(size=(3, 2)), rng.normal(size=(2, 3))])
    >>> x, y = net.data(rng.normal(size=2), rng.normal(size=2))
    >>> V = rng.normal(size=(3, 2))
    >>> line = loss_along(net, x, y, "W1")(V)
    >>> bool(np.isclose(line(0.1), loss_of(net, x, y, "W1")(net.weights[0] + 0.1 * V)))
    True
    """
    return _Losses(net, x, y).along(name)


def verify_network(net: MLP, x: object, y: object, *, directions: int = 8, seed: int = 0,
                   entries: bool | None = None, rtol: float = RTOL, atol: float = ATOL
                   ) -> list[ParameterCheck]:
    """Check every parameter's gradient three ways (see the module notes).

    Parameters
    ----------
    net : MLP
    x, y : array_like
    directions : int
        Random directions of the Gâteaux check (default 8), per parameter; their entries
        are uniform on [−1, 1) before normalising (see the module notes).
    seed : int
        Seed of the directions (each parameter's directions start from it).
    entries : bool or None
        Compare entry by entry; ``None`` (default) does so for parameters of at most
        :data:`~jacobian_calc.verify.compare.ENTRY_LIMIT` entries.
    rtol, atol : float
        The verdict's tolerances against the numerical derivatives.
    """
    literal = net.gradients(x, y, method="explicit")
    compact = net.gradients(x, y, method="backprop")
    xv, yv = net.data(x, y)
    losses = _Losses(net, xv, yv)  # the network's values and its forward pass, once
    params = dict(zip(net.weight_names, losses.weights))
    if losses.biases is not None:
        params.update(zip(net.bias_names, losses.biases))
    rows = []
    for name in net.parameter_names:
        g = literal[name]
        point = params[name]
        f = losses.at(name)
        row = g.reshape(1, -1, order="F")
        by_direction = compare_directions(f, point, row, directions=directions, seed=seed,
                                          rtol=rtol, atol=atol,
                                          distribution=DIRECTION_DISTRIBUTION,
                                          along=losses.along(name))
        take = point.size <= ENTRY_LIMIT if entries is None else entries
        by_entry = compare_entries(f, point, row, rtol=rtol, atol=atol) if take else None
        rows.append(ParameterCheck(name, g.shape, _relative(g, compact[name]), by_direction,
                                   by_entry))
    return rows
