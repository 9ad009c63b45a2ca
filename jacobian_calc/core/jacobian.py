r"""The Jacobian value: a literal 2-D matrix that knows what it differentiates.

A :class:`Jacobian` ∂a/∂b is a matrix of shape (size(a), size(b)) (eq 3), with a matrix
variable flattened by column-stacking vec (eq 16). It is stored dense
(:class:`numpy.ndarray`) where the matrix really is dense, such as ∂(Wx)/∂x = W (eq 11),
and by its structure where it has one — :math:`(x_1 I_p, \dots, x_d I_p)` (eq 22) as a
Kronecker product, :math:`\operatorname{diag}(\phi'(h))` (eq 29) as its diagonal (see
:mod:`jacobian_calc.core.structure`) — or as a scipy sparse array. :attr:`Jacobian.matrix`
always hands out the numpy or scipy form. It is never a 4-D tensor.

``A @ B`` is the chain rule (eq 4): it multiplies ∂a/∂b by ∂b/∂c only when the names and
sizes meet, and otherwise raises :class:`~jacobian_calc.ChainError` with the whole chain
written as the lecture's eq (33) dimension check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod

import numpy as np
import scipy.sparse as sp

from . import display
from .errors import ChainError, JacobianCalcError, ShapeError
from .limits import check_dense
from .notation import chain_dims, derivative_symbol, dims, flat_name, latex_name, pretty
from .structure import Identity, Structured, add, product

__all__ = ["Jacobian", "check_chain", "tensor_axes"]

Shape = tuple[int, ...]


def _shape(value: object, name: str) -> Shape:
    """A shape of at most two positive sizes, or ShapeError."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ShapeError(f"{name} must be a tuple of at most two positive ints, got {value!r}")
    out = []
    for n in value:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ShapeError(f"{name} must be a tuple of at most two positive ints, got "
                             f"{tuple(value)!r}")
        out.append(int(n))
    if len(out) > 2:
        raise ShapeError(f"{name} must be () for a scalar, (n,) for a vector or (m, n) for a "
                         f"matrix, got {tuple(out)}")
    return tuple(out)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise JacobianCalcError(f"{what} must be a non-empty str, got {value!r}")
    return value


