r"""Back-propagation through time by its compact formulas, independent of the literal machinery.

The other side of every check of :class:`~jacobian_calc.RNN`: numpy only, with the
pointwise quantities the lecture's Figure 1 takes as given (φ, φ′ and the loss gradient
∂L/∂ŷ, read from the activation's and the loss's entries of the operations table), and no
Jacobian object, Kronecker factor, diagonal matrix or graph. For the recurrence

.. math::

    h_0 = 0,\quad a_t = W h_{t-1} + U x_t,\quad h_t = \phi(a_t),\quad \hat y_t = V h_t,
    \quad f = \sum_{t=1}^{T} L(\hat y_t, y_t),

the gradient runs backwards in time with one carried vector :math:`\delta_t = \partial
f/\partial a_t` (a column):

.. math::

    \delta_t = \phi'(a_t) \odot \left(V^\top \tfrac{\partial L}{\partial \hat y_t}
    + W^\top \delta_{t+1}\right),\ \ \delta_{T+1} = 0,\qquad
    \frac{\partial f}{\partial W} = \sum_t \delta_t h_{t-1}^\top,\quad
    \frac{\partial f}{\partial U} = \sum_t \delta_t x_t^\top,\quad
    \frac{\partial f}{\partial V} = \sum_t \tfrac{\partial L}{\partial \hat y_t} h_t^\top.

The forward-in-time recursion for the state Jacobians (real-time recurrent learning),
written with numpy's ``kron``, is here too, as the independent value of
``RNN.jacobian(X, of="H", wrt="W")``:

.. math::

    \frac{\partial h_t}{\partial \operatorname{vec} W} = \operatorname{diag}(\phi'(a_t))
    \left(h_{t-1}^\top \otimes I_n + W \frac{\partial h_{t-1}}{\partial \operatorname{vec} W}
    \right).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import DomainError
from ..ops import ACTIVATIONS, LOSSES

__all__ = ["rnn_forward", "bptt_gradients", "rtrl_state_jacobians", "unrolled_blocks"]


def rnn_forward(W: np.ndarray, U: np.ndarray, X: np.ndarray, activation: str = "tanh"
                ) -> tuple[np.ndarray, np.ndarray]:
    """The states of the recurrence from h_0 = 0.

    Parameters
    ----------
    W : ndarray, shape (n, n)
    U : ndarray, shape (n, d)
    X : ndarray, shape (d, T)
        The inputs x_1 … x_T as columns.
    activation : str

    Returns
    -------
    A : ndarray, shape (n, T)
        The pre-activations a_1 … a_T.
    H : ndarray, shape (n, T + 1)
        The states h_0 = 0, h_1 … h_T.
    """
    phi = ACTIVATIONS.lookup(activation).pointwise
    n, T = W.shape[0], X.shape[1]
    A = np.zeros((n, T))
    H = np.zeros((n, T + 1))
    for t in range(T):
        A[:, t] = W @ H[:, t] + U @ X[:, t]
        H[:, t + 1] = phi.function(A[:, t])
    return A, H


def bptt_gradients(W: np.ndarray, U: np.ndarray, V: np.ndarray, X: np.ndarray,
                   Y: np.ndarray, activation: str = "tanh",
                   loss: str = "squared_error") -> dict[str, np.ndarray]:
    """∂f/∂W, ∂f/∂U, ∂f/∂V by back-propagation through time.

    Parameters
    ----------
    W, U, V : ndarray
        Shapes (n, n), (n, d), (s, n).
    X : ndarray, shape (d, T)
    Y : ndarray, shape (s, T)
        The targets y_1 … y_T as columns.
    activation, loss : str

    Returns
    -------
    dict
        ``{"W": (n, n), "U": (n, d), "V": (s, n)}``.
    """
    phi = ACTIVATIONS.lookup(activation).pointwise
    gradient = LOSSES.lookup(loss).gradients[0]
    with np.errstate(over="ignore", invalid="ignore"):
        A, H = rnn_forward(W, U, X, activation)
        dW, dU, dV = np.zeros_like(W), np.zeros_like(U), np.zeros_like(V)
        carry = np.zeros(W.shape[0])  # Wᵀ δ_{t+1}, zero after the last step
        for t in range(X.shape[1] - 1, -1, -1):
            g = gradient(V @ H[:, t + 1], Y[:, t])  # ∂L/∂ŷ_t
            dV += np.outer(g, H[:, t + 1])
            delta = phi.derivative(A[:, t]) * (V.T @ g + carry)
            dW += np.outer(delta, H[:, t])  # h_{t-1}
            dU += np.outer(delta, X[:, t])
            carry = W.T @ delta
    grads = {"W": dW, "U": dU, "V": dV}
    bad = [k for k, g in grads.items() if not np.all(np.isfinite(g))]
    if bad:
        raise DomainError(f"the BPTT gradients {', '.join(bad)} are not finite at this point "
                          "(overflow in the forward or backward pass)")
    return grads


def rtrl_state_jacobians(W: np.ndarray, U: np.ndarray, X: np.ndarray,
                         activation: str = "tanh") -> np.ndarray:
    """∂(h_1; …; h_T)/∂vec(W), forward in time: shape (n·T, n²), dense.

    Columns follow vec(W) (column stacking); row block t holds ∂h_t/∂vec(W).
    """
    phi = ACTIVATIONS.lookup(activation).pointwise
    A, H = rnn_forward(W, U, X, activation)
    n, T = W.shape[0], X.shape[1]
    out = np.zeros((n * T, n * n))
    previous = np.zeros((n, n * n))  # ∂h_0/∂vec(W) = 0
    for t in range(T):
        local = np.kron(H[:, t][None, :], np.eye(n))  # h_{t-1}ᵀ ⊗ I_n
        current = phi.derivative(A[:, t])[:, None] * (local + W @ previous)
        out[t * n:(t + 1) * n] = current
        previous = current
    return out


def unrolled_blocks(W: np.ndarray, U: np.ndarray, X: np.ndarray,
                    activation: str = "tanh") -> np.ndarray:
    """∂h_t/∂vec(W_k) for the copy W_k of W used at step k: shape (T, T, n, n²).

    Block (t, k) is D_t W D_{t−1} ⋯ W D_k (h_{k−1}ᵀ ⊗ I_n) for k ≤ t, with
    D_t = diag(φ′(a_t)), and zero for k > t (h_t is computed before W_k is used).
    """
    phi = ACTIVATIONS.lookup(activation).pointwise
    A, H = rnn_forward(W, U, X, activation)
    n, T = W.shape[0], X.shape[1]
    out = np.zeros((T, T, n, n * n))
    for k in range(T):
        block = phi.derivative(A[:, k])[:, None] * np.kron(H[:, k][None, :], np.eye(n))
        out[k, k] = block
        for t in range(k + 1, T):
            block = phi.derivative(A[:, t])[:, None] * (W @ block)
            out[t, k] = block
    return out
