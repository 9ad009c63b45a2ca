"""The teacher's autograder: property tests of a student's compact formulas.

The student module is ``student`` unless ``STUDENT_MODULE`` names another one. Each test
gives the student's formula and the quantity it should be the derivative of — an
expression text — to :func:`jacobian_calc.testing.diagnose`, which compares the formula
with the library's literal derivative on fresh random instances and, when it is wrong,
names the mistake (σ′ forgotten, a sign, transposed, …) and shows the worst direction.
Hypothesis draws the sizes and the seeds, and shrinks a failure to the smallest sizes.
One test also checks the layer's gradient against finite differences of the teacher's own
numpy loss, a second oracle independent of the library's chain rule.
"""

import importlib
import os

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from jacobian_calc.testing import assert_gradient_correct, diagnose, real_arrays

student = importlib.import_module(os.environ.get("STUDENT_MODULE", "student"))

# Deterministic (every run checks the same inputs), no example database written to disk.
# AUTOGRADER_PROFILE=quick checks fewer inputs and skips shrinking (for CI of the grader).
settings.register_profile("grading", max_examples=60, deadline=None, derandomize=True,
                          database=None)
settings.register_profile("quick", parent=settings.get_profile("grading"), max_examples=15,
                          phases=[Phase.explicit, Phase.generate])
settings.load_profile(os.environ.get("AUTOGRADER_PROFILE", "grading"))

# The questions, as the library's expression parser reads them (never evaluated):
# ŷ = σ(Wx + b), f = ½‖ŷ − y‖²; and f = −Σᵢ yᵢ log softmax(Wx)ᵢ.
LAYER = "squared_error(sigmoid(bias_add(W @ x, b)), y)"
CLASSIFIER = "softmax_cross_entropy(W @ x, y)"


def sizes():
    return st.tuples(st.integers(1, 5), st.integers(1, 5))  # (p, d)


def seeds():
    return st.integers(0, 2**16)


def layer_shapes(p, d):
    return {"W": (p, d), "b": (p,), "x": (d,), "y": (p,)}


def classifier_sample(p, d):
    """W (p, d), x (d,) and a probability vector y (p,): the target of a classifier."""
    def sample(rng):
        raw = rng.uniform(0.05, 1.0, p)
        return {"W": rng.standard_normal((p, d)), "x": rng.standard_normal(d),
                "y": raw / raw.sum()}
    return sample


@given(sizes(), seeds())
def test_gradient_of_the_layer_with_respect_to_W(size, seed):
    p, d = size
    diagnose(student.grad_W_layer, LAYER, wrt="W", shapes=layer_shapes(p, d),
             seed=seed).assert_correct()


@given(sizes(), seeds())
def test_gradient_of_the_layer_with_respect_to_b(size, seed):
    p, d = size
    diagnose(student.grad_b_layer, LAYER, wrt="b", shapes=layer_shapes(p, d),
             seed=seed).assert_correct()


@given(sizes(), seeds())
def test_gradient_of_softmax_cross_entropy_with_respect_to_W(size, seed):
    p, d = size
    diagnose(student.grad_W_softmax_cross_entropy, CLASSIFIER, wrt="W",
             sample=classifier_sample(p, d), seed=seed).assert_correct()


@given(st.integers(2, 6), seeds())  # the softmax of one entry is the constant 1
def test_jacobian_of_softmax(p, seed):
    # A mistake of the teacher's own, by name: the grader tries it right after "correct".
    known = {"the −s sᵀ term is missing": "diag(softmax(h))"}
    diagnose(student.jacobian_softmax, "softmax(h)", wrt="h", shapes={"h": (p,)},
             mistakes=known, seed=seed).assert_correct()


# The teacher's loss as plain numpy, nothing the student wrote and nothing of the library.
def layer_loss(W, b, x, y):
    yhat = 1.0 / (1.0 + np.exp(-(W @ x + b)))
    return 0.5 * np.sum((yhat - y) ** 2)


@st.composite
def layer_problems(draw):
    """W (p, d), b (p,), x (d,), y (p,) with entries in [−2, 2]."""
    p, d = draw(sizes())
    return (draw(real_arrays((p, d))), draw(real_arrays((p,))), draw(real_arrays((d,))),
            draw(real_arrays((p,))))


@given(layer_problems())
def test_layer_gradient_against_finite_differences(problem):
    # A second oracle: Gâteaux derivatives (eq 15) in random directions and finite
    # differences entry by entry, of the teacher's numpy loss.
    W, b, x, y = problem
    assert_gradient_correct(lambda M: layer_loss(M, b, x, y),
                            lambda M: student.grad_W_layer(M, b, x, y), W)
