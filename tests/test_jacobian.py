"""The Jacobian value: names, shapes, checked chain products, gradient layouts."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc import Jacobian


def J(matrix, of, wrt, of_shape, wrt_shape, **kw):
    return Jacobian(matrix, of=of, wrt=wrt, of_shape=of_shape, wrt_shape=wrt_shape, **kw)


@pytest.fixture
def three(rng):
    """∂f/∂ŷ (1×2), ∂ŷ/∂z (2×3), ∂z/∂vec(W) (3×12) with known dense values."""
    g, A, B = rng.normal(size=(1, 2)), rng.normal(size=(2, 3)), rng.normal(size=(3, 12))
    return (J(g, "f", "yhat", (), (2,)), J(A, "yhat", "z", (2,), (3,)),
            J(sp.csr_array(B), "z", "W", (3,), (3, 4))), (g, A, B)


def test_chain_product_is_the_matrix_product_and_carries_the_names(three):
    (jg, ja, jb), (g, A, B) = three
    out = jg @ ja @ jb
    np.testing.assert_allclose(out.toarray(), g @ A @ B, rtol=1e-13)
    assert (out.of, out.wrt, out.of_shape, out.wrt_shape) == ("f", "W", (), (3, 4))
    assert out.symbol == "∂f/∂vec(W)"
    np.testing.assert_allclose(jc.chain(jg, ja, jb).toarray(), g @ A @ B, rtol=1e-13)


def test_mismatched_names_are_refused_with_the_chain_in_eq33_form(three):
    (jg, ja, jb), _ = three
    with pytest.raises(jc.ChainError) as err:
        jc.chain(jg, jb, ja)
    text = str(err.value)
    assert "∂f/∂ŷ · ∂z/∂vec(W) · ∂ŷ/∂z" in text
    assert "(1×2)·(3×12)·(2×3) → ✗ 2 ≠ 3" in text
    with pytest.raises(ValueError, match="taken with respect to ŷ"):
        jg @ jb


def test_same_name_but_different_shape_is_refused():
    a = J(np.ones((1, 3)), "f", "h", (), (3,))
    b = J(np.ones((4, 2)), "h", "x", (4,), (2,))
    with pytest.raises(jc.ChainError, match=r"\(1×3\)·\(4×2\) → ✗ 3 ≠ 4"):
        a @ b


def test_sparse_times_sparse_stays_sparse_and_dense_wins_otherwise():
    D = J(sp.diags_array([1.0, 2.0, 3.0]).tocsr(), "z", "h", (3,), (3,))
    D2 = J(sp.diags_array([1.0, 1.0, 1.0]).tocsr(), "h", "u", (3,), (3,))
    assert (D @ D2).issparse
    W = J(np.ones((2, 3)), "y", "z", (2,), (3,))
    assert not (W @ D).issparse
    np.testing.assert_array_equal((W @ D).toarray(), np.array([[1, 2, 3], [1, 2, 3]]))


def test_the_three_gradient_layouts_convert_into_each_other(rng):
    G = rng.normal(size=(3, 4))  # a matrix-shaped gradient (eq 12)
    row = Jacobian.from_matrix_gradient(G, of="f", wrt="W")
    assert row.shape == (1, 12)
    np.testing.assert_array_equal(row.row_gradient(), jc.vec(G).T)  # eq (24)
    np.testing.assert_array_equal(row.column_gradient(), jc.vec(G))  # eq (6)
    np.testing.assert_array_equal(row.matrix_gradient(), G)  # eq (25)
    back = Jacobian.from_column_gradient(jc.vec(G), of="f", wrt="W", wrt_shape=(3, 4))
    np.testing.assert_array_equal(back.matrix_gradient(), G)
    vec_grad = Jacobian.from_row_gradient([[1.0, 2.0]], of="f", wrt="x")
    np.testing.assert_array_equal(vec_grad.matrix_gradient(), [1.0, 2.0])


def test_gradient_layouts_need_a_scalar():
    jac = J(np.ones((2, 3)), "y", "x", (2,), (3,))
    with pytest.raises(jc.ShapeError, match="only for a scalar; y has 2 entries"):
        jac.row_gradient()


def test_matrix_must_match_the_declared_shapes():
    with pytest.raises(jc.ShapeError, match=r"must be 2×12 .* got shape \(2, 6\)"):
        J(np.ones((2, 6)), "y", "W", (2,), (3, 4))


def test_identity_zero_and_sum():
    I = Jacobian.identity("h", (3,))
    assert I.issparse and I.nnz == 3
    np.testing.assert_array_equal(I.toarray(), np.eye(3))
    Z = Jacobian.zeros("f", "W", (), (2, 2))
    assert Z.nnz == 0 and Z.shape == (1, 4)
    a = J(np.array([[1.0, 2.0]]), "f", "x", (), (2,))
    b = J(sp.csr_array(np.array([[0.5, 0.0]])), "f", "x", (), (2,))
    np.testing.assert_array_equal((a + b).toarray(), [[1.5, 2.0]])
    with pytest.raises(jc.ChainError, match="same derivative"):
        a + Z


def test_nnz_counts_stored_entries(rng):
    x = np.array([1.0, 0.0, 2.0])
    K = J(jc.linear_weight_jacobian(x, 4), "h", "W", (4,), (4, 3))
    assert K.nnz == 12  # the zero of x is stored: the pattern does not depend on values
    assert J(np.zeros((2, 3)), "y", "x", (2,), (3,)).nnz == 6


def test_toarray_refuses_results_above_the_limit():
    big = Jacobian.zeros("y", "W", (1000,), (1000, 200))
    with pytest.raises(jc.DenseLimitError, match=r"1000×200000.*1\.49 GiB.*set_dense_limit"):
        big.toarray()
    with pytest.raises(jc.DenseLimitError):
        Jacobian.zeros("y", "x", (10,), (10,)).toarray(max_bytes=100)
    old = jc.set_dense_limit(None)
    try:
        assert jc.get_dense_limit() is None
        assert Jacobian.zeros("y", "x", (10,), (10,)).toarray(max_bytes=800).shape == (10, 10)
    finally:
        jc.set_dense_limit(old)
    assert jc.get_dense_limit() == 1 << 30


def test_printing_shows_symbol_shape_storage_label_and_entries():
    K = J(jc.linear_weight_jacobian([1.0, 2.0], 2), "h", "W", (2,), (2, 2), label="(x₁I₂, x₂I₂)")
    text = str(K)
    assert text.splitlines()[0] == "∂h/∂vec(W) = (x₁I₂, x₂I₂)  (2×4, sparse csr, 4 stored entries)"
    assert "[[1. 0. 2. 0.]" in text
    assert repr(K).startswith("<Jacobian ∂h/∂vec(W)")
    assert np.asarray(K).shape == (2, 4)


@settings(max_examples=200)
@given(st.integers(1, 9), st.integers(1, 9), st.sampled_from(["csr", "csc"]),
       st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_a_row_times_a_small_sparse_factor_equals_the_dense_product(k, n, fmt, density, seed):
    # the small-size product path (numpy instead of scipy's matmul) against dense numpy
    from jacobian_calc.core.structure import product

    rng = np.random.default_rng(seed)
    b = sp.random_array((k, n), density=density, format=fmt, random_state=rng)
    a = rng.normal(size=(1, k))
    out = product(a, b)
    assert isinstance(out, np.ndarray) and out.shape == (1, n)
    np.testing.assert_allclose(out, a @ b.toarray(), rtol=1e-13, atol=1e-15)
