"""The lecture network's gradients checked three ways: literal chain, compact formulas, numbers.

For every parameter (W1 … WL, then the biases) :func:`verify_network` compares

* the literal chain (:meth:`~jacobian_calc.MLP.gradients` with ``method="explicit"``)
  with the compact formulas (26), (32), (38) (``method="backprop"``), entry by entry;
* the literal gradient with Gâteaux derivatives of the loss in random directions (eq 15)
  — 2k evaluations of the loss whatever the size, so a network of a million weights is
  checked in seconds;
* while the parameter has at most :data:`~jacobian_calc.verify.compare.ENTRY_LIMIT`
  entries, the literal gradient with the finite-difference gradient, entry by entry.

The loss is evaluated by the compact forward pass alone (numpy, no graph, no factor), so
the numerical side shares nothing with the literal machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lecture.backprop import mlp_forward
from ..lecture.mlp import MLP
from ..ops import LOSSES
from .compare import ATOL, ENTRY_LIMIT, RTOL, Comparison, compare_directions, compare_entries

__all__ = ["LITERAL_TOLERANCE", "ParameterCheck", "verify_network", "loss_of"]

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


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    diff = float(np.max(np.abs(a - b)))
    return diff / scale if scale > 0 else diff


def loss_of(net: MLP, x: np.ndarray, y: np.ndarray, name: str):  # -> Callable
    """f as a function of one parameter, by the compact forward pass (numpy only)."""
    weights = net.weights
    biases = net.biases
    loss = LOSSES[net.loss]

    def f(value: np.ndarray) -> float:
        ws, bs = list(weights), None if biases is None else list(biases)
        if name.startswith("W"):
            ws[int(name[1:]) - 1] = value
        else:
            bs[int(name[1:]) - 1] = value  # type: ignore[index]
        with np.errstate(all="ignore"):
            hs, _ = mlp_forward(ws, x, net.activation, bs)
            return float(loss.forward(hs[-1], y))

    return f


def verify_network(net: MLP, x: object, y: object, *, directions: int = 8, seed: int = 0,
                   entries: bool | None = None, rtol: float = RTOL, atol: float = ATOL
                   ) -> list[ParameterCheck]:
    """Check every parameter's gradient three ways (see the module notes).

    Parameters
    ----------
    net : MLP
    x, y : array_like
    directions : int
        Random directions of the Gâteaux check (default 8).
    seed : int
        Seed of the directions.
    entries : bool or None
        Compare entry by entry; ``None`` (default) does so for parameters of at most
        :data:`~jacobian_calc.verify.compare.ENTRY_LIMIT` entries.
    rtol, atol : float
        The verdict's tolerances against the numerical derivatives.
    """
    literal = net.gradients(x, y, method="explicit")
    compact = net.gradients(x, y, method="backprop")
    xv, yv = net.data(x, y)
    params = dict(zip(net.weight_names, net.weights))
    if net.biases is not None:
        params.update(zip(net.bias_names, net.biases))
    rows = []
    for name in net.parameter_names:
        g = literal[name]
        point = params[name]
        f = loss_of(net, xv, yv, name)
        row = g.reshape(1, -1, order="F")
        by_direction = compare_directions(f, point, row, directions=directions, seed=seed,
                                          rtol=rtol, atol=atol)
        take = point.size <= ENTRY_LIMIT if entries is None else entries
        by_entry = compare_entries(f, point, row, rtol=rtol, atol=atol) if take else None
        rows.append(ParameterCheck(name, g.shape, _relative(g, compact[name]), by_direction,
                                   by_entry))
    return rows
