r"""Normalisations without their affine part: layer_norm (each column) and batch_norm (each row).

Columns are examples, so ``layer_norm(X)`` normalises each column of X over its rows and
``batch_norm(X)`` each row (a feature) over the columns (the batch). For one group x of N
entries (a column, or a row) with mean μ and *population* variance v (divided by N, as
PyTorch's normalisation layers use),

.. math::

    \hat x = \frac{x - \mu \mathbf 1}{\sigma}, \quad \sigma = \sqrt{v + \varepsilon},
    \qquad
    \frac{\partial \hat x}{\partial x} = \frac{1}{\sigma}\left(I_N - \frac{1}{N}\left(
    \mathbf 1 \mathbf 1^\top + \hat x \hat x^\top\right)\right),

a symmetric N×N block (d(x − μ1) = (I − 11ᵀ/N)dx and dσ = x̂ᵀdx/N). With ε = 0 the block
annihilates the ones vector (the output ignores a shift) and the input itself (and a
scaling); with ε > 0 it still annihilates 1, and maps x to ε/(v + ε)·x̂.

The literal factor gathers the blocks in the vec order of X (m×n): for layer_norm they
are the diagonal blocks, :math:`\sum_j e_j e_j^\top \otimes B_j`; for batch_norm the
entries of row i sit m apart in vec(X), so its factor is :math:`\sum_i B_i \otimes e_i
e_i^\top` — it couples the examples. Both are built sparse from their index patterns
(N² entries a group).

The second derivative of a group, for an adjoint ā (its part of ā), with B the block,
g = B ā and α = āᵀx̂:

.. math::

    \frac{\partial^2 (\bar a^\top \hat x)}{\partial x\, \partial x} =
    -\frac{1}{N\sigma}\left(g \hat x^\top + \hat x g^\top + \alpha B\right),

from dg = −g dσ/σ − (x̂ dα + α dx̂)/(Nσ) with dα = gᵀdx; it has the same pattern as the
first-order factor.

With ε = 0 a group whose entries are all equal has σ = 0 and no normalisation: such an
argument is refused (a :class:`~jacobian_calc.DomainError` naming the column or row);
pass ε > 0 to normalise it (to zeros).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core.errors import DomainError, JacobianCalcError
from ..core.limits import check_work
from ..core.notation import Form, Template, operator_name
from ..core.structure import MatrixInfo
from ..core.validation import index_dtype
from ..core.vec import block_diagonal
from . import domain
from .base import ATOM, NodeLike, Operation, Param, Partial, Rule

__all__ = ["OPERATIONS", "normalise", "normalisation_blocks", "normalisation_second_blocks",
           "group_matrix"]

#: How each operation groups the entries: layer_norm by columns, batch_norm by rows.
_GROUPS = {"layer_norm": "column", "batch_norm": "row"}


def _grouped(X: np.ndarray, by: str) -> np.ndarray:
    """The groups as the columns of an (N, groups) array: X itself, X as one column, or Xᵀ."""
    if X.ndim == 1:
        return X[:, None]
    return X if by == "column" else X.T


def _ungrouped(G: np.ndarray, shape: tuple[int, ...], by: str) -> np.ndarray:
    if len(shape) == 1:
        return G[:, 0]
    return G if by == "column" else G.T


def normalise(X: np.ndarray, eps: float = 0.0, by: str = "column") -> np.ndarray:
    """(x − μ)/√(v + eps) for every column (``by="column"``) or row (``by="row"``) of X.

    A vector is one column. Population variance v (divided by the count).

    Examples
    --------
    >>> normalise(np.array([[1.0, 0.0], [3.0, 4.0]]))
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> normalise(np.array([[1.0, 3.0], [0.0, 4.0]]), by="row")
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    G = _grouped(np.asarray(X, dtype=np.float64), by)
    centred = G - G.mean(axis=0)
    sigma = np.sqrt((centred * centred).mean(axis=0) + eps)
    return _ungrouped(centred / sigma, np.shape(X), by)


def _sigmas(X: np.ndarray, eps: float, by: str) -> np.ndarray:
    G = _grouped(X, by)
    centred = G - G.mean(axis=0)
    return np.sqrt((centred * centred).mean(axis=0) + eps)


