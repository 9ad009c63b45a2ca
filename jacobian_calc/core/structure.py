r"""Literal matrices kept by their structure: c·I, diag(v) and Kronecker products A ⊗ B.

Most factors of a chain rule are not arbitrary matrices. ∂(Wx)/∂vec(W) is
:math:`x^\top \otimes I_p` (eq 22), an activation's factor is
:math:`\operatorname{diag}(\phi'(h))` (eq 29), ∂vec(AXB)/∂vec(X) is :math:`B^\top \otimes A`,
a sum's factor is the identity. Each class here is such a matrix: every entry is defined
(:meth:`Structured.toarray` writes them all out, :meth:`Structured.tosparse` gives a
scipy sparse array built from the index pattern), but it is *stored* as the few numbers
that determine it, and multiplied through its structure:

=========================  ========================  =====================================
class                      stores                    a row g times it
=========================  ========================  =====================================
:class:`Identity` c·I_n    c                         c·g
:class:`Diagonal` diag(v)  v (n numbers)             g ⊙ vᵀ
:class:`Kron` A ⊗ B        A and B (or just n for    vec(Bᵀ G A)ᵀ with G = unvec(g)
                           an identity factor; c     (the vec identity behind eq 22–25)
                           for c·(I_n ⊗ I_m))
=========================  ========================  =====================================

:math:`x^\top \otimes I_p` is therefore kept as x itself (8·d bytes for p·d stored entries)
and a row gradient times it is vec(g xᵀ)ᵀ — the outer product of Lemma 2.6 — computed in
one pass. These classes are plain Python objects, not scipy subclasses; a
:class:`~jacobian_calc.Jacobian` holds one as its storage and hands out the scipy form on
request.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import ShapeError
from .limits import check_dense
from .patterns import copy_on_write
from .validation import index_dtype
from .vec import eye_kron, kron_dense

__all__ = ["MatrixInfo", "dense_info", "is_finite", "Structured", "Identity", "Diagonal", "Kron", "KronSum", "is_structured", "row_kron_eye",
           "product", "add", "product_cost", "product_info", "sum_info"]

Matrix = Any  # numpy.ndarray, a scipy sparse array, or a Structured matrix


class Structured(ABC):
    """A literal 2-D matrix stored by its structure.

    Attributes
    ----------
    shape : tuple of int
        (rows, columns).
    nnz : int
        Entries the literal matrix stores when written out sparse (its structural
        non-zeros, zeros among the values included).
    nbytes : int
        Bytes actually held.
    symmetric : bool
        The matrix equals its transpose (identities and diagonals).
    """

    __slots__ = ()
    __array_ufunc__ = None  # ndarray @ Structured defers to __rmatmul__
    ndim = 2
    symmetric = False

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]: ...

    @property
    @abstractmethod
    def nnz(self) -> int: ...

    @property
    @abstractmethod
    def nbytes(self) -> int: ...

    @property
    @abstractmethod
    def dense(self) -> bool:
        """True when written out it has no structural zeros (then :meth:`materialize` is dense)."""

    @property
    @abstractmethod
    def apply_cost(self) -> int:
        """Multiply-adds of one dense row times this matrix (equally, of it times one column)."""

    @abstractmethod
    def rmatmul(self, G: np.ndarray) -> np.ndarray:
        """``G @ self`` for dense G of shape (r, rows): shape (r, columns)."""

    @abstractmethod
    def matmul(self, V: np.ndarray) -> np.ndarray:
        """``self @ V`` for dense V of shape (columns, m): shape (rows, m)."""

    @abstractmethod
    def tosparse(self) -> sp.sparray:
        """A scipy sparse array with the same entries, built from the index pattern."""

    @abstractmethod
    def transpose(self) -> Structured: ...

    @abstractmethod
    def finite(self) -> bool:
        """True when every entry, written out, is a finite number."""

    @abstractmethod
    def scaled(self, c: float) -> Structured:
        """``c`` times this matrix, with the same structure."""

    @property
    def T(self) -> Structured:
        return self.transpose()

    def toarray(self, max_bytes: int | None = None, *, what: str | None = None) -> np.ndarray:
        """Every entry, dense (refused above :func:`~jacobian_calc.get_dense_limit` or ``max_bytes``)."""
        check_dense(self.shape, what or type(self).__name__, max_bytes)
        return self._dense()

    def _dense(self) -> np.ndarray:
        return self.tosparse().toarray()

    def materialize(self) -> np.ndarray | sp.sparray:
        """The matrix in numpy or scipy form: dense when it has no zeros, else sparse."""
        return self.toarray() if self.dense else self.tosparse()

    # ------------------------------------------------------------------ operators
    def __matmul__(self, other: object) -> Any:
        if isinstance(other, np.ndarray) and other.ndim in (1, 2):
            out = self.matmul(_check_rows(other.reshape(other.shape[0], -1), self.shape[1]))
            return out.reshape(-1) if other.ndim == 1 else out
        return NotImplemented

    def __rmatmul__(self, other: object) -> Any:
        if isinstance(other, np.ndarray) and other.ndim in (1, 2):
            rows = other.reshape(-1, other.shape[-1])
            if rows.shape[1] != self.shape[0]:
                raise ShapeError(f"cannot multiply a {rows.shape[1]}-column operand by a "
                                 f"{self.shape[0]}×{self.shape[1]} {type(self).__name__}")
            out = self.rmatmul(rows)
            return out.reshape(-1) if other.ndim == 1 else out
        return NotImplemented

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.shape[0]}×{self.shape[1]}, {self.nnz} entries "
                f"kept in {self.nbytes} bytes>")


def _check_rows(V: np.ndarray, n: int) -> np.ndarray:
    if V.shape[0] != n:
        raise ShapeError(f"cannot multiply by an operand with {V.shape[0]} rows; {n} needed")
    return V


def is_finite(matrix: Any) -> bool:
    """True when every entry of a dense, scipy sparse or structured matrix is finite."""
    if isinstance(matrix, Structured):
        return matrix.finite()
    if sp.issparse(matrix):
        return bool(np.all(np.isfinite(matrix.data)))
    return bool(np.all(np.isfinite(matrix)))


def is_structured(matrix: object) -> bool:
    """True for the classes of this module."""
    return isinstance(matrix, Structured)


class Identity(Structured):
    """c·I_n: the factor of a sum (c = 1), a difference (c = −1) or a scaling."""

    __slots__ = ("n", "scale")
    symmetric = True

    def __init__(self, n: int, scale: float = 1.0) -> None:
        self.n, self.scale = int(n), float(scale)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def nnz(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return 8

    @property
    def dense(self) -> bool:
        return False  # an identity is structurally sparse, even 1×1

    @property
    def apply_cost(self) -> int:
        return self.n

    def rmatmul(self, G: np.ndarray) -> np.ndarray:
        return G if self.scale == 1.0 else self.scale * G

    def matmul(self, V: np.ndarray) -> np.ndarray:
        return V if self.scale == 1.0 else self.scale * V

    def tosparse(self) -> sp.csr_array:
        return sp.eye_array(self.n, format="csr") * self.scale

    def _dense(self) -> np.ndarray:
        return self.scale * np.eye(self.n)

    def transpose(self) -> Identity:
        return self

    def finite(self) -> bool:
        return bool(np.isfinite(self.scale))

    def scaled(self, c: float) -> Identity:
        return Identity(self.n, self.scale * c)


class Diagonal(Structured):
    """diag(v): the factor of anything applied entry by entry (eq 29)."""

    __slots__ = ("values",)
    symmetric = True

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.float64).reshape(-1, order="F")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.values.size, self.values.size)

    @property
    def nnz(self) -> int:
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    @property
    def dense(self) -> bool:
        return False  # a diagonal is structurally sparse, even 1×1

    @property
    def apply_cost(self) -> int:
        return int(self.values.size)

    def rmatmul(self, G: np.ndarray) -> np.ndarray:
        return G * self.values

    def matmul(self, V: np.ndarray) -> np.ndarray:
        return self.values[:, None] * V

    def tosparse(self) -> sp.csr_array:
        n = self.values.size
        idx = np.arange(n + 1, dtype=index_dtype(n))
        return sp.csr_array((self.values.copy(), idx[:-1], idx), shape=(n, n))

    def _dense(self) -> np.ndarray:
        return np.diag(self.values)

    def transpose(self) -> Diagonal:
        return self

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.values)))

    def scaled(self, c: float) -> Diagonal:
        return Diagonal(c * self.values)


def _factor_shape(f: np.ndarray | int) -> tuple[int, int]:
    return (f, f) if isinstance(f, int) else f.shape  # type: ignore[return-value]


def _factor_nnz(f: np.ndarray | int) -> int:
    return f if isinstance(f, int) else int(f.size)


#: From this many columns on, Kron.matmul multiplies B into each row's (bc × m) block; below
#: it, B once into all of them (reading B once per row of A only pays off for wide blocks).
_WIDE = 16


class Kron(Structured):
    r"""A ⊗ B, each factor a dense matrix or an identity (given by its size n), times c.

    ``Kron(x[None, :], p)`` is :math:`x^\top \otimes I_p` (eq 22), ``Kron(n, A)`` is
    :math:`I_n \otimes A`, ``Kron(B.T, A)`` is ∂vec(AXB)/∂vec(X) and ``Kron(-Xi.T, Xi)``
    is ∂vec(X⁻¹)/∂vec(X). Products use the vec identity
    :math:`(A \otimes B)\operatorname{vec}(X) = \operatorname{vec}(B X A^\top)`, so a row
    times A ⊗ B costs a few small matrix products, never the n⁴ entries of the product.

    Parameters
    ----------
    left, right : numpy.ndarray (2-D) or int
        The factors; an int n stands for the identity I_n.
    scale : float, optional
        c in c·(A ⊗ B). It is multiplied into a matrix factor when there is one, so the
        attribute ``scale`` differs from 1 only for c·(I_n ⊗ I_m): writing c·I_n out
        instead would store n² numbers where the structure needs one.
    """

    __slots__ = ("left", "right", "scale")

    def __init__(self, left: np.ndarray | int, right: np.ndarray | int,
                 scale: float = 1.0) -> None:
        left, right, scale = self._factor(left), self._factor(right), float(scale)
        if scale != 1.0 and not isinstance(left, int):
            left, scale = scale * left, 1.0
        elif scale != 1.0 and not isinstance(right, int):
            right, scale = scale * right, 1.0
        self.left, self.right, self.scale = left, right, scale

    @staticmethod
    def _factor(f: object) -> np.ndarray | int:
        if isinstance(f, (int, np.integer)) and not isinstance(f, bool):
            if f < 1:
                raise ShapeError(f"an identity factor needs a positive size, got {f}")
            return int(f)
        arr = np.asarray(f, dtype=np.float64)
        if arr.ndim != 2:
            raise ShapeError(f"a Kronecker factor must be a matrix, got shape {arr.shape}")
        return arr

    @property
    def shape(self) -> tuple[int, int]:
        (ar, ac), (br, bc) = _factor_shape(self.left), _factor_shape(self.right)
        return (ar * br, ac * bc)

    @property
    def nnz(self) -> int:
        return _factor_nnz(self.left) * _factor_nnz(self.right)

    @property
    def nbytes(self) -> int:
        held = sum(0 if isinstance(f, int) else int(f.nbytes) for f in (self.left, self.right))
        return held + (8 if self.scale != 1.0 else 0)

    @property
    def dense(self) -> bool:
        # A ⊗ B of two matrices has no structural zeros; with an identity factor it is
        # structurally sparse (xᵀ⊗I_p, I_n⊗A), whatever its size.
        return not (isinstance(self.left, int) or isinstance(self.right, int))

    @property
    def apply_cost(self) -> int:
        (ar, ac), (br, bc) = _factor_shape(self.left), _factor_shape(self.right)
        cost = 0
        cost += ac * br if isinstance(self.left, int) else ar * ac * br
        cost += ac * bc if isinstance(self.right, int) else ac * br * bc
        return cost

    def rmatmul(self, G: np.ndarray) -> np.ndarray:
        # Row g is vec(M)ᵀ for M of shape (br, ar); g (A ⊗ B) = vec(Bᵀ M A)ᵀ. Batched as
        # Mᵀ (ar × br) per row, C-ordered: out = Aᵀ Mᵀ B, laid out row-major (ac, bc).
        (ar, ac), (br, bc) = _factor_shape(self.left), _factor_shape(self.right)
        r = G.shape[0]
        M = G.reshape(r, ar, br)
        if not isinstance(self.left, int):
            A = self.left
            if ar == 1:  # a row xᵀ: the outer product of Lemma 2.6, one pass
                M = np.multiply(A[0][None, :, None], M)
            else:
                M = np.matmul(A.T, M)
        if not isinstance(self.right, int):
            M = np.matmul(M, self.right)
        M = M.reshape(r, ac * bc)
        return M if self.scale == 1.0 else self.scale * M

    def matmul(self, V: np.ndarray) -> np.ndarray:
        # Row j·bc + l of V holds entry (l, j) of each column's X (bc × ac), so V read as
        # (ac, bc, m) is Xᵀ for every column at once, without a copy: A times it is one
        # matrix product over the first axis, B one per row of A, and the result is laid
        # out row-major as (ar·br, m) — never a transposed copy of a wide V or of the result.
        (ar, ac), (br, bc) = _factor_shape(self.left), _factor_shape(self.right)
        m = V.shape[1]
        X = V.reshape(ac, bc, m)
        if not isinstance(self.left, int):
            X = np.tensordot(self.left, X, axes=(1, 0))
        if not isinstance(self.right, int):
            B = self.right
            if m == 1:  # one product of all of X with Bᵀ, instead of one B·x per row of A
                X = X.reshape(ar, bc) @ B.T
            elif m < _WIDE:  # the same, then the few columns moved last (a small copy)
                X = np.tensordot(X, B, axes=(1, 1)).transpose(0, 2, 1)
            else:  # wide: B times each row's (bc × m) block, already in place
                X = np.matmul(B, X)
        X = X.reshape(ar * br, m)
        return X if self.scale == 1.0 else self.scale * X

    def apply(self, X: np.ndarray) -> np.ndarray:
        r"""(A ⊗ B) vec(X) as the matrix B X Aᵀ: X in its own shape, never flattened.

        Parameters
        ----------
        X : numpy.ndarray, shape (columns of B, columns of A)
            Any array with that many entries is read by columns (vec) into that shape;
            one already of that shape is used as it is (no column-major copy).

        Returns
        -------
        numpy.ndarray, shape (rows of B, rows of A)
            Its vec is (A ⊗ B) vec(X).
        """
        ac, bc = _factor_shape(self.left)[1], _factor_shape(self.right)[1]
        X = np.asarray(X, dtype=np.float64)
        if X.size != ac * bc:
            raise ShapeError(f"a {self.shape[0]}×{self.shape[1]} Kronecker product applied "
                             f"to {X.size} entries; it needs {bc}×{ac} = {ac * bc}")
        if X.shape != (bc, ac):
            X = X.reshape((bc, ac), order="F")
        if not isinstance(self.right, int):
            X = self.right @ X
        if not isinstance(self.left, int):
            X = X @ self.left.T
        return X if self.scale == 1.0 else self.scale * X

    def tosparse(self) -> sp.csr_array:
        # Every entry of a matrix factor is stored, zeros included (as nnz counts them), so
        # the pattern is the structure's and never depends on the values.
        left, right = self.left, self.right
        if isinstance(left, int) and isinstance(right, int):
            return Identity(left * right, self.scale).tosparse()  # c·(I_n ⊗ I_m) = c·I_nm
        if isinstance(right, int) and left.shape[0] == 1:
            return row_kron_eye(left[0], right)  # xᵀ⊗I_p, eq (22)
        if isinstance(left, int) and not isinstance(right, int):
            return eye_kron(left, right)  # I_n⊗A
        parts = [sp.eye_array(f, format="csr") if isinstance(f, int) else _full_pattern(f)
                 for f in (left, right)]
        return sp.csr_array(sp.kron(parts[0], parts[1], format="csr"))

    def _dense(self) -> np.ndarray:
        parts = [np.eye(f) if isinstance(f, int) else f for f in (self.left, self.right)]
        out = kron_dense(parts[0], parts[1])
        return out if self.scale == 1.0 else self.scale * out

    def transpose(self) -> Kron:
        return Kron(*(f if isinstance(f, int) else f.T for f in (self.left, self.right)),
                    self.scale)

    def finite(self) -> bool:
        # Every entry is c·a_ij·b_kl: finite when the factors are and the largest product is.
        largest = abs(self.scale)
        if not np.isfinite(largest):
            return False
        for f in (self.left, self.right):
            if not isinstance(f, int):
                if not np.all(np.isfinite(f)):
                    return False
                largest *= float(np.max(np.abs(f))) if f.size else 0.0
        return bool(np.isfinite(largest))

    def scaled(self, c: float) -> Kron:
        return Kron(self.left, self.right, self.scale * c)

    def compose(self, other: Kron) -> Kron | None:
        """(A ⊗ B)(C ⊗ D) = AC ⊗ BD when the factors meet, else ``None``."""
        (_, ac), (_, bc) = _factor_shape(self.left), _factor_shape(self.right)
        (cr, _), (dr, _) = _factor_shape(other.left), _factor_shape(other.right)
        if ac != cr or bc != dr:
            return None
        return Kron(_factor_product(self.left, other.left),
                    _factor_product(self.right, other.right), self.scale * other.scale)


class KronSum(Structured):
    r"""A sum of Kronecker products :math:`\sum_i A_i \otimes B_i` of one shape, kept as its terms.

    The Gauss-Newton block of a layer over a batch of n examples is
    :math:`\sum_i (z_i z_i^\top) \otimes (B_i^\top H_i B_i)`: n pairs of factors, never
    the (size × size) matrix, and multiplied with a vector term by term.

    Parameters
    ----------
    terms : sequence of Kron
        At least one, all of the same shape.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: Any) -> None:
        terms = tuple(terms)
        if not terms or not all(isinstance(t, Kron) for t in terms):
            raise ShapeError("a KronSum needs one or more Kron terms")
        shapes = {t.shape for t in terms}
        if len(shapes) != 1:
            raise ShapeError(f"the terms of a KronSum must share one shape, got {sorted(shapes)}")
        self.terms = terms

    @property
    def shape(self) -> tuple[int, int]:
        return self.terms[0].shape

    @property
    def nnz(self) -> int:
        rows, cols = self.shape
        return min(rows * cols, sum(t.nnz for t in self.terms))

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.terms)

    @property
    def dense(self) -> bool:
        return any(t.dense for t in self.terms)

    @property
    def apply_cost(self) -> int:
        return sum(t.apply_cost for t in self.terms)

    def rmatmul(self, G: np.ndarray) -> np.ndarray:
        return sum((t.rmatmul(G) for t in self.terms[1:]), self.terms[0].rmatmul(G))

    def matmul(self, V: np.ndarray) -> np.ndarray:
        return sum((t.matmul(V) for t in self.terms[1:]), self.terms[0].matmul(V))

    def tosparse(self) -> sp.csr_array:
        return sp.csr_array(sum((t.tosparse() for t in self.terms[1:]),
                                self.terms[0].tosparse()))

    def _dense(self) -> np.ndarray:
        out = self.terms[0]._dense()
        for t in self.terms[1:]:
            out += t._dense()
        return out

    def transpose(self) -> KronSum:
        return KronSum(t.transpose() for t in self.terms)

    def finite(self) -> bool:
        return all(t.finite() for t in self.terms)

    def scaled(self, c: float) -> KronSum:
        return KronSum(t.scaled(c) for t in self.terms)


