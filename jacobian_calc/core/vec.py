r"""The vec algebra: flattening, its inverse, and the structured Kronecker factors.

``vec`` stacks the columns of a matrix into one column (the lecture's eq 16). The
structured matrices of matrix calculus — the commutation matrix and the Kronecker
products of the classic identities — are built here directly from their index patterns
as scipy sparse arrays, never through a dense matrix or ``scipy.sparse.kron``. The weight
factor :math:`x^\top \otimes I_p` (eq 22) is :func:`jacobian_calc.linear_weight_jacobian`; inside
a chain the engine keeps such factors by their structure (:mod:`jacobian_calc.core.structure`).
"""

from __future__ import annotations

from math import prod
from typing import Literal

import numpy as np
import scipy.sparse as sp

from .errors import ChoiceError, ShapeError
from .limits import check_work
from .notation import dims
from .validation import as_real_array, index_dtype, positive_int, shape_tuple

__all__ = ["vec", "unvec", "commutation_matrix", "eye_kron", "kron_dense", "ones_kron_eye",
           "block_diagonal"]

Order = Literal["col", "row"]
_ORDERS = {"col": "F", "row": "C"}


def _numpy_order(order: str) -> str:
    try:
        return _ORDERS[order]
    except (KeyError, TypeError):
        raise ChoiceError("vec order", order, _ORDERS) from None


def vec(A: object, order: Order = "col") -> np.ndarray:
    r"""Flatten ``A`` into one column (eq 16).

    Parameters
    ----------
    A : array_like, shape (m, n), (n,) or ()
        A matrix, a vector (taken as a column) or a scalar.
    order : {"col", "row"}
        ``"col"`` (default) stacks the columns, the lecture's vec:
        :math:`\operatorname{vec}(W) = (w_{11}, w_{21}, \dots, w_{m1}, w_{12}, \dots)^\top`.
        ``"row"`` stacks the rows instead.

    Returns
    -------
    numpy.ndarray, shape (m*n, 1)

    Examples
    --------
    >>> vec([[1, 2], [3, 4]]).ravel()
    array([1., 3., 2., 4.])
    >>> vec([[1, 2], [3, 4]], order="row").ravel()
    array([1., 2., 3., 4.])
    >>> vec([5, 6]).shape
    (2, 1)
    """
    np_order = _numpy_order(order)
    arr = as_real_array(A, "A")
    return arr.reshape(-1, 1, order=np_order)


def unvec(v: object, shape: tuple[int, ...], order: Order = "col") -> np.ndarray:
    """Undo :func:`vec`: refill a column into a matrix of ``shape``.

    Parameters
    ----------
    v : array_like, shape (m*n, 1), (m*n,) or (1, m*n)
        The flattened values; a row is accepted because row gradients (eq 1) are
        unvec'ed into matrix-shaped gradients (eq 25).
    shape : tuple of int
        The target shape ``(m, n)``, or ``(n,)`` for a vector; a plain int ``n`` means
        ``(n,)``. Sizes are positive Python or numpy integers (not bool, float or str).
    order : {"col", "row"}
        Must match the order used by :func:`vec`.

    Returns
    -------
    numpy.ndarray, shape ``shape``

    Raises
    ------
    ShapeError
        ``shape`` is not one or two positive ints, ``v`` is not a column, row or 1-D,
        or ``v`` does not have exactly the number of entries ``shape`` needs.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> np.array_equal(unvec(vec(A), (2, 3)), A)
    True
    """
    np_order = _numpy_order(order)
    arr = as_real_array(v, "v", ndim=(1, 2))
    target = shape_tuple(shape, "shape", max_ndim=2)
    if arr.ndim == 2 and 1 not in arr.shape:
        raise ShapeError(f"v must be a column (N, 1), a row (1, N) or 1-D, got {dims(arr.shape)}")
    size = prod(target)  # exact: np.prod would wrap around for sizes beyond int64
    if arr.size != size:
        raise ShapeError(
            f"v has {arr.size} entries but shape {dims(target)} needs {size} entries"
        )
    return arr.reshape(target, order=np_order)


