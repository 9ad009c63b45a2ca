"""Index patterns shared copy-on-write (core.patterns) and the CSR factor built on them.

Every result must behave as an array of its own: equal to what ``build`` returns, writable,
and unaffected by writes to any other result, whether it was mapped from the shared copy,
built because the pattern is small, or built because the file or the mapping failed.
"""

from __future__ import annotations

import mmap
import pickle
import tempfile
import threading

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.core import patterns


@pytest.fixture(autouse=True)
def _fresh_patterns():
    patterns.clear_patterns()
    yield
    patterns.clear_patterns()


def counting(values: np.ndarray):
    """A build function that returns a copy of ``values`` and counts its calls."""
    calls = []

    def build() -> np.ndarray:
        calls.append(1)
        return values.copy()

    return build, calls


LARGE = np.arange(patterns.SHARE_FROM_BYTES // 4 + 7, dtype=np.int32)[::-1].copy()


def test_a_large_pattern_is_built_once_and_every_result_is_its_own():
    build, calls = counting(LARGE)
    first, second, third = (patterns.copy_on_write(("t", 1), build) for _ in range(3))
    assert len(calls) == 1
    for a in (first, second, third):
        np.testing.assert_array_equal(a, LARGE)
        assert a.dtype == LARGE.dtype and a.flags.writeable
    second[:5] = -1
    second[-1] = 99
    np.testing.assert_array_equal(third, LARGE)
    np.testing.assert_array_equal(first, LARGE)
    np.testing.assert_array_equal(patterns.copy_on_write(("t", 1), build), LARGE)
    assert second[0] == -1 and second[-1] == 99


def test_a_small_pattern_is_built_every_time():
    small = np.arange(10, dtype=np.int64)
    build, calls = counting(small)
    for _ in range(3):
        np.testing.assert_array_equal(patterns.copy_on_write(("s",), build), small)
    assert len(calls) == 3


def test_keys_keep_patterns_apart():
    other = LARGE + 1
    a = patterns.copy_on_write(("k", 1), counting(LARGE)[0])
    b = patterns.copy_on_write(("k", 2), counting(other)[0])
    np.testing.assert_array_equal(patterns.copy_on_write(("k", 1), counting(other)[0]), a)
    np.testing.assert_array_equal(patterns.copy_on_write(("k", 2), counting(LARGE)[0]), b)


def test_no_temporary_file_means_building_each_time(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no temporary directory")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    build, calls = counting(LARGE)
    for _ in range(2):
        np.testing.assert_array_equal(patterns.copy_on_write(("f",), build), LARGE)
    assert len(calls) == 2


def test_a_failed_mapping_means_building(monkeypatch):
    build, calls = counting(LARGE)
    patterns.copy_on_write(("m",), build)

    def refuse(*args, **kwargs):
        raise OSError("out of mappings")

    monkeypatch.setattr(mmap, "mmap", refuse)
    np.testing.assert_array_equal(patterns.copy_on_write(("m",), build), LARGE)
    assert len(calls) == 2


def test_at_most_kept_files_and_evicted_results_stay_valid():
    held = [patterns.copy_on_write(("e", i), counting(LARGE + i)[0]) for i in range(3)]
    held += [patterns.copy_on_write(("e", i), counting(LARGE + i)[0]) for i in range(3)]
    for i in range(3, patterns.KEPT + 5):
        patterns.copy_on_write(("e", i), counting(LARGE + i)[0])
    assert len(patterns._files) == patterns.KEPT
    for i, a in enumerate(held):
        np.testing.assert_array_equal(a, LARGE + i % 3)


def test_threads_get_equal_arrays():
    build, calls = counting(LARGE)
    out: list[np.ndarray] = []

    def work() -> None:
        for _ in range(20):
            out.append(patterns.copy_on_write(("threads",), build))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 80
    for a in out:
        np.testing.assert_array_equal(a, LARGE)


# ------------------------------------------------------------------ the CSR factor xᵀ⊗I_p
@pytest.mark.parametrize(("d", "p"), [(3, 5), (300, 400), (1024, 260)])
def test_linear_weight_jacobians_of_one_shape_are_independent(d, p):
    rng = np.random.default_rng(d + p)
    x, y = rng.standard_normal(d), rng.standard_normal(d)
    jc.linear_weight_jacobian(x, p)  # builds the pattern (and keeps it, when large)
    first = jc.linear_weight_jacobian(x, p)
    second = jc.linear_weight_jacobian(y, p)
    # In-place scipy methods and writes to the pattern work on one factor only.
    first.data[::7] = 0.0
    first.eliminate_zeros()
    first.indices[:3] = (5, 6, 7)
    third = jc.linear_weight_jacobian(x, p)
    for K, v in ((second, y), (third, x)):
        assert K.indices.flags.writeable and K.nnz == p * d
        expect_cols = (np.arange(p)[:, None] + p * np.arange(d)).reshape(-1)
        np.testing.assert_array_equal(K.indices, expect_cols)
        np.testing.assert_array_equal(K.data, np.tile(v, p))
        K.check_format(full_check=True)
    back = pickle.loads(pickle.dumps(second))
    assert (back != second).nnz == 0


def test_linear_weight_jacobian_equals_the_dense_kronecker_product_when_shared():
    x = np.random.default_rng(1).standard_normal(70)
    for _ in range(2):  # the second call maps the pattern the first wrote
        K = jc.linear_weight_jacobian(x, 1000)
        g = np.random.default_rng(2).standard_normal(1000)
        np.testing.assert_allclose(g @ K, np.kron(x, g), rtol=1e-14, atol=0)
        np.testing.assert_array_equal(K[:, :3000].toarray(),
                                      np.kron(x[None, :3], np.eye(1000)))
