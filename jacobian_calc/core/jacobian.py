r"""The Jacobian value: a literal 2-D matrix that knows what it differentiates.

A :class:`Jacobian` ∂a/∂b is a matrix of shape (size(a), size(b)) (eq 3), with a matrix
variable flattened by column-stacking vec (eq 16). It is dense (:class:`numpy.ndarray`)
where the matrix really is dense, such as ∂(Wx)/∂x = W (eq 11), and a scipy sparse array
where it has structure, such as :math:`(x_1 I_p, \dots, x_d I_p)` (eq 22) or
:math:`\operatorname{diag}(\phi'(h))` (eq 29). It is never a 4-D tensor.

``A @ B`` is the chain rule (eq 4): it multiplies ∂a/∂b by ∂b/∂c only when the names and
sizes meet, and otherwise raises :class:`~jacobian_calc.errors.ChainError` with the whole
chain written as the lecture's eq (33) dimension check.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np
import scipy.sparse as sp

from .errors import ChainError, DenseLimitError, JacobianCalcError, ShapeError
from .notation import chain_dims, derivative_symbol, dims, flat_name, pretty, subscript

__all__ = ["Jacobian", "chain", "set_dense_limit", "get_dense_limit"]

Shape = tuple[int, ...]

_dense_limit: int | None = 1 << 30  # bytes; 1 GiB


def set_dense_limit(max_bytes: int | None) -> int | None:
    """Set the largest dense array :meth:`Jacobian.toarray` may create; return the old limit.

    Parameters
    ----------
    max_bytes : int or None
        A limit in bytes (default 1 GiB); ``None`` removes the limit.
    """
    global _dense_limit
    if max_bytes is not None and (not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0):
        raise JacobianCalcError(f"max_bytes must be a non-negative int or None, got {max_bytes!r}")
    old, _dense_limit = _dense_limit, (None if max_bytes is None else int(max_bytes))
    return old


def get_dense_limit() -> int | None:
    """The current limit of :meth:`Jacobian.toarray`, in bytes (``None``: no limit)."""
    return _dense_limit


def _gib(nbytes: float) -> str:
    return f"{nbytes / (1 << 30):.3g} GiB"


class Jacobian:
    r"""∂``of``/∂``wrt`` as a literal 2-D matrix with names and original shapes.

    Parameters
    ----------
    matrix : numpy.ndarray or scipy sparse array, shape (size(of), size(wrt))
        The entries; row i is output entry i of vec(of), column j is entry j of vec(wrt).
    of, wrt : str
        Names of the differentiated quantity and of the variable.
    of_shape, wrt_shape : tuple of int
        Original shapes: ``()`` for a scalar, ``(n,)`` for a vector, ``(m, n)`` for a
        matrix (flattened by column-stacking vec).
    label : str, optional
        How the matrix is written, e.g. ``"W3"`` or ``"diag(φ′(h2))"``.
    latex : str, optional
        The label in LaTeX.
    equation : str, optional
        The lecture equation this factor reproduces, e.g. ``"22"``.

    Examples
    --------
    >>> W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> J = Jacobian(W, of="y", wrt="x", of_shape=(2,), wrt_shape=(3,), label="W")
    >>> J.shape, J.symbol
    ((2, 3), '∂y/∂x')
    >>> g = Jacobian.from_row_gradient([[1.0, -1.0]], of="f", wrt="y")
    >>> (g @ J).row_gradient()
    array([[-3., -3., -3.]])
    >>> g @ g
    Traceback (most recent call last):
    ...
    jacobian_calc.ChainError: cannot chain ∂f/∂y · ∂f/∂y: ∂f/∂y is taken with respect to y (2 entries) but the next factor differentiates f (1 entry)
      ∂f/∂y · ∂f/∂y
      (1×2)·(1×2) → ✗ 2 ≠ 1
    """

    __slots__ = ("_matrix", "of", "wrt", "of_shape", "wrt_shape", "label", "latex", "equation")

    def __init__(
        self,
        matrix: np.ndarray | sp.sparray,
        *,
        of: str,
        wrt: str,
        of_shape: Shape,
        wrt_shape: Shape,
        label: str | None = None,
        latex: str | None = None,
        equation: str | None = None,
    ) -> None:
        of_shape, wrt_shape = tuple(int(n) for n in of_shape), tuple(int(n) for n in wrt_shape)
        if sp.issparse(matrix):
            if not isinstance(matrix, sp.sparray):  # keep array semantics: * is elementwise
                matrix = sp.csr_array(matrix)
        else:
            matrix = np.asarray(matrix, dtype=np.float64)
        expected = (prod(of_shape), prod(wrt_shape))
        if matrix.ndim != 2 or matrix.shape != expected:
            raise ShapeError(
                f"the matrix of {derivative_symbol(of, wrt, of_shape, wrt_shape)} must be "
                f"{dims(expected)} (size of {pretty(of)} × size of {flat_name(wrt, wrt_shape)}), "
                f"got shape {matrix.shape}"
            )
        self._matrix = matrix
        self.of, self.wrt = of, wrt
        self.of_shape, self.wrt_shape = of_shape, wrt_shape
        self.label, self.latex, self.equation = label, latex, equation

    # ----------------------------------------------------------------- construction
    @classmethod
    def identity(cls, name: str, shape: Shape) -> Jacobian:
        """∂a/∂a = I, sparse."""
        n = prod(shape)
        return cls(sp.eye_array(n, format="csr"), of=name, wrt=name, of_shape=shape,
                   wrt_shape=shape, label=f"I{subscript(n)}", latex=rf"I_{{{n}}}")

    @classmethod
    def zeros(cls, of: str, wrt: str, of_shape: Shape, wrt_shape: Shape) -> Jacobian:
        """∂a/∂b when a does not depend on b: a sparse zero matrix with no stored entries."""
        return cls(sp.csr_array((prod(of_shape), prod(wrt_shape))), of=of, wrt=wrt,
                   of_shape=of_shape, wrt_shape=wrt_shape, label="0", latex="0")

    @classmethod
    def from_row_gradient(cls, row: object, *, of: str, wrt: str,
                          wrt_shape: Shape | None = None, label: str | None = None) -> Jacobian:
        """Wrap a row gradient ∂f/∂b, shape (1, n), of a scalar ``of`` (eq 1)."""
        arr = np.array(row, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != 1:
            raise ShapeError(f"a row gradient must have shape (1, n), got {arr.shape}")
        shape = (arr.shape[1],) if wrt_shape is None else tuple(wrt_shape)
        return cls(arr, of=of, wrt=wrt, of_shape=(), wrt_shape=shape, label=label)

    @classmethod
    def from_column_gradient(cls, column: object, *, of: str, wrt: str,
                             wrt_shape: Shape | None = None) -> Jacobian:
        """Wrap a column gradient ∇f, shape (n, 1), the ML convention (eq 6)."""
        arr = np.array(column, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 1:
            raise ShapeError(f"a column gradient must have shape (n, 1), got {arr.shape}")
        return cls.from_row_gradient(arr.T, of=of, wrt=wrt, wrt_shape=wrt_shape)

    @classmethod
    def from_matrix_gradient(cls, gradient: object, *, of: str, wrt: str) -> Jacobian:
        """Wrap a gradient shaped like its variable (eq 12): the row is vec(G)ᵀ (eq 24–25)."""
        arr = np.array(gradient, dtype=np.float64)
        return cls(arr.reshape(1, -1, order="F"), of=of, wrt=wrt, of_shape=(),
                   wrt_shape=arr.shape)

    # ------------------------------------------------------------------ properties
    @property
    def matrix(self) -> np.ndarray | sp.sparray:
        """The stored matrix itself (not a copy; do not modify it)."""
        return self._matrix

    @property
    def shape(self) -> tuple[int, int]:
        """(size(of), size(wrt))."""
        return self._matrix.shape

    @property
    def issparse(self) -> bool:
        """True when the matrix is a scipy sparse array."""
        return sp.issparse(self._matrix)

    @property
    def nnz(self) -> int:
        """Stored entries: ``nnz`` of a sparse matrix, every entry of a dense one."""
        return int(self._matrix.nnz if self.issparse else self._matrix.size)

    @property
    def symbol(self) -> str:
        """``'∂ŷ/∂vec(W1)'``."""
        return derivative_symbol(self.of, self.wrt, self.of_shape, self.wrt_shape)

    @property
    def latex_symbol(self) -> str:
        r"""The symbol in LaTeX, ``\frac{\partial \hat{y}}{\partial \operatorname{vec}(W_{1})}``."""
        return derivative_symbol(self.of, self.wrt, self.of_shape, self.wrt_shape, latex=True)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored matrix (data and, when sparse, its index arrays)."""
        m = self._matrix
        if not self.issparse:
            return int(m.nbytes)
        return int(sum(getattr(m, a).nbytes for a in ("data", "indices", "indptr", "coords",
                                                       "offsets") if _has_array(m, a)))

    # ----------------------------------------------------------------- conversions
    def toarray(self, max_bytes: int | None = None) -> np.ndarray:
        """A new dense float64 array of shape :attr:`shape`.

        Parameters
        ----------
        max_bytes : int, optional
            Refuse results larger than this; by default the limit set by
            :func:`set_dense_limit` (1 GiB unless changed).

        Raises
        ------
        DenseLimitError
            The dense array would be larger than the limit.
        """
        limit = _dense_limit if max_bytes is None else max_bytes
        need = prod(self.shape) * 8
        if limit is not None and need > limit:
            raise DenseLimitError(
                f"a dense {self.symbol} ({dims(self.shape)}) needs {_gib(need)}, above the "
                f"limit of {_gib(limit)}; pass toarray(max_bytes=...) or call "
                f"jacobian_calc.set_dense_limit(...) to allow it, or keep it sparse "
                f"({self.nnz} stored entries)"
            )
        if self.issparse:
            return self._matrix.toarray()
        return np.array(self._matrix)

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        arr = self.toarray()
        return arr if dtype is None else arr.astype(dtype)

    def _scalar_of(self, what: str) -> None:
        if self.shape[0] != 1:
            raise ShapeError(
                f"{what} exists only for a scalar; {pretty(self.of)} has {self.shape[0]} entries "
                f"(shape {self.of_shape}), so {self.symbol} is a {dims(self.shape)} Jacobian"
            )

    def row_gradient(self, copy: bool = True) -> np.ndarray:
        """The gradient of a scalar as a row, shape (1, n): the analysis convention (eq 1).

        Parameters
        ----------
        copy : bool
            ``False`` returns the stored dense row itself, not a copy (for a caller that
            owns this Jacobian and discards it, so a large gradient is not copied twice).
        """
        self._scalar_of("a row gradient")
        if not copy and not self.issparse:
            return self._matrix
        return self.toarray()

    def column_gradient(self) -> np.ndarray:
        """The gradient of a scalar as a column, shape (n, 1): the ML convention (eq 6)."""
        return self.row_gradient().T.copy()

    def matrix_gradient(self, copy: bool = True) -> np.ndarray:
        """The gradient of a scalar shaped like the variable (eq 12), by unvec (eq 25).

        ``copy=False`` may return a view of the stored row (see :meth:`row_gradient`).
        """
        return self.row_gradient(copy=copy).reshape(self.wrt_shape, order="F")

    def to_tensor(self) -> np.ndarray:
        """The tensor layout of JAX/PyTorch: shape ``of_shape + wrt_shape``, row-major.

        See :func:`jacobian_calc.to_tensor_jacobian`; the inverse is
        :func:`jacobian_calc.from_tensor_jacobian`.
        """
        from .layout import to_tensor_jacobian  # layout imports this module

        return to_tensor_jacobian(self)

    # --------------------------------------------------------------------- algebra
    def __matmul__(self, other: Jacobian) -> Jacobian:
        if not isinstance(other, Jacobian):
            return NotImplemented
        check_chain([self, other])
        return Jacobian(_product(self._matrix, other._matrix), of=self.of, wrt=other.wrt,
                        of_shape=self.of_shape, wrt_shape=other.wrt_shape)

    def __add__(self, other: Jacobian) -> Jacobian:
        if not isinstance(other, Jacobian):
            return NotImplemented
        if (self.of, self.wrt, self.of_shape, self.wrt_shape) != (
                other.of, other.wrt, other.of_shape, other.wrt_shape):
            raise ChainError(
                f"cannot add {self.symbol} ({dims(self.shape)}) and {other.symbol} "
                f"({dims(other.shape)}): a sum over paths needs the same derivative"
            )
        total = self._matrix + other._matrix
        if sp.issparse(total) and not isinstance(total, sp.sparray):
            total = sp.csr_array(total)
        return Jacobian(np.asarray(total) if not sp.issparse(total) else total, of=self.of,
                        wrt=self.wrt, of_shape=self.of_shape, wrt_shape=self.wrt_shape)

    # -------------------------------------------------------------------- printing
    def describe(self) -> str:
        """One line: symbol, shape, storage, label."""
        if self.issparse:
            storage = f"sparse {self._matrix.format}, {self.nnz} stored entries"
        else:
            storage = "dense"
        label = f" = {self.label}" if self.label else ""
        return f"{self.symbol}{label}  ({dims(self.shape)}, {storage})"

    def __repr__(self) -> str:
        return f"<Jacobian {self.describe()}>"

    def to_latex(self) -> str:
        r"""LaTeX body (no ``$$``): symbol = label = entries or block form, shape, equation.

        Small Jacobians are written entry by entry, big structured ones in block form;
        see :mod:`jacobian_calc.render`.
        """
        from ..render.latex import jacobian_latex
        return jacobian_latex(self)

    def to_dict(self) -> dict:
        """JSON-serialisable data: names, shapes, label, storage and entries."""
        from ..render.latex import jacobian_to_dict
        return jacobian_to_dict(self)

    def _repr_latex_(self) -> str:
        return f"$${self.to_latex()}$$"

    def _repr_markdown_(self) -> str:
        from ..render.latex import jacobian_markdown
        return jacobian_markdown(self)

    def __str__(self) -> str:
        if prod(self.shape) <= 400:
            body = np.array2string(self.toarray(), precision=4, suppress_small=True,
                                   max_line_width=120)
            return f"{self.describe()}\n{body}"
        return self.describe()


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _has_array(m: object, name: str) -> bool:
    return isinstance(getattr(m, name, None), np.ndarray)


