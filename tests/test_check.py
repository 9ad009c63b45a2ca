"""Frobenius product and norm (eq 13–14), Gâteaux derivatives (eq 15), finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.testing import real_arrays

pairs = st.tuples(st.integers(1, 8), st.integers(1, 8)).flatmap(
    lambda s: st.tuples(real_arrays(s), real_arrays(s)))


@given(pairs)
def test_frobenius_inner_product_has_all_four_trace_forms(AB):
    A, B = AB
    value = jc.frobenius_inner(A, B)
    expected = sum(A[i, j] * B[i, j] for i in range(A.shape[0]) for j in range(A.shape[1]))
    for form in (np.trace(A.T @ B), np.trace(A @ B.T), np.trace(B.T @ A), np.trace(B @ A.T)):
        assert value == pytest.approx(form, rel=1e-12, abs=1e-12)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@given(pairs)
def test_frobenius_norm_is_the_root_of_the_self_product(AB):
    A, _ = AB
    assert jc.frobenius_norm(A) == pytest.approx(np.sqrt(np.sum(A ** 2)), rel=1e-12, abs=1e-300)
    assert jc.frobenius_norm(A) ** 2 == pytest.approx(jc.frobenius_inner(A, A), rel=1e-12,
                                                      abs=1e-300)


@given(pairs)
def test_gateaux_derivative_is_the_inner_product_with_the_gradient(AB):
    # f(X) = tr(Aᵀ X) + ½‖X‖² has gradient A + X; eq (15) says the limit is ⟨A + X, V⟩.
    A, V = AB
    X = np.ones_like(A)
    f = lambda M: np.sum(A * M) + 0.5 * np.sum(M * M)  # noqa: E731
    got = jc.gateaux_derivative(f, X, V)
    assert got == pytest.approx(jc.frobenius_inner(A + X, V), rel=1e-7, abs=1e-7)


def test_gateaux_on_vectors_and_the_two_schemes(rng):
    x, v = rng.normal(size=5), rng.normal(size=5)
    f = lambda u: np.sum(np.sin(u))  # noqa: E731
    exact = float(np.cos(x) @ v)
    central = jc.gateaux_derivative(f, x, v, t=1e-3)
    forward = jc.gateaux_derivative(f, x, v, t=1e-3, scheme="forward")
    assert abs(central - exact) < 1e-5 < abs(forward - exact) < 1e-2
    # forward error O(t), central error O(t²)
    e1 = abs(jc.gateaux_derivative(f, x, v, t=1e-2, scheme="forward") - exact)
    e2 = abs(jc.gateaux_derivative(f, x, v, t=1e-3, scheme="forward") - exact)
    assert 5 < e1 / e2 < 20
    c1 = abs(jc.gateaux_derivative(f, x, v, t=1e-2) - exact)
    c2 = abs(jc.gateaux_derivative(f, x, v, t=1e-3) - exact)
    assert 50 < c1 / c2 < 200


def test_finite_difference_jacobian_uses_the_vec_layout(rng):
    A, X = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    J = jc.finite_difference_jacobian(lambda M: A @ M, X)
    np.testing.assert_allclose(J, np.kron(np.eye(4), A), atol=1e-9)  # vec(AX) = (I⊗A) vec X
    J = jc.finite_difference_jacobian(lambda M: M.T, X)
    np.testing.assert_allclose(J, jc.commutation_matrix(3, 4).toarray(), atol=1e-9)


def test_bad_input_is_named():
    with pytest.raises(jc.ShapeError, match="A and B must have the same shape, got A 2×2 and "
                                            "B 2×3"):
        jc.frobenius_inner(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(jc.ShapeError, match="X and V must have the same shape"):
        jc.gateaux_derivative(np.sum, np.ones(3), np.ones(4))
    with pytest.raises(jc.ShapeError, match="f must return a scalar"):
        jc.gateaux_derivative(lambda u: u, np.ones(3), np.ones(3))
    with pytest.raises(jc.ChoiceError, match="unknown scheme 'backward'"):
        jc.gateaux_derivative(np.sum, np.ones(3), np.ones(3), scheme="backward")
    with pytest.raises(jc.JacobianCalcError, match="positive finite"):
        jc.gateaux_derivative(np.sum, np.ones(3), np.ones(3), t=0.0)


def test_max_relative_error_never_calls_nan_close():
    assert jc.max_relative_error([np.nan], [np.nan]) == np.inf
    assert jc.max_relative_error([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert jc.max_relative_error([2.0], [1.0]) == 0.5


def test_a_vector_and_its_column_have_the_same_inner_product():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([[4.0], [5.0], [6.0]])
    assert jc.frobenius_inner(a, b) == jc.frobenius_inner(b, a) == 32.0
    with pytest.raises(jc.ShapeError):
        jc.frobenius_inner(a, b.T)  # a row is not the same vector in the vec convention
