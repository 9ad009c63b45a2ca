"""The expression API: values, literal Jacobians against finite differences, paths, errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import expit

import jacobian_calc as jc
from jacobian_calc.testing import real_arrays

small = st.integers(1, 4)


def fd(f, X):
    return jc.finite_difference_jacobian(f, X)


# ------------------------------------------------------------------ the names
def test_jacobian_and_derivation_are_the_functions_after_importing_the_submodules():
    import importlib

    importlib.import_module("jacobian_calc.core.jacobian")
    importlib.import_module("jacobian_calc.engine.derivation")
    assert callable(jc.jacobian) and callable(jc.derivation)
    X = jc.var("X", [[1.0, 2.0], [3.0, 4.0]])
    assert jc.jacobian(jc.trace(X), X).shape == (1, 4)
    assert len(jc.derivation(jc.trace(X @ X), X).paths) == 2


def test_jacobian_is_the_function_in_a_fresh_interpreter_that_imports_the_module_first():
    code = ("import jacobian_calc.core.jacobian, jacobian_calc.engine.derivation\n"
            "import jacobian_calc as jc\n"
            "x = jc.var('x', [1.0, 2.0])\n"
            "print(jc.jacobian(jc.sum(x), x).toarray().tolist(), callable(jc.derivation))\n")
    root = Path(__file__).resolve().parents[1]  # the source tree, whatever the caller's cwd
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root)
    assert out.stdout.strip() == "[[1.0, 1.0]] True"


def test_public_names_are_exported():
    for name in ("var", "Expr", "jacobian", "grad", "derivation", "trace", "inv", "det",
                 "logdet", "softmax", "squared_error", "softmax_cross_entropy",
                 "from_tensor_jacobian", "SingularMatrixError"):
        assert name in jc.__all__ and hasattr(jc, name)


# ----------------------------------------------------------------- attributes
def test_attributes_and_read_only_value():
    X = jc.var("X", [[1, 2, 3], [4, 5, 6]])
    assert X.shape == (2, 3) and X.name == "X" and X.value.dtype == np.float64
    with pytest.raises(ValueError):
        X.value[0, 0] = 7.0
    F = jc.sum(X * X)
    assert F.shape == () and float(F.value) == 91.0
    assert F.text == "sum(X ⊙ X)"


def test_intermediate_results_are_named_by_their_expression_and_never_renamed():
    # issue 9, item 9: differentiating does not rename what the user holds, and the
    # derivation writes intermediate results as expressions, not u1, u2.
    A, X = jc.var("A", np.eye(2)), jc.var("X", np.ones((2, 2)))
    B = A @ X
    C = jc.trace(B @ X)
    before = (B.name, C.name)
    jc.jacobian(C, A)
    jc.derivation(C, X)
    assert (B.name, C.name) == before == ("A X", "tr(A X X)")
    d = jc.derivation(C, X)
    assert d.title == "∂tr(A X X)/∂X"
    text = str(d)
    assert "∂vec(A X)/∂vec(X)" in text and "u1" not in text and "u2" not in text
    x = jc.var("x", [1.0, 2.0])
    assert jc.derivation(jc.sum(jc.tanh(x) * x), x).setting[1].startswith(
        "forward: tanh(x) (2), tanh(x) ⊙ x (2), sum(tanh(x) ⊙ x) (scalar)")


def test_a_long_expression_is_written_abridged_but_never_renamed():
    X = jc.var("X", np.eye(2) * 0.5)
    F = X
    for _ in range(12):
        F = F @ X + X
    assert len(F.text) <= 60 and "…" in F.text and F.text.endswith("+ X")
    assert F.name == F.text


def test_named_intermediate_appears_in_the_derivation():
    x = jc.var("x", [1.0, -2.0])
    z = jc.tanh(x).named("z")
    text = str(jc.derivation(jc.sum(z), x))
    assert "z = tanh(x)" in text and "diag(tanh′(x))" in text


def test_names_must_be_identifiers_and_unique():
    with pytest.raises(jc.JacobianCalcError, match="must be an identifier"):
        jc.var("A X", 1.0)
    assert jc.var("u1", 1.0).name == "u1"  # no name is reserved any more
    a, b = jc.var("a", [1.0]), jc.var("a", [2.0])
    with pytest.raises(jc.JacobianCalcError, match="two different nodes are named 'a'"):
        jc.jacobian(a + b, a)


# ------------------------------------------------------------- values and Jacobians
@given(small, small, st.data())
def test_operators_compute_what_numpy_computes(m, n, data):
    Av, Bv = data.draw(real_arrays((m, n))), data.draw(real_arrays((m, n)))
    Cv = data.draw(real_arrays((n, m)))
    A, B, C = jc.var("A", Av), jc.var("B", Bv), jc.var("C", Cv)
    np.testing.assert_allclose((A + B).value, Av + Bv)
    np.testing.assert_allclose((A - B).value, Av - Bv)
    np.testing.assert_allclose((A * B).value, Av * Bv)
    np.testing.assert_allclose((A @ C).value, Av @ Cv)
    np.testing.assert_allclose((-A).value, -Av)
    np.testing.assert_allclose((2.5 * A).value, 2.5 * Av)
    np.testing.assert_allclose((A * 2.5).value, 2.5 * Av)
    np.testing.assert_allclose((A / 4).value, Av / 4)
    np.testing.assert_allclose((A ** 2).value, Av ** 2)
    np.testing.assert_allclose(A.T.value, Av.T)
    np.testing.assert_allclose(jc.sum(A).value, Av.sum())


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(small, small, st.data())
def test_jacobian_of_a_mixed_expression_matches_finite_differences(m, n, data):
    Av, Xv, Bv = (data.draw(real_arrays(s)) for s in ((m, m), (m, n), (m, n)))
    A, X, B = jc.var("A", Av), jc.var("X", Xv), jc.var("B", Bv)
    F = jc.tanh(A @ X) * B - 0.5 * X ** 3 + jc.sigmoid(X).T.T
    J = jc.jacobian(F, X)

    def f(M):
        return np.tanh(Av @ M) * Bv - 0.5 * M ** 3 + expit(M)

    assert J.shape == (m * n, m * n)
    np.testing.assert_allclose(J.toarray(), fd(f, Xv), atol=1e-7)

    def g(M):
        return np.tanh(M @ Xv) * Bv - 0.5 * Xv ** 3 + expit(Xv)

    np.testing.assert_allclose(jc.jacobian(F, A).toarray(), fd(g, Av), atol=1e-7)


@given(small, small, st.data())
def test_grad_of_a_scalar_is_shaped_like_the_variable(m, n, data):
    Xv = data.draw(real_arrays((m, n)))
    Wv = data.draw(real_arrays((n, m)))
    X, W = jc.var("X", Xv), jc.var("W", Wv)
    F = jc.trace(W @ jc.softplus(X)) + jc.sum(jc.exp(X / 2))
    G = jc.grad(F, X)
    assert G.shape == Xv.shape
    expect = Wv.T * expit(Xv) + 0.5 * np.exp(Xv / 2)  # tr(W φ(X)) gives Wᵀ ⊙ φ′(X)
    np.testing.assert_allclose(G, expect, rtol=1e-12, atol=1e-14)


def test_jacobian_with_respect_to_an_unused_variable_is_a_sparse_zero():
    x, y = jc.var("x", [1.0, 2.0]), jc.var("y", [3.0, 4.0, 5.0])
    J = jc.jacobian(jc.tanh(x), y)
    assert J.issparse and J.shape == (2, 3) and J.nnz == 0


def test_jacobian_of_an_expression_with_respect_to_itself_is_the_identity():
    x = jc.var("x", [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(jc.jacobian(x, x).toarray(), np.eye(3))


def test_vector_transpose_is_a_row_and_xt_a_x_has_gradient_a_plus_at_x(rng):
    Av, xv = rng.normal(size=(4, 4)), rng.normal(size=4)
    A, x = jc.var("A", Av), jc.var("x", xv)
    F = x.T @ A @ x
    assert x.T.shape == (1, 4) and F.shape == (1,)
    np.testing.assert_allclose(jc.grad(F, x), (Av + Av.T) @ xv, rtol=1e-12)


def test_a_scalar_variable(rng):
    Xv = rng.normal(size=(2, 3))
    t, X = jc.var("t", 0.7), jc.var("X", Xv)
    # t enters through a Hadamard with a constant matrix of ones is not allowed, so use
    # a function of t alone composed with sum: d/dt sum(exp(t)·1) via power and exp.
    F = jc.exp(t) ** 2 + t
    np.testing.assert_allclose(jc.grad(F, t), 2 * np.exp(1.4) + 1, rtol=1e-12)
    assert jc.grad(F, t).shape == ()
    assert jc.jacobian(jc.sum(X), t).nnz == 0


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(st.integers(2, 5), st.integers(1, 4), st.data())
def test_softmax_is_columnwise_and_its_jacobian_matches_finite_differences(k, n, data):
    Hv = data.draw(real_arrays((k, n)))
    H = jc.var("H", Hv)
    S = jc.softmax(H)
    expect = np.exp(Hv) / np.exp(Hv).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(S.value, expect, rtol=1e-12)
    J = jc.jacobian(S, H)
    assert J.issparse and J.nnz == n * k * k  # block diagonal, one block per column
    np.testing.assert_allclose(J.toarray(),
                               fd(lambda M: np.exp(M) / np.exp(M).sum(axis=0), Hv), atol=1e-8)


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(st.integers(1, 5), st.integers(1, 4), st.data())
def test_losses_match_their_definitions_and_finite_differences(s, n, data):
    Yh, Y = data.draw(real_arrays((s, n))), data.draw(real_arrays((s, n)))
    yhat, y = jc.var("yhat", Yh), jc.var("y", Y, role="target")
    se = jc.squared_error(yhat, y)
    np.testing.assert_allclose(se.value, 0.5 * np.sum((Yh - Y) ** 2), rtol=1e-12)
    np.testing.assert_allclose(jc.grad(se, yhat), Yh - Y, rtol=1e-12, atol=1e-15)
    ce = jc.softmax_cross_entropy(yhat, y)

    def cross_entropy(M):
        logp = M - np.log(np.exp(M).sum(axis=0, keepdims=True))
        return -np.sum(Y * logp)

    np.testing.assert_allclose(ce.value, cross_entropy(Yh), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jc.jacobian(ce, yhat).toarray(), fd(cross_entropy, Yh),
                               atol=1e-7)


def test_bias_add_repeats_the_bias_in_every_column(rng):
    Hv, bv = rng.normal(size=(3, 4)), rng.normal(size=3)
    H, b = jc.var("H", Hv), jc.var("b", bv)
    out = jc.bias_add(H, b)
    np.testing.assert_allclose(out.value, Hv + bv[:, None])
    np.testing.assert_allclose(jc.grad(jc.sum(out * out), b), 2 * (Hv + bv[:, None]).sum(axis=1))


def test_numpy_scalars_multiply_expressions():
    x = jc.var("x", [1.0, 2.0])
    np.testing.assert_allclose((np.float64(3.0) * x).value, [3.0, 6.0])
    np.testing.assert_allclose((x * np.int64(2)).value, [2.0, 4.0])


# --------------------------------------------------------------- several paths
@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(small, st.data())
def test_residual_connection_sums_the_identity_path_and_the_branch(n, data):
    Wv, xv = data.draw(real_arrays((n, n))), data.draw(real_arrays((n,)))
    W, x = jc.var("W", Wv), jc.var("x", xv)
    F = x + jc.tanh(W @ x)
    expect = np.eye(n) + np.diag(1 - np.tanh(Wv @ xv) ** 2) @ Wv  # I + diag(φ′) W
    np.testing.assert_allclose(jc.jacobian(F, x).toarray(), expect, rtol=1e-12, atol=1e-14)
    d = jc.derivation(F, x)
    assert len(d.paths) == 2
    # the skip path is the single factor I; the branch is diag(tanh′) · W
    by_length = sorted(d.paths, key=len)
    assert [f.label for f in by_length[0]] == [f"I{jc.core.notation.subscript(n)}"]
    labels = [f.label for f in by_length[1]]
    assert len(labels) == 3 and labels[0].startswith("I") and labels[2] == "W"
    assert labels[1].startswith("diag(tanh′(")


def test_shared_weight_gets_the_sum_over_both_uses(rng):
    Wv, xv = rng.normal(size=(3, 3)), rng.normal(size=3)
    W, x = jc.var("W", Wv), jc.var("x", xv)
    F = jc.sum(W @ jc.tanh(W @ x))

    def f(M):
        return np.sum(M @ np.tanh(M @ xv))

    np.testing.assert_allclose(jc.grad(F, W), fd(f, Wv).reshape(3, 3, order="F"), atol=1e-8)
    h = np.tanh(Wv @ xv)
    outer = np.outer(np.ones(3), h)  # the outer use: ∂/∂W of 1ᵀ W h is 1 hᵀ
    inner = np.outer((1 - h ** 2) * (Wv.T @ np.ones(3)), xv)  # the inner use, eq (32) style
    np.testing.assert_allclose(jc.grad(F, W), outer + inner, rtol=1e-12)


@given(small, small, st.data())
def test_x_twice_in_a_x_xt_gives_a_plus_at_times_x(m, n, data):
    Av, Xv = data.draw(real_arrays((m, m))), data.draw(real_arrays((m, n)))
    A, X = jc.var("A", Av), jc.var("X", Xv)
    F = jc.trace(A @ X @ X.T)
    np.testing.assert_allclose(jc.grad(F, X), (Av + Av.T) @ Xv, rtol=1e-12, atol=1e-13)


def test_derivation_shows_each_path_its_factors_shapes_value_and_the_sum(rng):
    Av, Xv = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    A, X = jc.var("A", Av), jc.var("X", Xv)
    F = jc.trace(A @ X @ X.T)
    d = jc.derivation(F, X)
    text = str(d)
    assert len(d.paths) == 2
    assert "path 1 of 2" in text and "path 2 of 2" in text
    assert "is the sum of these 2 paths" in text
    assert "I₂⊗A" in text and "K₃,₂" in text  # the factor of each path through X
    assert text.count("dimension check: (1×9)·(9×6)·(6×6) → 1×6") == 2
    # each path's share: vec((AXXᵀ)'s two terms) — AᵀX... via the two closed forms
    shares = sorted(tuple(np.round(v.toarray().ravel(), 10)) for v in d.path_values)
    expect = sorted(tuple(np.round(jc.vec(G).ravel(), 10)) for G in (Av.T @ Xv, Av @ Xv))
    assert shares == expect
    np.testing.assert_allclose(d.gradient, (Av + Av.T) @ Xv, rtol=1e-12)


def test_same_node_used_as_both_arguments_is_two_paths(rng):
    Xv = rng.normal(size=(3, 3))
    X = jc.var("X", Xv)
    d = jc.derivation(jc.sum(X * X), X)
    assert len(d.paths) == 2
    assert [p[-1].label for p in d.paths] == ["diag(vec(X))", "diag(vec(X))"]
    np.testing.assert_allclose(d.gradient, 2 * Xv)


# -------------------------------------------------------------------- errors
def test_matmul_error_names_both_operands_and_shapes():
    A, X = jc.var("A", np.ones((3, 4))), jc.var("X", np.ones((5, 2)))
    with pytest.raises(jc.ShapeError) as err:
        A @ X
    assert str(err.value) == "A X: A is 3×4 but X is 5×2; inner sizes 4 ≠ 5"
    x = jc.var("x", np.ones(3))
    with pytest.raises(jc.ShapeError, match=r"left factor x must be a matrix.*vector of length 3"):
        x @ A


def test_elementwise_shape_errors_name_both_operands():
    A, B = jc.var("A", np.ones((3, 4))), jc.var("B", np.ones((4, 3)))
    for op, sym in ((lambda a, b: a + b, "\\+"), (lambda a, b: a - b, "−"),
                    (lambda a, b: a * b, "⊙")):
        with pytest.raises(jc.ShapeError, match=rf"A {sym} B: A is 3×4 but B is 4×3"):
            op(A, B)
    with pytest.raises(jc.ShapeError, match=r"\(A Aᵀ\) ⊙ B: A Aᵀ is 3×3 but B is 4×3"):
        (A @ A.T) * B


def test_non_expression_operands_are_refused_with_a_hint():
    x = jc.var("x", [1.0, 2.0])
    with pytest.raises(jc.JacobianCalcError, match=r"wrap constants with jc.var"):
        x + 1.0
    with pytest.raises(jc.JacobianCalcError, match=r"ndarray"):
        np.ones((2, 2)) @ x
    with pytest.raises(jc.JacobianCalcError, match="exponent must be a Python number"):
        x ** x
    with pytest.raises(jc.JacobianCalcError, match="division by a Python number"):
        x / x
    with pytest.raises(jc.JacobianCalcError, match="takes expressions"):
        jc.trace(np.eye(2))


def test_singular_matrix_errors():
    S = jc.var("S", [[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(jc.SingularMatrixError, match=r"S⁻¹: S is singular \(condition number"):
        jc.inv(S)
    with pytest.raises(jc.SingularMatrixError, match=r"log\|det\(S\)\|: S is singular"):
        jc.logdet(S)
    assert isinstance(jc.SingularMatrixError("x"), ValueError)
    # det of a singular matrix is fine, and so is its derivative (the cofactor matrix)
    np.testing.assert_allclose(jc.grad(jc.det(S), S), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)


def test_domain_and_square_errors():
    X = jc.var("X", [[1.0, -1.0], [0.0, 2.0]])
    with pytest.raises(jc.DomainError, match=r"log\(X\): X has 2 non-positive entries"):
        jc.log(X)
    with pytest.raises(jc.DomainError, match="non-integer power"):
        X ** 0.5
    R = jc.var("R", np.ones((2, 3)))
    for fn in (jc.trace, jc.inv, jc.det, jc.logdet):
        with pytest.raises(jc.ShapeError, match=r"R must be a square matrix, but it is 2×3"):
            fn(R)
    with pytest.raises(jc.DomainError, match="not finite"):
        jc.exp(jc.var("big", [1000.0]))


def test_grad_of_a_non_scalar_says_to_use_jacobian():
    X = jc.var("X", np.ones((2, 3)))
    with pytest.raises(jc.ShapeError, match=r"grad\(F, X\) needs a scalar F.*2×3.*jc.jacobian"):
        jc.grad(jc.tanh(X), X)


def test_loss_and_bias_shape_errors():
    a, b = jc.var("a", np.ones(3)), jc.var("b", np.ones(2))
    with pytest.raises(jc.ShapeError, match=r"½‖a − b‖²: a is a vector of length 3 "
                                            r"but b is a vector of length 2"):
        jc.squared_error(a, b)
    H = jc.var("H", np.ones((2, 5)))
    with pytest.raises(jc.ShapeError, match=r"bias a must be a vector with one entry per row of H"):
        jc.bias_add(H, a)


def test_unknown_function_names_list_the_choices():
    with pytest.raises(jc.ChoiceError, match="valid choices are: .*'matmul'"):
        jc.engine.graph.apply("nope", name="z")
    assert set(jc.FUNCTIONS) >= {"sigmoid", "tanh", "relu", "softplus", "exp", "log", "sum",
                                 "trace", "inv", "det", "logdet", "softmax"}


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(st.integers(1, 4), st.data())
def test_inverse_and_logdet_jacobians_match_finite_differences(n, data):
    Xv = data.draw(real_arrays((n, n)))
    assume(np.linalg.svd(Xv, compute_uv=False).min() > 0.2)  # FD steps stay small
    X = jc.var("X", Xv)
    np.testing.assert_allclose(jc.jacobian(jc.inv(X), X).toarray(), fd(np.linalg.inv, Xv),
                               rtol=1e-5, atol=1e-6 * np.abs(np.linalg.inv(Xv)).max() ** 2)
    np.testing.assert_allclose(jc.grad(jc.logdet(X), X), np.linalg.inv(Xv).T, rtol=1e-10,
                               atol=1e-12)


def test_a_residual_stack_with_many_paths_still_derives_and_sums(rng):
    Ws = [rng.normal(size=(3, 3)) / 2 for _ in range(5)]
    xv = rng.normal(size=3)
    x = jc.var("x", xv)
    z = x
    for k, W in enumerate(Ws):
        z = z + jc.tanh(jc.var(f"W{k}", W) @ z)  # each block doubles the paths from x
    F = jc.sum(z)
    d = jc.derivation(F, x)
    assert len(d.paths) == 2 ** 5 and d.path_values == []  # too many to print one by one
    assert "is the sum of these 32 paths" in str(d)

    def f(v):
        for W in Ws:
            v = v + np.tanh(W @ v)
        return np.sum(v)

    np.testing.assert_allclose(jc.grad(F, x), fd(f, xv)[0], atol=1e-8)


def test_derivation_of_a_variable_by_itself_is_the_identity():
    X = jc.var("X", np.arange(6.0).reshape(2, 3))
    d = jc.derivation(X, X)
    np.testing.assert_array_equal(d.result.toarray(), np.eye(6))
    assert d.paths == [] and any("identity I_6" in note for note in d.notes)
    assert "I_6" in d.to_text()
    json.dumps(d.to_dict())


@given(st.integers(1, 5), st.integers(1, 5), st.data())
def test_a_vector_times_a_row_is_the_outer_product(n, m, data):
    # vectors are columns (eq 6): x @ yᵀ = x yᵀ, with ∂vec/∂x = y⊗I_n and ∂vec/∂y = I_m⊗x…
    xv, yv = data.draw(real_arrays((n,))), data.draw(real_arrays((m,)))
    x, y = jc.var("x", xv), jc.var("y", yv)
    O = x @ y.T
    np.testing.assert_array_equal(O.value, np.outer(xv, yv))
    np.testing.assert_allclose(jc.jacobian(O, x).toarray(), np.kron(yv[:, None], np.eye(n)),
                               rtol=1e-15)
    # …the second through the transpose's commutation matrix: I_m ⊗ x in vec(yᵀ) = y order
    np.testing.assert_allclose(jc.jacobian(O, y).toarray(), np.kron(np.eye(m), xv[:, None]),
                               rtol=1e-15)


@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_a_scalar_expression_scales_a_matrix(m, n, data):
    Xv = data.draw(real_arrays((m, n)))
    cv = data.draw(st.floats(-3, 3, allow_nan=False))
    X, c = jc.var("X", Xv), jc.var("c", cv)
    F = jc.sum(X) * X  # the scalar is itself a function of X: two paths
    np.testing.assert_allclose(F.value, Xv.sum() * Xv, rtol=1e-15)
    expected = Xv.sum() * np.eye(m * n) + jc.vec(Xv) @ np.ones((1, m * n))
    np.testing.assert_allclose(jc.jacobian(F, X).toarray(), expected, rtol=1e-12, atol=1e-12)
    G = c * X
    np.testing.assert_allclose(jc.jacobian(G, c).toarray(), jc.vec(Xv), rtol=1e-15)
    np.testing.assert_allclose(jc.jacobian(G, X).toarray(), cv * np.eye(m * n), rtol=1e-15)


def test_the_star_import_shadows_no_builtin_and_no_math_function():
    import builtins
    import math

    namespace: dict = {}
    exec("from jacobian_calc import *", namespace)
    imported = set(namespace) - {"__builtins__"}
    assert not imported & set(dir(builtins)), imported & set(dir(builtins))
    assert not imported & {"exp", "log", "tanh"} and not imported & set(dir(math))
    assert {"trace", "inv", "sigmoid", "var", "jacobian"} <= imported
    assert jc.sum is jc.FUNCTIONS["sum"] and jc.exp is jc.FUNCTIONS["exp"]  # still reachable
