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


def test_the_textbook_cross_entropy_gradient_is_graded_correct():
    d = diagnose("(softmax(W @ x) - y) @ x.T", "softmax_cross_entropy(W @ x, y)", wrt="W",
                 shapes={"W": (3, 4), "x": (4,), "y": (3,)})
    assert d.correct, d.mistake
