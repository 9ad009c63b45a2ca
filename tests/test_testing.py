"""The strategies and helpers shipped for users' own property tests."""

import numpy as np
import pytest
from hypothesis import given

import jacobian_calc as jc
from jacobian_calc.testing import assert_allclose_scaled, mlp_problems


@given(mlp_problems(min_depth=2, max_depth=3, max_size=5, activations=["relu"]))
def test_mlp_problems_are_valid_and_avoid_the_relu_kink(problem):
    assert 2 <= len(problem.weights) <= 3
    assert all(1 <= n <= 5 for n in problem.sizes)
    net = problem.network()
    z = problem.x
    for W in problem.weights[:-1]:
        h = W @ z
        assert np.min(np.abs(h)) > 1e-3
        z = np.maximum(h, 0)
    assert net.predict(problem.x).shape == problem.y.shape


@given(mlp_problems(losses=["softmax_cross_entropy"], max_depth=1))
def test_cross_entropy_targets_are_probabilities(problem):
    assert np.all(problem.y >= 0) and problem.y.sum() == pytest.approx(1.0)


def test_assert_allclose_scaled_reports_the_worst_entry():
    assert_allclose_scaled([1.0, 100.0], [1.0 + 1e-12, 100.0])
    with pytest.raises(AssertionError, match=r"relative error 1\.000e-02 > 1\.0e-10; worst entry "
                                             r"\(1,\)"):
        assert_allclose_scaled([1.0, 100.0], [1.0, 99.0])
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_allclose_scaled(np.ones(2), np.ones(3))
    with pytest.raises(AssertionError):
        assert_allclose_scaled([np.nan], [np.nan])
    assert jc.max_relative_error([1.0], [1.0]) == 0.0


# ----------------------------------------------------------------- the new strategies
import re

import scipy.sparse as sp
from hypothesis import assume, settings
from hypothesis import strategies as st

from jacobian_calc.core.errors import JacobianCalcError, ShapeError
from jacobian_calc.testing import (
    arrays_away_from_kinks,
    assert_gradient_correct,
    assert_jacobian_correct,
    chain_shapes,
    real_arrays,
    shapes,
    well_conditioned_matrices,
)


@given(shapes(min_dims=0, max_dims=2, max_side=4))
def test_shapes_are_scalars_vectors_or_matrices(shape):
    assert len(shape) <= 2 and all(1 <= n <= 4 for n in shape)


@given(chain_shapes(4, max_side=6))
def test_chain_shapes_multiply_in_order(s):
    mats = [np.ones(shape) for shape in s]
    out = mats[0]
    for m in mats[1:]:
        out = out @ m  # raises if an inner dimension did not match
    assert out.shape == (s[0][0], s[-1][1])


@given(well_conditioned_matrices(st.tuples(st.integers(1, 5), st.integers(1, 5)),
                                 max_condition=8.0))
def test_well_conditioned_matrices_respect_the_bound(A):
    s = np.linalg.svd(A, compute_uv=False)
    assert s.min() > 0 and s.max() / s.min() <= 8.0 * (1 + 1e-9)


@given(well_conditioned_matrices(st.integers(1, 5).map(lambda n: (n, n)), max_condition=4.0,
                                 positive_determinant=True))
def test_positive_determinant_makes_logdet_defined(A):
    sign, _ = np.linalg.slogdet(A)
    assert sign == 1.0 and np.linalg.cond(A) <= 4.0 * (1 + 1e-9)


@given(well_conditioned_matrices((4, 4), symmetric=True))
def test_symmetric_option_gives_positive_definite(A):
    assert np.allclose(A, A.T) and np.linalg.eigvalsh(A).min() > 0


def test_strategy_arguments_are_checked():
    with pytest.raises(JacobianCalcError, match="min_dims"):
        shapes(min_dims=3, max_dims=3)
    with pytest.raises(JacobianCalcError, match="count"):
        chain_shapes(0)
    with pytest.raises(JacobianCalcError, match="margin"):
        arrays_away_from_kinks((3,), margin=0.0)


@given(arrays_away_from_kinks(st.integers(1, 8).map(lambda n: (n,)), kinks=(0.0, 1.0),
                              margin=0.05))
