"""The lecture network: literal chain == compact formulas == finite differences."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings

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


@given(mlp_problems(max_size=12))
def test_literal_chain_equals_finite_differences(problem):
    net = problem.network()
    literal = net.gradients(problem.x, problem.y)
    scale = max(1.0, abs(net.loss_value(problem.x, problem.y)))
    for k, name in enumerate(literal):
        np.testing.assert_allclose(literal[name], fd_gradient(net, problem.x, problem.y, k),
                                   rtol=1e-5, atol=1e-7 * scale, err_msg=name)


@given(mlp_problems(max_size=12))
def test_row_gradient_is_vec_of_the_matrix_gradient(problem):
    net = problem.network()
    grads = net.gradients(problem.x, problem.y, method="backprop")
    for name, G in grads.items():
        J = net.jacobian(problem.x, y=problem.y, of="f", wrt=name)
        assert J.shape == (1, G.size)
        # The strategy bounds every input by 2 and every size by 12, so the two exact routes
        # agree to 1e-13 absolute even where the gradient cancels to rounding noise (1e-19).
        assert_allclose_scaled(J.toarray(), jc.vec(G).T, rtol=1e-12, atol=1e-13)


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
    with pytest.raises(jc.ShapeError, match=r"x must be a vector of length 4 or a 4×n batch "
                                            r"whose columns are examples, to match W1 \(5×4\); "
                                            r"got shape \(3,\)$"):
        net.gradients(np.ones(3), np.ones(2))


def test_a_row_for_x_is_told_to_be_a_column(net):
    # issue 13: x[None, :] has 4 entries, so "must have 4 entries" was no help
    with pytest.raises(jc.ShapeError, match=r"got shape \(1, 4\); it looks like a row or a "
                                            r"batch of rows: examples are columns, pass x.T"):
        net.gradients(np.ones(4)[None, :], np.ones(2))


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


# ------------------------------------------------------ batches and biases (issue 4)
from dataclasses import dataclass  # noqa: E402

from hypothesis import strategies as st  # noqa: E402

from jacobian_calc.testing import real_arrays  # noqa: E402


@dataclass(frozen=True)
class BatchProblem:
    weights: tuple
    biases: list | None
    X: np.ndarray
    Y: np.ndarray
    activation: str
    loss: str

    def network(self):
        return jc.MLP(list(self.weights), self.activation, self.loss, biases=self.biases)


@st.composite
def batch_problems(draw, max_size=5, activations=tuple(jc.ACTIVATIONS), biased=None,
                   smooth_kink=True):
    """A network from mlp_problems plus a batch of 1–5 columns and, optionally, biases."""
    from hypothesis import assume

    base = draw(mlp_problems(max_size=max_size, max_depth=3, activations=activations))
    n = draw(st.integers(1, 5))
    d, s = base.sizes[0], base.sizes[-1]
    X = draw(real_arrays((d, n)))
    if base.loss == "softmax_cross_entropy":
        raw = draw(real_arrays((s, n))) ** 2 + 1e-3
        Y = raw / raw.sum(axis=0)
    else:
        Y = draw(real_arrays((s, n)))
    with_bias = draw(st.booleans()) if biased is None else biased
    biases = None
    if with_bias:
        biases = [draw(real_arrays((W.shape[0],) if draw(st.booleans()) else (W.shape[0], 1)))
                  for W in base.weights]
    if smooth_kink and base.activation == "relu":  # keep pre-activations off the kink
        Z = X
        for k, W in enumerate(base.weights[:-1]):
            H = W @ Z + (0 if biases is None else biases[k].reshape(-1, 1))
            assume(np.min(np.abs(H)) > 1e-3)
            Z = np.maximum(H, 0)
    return BatchProblem(base.weights, biases, X, Y, base.activation, base.loss)


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(batch_problems())
def test_batch_and_bias_literal_chain_equals_compact_formulas(problem):
    net = problem.network()
    literal = net.gradients(problem.X, problem.Y, method="explicit")
    compact = net.gradients(problem.X, problem.Y, method="backprop")
    L = len(problem.weights)
    expected = [f"W{k}" for k in range(1, L + 1)]
    if problem.biases is not None:
        expected += [f"b{k}" for k in range(1, L + 1)]
        for k, b in enumerate(problem.biases, 1):
            assert literal[f"b{k}"].shape == np.shape(b)
    assert list(literal) == expected and list(compact) == expected
    for name in expected:
        # absolute floor: a gradient that cancels to 0 is only zero up to rounding
        np.testing.assert_allclose(literal[name], compact[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@settings(max_examples=60)  # finite differences in every example: keep the suite fast
@given(batch_problems(max_size=4, activations=("sigmoid", "tanh", "softplus", "relu"),
                      biased=True))
def test_batch_and_bias_gradients_match_finite_differences(problem):
    net = problem.network()
    grads = net.gradients(problem.X, problem.Y)
    scale = max(1.0, abs(net.loss_value(problem.X, problem.Y)))
    for k in range(len(problem.weights)):
        def f(v, k=k):
            trial = list(problem.biases)
            trial[k] = v
            return jc.MLP(list(problem.weights), problem.activation, problem.loss,
                          biases=trial).loss_value(problem.X, problem.Y)
        fd = jc.finite_difference_jacobian(f, problem.biases[k]).reshape(
            np.shape(problem.biases[k]), order="F")
        np.testing.assert_allclose(grads[f"b{k + 1}"], fd, rtol=1e-5, atol=1e-7 * scale)


def test_a_batch_sums_the_per_example_losses_and_gradients(lecture, rng):
    weights, _, _ = lecture
    biases = [rng.normal(size=W.shape[0]) for W in weights]
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    net = jc.MLP(weights, "tanh", biases=biases)
    batch = net.gradients(X, Y)
    singles = [net.gradients(X[:, j], Y[:, j]) for j in range(3)]
    for name in batch:
        np.testing.assert_allclose(batch[name], sum(g[name] for g in singles), rtol=1e-12)
    np.testing.assert_allclose(net.loss_value(X, Y),
                               sum(net.loss_value(X[:, j], Y[:, j]) for j in range(3)))


def test_batch_wx_factor_is_xt_kron_identity(lecture, rng):
    weights, _, _ = lecture
    X = rng.normal(size=(4, 3))
    net = jc.MLP(weights, "sigmoid")
    J = net.jacobian(X, of="h1", wrt="W1")
    assert J.issparse and J.shape == (15, 20)
    np.testing.assert_array_equal(J.toarray(), np.kron(X.T, np.eye(5)))


def test_jacobian_with_respect_to_a_bias(lecture, rng):
    weights, _, _ = lecture
    biases = [rng.normal(size=(W.shape[0], 1)) for W in weights]
    X = rng.normal(size=(4, 3))
    net = jc.MLP(weights, "tanh", biases=biases)
    J = net.jacobian(X, of="yhat", wrt="b2")
    assert J.shape == (6, 3)

    def f(v):
        trial = list(biases)
        trial[1] = v.reshape(3, 1)
        return jc.MLP(weights, "tanh", biases=trial).predict(X)

    np.testing.assert_allclose(J.toarray(), jc.finite_difference_jacobian(f, biases[1].ravel()),
                               atol=1e-8)
    # the last bias enters ŷ directly: 1ₙ ⊗ I_s
    np.testing.assert_array_equal(net.jacobian(X, of="yhat", wrt="b3").toarray(),
                                  np.kron(np.ones((3, 1)), np.eye(2)))


def test_bias_names_and_derivation(lecture, rng):
    weights, x, y = lecture
    net = jc.MLP(weights, "sigmoid", biases=[np.zeros(W.shape[0]) for W in weights])
    names = net.node_names()
    assert {"b1", "b2", "b3", "W1x", "W2z1", "W3z2"} <= set(names)
    text = str(net.derivation(x, y, wrt="b1"))
    assert "h1 = W1x + b1" in text and "∂h1/∂b1 = I₅" in text
    assert "MLP(4 → 5 → 3 → 2, activation='sigmoid', loss='squared_error', biases)" == repr(net)
    w2 = str(net.derivation(x, y, wrt="W2"))  # Lemma 2.6 still applies with a bias
    assert "(3×3)·(3×3)·(3×2)·(2×2)·(2×1)·(1×5) → 3×5" in w2


def test_single_column_batch_equals_the_vector(lecture, rng):
    weights, x, y = lecture
    biases = [rng.normal(size=W.shape[0]) for W in weights]
    net = jc.MLP(weights, "softplus", biases=biases)
    a = net.gradients(x, y)
    b = net.gradients(x[:, None], y[:, None])
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-14)


def test_bad_biases_are_reported(lecture):
    weights, _, _ = lecture
    with pytest.raises(jc.ShapeError, match=r"biases has 2 entries but there are 3 weight"):
        jc.MLP(weights, biases=[np.zeros(5), np.zeros(3)])
    with pytest.raises(jc.ShapeError, match=r"b2 must have shape \(3,\) or \(3, 1\).*W2 \(3×5\)"
                                            r".*got shape \(4,\)"):
        jc.MLP(weights, biases=[np.zeros(5), np.zeros(4), np.zeros(2)])
    with pytest.raises(jc.JacobianCalcError, match="b1 has 1 non-finite"):
        jc.MLP(weights, biases=[np.array([np.nan, 0, 0, 0, 0]), np.zeros(3), np.zeros(2)])
    with pytest.raises(jc.JacobianCalcError, match="list"):
        jc.MLP(weights, biases=np.zeros(5))
    net = jc.MLP(weights, biases=[np.zeros(5), np.zeros(3), np.zeros(2)])
    with pytest.raises(jc.ChoiceError, match="'b3'"):
        net.jacobian(np.zeros(4), of="yhat", wrt="b4")
