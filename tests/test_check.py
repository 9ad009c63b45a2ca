"""Frobenius product and norm (eq 13–14), Gâteaux derivatives (eq 15), finite differences."""

import math
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.core.errors import WorkLimitError
from jacobian_calc.testing import real_arrays
from jacobian_calc.verify.check import default_step, line_derivative

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
    # math.hypot is the oracle: np.sqrt(np.sum(A ** 2)) itself underflows for A = 1.2e-251
    assert jc.frobenius_norm(A) == pytest.approx(math.hypot(*A.ravel()), rel=1e-12, abs=0)
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
    with pytest.raises(jc.JacobianCalcError,
                       match=r"t must be a positive finite number, got " + shown):
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


# ------------------------------------------------ what f returns, and steps lost to rounding
@pytest.mark.parametrize("f, error, message", [
    # the imaginary part was dropped with only a ComplexWarning: a wrong Jacobian
    (lambda v: v + 1j * v, jc.JacobianCalcError, r"f\(X \+ h·e_0\) is complex"),
    # None became NaN: a matrix of NaN came back
    (lambda v: None, jc.JacobianCalcError, r"f\(X \+ h·e_0\) must hold real numbers, got an "
                                           r"array of dtype object \(e\.g\. None"),
    # numpy's own ValueErrors
    (lambda v: "a", jc.JacobianCalcError, r"f\(X \+ h·e_0\) must hold real numbers"),
    (lambda v: [v, 1.0], jc.JacobianCalcError, r"f\(X \+ h·e_0\) is not a rectangular"),
    (lambda v: v[:0], jc.ShapeError, r"f\(X \+ h·e_0\) is empty"),
    # the output changed shape between two evaluations: numpy's broadcast error
    (lambda v: v[: 1 + int(v.sum() > 3.0)], jc.ShapeError,
     r"f\(X − h·e_0\) has shape \(1,\) but f\(X \+ h·e_0\) has shape \(2,\); f must return "
     r"the same shape at every point"),
])
def test_finite_difference_jacobian_reads_what_f_returns(f, error, message):
    with pytest.raises(error, match=message):
        jc.finite_difference_jacobian(f, np.ones(3))


def test_the_forward_scheme_names_f_at_X_itself():
    with pytest.raises(jc.JacobianCalcError, match=r"f\(X\) is complex"):
        jc.finite_difference_jacobian(lambda v: 1j * v, np.ones(2), scheme="forward")
    with pytest.raises(jc.ShapeError, match=r"f\(X \+ h·e_1\) has shape \(3,\) but f\(X\) has "
                                            r"shape \(2,\)"):
        jc.finite_difference_jacobian(lambda v: v if v[1] == 1.0 else np.ones(3), np.ones(2),
                                      scheme="forward")


def test_non_finite_values_of_f_pass_through_for_the_caller_to_judge():
    # log near 0 steps out of its domain: NaN columns, never an error and never a number
    with np.errstate(invalid="ignore"):
        J = jc.finite_difference_jacobian(np.log, np.array([1e-9, 1.0]))
    assert np.isnan(J[0, 0]) and np.isfinite(J[1, 1])


@pytest.mark.parametrize("scheme", ["central", "forward"])
def test_a_step_lost_to_rounding_is_refused(scheme):
    # 1 + 1e-300 == 1: the column was all zeros, a wrong derivative of sin
    with pytest.raises(jc.JacobianCalcError, match=r"step 1e-300 is lost to rounding at entry 0 "
                                                   r"of vec\(X\), 1\.0: X [±+] step·e_0 equals X"):
        jc.finite_difference_jacobian(np.sin, np.ones(3), step=1e-300, scheme=scheme)
    # 1e-3 vanishes next to 1e20 only: the second column was silently 0
    with pytest.raises(jc.JacobianCalcError, match=r"lost to rounding at entry 1 of vec\(X\), "
                                                   r"1e\+20"):
        jc.finite_difference_jacobian(np.sin, np.array([1.0, 1e20]), step=1e-3, scheme=scheme)


def test_the_step_actually_taken_is_the_one_divided_by():
    # 0.1 is not exact in binary: (1e3 + 0.1) − 1e3 is 0.10000000000002274. Dividing by the
    # step really taken makes the derivative of v ↦ 2v exact (it was 2.0000000000004547).
    x = np.array([1e3])
    for scheme in ("central", "forward"):
        J = jc.finite_difference_jacobian(lambda v: 2.0 * v, x, step=0.1, scheme=scheme)
        assert J[0, 0] == 2.0


