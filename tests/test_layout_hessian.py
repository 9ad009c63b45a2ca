"""Hessians between the tensor layout (out.shape + X.shape + Y.shape, row-major) and H_XY.

H_XY = ∂(∇_vec(X) f)/∂vec(Y) has rows in vec(X) order and columns in vec(Y) order. The
oracles here never go through the converter under test: multi-indices written out by
hand, the commutation matrix, tensors derived on paper, and second differences of f taken
entry by entry in the tensor layout.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.lecture import backprop
from jacobian_calc.testing import real_arrays

shapes = st.one_of(st.just(()), st.tuples(st.integers(1, 3)),
                   st.tuples(st.integers(1, 3), st.integers(1, 3)))


def vec_index(index, shape):
    """Column-major position of a multi-index, written out by hand."""
    pos, stride = 0, 1
    for i, n in zip(index, shape):
        pos += i * stride
        stride *= n
    return pos


def size(shape):
    return int(np.prod(shape, dtype=int))


def hessian_tensor_by_differences(f, X, Y=None, h=1e-4):
    """T[a, b] = ∂²f/∂X[a]∂Y[b] by central second differences, row-major multi-indices.

    ``f(X)`` (or ``f(X, Y)`` for a cross block) returns a float. Uses np.ndindex only,
    never vec, so it is independent of the layouts under test.
    """
    X = np.asarray(X, dtype=np.float64)
    cross = Y is not None
    Y = np.asarray(Y, dtype=np.float64) if cross else X
    T = np.zeros(X.shape + Y.shape)

    def value(dx, dy):
        if not cross:
            return f(X + dx + dy)
        return f(X + dx, Y + dy)

    for a in np.ndindex(*X.shape):
        ex = np.zeros_like(X)
        ex[a] = h
        for b in np.ndindex(*Y.shape):
            ey = np.zeros_like(Y)
            ey[b] = h
            T[a + b] = (value(ex, ey) - value(ex, -ey) - value(-ex, ey)
                        + value(-ex, -ey)) / (4 * h * h)
    return T


# ---------------------------------------------------------------------- round trips
@given(shapes, shapes, st.data())
def test_round_trip_both_ways(x_shape, y_shape, data):
    T = data.draw(real_arrays(x_shape + y_shape))
    H = jc.from_tensor_hessian(T, x_shape, y_shape, x="X", y="Y")
    assert isinstance(H, jc.Hessian)
    assert H.shape == (size(x_shape), size(y_shape))
    assert H.of_shape == x_shape and H.wrt_shape == y_shape
    np.testing.assert_array_equal(jc.to_tensor_hessian(H), T)
    np.testing.assert_array_equal(H.to_tensor(), T)  # the Jacobian method agrees
    back = jc.from_tensor_hessian(jc.to_tensor_hessian(H), x_shape, y_shape)
    np.testing.assert_array_equal(back.toarray(), H.toarray())


@given(shapes, st.data())
def test_a_diagonal_block_defaults_y_to_x(x_shape, data):
    T = data.draw(real_arrays(x_shape + x_shape))
    H = jc.from_tensor_hessian(T, x_shape, x="W")
    assert H.x == H.y == "W" and H.of_shape == H.wrt_shape == x_shape
    assert H.symbol.startswith("∂²f/∂") and H.symbol.endswith("²")
    other = jc.from_tensor_hessian(T, x_shape, x_shape)
    assert other.x == "X" and other.y == "Y"  # y_shape given: a block of two variables


@given(shapes, shapes, shapes, st.data())
def test_every_entry_lands_at_its_vec_indices(out_shape, x_shape, y_shape, data):
    T = data.draw(real_arrays(out_shape + x_shape + y_shape))
    got = jc.from_tensor_hessian(T, x_shape, y_shape, out_shape=out_shape)
    if out_shape == ():
        assert isinstance(got, jc.Hessian)
        got = got.toarray()[None]
    else:
        assert isinstance(got, np.ndarray) and got.flags.c_contiguous
    assert got.shape == (size(out_shape), size(x_shape), size(y_shape))
    for k in np.ndindex(*out_shape):
        for a in np.ndindex(*x_shape):
            for b in np.ndindex(*y_shape):
                assert got[vec_index(k, out_shape), vec_index(a, x_shape),
                           vec_index(b, y_shape)] == T[k + a + b]


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data())
def test_agrees_with_the_commutation_matrix(m, n, p, q, data):
    # Row-major flattening of X is vec(Xᵀ) = K_mn vec(X), so the row-major (mn × pq)
    # reshape of T is K_mn H K_pqᵀ, and H = K_mnᵀ T₂ K_pq.
    T = data.draw(real_arrays((m, n, p, q)))
    Kx, Ky = jc.commutation_matrix(m, n), jc.commutation_matrix(p, q)
    expected = Kx.T @ (Ky.T @ T.reshape(m * n, p * q).T).T
    H = jc.from_tensor_hessian(T, (m, n), (p, q))
    np.testing.assert_array_equal(H.toarray(), expected)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data())
def test_non_scalar_output_agrees_with_moveaxis(r, m, n, data):
    # F of shape (r, 2), X = Y of shape (m, n): reversing each group by np.moveaxis and
    # reshaping row-major is the column-major flattening of every group.
    T = data.draw(real_arrays((r, 2, m, n, m, n)))
    moved = np.moveaxis(T, [0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4])
    expected = moved.reshape(2 * r, m * n, m * n)
    got = jc.from_tensor_hessian(T, (m, n), out_shape=(r, 2))
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------- against jc.hessian, in the tensor layout
@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_trace_of_a_x_b_x_transposed(m, n, data):
    # f = tr(A X B Xᵀ) = Σ A_ab X_bc B_cd X_ad, so ∂²f/∂X_ij∂X_kl = A_ki B_jl + A_ik B_lj.
    Av, Bv = data.draw(real_arrays((m, m))), data.draw(real_arrays((n, n)))
    Xv = data.draw(real_arrays((m, n)))
    A, B, X = jc.var("A", Av), jc.var("B", Bv), jc.var("X", Xv)
    H = jc.hessian(jc.trace(A @ X @ B @ X.T), X)
    by_hand = np.einsum("ki,jl->ijkl", Av, Bv) + np.einsum("ik,lj->ijkl", Av, Bv)
    np.testing.assert_allclose(jc.to_tensor_hessian(H), by_hand, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(H.toarray(), jc.from_tensor_hessian(by_hand, (m, n)).toarray(),
                               rtol=1e-12, atol=1e-12)


@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_a_cross_block_by_hand(m, n, data):
    # f = tr(Xᵀ A Y) = Σ X_ai A_ab Y_bi, so ∂²f/∂X_ij∂Y_kl = A_ik δ_jl.
    Av = data.draw(real_arrays((m, m)))
    X, Y = jc.var("X", data.draw(real_arrays((m, n)))), jc.var("Y", data.draw(real_arrays((m, n))))
    H = jc.hessian(jc.trace(X.T @ jc.var("A", Av) @ Y), X, Y)
    by_hand = np.einsum("ik,jl->ijkl", Av, np.eye(n))
    np.testing.assert_allclose(jc.to_tensor_hessian(H), by_hand, rtol=1e-12, atol=1e-12)


def test_a_nonlinear_function_against_second_differences(rng):
    Av, Cv = rng.normal(size=(3, 2)), rng.normal(size=(3, 4))
    Xv = rng.normal(size=(2, 4)) * 0.5
    X = jc.var("X", Xv)
    F = jc.sum(jc.tanh(jc.var("A", Av) @ X) * jc.var("C", Cv))
    fd = hessian_tensor_by_differences(lambda M: float(np.sum(np.tanh(Av @ M) * Cv)), Xv)
    H = jc.hessian(F, X)
    np.testing.assert_allclose(jc.to_tensor_hessian(H), fd, atol=1e-6)
    np.testing.assert_allclose(jc.from_tensor_hessian(fd, (2, 4)).toarray(), H.toarray(),
                               atol=1e-6)


def test_a_non_scalar_output_entry_by_entry(rng):
    # F = tanh(A X) (3 × 4): out[k] is the Hessian of vec(F)_k = Σ E_k ⊙ F, E_k the unit
    # matrix at that vec index — a scalar, so jc.hessian gives it directly.
    Av, Xv = rng.normal(size=(3, 2)), rng.normal(size=(2, 4)) * 0.5
    X = jc.var("X", Xv)
    F = jc.tanh(jc.var("A", Av) @ X)
    T = np.zeros((3, 4, 2, 4, 2, 4))
    for a in np.ndindex(3, 4):
        T[a] = hessian_tensor_by_differences(lambda M, a=a: float(np.tanh(Av @ M)[a]), Xv)
    stacked = jc.from_tensor_hessian(T, (2, 4), out_shape=(3, 4))
    assert stacked.shape == (12, 8, 8)
    for k in range(12):
        E = np.zeros(12)
        E[k] = 1.0
        Hk = jc.hessian(jc.sum(jc.var("E", E.reshape(3, 4, order="F")) * F), X)
        np.testing.assert_allclose(stacked[k], Hk.toarray(), atol=1e-6)


def test_a_network_block_against_differences_of_the_compact_gradient(lecture):
    # T[a, b] = ∂(∂f/∂W1)[a]/∂W2[b] by central differences of the compact gradient
    # (backprop.mlp_gradients, matrix-shaped): the tensor layout without vec anywhere.
    weights, x, y = lecture
    net = jc.MLP(weights, activation="softplus")
    W1, W2 = weights[0], weights[1]
    T = np.zeros(W1.shape + W2.shape)
    h = 1e-6
    for b in np.ndindex(*W2.shape):
        up, down = [W.copy() for W in weights], [W.copy() for W in weights]
        up[1][b] += h
        down[1][b] -= h
        g_up = backprop.mlp_gradients(up, x, y, "softplus")["W1"]
        g_down = backprop.mlp_gradients(down, x, y, "softplus")["W1"]
        T[(Ellipsis,) + b] = (g_up - g_down) / (2 * h)
    H = net.hessian(x, y, wrt=("W1", "W2"))
    assert H.shape == (W1.size, W2.size)
    np.testing.assert_allclose(jc.to_tensor_hessian(H), T, atol=1e-7)
    # and the other way: the tensor read into H_{W1 W2}, whose transpose is H_{W2 W1}
    back = jc.from_tensor_hessian(T, W1.shape, W2.shape, x="W1", y="W2")
    np.testing.assert_allclose(back.toarray(), H.toarray(), atol=1e-7)
    np.testing.assert_allclose(back.toarray().T, net.hessian(x, y, wrt=("W2", "W1")).toarray(),
                               atol=1e-7)


def test_a_kronecker_block_is_written_out():
    # The Hessian of ½‖Wx − y‖² with respect to W is (x xᵀ) ⊗ I: ∂²f/∂W_ij∂W_kl = δ_ik x_j x_l.
    xv = np.array([1.0, -2.0, 0.5])
    net = jc.MLP([np.arange(6.0).reshape(2, 3) / 10], activation="identity")
    H = net.gauss_newton(xv, np.zeros(2), wrt="W1")
    T = jc.to_tensor_hessian(H)
    np.testing.assert_allclose(T, np.einsum("ik,j,l->ijkl", np.eye(2), xv, xv), rtol=1e-15)


# ------------------------------------------------------------------------------ errors
def test_a_wrong_tensor_shape_names_both_shapes():
    T = np.zeros((2, 3, 2, 2))
    with pytest.raises(jc.ShapeError, match=r"T has shape \(2, 3, 2, 2\) but out_shape \+ x_shape "
                                            r"\+ y_shape = \(\) \+ \(2, 3\) \+ \(2, 3\) = "
                                            r"\(2, 3, 2, 3\)"):
        jc.from_tensor_hessian(T, (2, 3))
    with pytest.raises(jc.ShapeError, match=r"= \(4,\) \+ \(2, 3\) \+ \(2, 2\) = "
                                            r"\(4, 2, 3, 2, 2\); the tensor layout of "
                                            r"torch.func.hessian"):
        jc.from_tensor_hessian(T, (2, 3), (2, 2), out_shape=4)


@pytest.mark.parametrize("kwargs, message", [
    ({"x_shape": (2, 0)}, r"x_shape must be a tuple of at most 2 positive ints"),
    ({"x_shape": (2,), "y_shape": "2"}, r"y_shape must be a tuple of at most 2 positive ints, "
                                        r"got '2'"),
    ({"x_shape": (2,), "out_shape": (1, 1, 2)}, r"out_shape must be .* got \(1, 1, 2\)"),
    ({"x_shape": (1, 1, 2)}, r"x_shape must be .* got \(1, 1, 2\) \(3 entries\)"),
])
def test_shapes_share_the_one_shape_validator(kwargs, message):
    with pytest.raises(jc.ShapeError, match=message):
        jc.from_tensor_hessian(np.ones((2, 2)), **kwargs)




def test_to_tensor_hessian_takes_a_hessian():
    x = jc.var("x", [1.0, 2.0])
    J = jc.jacobian(x * 2.0, x)
    with pytest.raises(jc.JacobianCalcError, match="takes a Hessian, got Jacobian; use "
                                                   "to_tensor_jacobian"):
        jc.to_tensor_hessian(J)
    with pytest.raises(jc.JacobianCalcError, match="takes a Hessian, got ndarray"):
        jc.to_tensor_hessian(np.zeros((2, 2)))


def test_the_dense_limit_applies_to_a_structured_block():
    net = jc.MLP([np.ones((40, 40)) / 40], activation="identity")
    H = net.gauss_newton(np.ones(40), np.zeros(40), wrt="W1")  # (1600 × 1600) as Kron factors
    with jc.work_limit(10**9):
        old = jc.get_dense_limit()
        jc.set_dense_limit(1 << 16)
        try:
            with pytest.raises(jc.DenseLimitError):
                jc.to_tensor_hessian(H)
        finally:
            jc.set_dense_limit(old)


def test_a_scalar_variable_and_an_int_shape():
    H = jc.from_tensor_hessian(np.float64(3.0), ())
    assert H.shape == (1, 1) and jc.to_tensor_hessian(H).shape == ()
    H = jc.from_tensor_hessian(np.arange(6.0).reshape(3, 2), np.int64(3), 2)
    assert H.of_shape == (3,) and H.wrt_shape == (2,)
    np.testing.assert_array_equal(H.toarray(), np.arange(6.0).reshape(3, 2))


def test_a_torch_tensor_is_read_without_importing_torch_here():
    class FakeTensor:  # what from_tensor_hessian looks for: detach().cpu().numpy()
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    T = np.arange(16.0).reshape(2, 2, 2, 2)
    np.testing.assert_array_equal(jc.from_tensor_hessian(FakeTensor(T), (2, 2)).toarray(),
                                  jc.from_tensor_hessian(T, (2, 2)).toarray())
