r"""Scaled dot-product attention, columns as tokens: one entry with three literal partials.

The library's convention is that columns are examples, so here columns are tokens:
queries Q (d × n, one query per column), keys K (d × m), values V (e × m),

.. math::

    S = \tfrac{1}{\sqrt d} K^\top Q \ (m \times n),\qquad
    P = \operatorname{softmax}(S) \text{ column by column},\qquad
    \operatorname{attention}(Q, K, V) = V P \ (e \times n).

Column j of P, written p_j, is how query j spreads its attention over the m keys, and
column j of the result is :math:`V p_j`. With :math:`J_j = \operatorname{diag}(p_j) - p_j
p_j^\top` (the softmax block of column j, see :mod:`~jacobian_calc.ops.reductions`) and
:math:`c = 1/\sqrt d`, the three literal Jacobians, each the chain
∂vec(VP)/∂vec(P) · ∂vec(P)/∂vec(S) · ∂vec(S)/∂vec(·) multiplied out once, are

* with respect to V: :math:`P^\top \otimes I_e` (eq 22 for a matrix right factor), kept as
  a Kronecker product;
* with respect to Q: :math:`(I_n \otimes V)\,\operatorname{blockdiag}_j(J_j)\,
  (I_n \otimes cK^\top) = \operatorname{blockdiag}_j(c\,V J_j K^\top)`: query j moves only
  column j of the result, so the matrix is block diagonal, n blocks of e × d, sparse;
* with respect to K: the blocks :math:`c\,(V J_j) \otimes q_j^\top` (e × md) stacked over
  j, since :math:`\partial s_j/\partial\operatorname{vec}(K) = c\,(I_m \otimes q_j^\top)`:
  every output depends on every key, so it is dense.

PyTorch and most papers write attention row-major, tokens as rows:
``softmax(Q_r K_rᵀ / √d, dim=-1) V_r`` with Q_r (n × d), K_r (m × d), V_r (m × e). It is
the transpose of this one: with Q = Q_rᵀ, K = K_rᵀ, V = V_rᵀ,
``attention(Q, K, V) = (softmax(Q_r K_rᵀ/√d, dim=-1) V_r)ᵀ``. The vec of a transpose is a
permutation of the vec (the commutation matrix), so the Jacobians of the two forms hold
the same numbers in permuted rows and columns.

The same value and Jacobians come out of the composition
``V @ jc.softmax(K.T @ Q / np.sqrt(d))`` of the table's matmul, transpose, scaling and
softmax, whose derivation lists each of these factors as its own step; this entry is that
chain multiplied out once, so it is one node of a graph (cheaper to differentiate, one
function of the parser) and its factors keep their block structure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import softmax as _softmax

from ..core import symbolic as S
from ..core.errors import ShapeError
from ..core.notation import Form, Template
from ..core.structure import Kron, MatrixInfo
from ..core.vec import block_diagonal
from . import domain
from .base import ATOM, NodeLike, Operands, Operation, Partial, Rewrite, Rule, dense_info
from .reductions import softmax_call, softmax_jacobian, softmax_pullback

__all__ = ["OPERATIONS", "attention_probabilities"]


# ---------------------------------------------------------------------------- forward
def attention_probabilities(Q: np.ndarray, K: np.ndarray) -> np.ndarray:
    """P = softmax(KᵀQ/√d) column by column: shape (m, n), each column sums to 1."""
    return _softmax(K.T @ Q / np.sqrt(Q.shape[0]), axis=0)


def _forward(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> np.ndarray:
    return V @ attention_probabilities(Q, K)


def _check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
    """Q (d × n), K (d × m), V (e × m): matrices whose sizes meet."""
    q, k, v = args
    for arg, role, shape in ((q, "queries", "d × n"), (k, "keys", "d × m"),
                             (v, "values", "e × m")):
        if arg.value.ndim != 2:
            raise ShapeError(f"{where}: the {role} {arg.form.text} must be a matrix ({shape}, "
                             f"one token per column), but it is "
                             f"{domain.size_text(arg.value.shape)}")
    if q.value.shape[0] != k.value.shape[0]:
        raise ShapeError(f"{where}: the queries {q.form.text} are "
                         f"{domain.size_text(q.value.shape)} and the keys {k.form.text} are "
                         f"{domain.size_text(k.value.shape)}; queries and keys need the same "
                         f"number of rows d_k ({q.value.shape[0]} ≠ {k.value.shape[0]})")
    if v.value.shape[1] != k.value.shape[1]:
        raise ShapeError(f"{where}: the values {v.form.text} are "
                         f"{domain.size_text(v.value.shape)} and the keys {k.form.text} are "
                         f"{domain.size_text(k.value.shape)}; there must be one value column "
                         f"per key column ({v.value.shape[1]} ≠ {k.value.shape[1]})")


# ---------------------------------------------------------------------------- partials
def _parts(node: NodeLike) -> tuple[float, np.ndarray, np.ndarray]:
    """c = 1/√d, P (m × n), and V J_j for every query j, shape (n, e, m)."""
    Q, K, V = (a.value for a in node.args)
    c = 1.0 / np.sqrt(Q.shape[0])
    P = attention_probabilities(Q, K)
    Pt = P.T[:, None, :]  # (n, 1, m): p_jᵀ
    # V J_j = V diag(p_j) − (V p_j) p_jᵀ, and V p_j is column j of the result
    VJ = V[None, :, :] * Pt - node.value.T[:, :, None] * Pt
    return c, P, VJ


def _rectangular_block_diagonal(blocks: np.ndarray) -> sp.csr_array:
    """diag(B_1, …, B_n) for n blocks of r × s, built from the index pattern (n·r·s entries)."""
    n, r, s = blocks.shape
    # row a of block j holds columns j·s … j·s + s − 1: s entries in every row
    cols = np.broadcast_to(np.arange(n)[:, None, None] * s + np.arange(s)[None, None, :],
                           (n, r, s)).ravel()
    indptr = np.arange(0, n * r * s + 1, s)
    return sp.csr_array((blocks.reshape(-1), cols, indptr), shape=(n * r, n * s))


def _wrt_queries(node: NodeLike) -> sp.csr_array:
    c, _, VJ = _parts(node)
    K = node.args[1].value
    return _rectangular_block_diagonal(c * (VJ @ K.T))  # n blocks c V J_j Kᵀ, e × d


def _wrt_queries_info(node: NodeLike) -> MatrixInfo:
    (d, n), e = node.args[0].value.shape, node.value.shape[0]
    return MatrixInfo(e * n, d * n, n * e * d, True)


def _wrt_keys(node: NodeLike) -> np.ndarray:
    c, _, VJ = _parts(node)
    Q = node.args[0].value
    n, e, m = VJ.shape
    d = Q.shape[0]
    # row a + e·j, column c' + d·i (vec(K) stacks K's columns k_i): c (V J_j)[a, i] q_j[c'],
    # written straight into a C-ordered (j, a, i, c') buffer, so the reshape is free (left
    # to itself, numpy would lay the product out like the transposed Q and copy it again)
    out = np.empty((n, e, m, d))
    np.multiply((c * VJ)[:, :, :, None], Q.T[:, None, None, :], out=out)
    return out.reshape(n * e, m * d)


def _wrt_values(node: NodeLike) -> Kron:
    P = attention_probabilities(node.args[0].value, node.args[1].value)
    return Kron(P.T, node.value.shape[0])  # ∂vec(V P)/∂vec(V) = Pᵀ ⊗ I_e


def _wrt_values_info(node: NodeLike) -> MatrixInfo:
    (m, n), e = (node.args[1].value.shape[1], node.value.shape[1]), node.value.shape[0]
    # the Kron of an n × m factor and I_e, described without computing P
    return MatrixInfo.of(Kron(np.zeros((n, m)), e))


def _fields(node: NodeLike) -> dict[str, object]:
    if len(node.args) != 3:  # written without a node (the list of operations): symbols
        return {"d": Form("d", "d"), "n": Form("n", "n"), "e": Form("e", "e"),
                "scale": Form("1/√d", r"\tfrac{1}{\sqrt{d}}")}
    # Read from the arguments: the expression is also written (in a message) before its
    # value exists and before the shapes are known to be right.
    Q, V = node.args[0].value, node.args[2].value
    d = Q.shape[0] if Q.ndim else 1
    n = Q.shape[1] if Q.ndim == 2 else 1
    e = V.shape[0] if V.ndim else 1
    return {"d": d, "n": n, "e": e,
            "scale": Form(f"1/√{d}", rf"\tfrac{{1}}{{\sqrt{{{d}}}}}")}


# ------------------------------------------------------------------------ second order
def _second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Any]:
    r"""∂²(ā·vec(attention(Q, K, V))) by pairs of arguments, A = unvec(ā) (e × n).

    f = Σ_j a_jᵀ V σ(s_j) with s_j = c Kᵀ q_j. With g_j = Vᵀ a_j, H_j the softmax's
    second-order block for the adjoint g_j, r_j = J_j g_j (∂f/∂s_j) and K J_j written KJ_j:

    * QQ: c² blockdiag_j(K H_j Kᵀ) (s_j depends on q_j alone);
    * KK: c² Σ_j H_j ⊗ q_j q_jᵀ;
    * QK: c² (K H_j)[c, i] q_j[c′] in row (j, c), column (i, c′), plus the bilinear term of
      S = c KᵀQ: c r_j[i] where c = c′;
    * QV: c (K J_j)[c, i] a_j[a] in row (j, c), column (i, a);
    * KV: c Σ_j J_j[i, l] q_j[c] a_j[a] in row (l, c), column (i, a);
    * VV: zero (the result is linear in V).
    """
    Q, K, V = (a.value for a in node.args)
    (d, n), m, e = Q.shape, K.shape[1], V.shape[0]
    c = 1.0 / np.sqrt(d)
    P = attention_probabilities(Q, K)
    A = adjoint.reshape(e, n, order="F")
    G = V.T @ A  # (m, n): g_j
    dots = np.einsum("ij,ij->j", P, G)  # g_jᵀ p_j
    R = P * (G - dots[None, :])  # r_j = J_j g_j
    Pt, Gt = P.T, G.T  # (n, m)
    eye = np.eye(m)[None]
    J = Pt[:, :, None] * eye - Pt[:, :, None] * Pt[:, None, :]  # (n, m, m)
    ss = Pt[:, :, None] * Pt[:, None, :]
    H = (Pt[:, :, None] * eye * (Gt - dots[:, None])[:, :, None]
         - ss * (Gt[:, :, None] + Gt[:, None, :]) + 2 * dots[:, None, None] * ss)
    KH = np.matmul(K[None], H)  # (n, d, m)
    KJ = np.matmul(K[None], J)
    qq = block_diagonal(c * c * np.matmul(KH, K.T[None]))
    kk = (c * c * np.einsum("jil,cj,bj->iclb", H, Q, Q)).reshape(m * d, m * d)
    qk = c * c * np.einsum("jci,bj->jcib", KH, Q) \
        + c * np.einsum("ij,cb->jcib", R, np.eye(d))
    qv = c * np.einsum("jci,aj->jcia", KJ, A)
    kv = c * np.einsum("jil,cj,aj->lcia", J, Q, A)
    return {(0, 0): qq, (1, 1): kk, (0, 1): qk.reshape(n * d, m * d),
            (0, 2): qv.reshape(n * d, m * e), (1, 2): kv.reshape(m * d, m * e)}


# ----------------------------------------------------------------- the rewriting rules
def _written_scale(o: Operands) -> S.MatExpr:
    """c = 1/√d as a 1×1 expression, written 1/√d with d's value."""
    d = S.matrix_shape(o.shapes[0])[0]
    return S.call("1/√d", lambda: np.asarray(1.0 / np.sqrt(d)), Template("$scale"),
                  shape=(1, 1), lib_shapes=(),
                  fields={"scale": Form(f"(1/√{d})", rf"\tfrac{{1}}{{\sqrt{{{d}}}}}")}, key=(d,))