def commutation_matrix(m: int, n: int) -> sp.csr_array:
    r"""The commutation matrix :math:`K_{mn}` with :math:`K\,\operatorname{vec}(A) = \operatorname{vec}(A^\top)`.

    Parameters
    ----------
    m, n : int
        The shape of ``A``: positive Python or numpy integers (not bool or float).

    Returns
    -------
    scipy.sparse.csr_array, shape (m*n, m*n)
        A permutation matrix with one stored 1 per row.

    Raises
    ------
    ShapeError
        ``m`` or ``n`` is not a positive int.
    WorkLimitError
        The matrix (``m·n`` stored entries, their indices and the row pointers) would
        exceed the work bound (:func:`jacobian_calc.core.limits.set_work_limit`); checked
        before anything is built.

    Examples
    --------
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> K = commutation_matrix(2, 3)
    >>> np.array_equal(K @ vec(A), vec(A.T))
    True
    """
    m, n = positive_int(m, "m"), positive_int(n, "n")
    size = m * n
    # Kept: data, indices and indptr (3·size + 1); built on the way: one arange (size).
    check_work(4 * size + 1, size, f"commutation_matrix({m}, {n}), a {size}×{size} permutation,")
    idx = index_dtype(size)
    # Row r = j + n·i of vec(Aᵀ) is A[i, j], which sits at i + m·j in vec(A): read
    # column-major, the (n, m) table of the numbers 0 … size−1 lists exactly those columns.
    cols = np.arange(size, dtype=idx).reshape(n, m).ravel(order="F")
    return sp.csr_array(
        (np.ones(size), cols, np.arange(size + 1, dtype=idx)), shape=(size, size)
    )


def eye_kron(n: int, A: object) -> sp.csr_array:
    r""":math:`I_n \otimes A`, the Jacobian :math:`\partial \operatorname{vec}(AB) / \partial \operatorname{vec}(B)` for ``B`` with n columns.

    Parameters
    ----------
    n : int
        Number of diagonal blocks, a positive int.
    A : array_like, shape (m, k)
        Real and finite.

    Returns
    -------
    scipy.sparse.csr_array, shape (m*n, k*n)
        Block diagonal, ``n*m*k`` stored entries.

    Raises
    ------
    ShapeError
        ``n`` is not a positive int, or ``A`` is not a non-empty matrix.
    JacobianCalcError
        ``A`` is not real and finite.
    WorkLimitError
        The result would exceed the work bound; checked before it is built.

    Examples
    --------
    >>> eye_kron(2, np.array([[1.0, 2.0]])).toarray()
    array([[1., 2., 0., 0.],
           [0., 0., 1., 2.]])
    """
    n = positive_int(n, "n")
    A = as_real_array(A, "A", ndim=(2,))
    m, k = A.shape
    nnz = n * m * k
    # Kept: data and indices (nnz each) and indptr (n·m + 1); built on the way: n·k columns.
    check_work(2 * nnz + n * m + 1 + n * k, nnz,
               f"eye_kron({n}, A), I_{n} ⊗ A with A {dims(A.shape)},")
    idx = index_dtype(max(k * n, nnz))
    # Row i + m*b holds A[i, :] at columns k*b .. k*b + k - 1.
    cols = k * np.arange(n, dtype=idx)[:, None, None] + np.arange(k, dtype=idx)[None, None, :]
    indices = np.broadcast_to(cols, (n, m, k)).reshape(-1)
    data = np.broadcast_to(A[None, :, :], (n, m, k)).reshape(-1)
    indptr = np.arange(0, nnz + 1, k, dtype=idx)
    return sp.csr_array((data, indices, indptr), shape=(m * n, k * n))


# ------------------------------------------------------------------------------------
# Kronecker helpers for the classic identities (issue 4). Each is built directly from
# its index pattern or by broadcasting, never through np.kron or scipy.sparse.kron.
def kron_dense(A: object, B: object) -> np.ndarray:
    r""":math:`A \otimes B` as a dense array, entry by entry: ``(A⊗B)[i·p + k, j·q + l] = A[i, j]·B[k, l]``.

    Used where the Kronecker product really is dense, e.g. the Jacobian of
    :math:`\operatorname{vec}(AXB)` with respect to :math:`\operatorname{vec}(X)`, which is
    :math:`B^\top \otimes A`, or :math:`-(X^{-\top} \otimes X^{-1})` for the inverse.

    Parameters
    ----------
    A : array_like, shape (m, n)
    B : array_like, shape (p, q)
        Real and finite.

    Returns
    -------
    numpy.ndarray, shape (m*p, n*q)

    Raises
    ------
    ShapeError
        ``A`` or ``B`` is not a non-empty matrix.
    JacobianCalcError
        ``A`` or ``B`` is not a real, finite, dense array.
    WorkLimitError
        The product would exceed the work bound; checked before it is built.

    Examples
    --------
    >>> kron_dense(np.array([[1.0, 2.0]]), np.array([[1.0], [10.0]]))
    array([[ 1.,  2.],
           [10., 20.]])
    """
    A, B = as_real_array(A, "A", ndim=None), as_real_array(B, "B", ndim=None)  # rank below
    if A.ndim != 2 or B.ndim != 2:
        raise ShapeError(f"kron_dense needs two matrices, got shapes {A.shape} and {B.shape}")
    (m, n), (p, q) = A.shape, B.shape
    check_work(m * p * n * q + A.size + B.size, m * p * n * q,
               f"kron_dense(A, B), the {m * p}×{n * q} product of A {dims(A.shape)} and "
               f"B {dims(B.shape)},")
    # Axes (i, k, j, l) -> rows i·p + k, columns j·q + l in C order.
    return (A[:, None, :, None] * B[None, :, None, :]).reshape(m * p, n * q)


