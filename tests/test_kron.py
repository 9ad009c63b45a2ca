"""The weight factor xᵀ⊗I_p stored by its diagonals, and Bᵀ⊗I_m from a shared pattern (eq 22)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.core import kron
from jacobian_calc.core.kron import KronEyeArray, transpose_kron_eye
from jacobian_calc.testing import real_arrays

sizes = st.integers(1, 12)


def dense_factor(x, p):
    """eq (22) by numpy's own Kronecker product: (x₁I_p, …, x_dI_p)."""
    return np.kron(np.asarray(x, dtype=float).reshape(1, -1), np.eye(p))


@st.composite
def factors(draw):
    d, p = draw(sizes), draw(sizes)
    x = draw(real_arrays((d,)))
    return x, p, transpose_kron_eye(x, p)


@given(factors())
def test_the_factor_is_the_lectures_block_row_with_every_entry_stored(args):
    x, p, K = args
    d = x.size
    assert isinstance(K, KronEyeArray) and sp.issparse(K) and isinstance(K, sp.sparray)
    assert K.shape == (p, p * d) and K.nnz == p * d  # zeros of x are stored too
    np.testing.assert_array_equal(K.toarray(), dense_factor(x, p))
    np.testing.assert_array_equal(K.tocsr().toarray(), dense_factor(x, p))
    np.testing.assert_array_equal(K.tocoo().toarray(), dense_factor(x, p))
    assert K.count_nonzero() == p * np.count_nonzero(x)


@given(factors())
def test_it_holds_only_its_values_eight_bytes_per_stored_entry(args):
    x, p, K = args
    held = [v for v in vars(K).values() if isinstance(v, np.ndarray)]
    assert sum(a.nbytes for a in held) == 8 * K.nnz  # no index array per entry
    # the values in the factor's column order: column k·p + i holds x_k
    np.testing.assert_array_equal(K.data, np.repeat(x, p))
    np.testing.assert_array_equal(K.diagonals, np.broadcast_to(x[:, None], (x.size, p)))


@given(factors())
def test_its_transpose_is_the_dia_array_of_the_stacked_blocks(args):
    x, p, K = args
    T = K.T
    assert T.format == "dia" and T.shape == (p * x.size, p)
    np.testing.assert_array_equal(T.offsets, -p * np.arange(x.size))
    np.testing.assert_array_equal(T.toarray(), dense_factor(x, p).T)
    assert np.shares_memory(T.data, K.data)
    back = T.T  # not scipy's DIA transpose, which would hold d·p·d values
    assert isinstance(back, KronEyeArray) and np.shares_memory(back.data, K.data)
    assert not np.shares_memory(K.transpose(copy=True).data, K.data)


@given(factors(), st.integers(1, 4), st.randoms(use_true_random=False))
def test_products_on_either_side_equal_the_dense_products(args, r, random):
    x, p, K = args
    dense = dense_factor(x, p)
    rng = np.random.default_rng(random.getrandbits(32))
    g, G = rng.normal(size=p), rng.normal(size=(r, p))
    v, V = rng.normal(size=p * x.size), rng.normal(size=(p * x.size, r))
    close = dict(rtol=1e-13, atol=1e-13 * max(1.0, np.abs(x).max()))
    np.testing.assert_allclose(g @ K, g @ dense, **close)            # a row gradient, 1-D
    np.testing.assert_allclose(g[None, :] @ K, g[None, :] @ dense, **close)
    assert (g[None, :] @ K).shape == (1, p * x.size)
    np.testing.assert_allclose(G @ K, G @ dense, **close)            # several rows
    np.testing.assert_allclose(K @ v, dense @ v, **close)            # forward
    np.testing.assert_allclose(K @ V, dense @ V, **close)
    S = sp.csr_array(np.where(rng.random((r, p)) < 0.5, rng.normal(size=(r, p)), 0.0))
    np.testing.assert_allclose((S @ K).toarray(), S.toarray() @ dense, **close)
    np.testing.assert_allclose((K.T @ g), dense.T @ g, **close)
    np.testing.assert_allclose([list(g)] @ K, g[None, :] @ dense, **close)  # not an ndarray
    np.testing.assert_array_equal(np.ones(p, dtype=int) @ K, np.ones(p) @ dense)


def test_a_row_of_the_wrong_length_is_refused():
    K = transpose_kron_eye(np.array([1.0, 2.0]), 3)
    with pytest.raises(ValueError, match="mismatch"):
        np.ones(4) @ K
    with pytest.raises(ValueError, match="mismatch"):
        np.ones((2, 4)) @ K


