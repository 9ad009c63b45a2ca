"""The classic matrix-calculus identities: each literal Jacobian against np.kron and finite differences.

The literal factors are built directly (index patterns, broadcasting); the oracles here are
the dense textbook formulas written with ``np.kron`` and ``np.linalg``, and
:func:`jacobian_calc.finite_difference_jacobian`.
"""

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.engine.graph import Graph
from jacobian_calc.testing import real_arrays
from jacobian_calc.core.vec import block_diagonal, kron_dense, ones_kron_eye

dim = st.integers(1, 4)


def fd(f, X):
    return jc.finite_difference_jacobian(f, X)


def factor(out, position=0):
    """The literal factor of the primitive that produced ``out`` (no chaining involved)."""
    return Graph(out.node).factor(out.node, position)


def assert_close(a, b, atol=1e-8):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-7, atol=atol)


# ------------------------------------------------------------------ products
@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(dim, dim, dim, dim, st.data())
def test_vec_axb_wrt_x_is_bt_kron_a(m, k, n, q, data):
    Av, Xv, Bv = (data.draw(real_arrays(s)) for s in ((m, k), (k, n), (n, q)))
    A, X, B = jc.var("A", Av), jc.var("X", Xv), jc.var("B", Bv)
    J = jc.jacobian(A @ X @ B, X)
    assert J.shape == (m * q, k * n)
    assert_close(J.toarray(), np.kron(Bv.T, Av), atol=1e-12)
    assert_close(J.toarray(), fd(lambda M: Av @ M @ Bv, Xv))


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(dim, dim, dim, st.data())
def test_general_matmul_factors_are_i_kron_a_and_xt_kron_i(m, k, n, data):
    Av, Xv = data.draw(real_arrays((m, k))), data.draw(real_arrays((k, n)))
    A, X = jc.var("A", Av), jc.var("X", Xv)
    P = A @ X
    right, left = factor(P, 1), factor(P, 0)
    assert right.issparse and right.nnz == n * m * k and right.label == f"I{_sub(n)}⊗A"
    assert left.issparse and left.nnz == m * k * n and left.label == f"Xᵀ⊗I{_sub(m)}"
    assert_close(right.toarray(), np.kron(np.eye(n), Av), atol=0)
    assert_close(left.toarray(), np.kron(Xv.T, np.eye(m)), atol=0)
    assert_close(jc.jacobian(P, X).toarray(), fd(lambda M: Av @ M, Xv))
    assert_close(jc.jacobian(P, A).toarray(), fd(lambda M: M @ Xv, Av))


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(dim, dim, st.integers(1, 5), st.data())
def test_batch_wx_wrt_w_is_xt_kron_i_p(p, d, n, data):
    Wv, Xv = data.draw(real_arrays((p, d))), data.draw(real_arrays((d, n)))
    W, X = jc.var("W", Wv), jc.var("X", Xv)
    J = jc.jacobian(W @ X, W)
    assert J.issparse and J.nnz == p * d * n
    assert_close(J.toarray(), np.kron(Xv.T, np.eye(p)), atol=0)
    assert_close(J.toarray(), fd(lambda M: M @ Xv, Wv))


# ---------------------------------------------------------- transpose and friends
def _commutation_by_definition(m, n):
    """K with K vec(E_ij) = vec(E_ijᵀ), column by column from the unit matrices."""
    K = np.zeros((m * n, m * n))
    for j in range(n):
        for i in range(m):
            E = np.zeros((m, n))
            E[i, j] = 1.0
            K[:, i + m * j] = E.T.reshape(-1, order="F")
    return K


def _sub(n):
    return jc.core.notation.subscript(n)


