"""The teacher's autograder: property tests of a student's compact formulas.

The student module is ``student`` unless ``STUDENT_MODULE`` names another one. Each test
gives the student's formula and the loss it should be the derivative of to the helpers
of :mod:`jacobian_calc.testing`; they compare it with Gâteaux derivatives in random
directions (eq 15) and with finite differences (eq 16), over inputs drawn by hypothesis.
A failure reports the worst direction, both values, the relative error and the tolerance.
One test also compares with the literal chain of jacobian_calc's expression API.
"""

import importlib
import os

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.testing import assert_gradient_correct, assert_jacobian_correct, real_arrays

student = importlib.import_module(os.environ.get("STUDENT_MODULE", "student"))

# Deterministic (every run checks the same inputs), no example database written to disk.
# AUTOGRADER_PROFILE=quick checks fewer inputs and skips shrinking (for CI of the grader).
settings.register_profile("grading", max_examples=60, deadline=None, derandomize=True,
                          database=None)
settings.register_profile("quick", parent=settings.get_profile("grading"), max_examples=15,
                          phases=[Phase.explicit, Phase.generate])
settings.load_profile(os.environ.get("AUTOGRADER_PROFILE", "grading"))


def sizes():
    return st.tuples(st.integers(1, 5), st.integers(1, 5))  # (p, d)


@st.composite
def layer_problems(draw):
    """W (p, d), b (p,), x (d,), y (p,) with entries in [−2, 2]."""
    p, d = draw(sizes())
    return (draw(real_arrays((p, d))), draw(real_arrays((p,))), draw(real_arrays((d,))),
            draw(real_arrays((p,))))


@st.composite
def classifier_problems(draw):
    """W (p, d), x (d,) and a probability vector y (p,)."""
    p, d = draw(sizes())
    raw = draw(real_arrays((p,), bound=1.0)) ** 2 + 1e-3
    return draw(real_arrays((p, d))), draw(real_arrays((d,))), raw / raw.sum()


# The teacher's losses: plain numpy forward passes, nothing the student wrote.
def layer_loss(W, b, x, y):
    yhat = 1.0 / (1.0 + np.exp(-(W @ x + b)))
    return 0.5 * np.sum((yhat - y) ** 2)


def cross_entropy(W, x, y):
    h = W @ x
    log_softmax = h - h.max() - np.log(np.sum(np.exp(h - h.max())))
    return -np.sum(y * log_softmax)


def softmax(h):
    e = np.exp(h - h.max())
    return e / e.sum()


@given(layer_problems())
def test_gradient_of_the_layer_with_respect_to_W(problem):
    W, b, x, y = problem
    assert_gradient_correct(lambda M: layer_loss(M, b, x, y),
                            lambda M: student.grad_W_layer(M, b, x, y), W)


@given(layer_problems())
def test_gradient_of_the_layer_with_respect_to_b(problem):
    W, b, x, y = problem
    assert_gradient_correct(lambda v: layer_loss(W, v, x, y),
                            lambda v: student.grad_b_layer(W, v, x, y), b)


@given(classifier_problems())
def test_gradient_of_softmax_cross_entropy_with_respect_to_W(problem):
    W, x, y = problem
    assert_gradient_correct(lambda M: cross_entropy(M, x, y),
                            lambda M: student.grad_W_softmax_cross_entropy(M, x, y), W)


@given(st.integers(1, 6).flatmap(lambda p: real_arrays((p,), bound=3.0)))
def test_jacobian_of_softmax(h):
    assert_jacobian_correct(softmax, student.jacobian_softmax, h)


@given(layer_problems())
def test_layer_gradient_equals_the_literal_chain(problem):
    # A second, exact oracle: jacobian_calc multiplies the literal Jacobians of
    # h = Wx + b, ŷ = σ(h) and f = ½‖ŷ − y‖² tail to head.
    W, b, x, y = problem
    Wv, bv, xv, yv = (jc.var(n, v) for n, v in zip("Wbxy", (W, b, x, y)))
    f = jc.squared_error(jc.sigmoid(jc.bias_add(Wv @ xv, bv)), yv)
    literal = jc.grad(f, Wv)
    mine = np.asarray(student.grad_W_layer(W, b, x, y), dtype=float)
    assert mine.shape == literal.shape, f"shape {mine.shape}, expected {literal.shape}"
    np.testing.assert_allclose(mine, literal, rtol=1e-9, atol=1e-12)