def test_arrays_keep_away_from_every_kink(h):
    assert np.min(np.abs(h)) >= 0.05 and np.min(np.abs(h - 1.0)) >= 0.05


# ---------------------------------------------------------- correct formulas pass
@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(chain_shapes(3, max_side=4).flatmap(  # B closes the chain: AXB is square
    lambda s: st.tuples(real_arrays(s[0]), real_arrays(s[1]),
                        real_arrays((s[2][0], s[0][0])))))
def test_trace_AXB_gradient_passes(mats):
    A, X, B = mats
    # ∂tr(AXB)/∂X = AᵀBᵀ, the matrix-shaped gradient (eq 12), written by hand. What the
    # helper promises is that a correct gradient passes (it raises otherwise); its returned
    # relative error is not small when AᵀBᵀ itself underflows to rounding noise (A and B of
    # 1e-161 give 1e-322), so only the pass is asserted here.
    err = assert_gradient_correct(lambda Z: np.trace(A @ Z @ B), lambda Z: A.T @ B.T, X)
    assert err >= 0.0


@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
    lambda pd: st.tuples(real_arrays(pd), real_arrays((pd[1],)), real_arrays((pd[0],)))))
def test_lemma_2_6_gradient_passes(data):
    W, x, y = data
    # f = ½‖Wx − y‖², ∂f/∂W = (∂f/∂ŷ) xᵀ (eq 17) with ∂f/∂ŷ = Wx − y
    assert_gradient_correct(lambda M: 0.5 * np.sum((M @ x - y) ** 2),
                            lambda M: np.outer(M @ x - y, x), W)


@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(well_conditioned_matrices(st.integers(1, 4).map(lambda n: (n, n)),
                                 positive_determinant=True))
def test_logdet_gradient_passes(X):
    assert_gradient_correct(lambda Z: np.linalg.slogdet(Z)[1], lambda Z: np.linalg.inv(Z).T, X)


@given(arrays_away_from_kinks(st.integers(1, 6).map(lambda n: (n,))))
def test_relu_gradient_passes_away_from_the_kink(h):
    c = np.arange(1.0, h.size + 1)
    # f = Σ cᵢ relu(hᵢ); as a row (1, n), the analysis convention (eq 1)
    assert_gradient_correct(lambda z: c @ np.maximum(z, 0), lambda z: (c * (z > 0))[None, :], h)


def test_relu_gradient_fails_at_the_kink_where_no_gradient_exists():
    h = np.array([0.0, 1.0])
    with pytest.raises(AssertionError, match="relative error"):
        assert_gradient_correct(lambda z: np.sum(np.maximum(z, 0)), lambda z: (z > 0) * 1.0, h)


def test_gradient_accepts_a_jacobian_row_and_vector_layouts():
    A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]])
    x = np.array([0.5, -1.0])
    f = lambda z: 0.5 * z @ A.T @ A @ z  # ∇f = AᵀA x
    g = A.T @ A @ x
    assert_gradient_correct(f, lambda z: A.T @ A @ z, x)
    assert_gradient_correct(f, lambda z: (A.T @ A @ z)[:, None], x)  # column (eq 6)
    assert_gradient_correct(f, lambda z: jc.Jacobian.from_row_gradient(
        g[None, :], of="f", wrt="x"), x)


# ---------------------------------------------------- planted wrong formulas fail
def _reported(message: str, label: str) -> float:
    m = re.search(re.escape(label) + r" = (-?[0-9.e+-]+)", message)
    assert m, f"{label!r} missing from:\n{message}"
    return float(m.group(1))


def _check_fields(message: str) -> None:
    for field in ("worst direction", "relative error", "tolerance", "rtol=", "atol="):
        assert field in message, f"{field!r} missing from:\n{message}"


@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(well_conditioned_matrices((3, 3)), well_conditioned_matrices((3, 3)),
       real_arrays((3, 3)))
