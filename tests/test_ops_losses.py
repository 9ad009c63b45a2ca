"""The losses: values against closed forms, gradients against finite differences.

``jacobian_calc.LOSSES`` is a live view of the table entries with the role ``"loss"``:
``LOSSES[name].forward(yhat, y)`` is the value, ``.gradients[0]`` is ∂f/∂ŷ and
``.gradients[1]`` is ∂f/∂y, each shaped like its argument.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.engine.graph import Graph, apply, leaf
from jacobian_calc.ops import TABLE
from jacobian_calc.testing import real_arrays

NAMES = ("squared_error", "softmax_cross_entropy")

pairs = st.integers(1, 10).flatmap(lambda n: st.tuples(real_arrays((n,), 5.0), real_arrays((n,))))
batches = st.tuples(st.integers(1, 5), st.integers(1, 4)).flatmap(
    lambda s: st.tuples(real_arrays(s, 5.0), real_arrays(s)))


def value(name, yhat, y):
    out = jc.LOSSES[name].forward(yhat, y)
    assert np.ndim(out) == 0  # a scalar
    return float(out)


def test_the_losses_are_the_lectures_two():
    assert tuple(jc.LOSSES) == NAMES
    assert all(jc.LOSSES[n] is TABLE[n] and TABLE[n].family == "losses" for n in NAMES)
    assert all(TABLE[n].arity == 2 and len(TABLE[n].gradients) == 2 for n in NAMES)


@given(pairs)
def test_squared_error_is_half_the_squared_norm(args):
    yhat, y = args
    assert value("squared_error", yhat, y) == pytest.approx(
        0.5 * sum((a - b) ** 2 for a, b in zip(yhat, y)), rel=1e-12, abs=1e-12)
    gradient, target_gradient = jc.LOSSES["squared_error"].gradients
    np.testing.assert_array_equal(gradient(yhat, y), yhat - y)
    np.testing.assert_array_equal(target_gradient(yhat, y), y - yhat)


@given(pairs)
def test_cross_entropy_matches_its_definition(args):
    yhat, y = args
    p = np.exp(yhat) / np.exp(yhat).sum()
    expected = -np.sum(y * np.log(p))
    assert value("softmax_cross_entropy", yhat, y) == pytest.approx(expected, rel=1e-10,
                                                                    abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
@given(st.one_of(pairs, batches))
def test_gradients_match_central_differences(name, args):
    yhat, y = args
    loss = jc.LOSSES[name]
    fd_yhat = jc.finite_difference_jacobian(lambda v: loss.forward(v, y), yhat)
    fd_y = jc.finite_difference_jacobian(lambda v: loss.forward(yhat, v), y)
    for gradient, fd, arg in ((loss.gradients[0], fd_yhat, yhat), (loss.gradients[1], fd_y, y)):
        g = np.asarray(gradient(yhat, y))
        assert g.shape == arg.shape  # shaped like the argument (eq 12)
        scale = max(1.0, float(np.abs(fd).max()))
        np.testing.assert_allclose(g.reshape(1, -1, order="F"), fd, rtol=1e-6,
                                   atol=1e-7 * scale)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    yhat, y = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0])
    p = np.exp(yhat) / np.exp(yhat).sum()
    np.testing.assert_allclose(jc.LOSSES["softmax_cross_entropy"].gradients[0](yhat, y), p - y)


def test_cross_entropy_is_stable_for_huge_logits():
    loss = jc.LOSSES["softmax_cross_entropy"]
    yhat, y = np.array([1000.0, 0.0, -1000.0]), np.array([0.0, 1.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert value("softmax_cross_entropy", yhat, y) == pytest.approx(1000.0)
        np.testing.assert_allclose(loss.gradients[0](yhat, y), [1.0, -1.0, 0.0], atol=1e-300)


def test_batches_sum_over_columns(rng):
    Yhat, Y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    for name in jc.LOSSES:
        loss = jc.LOSSES[name]
        total = sum(value(name, Yhat[:, j], Y[:, j]) for j in range(4))
        assert value(name, Yhat, Y) == pytest.approx(total, rel=1e-12)
        for gradient in loss.gradients:
            cols = np.stack([gradient(Yhat[:, j], Y[:, j]) for j in range(4)], axis=1)
            np.testing.assert_allclose(gradient(Yhat, Y), cols, rtol=1e-12, atol=1e-15)


def test_unknown_loss_lists_the_valid_ones():
    message = "unknown loss 'mse'; valid choices are: 'squared_error', 'softmax_cross_entropy'"
    with pytest.raises(jc.ChoiceError, match=message):
        jc.LOSSES.lookup("mse")
    with pytest.raises(jc.ChoiceError, match=message):
        jc.loss_gradient([1.0], [1.0], loss="mse")
    with pytest.raises(KeyError):
        jc.LOSSES["sum"]  # a scalar-valued entry of the table, but not a loss


# ------------------------------------------------------------------ loss_gradient
@given(pairs)
def test_loss_gradient_is_the_row_of_the_gradient(args):
    yhat, y = args
    for name in jc.LOSSES:
        row = jc.loss_gradient(yhat, y, name)
        assert row.shape == (1, yhat.size)  # eq (1): a row
        np.testing.assert_array_equal(row[0], jc.LOSSES[name].gradients[0](yhat, y))
    np.testing.assert_array_equal(jc.loss_gradient(yhat, y), (yhat - y)[None, :])


def test_loss_gradient_of_a_batch_is_column_stacked(rng):
    Yhat, Y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    np.testing.assert_array_equal(jc.loss_gradient(Yhat, Y), (Yhat - Y).reshape(1, -1, order="F"))


def test_loss_gradient_refuses_different_shapes():
    yhat, y = np.ones(3), np.ones(3)
    with pytest.raises(jc.ShapeError, match=r"\(3,\) and \(2,\)"):
        jc.loss_gradient(yhat, y[:2])


# ------------------------------------------------------------------ in a graph
def test_loss_shape_error_names_both_operands():
    with pytest.raises(jc.ShapeError, match=r"ŷ is a vector of length 3 but y is a vector of "
                                            r"length 2"):
        apply("squared_error", leaf("yhat", np.ones(3)), leaf("y", np.ones(2), "target"),
              name="f")


@pytest.mark.parametrize("name", NAMES)
def test_the_loss_factors_are_the_row_gradients(name, rng):
    yhat, y = rng.normal(size=4), rng.normal(size=4)
    f = apply(name, leaf("yhat", yhat), leaf("y", y, "target"), name="f")
    g = Graph(f)
    for position, arg in enumerate((yhat, y)):
        J = g.factor(f, position)
        assert J.shape == (1, 4)  # (∂f/∂ŷ)ᵀ, the first factor of every chain (eq 18, 28)
        np.testing.assert_array_equal(J.toarray()[0],
                                      jc.LOSSES[name].gradients[position](yhat, y))
