"""Index patterns that depend only on shapes: written once, handed out copy-on-write.

A scipy compressed array owns its index arrays, and for some factors they are the same
for every value of the same shape: the column indices of xᵀ⊗I_p (eq 22) depend on p and
the length of x, never on x. Writing them anew is a third of building that CSR array (4 of
its 12 bytes per entry). Here a pattern is written once per key into an unlinked temporary
file, and every later caller gets a private copy-on-write mapping of it
(``mmap.ACCESS_COPY``, the mode numpy's ``np.load(..., mmap_mode="c")`` uses):

- the result is an ordinary writable ndarray owned by its caller; writing to it (scipy's
  ``eliminate_zeros``, a new entry, ``indices[...] = ...``) changes that array only;
- until written, its pages are shared with every other copy of the pattern, so many
  factors of one shape hold the pattern once in physical memory;
- mapping costs a few microseconds whatever the size; the first read of each page costs a
  minor page fault instead of the write.

Small patterns are simply built (mapping would not pay), and any failure to create or map
the file (no temporary directory, no address space) falls back to building, so the result
never depends on the operating system, only the time it takes.
"""

from __future__ import annotations

import mmap
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import BinaryIO

import numpy as np

__all__ = ["copy_on_write", "clear_patterns"]

#: Below this many bytes a pattern is built each time: writing it takes about as long as
#: mapping it (a system call and, later, the page faults).
SHARE_FROM_BYTES = 1 << 18

#: Patterns kept at once (one open temporary file each); the least recently used is closed
#: first. Mappings already handed out stay valid after their file is closed.
KEPT = 8

_files: OrderedDict[Hashable, tuple[BinaryIO, np.dtype, tuple[int, ...]]] = OrderedDict()
_lock = threading.Lock()


def copy_on_write(key: Hashable, build: Callable[[], np.ndarray]) -> np.ndarray:
    """The array ``build()`` returns, as a writable array of the caller's own.

    Parameters
    ----------
    key : hashable
        Everything the pattern depends on (a name, the sizes, the dtype): equal keys must
        mean equal patterns.
    build : callable
        ``() -> ndarray``, C-contiguous; called the first time ``key`` is seen (and whenever
        the shared copy cannot be used).

    Returns
    -------
    numpy.ndarray
        Equal to ``build()``: freshly built, or a private copy-on-write mapping of the copy
        written for ``key``. Either way writable and not shared with any other result.
    """
    with _lock:
        kept = _files.get(key)
        if kept is not None:
            _files.move_to_end(key)
    if kept is not None:
        mapped = _map(*kept)
        if mapped is not None:
            return mapped
    pattern = np.ascontiguousarray(build())
    if pattern.nbytes >= SHARE_FROM_BYTES and kept is None:
        _keep(key, pattern)
    return pattern


def clear_patterns() -> None:
    """Close every kept pattern file (arrays already handed out stay valid)."""
    with _lock:
        while _files:
            _files.popitem(last=False)[1][0].close()


def _map(file: BinaryIO, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray | None:
    try:
        view = mmap.mmap(file.fileno(), int(np.prod(shape)) * dtype.itemsize,
                         access=mmap.ACCESS_COPY)
    except (OSError, ValueError):  # out of address space or mappings, or the file closed
        return None
    return np.frombuffer(view, dtype=dtype).reshape(shape)


def _keep(key: Hashable, pattern: np.ndarray) -> None:
    try:
        file = tempfile.TemporaryFile()
        file.write(pattern.data)
        file.flush()
    except OSError:  # no writable temporary directory: the pattern is built each time
        return
    with _lock:
        if key in _files:  # another thread kept it first
            file.close()
            return
        _files[key] = (file, pattern.dtype, pattern.shape)
        while len(_files) > KEPT:
            _files.popitem(last=False)[1][0].close()
