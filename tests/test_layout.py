"""Tensor layout (JAX/PyTorch: out.shape + in.shape, row-major) <-> our vec-layout Jacobian."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.testing import real_arrays

shapes = st.one_of(st.just(()), st.tuples(st.integers(1, 4)),
                   st.tuples(st.integers(1, 4), st.integers(1, 4)))


def tensor_by_finite_differences(f, X, h=1e-6):
    """T[a, b] = ∂f(X)[a]/∂X[b], indices in the tensor layout, one input entry at a time.

    Uses only multi-indices (np.ndindex), never vec, so it is independent of the layout
    conversion under test.
    """
    X = np.asarray(X, dtype=np.float64)
    out_shape = np.shape(f(X))
    T = np.zeros(out_shape + X.shape)
    for b in np.ndindex(*X.shape):
        up, down = X.copy(), X.copy()
        up[b] += h
        down[b] -= h
        T[(Ellipsis,) + b] = (np.asarray(f(up)) - np.asarray(f(down))) / (2 * h)
    return T


@given(shapes, shapes, st.data())
def test_round_trip_both_ways(out_shape, in_shape, data):
    T = data.draw(real_arrays(out_shape + in_shape))
    J = jc.from_tensor_jacobian(T, out_shape, in_shape)
    assert J.shape == (int(np.prod(out_shape)), int(np.prod(in_shape)))
    assert J.of_shape == out_shape and J.wrt_shape == in_shape
    np.testing.assert_array_equal(J.to_tensor(), T)
    np.testing.assert_array_equal(jc.to_tensor_jacobian(J), T)
    back = jc.from_tensor_jacobian(J.to_tensor(), out_shape, in_shape)
    np.testing.assert_array_equal(back.toarray(), J.toarray())


@given(shapes, shapes, st.data())
def test_entry_mapping_follows_column_stacking(out_shape, in_shape, data):
    T = data.draw(real_arrays(out_shape + in_shape))
    J = jc.from_tensor_jacobian(T, out_shape, in_shape).toarray()

    def vec_index(index, shape):  # column-major position, written out by hand
        pos, stride = 0, 1
        for i, n in zip(index, shape):
            pos += i * stride
            stride *= n
        return pos

    for a in np.ndindex(*out_shape):
        for b in np.ndindex(*in_shape):
            assert J[vec_index(a, out_shape), vec_index(b, in_shape)] == T[a + b]


def test_literal_jacobian_as_a_tensor_matches_row_major_finite_differences(rng):
    Av, Xv = rng.normal(size=(3, 2)), rng.normal(size=(2, 4))
    A, X = jc.var("A", Av), jc.var("X", Xv)
    F = jc.tanh(A @ X)
    J = jc.jacobian(F, X)
    T = J.to_tensor()
    assert T.shape == (3, 4, 2, 4)
    fd = tensor_by_finite_differences(lambda M: np.tanh(Av @ M), Xv)
    np.testing.assert_allclose(T, fd, atol=1e-8)
    np.testing.assert_allclose(jc.from_tensor_jacobian(fd, (3, 4), (2, 4)).toarray(),
                               J.toarray(), atol=1e-8)


@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_scalar_and_vector_outputs(m, n, data):
    Xv = data.draw(real_arrays((m, n)))
    X = jc.var("X", Xv)
    T = jc.jacobian(jc.sum(X * X), X).to_tensor()  # a scalar output: T is shaped like X
    np.testing.assert_allclose(T, 2 * Xv, rtol=1e-14)
    v = jc.var("v", data.draw(real_arrays((m,))))
    Tv = jc.jacobian(X.T @ v, X).to_tensor()  # (n,) output, (m, n) input
    fd = tensor_by_finite_differences(lambda M: M.T @ v.value, Xv)
    np.testing.assert_allclose(Tv, fd, atol=1e-8)


def test_sparse_jacobians_convert_too():
    W = jc.var("W", np.arange(6.0).reshape(2, 3))
    X = jc.var("X", np.arange(12.0).reshape(3, 4))
    J = jc.jacobian(W @ X, W)
    assert J.issparse
    T = J.to_tensor()
    # ∂(WX)[i, j]/∂W[k, l] = δ_ik X[l, j]
    expect = np.einsum("ik,lj->ijkl", np.eye(2), X.value)
    np.testing.assert_array_equal(T, expect)


def test_bad_shapes_are_reported():
    T = np.zeros((2, 3, 4))
    with pytest.raises(jc.ShapeError, match=r"T has shape \(2, 3, 4\) but out_shape \+ in_shape "
                                            r"= \(3,\) \+ \(2, 4\) = \(3, 2, 4\)"):
        jc.from_tensor_jacobian(T, (3,), (2, 4))
    with pytest.raises(jc.ShapeError, match="positive ints"):
        jc.from_tensor_jacobian(T, (2, 0), (4,))
    with pytest.raises(jc.ShapeError, match="at most 2"):
        jc.from_tensor_jacobian(T, (2, 3, 4), ())
    with pytest.raises(jc.JacobianCalcError, match="takes a Jacobian"):
        jc.to_tensor_jacobian(np.zeros((2, 2)))


def test_against_torch_jacrev():
    torch = pytest.importorskip("torch")
    from torch.func import jacrev

    rng = np.random.default_rng(7)
    Av, Xv, bv = rng.normal(size=(3, 2)), rng.normal(size=(2, 4)), rng.normal(size=3)
    A, X, b = jc.var("A", Av), jc.var("X", Xv), jc.var("b", bv)
    F = jc.softmax(jc.bias_add(A @ X, b)) * jc.sigmoid(A @ X)

    def f(Xt, At):
        H = At @ Xt + torch.from_numpy(bv)[:, None]
        return torch.softmax(H, dim=0) * torch.sigmoid(At @ Xt)

    Xt, At = torch.from_numpy(Xv), torch.from_numpy(Av)
    TX = jacrev(f, argnums=0)(Xt, At)
    TA = jacrev(f, argnums=1)(Xt, At)
    assert tuple(TX.shape) == (3, 4, 2, 4)
    np.testing.assert_allclose(jc.jacobian(F, X).to_tensor(), TX.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jc.jacobian(F, A).to_tensor(), TA.numpy(), rtol=1e-10, atol=1e-12)
    # and the other direction: torch's tensor read into our layout
    JX = jc.from_tensor_jacobian(TX, (3, 4), (2, 4), of="F", wrt="X")
    np.testing.assert_allclose(JX.toarray(), jc.jacobian(F, X).toarray(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad, message", [
    (np.array([[1j]]), "complex"),
    (np.array([[np.nan]]), "non-finite"),
    (np.array([["x"]]), "real numbers"),
])
@pytest.mark.parametrize("convert", [
    lambda t: jc.from_tensor_jacobian(t, (1,), (1,)),
    lambda t: jc.from_tensor_hessian(t, (1,)),
], ids=["jacobian", "hessian"])
def test_a_tensor_that_is_not_real_and_finite_is_refused(bad, message, convert):
    with pytest.raises(jc.JacobianCalcError, match=message):
        convert(bad)


@pytest.mark.parametrize("out_shape, message", [
    # a 0-d array raised numpy's "TypeError: iteration over a 0-d array"
    (np.array(2), r"out_shape must be a tuple of at most 2 positive ints, got array\(2\) "
                  r"\(type ndarray\)"),
    # a string was shown as the tuple of its characters, ('2',)
    ("2", r"out_shape must be a tuple of at most 2 positive ints, got '2' \(type str\)"),
    ((2.0,), r"got \(2\.0,\): entry 0 is 2\.0 \(type float\)"),
    ((np.True_,), r"got \(np\.True_,\): entry 0 is np\.True_ \(type bool\)"),
    ((1, 1, 2), r"got \(1, 1, 2\) \(3 entries\)"),
])
def test_shapes_share_the_one_shape_validator(out_shape, message):
    with pytest.raises(jc.ShapeError, match=message):
        jc.from_tensor_jacobian(np.ones((2, 2)), out_shape, (2,))


def test_an_int_shape_is_a_vector_and_the_empty_tuple_a_scalar():
    J = jc.from_tensor_jacobian(np.arange(6.0).reshape(3, 2), np.int64(3), 2)
    assert J.of_shape == (3,) and J.wrt_shape == (2,)
    S = jc.from_tensor_jacobian(np.float64(4.0), (), ())
    assert S.shape == (1, 1) and S.to_tensor().shape == () and float(S.to_tensor()) == 4.0