def normalisation_blocks(X: np.ndarray, eps: float = 0.0, by: str = "column") -> np.ndarray:
    r"""The blocks :math:`B = \frac{1}{\sigma}(I - \frac{1}{N}(\mathbf 1\mathbf 1^\top + \hat x\hat x^\top))`, one per group.

    Returns
    -------
    ndarray, shape (groups, N, N)
        Block g is ∂x̂_g/∂x_g for the g-th column (or row) x_g of X; each one symmetric.

    Examples
    --------
    >>> normalisation_blocks(np.array([1.0, 3.0]))  # σ = 1, x̂ = (−1, 1): (I − 11ᵀ/2 − x̂x̂ᵀ/2)
    array([[[0., 0.],
            [0., 0.]]])
    """
    X = np.asarray(X, dtype=np.float64)
    y = _grouped(normalise(X, eps, by), by).T  # (groups, N)
    n = y.shape[1]
    sigma = _sigmas(X, eps, by)
    # 1·1ᵀ + x̂x̂ᵀ entry by entry: an outer product is exactly symmetric in floating point
    blocks = np.eye(n) - (1.0 + y[:, :, None] * y[:, None, :]) / n
    return blocks / sigma[:, None, None]


def normalisation_second_blocks(X: np.ndarray, adjoint: np.ndarray, eps: float = 0.0,
                                by: str = "column") -> np.ndarray:
    r"""∂²(āᵀx̂)/∂x∂x for each group: :math:`-\frac{1}{N\sigma}(g\hat x^\top + \hat x g^\top + \alpha B)`.

    Parameters
    ----------
    X : ndarray, shape (m,) or (m, n)
    adjoint : ndarray
        ā, in the vec order of X.
    eps : float
    by : {"column", "row"}

    Returns
    -------
    ndarray, shape (groups, N, N)
    """
    X = np.asarray(X, dtype=np.float64)
    B = normalisation_blocks(X, eps, by)
    y = _grouped(normalise(X, eps, by), by).T
    a = _grouped(np.asarray(adjoint, dtype=np.float64).reshape(X.shape, order="F"), by).T
    n = y.shape[1]
    sigma = _sigmas(X, eps, by)
    g = np.einsum("gpq,gq->gp", B, a)  # the group's gradient Bā (B is symmetric)
    alpha = np.sum(a * y, axis=1)
    outer = g[:, :, None] * y[:, None, :] + y[:, :, None] * g[:, None, :]
    return -(outer + alpha[:, None, None] * B) / (n * sigma)[:, None, None]


def group_matrix(blocks: np.ndarray, shape: tuple[int, ...], by: str) -> sp.csr_array:
    r"""Place one N×N block per group at the group's entries of vec(X): a sparse (size, size) matrix.

    Columns of X (``by="column"``) are contiguous in vec(X): the block-diagonal matrix
    :math:`\sum_j e_j e_j^\top \otimes B_j`. Row i of an m×n X (``by="row"``) is at
    vec positions i, i + m, …: :math:`\sum_i B_i \otimes e_i e_i^\top`. Built from the index
    pattern, N² stored entries a group, each row's columns in increasing order.

    Examples
    --------
    >>> B = np.array([[[1.0, 2.0], [2.0, 1.0]], [[5.0, 6.0], [6.0, 5.0]]])
    >>> group_matrix(B, (2, 2), "row").toarray()
    array([[1., 0., 2., 0.],
           [0., 5., 0., 6.],
           [2., 0., 1., 0.],
           [0., 6., 0., 5.]])
    """
    if by == "column" or len(shape) == 1:
        return block_diagonal(blocks)
    m, n = shape
    nnz = m * n * n
    check_work(2 * nnz + m * n + 1, nnz, f"the {m * n}×{m * n} factor of a row-wise "
                                         f"normalisation,")
    dt = index_dtype(nnz + 1)
    # vec row i + m·j is member j of group i: rows run over (j, i), columns i + m·k
    cols = np.arange(m, dtype=dt)[None, :, None] + m * np.arange(n, dtype=dt)[None, None, :]
    indices = np.broadcast_to(cols, (n, m, n)).reshape(-1)
    data = np.ascontiguousarray(blocks.transpose(1, 0, 2)).reshape(-1)
    out = sp.csr_array((data, indices, np.arange(0, nnz + 1, n, dtype=dt)),
                       shape=(m * n, m * n), copy=False)
    out.has_sorted_indices = True
    return out


# --------------------------------------------------------------------------- entries
def _eps(op: str) -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.floating,
                                                                          np.integer)):
            raise JacobianCalcError(f"{op}: eps must be a real number ≥ 0, got {value!r}")
        eps = float(value)
        if not np.isfinite(eps) or eps < 0:
            raise DomainError(f"{op}: eps must be a finite number ≥ 0, got {eps!r}")
        return eps
    return check


def _name(arg: NodeLike) -> str:
    return arg.form.text


