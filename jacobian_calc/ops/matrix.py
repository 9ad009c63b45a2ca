r"""Functions of a square matrix: the inverse, the determinant, log|det| and the trace.

Their factors:

* :math:`\partial \operatorname{vec}(X^{-1}) / \partial \operatorname{vec}(X) =
  -(X^{-\top} \otimes X^{-1})`, from d(X⁻¹) = −X⁻¹ dX X⁻¹, kept as its two n×n factors;
* ∂det(X)/∂X = det(X) X⁻ᵀ, the cofactor matrix (defined for singular X too);
* ∂log|det X|/∂X = X⁻ᵀ;
* ∂tr(X)/∂X = I, so the row :math:`\operatorname{vec}(I)^\top`, sparse.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..core import symbolic as S
from ..core.notation import Template
from ..core.structure import MatrixInfo
from . import domain
from .base import ATOM, LINEAR, POSTFIX, NodeLike, Operands, Operation, Partial, Rewrite, \
    gradient_partial, kron_partial

__all__ = ["OPERATIONS", "cofactor", "trace_form"]


def cofactor(X: np.ndarray) -> np.ndarray:
    r"""The cofactor matrix :math:`\operatorname{adj}(X)^\top`, which is :math:`\det(X)\,X^{-\top}` when X is invertible.

    Computed from the SVD :math:`X = U \Sigma V^\top` as
    :math:`\det(U)\det(V)\, U \operatorname{adj}(\Sigma) V^\top`, so it is defined (and
    accurate) for singular X too, where ∂det(X)/∂X is still the cofactor matrix.

    Examples
    --------
    >>> cofactor(np.array([[2.0, 0.0], [0.0, 3.0]]))
    array([[3., 0.],
           [0., 2.]])
    """
    U, s, Vt = np.linalg.svd(X)
    n = s.size
    others = np.array([np.prod(np.delete(s, i)) for i in range(n)]) if n > 1 else np.ones(1)
    sign = np.linalg.det(U) * np.linalg.det(Vt)
    return sign * (U * others) @ Vt


def _transposing_columns(M: np.ndarray, n: int) -> np.ndarray:
    """M K_{n,n}: the columns of M reordered from vec(dX) to vec(dXᵀ) (K the commutation matrix)."""
    return M[:, np.arange(n * n).reshape(n, n).T.ravel()]


def trace_form(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    r"""The matrix S of the bilinear form tr(P dX₁ Q dX₂) = vec(dX₁)ᵀ S vec(dX₂), n×n matrices.

    Entry (b + n·c, d + n·a) is P_ab Q_cd: :math:`S = (Q \otimes P^\top) K_{n,n}`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> P, Q, A, B = (rng.normal(size=(2, 2)) for _ in range(4))
    >>> S = trace_form(P, Q)
    >>> bool(np.isclose(A.ravel(order="F") @ S @ B.ravel(order="F"), np.trace(P @ A @ Q @ B)))
    True
    """
    n = P.shape[0]
    return _transposing_columns(np.kron(Q, P.T), n)


def _inv_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    # d²(X⁻¹)[dX₁, dX₂] = Y dX₁ Y dX₂ Y + Y dX₂ Y dX₁ Y with Y = X⁻¹, so ā·vec(d²Y) is
    # tr(P dX₁ Y dX₂) + tr(P dX₂ Y dX₁) with P = Y Āᵀ Y: the form and its transpose.
    Y = node.value
    n = Y.shape[0]
    P = Y @ adjoint.reshape(n, n, order="F").T @ Y
    S = trace_form(P, Y)
    return {(0, 0): S + S.T}


def _det_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    # d²det[dX₁, dX₂] = det X (tr(X⁻¹dX₁) tr(X⁻¹dX₂) − tr(X⁻¹dX₁ X⁻¹dX₂)), through X⁻¹
    X = node.args[0].value
    domain.check_invertible(X, f"the second derivative of {node.form.text}",
                            node.args[0].form.text)
    Xi = np.linalg.inv(X)
    v = Xi.T.reshape(-1, order="F")
    return {(0, 0): adjoint[0] * float(node.value) * (np.outer(v, v) - trace_form(Xi, Xi))}


def _logdet_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    # d² log|det X|[dX₁, dX₂] = −tr(X⁻¹dX₁ X⁻¹dX₂)
    Xi = np.linalg.inv(node.args[0].value)
    return {(0, 0): -adjoint[0] * trace_form(Xi, Xi)}


def _inverse_transpose_of(o: Operands) -> S.MatExpr:
    """X⁻ᵀ, written from X (the inverse of X is not a node of the graph here)."""
    return S.transpose(S.inverse(o.args[0]))


INV = Operation(
    name="inv", family="matrix", arity=1, forward=np.linalg.inv,
    # d(X⁻¹) = −X⁻¹ dX X⁻¹, so vec(d X⁻¹) = −(X⁻ᵀ ⊗ X⁻¹) vec(dX)
    partials=(kron_partial(lambda node: (node.value.T, node.value),
                           r"-\left($0^{-\top}\otimes $0^{-1}\right)", scale=-1.0,
                           rewrite=Rewrite(factor=lambda o: S.neg(S.kron(S.transpose(o.out),
                                                                         o.out)))),),
    notation=Template("$0^{-1}"), precedence=POSTFIX,
    domain=(domain.square(0), domain.invertible(0)), second=_inv_second,
    symbolic=lambda o: S.inverse(o.args[0]),
    summary="the inverse X⁻¹ of a square, invertible matrix")

DET = Operation(
    name="det", family="matrix", arity=1, forward=lambda a: np.asarray(np.linalg.det(a)),
    # det(X) vec(X⁻ᵀ)ᵀ: the cofactor matrix, written for an invertible X
    partials=(gradient_partial(cofactor, r"\det($0)\,\operatorname{vec}($0^{-\top})^\top",
                               rewrite=Rewrite(factor=lambda o: S.scalar_times(
                                   o.out, S.transpose(S.vec(_inverse_transpose_of(o)))))),),
    notation=Template(r"\det($0)"), precedence=ATOM, shape=lambda shapes, params: (),
    domain=(domain.square(0), domain.prefers("invertible", 0)), gradients=(cofactor,),
    second=_det_second, positive_on="invertible",  # det(I + E) > 0 for ‖E‖₂ < 1
    summary="the determinant of a square matrix")


def _inverse_transpose(X: np.ndarray) -> np.ndarray:
    return np.linalg.inv(X).T


LOGDET = Operation(
    name="logdet", family="matrix", arity=1,
    forward=lambda a: np.asarray(np.linalg.slogdet(a)[1]),
    partials=(gradient_partial(_inverse_transpose, r"\operatorname{vec}($0^{-\top})^\top",
                               rewrite=Rewrite(factor=lambda o: S.transpose(
                                   S.vec(_inverse_transpose_of(o))))),),
    notation=Template(r"\log\lvert\det($0)\rvert"), precedence=ATOM,
    shape=lambda shapes, params: (), domain=(domain.square(0), domain.invertible(0)),
    gradients=(_inverse_transpose,), second=_logdet_second,
    summary="log|det X| of a square, invertible matrix (log det X when det X > 0)")


def _trace_factor(node: NodeLike) -> sp.csr_array:
    # vec(I)ᵀ: a 1 at every diagonal position i + n·i of vec(X).
    n = node.args[0].value.shape[0]
    cols = np.arange(n, dtype=np.int64) * (n + 1)
    return sp.csr_array((np.ones(n), cols, np.array([0, n])), shape=(1, n * n))


TRACE = Operation(
    name="trace", family="matrix", arity=1, forward=lambda a: np.asarray(np.trace(a)),
    partials=(Partial(build=_trace_factor,
                      label=Template(r"\operatorname{vec}(I_{$n})^\top"),
                      fields=lambda node: {"n": node.args[0].value.shape[0]},
                      info=lambda node: MatrixInfo(1, node.args[0].value.size,
                                                   node.args[0].value.shape[0], True),
                      rewrite=Rewrite(factor=lambda o: S.transpose(
                          S.vec(S.identity(o.args[0].shape[0]))))),),
    notation=Template(r"\operatorname{tr}($0)"), precedence=ATOM,
    shape=lambda shapes, params: (), domain=(domain.square(0),), aliases=("tr",),
    gradients=(lambda X: np.eye(X.shape[0]),), second=LINEAR,
    summary="the trace of a square matrix")

#: The entries of this family, in the order they are listed.
OPERATIONS = (INV, DET, LOGDET, TRACE)
