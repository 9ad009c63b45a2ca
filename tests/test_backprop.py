"""The compact formulas (26), (32), (38) against closed forms and finite differences."""

import numpy as np
import pytest
from hypothesis import given, settings

import jacobian_calc as jc
from jacobian_calc.lecture.backprop import mlp_forward, mlp_gradients
from jacobian_calc.testing import assert_allclose_scaled, mlp_problems


def test_one_layer_is_lemma_2_6(rng):
    # f = ½‖Wx − y‖² ⇒ ∂f/∂W = (Wx − y) xᵀ (eq 17 with ∂f/∂ŷ = ŷ − y)
    W, x, y = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    g = mlp_gradients([W], x, y, "sigmoid", "squared_error")
    np.testing.assert_allclose(g["W1"], np.outer(W @ x - y, x), rtol=1e-14)


def test_three_layers_written_out_by_hand(lecture):
    (W1, W2, W3), x, y = lecture
    s = lambda h: 1 / (1 + np.exp(-h))  # noqa: E731
    h1 = W1 @ x; z1 = s(h1); h2 = W2 @ z1; z2 = s(h2); yhat = W3 @ z2  # noqa: E702
    dy = yhat - y
    d2 = s(h2) * (1 - s(h2)) * (W3.T @ dy)   # eq (32)
    d1 = s(h1) * (1 - s(h1)) * (W2.T @ d2)   # eq (38)
    g = mlp_gradients([W1, W2, W3], x, y)
    np.testing.assert_allclose(g["W3"], np.outer(dy, z2), rtol=1e-13)  # eq (26)
    np.testing.assert_allclose(g["W2"], np.outer(d2, z1), rtol=1e-13)
    np.testing.assert_allclose(g["W1"], np.outer(d1, x), rtol=1e-13)


def test_forward_returns_pre_activations_and_values(lecture):
    (W1, W2, W3), x, _ = lecture
    hs, zs = mlp_forward([W1, W2, W3], x, "tanh")
    np.testing.assert_allclose(hs[0], W1 @ x)
    np.testing.assert_allclose(zs[2], np.tanh(W2 @ np.tanh(W1 @ x)))
    np.testing.assert_allclose(hs[-1], W3 @ zs[2])


@given(mlp_problems())
def test_compact_formulas_match_finite_differences(problem):
    g = mlp_gradients(problem.weights, problem.x, problem.y, problem.activation, problem.loss)
    net = problem.network()
    for k, W in enumerate(problem.weights):
        def f(M, k=k):
            trial = list(problem.weights)
            trial[k] = M
            hs, _ = mlp_forward(trial, problem.x, problem.activation)
            return float(jc.LOSSES[problem.loss].forward(hs[-1], problem.y))
        fd = jc.finite_difference_jacobian(f, W).reshape(W.shape, order="F")
        scale = max(1.0, abs(net.loss_value(problem.x, problem.y)))
        np.testing.assert_allclose(g[f"W{k + 1}"], fd, rtol=1e-5, atol=1e-7 * scale)


def test_batches_sum_the_per_sample_gradients(rng):
    weights = [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))]
    X, Y = rng.normal(size=(4, 5)), rng.normal(size=(2, 5))
    batch = mlp_gradients(weights, X, Y, "tanh", "softmax_cross_entropy")
    for name in batch:
        total = sum(mlp_gradients(weights, X[:, j], Y[:, j], "tanh",
                                  "softmax_cross_entropy")[name] for j in range(5))
        assert_allclose_scaled(batch[name], total, rtol=1e-12)


# ------------------------------------------------------------- biases (issue 4)
def _loss_by_hand(weights, biases, X, Y, phi):
    """½‖ŷ − Y‖² summed over columns, forward pass written out with numpy only."""
    Z = X
    for k, (W, b) in enumerate(zip(weights, biases)):
        H = W @ Z + b.reshape(-1, 1)
        Z = phi(H) if k < len(weights) - 1 else H
    return 0.5 * np.sum((Z - Y) ** 2)


def test_bias_gradients_written_out_by_hand(rng):
    W1, W2 = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    b1, b2 = rng.normal(size=3), rng.normal(size=(2, 1))
    X, Y = rng.normal(size=(4, 5)), rng.normal(size=(2, 5))
    H1 = W1 @ X + b1[:, None]
    Z1 = np.tanh(H1)
    Yhat = W2 @ Z1 + b2
    D2 = Yhat - Y
    D1 = (1 - Z1 ** 2) * (W2.T @ D2)
    g = mlp_gradients([W1, W2], X, Y, "tanh", "squared_error", biases=[b1, b2])
    assert list(g) == ["W1", "W2", "b1", "b2"]
    np.testing.assert_allclose(g["b2"], D2.sum(axis=1, keepdims=True), rtol=1e-13)
    assert g["b2"].shape == (2, 1) and g["b1"].shape == (3,)
    np.testing.assert_allclose(g["b1"], D1.sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(g["W1"], D1 @ X.T, rtol=1e-13)
    np.testing.assert_allclose(g["W2"], D2 @ Z1.T, rtol=1e-13)


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(mlp_problems(max_size=5, activations=("sigmoid", "tanh", "softplus"),
                    losses=("squared_error",)))
def test_compact_bias_and_batch_gradients_match_finite_differences(problem):
    rng = np.random.default_rng(problem.x.size)
    n = int(rng.integers(1, 6))
    X = rng.normal(size=(problem.x.size, n))
    Y = rng.normal(size=(problem.y.size, n))
    biases = [rng.normal(size=W.shape[0]) for W in problem.weights]
    phi = jc.ACTIVATIONS[problem.activation].pointwise.function
    g = mlp_gradients(problem.weights, X, Y, problem.activation, "squared_error", biases=biases)
    for k in range(len(biases)):
        def f(v, k=k):
            trial = list(biases)
            trial[k] = v
            return _loss_by_hand(problem.weights, trial, X, Y, phi)
        fd = jc.finite_difference_jacobian(f, biases[k])[0]
        scale = max(1.0, abs(_loss_by_hand(problem.weights, biases, X, Y, phi)))
        np.testing.assert_allclose(g[f"b{k + 1}"], fd, rtol=1e-5, atol=1e-7 * scale)


def test_overflow_is_an_error_not_a_nan():
    weights = [np.full((2, 3), 1e200), np.full((1, 2), 1e200)]
    with pytest.raises(jc.DomainError, match="W1 are not finite"):
        mlp_gradients(weights, np.ones(3), np.ones(1))
