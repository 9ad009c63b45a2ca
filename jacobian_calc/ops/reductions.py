r"""Reductions and normalisations: the sum of all entries, softmax.

* ∂sum(X)/∂vec(X) is the row of ones :math:`\mathbf 1^\top`;
* softmax of a vector s = softmax(h) has the dense Jacobian :math:`\operatorname{diag}(s) -
  s s^\top`; of a matrix, taken column by column (``axis=0``, each column one example,
  the default), the block-diagonal matrix of these blocks, sparse; taken row by row
  (``axis=1``, as attention written row-major normalises), the same blocks placed where
  vec puts each row, :math:`K_{n,m} \operatorname{blockdiag}_i(\operatorname{diag}(s_i) -
  s_i s_i^\top) K_{m,n}`, sparse too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import softmax as _softmax

from ..core import symbolic as S
from ..core.errors import JacobianCalcError, ShapeError
from ..core.notation import Form, Template
from ..core.structure import MatrixInfo
from ..core.vec import block_diagonal
from . import domain
from .base import ATOM, LINEAR, NodeLike, Operands, Operation, Param, Partial, Rewrite, Rule, \
    dense_info, entry_call, gradient_partial

__all__ = ["OPERATIONS", "softmax_call", "softmax_jacobian", "softmax_pullback"]

SUM = Operation(
    name="sum", family="reductions", arity=1, forward=lambda a: np.asarray(np.sum(a)),
    partials=(gradient_partial(np.ones_like, r"\mathbf{1}_{$n}^\top",
                               fields=lambda node: {"n": node.args[0].value.size},
                               rewrite=Rewrite(factor=lambda o: S.transpose(
                                   S.vec(S.ones(*o.args[0].shape))))),),
    notation=Template(r"\operatorname{sum}($0)"), precedence=ATOM,
    shape=lambda shapes, params: (), gradients=(np.ones_like,), second=LINEAR,
    summary="the sum of all entries (a scalar)")


def _axis(value: object) -> int:
    """The axis a softmax normalises along: 0 (each column) or 1 (each row)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or int(value) not in (0, 1):
        raise JacobianCalcError(f"softmax's axis must be 0 (each column is a distribution) or "
                                f"1 (each row is one), got {value!r}")
    return int(value)


def _axis_check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
    a = args[0]
    if params["axis"] == 1 and a.value.ndim != 2:
        raise ShapeError(f"{where}: axis=1 normalises each row of a matrix, but "
                         f"{a.form.text} is {domain.size_text(a.value.shape)} (a vector is a "
                         f"column: use axis=0)")


def _row_blocks(S: np.ndarray) -> np.ndarray:
    """diag(s) − s sᵀ for every s in the rows of ``S`` (k, n): shape (k, n, n)."""
    return S[:, :, None] * np.eye(S.shape[1])[None] - S[:, :, None] * S[:, None, :]


def _scatter_rows(blocks: np.ndarray, k: int, n: int) -> sp.csr_array:
    """Blocks for the rows of a k×n matrix, placed where vec (column stacking) puts a row.

    Row i of X sits at the vec positions i, i + k, …, i + k(n − 1), so block i's entry
    (j, l) lands at (i + k·j, i + k·l): the block diagonal K_{n,k} blockdiag(B_i) K_{k,n}
    conjugated by the commutation matrix, built from its index pattern.
    """
    i, j, l = np.meshgrid(np.arange(k), np.arange(n), np.arange(n), indexing="ij")
    return sp.csr_array((blocks.ravel(), ((i + k * j).ravel(), (i + k * l).ravel())),
                        shape=(k * n, k * n))


def _softmax_factor(node: NodeLike) -> object:
    s = node.value
    if s.ndim == 1:
        return np.diag(s) - np.outer(s, s)  # dense: every entry depends on every input
    if node.params["axis"] == 1:
        return _scatter_rows(_row_blocks(s), *s.shape)
    return block_diagonal(_row_blocks(s.T))  # one softmax per column


