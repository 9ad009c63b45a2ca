"""The two losses: values against closed forms, gradients against finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.ops.losses import get_loss
from jacobian_calc.testing import real_arrays

pairs = st.integers(1, 10).flatmap(lambda n: st.tuples(real_arrays((n,), 5.0), real_arrays((n,))))


@given(pairs)
def test_squared_error_is_half_the_squared_norm(args):
    yhat, y = args
    loss = get_loss("squared_error")
    assert loss.value(yhat, y) == pytest.approx(0.5 * sum((a - b) ** 2 for a, b in zip(yhat, y)))
    np.testing.assert_array_equal(loss.gradient(yhat, y), yhat - y)


@given(pairs)
def test_cross_entropy_matches_its_definition(args):
    yhat, y = args
    p = np.exp(yhat) / np.exp(yhat).sum()
    expected = -np.sum(y * np.log(p))
    assert get_loss("softmax_cross_entropy").value(yhat, y) == pytest.approx(expected, rel=1e-10,
                                                                              abs=1e-12)


@pytest.mark.parametrize("name", sorted(jc.LOSSES))
@given(pairs)
def test_gradients_match_central_differences(name, args):
    yhat, y = args
    loss = get_loss(name)
    fd_yhat = jc.finite_difference_jacobian(lambda v: loss.value(v, y), yhat)
    fd_y = jc.finite_difference_jacobian(lambda v: loss.value(yhat, v), y)
    np.testing.assert_allclose(loss.gradient(yhat, y), fd_yhat[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(loss.target_gradient(yhat, y), fd_y[0], rtol=1e-6, atol=1e-7)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    yhat, y = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0])
    p = np.exp(yhat) / np.exp(yhat).sum()
    np.testing.assert_allclose(get_loss("softmax_cross_entropy").gradient(yhat, y), p - y)


def test_cross_entropy_is_stable_for_huge_logits():
    loss = get_loss("softmax_cross_entropy")
    yhat, y = np.array([1000.0, 0.0, -1000.0]), np.array([0.0, 1.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss.value(yhat, y) == pytest.approx(1000.0)
        np.testing.assert_allclose(loss.gradient(yhat, y), [1.0, -1.0, 0.0], atol=1e-300)


def test_batches_sum_over_columns(rng):
    Yhat, Y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    for name in jc.LOSSES:
        loss = get_loss(name)
        total = sum(loss.value(Yhat[:, j], Y[:, j]) for j in range(4))
        assert loss.value(Yhat, Y) == pytest.approx(total)
        cols = np.stack([loss.gradient(Yhat[:, j], Y[:, j]) for j in range(4)], axis=1)
        np.testing.assert_allclose(loss.gradient(Yhat, Y), cols)


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(jc.ChoiceError,
                       match="unknown loss 'mse'; valid choices are: 'squared_error', "
                             "'softmax_cross_entropy'"):
        get_loss("mse")
