"""Checks applied to every argument a user hands in, so bad input fails loudly and early.

Arrays are accepted from anything numpy can read as real numbers (integers, booleans
and floats of any width) and computed in float64. Strings, objects, complex numbers and
non-finite values are refused with an error naming the argument.

Sizes and shapes are Python or numpy integers, never booleans, floats or strings; one
validator serves every module (:func:`positive_int`, :func:`shape_tuple`), and
:func:`index_dtype` picks the integer type of the index arrays of a sparse matrix. Steps
of numerical differentiation are positive finite real numbers (:func:`positive_finite`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Sequence

import numpy as np
import scipy.sparse as sp

from .errors import JacobianCalcError, ShapeError
from .notation import dims

__all__ = ["as_real_array", "check_same_shape", "positive_int", "shape_tuple", "index_dtype",
           "positive_finite"]

_RANKS = {0: "a scalar", 1: "a vector", 2: "a matrix"}


def as_real_array(
    value: object,
    name: str,
    ndim: Collection[int] | None = (0, 1, 2),
    *,
    finite: bool = True,
    copy: bool = True,
) -> np.ndarray:
    """Return ``value`` as a new float64 array, or raise an error naming ``name``.

    Parameters
    ----------
    value : array_like
        Real numbers: int, bool or float dtypes are converted to float64.
    name : str
        What the user calls this argument; used in error messages.
    ndim : collection of int, or None
        The accepted numbers of dimensions; ``None`` accepts any.
    finite : bool
        Refuse NaN and ±inf (the default).
    copy : bool
        Always return a new array (the default); ``False`` returns a float64 ndarray
        given as it is, for a caller that only reads it.

    Returns
    -------
    numpy.ndarray
        A float64 copy that the caller may keep.

    Raises
    ------
    JacobianCalcError
        Non-numeric, complex, or non-finite input; a sparse matrix; a masked array with
        masked entries.
    ShapeError
        Wrong number of dimensions, or an empty array.
    """
    if sp.issparse(value):
        raise JacobianCalcError(f"{name} must be a dense array, got a scipy sparse matrix; "
                                f"use {name}.toarray()")
    if isinstance(value, np.ma.MaskedArray) and np.ma.count_masked(value):
        # np.array would drop the mask and read the hidden entries as numbers
        raise JacobianCalcError(
            f"{name} is a masked array ({np.ma.count_masked(value)} of {value.size} entries "
            f"masked); fill it first, e.g. {name}.filled(0.0)")
    try:
        arr = np.array(value) if copy else np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise JacobianCalcError(f"{name} is not a rectangular numeric array: {exc}") from None
    if arr.dtype.kind in "c":
        raise JacobianCalcError(f"{name} is complex ({arr.dtype}); only real arrays are supported")
    if arr.dtype.kind not in "biuf":
        # the first element numpy cannot read as a number on its own (1 next to 2**70 is fine)
        first = next((e for e in arr.flat if np.array(e).dtype.kind not in "biuf"),
                     arr.flat[0]) if arr.size else None
        raise JacobianCalcError(
            f"{name} must hold real numbers, got an array of dtype {arr.dtype} "
            f"(e.g. {_shown(first)} of type {_type_name(first)})" if arr.size else
            f"{name} must hold real numbers, got an empty array of dtype {arr.dtype}"
        )
    if ndim is not None and arr.ndim not in ndim:
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


def _type_name(value: object) -> str:
    # numpy 1 calls its bool and str scalars bool_ and str_, numpy 2 bool and str_
    return "bool" if isinstance(value, np.bool_) else type(value).__name__


def _kind(value: object) -> str:
    """``'type float'``: the type of ``value`` for an error message."""
    return f"type {_type_name(value)}"


def _shown(value: object, width: int = 60) -> str:
    """``value`` for a message, abridged; numpy scalars written as numpy 2 writes them
    (``np.float64(2.0)``, ``np.True_``) on every supported numpy, so messages do not change."""
    if isinstance(value, np.bool_):
        text = f"np.{bool(value)}_"
    elif isinstance(value, (np.str_, np.bytes_)):
        text = f"np.{type(value).__name__}({value.item()!r})"
    elif isinstance(value, np.generic):
        text = f"np.{type(value).__name__}({value.item()!r})"
    elif type(value) in (tuple, list) and len(value) <= 8:  # type: ignore[arg-type]
        inner = ", ".join(_shown(v, width) for v in value)  # type: ignore[union-attr]
        text = (f"({inner},)" if len(value) == 1 else f"({inner})") if isinstance(value, tuple) \
            else f"[{inner}]"
    else:
        text = repr(value)
    return text if len(text) <= width else f"{text[:width - 3]}..."


def _is_integer(value: object) -> bool:
    """A Python or numpy integer, but not a bool (``True`` is an ``int`` to Python)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _integer_problem(value: object) -> str | None:
    """Why ``value`` is not a positive integer (``None`` when it is one)."""
    if not _is_integer(value):
        return f"{_shown(value)} ({_kind(value)})"
    if value < 1:
        return f"{_shown(value)}, not positive"
    return None