def _no_constant_group(op: str) -> Rule:
    """With eps = 0 every group must have two different entries (else σ = 0)."""
    by = _GROUPS[op]

    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        X = args[0].value
        flat = np.flatnonzero(np.ptp(_grouped(X, by), axis=0) == 0)
        if flat.size == 0:
            return
        k = int(flat[0])
        n = _grouped(X, by).shape[0]
        what = "it" if X.ndim == 1 else f"{by} {k} (counting from 0) of {_name(args[0])}"
        more = f" (and {flat.size - 1} more)" if flat.size > 1 else ""
        single = f"; a {by} of a single entry is always constant" if n == 1 else ""
        raise DomainError(
            f"{where}: {what} is constant{more}, every entry equal to "
            f"{float(_grouped(X, by)[0, k]):g}, so its variance is 0 and it cannot be "
            f"normalised with eps = 0{single}; pass eps > 0 (PyTorch's layers use 1e-5)")
    # "spread": random data for it should have entries far apart (no group nearly constant)
    return Rule(check, sample="spread", when=lambda params: params["eps"] == 0)


def _fields(node: NodeLike) -> dict[str, object]:
    # read by the messages of the domain rules too: nothing here may assume a valid shape
    eps = node.params["eps"]
    return {"opts": Form(f", eps={eps:g}", rf", \varepsilon={eps:g}") if eps else Form("", "")}


def _info(node: NodeLike) -> MatrixInfo:
    X = node.args[0].value
    n = _grouped(X, _GROUPS[node.op.name]).shape[0]  # type: ignore[union-attr]
    return MatrixInfo(X.size, X.size, X.size * n, True)


def _factor(node: NodeLike) -> sp.csr_array:
    X, by = node.args[0].value, _GROUPS[node.op.name]  # type: ignore[union-attr]
    return group_matrix(normalisation_blocks(X, node.params["eps"], by), X.shape, by)


def _second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], sp.csr_array]:
    X, by = node.args[0].value, _GROUPS[node.op.name]  # type: ignore[union-attr]
    blocks = normalisation_second_blocks(X, adjoint, node.params["eps"], by)
    return {(0, 0): group_matrix(blocks, X.shape, by)}


_BLOCK = r"\tfrac{1}{\sigma%s}\left(I_{$%s} - \tfrac{1}{$%s}\left(\mathbf{1}\mathbf{1}^{\top} + \hat{x}%s\hat{x}%s^{\top}\right)\right)"


def _layer_label(node: NodeLike) -> dict[str, object]:
    if node.args[0].value.ndim == 1:
        return {"block": Template(_BLOCK % ("", "m", "m", "", "")).form(m=node.value.shape[0])}
    m, n = node.value.shape
    inner = Template(r"\sum_{j=1}^{$n} e_j e_j^\top\otimes "
                     + _BLOCK % ("_j", "m", "m", "_j", "_j"))
    return {"block": inner.form(m=m, n=n)}


def _batch_label(node: NodeLike) -> dict[str, object]:
    m, n = node.value.shape
    inner = Template(r"\sum_{i=1}^{$m} \left(" + _BLOCK % ("_i", "n", "n", "_i", "_i")
                     + r"\otimes e_i e_i^\top\right)")
    return {"block": inner.form(m=m, n=n)}


def _entry(name: str, label: Callable[[NodeLike], dict[str, object]],
           ranks: tuple[int, ...], role: str, summary: str) -> Operation:
    forward = (lambda X, eps, by=_GROUPS[name]: normalise(X, eps, by))
    return Operation(
        name=name, family="normalisation", arity=1, forward=forward,
        partials=(Partial(build=_factor, label=Template("$block"), fields=label, info=_info,
                          symmetric=True),),
        notation=Template(operator_name(name) + "($0$opts)"), precedence=ATOM,
        fields=_fields,
        domain=(domain.rank(0, ranks, role), _no_constant_group(name)),
        params=(Param("eps", _eps(name), 0.0),), call_params=("eps",), second=_second,
        summary=summary)


LAYER_NORM = _entry(
    "layer_norm", _layer_label, (1, 2), "input",
    "layer_norm(X, eps=0): each column (an example) minus its mean, divided by "
    "√(its population variance + eps); no affine part")

BATCH_NORM = _entry(
    "batch_norm", _batch_label, (2,), "batch",
    "batch_norm(X, eps=0): each row (a feature) minus its mean over the columns (the batch), "
    "divided by √(its population variance + eps); no affine part")

#: The entries of this family, in the order they are listed.
OPERATIONS = (LAYER_NORM, BATCH_NORM)
