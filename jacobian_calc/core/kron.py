r"""Kronecker products with an identity: the weight factor :math:`x^\top \otimes I_p` (eq 22).

:math:`x^\top \otimes I_p = (x_1 I_p, \dots, x_d I_p)` is d scaled identities side by side.
Its transpose :math:`x \otimes I_p`, the same blocks stacked, is a banded matrix with
exactly d diagonals (offsets 0, −p, −2p, …), diagonal k holding x_k p times. scipy's DIA
format stores that in its p·d values and d offsets, with no index per entry, and its
mat-vec streams through memory diagonal by diagonal. :class:`KronEyeArray` is the p × pd
factor itself — a scipy sparse array of that shape — kept as that ``dia_array`` of its
transpose, the way a CSC array is the CSR storage of its transpose:

* memory: 8 bytes per stored entry (the values are its only array), nothing shared;
* dense rows times the factor, ``g @ K`` or ``G @ K``, is the DIA product
  ``(Kᵀ @ Gᵀ)ᵀ``: diagonal by diagonal, one pass over the stored values, the result
  written in order;
* ``K.T`` is that ``dia_array``, over the same values (no copy);
* anything else (``K @ v``, sparse products, sums, conversions) goes through the CSC
  form, which reuses the same values array and a shared read-only index pattern.

For a matrix B with n > 1 columns, :math:`B^\top \otimes I_m` has k + n − 1 diagonals that
DIA would pad, so :func:`transpose_kron_eye` stores it as CSC from the same shared
pattern.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from scipy.sparse._base import _spbase  # the base of every scipy sparse format

from .errors import ShapeError
from .validation import as_real_array

__all__ = ["KronEyeArray", "transpose_kron_eye", "kron_pattern_cache_info",
           "clear_kron_pattern_cache"]


def _index_dtype(largest: int) -> type:
    """int32 indices while they fit, as scipy itself prefers; int64 beyond."""
    return np.int32 if largest < np.iinfo(np.int32).max else np.int64


def _positive(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ShapeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ShapeError(f"{name} must be a positive int, got {value}")
    return int(value)


def transpose_kron_eye(B: np.ndarray, m: int) -> KronEyeArray | sp.csc_array:
    r""":math:`B^\top \otimes I_m`, the Jacobian :math:`\partial \operatorname{vec}(AB) / \partial \operatorname{vec}(A)`.

    For a vector ``B = x`` of length d this is the lecture's eq (22),
    :math:`(x_1 I_m, \dots, x_d I_m)`, with exactly ``m*d`` stored entries (zeros of ``x``
    included, so the pattern never depends on the values).

    Parameters
    ----------
    B : array_like, shape (k,), (k, 1) or (k, n)
        The right factor of ``A @ B``; a vector is one column. Real and finite.
    m : int
        Rows of ``A``.

    Returns
    -------
    KronEyeArray or scipy.sparse.csc_array, shape (m*n, m*k)
        For a vector (n = 1), a :class:`KronEyeArray`: the d diagonals of the transpose,
        8 bytes per stored entry. For n > 1, a CSC array whose ``data`` is new and whose
        ``indices`` and ``indptr`` are read-only views of a pattern shared by every factor
        of that shape (see :func:`kron_pattern_cache_info`).

    Examples
    --------
    >>> K = transpose_kron_eye(np.array([2.0, 3.0]), 2)
    >>> K.toarray()
    array([[2., 0., 3., 0.],
           [0., 2., 0., 3.]])
    >>> K.nnz, K.T.format
    (4, 'dia')
    """
    m = _positive(m, "m")
    B = as_real_array(B, "B", ndim=(1, 2))
    B2 = B.reshape(B.shape[0], -1)
    k, n = B2.shape
    if n == 1:
        diagonals = _data_buffer(k * m).reshape(k, m)
        np.copyto(diagonals, B2)  # diagonal l of x⊗I_m holds x_l, m times
        return KronEyeArray(diagonals)
    indices, indptr = _kron_pattern(m, k, n)
    # Column i + m*l holds B[l, 0..n-1]: the values of row l of B, repeated for each i.
    data = _data_buffer(m * k * n)
    np.copyto(data.reshape(k, m, n), B2[:, None, :])
    return _csc_from_parts(data, indices, indptr, (m * n, m * k))


def _check_axes(axes: object) -> None:
    if axes is not None and tuple(axes) != (1, 0):
        raise ValueError(f"a 2-D sparse array transposes only with axes (1, 0), got {axes!r}")


def _stacked_offsets(d: int, p: int) -> np.ndarray:
    """The offsets 0, −p, −2p, … of the d diagonals of x⊗I_p."""
    return -p * np.arange(d, dtype=_index_dtype(p * d))


class _StackedDiagonals(sp.dia_array):
    """``x ⊗ I_p`` as a ``dia_array`` whose transpose is a :class:`KronEyeArray` again.

    scipy's own DIA transpose would re-lay the values into a (d, p·d) array — d times the
    factor — so ``K.T.T`` is ``K`` over the same values instead, as for CSR and CSC. Its
    scaled copies (``2 * K.T``, ``K.T.copy()``) keep that transpose; once its structure
    has been changed in place (``setdiag``, ``resize``) scipy's transpose takes over.
    """

    def _is_stacked_identities(self) -> bool:
        data, (rows, p) = self.data, self.shape
        d = data.shape[0] if data.ndim == 2 else -1
        return (data.ndim == 2 and data.shape == (d, p) and rows == p * d
                and data.dtype == np.float64 and data.flags.c_contiguous
                and np.array_equal(self.offsets, _stacked_offsets(d, p)))

    def transpose(self, axes: object = None, copy: bool = False) -> sp.sparray:
        _check_axes(axes)
        if not self._is_stacked_identities():
            return super().transpose(copy=copy)
        return KronEyeArray(self.data.copy() if copy else self.data)

    def _with_data(self, data: np.ndarray, copy: bool = True) -> sp.dia_array:
        offsets = self.offsets.copy() if copy else self.offsets
        return _StackedDiagonals((data, offsets), shape=self.shape, copy=False)


#: scipy sparse methods that change an array in place: a KronEyeArray is one factor's
#: values and nothing else, so these are refused with the way to get a mutable copy.
_IN_PLACE = frozenset({"eliminate_zeros", "sum_duplicates", "sort_indices", "prune",
                       "setdiag", "resize", "check_format"})
#: Storage attributes of the compressed formats, which a KronEyeArray does not have.
_NOT_STORED = frozenset({"indices", "indptr", "coords", "offsets", "blocksize",
                         "has_sorted_indices", "has_canonical_format"})


def _refuse_in_place(name: str) -> None:
    raise TypeError(f"a KronEyeArray is read-only; {name}() would change it in place: "
                    f"use K.tocsc(copy=True).{name}(...)")


class KronEyeArray(_spbase, sp.sparray):
    r""":math:`x^\top \otimes I_p = (x_1 I_p, \dots, x_d I_p)`, shape (p, p·d), p·d stored entries.

    A scipy sparse array (``scipy.sparse.issparse`` is true) kept as the d diagonals of
    its transpose :math:`x \otimes I_p`. Build it with :func:`transpose_kron_eye` or
    :func:`jacobian_calc.linear_weight_jacobian`. It is read-only: scipy's arithmetic,
    comparisons and reductions work and return new arrays, and every other method of a
    ``csc_array`` that does not change the array in place is answered by :meth:`tocsc`;
    for an array to modify, take ``K.tocsc(copy=True)``. Its ``format`` is ``"kron"``,
    which scipy functions written for its own formats (``scipy.sparse.save_npz``) do not
    know: hand them ``K.tocsc()``.

    Parameters
    ----------
    diagonals : numpy.ndarray, shape (d, p), float64, C-contiguous
        Row k holds x_k in every one of its p entries: the stored values, in the order of
        the factor's columns (column k·p + i holds ``diagonals[k, i]``).

    Attributes
    ----------
    data : numpy.ndarray, shape (p·d,)
        The stored values in column order (a view of ``diagonals``).
    T : scipy.sparse.dia_array, shape (p·d, p)
        :math:`x \otimes I_p`, sharing the values; no copy.
    """

    _format = "kron"

    def __init__(self, diagonals: np.ndarray) -> None:
        if (not isinstance(diagonals, np.ndarray) or diagonals.ndim != 2
                or diagonals.dtype != np.float64 or not diagonals.flags.c_contiguous):
            raise ShapeError("KronEyeArray needs a C-contiguous float64 (d, p) array of "
                             f"diagonals, got {getattr(diagonals, 'shape', type(diagonals))}")
        d, p = diagonals.shape
        self._shape = (p, p * d)
        self.maxprint = 50
        self._diagonals = diagonals

    # -------------------------------------------------------------- what it stores
    @property
    def dtype(self) -> np.dtype:
        return self._diagonals.dtype

    @property
    def data(self) -> np.ndarray:
        return self._diagonals.reshape(-1)

    @property
    def diagonals(self) -> np.ndarray:
        """The stored values, shape (d, p): row k is the diagonal x_k·I_p contributes."""
        return self._diagonals

    def _getnnz(self, axis: int | None = None) -> int:
        if axis is None:
            return self._diagonals.size
        return self.tocsc()._getnnz(axis=axis)

    def count_nonzero(self, axis: int | None = None) -> int | np.ndarray:
        if axis is None:
            return int(np.count_nonzero(self._diagonals))
        return self.tocsc().count_nonzero(axis=axis)

    def copy(self) -> KronEyeArray:
        return KronEyeArray(self._diagonals.copy())

    def __repr__(self) -> str:
        d, p = self._diagonals.shape
        return (f"<KronEyeArray xᵀ⊗I_{p} of shape {self.shape} with {self.nnz} stored "
                f"elements (the {d} diagonals of its transpose)>")

    def __getattr__(self, name: str) -> object:
        # Only reached for names the class does not define: the rest of csc_array's API.
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _IN_PLACE:
            _refuse_in_place(name)
        if name in _NOT_STORED:
            raise AttributeError(f"a KronEyeArray stores no {name!r}: its values are the d "
                                 "diagonals of its transpose (K.diagonals); K.tocsc() is the "
                                 "same matrix in CSC")
        return getattr(self.tocsc(), name)

    # ------------------------------------------------------------------ conversions
    def transpose(self, axes: object = None, copy: bool = False) -> sp.dia_array:
        _check_axes(axes)
        diagonals = self._diagonals.copy() if copy else self._diagonals
        d, p = diagonals.shape
        return _StackedDiagonals((diagonals, _stacked_offsets(d, p)), shape=(p * d, p),
                                 copy=False)

    def tocsc(self, copy: bool = False) -> sp.csc_array:
        # The values are already in CSC order; only the index pattern is added, shared and
        # read-only unless a copy is asked for.
        d, p = self._diagonals.shape
        indices, indptr = _kron_pattern(p, d, 1)
        if copy:
            return sp.csc_array((self.data.copy(), indices.copy(), indptr.copy()),
                                shape=self.shape)
        return _csc_from_parts(self.data, indices, indptr, self.shape)

    def tocsr(self, copy: bool = False) -> sp.csr_array:
        return self.tocsc(copy=False).tocsr()

    def tocoo(self, copy: bool = False) -> sp.coo_array:
        return self.tocsc(copy=copy).tocoo(copy=False)

    def toarray(self, order: str | None = None, out: np.ndarray | None = None) -> np.ndarray:
        return self.tocsc().toarray(order=order, out=out)

    def astype(self, dtype: object, casting: str = "unsafe", copy: bool = True) -> sp.sparray:
        if np.dtype(dtype) == self.dtype:
            return self.copy() if copy else self
        return self.tocsc().astype(dtype, casting=casting, copy=copy)

    def __getitem__(self, key: object) -> object:
        return self.tocsc()[key]

    # scipy builds the results of these with the operand's own class: let CSC answer.
    def _comparison(self, other: object, op: object) -> object:
        return self.tocsc()._comparison(other, op)

    def _maximum_minimum(self, other: object, *args: object, **kwargs: object) -> object:
        return self.tocsc()._maximum_minimum(other, *args, **kwargs)

    def setdiag(self, values: object, k: int = 0) -> None:
        _refuse_in_place("setdiag")

    def resize(self, *shape: object) -> None:
        _refuse_in_place("resize")

    # --------------------------------------------------------------------- products
    def _dense_operand(self, other: object, size: int, axis: int) -> bool:
        return (other.__class__ is np.ndarray and other.ndim in (1, 2)
                and other.shape[axis if other.ndim == 2 else 0] == size
                and other.dtype.kind in "biufc")

    def _matmul_dispatch(self, other: object) -> object:
        # K times dense columns V (p·d × m): row i of K·V is Σ_k x_k V[k·p + i], diagonal k
        # of the transpose times block k of V — one pass over the values and over V.
        d, p = self._diagonals.shape
        if self._dense_operand(other, p * d, 0):
            blocks = other.reshape(d, p, -1)
            out = np.einsum("kp,kpm->pm", self._diagonals, blocks)
            return out.reshape(p) if other.ndim == 1 else out
        return self.tocsc()._matmul_dispatch(other)

    def _rmatmul_dispatch(self, other: object) -> object:
        # Dense rows G (m × p) times the factor: the DIA product (Kᵀ Gᵀ)ᵀ computed diagonal
        # by diagonal — rows k·p … k·p + p − 1 of Kᵀ Gᵀ are diagonal k times Gᵀ, since the
        # diagonals' row windows tile Kᵀ — in one pass over the stored values, writing the
        # result in order.
        d, p = self._diagonals.shape
        if self._dense_operand(other, p, -1):
            rows = other.reshape(-1, p)  # a vector is one row
            # Gᵀ made contiguous (a copy of G only): the inner loop then reads it in order,
            # not with a stride of one row of G, which at p = 1024 was 4× slower.
            columns = np.ascontiguousarray(rows.T)
            products = np.multiply(self._diagonals[:, :, None], columns[None, :, :])
            out = products.reshape(d * p, rows.shape[0]).T
            return out.reshape(-1) if other.ndim == 1 else out
        return self.tocsc()._rmatmul_dispatch(other)


# ----------------------------------------------------------- shared index patterns
# The index arrays of Bᵀ⊗I_m in CSC depend only on (m, k, n), never on the values, and
# cost as much memory as the data (4 + 4 bytes per entry beside 8 for the value). Every
# factor of one shape shares one read-only copy; a small LRU bounded in bytes keeps the
# recent ones.
_PATTERN_BUDGET = 256 << 20  # bytes of index arrays kept alive by the cache
_patterns: OrderedDict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_pattern_lock = threading.Lock()
_pattern_stats = {"hits": 0, "misses": 0, "reused": 0}


def _kron_pattern(m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only ``(indices, indptr)`` of the CSC pattern of Bᵀ⊗I_m for B of shape (k, n)."""
    key = (m, k, n)
    with _pattern_lock:
        found = _patterns.get(key)
        if found is not None:
            _patterns.move_to_end(key)
            _pattern_stats["hits"] += 1
            return found
        _pattern_stats["misses"] += 1
    nnz = m * k * n
    idx = _index_dtype(max(m * n, nnz))
    # Column i + m*l of the result holds B[l, j] at row i + m*j, for j = 0..n-1.
    rows = (np.arange(m, dtype=idx)[:, None] + m * np.arange(n, dtype=idx)[None, :]).reshape(-1)
    indices = np.tile(rows, k)
    indptr = np.arange(0, nnz + 1, n, dtype=idx)
    indices.flags.writeable = False
    indptr.flags.writeable = False
    size = indices.nbytes + indptr.nbytes
    with _pattern_lock:
        if size <= _PATTERN_BUDGET:
            _patterns[key] = (indices, indptr)
            while sum(a.nbytes + b.nbytes for a, b in _patterns.values()) > _PATTERN_BUDGET:
                _patterns.popitem(last=False)
    return indices, indptr