def _written_probabilities(o: Operands) -> S.MatExpr:
    """P = softmax(c KᵀQ), column by column, as a matrix expression of Q and K."""
    Q, K, _ = o.args
    scores = S.scalar_times(_written_scale(o), S.product(S.transpose(K), Q))
    return softmax_call(scores, scores.shape)


def _scores_gradient(G: S.MatExpr, o: Operands) -> S.MatExpr:
    """∂f/∂S for S = c KᵀQ: the softmax's pullback of Vᵀ G."""
    return softmax_pullback(S.product(S.transpose(o.args[2]), G), _written_probabilities(o))


def _queries_factor(o: Operands) -> S.MatExpr:
    # (I ⊗ V) ∂vec(P)/∂vec(S) (I ⊗ c Kᵀ)
    Q, K, V = o.args
    n = Q.shape[1]
    return S.product(S.kron(S.identity(n), V), softmax_jacobian(_written_probabilities(o)),
                     S.kron(S.identity(n), S.scalar_times(_written_scale(o), S.transpose(K))))


def _keys_factor(o: Operands) -> S.MatExpr:
    # (I ⊗ V) ∂vec(P)/∂vec(S) c (Qᵀ ⊗ I) K_{d,m}: vec(KᵀQ) = (Qᵀ ⊗ I) vec(Kᵀ)
    Q, K, V = o.args
    n, (d, m) = Q.shape[1], K.shape
    return S.product(S.kron(S.identity(n), V), softmax_jacobian(_written_probabilities(o)),
                     S.scalar_times(_written_scale(o), S.product(
                         S.kron(S.transpose(Q), S.identity(m)), S.commutation(d, m))))