#: Below this many stored entries, a row times a compressed sparse factor is computed with
#: three numpy calls instead of scipy's matmul, whose fixed cost per call (≈ 40 µs: it
#: builds the transposed array) dominates a lecture-sized chain.
_SMALL_SPARSE = 4096


def _row_times_compressed(row: np.ndarray, b: sp.sparray) -> np.ndarray:
    """(1×k) dense row · (k×n) CSR/CSC: each stored b_ij adds row_i·b_ij to column j."""
    major = np.repeat(np.arange(b.indptr.size - 1), np.diff(b.indptr))
    rows, cols = (major, b.indices) if b.format == "csr" else (b.indices, major)
    return np.bincount(cols, weights=row[0, rows] * b.data, minlength=b.shape[1])[None, :]


def _product(a: np.ndarray | sp.sparray, b: np.ndarray | sp.sparray) -> np.ndarray | sp.sparray:
    """a @ b, keeping the result dense whenever one side is dense."""
    if (isinstance(a, np.ndarray) and a.shape[0] == 1 and sp.issparse(b)
            and b.format in ("csr", "csc") and b.nnz <= _SMALL_SPARSE):
        return _row_times_compressed(a, b)
    out = a @ b
    if sp.issparse(out):
        return out
    return np.asarray(out)


