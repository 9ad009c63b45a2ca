r"""Compact second-order formulas of the lecture network, written independently.

This module is the second-order sibling of :mod:`~jacobian_calc.lecture.backprop` and
follows the same rule: it shares no code with the literal machinery (no Jacobian objects,
no Kronecker or diagonal classes, no graph, no engine, no second-order rules of the
operations table). It uses numpy, the pointwise φ, φ′ and φ″ of the activation's table
entry, the loss gradient ∂f/∂ŷ of the loss's entry, the forward pass
:func:`~jacobian_calc.lecture.backprop.mlp_forward`, and closed forms it writes itself for
the loss Hessian :math:`H_L = \partial^2 f / \partial \hat y^2` of one example:

* ``squared_error``, :math:`f = \tfrac12\lVert \hat y - y\rVert^2`: :math:`H_L = I`;
* ``softmax_cross_entropy``, :math:`f = -\sum_i y_i \log p_i` with
  :math:`p = \operatorname{softmax}(\hat y)`: :math:`H_L = (\textstyle\sum_i y_i)
  (\operatorname{diag}(p) - p p^\top)`, which is :math:`\operatorname{diag}(p) - p p^\top`
  for a target that sums to 1.

The network is :math:`h_k = W_k z_{k-1} (+ b_k)`, :math:`z_k = \phi(h_k)` for
:math:`k < L`, :math:`\hat y = h_L`, :math:`z_0 = x`, :math:`f = L(y, \hat y)`; a batch
``x`` (d × n) holds examples as columns and f is the sum over them.

Conventions (those of the literal second-order API): for scalar f and matrices X, Y the
block is :math:`H_{XY} = \partial(\nabla_{\operatorname{vec} X} f)/\partial
\operatorname{vec}(Y)`, of shape (size X, size Y), vec stacking columns. The full Hessian
is over :math:`(\operatorname{vec} W_1, …, \operatorname{vec} W_L, b_1, …, b_L)`, the
biases only when the network has them.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> W, x, y = rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=2)
>>> H = mlp_hessian([W], x, y, "tanh", "squared_error")
>>> np.allclose(H, np.kron(np.outer(x, x), np.eye(2)))   # f = ½‖Wx − y‖²
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from ..core.errors import ChoiceError, DomainError, JacobianCalcError, ShapeError
from ..core.limits import check_dense
from ..core.validation import as_real_array
from ..ops import ACTIVATIONS, LOSSES
from ..ops.base import Operation
from .backprop import mlp_forward
from .shapes import check_biases

__all__ = ["loss_hessians", "mlp_hvp", "mlp_hessian", "mlp_gauss_newton_block", "mlp_kfac"]


# ------------------------------------------------------------------ the loss Hessian
def _squared_error_hessians(yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    s, n = yhat.shape
    return np.broadcast_to(np.eye(s), (n, s, s)).copy()


def _cross_entropy_hessians(yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = softmax(yhat, axis=0)  # (s, n), stable for large logits
    mass = y.sum(axis=0)  # Σᵢ yᵢ of each column: the loss gradient is p·Σy − y
    diag = np.einsum("in,ij->nij", p, np.eye(p.shape[0]))
    return mass[:, None, None] * (diag - np.einsum("in,jn->nij", p, p))


#: The losses whose Hessian H_L this module writes in closed form.
_LOSS_HESSIANS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "squared_error": _squared_error_hessians,
    "softmax_cross_entropy": _cross_entropy_hessians,
}


def _loss_entry(loss: str | Operation) -> Operation:
    op = loss if isinstance(loss, Operation) else LOSSES.lookup(loss)
    if op.name not in _LOSS_HESSIANS:
        raise ChoiceError("loss with a closed-form Hessian in the compact formulas", op.name,
                          _LOSS_HESSIANS)
    return op


def loss_hessians(yhat: object, y: object, loss: str = "squared_error") -> np.ndarray:
    r"""The loss Hessian :math:`H_L = \partial^2 f/\partial \hat y^2` of every example.

    Parameters
    ----------
    yhat, y : array_like, shape (s,) or (s, n)
        The output and the target, one example per column.
    loss : {"squared_error", "softmax_cross_entropy"}

    Returns
    -------
    ndarray, shape (n, s, s)
        ``out[i]`` is H_L of column i (n = 1 for vectors): I for the squared error,
        :math:`(\sum_j y_j)(\operatorname{diag}(p) - p p^\top)`, p = softmax(ŷ) of the
        column, for the cross-entropy.

    Examples
    --------
    >>> loss_hessians([0.0, 0.0], [1.0, 0.0], "softmax_cross_entropy")[0]
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    name = _loss_entry(loss).name
    a = as_real_array(yhat, "yhat", ndim=(1, 2))
    b = as_real_array(y, "y", ndim=(1, 2))
    if a.shape != b.shape:
        raise ShapeError(f"yhat and y must have the same shape, got {a.shape} and {b.shape}")
    return _LOSS_HESSIANS[name](a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))