def _values_factor(o: Operands) -> S.MatExpr:
    return S.kron(S.transpose(_written_probabilities(o)), S.identity(o.args[2].shape[0]))


_QUERIES_RULE = Rewrite(
    factor=_queries_factor,
    adjoint=lambda G, o: S.scalar_times(_written_scale(o),
                                        S.product(o.args[1], _scores_gradient(G, o))),
    identity="∂f/∂Q = (1/√d) K R with R = P ⊙ (VᵀG − 𝟏𝟏ᵀ(P ⊙ VᵀG)), the softmax's pullback "
             "of VᵀG")
_KEYS_RULE = Rewrite(
    factor=_keys_factor,
    adjoint=lambda G, o: S.scalar_times(_written_scale(o), S.product(
        o.args[0], S.transpose(_scores_gradient(G, o)))),
    identity="∂f/∂K = (1/√d) Q Rᵀ with R = P ⊙ (VᵀG − 𝟏𝟏ᵀ(P ⊙ VᵀG)), the softmax's pullback "
             "of VᵀG")
_VALUES_RULE = Rewrite(factor=_values_factor)


# --------------------------------------------------------------------------- the entry
_SCALE = r"$scale\,"
_J = r"(\operatorname{diag}(p_j) - p_j p_j^\top)"