def test_scipy_arithmetic_and_reductions_see_the_same_matrix():
    x, p = np.array([1.0, -2.0, 0.0, 3.0]), 3
    K, dense = transpose_kron_eye(x, p), dense_factor(x, p)
    assert abs(K - sp.csr_array(dense)).max() == 0
    np.testing.assert_array_equal((2.0 * K).toarray(), 2.0 * dense)
    np.testing.assert_array_equal((-K).toarray(), -dense)
    np.testing.assert_array_equal(K.sum(axis=0), dense.sum(axis=0))
    assert K.sum() == dense.sum()
    np.testing.assert_array_equal(K[1:2].toarray(), dense[1:2])
    assert K.astype(np.float32).dtype == np.float32
    assert K.astype(np.float64, copy=False) is K
    assert "KronEyeArray" in repr(K) and "12 stored elements" in repr(K)


def test_the_transpose_of_a_changed_or_derived_transpose_is_still_right():
    x, p = np.array([1.0, 0.0, 2.0]), 2
    dense = dense_factor(x, p)
    K = transpose_kron_eye(x, p)
    for derived in (K.T.copy(), 2.0 * K.T, abs(K.T)):  # still x⊗I_p-shaped: stays compact
        back = derived.T
        assert isinstance(back, KronEyeArray)
        np.testing.assert_array_equal(back.toarray(), derived.toarray().T)
    T = K.T
    T.setdiag(7.0, k=1)  # no longer d stacked identities: scipy's transpose takes over
    np.testing.assert_array_equal(T.T.toarray(), T.toarray().T)
    T = transpose_kron_eye(x, p).T
    T.resize((4, 2))
    assert T.T.shape == (2, 4)
    np.testing.assert_array_equal(T.T.toarray(), dense.T[:4].T)
    assert K.transpose(axes=(1, 0)).shape == (6, 2)
    with pytest.raises(ValueError, match="axes"):
        K.transpose(axes=(0, 1))


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")  # scipy's own advice
def test_every_read_only_csc_method_answers_and_in_place_ones_are_refused():
    x, p = np.array([1.0, -3.0, 0.0, 2.0]), 3
    K = transpose_kron_eye(x, p)
    C = sp.csc_array(dense_factor(x, p))
    np.testing.assert_array_equal(K.maximum(1.0).toarray(), C.maximum(1.0).toarray())
    np.testing.assert_array_equal(K.minimum(-1.0).toarray(), C.minimum(-1.0).toarray())
    for got, want in ((K == 2.0, C == 2.0), (K != 0.0, C != 0.0), (K < 0, C < 0),
                      (K >= np.nan, C >= np.nan)):
        np.testing.assert_array_equal(got.toarray(), want.toarray())
    assert (K.max(), K.min(), K.argmax(), K.argmin()) == (C.max(), C.min(), C.argmax(), C.argmin())
    np.testing.assert_array_equal(K.max(axis=0).toarray(), C.max(axis=0).toarray())
    for name in ("sign", "expm1", "floor", "rint"):
        np.testing.assert_array_equal(getattr(K, name)().toarray(), getattr(C, name)().toarray())
    for name in ("eliminate_zeros", "sum_duplicates", "sort_indices", "prune"):
        with pytest.raises(TypeError, match=rf"read-only.*tocsc\(copy=True\)\.{name}"):
            getattr(K, name)()
    with pytest.raises(TypeError, match="read-only"):
        K.setdiag(1.0)
    with pytest.raises(TypeError, match="read-only"):
        K.resize((3, 3))
    with pytest.raises(AttributeError, match="stores no 'indices'"):
        K.indices
    np.testing.assert_array_equal(K.toarray(), dense_factor(x, p))  # unchanged


def test_a_csc_copy_is_its_own_and_can_be_changed():
    x, p = np.array([1.0, 0.0, 2.0]), 2
    K = transpose_kron_eye(x, p)
    C = K.tocsc(copy=True)
    assert not any(np.shares_memory(a, b) for a in (C.data, C.indices, C.indptr)
                   for b in (K.data, K.tocsc().indices, K.tocsc().indptr))
    C.eliminate_zeros()  # the zeros of x are stored in K; a copy may drop them
    assert C.nnz == 4 and K.nnz == 6
    np.testing.assert_array_equal(C.toarray(), dense_factor(x, p))


def test_bad_input_to_the_builder_is_named():
    with pytest.raises(jc.ShapeError, match="B must be a vector or a matrix"):
        transpose_kron_eye(np.ones((2, 2, 2)), 2)
    with pytest.raises(jc.JacobianCalcError, match="complex"):
        transpose_kron_eye(np.array([1j, 2.0]), 2)
    with pytest.raises(jc.ShapeError, match="positive int"):
        transpose_kron_eye(np.ones(2), 0)
    np.testing.assert_array_equal(transpose_kron_eye([1, 2], 2).toarray(), dense_factor([1, 2], 2))