@given(dim, dim, st.data())
def test_transpose_is_the_commutation_matrix(m, n, data):
    Xv = data.draw(real_arrays((m, n)))
    X = jc.var("X", Xv)
    J = jc.jacobian(X.T, X)
    assert J.issparse and J.nnz == m * n and factor(X.T).label == f"K{_sub(m)},{_sub(n)}"
    assert_close(J.toarray(), _commutation_by_definition(m, n), atol=0)
    assert_close(J.toarray(), fd(lambda M: M.T, Xv))


@given(dim, dim, st.data())
def test_hadamard_is_diag_of_vec(m, n, data):
    Av, Xv = data.draw(real_arrays((m, n))), data.draw(real_arrays((m, n)))
    A, X = jc.var("A", Av), jc.var("X", Xv)
    J = jc.jacobian(A * X, X)
    assert J.issparse and J.nnz == m * n and factor(A * X, 1).label == "diag(vec(A))"
    assert_close(J.toarray(), np.diag(Av.reshape(-1, order="F")), atol=0)
    assert_close(J.toarray(), fd(lambda M: Av * M, Xv))


@given(dim, st.data())
def test_trace_of_ax_is_vec_of_a_transposed(n, data):
    Av, Xv = data.draw(real_arrays((n, n))), data.draw(real_arrays((n, n)))
    A, X = jc.var("A", Av), jc.var("X", Xv)
    tr = jc.trace(X)
    assert factor(tr).issparse and factor(tr).nnz == n
    assert_close(factor(tr).toarray(), np.eye(n).reshape(1, -1, order="F"), atol=0)  # vec(I)ᵀ
    J = jc.jacobian(jc.trace(A @ X), X)
    assert_close(J.toarray(), Av.T.reshape(1, -1, order="F"), atol=1e-14)  # vec(Aᵀ)ᵀ
    assert_close(J.toarray(), fd(lambda M: np.trace(Av @ M), Xv))


@given(dim, st.integers(1, 5), st.data())
def test_bias_add_is_ones_kron_identity(p, n, data):
    Hv, bv = data.draw(real_arrays((p, n))), data.draw(real_arrays((p,)))
    H, b = jc.var("H", Hv), jc.var("b", bv)
    out = jc.bias_add(H, b)
    J = jc.jacobian(out, b)
    assert J.issparse and J.nnz == p * n
    assert_close(J.toarray(), np.kron(np.ones((n, 1)), np.eye(p)), atol=0)
    assert_close(J.toarray(), fd(lambda v: Hv + v[:, None], bv))
    assert_close(jc.jacobian(out, H).toarray(), np.eye(p * n), atol=0)


# ------------------------------------------------------- inverse, det, logdet
def _invertible(data, n):
    Xv = data.draw(real_arrays((n, n)))
    assume(np.linalg.svd(Xv, compute_uv=False).min() > 0.2)  # FD steps stay small
    return Xv


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(dim, st.data())
def test_inverse_is_minus_inverse_transposed_kron_inverse(n, data):
    Xv = _invertible(data, n)
    X = jc.var("X", Xv)
    Y = np.linalg.inv(Xv)
    J = jc.jacobian(jc.inv(X), X)
    assert factor(jc.inv(X)).label == "−(X⁻ᵀ⊗X⁻¹)"
    assert_close(J.toarray(), -np.kron(Y.T, Y), atol=1e-10 * np.abs(Y).max() ** 2)
    np.testing.assert_allclose(J.toarray(), fd(np.linalg.inv, Xv), rtol=1e-5,
                               atol=1e-6 * np.abs(Y).max() ** 2)


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(dim, st.data())
def test_det_is_det_times_vec_of_inverse_transposed(n, data):
    Xv = _invertible(data, n)
    X = jc.var("X", Xv)
    row = jc.jacobian(jc.det(X), X).toarray()
    expect = np.linalg.det(Xv) * np.linalg.inv(Xv).T.reshape(1, -1, order="F")
    np.testing.assert_allclose(row, expect, rtol=1e-8, atol=1e-10 * np.abs(expect).max())
    np.testing.assert_allclose(row, fd(np.linalg.det, Xv), rtol=1e-5,
                               atol=1e-7 * max(1.0, np.abs(expect).max()))


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(dim, st.data())
def test_logdet_is_vec_of_inverse_transposed(n, data):
    Xv = _invertible(data, n)
    X = jc.var("X", Xv)
    row = jc.jacobian(jc.logdet(X), X).toarray()
    expect = np.linalg.inv(Xv).T.reshape(1, -1, order="F")
    np.testing.assert_allclose(row, expect, rtol=1e-10, atol=1e-12 * np.abs(expect).max())
    np.testing.assert_allclose(row, fd(lambda M: np.log(abs(np.linalg.det(M))), Xv),
                               rtol=1e-5, atol=1e-6 * np.abs(expect).max())