def _softmax_info(node: NodeLike) -> MatrixInfo:
    s = node.value
    if s.ndim == 1:
        return dense_info(s.size, s.size)
    k, n = s.shape
    group = k if node.params["axis"] == 0 else n  # entries of one distribution
    return MatrixInfo(s.size, s.size, s.size * group, True)


def _second_block(s: np.ndarray, a: np.ndarray) -> np.ndarray:
    r"""∂²(aᵀ softmax(h))/∂h∂h at s = softmax(h):
    :math:`\operatorname{diag}(s \odot (a - a^\top s)) - s s^\top \odot (a 1^\top + 1 a^\top)
    + 2 (a^\top s)\, s s^\top`."""
    dot = float(a @ s)
    ss = np.outer(s, s)
    return np.diag(s * (a - dot)) - ss * (a[:, None] + a[None, :]) + 2 * dot * ss


def _softmax_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], object]:
    """∂²(ā·softmax(h))/∂h∂h, one block per distribution (column, or row with axis=1).

    Block diagonal over the columns; over the rows the same blocks sit where vec puts a
    row (see :func:`_scatter_rows`).
    """
    S = node.value.reshape(node.value.shape[0], -1)
    A = adjoint.reshape(S.shape, order="F")
    if node.value.ndim == 1:
        return {(0, 0): _second_block(S[:, 0], A[:, 0])}
    if node.params["axis"] == 1:
        blocks = np.array([_second_block(s, a) for s, a in zip(S, A)])
        return {(0, 0): _scatter_rows(blocks, *S.shape)}
    return {(0, 0): block_diagonal(np.array([_second_block(s, a) for s, a in zip(S.T, A.T)]))}


_SOFTMAX_LABELS = {
    "vector": Template(r"\operatorname{diag}(s) - s s^\top"),
    0: Template(r"\operatorname{blockdiag}_{j=1}^{$k}\left(\operatorname{diag}(s_j) - "
                r"s_j s_j^\top\right)"),
    # row i of the result is s_i (written as a column); the commutation matrices move the
    # rows of vec into blocks and back
    1: Template(r"K_{$n,$m}\;\operatorname{blockdiag}_{i=1}^{$m}\left(\operatorname{diag}(s_i) - "
                r"s_i s_i^\top\right)\;K_{$m,$n}"),
}


def _softmax_fields(node: NodeLike) -> dict[str, object]:
    s = node.value
    if s.ndim == 1:
        return {"block": _SOFTMAX_LABELS["vector"].form()}
    m, n = s.shape
    if node.params["axis"] == 0:
        return {"block": _SOFTMAX_LABELS[0].form(k=n)}
    return {"block": _SOFTMAX_LABELS[1].form(m=m, n=n)}


def _axis_fields(node: NodeLike) -> dict[str, object]:
    return {"axis": _axis_form(node.params["axis"])}


def _axis_form(axis: int) -> Form:
    """How the axis is written: nothing for the default (columns), ``, axis=1`` for rows."""
    return Form(", axis=1", r",\ \text{axis}=1") if axis == 1 else Form("", "")


def _coupling(shape: tuple[int, int], axis: int) -> S.MatExpr:
    """The ones joining the entries of one distribution, in the vec order of a k×n result:
    I ⊗ 𝟏𝟏ᵀ for its columns, 𝟏𝟏ᵀ ⊗ I for its rows (axis=1)."""
    k, n = shape
    if axis == 1:
        return S.kron(S.ones(n, n), S.identity(k))
    return S.kron(S.identity(n), S.ones(k, k))


