"""The work bound: how much a single call may build, keep and compute before it starts.

Every function that builds literal matrices estimates, before building anything, the
entries it will build and keep (factors, intermediate products, results) and the
multiply-adds it will spend, and refuses with :class:`~jacobian_calc.WorkLimitError` —
naming the estimate and the limit — when either is over the bound. The bound is one
process-wide setting, changed with :func:`set_work_limit` or for a block of code with
:func:`work_limit`; front doors (the command line) set a tighter one for their call.

>>> old = set_work_limit(entries=10_000)
>>> check_work(20_000, 0, "a 100×200 matrix")
Traceback (most recent call last):
...
jacobian_calc.WorkLimitError: a 100×200 matrix would build and keep 20,000 entries, above the work limit of 10,000 entries; ...
>>> _ = set_work_limit(**old._asdict())
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from math import prod

from .errors import DenseLimitError, JacobianCalcError, WorkLimitError

__all__ = ["WorkLimit", "set_work_limit", "get_work_limit", "work_limit", "check_work",
           "DEFAULT_ENTRIES", "DEFAULT_OPERATIONS", "set_dense_limit", "get_dense_limit",
           "check_dense"]

#: Entries built and kept by one call: 2**28 float64 numbers are 2 GiB.
DEFAULT_ENTRIES = 1 << 28
#: Multiply-adds of one call: 2**36 is about a minute of dense BLAS on two cores.
DEFAULT_OPERATIONS = 1 << 36


class WorkLimit(NamedTuple):
    """The bound in force: ``entries`` built and kept, ``operations`` (multiply-adds); ``None`` is no bound."""

    entries: int | None
    operations: int | None


_state = threading.local()


def get_work_limit() -> WorkLimit:
    """The work bound in force in this thread."""
    return getattr(_state, "limit", WorkLimit(DEFAULT_ENTRIES, DEFAULT_OPERATIONS))


def _checked(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise JacobianCalcError(f"{name} must be a non-negative int or None, got {value!r}")
    return value


def set_work_limit(entries: int | None = DEFAULT_ENTRIES,
                   operations: int | None = DEFAULT_OPERATIONS) -> WorkLimit:
    """Set the work bound for this thread; return the previous one.

    Parameters
    ----------
    entries : int or None
        Largest number of matrix entries one call may build and keep (default 2**28,
        2 GiB of float64); ``None`` removes this bound.
    operations : int or None
        Largest number of multiply-adds one call may spend (default 2**36); ``None``
        removes this bound.
    """
    new = WorkLimit(_checked(entries, "entries"), _checked(operations, "operations"))
    old = get_work_limit()
    _state.limit = new
    return old


@contextmanager
def work_limit(entries: int | None = DEFAULT_ENTRIES,
               operations: int | None = DEFAULT_OPERATIONS) -> Iterator[WorkLimit]:
    """Use another work bound inside a ``with`` block (restored afterwards, also on error)."""
    old = set_work_limit(entries, operations)
    try:
        yield get_work_limit()
    finally:
        _state.limit = old


def check_work(entries: int, operations: int, what: str) -> None:
    """Raise :class:`~jacobian_calc.WorkLimitError` when ``what`` would exceed the bound.

    Parameters
    ----------
    entries : int
        Matrix entries the computation builds and keeps (an upper estimate).
    operations : int
        Multiply-adds it spends (an upper estimate).
    what : str
        The computation, as the message should name it.
    """
    limit = get_work_limit()
    over = []
    if limit.entries is not None and entries > limit.entries:
        over.append(f"build and keep {entries:,} entries, above the work limit of "
                    f"{limit.entries:,} entries")
    if limit.operations is not None and operations > limit.operations:
        over.append(f"spend {operations:,} multiply-adds, above the work limit of "
                    f"{limit.operations:,}")
    if over:
        raise WorkLimitError(
            f"{what} would {' and '.join(over)}; nothing was built. Use smaller sizes, or "
            f"raise the bound with jacobian_calc.set_work_limit(entries=..., operations=...)")


# ------------------------------------------------------------------ the dense limit
_dense_limit: int | None = 1 << 30  # bytes; 1 GiB


def set_dense_limit(max_bytes: int | None) -> int | None:
    """Set the largest dense array a Jacobian's ``toarray`` may create; return the old limit.

    Parameters
    ----------
    max_bytes : int or None
        A limit in bytes (default 1 GiB); ``None`` removes the limit.
    """
    global _dense_limit
    old, _dense_limit = _dense_limit, _checked(max_bytes, "max_bytes")
    return old


def get_dense_limit() -> int | None:
    """The current limit of ``toarray``, in bytes (``None``: no limit)."""
    return _dense_limit


def _gib(nbytes: float) -> str:
    return f"{nbytes / (1 << 30):.3g} GiB"


def check_dense(shape: tuple[int, ...], what: str, max_bytes: int | None = None) -> None:
    """Raise :class:`~jacobian_calc.DenseLimitError` when a dense ``shape`` is over the limit.

    ``max_bytes`` overrides the limit set by :func:`set_dense_limit` for this check.
    """
    limit = _dense_limit if max_bytes is None else max_bytes
    need = prod(shape) * 8
    if limit is not None and need > limit:
        dims = "×".join(str(n) for n in shape)
        raise DenseLimitError(
            f"a dense {what} ({dims}) needs {_gib(need)}, above the limit of {_gib(limit)}; "
            f"pass toarray(max_bytes=...) or call jacobian_calc.set_dense_limit(...) to "
            f"allow it, or keep it sparse")
