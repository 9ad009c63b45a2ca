"""Random data drawn by the calculator and the grader respects the expression's domain."""

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.front.calculator import calculate, random_values
from jacobian_calc.front.parse import validate
from jacobian_calc.testing import diagnose


@pytest.mark.parametrize("seed", range(10))
def test_expr_log_det_is_defined_on_every_seed(seed):
    calc = calculate("log(det(X))", {"X": (3, 3)}, "X", seed=seed)
    assert calc.ok


@pytest.mark.parametrize("seed", range(8))
def test_grade_log_det_textbook_answer_is_correct_on_every_seed(seed):
    d = diagnose("inv(X).T", "log(det(X))", wrt="X", shapes={"X": (3, 3)}, seed=seed)
    assert d.correct


@pytest.mark.parametrize("text", ["log(det(X))", "det(X) ** 0.5", "sqrt(det(X))"])
def test_a_variable_under_det_under_a_positive_domain_is_drawn_as_I_plus_E(text):
    try:
        tree = validate(text, ["X"])
    except jc.JacobianCalcError:
        pytest.skip(f"{text} is not accepted by the parser")
    for seed in range(20):
        X = random_values({"X": (4, 4)}, tree, seed)["X"]
        assert np.linalg.det(X) > 0
        assert np.linalg.norm(X - np.eye(4), 2) <= 0.5 + 1e-12


def test_unconstrained_draws_are_unchanged():
    tree = validate("trace(A @ X)", ["A", "X"])
    values = random_values({"A": (2, 3), "X": (3, 2)}, tree, 5)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(values["A"], rng.standard_normal((2, 3)))
    np.testing.assert_array_equal(values["X"], rng.standard_normal((3, 2)))


def test_a_plain_log_variable_is_still_positive():
    values = random_values({"X": (3, 3)}, validate("sum(log(X))", ["X"]), 0)
    assert np.all(values["X"] >= 0.5)


def test_the_cross_entropy_target_is_drawn_as_a_probability_vector():
    tree = validate("softmax_cross_entropy(W @ x, y)", ["W", "x", "y"])
    for seed in range(5):
        v = random_values({"W": (3, 4), "x": (4,), "y": (3,)}, tree, seed)
        assert np.all(v["y"] > 0) and np.isclose(v["y"].sum(), 1.0)
    B = random_values({"Y": (3, 5), "Z": (3, 5)},
                      validate("softmax_cross_entropy(Z, Y)", ["Y", "Z"]), 1)["Y"]
    np.testing.assert_allclose(B.sum(axis=0), np.ones(5))


def test_the_data_rules_are_read_from_the_table_for_an_added_operation_too():
    # An operation added through extend declares both rules; nothing in the calculator
    # names it: under log its variable is drawn as I + E, and its second argument, when
    # a variable, as a probability vector.
    from jacobian_calc import extend

    extend.operation(
        "det_times_mass", lambda X, p: np.asarray(np.linalg.det(X) * p.sum()),
        [lambda X, p: (np.linalg.det(X) * p.sum() * np.linalg.inv(X).T).reshape(1, -1,
                                                                             order="F"),
         lambda X, p: np.full((1, p.size), np.linalg.det(X))],
        notation=r"\operatorname{dm}($0, $1)", shape=lambda a, b: (), parser=True,
        domain=[extend.square(0), extend.prefers("probability", 1)],
        positive_on="invertible")
    try:
        tree = validate("log(det_times_mass(X, p))", ["X", "p"])
        for seed in range(10):
            v = random_values({"X": (3, 3), "p": (4,)}, tree, seed)
            assert np.linalg.norm(v["X"] - np.eye(3), 2) <= 0.5 + 1e-12
            assert np.all(v["p"] > 0) and np.isclose(v["p"].sum(), 1.0)
        assert calculate("log(det_times_mass(X, p))", {"X": (3, 3), "p": (4,)}, "X").ok
    finally:
        extend.remove("det_times_mass")


