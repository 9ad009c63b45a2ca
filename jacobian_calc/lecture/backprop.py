r"""The lecture's compact back-propagation formulas (26), (32) and (38), for any depth.

This module is the independent side of every check: it shares no code with the literal
machinery (no Jacobian objects, no Kronecker factors, no diagonal matrices, no graph).
It uses only numpy, the pointwise quantities that Figure 1 takes as given (φ, φ′ and
∂f/∂ŷ, read from the activation's and the loss's entries of the operations table), and the
formulas as the lecture writes them for a network with

.. math::

    h_k = W_k z_{k-1},\quad z_k = \phi(h_k)\ (k < L),\quad \hat y = W_L z_{L-1},\quad
    z_0 = x,\quad f = L(y, \hat y),

namely, with :math:`\delta_L = \partial f / \partial \hat y`,

.. math::

    \frac{\partial f}{\partial W_L} = \delta_L z_{L-1}^\top \quad (26), \qquad
    \delta_k = \phi'(h_k) \odot (W_{k+1}^\top \delta_{k+1}), \qquad
    \frac{\partial f}{\partial W_k} = \delta_k z_{k-1}^\top \quad (32), (38).

A batch of inputs stored as the columns of ``x`` (d × n) is handled by the same
formulas with matrices in place of vectors (the loss is summed over the columns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.errors import DomainError
from ..ops import ACTIVATIONS, LOSSES
from ..ops.base import Operation

__all__ = ["mlp_forward", "mlp_gradients"]


def mlp_forward(
    weights: Sequence[np.ndarray], x: np.ndarray, activation: str | Operation = "sigmoid",
    biases: Sequence[np.ndarray] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The forward pass: pre-activations ``h_1 … h_{L−1}, ŷ`` and values ``z_0 = x … z_{L−1}``.

    With ``biases`` (one vector b_k of length n_k per layer), h_k = W_k z_{k−1} + b_k, the
    bias added to every column of a batch.

    Returns
    -------
    hs : list of ndarray
        ``hs[k-1]`` is h_k; the last entry is ŷ.
    zs : list of ndarray
        ``zs[k]`` is z_k, starting with ``zs[0] = x``.
    """
    phi = _lookup(ACTIVATIONS, activation).pointwise
    zs = [x]
    hs = []
    for k, W in enumerate(weights):
        h = W @ zs[-1]
        if biases is not None:
            b = np.reshape(biases[k], -1)
            h = h + (b if h.ndim == 1 else b[:, None])
        hs.append(h)
        if k < len(weights) - 1:
            zs.append(phi.function(h))
    return hs, zs


def mlp_gradients(
    weights: Sequence[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    activation: str | Operation = "sigmoid",
    loss: str | Operation = "squared_error",
    biases: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """∂f/∂W_k for every layer by the compact formulas (26), (32), (38); with biases also ∂f/∂b_k.

    A bias enters as h_k = W_k z_{k−1} + b_k, so ∂f/∂b_k = δ_k (the gradient with respect
    to h_k), summed over the columns of a batch because the same b_k is added to each.

    Parameters
    ----------
    weights : sequence of ndarray
        ``W_1 … W_L``; ``W_k`` has shape (n_k, n_{k−1}).
    x : ndarray, shape (n_0,) or (n_0, batch)
    y : ndarray, shaped like ŷ
    activation, loss : str
    biases : sequence of ndarray, optional
        ``b_1 … b_L``, each of shape (n_k,) or (n_k, 1).

    Returns
    -------
    dict
        ``{"W1": array shaped like W1, …}``; with biases also ``{"b1": shaped like b1, …}``.
    """
    phi = _lookup(ACTIVATIONS, activation).pointwise
    gradient = _lookup(LOSSES, loss).gradients[0]
    # Overflow surfaces as the one error below rather than as warnings and NaNs.
    with np.errstate(over="ignore", invalid="ignore"):
        hs, zs = mlp_forward(weights, x, activation, biases)
        delta = gradient(hs[-1], y)  # ∂f/∂ŷ, a column (eq 6 layout)
        grads: dict[str, np.ndarray] = {}
        for k in range(len(weights), 0, -1):
            # eq (26) for the last layer; eq (32)/(38) once delta has been carried back.
            grads[f"W{k}"] = _outer(delta, zs[k - 1])
            if biases is not None:
                db = delta if delta.ndim == 1 else delta.sum(axis=1)
                grads[f"b{k}"] = db.reshape(np.shape(biases[k - 1]))
            if k > 1:
                delta = phi.derivative(hs[k - 2]) * (weights[k - 1].T @ delta)
    names = [f"W{k}" for k in range(1, len(weights) + 1)]
    if biases is not None:
        names += [f"b{k}" for k in range(1, len(weights) + 1)]
    bad = [name for name in names if not np.all(np.isfinite(grads[name]))]
    if bad:  # overflow in the forward pass: an error, never a NaN handed back
        raise DomainError(f"the compact gradients {', '.join(bad)} are not finite at this "
                          "point (overflow in the forward or backward pass)")
    return {name: grads[name] for name in names}


def _lookup(role: object, entry: str | Operation) -> Operation:
    return entry if isinstance(entry, Operation) else role.lookup(entry)  # type: ignore[attr-defined]


def _outer(delta: np.ndarray, z: np.ndarray) -> np.ndarray:
    """δ zᵀ for a single sample, or δ Zᵀ summed over a batch of columns."""
    if delta.ndim == 1:
        return np.outer(delta, z)
    return delta @ z.T
