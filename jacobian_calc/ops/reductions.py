r"""Reductions and normalisations: the sum of all entries, softmax.

* ∂sum(X)/∂vec(X) is the row of ones :math:`\mathbf 1^\top`;
* softmax of a vector s = softmax(h) has the dense Jacobian :math:`\operatorname{diag}(s) -
  s s^\top`; of a matrix, taken column by column (each column one example), the
  block-diagonal matrix of these blocks, sparse.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax as _softmax

from ..core import symbolic as S
from ..core.notation import Template
from ..core.structure import MatrixInfo
from ..core.vec import block_diagonal
from . import domain
from .base import ATOM, LINEAR, NodeLike, Operands, Operation, Partial, Rewrite, dense_info, \
    gradient_partial

__all__ = ["OPERATIONS"]

SUM = Operation(
    name="sum", family="reductions", arity=1, forward=lambda a: np.asarray(np.sum(a)),
    partials=(gradient_partial(np.ones_like, r"\mathbf{1}_{$n}^\top",
                               fields=lambda node: {"n": node.args[0].value.size},
                               rewrite=Rewrite(factor=lambda o: S.transpose(
                                   S.vec(S.ones(*o.args[0].shape))))),),
    notation=Template(r"\operatorname{sum}($0)"), precedence=ATOM,
    shape=lambda shapes, params: (), gradients=(np.ones_like,), second=LINEAR,
    summary="the sum of all entries (a scalar)")


def _softmax_factor(node: NodeLike) -> object:
    s = node.value
    if s.ndim == 1:
        return np.diag(s) - np.outer(s, s)  # dense: every entry depends on every input
    cols = s.T  # (n, k): one softmax per column
    blocks = cols[:, :, None] * np.eye(s.shape[0])[None] - cols[:, :, None] * cols[:, None, :]
    return block_diagonal(blocks)


def _softmax_info(node: NodeLike) -> MatrixInfo:
    s = node.value
    if s.ndim == 1:
        return dense_info(s.size, s.size)
    k, n = s.shape
    return MatrixInfo(s.size, s.size, n * k * k, True)


def _softmax_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], object]:
    r"""∂²(ā·softmax(h))/∂h∂h for each column s = softmax(h), a = ā's part of that column.

    :math:`\operatorname{diag}(s \odot (a - a^\top s)) - s s^\top \odot (a 1^\top +
    1 a^\top) + 2 (a^\top s)\, s s^\top`; block diagonal over the columns of a matrix.
    """
    S = node.value.reshape(node.value.shape[0], -1)
    A = adjoint.reshape(S.shape, order="F")
    blocks = []
    for s, a in zip(S.T, A.T):
        dot = float(a @ s)
        ss = np.outer(s, s)
        blocks.append(np.diag(s * (a - dot)) - ss * (a[:, None] + a[None, :]) + 2 * dot * ss)
    if node.value.ndim == 1:
        return {(0, 0): blocks[0]}
    return {(0, 0): block_diagonal(np.array(blocks))}


_SOFTMAX_LABELS = {
    1: Template(r"\operatorname{diag}(s) - s s^\top"),
    2: Template(r"\operatorname{blockdiag}_{j=1}^{$k}\left(\operatorname{diag}(s_j) - "
                r"s_j s_j^\top\right)"),
}


def _softmax_fields(node: NodeLike) -> dict[str, object]:
    s = node.value
    label = _SOFTMAX_LABELS[s.ndim]
    return {"block": label.form(k=s.shape[1]) if s.ndim == 2 else label.form()}


def _softmax_coupling(o: Operands) -> S.MatExpr:
    """The ones joining the entries of one distribution, in the vec order of the result:
    I ⊗ 𝟏𝟏ᵀ for the columns of a matrix, 𝟏𝟏ᵀ ⊗ I for its rows (axis=1)."""
    k, n = S.matrix_shape(o.out_shape)
    if o.params.get("axis", 0) == 1:
        return S.kron(S.ones(n, n), S.identity(k))
    return S.kron(S.identity(n), S.ones(k, k))


def _softmax_rewrite(o: Operands) -> S.MatExpr:
    # diag(s) − s sᵀ for a vector; for a matrix the blocks diag(sⱼ) − sⱼsⱼᵀ of every
    # distribution, diag(vec S) − diag(vec S) C diag(vec S) with C the coupling
    s = o.out
    if len(o.shapes[0]) == 1:
        return S.add(S.diag(s), S.neg(S.product(s, S.transpose(s))))
    dS = S.diag(S.vec(s))
    return S.add(dS, S.neg(S.product(dS, _softmax_coupling(o), dS)))


def _softmax_adjoint(G: S.MatExpr, o: Operands) -> S.MatExpr | None:
    # S ⊙ (G − 𝟏𝟏ᵀ(G ⊙ S)) by columns, S ⊙ (G − (G ⊙ S)𝟏𝟏ᵀ) by rows
    if len(o.shapes[0]) == 1:
        return None  # the vector's factor is rewritten by the identities of pull
    s = o.out
    k, n = S.matrix_shape(o.out_shape)
    GS = S.hadamard(G, s)
    spread = (S.product(GS, S.ones(n, n)) if o.params.get("axis", 0) == 1
              else S.product(S.ones(k, k), GS))
    return S.hadamard(s, S.add(G, S.neg(spread)))


SOFTMAX = Operation(
    name="softmax", family="reductions", arity=1,
    forward=lambda a: _softmax(a, axis=0),  # column by column for a matrix
    partials=(Partial(build=_softmax_factor, label=Template("$block"), fields=_softmax_fields,
                      info=_softmax_info, rewrite=Rewrite(
                          factor=_softmax_rewrite, adjoint=_softmax_adjoint,
                          identity="vec(G)ᵀ ∂vec(softmax(H))/∂vec(H) = vec(S ⊙ (G − 𝟏𝟏ᵀ(G ⊙ S)))ᵀ, "
                                   "one distribution at a time")),),
    notation=Template(r"\operatorname{softmax}($0)"), precedence=ATOM,
    domain=(domain.rank(0, (1, 2)),), second=_softmax_second,
    summary="softmax of a vector; of a matrix, column by column (each column one example)")

#: The entries of this family, in the order they are listed.
OPERATIONS = (SUM, SOFTMAX)
