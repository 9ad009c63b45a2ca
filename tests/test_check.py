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


@pytest.mark.parametrize("step, shown", [
    (0.0, r"0\.0"),  # reported: a matrix of NaN (0/0) came back
    (-1e-6, r"-1e-06"),
    (np.nan, r"nan"),
    (np.inf, r"inf"),
    (True, r"True \(type bool\)"),  # was used as the step 1
    ("1e-6", r"'1e-6' \(type str\)"),  # failed inside numpy with a raw TypeError
])
def test_finite_difference_jacobian_refuses_a_step_that_is_not_positive_and_finite(step, shown):
    with pytest.raises(jc.JacobianCalcError,
                       match=r"step must be a positive finite number, got " + shown):
        jc.finite_difference_jacobian(np.sin, np.ones(3), step=step)


@pytest.mark.parametrize("t, shown", [
    (0.0, r"0\.0"),
    (True, r"True \(type bool\)"),  # was used as the step 1
    ("1e-6", r"'1e-6' \(type str\)"),  # numpy's TypeError from isfinite
    (np.array([1e-3, 1e-3]), r"array\(\[0\.001, 0\.001\]\) \(type ndarray\)"),
])
def test_gateaux_derivative_checks_its_step_the_same_way(t, shown):
    with pytest.raises(jc.JacobianCalcError, match=r"t must be a positive finite number, got " + shown):
        jc.gateaux_derivative(np.sum, np.ones(2), np.ones(2), t=t)


@pytest.mark.parametrize("check", [
    lambda f: jc.finite_difference_jacobian(f, np.ones(3)),
    lambda f: jc.gateaux_derivative(f, np.ones(3), np.ones(3)),
], ids=["finite_difference_jacobian", "gateaux_derivative"])
@pytest.mark.parametrize("f, shown", [
    (np.ones(3), r"array\(\[1\., 1\., 1\.\]\) \(type ndarray\)"),
    ("np.sin", r"'np\.sin' \(type str\)"),
    (None, r"None \(type NoneType\)"),
])
def test_a_function_that_is_not_callable_is_refused_by_name(check, f, shown):
    # finite_difference_jacobian raised "TypeError: 'numpy.ndarray' object is not callable"
    with pytest.raises(jc.JacobianCalcError, match=r"f must be a callable taking an array, "
                                                   r"got " + shown):
        check(f)


def test_a_small_positive_step_is_used_as_given(rng):
    x = rng.normal(size=4)
    J = jc.finite_difference_jacobian(np.sin, x, step=1e-4)
    np.testing.assert_allclose(J, np.diag(np.cos(x)), atol=1e-8)
    J1 = jc.finite_difference_jacobian(np.sin, x, step=np.float32(0.5), scheme="forward")
    np.testing.assert_allclose(np.diag(J1), (np.sin(x + 0.5) - np.sin(x)) / 0.5, rtol=1e-12)