def positive_int(value: object, name: str) -> int:
    """Return ``value`` as a Python int if it is a positive integer; else raise.

    A size is a Python ``int`` or a numpy integer of any width; ``bool`` (a subclass of
    ``int``), floats (even ``2.0``), strings and arrays are refused rather than converted,
    so a mistake such as passing a shape's float never turns into a silently truncated size.

    Parameters
    ----------
    value : object
        The candidate size.
    name : str
        What the user calls this argument; used in the error message.

    Returns
    -------
    int
        ``value`` as a Python int (exact, however large).

    Raises
    ------
    ShapeError
        ``value`` is not an integer, is a bool, or is less than 1.

    Examples
    --------
    >>> positive_int(np.int64(3), "n")
    3
    >>> positive_int(2.0, "n")
    Traceback (most recent call last):
    ...
    jacobian_calc.ShapeError: n must be a positive int, got 2.0 (type float)
    """
    if not _is_integer(value):
        raise ShapeError(f"{name} must be a positive int, got {_shown(value)} ({_kind(value)})")
    if value < 1:
        raise ShapeError(f"{name} must be a positive int, got {_shown(value)}")
    return int(value)


def _how_many(min_ndim: int, max_ndim: int) -> str:
    if min_ndim == max_ndim:
        return str(min_ndim)
    if min_ndim == 0:
        return f"at most {max_ndim}"
    if max_ndim == min_ndim + 1:
        return f"{min_ndim} or {max_ndim}"
    return f"{min_ndim} to {max_ndim}"


def shape_tuple(value: object, name: str, max_ndim: int = 2, *, min_ndim: int = 1
                ) -> tuple[int, ...]:
    """Return ``value`` as a tuple of positive Python ints with ``min_ndim``–``max_ndim`` entries.

    Parameters
    ----------
    value : tuple, list or range of ints, a 1-D integer numpy array, or an int
        The shape. A single integer ``n`` is taken as the vector shape ``(n,)``. A string
        is refused (``"22"`` is not the shape (2, 2)), and so is every entry that is not
        an integer (see :func:`positive_int`).
    name : str
        What the user calls this argument; used in the error message.
    max_ndim : int
        Most entries allowed (default 2: a vector or a matrix).
    min_ndim : int, keyword-only
        Fewest entries allowed (default 1; 0 admits the scalar shape ``()``).

    Returns
    -------
    tuple of int

    Raises
    ------
    ShapeError
        Not a sequence, a string, the wrong number of entries, or an entry that is not a
        positive int; the message shows the shape and names the first bad entry.

    Examples
    --------
    >>> shape_tuple([3, np.int32(4)], "shape")
    (3, 4)
    >>> shape_tuple(5, "shape")
    (5,)
    >>> shape_tuple((2, 2.5), "shape")
    Traceback (most recent call last):
    ...
    jacobian_calc.ShapeError: shape must be a tuple of 1 or 2 positive ints, got (2, 2.5): entry 1 is 2.5 (type float)
    """
    wanted = f"{name} must be a tuple of {_how_many(min_ndim, max_ndim)} positive ints"
    if _is_integer(value):
        value = (value,)
    sequence = isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))
    if not (sequence or (isinstance(value, np.ndarray) and value.ndim == 1)):
        raise ShapeError(f"{wanted}, got {_shown(value)} ({_kind(value)})")
    entries = tuple(value)
    if not min_ndim <= len(entries) <= max_ndim:
        count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        raise ShapeError(f"{wanted}, got {_shown(value)} ({count})")
    for i, n in enumerate(entries):
        problem = _integer_problem(n)
        if problem is not None:
            raise ShapeError(f"{wanted}, got {_shown(value)}: entry {i} is {problem}")
    return tuple(int(n) for n in entries)


def index_dtype(largest: int) -> type:
    """The integer type for sparse index arrays whose values reach ``largest``.

    ``int32`` while the indices fit (as scipy itself prefers: half the memory), ``int64``
    beyond.

    Parameters
    ----------
    largest : int
        The largest index or index-pointer value the arrays will hold.

    Returns
    -------
    type
        ``numpy.int32`` or ``numpy.int64``.

    Raises
    ------
    ShapeError
        ``largest`` does not fit in ``int64`` either.

    Examples
    --------
    >>> index_dtype(10), index_dtype(2**31)
    (<class 'numpy.int32'>, <class 'numpy.int64'>)
    """
    if largest > np.iinfo(np.int64).max:
        raise ShapeError(f"sparse indices up to {largest} do not fit in int64 "
                         f"(at most {np.iinfo(np.int64).max})")
    return np.int32 if largest < np.iinfo(np.int32).max else np.int64


def positive_finite(value: object, name: str) -> float:
    """Return ``value`` as a float if it is a positive finite real number; else raise.

    Used for the steps of numerical differentiation, where 0 gives 0/0, a negative step
    silently flips a one-sided difference, and NaN or inf give no number at all.

    Parameters
    ----------
    value : object
        A real number: a Python or numpy int or float (not bool, str, complex or array).
    name : str
        What the user calls this argument; used in the error message.

    Returns
    -------
    float

    Raises
    ------
    JacobianCalcError
        ``value`` is not a real number, or is zero, negative, NaN or infinite.

    Examples
    --------
    >>> positive_finite(np.float32(0.5), "step")
    0.5
    >>> positive_finite(0.0, "step")
    Traceback (most recent call last):
    ...
    jacobian_calc.JacobianCalcError: step must be a positive finite number, got 0.0
    """
    wanted = f"{name} must be a positive finite number"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise JacobianCalcError(f"{wanted}, got {_shown(value)} ({_kind(value)})")
    try:
        out = float(value)
    except OverflowError:  # an int beyond the float range
        out = math.inf
    if not (math.isfinite(out) and out > 0):
        raise JacobianCalcError(f"{wanted}, got {_shown(value)}")
    return out