def test_transposed_gradient_fails_with_a_report(A, B, X):
    right = A.T @ B.T
    assume(np.abs(right - right.T).max() > 1e-2 * np.abs(right).max())
    with pytest.raises(AssertionError) as info:
        assert_gradient_correct(lambda Z: np.trace(A @ Z @ B), lambda Z: B @ A, X)
    msg = str(info.value)
    _check_fields(msg)
    numeric = _reported(msg, "Gâteaux derivative (f(X + tV) − f(X − tV))/2t")
    analytic = _reported(msg, "⟨grad_f(X), V⟩_F")
    rel = float(re.search(r"relative error ([0-9.e+-]+)", msg).group(1))
    assert rel > 1e-5 and abs(numeric - analytic) > 0


@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(real_arrays((4,)).filter(lambda v: np.linalg.norm(v) > 0.1))
def test_gradient_missing_a_factor_of_two_fails(x):
    A = np.array([[2.0, 1, 0, 0], [0, 1, 0, 3], [1, 0, 1, 0], [0, 0, 2, 1]])
    S = A + A.T  # ∇(xᵀAx) = (A + Aᵀ)x; the planted error uses Ax only (missing half)
    assume(np.linalg.norm(S @ x) > 0.1)
    with pytest.raises(AssertionError) as info:
        assert_gradient_correct(lambda z: z @ A @ z, lambda z: A @ z, x)
    _check_fields(str(info.value))


@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(real_arrays((2, 3)).filter(lambda W: np.abs(W).max() > 0.1),
       real_arrays((3,)).filter(lambda v: np.abs(v).max() > 0.1))
def test_gradient_off_by_sign_reports_opposite_values(W, x):
    y = np.array([1.0, -1.0])
    assume(np.abs(W @ x - y).max() > 0.1)
    with pytest.raises(AssertionError) as info:
        assert_gradient_correct(lambda M: 0.5 * np.sum((M @ x - y) ** 2),
                                lambda M: -np.outer(M @ x - y, x), W)
    msg = str(info.value)
    _check_fields(msg)
    numeric = _reported(msg, "Gâteaux derivative (f(X + tV) − f(X − tV))/2t")
    analytic = _reported(msg, "⟨grad_f(X), V⟩_F")
    assert numeric == pytest.approx(-analytic, rel=1e-4)  # the sign is the whole error


def test_each_check_alone_catches_an_error_and_reports_its_worst_entry():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = lambda Z: np.trace(A @ Z)
    with pytest.raises(AssertionError, match="worst direction") as info:
        assert_gradient_correct(f, lambda Z: A, np.eye(2), finite_differences=False)
    assert "finite-difference" not in str(info.value)
    with pytest.raises(AssertionError, match=r"worst entry X\[(0, 1|1, 0)\]") as info:
        assert_gradient_correct(f, lambda Z: A, np.eye(2), directions=0)
    assert "worst direction" not in str(info.value)
    # entry (0, 1) of Aᵀ is 3, of A is 2 (and the other way round at (1, 0))
    assert {_reported(str(info.value), "finite differences"),
            _reported(str(info.value), "grad_f(X)")} == {2.0, 3.0}


def test_tolerance_is_used_as_given():
    f = lambda z: float(np.sum(z ** 2))
    almost = lambda z: 2 * z * (1 + 1e-3)  # 0.1 % too large
    x = np.array([1.0, -2.0, 0.5])
    with pytest.raises(AssertionError, match=r"rtol=1e-05"):
        assert_gradient_correct(f, almost, x)
    assert assert_gradient_correct(f, almost, x, rtol=1e-2) == pytest.approx(1e-3 / 1.001,
                                                                            rel=1e-3)


def test_gradient_shape_mismatch_is_reported_clearly():
    A = np.arange(6.0).reshape(2, 3)
    f = lambda Z: np.sum(A * Z)
    with pytest.raises(AssertionError, match=r"shape \(3, 2\), but X has shape \(2, 3\).*"
                                             r"looks transposed"):
        assert_gradient_correct(f, lambda Z: A.T, np.ones((2, 3)))
    with pytest.raises(AssertionError, match=r"shape \(6,\).*unvec"):
        assert_gradient_correct(f, lambda Z: A.ravel(), np.ones((2, 3)))
    with pytest.raises(AssertionError, match="non-finite"):
        assert_gradient_correct(f, lambda Z: A * np.nan, np.ones((2, 3)))
    with pytest.raises(ShapeError, match="f must return a scalar"):
        assert_gradient_correct(lambda Z: Z, lambda Z: Z, np.ones((2, 3)))