def ones_kron_eye(n: int, p: int) -> sp.csr_array:
    r""":math:`1_n \otimes I_p`: ``n`` identity blocks stacked, shape (n·p, p).

    The Jacobian of :math:`\operatorname{vec}(H + b 1_n^\top)` with respect to the bias
    ``b`` (length p) added to every one of the ``n`` columns of ``H``.

    Parameters
    ----------
    n, p : int
        Positive ints: the number of blocks and the size of each.

    Returns
    -------
    scipy.sparse.csr_array, shape (n·p, p), ``n·p`` stored ones

    Raises
    ------
    ShapeError
        ``n`` or ``p`` is not a positive int.
    WorkLimitError
        The result would exceed the work bound; checked before it is built.

    Examples
    --------
    >>> ones_kron_eye(2, 2).toarray()
    array([[1., 0.],
           [0., 1.],
           [1., 0.],
           [0., 1.]])
    """
    n, p = positive_int(n, "n"), positive_int(p, "p")
    nnz = n * p
    # Kept: data, indices (nnz each) and indptr (nnz + 1); built on the way: one arange (p).
    check_work(3 * nnz + 1 + p, nnz, f"ones_kron_eye({n}, {p}), a {nnz}×{p} matrix,")
    idx = index_dtype(nnz + 1)
    # Row j·p + i holds a single 1 in column i.
    cols = np.tile(np.arange(p, dtype=idx), n)
    return sp.csr_array((np.ones(n * p), cols, np.arange(n * p + 1, dtype=idx)),
                        shape=(n * p, p))


def block_diagonal(blocks: object) -> sp.csr_array:
    r"""The block-diagonal matrix :math:`\operatorname{diag}(B_1, \dots, B_n)` of ``n`` k×k blocks.

    Built from the index pattern: row ``j·k + a`` holds ``blocks[j, a, :]`` in columns
    ``j·k … j·k + k − 1`` (e.g. the column-wise softmax Jacobian).

    Parameters
    ----------
    blocks : array_like, shape (n, k, k)
        Real and finite.

    Returns
    -------
    scipy.sparse.csr_array, shape (n·k, n·k), ``n·k²`` stored entries

    Raises
    ------
    ShapeError
        ``blocks`` is empty or not of shape (n, k, k).
    JacobianCalcError
        ``blocks`` is not real and finite.
    WorkLimitError
        The n·k² entries are over the work bound (nothing is built then).

    Examples
    --------
    >>> block_diagonal(np.array([[[1.0]], [[2.0]]])).toarray()
    array([[1., 0.],
           [0., 2.]])
    """
    # Any rank here, so that the message below names the shape wanted; a new array: the data.
    blocks = as_real_array(blocks, "blocks", ndim=None)
    if blocks.ndim != 3 or blocks.shape[1] != blocks.shape[2]:
        raise ShapeError(f"blocks must have shape (n, k, k), got {blocks.shape}")
    n, k, _ = blocks.shape
    nnz = n * k * k
    # Kept: data, indices (nnz each) and indptr (n·k + 1); built on the way: n·k columns.
    check_work(2 * nnz + 2 * n * k + 1, nnz,
               f"block_diagonal(blocks), {n} blocks of {k}×{k},")
    idx = index_dtype(nnz + 1)
    cols = k * np.arange(n, dtype=idx)[:, None, None] + np.arange(k, dtype=idx)[None, None, :]
    indices = np.broadcast_to(cols, (n, k, k)).reshape(-1)
    indptr = np.arange(0, nnz + 1, k, dtype=idx)
    return sp.csr_array((blocks.reshape(-1), indices, indptr), shape=(n * k, n * k))