ATTENTION = Operation(
    name="attention", family="attention", arity=3, forward=_forward,
    partials=(
        Partial(build=_wrt_queries, info=_wrt_queries_info, rewrite=_QUERIES_RULE,
                label=Template(_SCALE + r"\operatorname{blockdiag}_{j=1}^{$n}\left($2\,"
                               + _J + r"\,$1^\top\right)")),
        Partial(build=_wrt_keys, rewrite=_KEYS_RULE,
                info=lambda node: dense_info(node.value.size, node.args[1].value.size),
                label=Template(_SCALE + r"\left[$2\," + _J + r"\otimes q_j^\top\right]_{j=1}^{$n}")),
        Partial(build=_wrt_values, info=_wrt_values_info, rewrite=_VALUES_RULE,
                label=Template(r"\operatorname{softmax}\left($1^\top$0/\sqrt{$d}\right)^\top"
                               r"\otimes I_{$e}")),
    ),
    notation=Template(r"\operatorname{attention}($0, $1, $2)"), precedence=ATOM,
    shape=lambda shapes, params: (shapes[2][0], shapes[0][1]),
    domain=(Rule(_check),), fields=_fields, second=_second,
    summary="V softmax(KᵀQ/√d): scaled dot-product attention, columns as tokens (Q d×n, "
            "K d×m, V e×m; the result is e×n)")

#: The entries of this family, in the order they are listed.
OPERATIONS = (ATTENTION,)