def test_det_derivative_of_a_singular_matrix_is_its_cofactor_matrix():
    Xv = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])  # rank 2
    X = jc.var("X", Xv)
    cof = np.array([[np.linalg.det(np.delete(np.delete(Xv, i, 0), j, 1)) * (-1) ** (i + j)
                     for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(jc.grad(jc.det(X), X), cof, atol=1e-10)
    np.testing.assert_allclose(jc.grad(jc.det(X), X), fd(np.linalg.det, Xv).reshape(3, 3, order="F"),
                               atol=1e-7)


# --------------------------------------------------------------------- softmax
@given(st.integers(1, 6), st.data())
def test_softmax_of_a_vector_is_diag_s_minus_s_st(k, data):
    hv = data.draw(real_arrays((k,)))
    s = np.exp(hv) / np.exp(hv).sum()
    h = jc.var("h", hv)
    J = jc.jacobian(jc.softmax(h), h)
    assert not J.issparse  # every output depends on every input
    assert_close(J.toarray(), np.diag(s) - np.outer(s, s), atol=1e-15)
    assert_close(J.toarray(), fd(lambda v: np.exp(v) / np.exp(v).sum(), hv))


@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_softmax_of_a_matrix_is_block_diagonal_by_columns(k, n, data):
    Hv = data.draw(real_arrays((k, n)))
    S = np.exp(Hv) / np.exp(Hv).sum(axis=0)
    H = jc.var("H", Hv)
    J = jc.jacobian(jc.softmax(H), H)
    blocks = [np.diag(S[:, j]) - np.outer(S[:, j], S[:, j]) for j in range(n)]
    assert_close(J.toarray(), scipy.linalg.block_diag(*blocks), atol=1e-15)


# ---------------------------------------------------------- the vec helpers
@given(dim, dim, dim, dim, st.data())
def test_kron_dense_is_np_kron(m, n, p, q, data):
    A, B = data.draw(real_arrays((m, n))), data.draw(real_arrays((p, q)))
    np.testing.assert_array_equal(kron_dense(A, B), np.kron(A, B))


@given(st.integers(1, 6), st.integers(1, 6))
def test_ones_kron_eye_is_np_kron(n, p):
    K = ones_kron_eye(n, p)
    assert sp.issparse(K) and K.nnz == n * p
    np.testing.assert_array_equal(K.toarray(), np.kron(np.ones((n, 1)), np.eye(p)))


@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_block_diagonal_is_scipy_block_diag(n, k, data):
    blocks = data.draw(real_arrays((n, k, k)))
    D = block_diagonal(blocks)
    assert sp.issparse(D) and D.nnz == n * k * k
    np.testing.assert_array_equal(D.toarray(), scipy.linalg.block_diag(*blocks))


def test_helpers_refuse_bad_shapes():
    import pytest

    with pytest.raises(jc.ShapeError, match=r"\(n, k, k\)"):
        block_diagonal(np.ones((2, 3, 4)))
    with pytest.raises(jc.ShapeError, match="two matrices"):
        kron_dense(np.ones(3), np.ones((2, 2)))
    with pytest.raises(jc.ShapeError, match="positive int"):
        ones_kron_eye(0, 2)
