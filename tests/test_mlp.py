"""The lecture network: literal chain == compact formulas == finite differences."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given

import jacobian_calc as jc
from jacobian_calc.testing import assert_allclose_scaled, mlp_problems


def fd_gradient(net, x, y, k):
    weights = net.weights

    def f(M):
        trial = list(weights)
        trial[k] = M
        return jc.MLP(trial, net.activation, net.loss).loss_value(x, y)

    return jc.finite_difference_jacobian(f, weights[k]).reshape(weights[k].shape, order="F")


@given(mlp_problems())
def test_literal_chain_equals_compact_formulas(problem):
    net = problem.network()
    literal = net.gradients(problem.x, problem.y, method="explicit")
    compact = net.gradients(problem.x, problem.y, method="backprop")
    assert list(literal) == [f"W{k}" for k in range(1, len(problem.weights) + 1)]
    for name, W in zip(literal, problem.weights):
        assert literal[name].shape == W.shape
        assert_allclose_scaled(literal[name], compact[name], rtol=1e-12, what=name)


@given(mlp_problems(max_size=6))
def test_literal_chain_equals_finite_differences(problem):
    net = problem.network()
    literal = net.gradients(problem.x, problem.y)
    scale = max(1.0, abs(net.loss_value(problem.x, problem.y)))
    for k, name in enumerate(literal):
        np.testing.assert_allclose(literal[name], fd_gradient(net, problem.x, problem.y, k),
                                   rtol=1e-5, atol=1e-7 * scale, err_msg=name)


@given(mlp_problems(max_size=6))
def test_row_gradient_is_vec_of_the_matrix_gradient(problem):
    net = problem.network()
    grads = net.gradients(problem.x, problem.y, method="backprop")
    for name, G in grads.items():
        J = net.jacobian(problem.x, y=problem.y, of="f", wrt=name)
        assert J.shape == (1, G.size)
        assert_allclose_scaled(J.toarray(), jc.vec(G).T, rtol=1e-12)


def test_lemma_2_6_both_ways(rng):
    """∂f/∂W = (∂f/∂y) xᵀ (eq 17) equals the literal (∂f/∂y)ᵀ (x₁I_p, …, x_dI_p) (eq 18–25)."""
    W, x, y = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    net = jc.MLP([W], loss="squared_error")
    dfdy = W @ x - y
    lemma = np.outer(dfdy, x)
    kron = dfdy[None, :] @ np.kron(x[None, :], np.eye(3))  # eq (18) with eq (22), dense oracle
    np.testing.assert_allclose(jc.unvec(kron, (3, 4)), lemma, rtol=1e-14)
    np.testing.assert_allclose(net.gradients(x, y)["W1"], lemma, rtol=1e-14)
    # and the other way: the stacked blocks x_i ∂f/∂y of eq (24)
    stacked = np.concatenate([x[i] * dfdy for i in range(4)])
    np.testing.assert_allclose(net.jacobian(x, y, of="f", wrt="W1").toarray()[0], stacked,
                               rtol=1e-14)


def test_jacobian_of_the_output_wrt_w1_matches_finite_differences(lecture):
    weights, x, _ = lecture
    net = jc.MLP(weights, activation="tanh")
    J = net.jacobian(x, of="yhat", wrt="W1")
    assert J.shape == (2, 20)
    fd = jc.finite_difference_jacobian(
        lambda M: jc.MLP([M, *weights[1:]], "tanh").predict(x), weights[0])
    np.testing.assert_allclose(J.toarray(), fd, atol=1e-8)


def test_jacobians_between_intermediate_nodes(lecture):
    (W1, W2, W3), x, y = lecture
    net = jc.MLP([W1, W2, W3], activation="sigmoid")
    h1 = W1 @ x
    s = 1 / (1 + np.exp(-h1))
    np.testing.assert_allclose(net.jacobian(x, of="h1", wrt="x").toarray(), W1)  # eq (11)
    np.testing.assert_allclose(net.jacobian(x, of="z1", wrt="h1").toarray(),
                               np.diag(s * (1 - s)), rtol=1e-14)  # eq (29)
    assert sp.issparse(net.jacobian(x, of="z1", wrt="h1").matrix)
    np.testing.assert_allclose(net.jacobian(x, of="h2", wrt="h1").toarray(),
                               W2 @ np.diag(s * (1 - s)), rtol=1e-14)
    J = net.jacobian(x, y, of="f", wrt="z2")
    assert J.shape == (1, 3)
    assert net.jacobian(x, of="h1", wrt="W2").nnz == 0  # h1 does not depend on W2


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_any_depth_names_its_layers(depth, rng):
    sizes = [3] * (depth + 1)
    net = jc.MLP([rng.normal(size=(3, 3)) for _ in range(depth)])
    assert net.depth == depth and net.sizes == tuple(sizes)
    names = net.node_names()
    assert names[: depth + 1] == ("x",) + tuple(f"W{k}" for k in range(1, depth + 1))
    assert "yhat" in names and f"h{depth}" not in names


def test_integers_are_accepted_and_computed_in_float(rng):
    W = [np.array([[1, 2], [3, 4]]), np.array([[1, -1]])]
    net = jc.MLP(W, activation="identity")
    g = net.gradients([1, 2], [3])
    # ŷ = W2 W1 x = [1, -1]·[5, 11] = −6, ∂f/∂ŷ = −9
    np.testing.assert_allclose(g["W2"], -9 * np.array([[5.0, 11.0]]))
    assert g["W1"].dtype == np.float64


def test_weights_are_copied_and_read_only(rng):
    W = rng.normal(size=(2, 2))
    net = jc.MLP([W])
    W[0, 0] = 100.0
    assert net.weights[0][0, 0] != 100.0


# ----------------------------------------------------------------------- bad input
@pytest.fixture
def net(lecture):
    return jc.MLP(lecture[0])


def test_mismatched_consecutive_weights_name_both(rng):
    with pytest.raises(jc.ShapeError, match=r"W2 \(3×4\) cannot follow W1 \(5×4\).*needs 5 "
                                            r"columns but has 4.*\(3×4\)·\(5×4\) → ✗ 4 ≠ 5"):
        jc.MLP([rng.normal(size=(5, 4)), rng.normal(size=(3, 4))])


def test_x_of_the_wrong_size(net):
    with pytest.raises(jc.ShapeError, match=r"x must have 4 entries to match W1 \(5×4\), got "
                                            r"shape \(3,\)"):
        net.gradients(np.ones(3), np.ones(2))


def test_y_of_the_wrong_size(net):
    with pytest.raises(jc.ShapeError, match=r"y must be shaped like ŷ.*\(2,\).*got shape \(3,\)"):
        net.gradients(np.ones(4), np.ones(3))
    with pytest.raises(jc.ShapeError, match="y must be shaped like"):
        net.gradients(np.ones(4), np.ones(3), method="backprop")


@pytest.mark.parametrize("where", ["x", "y", "W2"])
def test_non_finite_values_are_refused(where, lecture):
    weights, x, y = [w.copy() for w in lecture[0]], lecture[1].copy(), lecture[2].copy()
    {"x": x, "y": y, "W2": weights[1]}[where].flat[0] = np.inf
    with pytest.raises(ValueError, match=f"{where} has 1 non-finite value"):
        jc.MLP(weights).gradients(x, y)


def test_unknown_activation_loss_and_method_list_the_choices(lecture):
    weights, x, y = lecture
    with pytest.raises(ValueError, match="unknown activation 'elu'.*'relu', 'softplus'"):
        jc.MLP(weights, activation="elu")
    with pytest.raises(ValueError, match="unknown loss 'l1'.*'squared_error'"):
        jc.MLP(weights, loss="l1")
    with pytest.raises(ValueError, match="unknown method 'autodiff'.*'explicit', 'backprop'"):
        jc.MLP(weights).gradients(x, y, method="autodiff")


def test_non_numeric_arrays_are_refused(lecture):
    weights, x, y = lecture
    with pytest.raises(ValueError, match="x must hold real numbers, got an array of dtype <U"):
        jc.MLP(weights).gradients(["a", "b", "c", "d"], y)
    with pytest.raises(ValueError, match="W1 must hold real numbers.*object"):
        jc.MLP([np.array([[None, 1]], dtype=object)])
    with pytest.raises(ValueError, match="complex"):
        jc.MLP(weights).gradients(x + 1j, y)
    with pytest.raises(ValueError, match="W1 must be a matrix"):
        jc.MLP([np.ones(3)])
    with pytest.raises(ValueError, match="non-empty list"):
        jc.MLP([])


def test_unknown_node_names_and_missing_target(net, lecture):
    _, x, y = lecture
    with pytest.raises(ValueError, match="unknown wrt name 'W4'.*'W3'"):
        net.jacobian(x, of="yhat", wrt="W4")
    with pytest.raises(ValueError, match="unknown of name 'h3'"):
        net.jacobian(x, of="h3", wrt="x")
    with pytest.raises(ValueError, match="needs the target"):
        net.jacobian(x, of="f", wrt="W1")


def test_bad_input_changes_nothing(net, lecture):
    weights, x, y = lecture
    before = [w.copy() for w in net.weights], x.copy()
    with pytest.raises(ValueError):
        net.gradients(x, np.ones(5))
    assert all(np.array_equal(a, b) for a, b in zip(before[0], net.weights))
    assert np.array_equal(before[1], x)
