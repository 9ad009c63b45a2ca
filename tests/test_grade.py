"""The grader (jacobian_calc.testing.diagnose): every mistake class named on a planted
example, right answers written another way never misdiagnosed, unrelated wrong answers
never given a name, the worst direction, the display and the errors.

The planted answers and the right ones are written here by hand, from the closed forms of
the lecture and the classic identities (vec(AXB) = (Bᵀ ⊗ A) vec X, the cyclic rule of the
trace), never from the library's literal chain that the grader compares them with.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.core.errors import ChoiceError, ExpressionSyntaxError, JacobianCalcError, \
    ShapeError
from jacobian_calc.front import grade
from jacobian_calc.render.latex import check_latex
from jacobian_calc.testing import MISTAKES, Diagnosis, diagnose

AXB = {"A": (3, 4), "X": (4, 5), "B": (5, 3)}
SQUARE = {"A": (3, 3), "X": (3, 3)}
KRON = {"A": (2, 3), "X": (3, 4), "B": (4, 2)}
NET = "squared_error(W3 @ sigmoid(W2 @ sigmoid(W1 @ x)), y)"
NET_SHAPES = {"W1": (5, 4), "W2": (3, 5), "W3": (2, 3), "x": (4,), "y": (2,)}


def named(claim, truth, wrt="X", shapes=AXB, **kw) -> Diagnosis:
    d = diagnose(claim, truth, wrt=wrt, shapes=shapes, **kw)
    assert d.verdict == "wrong", d.to_text()
    return d


def sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


# --------------------------------------------------------- planted mistakes: gradients
@pytest.mark.parametrize("claim, truth, shapes, mistake, factor", [
    ("-A.T @ B.T", "trace(A @ X @ B)", AXB, "sign", -1.0),
    ("2 * A.T @ B.T", "trace(A @ X @ B)", AXB, "factor", 2.0),
    ("A.T @ B.T / 2", "trace(A @ X @ B)", AXB, "factor", 0.5),
    ("0.37 * A.T @ B.T", "trace(A @ X @ B)", AXB, "factor", 0.37),   # the factor found
    ("1.000001 * A.T @ B.T", "trace(A @ X @ B)", AXB, "factor", 1.000001),  # beyond rounding
    ("B @ A", "trace(A @ X @ B)", AXB, "transposed", None),          # 5×4 for a 4×5 X
    ("A @ X", "trace(X.T @ A @ X)", SQUARE, "missing_symmetrisation", None),
    ("A.T @ X", "trace(X.T @ A @ X)", SQUARE, "missing_symmetrisation", None),
    ("2 * A @ X", "trace(X.T @ A @ X)", SQUARE, "missing_symmetrisation", 2.0),
    ("A.T", "trace(A @ X) + trace(X @ A @ A)", SQUARE, "missing_term", None),
])
def test_a_planted_gradient_mistake_is_named(claim, truth, shapes, mistake, factor):
    d = named(claim, truth, shapes=shapes)
    assert d.mistake == mistake, d.to_text()
    assert d.factor == (factor if factor is None else pytest.approx(factor, rel=1e-12))
    assert d.matches[0].mistake == mistake and d.matches[0].holds
    assert d.message and MISTAKES[mistake]


def test_two_mistakes_at_once_are_not_given_one_name():
    # (AᵀX)ᵀ = XᵀA is the transpose of one term of (A + Aᵀ)X: no single reading holds
    d = named("X.T @ A", "trace(X.T @ A @ X)", shapes=SQUARE)
    assert d.mistake is None and d.matches == ()


def test_transposed_is_found_numerically_for_a_square_variable():
    d = named("A @ X + X @ A", "trace(A @ X @ X)", shapes=SQUARE)  # ∂tr(AXX)/∂X = (AX + XA)ᵀ
    assert d.mistake == "transposed" and d.claimed_shape == d.expected_shape == (3, 3)
    assert "transpose" in d.message


def test_the_factor_found_is_shown_with_its_digits():
    assert "1.000001 × the true derivative" in named("1.000001 * A.T @ B.T",
                                                     "trace(A @ X @ B)").message
    assert "1/3 × the true derivative" in named("A.T @ B.T / 3", "trace(A @ X @ B)").message


def test_a_sign_on_top_of_a_transpose_is_both():
    d = named("-B @ A", "trace(A @ X @ B)")
    assert d.mistake == "transposed" and d.factor == -1.0
    assert "wrong sign" in d.message


def test_the_symmetric_shortcut_2AX_is_explained():
    d = named("2 * A @ X", "trace(X.T @ A @ X)", shapes=SQUARE)
    assert "symmetric" in d.message and "(A + Aᵀ)X" in d.message


def test_a_vector_quadratic_form_misses_its_symmetrisation():
    d = named("A @ x", "x.T @ A @ x", wrt="x", shapes={"A": (4, 4), "x": (4,)})
    assert d.mistake == "missing_symmetrisation"


@pytest.mark.parametrize("layout, claim, words", [
    ("matrix", "(A.T @ (1 - tanh(A @ x) ** 2)).T", "row"),     # a row for a column
    ("column", "(A.T @ (1 - tanh(A @ x) ** 2)).T", "row"),
    ("row", "A.T @ (1 - tanh(A @ x) ** 2)", "column"),          # a column for a row
])
def test_a_gradient_in_the_other_layout_is_named(layout, claim, words):
    d = named(claim, "sum(tanh(A @ x))", wrt="x", shapes={"A": (3, 4), "x": (4,)},
              layout=layout)
    assert d.mistake == "layout" and words in d.message


def test_the_right_layout_is_correct_in_each_convention():
    shapes = {"A": (3, 4), "x": (4,)}
    column = "A.T @ (1 - tanh(A @ x) ** 2)"
    for layout, claim in [("matrix", column), ("column", column), ("row", f"({column}).T")]:
        d = diagnose(claim, "sum(tanh(A @ x))", wrt="x", shapes=shapes, layout=layout)
        assert d.correct, d.to_text()


def test_vec_of_a_matrix_gradient_is_a_layout_mistake():
    assert named("vec(A.T @ B.T)", "trace(A @ X @ B)").mistake == "layout"
    assert named("vec(A.T @ B.T).T", "trace(A @ X @ B)").mistake == "layout"
    assert diagnose("vec(A.T @ B.T)", "trace(A @ X @ B)", wrt="X", shapes=AXB,
                    layout="column").correct


def test_a_column_stacked_vec_reshaped_row_by_row_is_a_row_stacked_vec():
    def reshaped(A, B):  # numpy's default reshape of a correct vec: order="C"
        return (A.T @ B.T).reshape(-1, order="F").reshape(4, 5)
    d = named(reshaped, "trace(A @ X @ B)")
    assert d.mistake == "row_stacked_vec" and "order='F'" in d.message
    row = named("vec((A.T @ B.T).T).T", "trace(A @ X @ B)", layout="row")  # C-order row
    assert row.mistake == "row_stacked_vec"


# --------------------------------------------------------- planted mistakes: Jacobians
@pytest.mark.parametrize("claim, mistake", [
    ("-kron(B.T, A)", "sign"),
    ("3 * kron(B.T, A)", "factor"),
    ("kron(B, A.T)", "layout"),                          # Jᵀ: the denominator layout
    ("kron(A, B.T)", "kronecker_swapped"),
    ("commutation(2, 2) @ kron(B.T, A)", "row_stacked_vec"),    # vec(F) row by row
    ("kron(B.T, A) @ commutation(3, 4).T", "row_stacked_vec"),  # vec(X) row by row
])
def test_a_planted_jacobian_mistake_is_named(claim, mistake):
    d = named(claim, "A @ X @ B", shapes=KRON)
    assert d.mistake == mistake, d.to_text()
    assert d.kind == "jacobian" and d.expected_shape == (4, 12)


def test_swapped_kronecker_factors_are_the_jacobian_with_both_vecs_row_stacked():
    # Why both names hold: K_F (Bᵀ ⊗ A) K_Xᵀ = A ⊗ Bᵀ, checked here with dense matrices.
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((4, 2))
    KF, KX = jc.commutation_matrix(2, 2).toarray(), jc.commutation_matrix(3, 4).toarray()
    np.testing.assert_allclose(KF @ np.kron(B.T, A) @ KX.T, np.kron(A, B.T), atol=1e-14)
    d = named("kron(A, B.T)", "A @ X @ B", shapes=KRON)
    assert [m.mistake for m in d.matches] == ["kronecker_swapped", "row_stacked_vec"]
    assert "row by row" in d.message


def test_the_weight_factor_of_eq_22_swapped():
    # ∂(W x)/∂vec(W) = xᵀ ⊗ I_p (eq 22); I_p ⊗ xᵀ is the classic swap
    shapes = {"W": (3, 4), "x": (4,)}
    assert diagnose("kron(x.T, eye(3))", "W @ x", wrt="W", shapes=shapes).correct
    d = named("kron(eye(3), x.T)", "W @ x", wrt="W", shapes=shapes)
    assert d.mistake == "kronecker_swapped"


def test_the_jax_tensor_layout_is_named():
    def tensor(A, X):  # T[i, j, k, l] = ∂(AX)[i, j]/∂X[k, l] = A[i, k] δ[j, l]
        return np.einsum("ik,jl->ijkl", A, np.eye(X.shape[1]))
    d = named(tensor, "A @ X", shapes={"A": (2, 3), "X": (3, 4)})
    assert d.mistake == "tensor_layout" and d.claimed_shape == (2, 4, 3, 4)


def test_the_jacobian_of_a_vector_function_transposed_is_a_layout_mistake():
    d = named("A", "A.T @ x", wrt="x", shapes={"A": (4, 4), "x": (4,)})
    assert d.mistake == "layout" and "denominator" in d.message


# ------------------------------------------------------------- a missing φ′ factor
def _network_claims(W1, W2, W3, x, y, prime=True):
    """∂f/∂W2 of the lecture network, eq (32), written with numpy; prime=False drops φ′."""
    z1 = sigmoid(W1 @ x)
    z2 = sigmoid(W2 @ z1)
    delta = W3.T @ (W3 @ z2 - y)
    if prime:
        delta = delta * z2 * (1 - z2)
    return np.outer(delta, z1)


def test_the_lecture_network_W2_gradient_without_phi_prime_is_named():
    right = lambda W1, W2, W3, x, y: _network_claims(W1, W2, W3, x, y)  # noqa: E731
    assert diagnose(right, NET, wrt="W2", shapes=NET_SHAPES).correct
    dropped = lambda W1, W2, W3, x, y: _network_claims(W1, W2, W3, x, y, prime=False)  # noqa: E731
    d = named(dropped, NET, wrt="W2", shapes=NET_SHAPES)
    assert d.mistake == "missing_factor" and d.factor is None
    assert "φ′" in d.message and "sigmoid" in d.message and "eq 29" in d.message


def test_the_same_mistake_written_as_text():
    z1 = "sigmoid(W1 @ x)"
    z2 = f"sigmoid(W2 @ {z1})"
    d = named(f"(W3.T @ (W3 @ {z2} - y)) @ {z1}.T", NET, wrt="W2", shapes=NET_SHAPES)
    assert d.mistake == "missing_factor"


def test_a_missing_phi_prime_in_a_jacobian():
    # ∂vec(tanh(AX))/∂vec(X) = diag(1 − tanh²) (I ⊗ A); the student kept only I ⊗ A
    d = named("kron(eye(2), A)", "tanh(A @ X)", shapes={"A": (3, 3), "X": (3, 2)})
    assert d.mistake == "missing_factor" and "tanh" in d.message


def test_the_teachers_own_mistake_for_a_function_truth():
    # the truth as a function (the compact formulas of jc.MLP), the mistake planted by name
    def truth(W1, W2, W3, x, y):
        net = jc.MLP([W1, W2, W3], activation="sigmoid", loss="squared_error")
        return net.gradients(x, y, method="backprop")["W2"]

    def no_prime(W1, W2, W3, x, y):
        return _network_claims(W1, W2, W3, x, y, prime=False)

    d = named(no_prime, truth, wrt="W2", shapes=NET_SHAPES,
              mistakes={"σ′ forgotten": no_prime})
    assert d.mistake == "σ′ forgotten"


# ----------------------------------------------- right answers written another way
@st.composite
def trace_problems(draw):
    """tr(T₁ ⋯ T_r) with X (or Xᵀ) once or twice among constant matrices, and its gradient
    by the cyclic rule: Σ over the occurrences of X of (the rest of the cycle)ᵀ, and of
    Xᵀ of the rest of the cycle — a formula the literal chain never writes."""
    p, q = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    start = draw(st.integers(1, 4))
    kinds = draw(st.lists(st.sampled_from(["X", "XT", "C"]), min_size=1, max_size=4))
    if not any(k != "C" for k in kinds):
        kinds.append("X")
    kinds = [k for i, k in enumerate(kinds) if k == "C" or sum(j != "C" for j in kinds[:i]) < 2]
    tokens, shapes, cur = [], {"X": (p, q)}, start

    def constant(rows, cols):
        name = f"C{len(shapes)}"
        shapes[name] = (rows, cols)
        tokens.append(name)

    for k in kinds:
        if k == "C":
            nxt = draw(st.integers(1, 4))
            constant(cur, nxt)
            cur = nxt
            continue
        rows, cols = (p, q) if k == "X" else (q, p)
        if cur != rows:
            constant(cur, rows)
        tokens.append("X" if k == "X" else "X.T")
        cur = cols
    if cur != start:
        constant(cur, start)
    terms = []
    for i, t in enumerate(tokens):
        if t not in ("X", "X.T"):
            continue
        rest = tokens[i + 1:] + tokens[:i]
        product = " @ ".join(rest) if rest else f"eye({p})"
        terms.append(f"({product}).T" if t == "X" else f"({product})")
    return f"trace({' @ '.join(tokens)})", " + ".join(terms), shapes


@given(trace_problems(), st.integers(0, 2**16))
def test_a_right_trace_gradient_is_never_misdiagnosed(problem, seed):
    truth, gradient, shapes = problem
    d = diagnose(gradient, truth, wrt="X", shapes=shapes, seed=seed)
    assert d.correct, (truth, gradient, d.to_text())
    assert d.mistake is None and d.difference <= grade.RTOL


@st.composite
def product_problems(draw):
    """L X R or L Xᵀ R (either side may be missing) and its Jacobian, Rᵀ ⊗ L with a
    commutation matrix for Xᵀ (vec(L Xᵀ R) = (Rᵀ ⊗ L) K vec X)."""
    p, q = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    transposed = draw(st.booleans())
    rows, cols = (q, p) if transposed else (p, q)
    shapes = {"X": (p, q)}
    left, right = f"eye({rows})", f"eye({cols})"
    text = "X.T" if transposed else "X"
    if draw(st.booleans()):
        shapes["L"] = (draw(st.integers(1, 4)), rows)
        text, left = f"L @ {text}", "L"
    if draw(st.booleans()):
        shapes["R"] = (cols, draw(st.integers(1, 4)))
        text, right = f"{text} @ R", "R"
    J = f"kron({right}.T, {left})" + (f" @ commutation({p}, {q})" if transposed else "")
    size = shapes.get("L", (rows,))[0] * shapes.get("R", (0, cols))[1]
    # a 1×1 F is a scalar: its Jacobian is the row gradient (eq 1)
    return text, J, shapes, "row" if size == 1 else "matrix"


@given(product_problems(), st.integers(0, 2**16))
def test_a_right_kronecker_jacobian_is_never_misdiagnosed(problem, seed):
    truth, J, shapes, layout = problem
    d = diagnose(J, truth, wrt="X", shapes=shapes, seed=seed, layout=layout)
    assert d.correct, (truth, J, d.to_text())


@pytest.mark.parametrize("truth, claim, shapes", [
    ("sum(tanh(A @ X))", "A.T @ (1 - tanh(A @ X) ** 2)", {"A": (3, 2), "X": (2, 4)}),
    ("logdet(X)", "inv(X).T", {"X": (4, 4)}),
    ("det(X)", "det(X) * inv(X).T", {"X": (3, 3)}),
    ("trace(A @ inv(X))", "-(inv(X) @ A @ inv(X)).T", {"A": (3, 3), "X": (3, 3)}),
    ("squared_error(W @ x, y)", "(W @ x - y) @ x.T", {"W": (2, 3), "x": (3,), "y": (2,)}),
    ("softmax_cross_entropy(W @ x, y)", "(softmax(W @ x) * sum(y) - y) @ x.T",
     {"W": (3, 2), "x": (2,), "y": (3,)}),
    ("inv(X)", "-kron(inv(X).T, inv(X))", {"X": (3, 3)}),
    ("X @ X", "kron(eye(3), X) + kron(X.T, eye(3))", {"X": (3, 3)}),
    ("X.T", "commutation(2, 3)", {"X": (2, 3)}),
])
def test_classic_identities_are_correct(truth, claim, shapes):
    d = diagnose(claim, truth, wrt="X" if "X" in shapes else "W", shapes=shapes)
    assert d.correct, d.to_text()


# -------------------------------------------------- unrelated wrong answers: no name
@given(trace_problems(), st.sampled_from(["({g}) * (1 + 0.01 * E)", "E", "({g}) * E"]),
       st.integers(0, 2**16))
def test_an_unrelated_wrong_answer_gets_no_name(problem, form, seed):
    truth, gradient, shapes = problem
    # E is independent noise, drawn afresh on every instance; a relative perturbation of
    # 1% entry by entry is far beyond rounding whatever the gradient's scale
    shapes = {**shapes, "E": shapes["X"]}
    d = diagnose(form.format(g=gradient), truth, wrt="X", shapes=shapes, seed=seed)
    assert d.verdict == "wrong" and d.mistake is None and d.matches == (), d.to_text()
    assert d.worst is not None and d.worst_entry is not None  # reported, as assertions do


@given(trace_problems(), st.sampled_from([(-1.0, "sign"), (2.5, "factor"), (1 / 3, "factor")]),
       st.integers(0, 2**16))
def test_a_planted_sign_or_factor_is_named_on_any_problem(problem, planted, seed):
    truth, gradient, shapes = problem
    c, mistake = planted
    d = diagnose(f"{c!r} * ({gradient})", truth, wrt="X", shapes=shapes, seed=seed)
    assert d.mistake == mistake and d.factor == pytest.approx(c, rel=1e-12), d.to_text()


def test_a_wrong_jacobian_with_no_name_reports_the_worst_direction():
    d = named("diag(softmax(h))", "softmax(h)", wrt="h", shapes={"h": (4,)})
    assert d.mistake is None
    # Softmax's Jacobian is symmetric, so Jᵀ cannot be told from J: "layout" is skipped.
    assert "layout" not in {h.mistake for h in d.tried}
    assert d.worst is not None and not d.worst.ok
    assert "Worst direction" in d.to_text() and "Gâteaux derivative" in d.to_text()


def test_a_zero_answer_is_wrong_and_unnamed():
    d = named("0 * X", "trace(A @ X @ B)")
    assert d.mistake is None and d.matches == ()


# ------------------------------------------------- the worst direction and entry
def test_the_worst_direction_and_entry_are_the_true_values():
    drawn = []

    def sample(rng):  # records the instances, so the closed form AᵀBᵀ can be taken here
        values = {n: rng.standard_normal((3, 3)) for n in "AXB"}
        drawn.append(values)
        return values

    shapes = {"A": (3, 3), "X": (3, 3), "B": (3, 3)}
    d = named("B @ A + 0.5", "trace(A @ X @ B)", shapes=shapes, sample=sample)
    assert len(drawn) == 3
    A, B = drawn[0]["A"], drawn[0]["B"]  # the worst direction is taken on instance 0
    G, C = A.T @ B.T, B @ A + 0.5
    w = d.worst.worst
    V = w["V"]
    assert np.sum(G * V) == pytest.approx(float(w["numeric"][0]), rel=1e-6)  # Gâteaux ≈ ⟨G, V⟩
    assert np.sum(C * V) == pytest.approx(float(w["analytic"][0]), rel=1e-12)
    e = d.worst_entry
    i, j = np.unravel_index(e["column"], (3, 3), order="F")
    assert (e["true"], e["claimed"]) == (pytest.approx(G[i, j]), pytest.approx(C[i, j]))
    assert abs(C - G)[i, j] == pytest.approx(np.max(np.abs(C - G)))
    assert e["where"] == f"X[{i}, {j}]"


def test_a_function_truth_without_f_compares_directions_with_the_truth_itself():
    truth = lambda A, B: A.T @ B.T  # noqa: E731
    d = named("B @ A", truth, shapes={"A": (3, 3), "X": (3, 3), "B": (3, 3)})
    assert d.mistake == "transposed" and "no function F was given" in d.to_text()
    f = lambda A, X, B: np.trace(A @ X @ B)  # noqa: E731
    d2 = named("B @ A", truth, shapes={"A": (3, 3), "X": (3, 3), "B": (3, 3)}, function=f)
    assert "no function F" not in d2.to_text()
    assert d2.worst.worst["numeric"][0] == pytest.approx(d.worst.worst["numeric"][0], rel=1e-6)


def test_the_same_seed_gives_the_same_diagnosis_and_another_seed_other_data():
    shapes = {"A": (3, 3), "X": (3, 3), "B": (3, 3)}
    a = named("B @ A", "trace(A @ X @ B)", shapes=shapes, seed=7)
    b = named("B @ A", "trace(A @ X @ B)", shapes=shapes, seed=7)
    c = named("B @ A", "trace(A @ X @ B)", shapes=shapes, seed=8)
    assert a.to_dict() == b.to_dict()
    assert a.mistake == c.mistake == "transposed"
    assert a.worst_entry["true"] != c.worst_entry["true"]


# ------------------------------------------------------------------- other inputs
def test_a_callable_candidate_is_called_with_the_variables_it_names():
    calls = []

    def grad(B, A):  # any order, a subset of the declared variables
        calls.append(sorted(["A", "B"]) if A.shape == (3, 4) and B.shape == (5, 3) else None)
        return A.T @ B.T

    assert diagnose(grad, "trace(A @ X @ B)", wrt="X", shapes=AXB, instances=2).correct
    assert calls == [["A", "B"], ["A", "B"]]


def test_sample_draws_the_values_and_can_stand_for_shapes():
    def sample(rng):
        raw = rng.uniform(0.1, 1.0, 3)
        return {"W": rng.standard_normal((3, 2)), "x": rng.standard_normal(2),
                "y": raw / raw.sum()}

    truth = "softmax_cross_entropy(W @ x, y)"
    # right only when y sums to 1, as the sample guarantees
    assert diagnose("(softmax(W @ x) - y) @ x.T", truth, wrt="W", sample=sample).correct
    # drawn without sample=, the target of a cross-entropy is a probability vector too
    assert diagnose("(softmax(W @ x) - y) @ x.T", truth, wrt="W",
                    shapes={"W": (3, 2), "x": (2,), "y": (3,)}).correct

    def unnormalised(rng):
        return {"W": rng.standard_normal((3, 2)), "x": rng.standard_normal(2),
                "y": rng.uniform(0.1, 1.0, 3)}

    assert not diagnose("(softmax(W @ x) - y) @ x.T", truth, wrt="W",
                        sample=unnormalised).correct


def test_an_answer_given_as_a_jacobian_or_sparse_matrix_is_read_as_its_matrix():
    import scipy.sparse as sp

    def as_jacobian(A, X):  # I ⊗ A, wrapped as a Jacobian value
        return jc.Jacobian(np.kron(np.eye(X.shape[1]), A), of="F", wrt="X", of_shape=(2, 4),
                           wrt_shape=X.shape)

    shapes = {"A": (2, 3), "X": (3, 4)}
    assert diagnose(as_jacobian, "A @ X", wrt="X", shapes=shapes).correct
    sparse = lambda A: sp.kron(sp.eye(4), sp.csr_array(A))  # noqa: E731
    assert diagnose(sparse, "A @ X", wrt="X", shapes=shapes).correct


def test_non_finite_or_shape_changing_answers_are_wrong():
    d = named(lambda A, B: np.full((4, 5), np.nan), "trace(A @ X @ B)")
    assert "not finite" in d.message
    sizes = iter([(4, 5), (5, 4), (4, 5)])
    d = named(lambda A, B: np.zeros(next(sizes)), "trace(A @ X @ B)")
    assert "changes shape" in d.message


def test_a_wrong_shape_that_matches_nothing_says_so():
    d = named("A @ A.T", "trace(A @ X @ B)")
    assert d.mistake is None and "Wrong shape: your answer is 3×3" in d.message
    assert d.worst is None


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(layout="rows"), ChoiceError, "layout"),
    (dict(wrt="Z"), JacobianCalcError, "wrt 'Z' is not a declared variable"),
    (dict(instances=0), JacobianCalcError, "instances must be an int between 1 and 100"),
    (dict(rtol=0.5), JacobianCalcError, "rtol must be a number in (0, 0.01)"),
    (dict(claim="A.T @ Y"), ExpressionSyntaxError, "the claimed answer: unknown name"),
    (dict(claim="A.T @ B"), ShapeError, "the claimed answer: A.T @ B: the operands do not "
                                        "fit (4×3 and 5×3)"),
    (dict(truth="trace(A @ X"), ExpressionSyntaxError, "the expression: syntax error"),
    (dict(truth="trace(A @ B)"), ShapeError, "the expression: A B: A is 3×4 but B is 5×3"),
    (dict(claim=lambda A, Y: A), JacobianCalcError, "takes Y, which is not declared"),
    (dict(truth="trace(X @ X)"), ShapeError, "X is 4×5"),
    (dict(truth="A @ X", layout="row"), JacobianCalcError, "applies to the gradient"),
    (dict(mistakes={"": "A"}), JacobianCalcError, "non-empty str"),
    (dict(truth=lambda A: A), ShapeError, "the true derivative has shape (3, 4)"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, error, words):
    args = dict(claim="A.T @ B.T", truth="trace(A @ X @ B)", wrt="X", shapes=AXB)
    args.update(kwargs)
    with pytest.raises(error) as info:
        diagnose(args.pop("claim"), args.pop("truth"), **args)
    assert words in str(info.value)


def test_sample_values_must_have_the_declared_shapes():
    with pytest.raises(ShapeError, match="sample.*returned X of shape"):
        diagnose("A.T @ B.T", "trace(A @ X @ B)", wrt="X", shapes=AXB,
                 sample=lambda rng: {"A": np.ones((3, 4)), "X": np.ones((5, 4)),
                                     "B": np.ones((5, 3))})


# ------------------------------------------------------------------------ display
def test_every_format_shows_the_verdict_and_the_readings():
    d = named("kron(A, B.T)", "A @ X @ B", shapes=KRON)
    text = str(d)
    assert "Verdict: wrong (kronecker_swapped)" in text and "Readings of your answer" in text
    assert repr(d) == "<Diagnosis ∂vec(A X B)/∂vec(X): wrong, mistake='kronecker_swapped'>"
    doc = json.loads(d.to_json())
    assert doc["mistake"] == "kronecker_swapped" and doc["verdict"] == "wrong"
    assert doc["matches"][0]["holds"] is True and doc["expected_shape"] == [4, 12]
    assert "| mistake | reading |" in d.to_markdown() and d._repr_markdown_() == d.to_markdown()
    assert "<table>" in d._repr_html_()
    latex = d.to_latex()
    displays = re.findall(r"\\\[\n(.*?)\n\\\]", latex, re.S)
    assert len(displays) == 2
    for display in displays:
        check_latex(display)
    outside = re.sub(r"\\\[.*?\\\]", "", latex, flags=re.S)
    assert all(line.startswith("%") for line in outside.splitlines() if line.strip())


def test_assert_correct_raises_with_the_diagnosis():
    d = diagnose("A.T @ B.T", "trace(A @ X @ B)", wrt="X", shapes=AXB)
    assert d.assert_correct() is d
    with pytest.raises(AssertionError, match=r"Verdict: wrong \(sign\)"):
        diagnose("-A.T @ B.T", "trace(A @ X @ B)", wrt="X", shapes=AXB).assert_correct()


def test_the_catalogue_names_every_class_the_grader_can_return():
    # every mistake name a reading can carry is documented in MISTAKES
    source = open(grade.__file__, encoding="utf-8").read()
    used = set(re.findall(r'_Reading\(\s*"(\w+)"', source)) | {"sign", "factor"}
    used |= {"missing_term", "missing_symmetrisation", "missing_factor"}
    assert used - {"correct"} == set(MISTAKES)


def test_a_sign_is_named_sign_even_where_dropping_a_minus_would_explain_it():
    # −tr(AXB) has the factor −I of the minus sign in its chain; leaving it out is the same
    # as the sign mistake, and the simpler name wins (the chain is not even tried)
    d = named("A.T @ B.T", "-trace(A @ X @ B)")
    assert d.mistake == "sign" and [m.mistake for m in d.matches] == ["sign"]
    assert "missing_factor" not in {h.mistake for h in d.tried}


def test_half_of_a_symmetric_square_is_a_factor():
    # ∂tr(XᵀX)/∂X = 2X: "X" is one term of the two, and also ½ × the truth: the factor wins
    d = named("X", "trace(X.T @ X)", shapes={"X": (3, 2)})
    assert d.mistake == "factor" and d.factor == 0.5


def test_inverse_for_the_gradient_of_logdet_is_transposed_on_well_conditioned_data():
    # ∂log|det X|/∂X = X⁻ᵀ; X⁻¹ is the classic slip. X is drawn as I + E, ‖E‖₂ = ½, and
    # the diagnosis says so.
    d = named("inv(X)", "logdet(X)", shapes={"X": (3, 3)})
    assert d.mistake == "transposed"
    assert any("I + E with ‖E‖₂ = ½" in note for note in d.notes)


def test_an_expression_that_does_not_depend_on_the_variable_has_a_zero_derivative():
    shapes = {"A": (3, 3), "X": (3, 3)}
    assert diagnose("0 * X", "trace(A)", wrt="X", shapes=shapes).correct
    d = named("A", "trace(A)", shapes=shapes)
    assert d.mistake is None and d.difference == 1.0
    assert diagnose("eye(9)", "X", wrt="X", shapes=shapes).correct  # ∂vec(X)/∂vec(X) = I


def test_the_chains_readings_are_bounded_and_the_diagnosis_says_so(monkeypatch):
    # 3 instances × a 1×9 gradient = 27 entries per reading: room for two readings
    monkeypatch.setattr(grade, "MAX_CHAIN_ENTRIES", 60)
    d = named("0.5 * (A @ X) + X @ A", "trace(X.T @ A @ X) + sum(tanh(X))", shapes=SQUARE)
    assert d.mistake is None
    chain = [h for h in d.tried if h.mistake.startswith("missing_")]
    assert len(chain) <= 2
    assert any("only the first 2 were tried as mistakes" in note for note in d.notes)