def _full_pattern(f: np.ndarray) -> sp.csr_array:
    """A dense matrix as CSR with every entry stored (``sp.csr_array(f)`` drops its zeros)."""
    rows, cols = f.shape
    if not f.size:
        return sp.csr_array(f.shape)
    idx = index_dtype(max(f.size, cols))
    return sp.csr_array((f.ravel(), np.tile(np.arange(cols, dtype=idx), rows),
                         np.arange(0, f.size + 1, cols, dtype=idx)), shape=f.shape)


def _factor_product(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray | int:
    if isinstance(a, int):
        return b
    if isinstance(b, int):
        return a
    return a @ b


def _kron_eye_indices(p: int, d: int, dtype: type) -> np.ndarray:
    """Column indices of xᵀ⊗I_p row by row: row r holds r, p + r, …, (d−1)p + r."""
    return (np.arange(p, dtype=dtype)[:, None] + p * np.arange(d, dtype=dtype)).reshape(-1)


def row_kron_eye(x: np.ndarray, p: int) -> sp.csr_array:
    r""":math:`x^\top \otimes I_p = (x_1 I_p, \dots, x_d I_p)` as a scipy CSR array, from its pattern.

    Row i holds x_1 … x_d at columns i, p + i, …, (d−1)p + i: ``data`` is x repeated p
    times, ``indices`` the arithmetic pattern, ``indptr`` d apart. 12 bytes per stored
    entry plus O(p); zeros of x are stored, so the pattern never depends on the values,
    and a large one is shared copy-on-write between factors of the same shape.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    d = x.size
    nnz = p * d
    dtype = index_dtype(nnz)
    # The column indices depend on (p, d) only: written once per shape and mapped
    # copy-on-write into each result (core.patterns), so a call writes just the values.
    indices = copy_on_write(("xᵀ⊗I_p indices", p, d, np.dtype(dtype).str),
                            lambda: _kron_eye_indices(p, d, dtype))
    data = np.empty((p, d))
    data[...] = x  # one broadcast write; np.tile goes through np.repeat, ~20% slower
    indptr = np.arange(0, nnz + 1, d, dtype=dtype)
    out = sp.csr_array((data.reshape(-1), indices, indptr), shape=(p, nnz), copy=False)
    out.has_sorted_indices = True
    return out


# ------------------------------------------------------------------ products and sums
#: Below this many stored entries, a row times a compressed sparse matrix is computed with
#: three numpy calls instead of scipy's matmul, whose fixed cost per call (≈ 40 µs: it
#: builds the transposed array) dominates a lecture-sized chain.
_SMALL_SPARSE = 4096


def _row_times_compressed(row: np.ndarray, b: sp.sparray) -> np.ndarray:
    """(1×k) dense row · (k×n) CSR/CSC: each stored b_ij adds row_i·b_ij to column j."""
    major = np.repeat(np.arange(b.indptr.size - 1), np.diff(b.indptr))
    rows, cols = (major, b.indices) if b.format == "csr" else (b.indices, major)
    return np.bincount(cols, weights=row[0, rows] * b.data, minlength=b.shape[1])[None, :]


def _scale(m: Matrix, c: float) -> Matrix:
    if c == 1.0:
        return m
    return m.scaled(c) if isinstance(m, Structured) else c * m


def _plain(out: object) -> Matrix:
    if sp.issparse(out):
        return out if isinstance(out, sp.sparray) else sp.csr_array(out)
    return np.asarray(out)


def product(a: Matrix, b: Matrix, *, keep_kron: bool = False) -> Matrix:
    """``a @ b`` for any two storages (dense, scipy sparse, structured), keeping structure.

    Identities only scale; diagonals multiply entry by entry; Kronecker products compose
    by the mixed-product rule (A ⊗ B)(C ⊗ D) = AC ⊗ BD; a dense operand times a structured
    one uses the structure; anything else is written out sparse and handed to scipy. The
    result is dense whenever one side is dense: an ndarray, or for M(aᵀ ⊗ B) the Kronecker
    product aᵀ ⊗ MB of two matrices, kept structured (see ``_through_kron``).

    ``keep_kron=True`` keeps M(aᵀ ⊗ B) a Kronecker product for an M of a single row too
    (and (a ⊗ B)M for a single column): what the tangents of second order need, where a
    one-wide layer must not turn the Gauss-Newton factors into a plain row. A gradient's
    row times a factor stays the plain row it is by default.
    """
    if isinstance(a, Identity):
        return _scale(b, a.scale)
    if isinstance(b, Identity):
        return _scale(a, b.scale)
    if isinstance(a, Diagonal) and isinstance(b, Diagonal):
        return Diagonal(a.values * b.values)
    if isinstance(a, Kron) and isinstance(b, Kron):
        composed = a.compose(b)
        if composed is not None:
            return composed
    through = _through_kron(a, b, 0 if keep_kron else 1, kron_operand=keep_kron)
    if through is not None:
        return through
    if isinstance(b, Structured):
        if sp.issparse(a) and _small_enough(a, b):
            a = a.toarray()  # a few sparse rows: densify them, not the structured factor
        if isinstance(a, np.ndarray):
            return b.rmatmul(a)
        b = b.tosparse()
    if isinstance(a, Structured):
        if sp.issparse(b) and _small_enough(b, a):
            b = b.toarray()
        if isinstance(b, np.ndarray):
            return a.matmul(b)
        a = a.tosparse()
    if (isinstance(a, np.ndarray) and a.shape[0] == 1 and sp.issparse(b)
            and b.format in ("csr", "csc") and b.nnz <= _SMALL_SPARSE):
        return _row_times_compressed(a, b)
    return _plain(a @ b)


def _square(m: np.ndarray | Diagonal) -> np.ndarray:
    return np.diag(m.values) if isinstance(m, Diagonal) else m


def _times(m: np.ndarray | Diagonal | Kron, f: np.ndarray | int, m_first: bool) -> np.ndarray:
    """``m @ f`` (or ``f @ m``) for a Kronecker factor f: a diagonal m scales f's rows (columns)
    rather than being written out square, as :func:`product_cost` counts it; a Kronecker m
    multiplies through its own structure."""
    if isinstance(f, int):
        return _square(m)
    if isinstance(m, Diagonal):
        return m.values[:, None] * f if m_first else f * m.values[None, :]
    if isinstance(m, Kron):
        return m.matmul(f) if m_first else m.rmatmul(f)
    return m @ f if m_first else f @ m


def _through_kron(a: Matrix, b: Matrix, more_than: int = 1, *,
                  kron_operand: bool = False) -> Kron | None:
    """M (aᵀ ⊗ B) = aᵀ ⊗ MB and (a ⊗ B) M = a ⊗ BM for a row aᵀ (a column a): the mixed
    product with 1 ⊗ M. It keeps the tangents of a layer, (z ⊗ I)ᵀ times the layers above,
    a Kronecker product — and with them the Gauss-Newton blocks (z zᵀ) ⊗ (Bᵀ H B). Only for
    an M of more than ``more_than`` rows (columns): a dense row times a factor is the
    gradient's own fast path.

    ``kron_operand`` lets M be a Kronecker product too, one whose factors do not compose
    with aᵀ ⊗ B (the second-order terms (I ⊗ g)(xᵀ ⊗ B) and (a ⊗ B)(I ⊗ gᵀ)): MB is then
    rows(M) × cols(B) through M's structure, d times less than the product written out.
    """
    operands = (np.ndarray, Diagonal, Kron) if kron_operand else (np.ndarray, Diagonal)
    if isinstance(b, Kron) and isinstance(a, operands) and a.shape[0] > more_than \
            and not isinstance(b.left, int) and b.left.shape[0] == 1 \
            and not (isinstance(a, Kron) and isinstance(b.right, int)):
        if _factor_shape(b.right)[0] == a.shape[1]:
            return Kron(b.left, _times(a, b.right, m_first=True))
    if isinstance(a, Kron) and isinstance(b, operands) and b.shape[1] > more_than \
            and not isinstance(a.left, int) and a.left.shape[1] == 1 \
            and not (isinstance(b, Kron) and isinstance(a.right, int)):
        if _factor_shape(a.right)[1] == b.shape[0]:
            return Kron(a.left, _times(b, a.right, m_first=False))
    return None


def _small_enough(sparse: Any, structured: Structured) -> bool:
    """Whether a sparse operand is cheaper to write out dense than the structured one sparse."""
    return sparse.shape[0] * sparse.shape[1] <= 4 * max(structured.nnz, 1)


def add(a: Matrix, b: Matrix) -> Matrix:
    """``a + b`` for any two storages of the same shape, keeping structure where it survives."""
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(a.n, a.scale + b.scale)
    if isinstance(a, (Identity, Diagonal)) and isinstance(b, (Identity, Diagonal)):
        return Diagonal(_diagonal_values(a) + _diagonal_values(b))
    if isinstance(a, Structured):
        a = a.materialize()
    if isinstance(b, Structured):
        b = b.materialize()
    if isinstance(a, np.ndarray) and sp.issparse(b):
        return a + b.toarray()
    if sp.issparse(a) and isinstance(b, np.ndarray):
        return a.toarray() + b
    return _plain(a + b)


def _diagonal_values(m: Identity | Diagonal) -> np.ndarray:
    return np.full(m.n, m.scale) if isinstance(m, Identity) else m.values


# ------------------------------------------------------------------ what a factor costs
@dataclass(frozen=True)
class MatrixInfo:
    """What a factor costs, known before it is built: its shape and storage.

    Attributes
    ----------
    rows, cols : int
    nnz : int
        Entries it stores when written out (every entry if dense).
    sparse : bool
        Whether it is stored sparse (or structured).
    apply : int or None
        Multiply-adds of one dense row times it (or of it times one dense column) when its
        structure makes that cheaper than ``nnz``, as for a Kronecker product A ⊗ B.
    stored : int or None
        Numbers actually held when less than ``nnz`` (a structured matrix); ``None``
        means ``nnz``.
    kind : str
        ``"dense"``, ``"sparse"``, or the structured class: ``"identity"``,
        ``"diagonal"``, ``"kron"``, ``"kronsum"`` (how :func:`product` will multiply it).
    left : tuple of int or None
        For a Kronecker product A ⊗ B, the shape of A, (n, n) for I_n: whether two
        Kronecker products compose, (A ⊗ B)(C ⊗ D) = AC ⊗ BD, and whether a dense matrix
        passes through a row aᵀ, M(aᵀ ⊗ B) = aᵀ ⊗ MB.
    identities : tuple of bool
        For a Kronecker product A ⊗ B, whether A and whether B is an identity (stored as
        its size, and structurally sparse); a composed product keeps an identity factor
        only where both had one.
    """

    rows: int
    cols: int
    nnz: int
    sparse: bool
    apply: int | None = None
    stored: int | None = None
    kind: str = ""
    left: tuple[int, int] | None = None
    identities: tuple[bool, bool] = (False, False)

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", "sparse" if self.sparse else "dense")

    @property
    def held(self) -> int:
        """Numbers held in memory."""
        return self.nnz if self.stored is None else self.stored

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def transpose(self) -> MatrixInfo:
        """The info of the transpose (of a Kronecker product: Aᵀ ⊗ Bᵀ)."""
        return replace(self, rows=self.cols, cols=self.rows,
                       left=None if self.left is None else self.left[::-1])

    @classmethod
    def of(cls, matrix: Any) -> MatrixInfo:
        """Describe a matrix that exists: dense, scipy sparse, structured, or a Jacobian's storage."""
        matrix = getattr(matrix, "storage", matrix)  # a Jacobian exposes its storage
        if not isinstance(matrix, (np.ndarray, Structured)) and not sp.issparse(matrix):
            matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise ShapeError(f"a chain factor must be a 2-D matrix, got shape {matrix.shape}")
        rows, cols = (int(n) for n in matrix.shape)
        if isinstance(matrix, Structured):
            kron = isinstance(matrix, Kron)
            left = _factor_shape(matrix.left) if kron else None
            identities = ((isinstance(matrix.left, int), isinstance(matrix.right, int))
                          if kron else (False, False))
            return cls(rows, cols, int(matrix.nnz), not matrix.dense, int(matrix.apply_cost),
                       max(1, int(matrix.nbytes) // 8), type(matrix).__name__.lower(), left,
                       identities)
        if isinstance(matrix, np.ndarray):
            return cls(rows, cols, rows * cols, False)
        return cls(rows, cols, int(matrix.nnz), True)


def dense_info(rows: int, cols: int) -> MatrixInfo:
    """The info of a dense rows × cols matrix."""
    return MatrixInfo(rows, cols, rows * cols, False)


def _meet(a: MatrixInfo, b: MatrixInfo) -> None:
    if a.cols != b.rows:
        raise ShapeError(f"cannot multiply {a.rows}×{a.cols} by {b.rows}×{b.cols}: "
                         f"{a.cols} columns meet {b.rows} rows")


def _structured(info: MatrixInfo) -> bool:
    """A structured class (not an ndarray or a scipy array): multiplied through its structure."""
    return info.kind not in ("dense", "sparse")


def _apply(info: MatrixInfo) -> int:
    return info.nnz if info.apply is None else info.apply


def _small(sparse: MatrixInfo, structured: MatrixInfo) -> bool:
    """:func:`_small_enough` on infos."""
    return sparse.rows * sparse.cols <= 4 * max(structured.nnz, 1)


def _route(a: MatrixInfo, b: MatrixInfo) -> tuple[str, bool]:
    """How :func:`product` multiplies two operands that no structural rule covers.

    Returns the route and whether a sparse operand is written out dense first:
    ``"rows"`` (dense rows of a times b's structure), ``"columns"`` (a's structure times
    dense columns of b), ``"sparse"`` (scipy, both sparse: a structured operand met by
    another structured or a large sparse one is written out sparse) or ``"dense"`` (numpy,
    or scipy with one dense side). Only ``"sparse"`` gives a sparse result.
    """
    infos, kinds = (a, b), [a.kind, b.kind]
    # b structured is met by a's rows first, then a structured by b's columns; a structured
    # operand that neither side can use is written out sparse (.tosparse()).
    for mine, other, route in ((1, 0, "rows"), (0, 1, "columns")):
        if _structured(infos[mine]):
            if kinds[other] == "sparse" and _small(infos[other], infos[mine]):
                return route, True
            if kinds[other] == "dense":
                return route, False
            kinds[mine] = "sparse"
    return ("sparse" if kinds == ["sparse", "sparse"] else "dense"), False


def _kron_info(left: tuple[int, int], right: tuple[int, int],
               identities: tuple[bool, bool]) -> MatrixInfo:
    """The info of A ⊗ B from its factors' shapes ((n, n) for I_n): what :meth:`MatrixInfo.of`
    says of the :class:`Kron` (its nnz, apply_cost, nbytes and dense, computed the same way)."""
    (ar, ac), (br, bc) = left, right
    eye_a, eye_b = identities
    nnz = (ar if eye_a else ar * ac) * (br if eye_b else br * bc)
    apply = (ac * br if eye_a else ar * ac * br) + (ac * bc if eye_b else ac * br * bc)
    held = (0 if eye_a else ar * ac) + (0 if eye_b else br * bc)
    return MatrixInfo(ar * br, ac * bc, nnz, eye_a or eye_b, apply, max(1, held), "kron",
                      left, identities)


def _right_shape(info: MatrixInfo) -> tuple[int, int]:
    """The shape of B in a Kronecker product A ⊗ B whose A has the shape ``info.left``."""
    return (info.rows // info.left[0], info.cols // info.left[1])


def _composes(a: MatrixInfo, b: MatrixInfo) -> bool:
    """Whether :meth:`Kron.compose` applies: the columns of A meet the rows of C."""
    return (a.kind == b.kind == "kron" and a.left is not None and b.left is not None
            and a.left[1] == b.left[0])


def _composed_info(a: MatrixInfo, b: MatrixInfo) -> MatrixInfo:
    """The info of (A ⊗ B)(C ⊗ D) = AC ⊗ BD: an identity factor stays only where both were one."""
    left = (a.left[0], b.left[1])
    right = (_right_shape(a)[0], _right_shape(b)[1])
    identities = (a.identities[0] and b.identities[0], a.identities[1] and b.identities[1])
    return _kron_info(left, right, identities)


def _factor_products_cost(a: MatrixInfo, b: MatrixInfo) -> int:
    """Multiply-adds of AC and BD (a product with an identity factor is the other factor)."""
    cost = 0
    for (m, k), n, eyes in ((a.left, b.left[1], (a.identities[0], b.identities[0])),
                            (_right_shape(a), _right_shape(b)[1],
                             (a.identities[1], b.identities[1]))):
        cost += 0 if any(eyes) else m * k * n
    return cost


def product_cost(a: MatrixInfo, b: MatrixInfo) -> int:
    """Multiply-adds of ``a @ b``, following the rules of :func:`product`.

    ========================  ==========================================================
    an identity on one side   the other side's stored entries (a scaling)
    two diagonals             n
    two Kronecker products    when their factors meet: the products AC and BD of the
                              factors (none where one of the two is an identity)
    M (aᵀ ⊗ B), (a ⊗ B) M     the product MB (BM), M dense or diagonal
    dense times structured    rows of the dense side × the structured side's ``apply``
                              (a small sparse side is written out dense first: + its size)
    dense, dense              ``m·k·n``
    sparse, dense             ``nnz(A)·n``; dense, sparse: ``m·nnz(B)``
    both sparse               ``nnz(A)·nnz(B)/k``; a structured side that meets another
                              structured or a large sparse one is written out sparse
    ========================  ==========================================================
    """
    _meet(a, b)
    if a.kind == "identity":
        return b.held
    if b.kind == "identity":
        return a.held
    if a.kind == b.kind == "diagonal":
        return a.rows
    if _composes(a, b):
        return _factor_products_cost(a, b)
    through = _through_info(a, b)
    if through is not None:  # M (aᵀ ⊗ B): the product M·B of M with the right factor
        m, inner = (a, b) if b.kind == "kron" else (b, a)
        if inner.identities[1]:  # M itself (a diagonal written out square)
            return 0 if m.kind == "dense" else m.rows * m.cols
        outer = through.cols // inner.left[1] if inner is b else through.rows // inner.left[0]
        return m.rows * m.cols * outer if m.kind == "dense" else m.rows * outer
    route, densified = _route(a, b)
    if route == "rows":
        return a.rows * _apply(b) + (a.rows * a.cols if densified else 0)
    if route == "columns":
        return b.cols * _apply(a) + (b.rows * b.cols if densified else 0)
    if route == "sparse":
        return -(-a.nnz * b.nnz // max(a.cols, 1))  # ceil(nnz(A)·nnz(B)/k)
    if a.kind == "sparse":
        return a.nnz * b.cols
    if b.kind == "sparse":
        return a.rows * b.nnz
    return a.rows * a.cols * b.cols


def product_info(a: MatrixInfo, b: MatrixInfo) -> MatrixInfo:
    """What ``a @ b`` will be, following the rules of :func:`product` (its kind, its storage)."""
    _meet(a, b)
    if a.kind == "identity":
        return b
    if b.kind == "identity":
        return a
    if a.kind == b.kind == "diagonal":
        return a
    if _composes(a, b):
        return _composed_info(a, b)
    through = _through_info(a, b)
    if through is not None:
        return through
    full = a.rows * b.cols
    if _route(a, b)[0] == "sparse":
        return MatrixInfo(a.rows, b.cols, min(full, -(-a.nnz * b.nnz // max(a.cols, 1))), True)
    return dense_info(a.rows, b.cols)


def _through_info(a: MatrixInfo, b: MatrixInfo) -> MatrixInfo | None:
    """The info of M (aᵀ ⊗ B) = aᵀ ⊗ MB (or of (a ⊗ B) M), mirroring ``_through_kron``."""
    if b.kind == "kron" and b.left is not None and not b.identities[0] and b.left[0] == 1 \
            and a.kind in ("dense", "diagonal") and a.rows > 1:
        return _kron_info(b.left, (a.rows, _right_shape(b)[1]), (False, False))
    if a.kind == "kron" and a.left is not None and not a.identities[0] and a.left[1] == 1 \
            and b.kind in ("dense", "diagonal") and b.cols > 1:
        return _kron_info(a.left, (_right_shape(a)[0], b.cols), (False, False))
    return None


def sum_info(a: MatrixInfo, b: MatrixInfo) -> MatrixInfo:
    """What ``a + b`` will be, following the rules of :func:`add`."""
    if a.kind == b.kind == "identity":
        return a
    if a.kind in ("identity", "diagonal") and b.kind in ("identity", "diagonal"):
        return MatrixInfo(a.rows, a.cols, a.rows, True, a.rows, a.rows, "diagonal")
    full = a.rows * a.cols
    if a.sparse and b.sparse:
        return MatrixInfo(a.rows, a.cols, min(full, a.nnz + b.nnz), True)
    return MatrixInfo(a.rows, a.cols, full, False)