# ------------------------------------------------------------------- Jacobians
@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(chain_shapes(3, max_side=3).flatmap(
    lambda s: st.tuples(real_arrays(s[0]), real_arrays(s[1]), real_arrays(s[2]))),
    st.sampled_from(["dense", "sparse", "jacobian"]))
def test_kronecker_jacobian_passes_in_every_container(mats, kind):
    A, X, B = mats
    K = np.kron(B.T, A)  # ∂vec(AXB)/∂vec(X) = Bᵀ ⊗ A, the dense formula
    wrap = {
        "dense": lambda: K,
        "sparse": lambda: sp.csr_array(K),
        "jacobian": lambda: jc.Jacobian(K, of="F", wrt="X", of_shape=(A.shape[0], B.shape[1]),
                                        wrt_shape=X.shape),
    }[kind]
    # a correct Jacobian passes (the helper raises otherwise); see the trace test above for
    # why the returned relative error is not asserted when Bᵀ ⊗ A is rounding noise
    assert assert_jacobian_correct(lambda Z: A @ Z @ B, lambda Z: wrap(), X) >= 0.0


@given(st.integers(1, 5).flatmap(lambda n: real_arrays((n,))))
def test_softmax_jacobian_passes(h):
    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()
    s = softmax(h)
    assert_jacobian_correct(softmax, lambda z: np.diag(s) - np.outer(s, s), h)


@settings(max_examples=60)  # each example runs the full check; 60 suffice
@given(well_conditioned_matrices((3, 3)), real_arrays((3, 2)).filter(
    lambda X: np.abs(X).max() > 0.1))
def test_row_major_kronecker_fails_with_a_report(A, X):
    # the planted error: kron(A, I) is the row-stacking Jacobian of A @ X, not vec's I ⊗ A
    wrong = np.kron(A, np.eye(2))
    right = np.kron(np.eye(2), A)
    assume(np.abs(wrong - right).max() > 1e-2 * np.abs(right).max())
    with pytest.raises(AssertionError) as info:
        assert_jacobian_correct(lambda Z: A @ Z, lambda Z: wrong, X)
    msg = str(info.value)
    _check_fields(msg)
    assert "finite differences (f(X + tV) − f(X − tV))/2t = [" in msg
    assert "jac_f(X) · vec(V) = [" in msg


def test_jacobian_off_by_sign_and_missing_factor_fail():
    A = np.array([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]])
    x = np.array([0.3, -0.7])
    for wrong in (lambda z: -A, lambda z: 0.5 * A):
        with pytest.raises(AssertionError, match="Jacobian check failed") as info:
            assert_jacobian_correct(lambda z: A @ z, wrong, x)
        _check_fields(str(info.value))
        assert re.search(r"worst entry \(\d, \d\) = ∂vec\(f\)\[\d\]/∂vec\(X\)\[\d\]",
                         str(info.value))


def test_jacobian_shape_mismatch_names_both_shapes_and_layouts():
    A = np.arange(6.0).reshape(2, 3)
    X = np.ones((3, 4))
    f = lambda Z: A @ Z  # 2×4 output, Jacobian 8×12
    with pytest.raises(AssertionError, match=r"shape \(12, 8\).*8×12.*transposed"):
        assert_jacobian_correct(f, lambda Z: np.kron(np.eye(4), A).T, X)
    tensor = np.einsum("ik,jl->ijkl", A, np.eye(4))  # out.shape + in.shape layout
    with pytest.raises(AssertionError, match=r"\(2, 4, 3, 4\).*tensor layout"):
        assert_jacobian_correct(f, lambda Z: tensor, X)
    assert_jacobian_correct(f, lambda Z: np.kron(np.eye(4), A), X)  # the right one passes


def test_helpers_refuse_bad_tolerances():
    with pytest.raises(JacobianCalcError, match="rtol"):
        assert_gradient_correct(np.sum, np.ones_like, np.ones(2), rtol=-1.0)