# ------------------------------------------------------------- recycled data buffers
# A large factor is built, multiplied once and dropped (Graph.backward frees it at once).
# Its 8-byte-per-entry values are then handed to the next factor of the same size instead
# of asking the OS for fresh pages: first-touch page faults cost about four times the
# writing itself (measured: 32 MiB written into fresh pages 3.8 ms, into recycled ones
# 0.8 ms). A buffer is reused only when nothing but this pool refers to it — no factor,
# no view, no slice (a view of an array keeps a reference to it) — which CPython's
# reference count tells exactly; a buffer kept alive by a cycle just stays busy.
_POOL_MIN = 1 << 20  # bytes: below this, malloc recycles memory well on its own
_POOL_BUDGET = 256 << 20
_pool: list[np.ndarray] = []


def _refs_in_pool(buffers: list[np.ndarray], i: int) -> int:
    return sys.getrefcount(buffers[i])


_FREE_REFS = _refs_in_pool([np.empty(0)], 0)  # the count of a buffer only the pool holds


def _data_buffer(size: int) -> np.ndarray:
    """A float64 array of ``size`` entries for a factor's values: recycled when possible."""
    if size * 8 < _POOL_MIN:
        return np.empty(size)
    with _pattern_lock:
        for i in range(len(_pool)):
            if _pool[i].size == size and _refs_in_pool(_pool, i) == _FREE_REFS:
                chosen = _pool[i]  # referenced from here on: no other caller can take it
                _pattern_stats["reused"] += 1
                return chosen
        buffer = np.empty(size)
        held = sum(b.nbytes for b in _pool)
        if held + buffer.nbytes > _POOL_BUDGET:  # drop idle buffers, oldest first
            for i in reversed([i for i in range(len(_pool))
                               if _refs_in_pool(_pool, i) == _FREE_REFS]):
                held -= _pool[i].nbytes
                del _pool[i]
                if held + buffer.nbytes <= _POOL_BUDGET:
                    break
        if held + buffer.nbytes <= _POOL_BUDGET:
            _pool.append(buffer)
        return buffer


