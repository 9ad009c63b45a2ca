"""Checks applied to every array a user hands in, so bad input fails loudly and early.

Arrays are accepted from anything numpy can read as real numbers (integers, booleans
and floats of any width) and computed in float64. Strings, objects, complex numbers and
non-finite values are refused with an error naming the argument.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import scipy.sparse as sp

from .errors import JacobianCalcError, ShapeError
from .notation import dims

__all__ = ["as_real_array", "check_same_shape"]

_RANKS = {0: "a scalar", 1: "a vector", 2: "a matrix"}


def as_real_array(
    value: object,
    name: str,
    ndim: Collection[int] = (0, 1, 2),
    *,
    finite: bool = True,
) -> np.ndarray:
    """Return ``value`` as a new float64 array, or raise an error naming ``name``.

    Parameters
    ----------
    value : array_like
        Real numbers: int, bool or float dtypes are converted to float64.
    name : str
        What the user calls this argument; used in error messages.
    ndim : collection of int
        The accepted numbers of dimensions.
    finite : bool
        Refuse NaN and ±inf (the default).

    Returns
    -------
    numpy.ndarray
        A float64 copy that the caller may keep.

    Raises
    ------
    JacobianCalcError
        Non-numeric, complex, or non-finite input.
    ShapeError
        Wrong number of dimensions, or an empty array.
    """
    if sp.issparse(value):
        raise JacobianCalcError(f"{name} must be a dense array, got a scipy sparse matrix; "
                                f"use {name}.toarray()")
    try:
        arr = np.array(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise JacobianCalcError(f"{name} is not a rectangular numeric array: {exc}") from None
    if arr.dtype.kind in "c":
        raise JacobianCalcError(f"{name} is complex ({arr.dtype}); only real arrays are supported")
    if arr.dtype.kind not in "biuf":
        raise JacobianCalcError(
            f"{name} must hold real numbers, got an array of dtype {arr.dtype} "
            f"(e.g. {arr.flat[0]!r})" if arr.size else
            f"{name} must hold real numbers, got an empty array of dtype {arr.dtype}"
        )
    if arr.ndim not in ndim:
        wanted = " or ".join(_RANKS.get(n, f"{n}-D") for n in sorted(ndim))
        raise ShapeError(f"{name} must be {wanted}, got shape {arr.shape} ({arr.ndim}-D)")
    if arr.size == 0:
        raise ShapeError(f"{name} is empty (shape {arr.shape}); every dimension must be at least 1")
    arr = arr.astype(np.float64, copy=False)
    if finite and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        first = tuple(int(i) for i in bad[0])
        raise JacobianCalcError(
            f"{name} has {len(bad)} non-finite value(s), first {float(arr[first])!r} at index {first}"
        )
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise :class:`ShapeError` unless ``a`` and ``b`` have the same shape (no broadcasting)."""
    if a.shape != b.shape:
        raise ShapeError(
            f"{names[0]} and {names[1]} must have the same shape, got "
            f"{names[0]} {dims(a.shape) or 'scalar'} and {names[1]} {dims(b.shape) or 'scalar'}"
        )