def softmax_jacobian(s: S.MatExpr, axis: int = 0) -> S.MatExpr:
    r"""∂vec(softmax(H))/∂vec(H) written from its value s = softmax(H), a matrix expression.

    :math:`\operatorname{diag}(s) - s s^\top` for a column s; for a matrix the block of
    every distribution, :math:`D - D C D` with :math:`D = \operatorname{diag}(\operatorname{vec} S)`
    and C the ones coupling one distribution (:math:`I \otimes \mathbf 1\mathbf 1^\top` by
    columns, :math:`\mathbf 1\mathbf 1^\top \otimes I` by rows).

    Parameters
    ----------
    s : MatExpr, shape (k, n)
    axis : {0, 1}
        0: each column is a distribution; 1: each row is one.

    Returns
    -------
    MatExpr, shape (k·n, k·n)
    """
    if s.shape[1] == 1 and axis == 0:
        return S.add(S.diag(s), S.neg(S.product(s, S.transpose(s))))
    dS = S.diag(S.vec(s))
    return S.add(dS, S.neg(S.product(dS, _coupling(s.shape, axis), dS)))


def softmax_pullback(G: S.MatExpr, s: S.MatExpr, axis: int = 0) -> S.MatExpr:
    r"""R with :math:`\operatorname{vec}(R)^\top = \operatorname{vec}(G)^\top
    \partial\operatorname{vec}(s)/\partial\operatorname{vec}(H)` for s = softmax(H):
    :math:`S \odot (G - \mathbf 1\mathbf 1^\top (G \odot S))` by columns,
    :math:`S \odot (G - (G \odot S)\mathbf 1\mathbf 1^\top)` by rows.

    Parameters
    ----------
    G : MatExpr, shape (k, n)
    s : MatExpr, shape (k, n)
    axis : {0, 1}

    Returns
    -------
    MatExpr, shape (k, n)
    """
    k, n = s.shape
    GS = S.hadamard(G, s)
    spread = S.product(GS, S.ones(n, n)) if axis == 1 else S.product(S.ones(k, k), GS)
    return S.hadamard(s, S.add(G, S.neg(spread)))


def _softmax_rewrite(o: Operands) -> S.MatExpr:
    return softmax_jacobian(o.out, o.params.get("axis", 0))


def _softmax_adjoint(G: S.MatExpr, o: Operands) -> S.MatExpr | None:
    if len(o.shapes[0]) == 1:
        return None  # the vector's factor diag(s) − s sᵀ is rewritten by the identities of pull
    return softmax_pullback(G, o.out, o.params.get("axis", 0))


SOFTMAX = Operation(
    name="softmax", family="reductions", arity=1,
    forward=lambda a, axis: _softmax(a, axis=axis),
    partials=(Partial(build=_softmax_factor, label=Template("$block"), fields=_softmax_fields,
                      info=_softmax_info, rewrite=Rewrite(
                          factor=_softmax_rewrite, adjoint=_softmax_adjoint,
                          identity="vec(G)ᵀ ∂vec(softmax(H))/∂vec(H) = vec(S ⊙ (G − 𝟏𝟏ᵀ(G ⊙ S)))ᵀ "
                                   "(by columns; (G ⊙ S)𝟏𝟏ᵀ by rows), one distribution at a "
                                   "time")),),
    notation=Template(r"\operatorname{softmax}($0$axis)"), precedence=ATOM,
    domain=(domain.rank(0, (1, 2)), Rule(_axis_check)), params=(Param("axis", _axis, 0),),
    call_params=("axis",),
    fields=_axis_fields, second=_softmax_second,
    summary="softmax of a vector; of a matrix, column by column (axis=0, each column one "
            "example) or row by row (axis=1)")



def softmax_call(h: S.MatExpr, shape: tuple[int, ...], axis: int = 0) -> S.MatExpr:
    """softmax(h) as a matrix expression, evaluated by the entry's forward and written with
    its notation (``softmax(ŷ)``, ``softmax(X, axis=1)``).

    Parameters
    ----------
    h : MatExpr
    shape : tuple of int
        h's shape as a value ((n,) for a vector).
    axis : {0, 1}

    Returns
    -------
    MatExpr, shaped like h
    """
    return entry_call(SOFTMAX, [h], [shape], shape, {"axis": axis},
                      fields={"axis": _axis_form(axis)})


#: The entries of this family, in the order they are listed.
OPERATIONS = (SUM, SOFTMAX)