def test_a_huge_finite_difference_jacobian_is_refused_before_it_is_built():
    # 20,000 columns of 20,000 entries: 3.2 GB of float64 were about to be built
    tracemalloc.start()
    try:
        with pytest.raises(WorkLimitError, match=r"finite_difference_jacobian\(f, X\), a "
                                                 r"20000×20000 Jacobian from 40,000 evaluations "
                                                 r"of f, would build and keep"):
            jc.finite_difference_jacobian(lambda v: v, np.ones(20_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_a_step_that_overflows_is_refused():
    # 1.7e308 + 1e307 is inf: the column was (f(inf) − f(x − h)) / inf, a silent 0 or NaN
    with pytest.raises(jc.JacobianCalcError, match=r"step 1e\+307 overflows at entry 0 of "
                                                   r"vec\(X\), 1\.7e\+308: X \+ step·e_0 is not "
                                                   r"finite"):
        jc.finite_difference_jacobian(lambda v: 0.0 * v, np.array([1.7e308]), step=1e307,
                                      scheme="forward")


# ------------------------------------------------------------------ gateaux_derivative
@pytest.mark.parametrize("f, error, message", [
    # numpy's TypeError from float(complex)
    (lambda u: complex(np.sum(u)), jc.JacobianCalcError, r"f\(X \+ tV\) is complex"),
    # None became NaN and came back as the derivative
    (lambda u: None, jc.JacobianCalcError, r"f\(X \+ tV\) must hold real numbers, got an array "
                                           r"of dtype object \(e\.g\. None of type NoneType\)"),
    # the string "1" was read as the number 1.0, and the derivative 0.0 came back
    (lambda u: "1", jc.JacobianCalcError, r"f\(X \+ tV\) must hold real numbers, got an array "
                                          r"of dtype <U1"),
    (lambda u: u, jc.ShapeError, r"f must return a scalar, but f\(X \+ tV\) has shape \(3,\)"),
])
def test_gateaux_derivative_reads_what_f_returns(f, error, message):
    with pytest.raises(error, match=message):
        jc.gateaux_derivative(f, np.ones(3), np.ones(3))


@pytest.mark.parametrize("scheme", ["central", "forward"])
def test_a_gateaux_step_lost_to_rounding_is_refused(scheme):
    # X + 1e-300·V == X: the derivative 0.0 came back, for a function whose derivative is 3
    with pytest.raises(jc.JacobianCalcError, match=r"t = 1e-300 is lost to rounding: "
                                                   r"X [±+] tV equals X in float64"):
        jc.gateaux_derivative(np.sum, np.ones(3), np.ones(3), t=1e-300, scheme=scheme)
    # a zero direction has the derivative 0 at any step: nothing to refuse
    assert jc.gateaux_derivative(np.sum, np.ones(3), np.zeros(3), t=1e-300, scheme=scheme) == 0.0


def test_a_gateaux_step_that_overflows_is_refused():
    with pytest.raises(jc.JacobianCalcError, match=r"t = 1e\+308 overflows: X \+ tV is not "
                                                   r"finite"):
        jc.gateaux_derivative(np.sum, np.ones(3), np.full(3, 10.0), t=1e308, scheme="forward")


@pytest.mark.parametrize("scale", [1e-200, 1e-310, 1e200])
def test_the_default_gateaux_step_suits_directions_of_any_size(scale):
    # ‖V‖ underflowed to 0 for 1e-200 (the step then vanished: 0.0 came back instead of
    # 3e-200) and overflowed to inf for 1e200 (a refused step 0.0 the user never gave)
    X, V = np.ones(3), np.full(3, scale)
    got = jc.gateaux_derivative(lambda u: np.sum(np.sin(u)), X, V)
    assert got == pytest.approx(3 * np.cos(1.0) * scale, rel=1e-8, abs=0)


def test_a_scheme_must_be_one_of_the_names():
    # an array of names raised numpy's "truth value of an array is ambiguous"
    with pytest.raises(jc.ChoiceError, match="unknown scheme"):
        jc.gateaux_derivative(np.sum, np.ones(2), np.ones(2),
                              scheme=np.array(["central", "forward"]))
    with pytest.raises(jc.ChoiceError, match="unknown scheme"):
        jc.finite_difference_jacobian(np.sin, np.ones(2), scheme=np.array(["central", "forward"]))


def test_default_step_measures_tiny_and_huge_directions():
    # ‖V‖ was computed as 0 for 1e-200 (the step ∛ε, far too short along such a V) and as
    # inf for 1e200 (the step 0)
    base = np.finfo(float).eps ** (1 / 3)
    for scale in (1e-200, 1.0, 1e200):
        t = default_step(np.ones(2), np.full(2, scale))
        assert t == pytest.approx(base / scale, rel=1e-14)
    sqrt_eps = np.finfo(float).eps ** 0.5
    assert default_step(np.ones(2), np.zeros(2), "forward") == sqrt_eps
    with pytest.raises(jc.ChoiceError, match="unknown scheme"):
        default_step(np.ones(2), np.ones(2), "backward")


# ----------------------------------------------- norms and products far from 1 in magnitude
@pytest.mark.parametrize("A, expected", [
    ([1e200, 1e200], np.sqrt(2) * 1e200),  # was inf: the squares overflowed
    ([1e-200, 1e-200], np.sqrt(2) * 1e-200),  # was 0.0: the squares underflowed
    ([[3e-160, 0.0], [0.0, 4e-160]], 5e-160),  # was 4.99994...e-160: subnormal squares
    ([1e308, 1e308], np.sqrt(2) * 1e308),  # within range, though the squares are not
    ([1.5e308, 1.5e308], np.inf),  # 2.1e308 is beyond the float range: inf is the answer
])
def test_frobenius_norm_does_not_over_or_underflow_on_the_way(A, expected):
    assert jc.frobenius_norm(A) == pytest.approx(expected, rel=1e-15, abs=0)


def test_frobenius_inner_does_not_overflow_on_the_way():
    # the products 1e400 and −1e400 overflowed to inf and −inf: NaN for the product 0
    assert jc.frobenius_inner([1e200, 1e200], [1e200, -1e200]) == 0.0
    assert jc.frobenius_inner([1e200, 1e200], [1e150, -0.5e150]) == np.inf  # truly 5e349
    assert jc.frobenius_inner([[1e200, 3.0]], [[1e150, 2.0]]) == np.inf
    assert jc.frobenius_inner([1e-200], [1e200]) == 1.0


def test_max_relative_error_does_not_overflow_on_the_way():
    # 1e308 − (−1e308) overflowed: inf came back for a relative error of 2
    assert jc.max_relative_error([1e308], [-1e308]) == 2.0
    assert jc.max_relative_error([1e-320], [0.0]) == 1.0
    assert jc.max_relative_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 2.2, rel=1e-15)


def test_a_step_whose_width_overflows_is_refused():
    # 1 + 1e308 and 1 − 1e308 are finite, but their distance 2e308 is not: every column
    # was divided by inf and came back 0
    with pytest.raises(jc.JacobianCalcError, match=r"step 1e\+308 overflows at entry 0 of "
                                                   r"vec\(X\), 1\.0: the step taken, from "
                                                   r"X − step·e_0 to X \+ step·e_0, is not finite"):
        jc.finite_difference_jacobian(np.sin, np.ones(2), step=1e308)


def test_a_difference_of_huge_values_is_taken_without_overflow():
    # f(X ± h) = ±1e308: their difference overflowed to inf, for a derivative of 1e298
    J = jc.finite_difference_jacobian(lambda v: 1e298 * v, np.ones(1), step=1e10)
    assert J[0, 0] == pytest.approx(1e298, rel=1e-12)


def test_non_finite_values_of_f_pass_through_without_numpy_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J = jc.finite_difference_jacobian(lambda v: np.full(2, np.inf), np.ones(2))
        assert np.isnan(J).all()


@pytest.mark.parametrize("scheme, slope, shift", [("central", 1e298, 0.0),
                                                  ("forward", 2e298, 5e9)])
def test_a_gateaux_difference_of_huge_values_is_taken_without_overflow(scheme, slope, shift):
    # f = ±1e308 at the two points: their difference overflowed to inf, for the derivative
    # `slope` (1e298 and 2e298)
    f = lambda u: slope * (np.sum(u) - shift)  # noqa: E731
    got = jc.gateaux_derivative(f, np.zeros(1), np.ones(1), t=1e10, scheme=scheme)
    assert got == pytest.approx(slope, rel=1e-12)


# ------------------------------------------------------------------ line_derivative
@given(pairs, st.sampled_from(["central", "forward"]))
def test_the_derivative_along_a_line_is_the_directional_derivative(AB, scheme):
    # The same quotient and step rule: with f given on the line s ↦ f(X + sV) the result is
    # the Gâteaux derivative of f at X along V, ⟨A + X, V⟩ for this f (eq 15).
    A, V = AB
    X = np.ones_like(A)
    f = lambda M: np.sum(A * M) + 0.5 * np.sum(M * M)  # noqa: E731
    got = float(line_derivative(lambda s: f(X + s * V), jc.frobenius_norm(X),
                                jc.frobenius_norm(V), scheme=scheme))
    tol = 1e-7 if scheme == "central" else 1e-5 * (1 + jc.frobenius_norm(V) ** 2)
    assert got == pytest.approx(jc.gateaux_derivative(f, X, V, scheme=scheme), rel=tol, abs=tol)
    assert got == pytest.approx(jc.frobenius_inner(A + X, V), rel=tol, abs=tol)


@pytest.mark.parametrize("scheme", ["central", "forward"])
def test_a_given_step_is_taken_along_v_itself(rng, scheme):
    # With t given, both evaluate f at X ± tV and divide by the same width: equal exactly.
    x, v = rng.normal(size=5), rng.normal(size=5)
    f = lambda u: np.array([np.sum(np.sin(u)), np.sum(u ** 3)])  # noqa: E731
    got = line_derivative(lambda s: f(x + s * v), 0.0, 0.0, t=1e-4, scheme=scheme)
    np.testing.assert_array_equal(got, jc.verify.check.directional_derivative(
        f, x, v, t=1e-4, scheme=scheme))
    assert got.shape == (2,)


def test_the_default_step_along_a_line_scales_with_the_norms():
    seen = []
    line = lambda s: seen.append(s) or 3.0 * s  # noqa: E731
    eps = np.finfo(float).eps
    assert float(line_derivative(line, 8.0, 4.0)) == pytest.approx(3.0, rel=1e-12)
    assert seen == [pytest.approx(eps ** (1 / 3) * 8.0 / 4.0, rel=1e-15),
                    pytest.approx(-eps ** (1 / 3) * 8.0 / 4.0, rel=1e-15)]
    seen.clear()
    assert float(line_derivative(line, 0.5, 0.0, scheme="forward")) == pytest.approx(3.0)
    assert seen == [pytest.approx(eps ** 0.5), 0.0]  # max(1, ‖X‖); V = 0 steps by t itself


@pytest.mark.parametrize("call, error, message", [
    (lambda: line_derivative(None, 1.0, 1.0), jc.JacobianCalcError,
     r"line must be a callable taking a float s, got None"),
    (lambda: line_derivative(np.sin, float("nan"), 1.0), jc.JacobianCalcError,
     r"X_norm must be a finite number ≥ 0, got nan"),
    (lambda: line_derivative(np.sin, 1.0, -1.0), jc.JacobianCalcError,
     r"V_norm must be a finite number ≥ 0, got -1.0"),
    (lambda: line_derivative(np.sin, 1.0, 1e-320), jc.JacobianCalcError,
     r"the default step t = .* along V of norm 1e-320 is t/‖V‖ = inf: pass a direction of "
     r"moderate norm"),
    (lambda: line_derivative(np.sin, 1.0, 1.0, t=0.0), jc.JacobianCalcError, r"t must be"),
    (lambda: line_derivative(np.sin, 1.0, 1.0, scheme="backward"), jc.ChoiceError, "scheme"),
    (lambda: line_derivative(lambda s: np.ones(2), 1.0, 1.0, scalar=True), jc.ShapeError,
     r"f must return a scalar, but f\(X \+ sV\) has shape \(2,\)"),
    (lambda: line_derivative(lambda s: np.ones(2) if s > 0 else 1.0, 1.0, 1.0), jc.ShapeError,
     r"f\(X \+ tV\) has shape \(2,\) but the other value of f has shape \(\)"),
])
def test_line_derivative_refuses_bad_input_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()
