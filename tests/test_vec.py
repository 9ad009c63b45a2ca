"""vec, unvec, the commutation matrix and the Kronecker factors (eq 16, 22)."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.testing import real_arrays
from jacobian_calc.core.errors import WorkLimitError
from jacobian_calc.core.limits import work_limit
from jacobian_calc.core.vec import block_diagonal, eye_kron, kron_dense, ones_kron_eye

sizes = st.integers(1, 12)
matrices = st.tuples(sizes, sizes).flatmap(real_arrays)


def column_stack_by_hand(A):
    """eq (16) written out: the columns of A one below the other."""
    return np.array([[A[i, j]] for j in range(A.shape[1]) for i in range(A.shape[0])])


def test_vec_stacks_columns_in_the_lectures_order():
    W = np.array([[11, 12, 13], [21, 22, 23]])
    # w11, w21, w12, w22, w13, w23 (the order stated under eq 22)
    assert jc.vec(W).ravel().tolist() == [11, 21, 12, 22, 13, 23]
    assert jc.vec(W).shape == (6, 1)


def test_vec_row_order_stacks_rows():
    W = np.array([[11, 12, 13], [21, 22, 23]])
    assert jc.vec(W, order="row").ravel().tolist() == [11, 12, 13, 21, 22, 23]


def test_vec_of_a_vector_is_a_column_and_integers_become_float():
    v = jc.vec(np.array([1, 2, 3]))
    assert v.shape == (3, 1) and v.dtype == np.float64


@given(matrices)
def test_vec_matches_the_definition(A):
    np.testing.assert_array_equal(jc.vec(A), column_stack_by_hand(A))


@given(matrices, st.sampled_from(["col", "row"]))
def test_unvec_inverts_vec(A, order):
    v = jc.vec(A, order=order)
    np.testing.assert_array_equal(jc.unvec(v, A.shape, order=order), A)
    np.testing.assert_array_equal(jc.unvec(v.ravel(), A.shape, order=order), A)
    np.testing.assert_array_equal(jc.unvec(v.T, A.shape, order=order), A)


@given(matrices)
def test_row_and_column_vec_differ_by_the_commutation_matrix(A):
    m, n = A.shape
    np.testing.assert_array_equal(jc.vec(A, order="row"), jc.vec(A.T))
    np.testing.assert_array_equal(jc.commutation_matrix(m, n) @ jc.vec(A), jc.vec(A.T))


@given(sizes, sizes)
def test_commutation_matrix_is_a_sparse_permutation(m, n):
    K = jc.commutation_matrix(m, n)
    assert sp.issparse(K) and K.shape == (m * n, m * n) and K.nnz == m * n
    dense = K.toarray()
    np.testing.assert_array_equal(dense.sum(axis=0), 1)
    np.testing.assert_array_equal(dense.sum(axis=1), 1)
    # K_{nm} K_{mn} = I: transposing twice is the identity.
    np.testing.assert_array_equal((jc.commutation_matrix(n, m) @ K).toarray(), np.eye(m * n))


@given(sizes, sizes, sizes)
def test_kron_factors_match_numpy_kron(m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    B, A = rng.normal(size=(k, n)), rng.normal(size=(m, k))
    np.testing.assert_array_equal(jc.linear_weight_jacobian(B, m).toarray(),
                                  np.kron(B.T, np.eye(m)))
    np.testing.assert_array_equal(eye_kron(n, A).toarray(), np.kron(np.eye(n), A))


@given(st.tuples(sizes, sizes).flatmap(lambda s: st.tuples(real_arrays(s), real_arrays((s[1],)))))
def test_vec_of_a_product_is_the_kronecker_factor_times_vec(args):
    # vec(A B) = (Bᵀ ⊗ I) vec(A): the identity behind eq (22)
    A, b = args
    np.testing.assert_allclose(jc.linear_weight_jacobian(b, A.shape[0]) @ jc.vec(A), jc.vec(A @ b),
                               atol=1e-12)


@pytest.mark.parametrize("bad, message", [
    (dict(order="F"), "vec order 'F'"),
    (dict(order=None), "valid choices are: 'col', 'row'"),
])
def test_vec_refuses_unknown_orders(bad, message):
    with pytest.raises(jc.ChoiceError, match=message):
        jc.vec(np.eye(2), **bad)


def test_unvec_errors_name_the_sizes():
    with pytest.raises(jc.ShapeError, match="6 entries but shape 4×2 needs 8"):
        jc.unvec(np.zeros(6), (4, 2))
    with pytest.raises(jc.ShapeError, match="a column"):
        jc.unvec(np.zeros((2, 3)), (3, 2))
    with pytest.raises(ValueError, match="non-finite"):
        jc.unvec([np.nan, 1.0], (2,))


@pytest.mark.parametrize("m, n", [(0, 2), (2, -1), (2.5, 2), (True, 2)])
def test_commutation_matrix_refuses_non_positive_sizes(m, n):
    with pytest.raises(jc.ShapeError, match="positive int"):
        jc.commutation_matrix(m, n)


def test_unvec_with_a_shape_too_large_for_int64_names_both_sizes():
    # Reported: np.prod of (2**62 + 1, 4) wraps around to 4, so the size check passed and
    # numpy's reshape failed with its own message. The sizes are exact Python ints now.
    with pytest.raises(jc.ShapeError, match=r"v has 4 entries but shape "
                                            r"4611686018427387905×4 needs "
                                            r"18446744073709551620"):
        jc.unvec(np.arange(4.), (2**62 + 1, 4))


@pytest.mark.parametrize("shape, message", [
    # reported: both were accepted and gave a 2×2 matrix
    ((2.5, 2), r"shape must be a tuple of 1 or 2 positive ints, got \(2\.5, 2\): "
               r"entry 0 is 2\.5 \(type float\)"),
    ("22", r"shape must be a tuple of 1 or 2 positive ints, got '22' \(type str\)"),
    # the same family, found alongside
    ((True, 4), r"entry 0 is True \(type bool\)"),
    ((np.nan, 4), r"entry 0 is nan \(type float\)"),
    ((2, np.float64(2.0)), r"entry 1 is np\.float64\(2\.0\) \(type float64\)"),
    (np.array([2.0, 2.0]), r"entry 0 is np\.float64\(2\.0\) \(type float64\)"),
    (b"22", r"got b'22' \(type bytes\)"),
    (4.0, r"got 4\.0 \(type float\)"),
    (None, r"got None \(type NoneType\)"),
    ((0, 4), r"entry 0 is 0, not positive"),
    ((-2, -2), r"entry 0 is -2, not positive"),
    ((), r"got \(\) \(0 entries\)"),
    ((1, 1, 4), r"got \(1, 1, 4\) \(3 entries\)"),
])
def test_unvec_refuses_shapes_that_are_not_one_or_two_positive_ints(shape, message):
    with pytest.raises(jc.ShapeError, match=message):
        jc.unvec(np.ones(4), shape)


@pytest.mark.parametrize("shape, expected", [
    (4, (4,)),  # a plain int n is the vector shape (n,)
    (np.int64(4), (4,)),
    ([2, 2], (2, 2)),
    (np.array([2, 2]), (2, 2)),
    ((np.int32(1), 4), (1, 4)),
])
def test_unvec_accepts_integer_shapes_of_any_integer_type(shape, expected):
    out = jc.unvec(np.arange(4.0), shape)
    assert out.shape == expected
    np.testing.assert_array_equal(out.reshape(-1, order="F"), np.arange(4.0))


def test_a_huge_commutation_matrix_is_refused_before_anything_is_built():
    # Reported: commutation_matrix(10**5, 10**5) tried to allocate 10**10 indices. The work
    # bound refuses it first; tracemalloc sees every numpy allocation, so "nothing was
    # built" is measured, not assumed.
    tracemalloc.start()
    try:
        with pytest.raises(WorkLimitError,
                           match=r"commutation_matrix\(100000, 100000\), a 10000000000×"
                                 r"10000000000 permutation, would build and keep [\d,]+ "
                                 r"entries, above the work limit of 268,435,456 entries"):
            jc.commutation_matrix(10**5, 10**5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_the_commutation_matrix_counts_at_least_what_it_keeps():
    K = jc.commutation_matrix(4, 5)
    kept = K.data.size + K.indices.size + K.indptr.size
    with work_limit(entries=kept - 1), pytest.raises(WorkLimitError):
        jc.commutation_matrix(4, 5)
    with work_limit(entries=None):
        assert jc.commutation_matrix(4, 5).nnz == 20


@pytest.mark.parametrize("m, n, message", [
    ("3", 2, r"m must be a positive int, got '3' \(type str\)"),
    (3, np.float64(2.0), r"n must be a positive int, got np\.float64\(2\.0\) \(type float64\)"),
    (None, 2, r"m must be a positive int, got None"),
    (np.True_, 2, r"m must be a positive int, got np\.True_ \(type bool\)"),
])
def test_commutation_matrix_sizes_must_be_ints(m, n, message):
    with pytest.raises(jc.ShapeError, match=message):
        jc.commutation_matrix(m, n)


def test_commutation_matrix_accepts_numpy_integers():
    K = jc.commutation_matrix(np.int64(2), np.uint8(3))
    A = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(K @ jc.vec(A), jc.vec(A.T))


# ------------------------------------------------------------------ the other builders
def test_eye_kron_reads_A_like_every_other_array_argument():
    # A nested list used to fail with AttributeError: 'list' object has no attribute 'shape'
    A = [[1, 2], [3, 4], [5, 6]]
    np.testing.assert_array_equal(eye_kron(2, A).toarray(), np.kron(np.eye(2), np.array(A)))
    assert eye_kron(2, A).dtype == np.float64


@pytest.mark.parametrize("build", [
    lambda bad: eye_kron(2, bad),
    lambda bad: kron_dense(bad, np.ones((2, 2))),
    lambda bad: kron_dense(np.ones((2, 2)), bad),
    lambda bad: block_diagonal(bad[:, None, :1]),  # (1, 1, 1) blocks, or (0, 1, 1)
], ids=["eye_kron", "kron_dense A", "kron_dense B", "block_diagonal"])
@pytest.mark.parametrize("bad, error, message", [
    # eye_kron kept complex and string entries as they were, kron_dense dropped the
    # imaginary part (a wrong number, with only a warning) and turned None into NaN,
    # block_diagonal dropped the imaginary part, and strings failed inside numpy.
    (np.array([[1j, 2.0]]), jc.JacobianCalcError, "complex"),
    (np.array([["a", "b"]]), jc.JacobianCalcError, "must hold real numbers"),
    (np.array([[None, 1.0]], dtype=object), jc.JacobianCalcError, "must hold real numbers"),
    (np.array([[np.nan, 1.0]]), jc.JacobianCalcError, "non-finite"),
    (np.ones((0, 2)), jc.ShapeError, "empty"),
])
def test_the_builders_take_only_real_finite_arrays(build, bad, error, message):
    with pytest.raises(error, match=message):
        build(bad)


def test_eye_kron_wants_a_matrix():
    # a vector failed with "not enough values to unpack (expected 2, got 1)"
    with pytest.raises(jc.ShapeError, match=r"A must be a matrix, got shape \(3,\)"):
        eye_kron(2, np.ones(3))


def test_block_diagonal_refuses_empty_blocks():
    # (2, 0, 0) failed with ZeroDivisionError inside scipy
    with pytest.raises(jc.ShapeError, match="empty"):
        block_diagonal(np.ones((2, 0, 0)))


def test_kron_dense_refuses_a_sparse_matrix_with_a_hint():
    with pytest.raises(jc.JacobianCalcError, match=r"A must be a dense array.*A\.toarray\(\)"):
        kron_dense(jc.commutation_matrix(2, 2), np.ones((1, 1)))


@pytest.mark.parametrize("build, what", [
    (lambda: eye_kron(10**6, np.ones((100, 100))), r"eye_kron\(1000000, A\), I_1000000 ⊗ A "
                                                   r"with A 100×100,"),
    (lambda: kron_dense(np.ones((1000, 1000)), np.ones((1000, 1000))),
     r"kron_dense\(A, B\), the 1000000×1000000 product of A 1000×1000 and B 1000×1000,"),
    (lambda: ones_kron_eye(10**6, 10**6), r"ones_kron_eye\(1000000, 1000000\), a "
                                          r"1000000000000×1000000 matrix,"),
], ids=["eye_kron", "kron_dense", "ones_kron_eye"])
def test_the_builders_refuse_huge_results_before_building(build, what):
    # Each of these used to raise MemoryError (74.5 GiB, 7.28 TiB, 7.28 TiB).
    tracemalloc.start()
    try:
        with pytest.raises(WorkLimitError, match=what + " would build and keep"):
            build()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # the inputs, copied once at most; never the result


@pytest.mark.parametrize("build", [
    lambda: eye_kron(3, np.ones((2, 4))),
    lambda: ones_kron_eye(3, 4),
    lambda: block_diagonal(np.ones((3, 4, 4))),
], ids=["eye_kron", "ones_kron_eye", "block_diagonal"])
def test_the_sparse_builders_count_at_least_what_they_keep(build):
    M = build()
    kept = M.data.size + M.indices.size + M.indptr.size
    with work_limit(entries=kept - 1), pytest.raises(WorkLimitError):
        build()


def test_kron_dense_counts_at_least_its_result():
    with work_limit(entries=6 * 35 - 1), pytest.raises(WorkLimitError):
        kron_dense(np.ones((2, 5)), np.ones((3, 7)))
    with work_limit(entries=None):
        assert kron_dense(np.ones((2, 5)), np.ones((3, 7))).shape == (6, 35)


@pytest.mark.parametrize("build, message", [
    (lambda: eye_kron(2.0, np.ones((1, 1))), r"n must be a positive int, got 2\.0 \(type float\)"),
    (lambda: ones_kron_eye(3, True), r"p must be a positive int, got True \(type bool\)"),
    (lambda: ones_kron_eye("3", 2), r"n must be a positive int, got '3' \(type str\)"),
])
def test_the_builders_sizes_go_through_positive_int(build, message):
    with pytest.raises(jc.ShapeError, match=message):
        build()
