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
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

from .errors import JacobianCalcError, ShapeError
from .jacobian import Jacobian
from .notation import dims
from .validation import as_real_array, shape_tuple

__all__ = ["from_tensor_jacobian", "to_tensor_jacobian"]


def _reversal(k: int, offset: int) -> list[int]:
    return list(range(offset + k - 1, offset - 1, -1))


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
    if hasattr(T, "detach") and hasattr(T, "numpy"):  # a torch tensor, without importing torch
        T = T.detach().cpu().numpy()
    # real, finite, numeric: complex or NaN is refused, not cast; the layout has up to 4 axes
    arr = as_real_array(T, "T", ndim=range(5))
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
