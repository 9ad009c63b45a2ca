r"""Converters between our Jacobian layout and the tensor layout of JAX and PyTorch.

This library writes ∂F/∂X as a 2-D matrix of shape (size(F), size(X)) whose rows and
columns follow vec, the column stacking of eq (16): entry ``(i, j)`` of a matrix F of
shape (m, n) is row ``i + m·j``. ``jax.jacrev`` and ``torch.func.jacrev`` instead return
a tensor of shape ``F.shape + X.shape`` — the output's indices first, then the input's,
each in row-major (C) order. The two layouts hold the same numbers, in different places:

.. math::

    J[\operatorname{vec}\text{-index}(a), \operatorname{vec}\text{-index}(b)] = T[a, b],

where ``a`` runs over the indices of F and ``b`` over those of X. Since the column-major
position of index ``(a_1, …, a_k)`` in a shape ``(s_1, …, s_k)`` is its row-major position
in the reversed shape, the conversion is a reversal of each group of axes followed by an
ordinary C-order reshape (and the inverse of that).

>>> import numpy as np
>>> T = np.arange(8.0).reshape(2, 2, 2)  # F of shape (2,), X of shape (2, 2)
>>> J = from_tensor_jacobian(T, (2,), (2, 2))
>>> J.toarray()  # columns follow vec(X) = (x11, x21, x12, x22)
array([[0., 2., 1., 3.],
       [4., 6., 5., 7.]])
>>> np.array_equal(J.to_tensor(), T)
True

Second derivatives follow the same rule with one more group of axes.
``torch.func.hessian(f)`` and ``jax.hessian(f)`` of a scalar f of X return a tensor of shape
``X.shape + X.shape`` (a block of two arguments, ``jacfwd(jacrev(f, argnums=0),
argnums=1)``, gives ``X.shape + Y.shape``), and of a non-scalar F one of shape
``F.shape + X.shape + Y.shape``. :func:`from_tensor_hessian` reverses each of the groups
and reshapes, giving the block

.. math::

    H_{XY} = \frac{\partial (\nabla_{\operatorname{vec}(X)} f)}{\partial
    \operatorname{vec}(Y)}, \qquad (H_{XY})_{ij} = \frac{\partial^2 f}{\partial
    \operatorname{vec}(X)_i\, \partial \operatorname{vec}(Y)_j},

of shape (size X, size Y) — what :func:`jacobian_calc.hessian` returns.

>>> T = np.arange(16.0).reshape(2, 2, 2, 2)  # f scalar, X of shape (2, 2)
>>> H = from_tensor_hessian(T, (2, 2))
>>> H.toarray()  # rows and columns follow vec(X) = (x11, x21, x12, x22)
array([[ 0.,  2.,  1.,  3.],
       [ 8., 10.,  9., 11.],
       [ 4.,  6.,  5.,  7.],
       [12., 14., 13., 15.]])
>>> np.array_equal(to_tensor_hessian(H), T)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

from .errors import JacobianCalcError, ShapeError
from .hessian import Hessian
from .jacobian import Jacobian
from .notation import dims
from .validation import as_real_array, shape_tuple

__all__ = ["from_tensor_jacobian", "to_tensor_jacobian", "from_tensor_hessian",
           "to_tensor_hessian"]


def _reversal(k: int, offset: int) -> list[int]:
    return list(range(offset + k - 1, offset - 1, -1))


def _group_reversals(shapes: Sequence[tuple[int, ...]]) -> list[int]:
    """The axes that reverse each consecutive group of axes (its own inverse)."""
    axes: list[int] = []
    for shape in shapes:
        axes += _reversal(len(shape), len(axes))
    return axes


def _as_numpy(T: object) -> object:
    if hasattr(T, "detach") and hasattr(T, "numpy"):  # a torch tensor, without importing torch
        return T.detach().cpu().numpy()
    return T


def from_tensor_jacobian(T: object, out_shape: Sequence[int], in_shape: Sequence[int], *,
                         of: str = "F", wrt: str = "X") -> Jacobian:
    """A tensor Jacobian in the JAX/PyTorch layout as our (size(out), size(in)) vec-layout Jacobian.

    Parameters
    ----------
    T : array_like, shape ``out_shape + in_shape``
        ``T[a, b] = ∂F[a]/∂X[b]`` with ``a``, ``b`` multi-indices (row-major), as returned
        by ``jax.jacrev`` or ``torch.func.jacrev``. A torch tensor is accepted (converted
        with ``numpy()``).
    out_shape, in_shape : tuple of int
        Shapes of F and X: at most two positive ints each (``()`` for a scalar; a plain
        int ``n`` means ``(n,)``), as :func:`jacobian_calc.core.validation.shape_tuple`
        reads them.
    of, wrt : str
        Names for the resulting :class:`~jacobian_calc.core.jacobian.Jacobian`.

    Returns
    -------
    Jacobian
        Dense, shape (prod(out_shape), prod(in_shape)); rows and columns in vec order.

    Raises
    ------
    ShapeError
        ``T.shape`` is not ``out_shape + in_shape`` (the message shows both), or a shape is
        not a tuple of at most two positive ints.
    """
    out_s = shape_tuple(out_shape, "out_shape", max_ndim=2, min_ndim=0)
    in_s = shape_tuple(in_shape, "in_shape", max_ndim=2, min_ndim=0)
    # real, finite, numeric: complex or NaN is refused, not cast; the layout has up to 4 axes
    arr = as_real_array(_as_numpy(T), "T", ndim=range(5))
    expected = out_s + in_s
    if arr.shape != expected:
        raise ShapeError(
            f"T has shape {arr.shape} but out_shape + in_shape = {out_s} + {in_s} = {expected}; "
            f"the tensor layout puts the output's axes first, then the input's"
        )
    k = len(out_s)
    axes = _reversal(k, 0) + _reversal(len(in_s), k)
    matrix = arr.transpose(axes).reshape(prod(out_s), prod(in_s))
    return Jacobian(matrix, of=of, wrt=wrt, of_shape=out_s, wrt_shape=in_s,
                    label="from tensor layout")


def to_tensor_jacobian(J: Jacobian) -> np.ndarray:
    """Our vec-layout Jacobian as a tensor of shape ``of_shape + wrt_shape`` (JAX/PyTorch layout).

    The inverse of :func:`from_tensor_jacobian`; ``J.to_tensor()`` calls this. A sparse
    Jacobian becomes dense (subject to :func:`jacobian_calc.set_dense_limit`).

    Returns
    -------
    numpy.ndarray, shape ``J.of_shape + J.wrt_shape``, row-major
    """
    if not isinstance(J, Jacobian):
        raise JacobianCalcError(f"to_tensor_jacobian takes a Jacobian, got {type(J).__name__}")
    out_s, in_s = J.of_shape, J.wrt_shape
    if len(out_s) > 2 or len(in_s) > 2:  # pragma: no cover - Jacobians are built from ≤2-D
        raise ShapeError(f"cannot lay out {J.symbol} ({dims(J.shape)}) as a tensor")
    k = len(out_s)
    dense = J.toarray().reshape(out_s[::-1] + in_s[::-1])
    # Undo the reversal: reversed axes within each group are their own inverse permutation.
    axes = _reversal(k, 0) + _reversal(len(in_s), k)
    return np.array(dense.transpose(axes), order="C")  # ascontiguousarray would make a 0-d array 1-d


def from_tensor_hessian(T: object, x_shape: Sequence[int], y_shape: Sequence[int] | None = None,
                        *, out_shape: Sequence[int] = (), f: str = "f", x: str = "X",
                        y: str | None = None) -> Hessian | np.ndarray:
    r"""A Hessian in the JAX/PyTorch tensor layout as our vec-layout block H_XY.

    .. math:: H[\operatorname{vec}\text{-index}(a), \operatorname{vec}\text{-index}(b)]
       = T[a, b] = \frac{\partial^2 f}{\partial X[a]\, \partial Y[b]}

    Parameters
    ----------
    T : array_like, shape ``out_shape + x_shape + y_shape``
        Row-major multi-indices, as returned by ``torch.func.hessian(f)(X)`` or
        ``jax.hessian(f)(X)`` (``x_shape + x_shape``) and, for a block of two arguments,
        by ``jacfwd(jacrev(f, argnums=0), argnums=1)(X, Y)`` (``x_shape + y_shape``). A
        torch tensor is accepted (converted with ``numpy()``); values are copied to float64.
    x_shape : tuple of int
        Shape of X: at most two positive ints (``()`` for a scalar; an int ``n`` means
        ``(n,)``).
    y_shape : tuple of int, optional
        Shape of Y; by default ``x_shape`` (the diagonal block H_XX).
    out_shape : tuple of int, keyword-only
        Shape of the differentiated function's value; ``()`` (the default) for a scalar f.
    f, x, y : str, keyword-only
        Names for the resulting :class:`~jacobian_calc.Hessian`. ``y`` defaults to ``x``
        when ``y_shape`` is omitted (the diagonal block) and to ``"Y"`` otherwise.

    Returns
    -------
    Hessian or numpy.ndarray
        For a scalar f (``out_shape == ()``): a dense :class:`~jacobian_calc.Hessian` of
        shape (size X, size Y), rows in vec(X) order and columns in vec(Y) order, with
        ``of_shape == x_shape`` and ``wrt_shape == y_shape``.

        For a non-scalar F: an ``ndarray`` of shape (size F, size X, size Y) whose every
        axis follows vec (column-major) order: ``out[k]`` is the Hessian block of the
        k-th entry of vec(F), ``out[k, i, j] = ∂²vec(F)_k / ∂vec(X)_i ∂vec(Y)_j``.

    Raises
    ------
    ShapeError
        ``T.shape`` is not ``out_shape + x_shape + y_shape`` (the message shows both), or
        a shape is not a tuple of at most two positive ints.
    JacobianCalcError
        T is not real and finite.

    Examples
    --------
    A block of two arguments, X of shape (2,) and Y of shape (1, 2):

    >>> T = np.arange(4.0).reshape(2, 1, 2)
    >>> from_tensor_hessian(T, (2,), (1, 2), x="u", y="V").shape
    (2, 2)
    >>> from_tensor_hessian(np.zeros((3, 2, 2)), 2, out_shape=3).shape  # F of 3 entries
    (3, 2, 2)
    """
    x_s = shape_tuple(x_shape, "x_shape", max_ndim=2, min_ndim=0)
    y_s = x_s if y_shape is None else shape_tuple(y_shape, "y_shape", max_ndim=2, min_ndim=0)
    out_s = shape_tuple(out_shape, "out_shape", max_ndim=2, min_ndim=0)
    y_name = y if y is not None else (x if y_shape is None else "Y")
    # real, finite, numeric (a copy); the number of axes is checked against the shapes below
    arr = as_real_array(_as_numpy(T), "T", ndim=None)
    expected = out_s + x_s + y_s
    if arr.shape != expected:
        raise ShapeError(
            f"T has shape {arr.shape} but out_shape + x_shape + y_shape = {out_s} + {x_s} + "
            f"{y_s} = {expected}; the tensor layout of torch.func.hessian and jax.hessian puts "
            f"the output's axes first, then X's, then Y's"
        )
    moved = arr.transpose(_group_reversals((out_s, x_s, y_s)))
    if out_s:
        return np.array(moved.reshape(prod(out_s), prod(x_s), prod(y_s)), order="C")
    return Hessian(moved.reshape(prod(x_s), prod(y_s)), f=f, x=x, y=y_name, x_shape=x_s,
                   y_shape=y_s, label="from tensor layout")


def to_tensor_hessian(H: Hessian) -> np.ndarray:
    """Our vec-layout Hessian block H_XY as a tensor of shape ``X.shape + Y.shape`` (JAX/PyTorch).

    The inverse of :func:`from_tensor_hessian` for a scalar f: entry ``[a, b]`` (row-major
    multi-indices of X and Y) is ∂²f/∂X[a]∂Y[b]. A sparse or structured Hessian becomes
    dense (subject to :func:`jacobian_calc.set_dense_limit`); a Gauss-Newton block kept as
    its Kronecker factors is written out, so ask for it only when it fits.

    Returns
    -------
    numpy.ndarray, shape ``H.of_shape + H.wrt_shape``, row-major

    Raises
    ------
    JacobianCalcError
        H is not a :class:`~jacobian_calc.Hessian` (a first-order Jacobian goes through
        :func:`to_tensor_jacobian`).
    DenseLimitError
        The dense tensor would be larger than the limit.
    """
    if not isinstance(H, Hessian):
        raise JacobianCalcError(f"to_tensor_hessian takes a Hessian, got {type(H).__name__}"
                                + ("; use to_tensor_jacobian for a first-order Jacobian"
                                   if isinstance(H, Jacobian) else ""))
    x_s, y_s = H.of_shape, H.wrt_shape
    dense = H.toarray().reshape(x_s[::-1] + y_s[::-1])
    return np.array(dense.transpose(_group_reversals((x_s, y_s))), order="C")
