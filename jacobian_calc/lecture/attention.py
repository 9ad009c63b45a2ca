r"""The compact backward formulas of attention, written independently of the literal machinery.

This module is the other side of the attention checks: plain numpy, no Jacobian objects,
no Kronecker factors, no graph, nothing from the operations table. It writes attention
the way a deep-learning course writes its backward pass, columns as tokens
(Q d × n, K d × m, V e × m, c = 1/√d):

.. math::

    S = c\,K^\top Q,\quad P = \operatorname{softmax}(S)\ \text{(each column)},\quad O = V P,

and, for the gradient :math:`\bar O` of a scalar with respect to O (e × n),

.. math::

    \bar V = \bar O P^\top,\quad \bar P = V^\top \bar O,\quad
    \bar S = P \odot \left(\bar P - \mathbf 1 \mathbf 1^\top (P \odot \bar P)\right),\quad
    \bar Q = c\,K \bar S,\quad \bar K = c\,Q \bar S^\top .

The subtraction in :math:`\bar S` is each column's :math:`p_j^\top \bar p_j`, spread over
the column: the softmax's vector-Jacobian product without its matrix. A whole Jacobian is
read off these formulas one output entry at a time (:func:`attention_jacobians`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["attention_forward", "attention_vjp", "attention_jacobians"]


def _column_softmax(S: np.ndarray) -> np.ndarray:
    E = np.exp(S - S.max(axis=0, keepdims=True))  # shifted: no overflow, same ratios
    return E / E.sum(axis=0, keepdims=True)


def attention_forward(Q: np.ndarray, K: np.ndarray, V: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """O = V softmax(KᵀQ/√d) and P = softmax(KᵀQ/√d).

    Parameters
    ----------
    Q : ndarray, shape (d, n)
    K : ndarray, shape (d, m)
    V : ndarray, shape (e, m)

    Returns
    -------
    O : ndarray, shape (e, n)
    P : ndarray, shape (m, n)
        Each column sums to 1.
    """
    P = _column_softmax(K.T @ Q / np.sqrt(Q.shape[0]))
    return V @ P, P


def attention_vjp(Q: np.ndarray, K: np.ndarray, V: np.ndarray, Obar: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gradients Q̄, K̄, V̄ of a scalar whose gradient with respect to O is ``Obar``.

    Parameters
    ----------
    Q, K, V : ndarray
        Shapes (d, n), (d, m), (e, m).
    Obar : ndarray, shape (e, n)

    Returns
    -------
    Qbar, Kbar, Vbar : ndarray
        Shaped like Q, K and V.
    """
    c = 1.0 / np.sqrt(Q.shape[0])
    _, P = attention_forward(Q, K, V)
    Pbar = V.T @ Obar
    Sbar = P * (Pbar - np.sum(P * Pbar, axis=0, keepdims=True))
    return c * (K @ Sbar), c * (Q @ Sbar.T), Obar @ P.T


def attention_jacobians(Q: np.ndarray, K: np.ndarray, V: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂vec(O)/∂vec(Q), ∂vec(O)/∂vec(K), ∂vec(O)/∂vec(V), dense, from the backward formulas.

    Row r of each is the gradient of vec(O)_r, that is :func:`attention_vjp` with
    :math:`\\bar O` the r-th unit matrix, flattened by columns. e·n backward passes: for
    checks on small sizes, not for speed.

    Returns
    -------
    tuple of ndarray
        Shapes (e·n, d·n), (e·n, d·m), (e·n, e·m).
    """
    e, n = V.shape[0], Q.shape[1]
    rows: list[list[np.ndarray]] = [[], [], []]
    for r in range(e * n):
        unit = np.zeros(e * n)
        unit[r] = 1.0
        for k, g in enumerate(attention_vjp(Q, K, V, unit.reshape(e, n, order="F"))):
            rows[k].append(g.reshape(-1, order="F"))
    JQ, JK, JV = (np.array(r) for r in rows)
    return JQ, JK, JV