def kron_pattern_cache_info() -> dict[str, int]:
    """What the shared index patterns and recycled buffers of :func:`transpose_kron_eye` hold.

    Returns
    -------
    dict
        ``entries`` (patterns kept), ``nbytes`` (their index arrays), ``budget`` (the
        byte bound of the pattern cache), ``hits`` and ``misses`` of the pattern cache and
        ``reused`` data buffers since the last clear, ``pool_nbytes`` (data buffers kept
        for reuse, busy or idle) and ``pool_budget``.
    """
    with _pattern_lock:
        return {"entries": len(_patterns),
                "nbytes": sum(a.nbytes + b.nbytes for a, b in _patterns.values()),
                "budget": _PATTERN_BUDGET, **_pattern_stats,
                "pool_nbytes": sum(b.nbytes for b in _pool), "pool_budget": _POOL_BUDGET}


def clear_kron_pattern_cache(*, patterns: bool = True, buffers: bool = True) -> None:
    """Forget the shared index patterns and/or the recycled data buffers.

    Factors already built keep their arrays alive; with both cleared, the next factor of
    every shape is built as the first one was.
    """
    with _pattern_lock:
        if patterns:
            _patterns.clear()
            _pattern_stats.update(hits=0, misses=0)
        if buffers:
            _pool.clear()
            _pattern_stats.update(reused=0)


def _csc_from_parts(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                    shape: tuple[int, int]) -> sp.csc_array:
    """A CSC array over the given arrays, without copying any of them.

    scipy keeps the arrays as they are when their dtypes already fit (``copy=False``);
    ``indices`` and ``indptr`` are read-only, so an in-place operation on the result that
    would rewrite the shared pattern raises instead of corrupting other factors.
    """
    out = sp.csc_array((data, indices, indptr), shape=shape, copy=False)
    # Built sorted and without duplicates: say so, so scipy never re-sorts in place.
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out
