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

from ..core.notation import Template
from ..core.structure import MatrixInfo
from . import domain
from .base import ATOM, POSTFIX, NodeLike, Operation, Partial, gradient_partial, kron_partial

__all__ = ["OPERATIONS", "cofactor"]


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


INV = Operation(
    name="inv", family="matrix", arity=1, forward=np.linalg.inv,
    # d(X⁻¹) = −X⁻¹ dX X⁻¹, so vec(d X⁻¹) = −(X⁻ᵀ ⊗ X⁻¹) vec(dX)
    partials=(kron_partial(lambda node: (node.value.T, node.value),
                           r"-\left($0^{-\top}\otimes $0^{-1}\right)", scale=-1.0),),
    notation=Template("$0^{-1}"), precedence=POSTFIX,
    domain=(domain.square(0), domain.invertible(0)),
    summary="the inverse X⁻¹ of a square, invertible matrix")

DET = Operation(
    name="det", family="matrix", arity=1, forward=lambda a: np.asarray(np.linalg.det(a)),
    partials=(gradient_partial(cofactor, r"\det($0)\,\operatorname{vec}($0^{-\top})^\top"),),
    notation=Template(r"\det($0)"), precedence=ATOM, shape=lambda shapes, params: (),
    domain=(domain.square(0), domain.prefers("invertible", 0)), gradients=(cofactor,),
    summary="the determinant of a square matrix")


def _inverse_transpose(X: np.ndarray) -> np.ndarray:
    return np.linalg.inv(X).T


LOGDET = Operation(
    name="logdet", family="matrix", arity=1,
    forward=lambda a: np.asarray(np.linalg.slogdet(a)[1]),
    partials=(gradient_partial(_inverse_transpose, r"\operatorname{vec}($0^{-\top})^\top"),),
    notation=Template(r"\log\lvert\det($0)\rvert"), precedence=ATOM,
    shape=lambda shapes, params: (), domain=(domain.square(0), domain.invertible(0)),
    gradients=(_inverse_transpose,),
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
                                                   node.args[0].value.shape[0], True)),),
    notation=Template(r"\operatorname{tr}($0)"), precedence=ATOM,
    shape=lambda shapes, params: (), domain=(domain.square(0),), aliases=("tr",),
    gradients=(lambda X: np.eye(X.shape[0]),),
    summary="the trace of a square matrix")

#: The entries of this family, in the order they are listed.
OPERATIONS = (INV, DET, LOGDET, TRACE)
