"""verify_network: the lecture network's gradients against the compact formulas and the numbers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.verify.compare import random_directions
from jacobian_calc.verify.network import loss_along, loss_of, verify_network

ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "softplus"]


@st.composite
def networks(draw):
    """A small network, its data (x a vector or a batch), possibly biases, any loss."""
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    loss = draw(st.sampled_from(["squared_error", "softmax_cross_entropy"]))
    if loss == "softmax_cross_entropy" and sizes[-1] == 1:
        sizes[-1] = 2
    batch = draw(st.sampled_from([None, 1, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = [rng.normal(size=(m, n)) for n, m in zip(sizes, sizes[1:])]
    biases = None
    if draw(st.booleans()):
        biases = [rng.normal(size=(m,) if draw(st.booleans()) else (m, 1)) for m in sizes[1:]]
    net = jc.MLP(weights, activation=draw(st.sampled_from(ACTIVATIONS)), loss=loss,
                 biases=biases)
    cols = () if batch is None else (batch,)
    x = rng.normal(size=(sizes[0], *cols))
    if loss == "softmax_cross_entropy":
        y = rng.dirichlet(np.ones(sizes[-1]), size=batch).T if batch else \
            rng.dirichlet(np.ones(sizes[-1]))
    else:
        y = rng.normal(size=(sizes[-1], *cols))
    return net, x, y, rng


@given(networks(), st.data())
def test_the_loss_along_a_line_is_the_loss_at_the_moved_point(problem, data):
    # loss_along reuses the forward values below the moved parameter; loss_of recomputes
    # everything at P + sV. They must agree to rounding, for every parameter.
    net, x, y, rng = problem
    xv, yv = net.data(x, y)
    values = dict(zip(net.weight_names, net.weights))
    values.update(zip(net.bias_names, net.biases or []))
    name = data.draw(st.sampled_from(net.parameter_names))
    s = data.draw(st.floats(-2.0, 2.0))
    P = values[name]
    V = rng.normal(size=P.shape)
    along = loss_along(net, xv, yv, name)(V)(s)
    plain = loss_of(net, xv, yv, name)(P + s * V)
    assert along == pytest.approx(plain, rel=1e-10, abs=1e-12)
    assert loss_along(net, xv, yv, name)(V)(0.0) == pytest.approx(
        net.loss_value(x, y), rel=1e-12, abs=1e-14)


def test_a_direction_of_the_wrong_shape_is_refused():
    net = jc.MLP([np.ones((3, 2)), np.ones((2, 3))])
    x, y = net.data(np.ones(2), np.ones(2))
    with pytest.raises(jc.ShapeError, match=r"a direction of W1 must have its shape \(3, 2\)"):
        loss_along(net, x, y, "W1")(np.ones((2, 3)))


def _network(sizes, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in zip(sizes, sizes[1:])]
    return jc.MLP(weights, **kwargs), rng.normal(size=sizes[0]), rng.normal(size=sizes[-1])


class _WrongGradient(jc.MLP):
    """An MLP whose gradient of one parameter is wrong by ``error`` in BOTH routes.

    The literal chain and the compact formulas then agree with each other, so only the
    numbers (Gâteaux derivatives, finite differences) can tell.
    """

    def __init__(self, net, name, error):
        super().__init__(net.weights, activation=net.activation, loss=net.loss,
                         biases=net.biases)
        self.name, self.error = name, error

    def gradients(self, x, y, method="explicit"):
        grads = super().gradients(x, y, method=method)
        grads[self.name] = grads[self.name] + self.error(grads[self.name])
        return grads


@pytest.mark.parametrize("name, error", [
    ("W1", lambda g: 1e-3 * g),                                  # 0.1 % too large
    ("W2", lambda g: np.where(np.arange(g.size).reshape(g.shape) == 7, 1e-2 * abs(g).max(), 0)),
    ("W3", lambda g: g[::-1, ::-1] - g),                         # entries in the wrong places
    ("b2", lambda g: np.full_like(g, 1e-4)),
])
def test_a_wrong_gradient_fails_the_gateaux_check(name, error):
    net, x, y = _network([40, 30, 20, 6])
    net = jc.MLP(net.weights, biases=[np.zeros(30), np.full(20, 0.1), np.ones(6)])
    wrong = _WrongGradient(net, name, error)
    rows = {r.name: r for r in verify_network(wrong, x, y, entries=False)}
    assert rows[name].literal_vs_compact <= 1e-10  # the two routes agree: same wrong gradient
    assert not rows[name].directions.ok and not rows[name].ok
    assert all(r.ok for n, r in rows.items() if n != name)
    # ... and the correct network passes with the same directions
    assert all(r.ok for r in verify_network(net, x, y, entries=False))


def test_a_wrong_gradient_of_a_small_parameter_fails_both_numeric_checks():
    net, x, y = _network([4, 5, 3, 2])
    wrong = _WrongGradient(net, "W2", lambda g: 1e-3 * g)
    rows = {r.name: r for r in verify_network(wrong, x, y)}
    assert not rows["W2"].directions.ok and not rows["W2"].entries.ok
    assert rows["W1"].ok and rows["W3"].ok


def test_zero_gradients_are_ok():
    # x = 0 makes ∂f/∂W1 = δ₁xᵀ exactly zero; its differences are rounding noise, judged by atol.
    net, _, y = _network([6, 5, 4, 3])
    rows = verify_network(net, np.zeros(6), y)
    assert all(r.ok for r in rows)
    w1 = rows[0]
    assert w1.name == "W1" and w1.directions.scale == 0.0 and w1.directions.error <= 1e-8
    # At a minimum of the loss (y = ŷ) every gradient is exactly zero, and the central
    # differences are O(t²) and rounding: only atol makes them pass, so they must pass.
    net, x, _ = _network([6, 5, 4, 3])
    for entries in (False, True):
        rows = verify_network(net, x, net.predict(x), entries=entries)
        assert all(r.ok for r in rows)
        assert all(not np.any(jc.MLP.gradients(net, x, net.predict(x))[r.name]) for r in rows)
        assert all(r.directions.error < 1e-8 for r in rows)


def test_the_directions_are_uniform_seeded_and_reported():
    net, x, y = _network([30, 20, 10, 4])
    first = verify_network(net, x, y, directions=5, seed=3, entries=False)
    again = verify_network(net, x, y, directions=5, seed=3, entries=False)
    other = verify_network(net, x, y, directions=5, seed=4, entries=False)
    assert [r.directions.error for r in first] == [r.directions.error for r in again]
    assert [r.directions.error for r in first] != [r.directions.error for r in other]
    for r in first:
        c = r.directions
        assert c.method == ("Gâteaux derivatives (central differences) in 5 random uniform "
                            "directions")
        # The worst direction reported is the one random_directions draws for that seed.
        V = c.worst["V"]
        assert V.shape == r.shape and c.worst["seed"] == 3
        expected = list(random_directions(r.shape, 5, 3, "uniform"))[c.worst["direction"] - 1]
        np.testing.assert_array_equal(V, expected)


def test_batches_and_biases_verify():
    rng = np.random.default_rng(5)
    weights = [rng.normal(size=(7, 5)), rng.normal(size=(3, 7))]
    net = jc.MLP(weights, activation="tanh", biases=[rng.normal(size=(7, 1)),
                                                      rng.normal(size=3)])
    rows = verify_network(net, rng.normal(size=(5, 4)), rng.normal(size=(3, 4)))
    assert [r.name for r in rows] == ["W1", "W2", "b1", "b2"]
    assert all(r.ok and r.entries is not None for r in rows)
    assert rows[2].shape == (7, 1)