def test_conversion_to_csc_reuses_the_values_and_a_read_only_pattern():
    x, p = np.array([2.0, 3.0]), 2
    K = transpose_kron_eye(x, p)
    C = K.tocsc()
    assert np.shares_memory(C.data, K.data)
    assert not np.shares_memory(K.tocsc(copy=True).data, K.data)
    with pytest.raises(ValueError, match="read-only"):
        C.indices[0] = 1
    np.testing.assert_array_equal(C.toarray(), dense_factor(x, p))


def test_the_constructor_names_what_it_needs():
    with pytest.raises(jc.ShapeError, match="C-contiguous float64 \\(d, p\\)"):
        KronEyeArray(np.ones(3))
    with pytest.raises(jc.ShapeError, match="float64"):
        KronEyeArray(np.ones((2, 2), dtype=np.int64))


@given(sizes, sizes, st.integers(2, 6))
def test_a_batch_factor_is_csc_with_every_entry_stored(m, k, n):
    B = np.random.default_rng(m * 100 + k * 10 + n).normal(size=(k, n))
    K = transpose_kron_eye(B, m)
    assert K.format == "csc" and K.nnz == m * k * n
    np.testing.assert_array_equal(K.toarray(), np.kron(B.T, np.eye(m)))


# ------------------------------------------- the shared index pattern (issue 5, perf)
def test_batch_factors_of_one_shape_share_a_read_only_pattern():
    kron.clear_kron_pattern_cache()
    B1 = np.array([[1.0, -2.0], [3.0, 0.0], [0.5, 4.0]])
    K1, K2 = jc.linear_weight_jacobian(B1, 4), jc.linear_weight_jacobian(2 * B1, 4)
    # the second build of the same shape reuses the first one's index arrays
    assert np.shares_memory(K1.indices, K2.indices) and np.shares_memory(K1.indptr, K2.indptr)
    assert not np.shares_memory(K1.data, K2.data)
    info = kron.kron_pattern_cache_info()
    assert (info["hits"], info["misses"], info["entries"]) == (1, 1, 1)
    np.testing.assert_array_equal(K1.toarray(), np.kron(B1.T, np.eye(4)))
    np.testing.assert_array_equal(K2.toarray(), np.kron(2 * B1.T, np.eye(4)))
    # the shared pattern cannot be corrupted through one factor
    with pytest.raises(ValueError, match="read-only"):
        K1.indices[0] = 3
    K1.data[0] = 7.0  # the values are the factor's own
    assert K2.toarray()[0, 0] == 2.0


def test_the_pattern_cache_is_bounded_and_can_be_cleared(monkeypatch):
    kron.clear_kron_pattern_cache()
    monkeypatch.setattr(kron, "_PATTERN_BUDGET", 2000)  # bytes
    for p in range(10, 30):
        K = transpose_kron_eye(np.ones((5, 2)), p)
        np.testing.assert_array_equal(K.toarray(), np.kron(np.ones((2, 5)), np.eye(p)))
    info = kron.kron_pattern_cache_info()
    assert 0 < info["nbytes"] <= 2000 and info["entries"] < 20
    kron.clear_kron_pattern_cache()
    assert kron.kron_pattern_cache_info()["entries"] == 0


def test_recycled_value_buffers_never_alias_a_live_factor_or_view():
    kron.clear_kron_pattern_cache()
    rng = np.random.default_rng(5)
    p, d = 256, 512  # 1 MiB of values: large enough to be recycled
    xs = [rng.normal(size=d) for _ in range(4)]
    g = rng.normal(size=p)

    def check(K, x):  # (xᵀ⊗I_p)ᵀ g = x ⊗ g, eq (22)–(23), without a dense p × pd copy
        np.testing.assert_array_equal(K.T @ g, np.kron(x, g))

    K1 = jc.linear_weight_jacobian(xs[0], p)
    kept = K1.data[:5]  # a view keeps the buffer busy
    del K1
    K2 = jc.linear_weight_jacobian(xs[1], p)
    assert not np.shares_memory(kept, K2.data)
    np.testing.assert_array_equal(kept, np.full(5, xs[0][0]))  # untouched
    check(K2, xs[1])
    del kept
    K3 = jc.linear_weight_jacobian(xs[2], p)  # K1's buffer is free now: reused
    assert kron.kron_pattern_cache_info()["reused"] == 1
    assert not np.shares_memory(K2.data, K3.data)
    check(K2, xs[1])
    check(K3, xs[2])
    kron.clear_kron_pattern_cache()