def check_chain(factors: Sequence[Jacobian]) -> None:
    """Raise :class:`ChainError` unless consecutive factors meet by name and by size."""
    for left, right in zip(factors, factors[1:]):
        if left.wrt == right.of and left.wrt_shape == right.of_shape:
            continue
        if left.wrt != right.of:
            why = (f"{left.symbol} is taken with respect to {flat_name(left.wrt, left.wrt_shape)} "
                   f"({_entries(left.shape[1])}) but the next factor differentiates "
                   f"{flat_name(right.of, right.of_shape)} ({_entries(right.shape[0])})")
        else:
            why = (f"{pretty(left.wrt)} has shape {left.wrt_shape} in {left.symbol} but "
                   f"{right.of_shape} in {right.symbol}")
        raise ChainError(
            f"cannot chain {' · '.join(f.symbol for f in factors)}: {why}\n"
            f"  {' · '.join(f.symbol for f in factors)}\n"
            f"  {chain_dims([f.shape for f in factors])}"
        )


def chain(*factors: Jacobian) -> Jacobian:
    """The chain-rule product of several Jacobians, ∂a/∂b · ∂b/∂c · … (eq 4, eq 28).

    The whole chain is checked before anything is multiplied, so a mismatch anywhere is
    reported with every factor and its shape. The product is then evaluated in the
    cheapest order under the cost model of :mod:`jacobian_calc.cost` (the matrix-chain
    dynamic programme over shapes and stored entries): tail to head for a row gradient,
    head to tail for a narrow variable, a mixed order when that is cheaper. Every order
    gives the same matrix up to rounding.
    """
    if not factors:
        raise JacobianCalcError("chain() needs at least one Jacobian")
    check_chain(factors)
    if len(factors) <= 2:
        return factors[0] if len(factors) == 1 else factors[0] @ factors[1]
    from ..engine.cost import MatrixInfo, evaluate, optimal_order  # cost imports nothing of ours

    plan = optimal_order([MatrixInfo.of(f._matrix) for f in factors])
    return evaluate(factors, plan.tree)