def test_positive_on_must_be_a_known_hint():
    from jacobian_calc import extend

    with pytest.raises(jc.JacobianCalcError, match="positive_on"):
        extend.operation("bad_hint", lambda x: x, [lambda x: np.eye(x.size)], notation="b($0)",
                         positive_on="definite")
    assert "bad_hint" not in jc.FUNCTIONS


def test_the_textbook_cross_entropy_gradient_is_graded_correct():
    d = diagnose("(softmax(W @ x) - y) @ x.T", "softmax_cross_entropy(W @ x, y)", wrt="W",
                 shapes={"W": (3, 4), "x": (4,), "y": (3,)})
    assert d.correct, d.mistake


# ------------------------------------------------------------ the grader's names
@pytest.mark.parametrize("claim, truth", [
    ("-kron(inv(X), inv(X).T)", "inv(X)"),
    ("kron(X, eye(3)) + kron(eye(3), X.T)", "X @ X"),
    ("kron(A, B.T)", "A @ X @ B"),
])
def test_a_claim_written_with_its_kron_factors_swapped_is_named_so(claim, truth):
    shapes = {"X": (3, 3), "A": (3, 3), "B": (3, 3)}
    d = diagnose(claim, truth, wrt="X", shapes=shapes)
    assert d.mistake == "kronecker_swapped", (d.mistake, [h.mistake for h in d.matches])
    assert [h.mistake for h in d.matches].count("kronecker_swapped") == 1


def test_the_same_answer_given_as_a_function_is_still_named_layout():
    def claim(X):  # −X⁻¹ ⊗ X⁻ᵀ = Jᵀ, not written with kron(...)
        Y = np.linalg.inv(X)
        return -np.kron(Y, Y.T)

    d = diagnose(claim, "inv(X)", wrt="X", shapes={"X": (3, 3)})
    assert d.mistake == "layout"


# ------------------------------------------------------------ division by a scalar
def _fd_grad(f, X, h=1e-6):
    G = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        G[idx] = (f(X + E) - f(X - E)) / (2 * h)
    return G


X0 = np.array([[2.0, 0.5, 0.1], [0.3, 1.5, -0.2], [0.0, 0.4, 1.2]])


def test_a_number_over_a_scalar_expression():
    X = jc.var("X", X0)
    F = 1 / jc.det(X)
    np.testing.assert_allclose(F.value, 1 / np.linalg.det(X0))
    np.testing.assert_allclose(jc.grad(F, X), _fd_grad(lambda M: 1 / np.linalg.det(M), X0),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose((3 / jc.det(X)).value, 3 / np.linalg.det(X0))


def test_an_expression_over_a_scalar_expression():
    X = jc.var("X", X0)
    F = jc.trace(X) / jc.det(X)
    f = lambda M: np.trace(M) / np.linalg.det(M)  # noqa: E731
    np.testing.assert_allclose(F.value, f(X0))
    np.testing.assert_allclose(jc.grad(F, X), _fd_grad(f, X0), rtol=1e-6, atol=1e-8)
    G = X / jc.trace(X)  # a matrix over a scalar
    np.testing.assert_allclose(G.value, X0 / np.trace(X0))
    H = jc.sum(G * G)
    g = lambda M: np.sum((M / np.trace(M)) ** 2)  # noqa: E731
    np.testing.assert_allclose(jc.grad(H, X), _fd_grad(g, X0), rtol=1e-6, atol=1e-8)


def test_division_by_a_scalar_that_is_zero_is_a_domain_error():
    X = jc.var("X", np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(jc.DomainError):
        1 / jc.det(X)
    with pytest.raises(jc.DomainError):
        jc.trace(X) / jc.det(X)


def test_division_by_a_matrix_names_the_alternatives():
    X = jc.var("X", X0)
    with pytest.raises(jc.JacobianCalcError, match=r"\*\*-1"):
        X / X
    with pytest.raises(jc.JacobianCalcError, match=r"\*\*-1"):
        1 / X


def test_the_parser_accepts_division_by_a_scalar_expression():
    calc = calculate("trace(X) / det(X)", {"X": (3, 3)}, "X", seed=0)
    assert calc.ok