def _storage(matrix: object) -> np.ndarray | sp.sparray | Structured:
    if isinstance(matrix, Structured):
        return matrix
    if sp.issparse(matrix):
        if matrix.dtype.kind == "c":
            raise JacobianCalcError(f"a Jacobian must be real, got a complex sparse matrix "
                                    f"({matrix.dtype})")
        if not isinstance(matrix, sp.sparray):  # keep array semantics: * is elementwise
            matrix = sp.csr_array(matrix)
        return matrix if matrix.dtype == np.float64 else matrix.astype(np.float64)
    arr = np.asarray(matrix)
    if arr.dtype.kind == "c":
        raise JacobianCalcError(f"a Jacobian must be real, got a complex array ({arr.dtype}); "
                                "the imaginary part would be lost")
    if arr.dtype.kind not in "biuf":
        raise JacobianCalcError(f"a Jacobian's matrix must hold real numbers, got dtype "
                                f"{arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _dense_copy(value: object) -> np.ndarray:
    stored = _storage(value)
    if isinstance(stored, Structured) or sp.issparse(stored):
        return stored.toarray()
    return np.array(stored, dtype=np.float64)


class Jacobian(display.Printable):
    r"""∂(of)/∂(wrt) as a literal 2-D matrix with names and original shapes.

    Parameters
    ----------
    matrix : numpy.ndarray, scipy sparse array or structured matrix, shape (size(of), size(wrt))
        The entries; row i is entry i of vec(of), column j is entry j of vec(wrt). A
        structured matrix (:mod:`jacobian_calc.core.structure`) is kept as it is.
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
    symmetric : bool, optional
        The matrix equals its transpose (a diagonal, an identity); read off a structured
        matrix when not given.
    of_latex, wrt_latex : str, optional
        How ``of`` and ``wrt`` are written in LaTeX (by default from the names:
        ``W1`` → ``W_{1}``); an expression passes its own form.

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

    __slots__ = ("_storage", "_materialized", "of", "wrt", "of_shape", "wrt_shape", "_label",
                 "_latex", "_notation", "equation", "symmetric", "of_latex", "wrt_latex")

    def __init__(
        self,
        matrix: np.ndarray | sp.sparray | Structured,
        *,
        of: str,
        wrt: str,
        of_shape: Shape,
        wrt_shape: Shape,
        label: str | None = None,
        latex: str | None = None,
        equation: str | None = None,
        symmetric: bool | None = None,
        of_latex: str | None = None,
        wrt_latex: str | None = None,
        notation: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        of, wrt = _name(of, "of"), _name(wrt, "wrt")
        of_shape, wrt_shape = _shape(of_shape, "of_shape"), _shape(wrt_shape, "wrt_shape")
        storage = _storage(matrix)
        expected = (prod(of_shape), prod(wrt_shape))
        if storage.ndim != 2 or tuple(storage.shape) != expected:
            raise ShapeError(
                f"the matrix of {derivative_symbol(of, wrt, of_shape, wrt_shape)} must be "
                f"{dims(expected)} (size of {pretty(of)} × size of {flat_name(wrt, wrt_shape)}), "
                f"got shape {tuple(storage.shape)}"
            )
        self._storage = storage
        self._materialized: np.ndarray | sp.sparray | None = None
        self.of, self.wrt = of, wrt
        self.of_shape, self.wrt_shape = of_shape, wrt_shape
        self._label, self._latex, self.equation = label, latex, equation
        # (text, LaTeX) written only when asked for: most factors of a gradient are never
        # printed, and writing a label costs more than a small product
        self._notation = notation
        if symmetric is None:
            symmetric = isinstance(storage, Structured) and storage.symmetric
        self.symmetric = bool(symmetric)
        self.of_latex = of_latex if of_latex is not None else latex_name(of)
        self.wrt_latex = wrt_latex if wrt_latex is not None else latex_name(wrt)

    def _written(self) -> None:
        if self._notation is not None:
            self._label, self._latex = self._notation()
            self._notation = None

    @property
    def label(self) -> str | None:
        """How the matrix is written in text (``'(x₁I₅, …, x₄I₅)'``), or ``None``."""
        self._written()
        return self._label

    @property
    def latex(self) -> str | None:
        """How the matrix is written in LaTeX, or ``None``."""
        self._written()
        return self._latex

    # ----------------------------------------------------------------- construction
    @classmethod
    def identity(cls, name: str, shape: Shape) -> Jacobian:
        """∂a/∂a = I (kept as the identity, no entries stored)."""
        n = prod(_shape(shape, "shape"))
        return cls(Identity(n), of=name, wrt=name, of_shape=shape, wrt_shape=shape,
                   label=f"I{_sub(n)}", latex=rf"I_{{{n}}}")

    @classmethod
    def zeros(cls, of: str, wrt: str, of_shape: Shape, wrt_shape: Shape) -> Jacobian:
        """∂a/∂b when a does not depend on b: a sparse zero matrix with no stored entries."""
        return cls(sp.csr_array((prod(_shape(of_shape, "of_shape")),
                                 prod(_shape(wrt_shape, "wrt_shape")))), of=of, wrt=wrt,
                   of_shape=of_shape, wrt_shape=wrt_shape, label="0", latex="0")

    @classmethod
    def from_row_gradient(cls, row: object, *, of: str, wrt: str,
                          wrt_shape: Shape | None = None, label: str | None = None) -> Jacobian:
        """Wrap a row gradient ∂f/∂b, shape (1, n), of a scalar ``of`` (eq 1)."""
        arr = _dense_copy(row)
        if arr.ndim != 2 or arr.shape[0] != 1:
            raise ShapeError(f"a row gradient must have shape (1, n), got {arr.shape}")
        shape = (arr.shape[1],) if wrt_shape is None else wrt_shape
        return cls(arr, of=of, wrt=wrt, of_shape=(), wrt_shape=shape, label=label)

    @classmethod
    def from_column_gradient(cls, column: object, *, of: str, wrt: str,
                             wrt_shape: Shape | None = None) -> Jacobian:
        """Wrap a column gradient ∇f, shape (n, 1), the ML convention (eq 6)."""
        arr = _dense_copy(column)
        if arr.ndim != 2 or arr.shape[1] != 1:
            raise ShapeError(f"a column gradient must have shape (n, 1), got {arr.shape}")
        return cls.from_row_gradient(arr.T, of=of, wrt=wrt, wrt_shape=wrt_shape)

    @classmethod
    def from_matrix_gradient(cls, gradient: object, *, of: str, wrt: str) -> Jacobian:
        """Wrap a gradient shaped like its variable (eq 12): the row is vec(G)ᵀ (eq 24–25)."""
        arr = _dense_copy(gradient)
        return cls(arr.reshape(1, -1, order="F"), of=of, wrt=wrt, of_shape=(),
                   wrt_shape=arr.shape)

    # ------------------------------------------------------------------ properties
    @property
    def matrix(self) -> np.ndarray | sp.sparray:
        """The matrix in numpy or scipy form (not a copy; do not modify it).

        A structured storage is written out on first access — dense when it has no
        zeros, else as a scipy sparse array built from its index pattern — and kept.
        """
        if isinstance(self._storage, Structured):
            if self._materialized is None:
                self._materialized = self._storage.materialize()
            return self._materialized
        return self._storage

    @property
    def storage(self) -> np.ndarray | sp.sparray | Structured:
        """What is held: the dense or scipy array, or the structured matrix itself."""
        return self._storage

    @property
    def shape(self) -> tuple[int, int]:
        """The matrix's shape (size(of), size(wrt)): a row per output entry, a column per input."""
        return tuple(self._storage.shape)  # type: ignore[return-value]

    @property
    def issparse(self) -> bool:
        """True when the matrix has structural zeros: scipy sparse or structured sparse."""
        s = self._storage
        return sp.issparse(s) or (isinstance(s, Structured) and not s.dense)

    @property
    def nnz(self) -> int:
        """Stored entries: ``nnz`` of a sparse or structured matrix, every entry of a dense one."""
        s = self._storage
        if isinstance(s, np.ndarray):
            return int(s.size)
        return int(s.nnz)

    @property
    def symbol(self) -> str:
        """``'∂ŷ/∂vec(W1)'``; an expression is bracketed, ``'∂(A x)/∂x'``."""
        return derivative_symbol(self.of, self.wrt, self.of_shape, self.wrt_shape)

    @property
    def latex_symbol(self) -> str:
        r"""The symbol in LaTeX, ``\frac{\partial \hat{y}}{\partial \operatorname{vec}(W_{1})}``."""
        return derivative_symbol(self.of_latex, self.wrt_latex, self.of_shape, self.wrt_shape,
                                 latex=True, formed=True)

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage (data and, when sparse, its index arrays)."""
        s = self._storage
        if isinstance(s, (np.ndarray, Structured)):
            return int(s.nbytes)
        return int(sum(a.nbytes for a in (getattr(s, n, None) for n in
                                          ("data", "indices", "indptr", "coords", "offsets"))
                       if isinstance(a, np.ndarray)))

    # ----------------------------------------------------------------- conversions
    def toarray(self, max_bytes: int | None = None) -> np.ndarray:
        """A new dense float64 array of shape :attr:`shape`.

        Parameters
        ----------
        max_bytes : int, optional
            Refuse results larger than this; by default the limit set by
            :func:`~jacobian_calc.set_dense_limit` (1 GiB unless changed).

        Raises
        ------
        DenseLimitError
            The dense array would be larger than the limit.
        """
        s = self._storage
        if isinstance(s, Structured):
            return s.toarray(max_bytes, what=self.symbol)
        check_dense(self.shape, self.symbol, max_bytes)
        if sp.issparse(s):
            return s.toarray()
        return np.array(s)

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
        if not copy and isinstance(self._storage, np.ndarray):
            return self._storage
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

        The inverse is :func:`jacobian_calc.from_tensor_jacobian`.
        """
        k = len(self.of_shape)
        dense = self.toarray().reshape(self.of_shape[::-1] + self.wrt_shape[::-1])
        # Reversed axes within each group are their own inverse permutation.
        return np.array(dense.transpose(tensor_axes(k, len(self.wrt_shape))), order="C")

    # --------------------------------------------------------------------- algebra
    def __matmul__(self, other: Jacobian) -> Jacobian:
        if not isinstance(other, Jacobian):
            return NotImplemented
        return self.matmul(other)

    def matmul(self, other: Jacobian, *, keep_kron: bool = False) -> Jacobian:
        """``self @ other``, the chain rule's product; ``keep_kron`` as for
        :func:`~jacobian_calc.core.structure.product`."""
        check_chain([self, other])
        return Jacobian(product(self._storage, other._storage, keep_kron=keep_kron),
                        of=self.of, wrt=other.wrt,
                        of_shape=self.of_shape, wrt_shape=other.wrt_shape,
                        of_latex=self.of_latex, wrt_latex=other.wrt_latex)

    def __add__(self, other: Jacobian) -> Jacobian:
        if not isinstance(other, Jacobian):
            return NotImplemented
        if (self.of, self.wrt, self.of_shape, self.wrt_shape) != (
                other.of, other.wrt, other.of_shape, other.wrt_shape):
            raise ChainError(
                f"cannot add {self.symbol} ({dims(self.shape)}) and {other.symbol} "
                f"({dims(other.shape)}): a sum over paths needs the same derivative"
            )
        return Jacobian(add(self._storage, other._storage), of=self.of, wrt=self.wrt,
                        of_shape=self.of_shape, wrt_shape=self.wrt_shape,
                        of_latex=self.of_latex, wrt_latex=self.wrt_latex)

    # -------------------------------------------------------------------- printing
    def describe(self) -> str:
        """One line: symbol, label, shape and storage."""
        return str(display.show(self, "summary"))

    def __repr__(self) -> str:
        return f"<Jacobian {self.describe()}>"


def tensor_axes(k_out: int, k_in: int) -> list[int]:
    """The axis permutation between the vec layout and the tensor layout (its own inverse)."""
    return list(range(k_out - 1, -1, -1)) + list(range(k_out + k_in - 1, k_out - 1, -1))


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def check_chain(factors: Sequence[Jacobian]) -> None:
    """Raise :class:`~jacobian_calc.ChainError` unless consecutive factors meet by name and size.

    Also refuses anything that is not a :class:`Jacobian`, naming its position and type.
    """
    for i, f in enumerate(factors, 1):
        if not isinstance(f, Jacobian):
            raise JacobianCalcError(
                f"a chain multiplies Jacobian objects, but factor {i} is of type "
                f"{type(f).__name__}; wrap a matrix with jacobian_calc.Jacobian(matrix, of=..., "
                f"wrt=..., of_shape=..., wrt_shape=...) so its names and shapes can be checked")
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
