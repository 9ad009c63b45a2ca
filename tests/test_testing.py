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