# ------------------------------------------------------------------------ the inputs
@dataclass(frozen=True)
class _Net:
    """Checked inputs: weights, biases as 1-D vectors (or None), X and Y as (·, n) matrices."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...] | None
    bias_shapes: tuple[tuple[int, ...], ...]
    X: np.ndarray
    Y: np.ndarray
    activation: Operation
    loss: str
    gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def names(self) -> tuple[str, ...]:
        L = self.depth
        weights = tuple(f"W{k}" for k in range(1, L + 1))
        return weights + (() if self.biases is None else tuple(f"b{k}" for k in range(1, L + 1)))

    def shape(self, name: str) -> tuple[int, ...]:
        k = int(name[1:])
        return self.weights[k - 1].shape if name[0] == "W" else self.bias_shapes[k - 1]


def _net(weights: Sequence[object], x: object, y: object, activation: str | Operation,
         loss: str | Operation, biases: Sequence[object] | None) -> _Net:
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
        raise JacobianCalcError("weights must be a non-empty list [W1, …, WL] of matrices, "
                                f"got {type(weights).__name__}")
    mats = tuple(as_real_array(W, f"W{k}", ndim=(2,)) for k, W in enumerate(weights, 1))
    for k in range(1, len(mats)):
        if mats[k].shape[1] != mats[k - 1].shape[0]:
            raise ShapeError(f"W{k + 1} has shape {mats[k].shape} but W{k} has shape "
                             f"{mats[k - 1].shape}: W{k + 1} needs {mats[k - 1].shape[0]} "
                             f"columns")
    d, s = mats[0].shape[1], mats[-1].shape[0]
    xv = as_real_array(x, "x", ndim=(1, 2))
    if xv.shape[0] != d:
        raise ShapeError(f"x must have {d} rows to match W1 {mats[0].shape} (a vector of "
                         f"length {d} or a {d}×n batch of columns), got shape {xv.shape}")
    n = 1 if xv.ndim == 1 else xv.shape[1]
    yv = as_real_array(y, "y", ndim=(1, 2))
    fits = yv.shape == (s,) + xv.shape[1:] or (xv.ndim == 1 and yv.shape == (s, 1))
    if not fits:
        want = (s,) + xv.shape[1:]
        raise ShapeError(f"y must be shaped like ŷ, i.e. {want} (W{len(mats)} has {s} rows), "
                         f"got shape {yv.shape}")
    vectors, shapes = None, ()
    if biases is not None:
        vectors, shapes = check_biases(biases, mats)
    phi = activation if isinstance(activation, Operation) else ACTIVATIONS.lookup(activation)
    if phi.pointwise is None or phi.pointwise.second_derivative is None:
        raise JacobianCalcError(f"the activation {phi.name!r} has no second derivative φ″ in "
                                f"its table entry; second-order formulas need one")
    entry = _loss_entry(loss)
    return _Net(mats, vectors, shapes, xv.reshape(d, n), yv.reshape(s, n), phi, entry.name,
                entry.gradients[0])


def _forward(net: _Net) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """h_1 … h_L (h_L = ŷ) and z_0 … z_{L−1}, each (·, n); overflow is a DomainError."""
    with np.errstate(over="ignore", invalid="ignore"):
        hs, zs = mlp_forward(net.weights, net.X, net.activation, net.biases)
    if not all(np.all(np.isfinite(a)) for a in hs + zs):
        raise DomainError("the forward pass overflows at this point (a pre-activation or an "
                          "output is not finite)")
    return hs, zs


def _finite(value: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(value)):
        raise DomainError(f"{what} is not finite at this point (overflow in the second-order "
                          "formulas)")
    return value


def _parameter(net: _Net, which: object, weights_only: bool = False) -> tuple[str, int]:
    """("W" or "b", k) for ``which`` = k (a layer, meaning W_k), "Wk" or "bk"."""
    names = net.names[: net.depth] if weights_only else net.names
    if isinstance(which, (int, np.integer)) and not isinstance(which, bool) \
            and 1 <= which <= net.depth:
        return "W", int(which)
    if isinstance(which, str) and which in names:
        return which[0], int(which[1:])
    raise ChoiceError("parameter", which, names)


# ----------------------------------------------------------- the R-operator (Pearlmutter)
def _r_operator(net: _Net, hs: list[np.ndarray], zs: list[np.ndarray],
                VW: list[np.ndarray], Vb: list[np.ndarray] | None
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r"""R{∂f/∂W_k} and R{∂f/∂b_k} along m directions at once.

    ``VW[k-1]`` is (m, n_k, n_{k−1}), ``Vb[k-1]`` is (m, n_k). Forward:
    R{h_k} = V_k z_{k−1} + W_k R{z_{k−1}} + V_{b_k}, R{z_k} = φ′(h_k) ⊙ R{h_k}, R{z_0} = 0.
    Backward from R{δ_L} = H_L R{ŷ} (column by column):
    R{∂f/∂W_k} = R{δ_k} z_{k−1}ᵀ + δ_k R{z_{k−1}}ᵀ, R{∂f/∂b_k} = Σ_columns R{δ_k},
    R{δ_{k−1}} = φ″(h_{k−1}) ⊙ R{h_{k−1}} ⊙ (W_kᵀ δ_k) + φ′(h_{k−1}) ⊙ (V_kᵀ δ_k + W_kᵀ R{δ_k}).
    """
    pointwise = net.activation.pointwise
    L, W = net.depth, net.weights
    with np.errstate(over="ignore", invalid="ignore"):
        d1 = [pointwise.derivative(h) for h in hs[:-1]]  # φ′(h_k), k < L
        d2 = [pointwise.second_derivative(h) for h in hs[:-1]]  # φ″(h_k)
        Rh: list[np.ndarray] = []
        Rz: list[np.ndarray | None] = [None]  # R{z_0} = R{x} = 0
        for k in range(L):
            r = VW[k] @ zs[k]
            if Rz[k] is not None:
                r = r + W[k] @ Rz[k]
            if Vb is not None:
                r = r + Vb[k][:, :, None]
            Rh.append(r)
            if k < L - 1:
                Rz.append(d1[k] * r)
        delta = net.gradient(hs[-1], net.Y)  # δ_L = ∂f/∂ŷ, from the loss's entry
        HL = _LOSS_HESSIANS[net.loss](hs[-1], net.Y)  # (n, s, s)
        Rdelta = np.einsum("nij,mjn->min", HL, Rh[-1])  # R{δ_L} = H_L R{ŷ}
        gW: list[np.ndarray] = [np.empty(0)] * L
        gb: list[np.ndarray] = [np.empty(0)] * L
        for k in range(L - 1, -1, -1):  # python index k is layer k + 1
            g = Rdelta @ zs[k].T
            if Rz[k] is not None:
                g = g + delta @ np.swapaxes(Rz[k], -1, -2)
            gW[k], gb[k] = g, Rdelta.sum(axis=-1)
            if k > 0:
                back = W[k].T @ delta  # W_{k+1}ᵀ δ_{k+1}
                Rback = np.swapaxes(VW[k], -1, -2) @ delta + W[k].T @ Rdelta
                Rdelta = d2[k - 1] * Rh[k - 1] * back + d1[k - 1] * Rback
                delta = d1[k - 1] * back
    return gW, gb


# -------------------------------------------------------------------- public formulas
def mlp_hvp(
    weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
    activation: str | Operation, loss: str | Operation, V: Mapping[str, object],
    biases: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    r"""The exact Hessian-vector product H·vec(V) by the R-operator (Pearlmutter, 1994).

    One forward pass of the directional derivatives R{h_k}, R{z_k} along V and one
    backward pass of R{δ_k}, δ_k = ∂f/∂h_k; no Hessian is formed. For each parameter X,

    .. math:: (H v)_X = \sum_Y H_{XY} \operatorname{vec}(V_Y)
              = \operatorname{vec} R\{\partial f/\partial X\}.

    Parameters
    ----------
    weights : sequence of ndarray
        ``W_1 … W_L``, ``W_k`` of shape (n_k, n_{k−1}).
    x : ndarray, shape (n_0,) or (n_0, n)
        One example, or a batch of n columns (f is summed over them).
    y : ndarray, shaped like ŷ
    activation, loss : str
    V : dict of str to ndarray
        The direction, ``{"W1": like W1, …, "b1": like b1, …}``; a missing name is zero.
    biases : sequence of ndarray, optional
        ``b_1 … b_L``, each (n_k,) or (n_k, 1).

    Returns
    -------
    dict of str to ndarray
        Every parameter name (the weights, then the biases), each shaped like its
        parameter (biases shaped as given).

    Raises
    ------
    ChoiceError
        A name in ``V`` that is not a parameter.
    ShapeError
        An entry of ``V`` not shaped like its parameter.
    DomainError
        Overflow: the result would not be finite.
    """
    net = _net(weights, x, y, activation, loss, biases)
    if not isinstance(V, Mapping):
        raise JacobianCalcError(f"V must be a dict of parameter name to array, got "
                                f"{type(V).__name__}")
    direction = {}
    for name, value in V.items():
        if name not in net.names:
            raise ChoiceError("parameter name in V", name, net.names)
        arr = as_real_array(value, f"V[{name!r}]", ndim=(1, 2))
        shape = net.shape(name)
        allowed = {shape} | ({(shape[0],), (shape[0], 1)} if name[0] == "b" else set())
        if arr.shape not in allowed:
            raise ShapeError(f"V[{name!r}] must be shaped like {name}, {shape}, got shape "
                             f"{arr.shape}")
        direction[name] = arr.reshape(shape[0], -1) if name[0] == "W" else arr.reshape(-1)
    hs, zs = _forward(net)
    VW = [direction.get(f"W{k}", np.zeros(W.shape))[None] for k, W in enumerate(net.weights, 1)]
    Vb = None
    if net.biases is not None:
        Vb = [direction.get(f"b{k}", np.zeros(W.shape[0]))[None]
              for k, W in enumerate(net.weights, 1)]
    gW, gb = _r_operator(net, hs, zs, VW, Vb)
    out = {f"W{k}": _finite(g[0], f"(Hv) of W{k}") for k, g in enumerate(gW, 1)}
    if net.biases is not None:
        out.update({f"b{k}": _finite(g[0].reshape(shape), f"(Hv) of b{k}")
                    for k, (g, shape) in enumerate(zip(gb, net.bias_shapes), 1)})
    return out


def mlp_hessian(
    weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
    activation: str | Operation, loss: str | Operation,
    biases: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    r"""The exact Hessian of f over all parameters, column by column from the R-operator.

    Column j is H e_j, the Hessian-vector product (:func:`mlp_hvp`) along the j-th unit
    vector, all columns computed in one vectorised pass.

    .. math:: H = \begin{pmatrix} H_{W_1 W_1} & \cdots & H_{W_1 b_L} \\ \vdots & & \vdots
              \\ H_{b_L W_1} & \cdots & H_{b_L b_L}\end{pmatrix},\qquad
              H_{XY} = \frac{\partial (\nabla_{\operatorname{vec} X} f)}
              {\partial \operatorname{vec}(Y)}

    Parameters
    ----------
    weights, x, y, activation, loss, biases
        As for :func:`mlp_hvp`.

    Returns
    -------
    ndarray, shape (P, P)
        P = Σ_k size(W_k) (+ Σ_k size(b_k)); rows and columns ordered
        (vec W_1, …, vec W_L, b_1, …, b_L). Not symmetrised: it is symmetric up to rounding.
    """
    net = _net(weights, x, y, activation, loss, biases)
    sizes = [W.size for W in net.weights] + \
        ([] if net.biases is None else [b.size for b in net.biases])
    P = sum(sizes)
    check_dense((P, P), "Hessian")
    hs, zs = _forward(net)
    columns = []
    chunk = 256  # directions per pass: bounds the memory of the stacked R{h_k}
    offsets = np.cumsum([0] + sizes)
    for start in range(0, P, chunk):
        E = np.eye(P)[start:start + chunk]  # (m, P): unit directions
        m = E.shape[0]
        VW = [E[:, offsets[k]:offsets[k + 1]].reshape(m, W.shape[1], W.shape[0])
              .transpose(0, 2, 1)  # row r read as vec(V) stacking columns
              for k, W in enumerate(net.weights)]
        Vb = None
        if net.biases is not None:
            L = net.depth
            Vb = [E[:, offsets[L + k]:offsets[L + k + 1]] for k in range(L)]
        gW, gb = _r_operator(net, hs, zs, VW, Vb)
        parts = [g.transpose(0, 2, 1).reshape(m, -1) for g in gW]  # vec of each, by column
        if net.biases is not None:
            parts += gb
        columns.append(np.concatenate(parts, axis=1).T)
    return _finite(np.concatenate(columns, axis=1), "the Hessian")


def _jacobian_factors(net: _Net, hs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    r"""B_k = ∂ŷ/∂h_k of every example, (n, s, n_k) for k = 1 … L, and H_L, (n, s, s).

    .. math:: B_L = I,\qquad B_k = B_{k+1} W_{k+1} \operatorname{diag}(\phi'(h_k)).
    """
    pointwise = net.activation.pointwise
    s, n = hs[-1].shape
    with np.errstate(over="ignore", invalid="ignore"):
        B = [np.broadcast_to(np.eye(s), (n, s, s))]
        for k in range(net.depth - 1, 0, -1):  # B_k from B_{k+1}, python index k is W_{k+1}
            B.insert(0, (B[0] @ net.weights[k]) * pointwise.derivative(hs[k - 1]).T[:, None, :])
        HL = _LOSS_HESSIANS[net.loss](hs[-1], net.Y)
    return B, HL


def mlp_gauss_newton_block(
    weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
    activation: str | Operation, loss: str | Operation, k: int | str, l: int | str,
    biases: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    r"""The generalized Gauss-Newton block of (X, Y) = (W_k, W_l) by the B recursion.

    With :math:`B_L = I`, :math:`B_k = B_{k+1} W_{k+1} \operatorname{diag}(\phi'(h_k))`
    (so :math:`B_k = \partial \hat y / \partial h_k`) and H_L the loss Hessian, one
    example contributes

    .. math:: G_{kl} = (z_{k-1} z_{l-1}^\top) \otimes (B_k^\top H_L B_l)

    (that is :math:`J_k^\top H_L J_l` with :math:`J_k = z_{k-1}^\top \otimes B_k =
    \partial \hat y / \partial \operatorname{vec} W_k`, eq 22); a batch sums over its
    examples. A bias b_k is the same with :math:`z = 1`.

    Parameters
    ----------
    weights, x, y, activation, loss, biases
        As for :func:`mlp_hvp`.
    k, l : int or str
        A layer number (meaning W_k) or a parameter name ``"W2"``, ``"b1"``.

    Returns
    -------
    ndarray, shape (size X, size Y)
        Dense (this is the independent oracle of the literal, structured block).
    """
    net = _net(weights, x, y, activation, loss, biases)
    (kind_k, k), (kind_l, l) = _parameter(net, k), _parameter(net, l)
    hs, zs = _forward(net)
    B, HL = _jacobian_factors(net, hs)
    n = net.X.shape[1]
    ones = np.ones((1, n))
    zk = zs[k - 1] if kind_k == "W" else ones
    zl = zs[l - 1] if kind_l == "W" else ones
    rows, cols = zk.shape[0] * B[k - 1].shape[2], zl.shape[0] * B[l - 1].shape[2]
    check_dense((rows, cols), "Gauss-Newton block")
    block = np.zeros((rows, cols))
    with np.errstate(over="ignore", invalid="ignore"):
        inner = np.swapaxes(B[k - 1], 1, 2) @ HL @ B[l - 1]  # (n, n_k, n_l): B_kᵀ H_L B_l
        for i in range(n):
            block += np.kron(np.outer(zk[:, i], zl[:, i]), inner[i])
    return _finite(block, "the Gauss-Newton block")


def mlp_kfac(
    weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray,
    activation: str | Operation, loss: str | Operation, k: int | str,
    biases: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""The K-FAC factors (A, G) of W_k: A ⊗ G approximates its Gauss-Newton block.

    For a batch of n examples (a vector x is n = 1):

    .. math:: A = \frac1n \sum_i z_{k-1,i} z_{k-1,i}^\top, \qquad
              G = \sum_i B_{k,i}^\top H_{L,i} B_{k,i},

    so :math:`A \otimes G` approximates :math:`\sum_i (z z^\top) \otimes (B^\top H_L B)`
    (:func:`mlp_gauss_newton_block` of (k, k)) by the product of the averages times n,
    and equals it exactly for n = 1.

    Parameters
    ----------
    weights, x, y, activation, loss, biases
        As for :func:`mlp_hvp`.
    k : int or str
        A layer number or a weight name ``"W2"``.

    Returns
    -------
    A : ndarray, shape (n_{k−1}, n_{k−1})
    G : ndarray, shape (n_k, n_k)
    """
    net = _net(weights, x, y, activation, loss, biases)
    _, k = _parameter(net, k, weights_only=True)
    hs, zs = _forward(net)
    B, HL = _jacobian_factors(net, hs)
    z = zs[k - 1]
    with np.errstate(over="ignore", invalid="ignore"):
        A = (z @ z.T) / z.shape[1]
        G = np.sum(np.swapaxes(B[k - 1], 1, 2) @ HL @ B[k - 1], axis=0)
    return _finite(A, "the K-FAC factor A"), _finite(G, "the K-FAC factor G")
