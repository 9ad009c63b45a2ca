"""The compact second-order formulas against independent oracles.

Oracles: central finite differences of the compact gradient (``backprop.mlp_gradients``),
finite differences of the network output (Jacobians J) and of the loss gradient (H_L) for
the Gauss-Newton blocks, and closed forms (the one-layer squared error, whose Hessian is
(x xᵀ) ⊗ I). Values are drawn in [−1, 1] with sizes 1–4, depths 1–4 and batches 1–3, so
one step of 1e-5 and the tolerances below hold for every draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.lecture.backprop import mlp_forward, mlp_gradients
from jacobian_calc.lecture.curvature import (
    loss_hessians, mlp_gauss_newton_block, mlp_hessian, mlp_hvp, mlp_kfac,
)
from jacobian_calc.testing import real_arrays

SMOOTH = ("identity", "sigmoid", "tanh", "softplus")  # softplus, sigmoid, tanh: φ″ ≠ 0
ACTIVATIONS = SMOOTH + ("relu",)
LOSSES = ("squared_error", "softmax_cross_entropy")
STEP = 1e-5  # central differences: error ~ STEP² · (third derivative), rounding ~ 1e-16/STEP


# ------------------------------------------------------------------ problems and helpers
@dataclass(frozen=True)
class Problem:
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...] | None
    x: np.ndarray
    y: np.ndarray
    activation: str
    loss: str

    @property
    def depth(self):
        return len(self.weights)

    @property
    def n(self):
        return 1 if self.x.ndim == 1 else self.x.shape[1]

    @property
    def names(self):
        L = self.depth
        return [f"W{k}" for k in range(1, L + 1)] + \
            ([] if self.biases is None else [f"b{k}" for k in range(1, L + 1)])

    @property
    def params(self):
        out = {f"W{k}": W for k, W in enumerate(self.weights, 1)}
        if self.biases is not None:
            out.update({f"b{k}": b for k, b in enumerate(self.biases, 1)})
        return out

    def args(self):
        return list(self.weights), self.x, self.y, self.activation, self.loss

    def theta(self):
        return np.concatenate([self.params[n].ravel(order="F") for n in self.names])

    def unpack(self, theta):
        out, o = {}, 0
        for name in self.names:
            p = self.params[name]
            out[name] = theta[o:o + p.size].reshape(p.shape, order="F")
            o += p.size
        weights = [out[f"W{k}"] for k in range(1, self.depth + 1)]
        biases = None if self.biases is None else [out[f"b{k}"] for k in range(1, self.depth + 1)]
        return weights, biases

    def gradient(self, theta):
        """vec of every ∂f/∂parameter at theta, by the compact first-order formulas."""
        weights, biases = self.unpack(theta)
        g = mlp_gradients(weights, self.x, self.y, self.activation, self.loss, biases)
        return np.concatenate([g[n].ravel(order="F") for n in self.names])

    def yhat(self, theta):
        weights, biases = self.unpack(theta)
        return mlp_forward(weights, self.x, self.activation, biases)[0][-1]

    def pattern(self, theta):
        """The signs of every hidden pre-activation: relu's linear piece."""
        weights, biases = self.unpack(theta)
        hs, _ = mlp_forward(weights, self.x, self.activation, biases)
        return [np.sign(h) for h in hs[:-1]]

    def offsets(self):
        sizes = [self.params[n].size for n in self.names]
        ends = np.cumsum(sizes)
        return {n: slice(e - s, e) for n, s, e in zip(self.names, sizes, ends)}


@st.composite
def problems(draw, activations=ACTIVATIONS, losses=LOSSES, min_depth=1, max_depth=4,
             max_size=4, batch=st.sampled_from([None, 1, 2, 3]), biases=st.booleans(),
             min_width=1):
    """Networks of sizes 1–``max_size`` (layers after the input at least ``min_width``)."""
    depth = draw(st.integers(min_depth, max_depth))
    sizes = [draw(st.integers(1, max_size))] + draw(
        st.lists(st.integers(min_width, max_size), min_size=depth, max_size=depth))
    weights = tuple(draw(real_arrays((o, i), 1.0)) for i, o in zip(sizes, sizes[1:]))
    n = draw(batch)
    cols = () if n is None else (n,)
    x = draw(real_arrays((sizes[0],) + cols, 1.0))
    loss = draw(st.sampled_from(losses))
    # the cross-entropy's target: entries in [0, 1], not necessarily summing to 1
    y = draw(real_arrays((sizes[-1],) + cols, 1.0))
    if loss == "softmax_cross_entropy":
        y = np.abs(y)
    bs = None
    if draw(biases):
        bs = tuple(draw(real_arrays((m,) if draw(st.booleans()) else (m, 1), 1.0))
                   for m in sizes[1:])
    return Problem(weights, bs, x, y, draw(st.sampled_from(activations)), loss)


def fd_hessian(p):
    """Central differences of the compact gradient, one column per parameter entry."""
    theta = p.theta()
    columns = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = STEP
        if p.activation == "relu":  # both points on the base point's linear piece
            base = p.pattern(theta)
            assume(all(np.array_equal(a, b) for t in (theta + e, theta - e)
                       for a, b in zip(p.pattern(t), base)))
        columns.append((p.gradient(theta + e) - p.gradient(theta - e)) / (2 * STEP))
    return np.stack(columns, axis=1)


def assert_close(actual, expected, rtol, scale=1.0):
    """max|actual − expected| ≤ rtol · max(scale, max|actual|, max|expected|)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    bound = rtol * max(scale, np.max(np.abs(actual), initial=0.0),
                       np.max(np.abs(expected), initial=0.0))
    err = np.max(np.abs(actual - expected), initial=0.0)
    assert err <= bound, f"max error {err:.3e} > {bound:.3e}"


def gradient_scale(p):
    """FD rounding grows with the gradient's size: it sets the floor of the tolerances."""
    return max(1.0, float(np.max(np.abs(p.gradient(p.theta())))))


def hessian(p):
    return mlp_hessian(*p.args(), biases=p.biases)


# ----------------------------------------------------------- the loss Hessian H_L
@given(st.integers(1, 5), st.integers(1, 3), st.sampled_from(LOSSES), st.data())
def test_loss_hessians_are_the_derivative_of_the_loss_gradient(s, n, loss, data):
    yhat = data.draw(real_arrays((s, n), 3.0))
    y = np.abs(data.draw(real_arrays((s, n), 1.0)))
    H = loss_hessians(yhat, y, loss)
    gradient = jc.LOSSES[loss].gradients[0]
    assert H.shape == (n, s, s)
    for i in range(n):
        fd = np.stack([(gradient(yhat[:, [i]] + STEP * e[:, None], y[:, [i]])
                        - gradient(yhat[:, [i]] - STEP * e[:, None], y[:, [i]]))[:, 0]
                       / (2 * STEP) for e in np.eye(s)], axis=1)
        assert_close(H[i], fd, 1e-8)


def test_loss_hessians_closed_forms():
    np.testing.assert_array_equal(loss_hessians([3.0, -1.0], [0.0, 7.0]), [np.eye(2)])
    # softmax(0, 0) = (½, ½): diag(p) − p pᵀ = ¼ [[1, −1], [−1, 1]]; the target's mass scales it
    H = loss_hessians([[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.5], [0.0, 1.5]], "softmax_cross_entropy")
    np.testing.assert_allclose(H, [[[0.25, -0.25], [-0.25, 0.25]],
                                   [[0.5, -0.5], [-0.5, 0.5]]], rtol=1e-15)


# ---------------------------------------------------------- Hessian and HVP against FD
@given(problems())
def test_hessian_matches_finite_differences_of_the_gradient(p):
    H = hessian(p)
    assert H.shape == (p.theta().size,) * 2
    assert_close(H, fd_hessian(p), 1e-6, gradient_scale(p))


@given(problems(), st.data())
def test_hvp_matches_a_finite_difference_along_v(p, data):
    V = {name: data.draw(real_arrays(p.params[name].shape, 1.0))
         for name in p.names if data.draw(st.booleans())}
    out = mlp_hvp(*p.args(), V, biases=p.biases)
    assert list(out) == p.names
    for name in p.names:
        assert out[name].shape == p.params[name].shape
    v = np.concatenate([V.get(n, np.zeros(p.params[n].shape)).ravel(order="F") for n in p.names])
    theta = p.theta()
    if p.activation == "relu":
        base = p.pattern(theta)
        assume(all(np.array_equal(a, b) for t in (theta + STEP * v, theta - STEP * v)
                   for a, b in zip(p.pattern(t), base)))
    fd = (p.gradient(theta + STEP * v) - p.gradient(theta - STEP * v)) / (2 * STEP)
    got = np.concatenate([out[n].ravel(order="F") for n in p.names])
    assert_close(got, fd, 1e-6, gradient_scale(p))


@given(problems())
def test_hessian_is_symmetric(p):
    H = hessian(p)
    assert_close(H, H.T, 1e-12, gradient_scale(p))


@given(problems(), st.data())
def test_hvp_is_the_hessian_times_vec_v(p, data):
    V = {name: data.draw(real_arrays(p.params[name].shape, 1.0))
         for name in p.names if data.draw(st.booleans())}
    out = mlp_hvp(*p.args(), V, biases=p.biases)
    v = np.concatenate([V.get(n, np.zeros(p.params[n].shape)).ravel(order="F") for n in p.names])
    got = np.concatenate([out[n].ravel(order="F") for n in p.names])
    assert_close(got, hessian(p) @ v, 1e-12, gradient_scale(p))


@given(problems(batch=st.integers(2, 3)))
def test_a_batch_sums_the_hessians_of_its_examples(p):
    total = sum(mlp_hessian(list(p.weights), p.x[:, i], p.y[:, i], p.activation, p.loss,
                            biases=p.biases) for i in range(p.n))
    assert_close(hessian(p), total, 1e-12, gradient_scale(p))


# -------------------------------------------------------------------- Gauss-Newton
def fd_gauss_newton(p):
    """Σ_i J_iᵀ H_L,i J_i with J = ∂ŷ/∂θ and H_L = ∂(∂f/∂ŷ)/∂ŷ both by finite differences."""
    theta = p.theta()
    yhat = p.yhat(theta)
    J = np.stack([(p.yhat(theta + STEP * e) - p.yhat(theta - STEP * e)) / (2 * STEP)
                  for e in np.eye(theta.size)], axis=-1)  # (s,[n,] P)
    gradient = jc.LOSSES[p.loss].gradients[0]
    Y, Yhat = p.y.reshape(p.y.shape[0], -1), yhat.reshape(yhat.shape[0], -1)
    J = J.reshape(Yhat.shape + (theta.size,))
    G = np.zeros((theta.size, theta.size))
    for i in range(p.n):
        HL = np.stack([(gradient(Yhat[:, i] + STEP * e, Y[:, i])
                        - gradient(Yhat[:, i] - STEP * e, Y[:, i])) / (2 * STEP)
                       for e in np.eye(Yhat.shape[0])], axis=1)
        G += J[:, i].T @ HL @ J[:, i]
    return G


@given(problems(activations=SMOOTH), st.data())
def test_gauss_newton_blocks_match_finite_differences(p, data):
    names = p.names
    k, l = data.draw(st.sampled_from(names)), data.draw(st.sampled_from(names))
    block = mlp_gauss_newton_block(*p.args(), k, l, biases=p.biases)
    where = p.offsets()
    fd = fd_gauss_newton(p)[where[k], where[l]]
    assert block.shape == fd.shape
    assert_close(block, fd, 1e-6, gradient_scale(p))


@given(problems(), st.data())
def test_gauss_newton_equals_the_hessian_at_a_perfect_fit(p, data):
    # y = ŷ: every residual term is multiplied by δ = 0 (squared error), so H = GN exactly
    fit = Problem(p.weights, p.biases, p.x, p.yhat(p.theta()), p.activation, "squared_error")
    k, l = data.draw(st.sampled_from(p.names)), data.draw(st.sampled_from(p.names))
    where = fit.offsets()
    assert_close(mlp_gauss_newton_block(*fit.args(), k, l, biases=fit.biases),
          hessian(fit)[where[k], where[l]], 1e-12)


@given(problems(max_depth=1), st.data())
def test_one_layer_gauss_newton_is_the_hessian(p, data):
    # ŷ = W x (+ b) is linear in the parameters: the loss term is all there is
    k, l = data.draw(st.sampled_from(p.names)), data.draw(st.sampled_from(p.names))
    where = p.offsets()
    assert_close(mlp_gauss_newton_block(*p.args(), k, l, biases=p.biases),
          hessian(p)[where[k], where[l]], 1e-12)


@given(problems(activations=("relu", "identity")), st.data())
def test_same_layer_blocks_are_gauss_newton_for_relu_and_identity(p, data):
    # φ″ = 0 and a layer's product W_k z_{k−1} is linear in W_k: no residual term on the diagonal
    k = data.draw(st.sampled_from(p.names))
    where = p.offsets()
    assert_close(mlp_gauss_newton_block(*p.args(), k, k, biases=p.biases),
          hessian(p)[where[k], where[k]], 1e-12, gradient_scale(p))


def test_deep_linear_cross_blocks_differ_from_gauss_newton(rng):
    # f = ½‖W2 W1 x − y‖²: H_{W1 W2} = GN + (x ⊗ I)(rᵀ ⊗ ... ) — the product term x rᵀ-shaped
    W1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(2, 3))
    x, y = rng.normal(size=2), rng.normal(size=2)
    H = mlp_hessian([W1, W2], x, y, "identity", "squared_error")
    GN = mlp_gauss_newton_block([W1, W2], x, y, "identity", "squared_error", 1, 2)
    # the residual: ∂²(rᵀ W2 W1 x)/∂vec W1 ∂vec W2, r = ŷ − y; entry (W1[i,j], W2[a,b]) is
    # r_a x_j [b == i]
    r = W2 @ W1 @ x - y
    R = np.zeros((6, 6))
    for i in range(3):
        for j in range(2):
            for a in range(2):
                R[i + 3 * j, a + 2 * i] = r[a] * x[j]
    np.testing.assert_allclose(H[:6, 6:], GN + R, rtol=1e-12, atol=1e-14)
    assert np.max(np.abs(R)) > 1e-3


# ------------------------------------------------------------------ closed forms
@given(problems(max_depth=1, losses=("squared_error",), activations=("tanh",)))
def test_one_layer_squared_error_hessian_is_x_xT_kron_identity(p):
    # f = ½‖W x (+ b) − y‖² summed over columns: H_WW = (X Xᵀ) ⊗ I, H_Wb = X1 ⊗ I, H_bb = n I
    X = p.x.reshape(p.x.shape[0], -1)
    s = p.weights[0].shape[0]
    H = hessian(p)
    where = p.offsets()
    assert_close(H[where["W1"], where["W1"]], np.kron(X @ X.T, np.eye(s)), 1e-13)
    if p.biases is not None:
        assert_close(H[where["W1"], where["b1"]], np.kron(X.sum(axis=1, keepdims=True), np.eye(s)), 1e-13)
        assert_close(H[where["b1"], where["b1"]], p.n * np.eye(s), 1e-13)


def test_one_layer_squared_error_by_hand():
    W, x, y = np.arange(6.0).reshape(2, 3), np.array([1.0, -2.0, 0.5]), np.zeros(2)
    expected = np.array([[x[j] * x[m] * (a == b) for m in range(3) for b in range(2)]
                         for j in range(3) for a in range(2)])  # vec order: (a, j) → a + 2j
    np.testing.assert_array_equal(mlp_hessian([W], x, y, "sigmoid", "squared_error"), expected)


# ------------------------------------------------------------------------- K-FAC
@given(problems(batch=st.sampled_from([None, 1]), activations=SMOOTH + ("relu",)), st.data())
def test_kfac_is_the_gauss_newton_block_for_one_example(p, data):
    k = data.draw(st.integers(1, p.depth))
    A, G = mlp_kfac(*p.args(), k, biases=p.biases)
    W = p.weights[k - 1]
    assert A.shape == (W.shape[1],) * 2 and G.shape == (W.shape[0],) * 2
    assert_close(np.kron(A, G), mlp_gauss_newton_block(*p.args(), k, k, biases=p.biases), 1e-12)


@given(problems(batch=st.just(None)), st.integers(2, 3), st.data())
def test_kfac_is_exact_for_a_batch_of_copies(p, n, data):
    # n copies of one example: A = z zᵀ, G = n BᵀHB, A ⊗ G = Σ of n equal GN blocks
    k = data.draw(st.integers(1, p.depth))
    X, Y = np.repeat(p.x[:, None], n, axis=1), np.repeat(p.y[:, None], n, axis=1)
    A, G = mlp_kfac(list(p.weights), X, Y, p.activation, p.loss, f"W{k}", biases=p.biases)
    z = mlp_forward(list(p.weights), p.x, p.activation, p.biases)[1][k - 1]
    assert_close(A, np.outer(z, z), 1e-13)
    assert_close(np.kron(A, G), mlp_gauss_newton_block(list(p.weights), X, Y, p.activation, p.loss,
                                                k, k, biases=p.biases), 1e-10)


def test_kfac_normalisation_on_a_batch(rng):
    # A averages z zᵀ, G sums BᵀHB: for one layer and squared error, B = I, H_L = I
    W, X, Y = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    A, G = mlp_kfac([W], X, Y, "tanh", "squared_error", 1)
    np.testing.assert_allclose(A, X @ X.T / 4, rtol=1e-14)
    np.testing.assert_allclose(G, 4 * np.eye(2), rtol=1e-15)
    GN = mlp_gauss_newton_block([W], X, Y, "tanh", "squared_error", 1, 1)
    np.testing.assert_allclose(np.kron(A, G), GN, rtol=1e-14)  # exact here: B is constant


# ------------------------------------------------------------------------- errors
@pytest.fixture
def small(rng):
    return [rng.normal(size=(3, 2)), rng.normal(size=(2, 3))], rng.normal(size=2), rng.normal(size=2)


def test_unknown_loss_and_activation_list_the_choices(small):
    weights, x, y = small
    with pytest.raises(jc.ChoiceError, match="'squared_error', 'softmax_cross_entropy'"):
        mlp_hessian(weights, x, y, "tanh", "hinge")
    with pytest.raises(jc.ChoiceError, match="activation 'exp'"):
        mlp_hessian(weights, x, y, "exp", "squared_error")
    with pytest.raises(jc.ChoiceError, match="squared_error"):
        loss_hessians([1.0], [1.0], "cross_entropy")


def test_a_table_loss_without_a_closed_form_hessian_is_refused(small):
    from dataclasses import replace
    weights, x, y = small
    other = replace(jc.LOSSES["squared_error"], name="scaled_error")
    with pytest.raises(jc.ChoiceError, match="closed-form Hessian.*'scaled_error'"):
        mlp_hvp(weights, x, y, "tanh", other, {})


def test_an_activation_without_second_derivative_is_refused(small):
    from jacobian_calc import extend
    weights, x, y = small
    extend.elementwise("softsign_c", lambda h: h / (1 + np.abs(h)),
                       lambda h: 1 / (1 + np.abs(h)) ** 2, activation=True)
    try:
        with pytest.raises(jc.JacobianCalcError, match="softsign_c.*second derivative"):
            mlp_hessian(weights, x, y, "softsign_c", "squared_error")
    finally:
        extend.remove("softsign_c")


def test_bad_names_and_shapes(small):
    weights, x, y = small
    with pytest.raises(jc.ChoiceError, match="unknown parameter name in V 'W3'.*'W1', 'W2'"):
        mlp_hvp(weights, x, y, "tanh", "squared_error", {"W3": np.ones((2, 2))})
    with pytest.raises(jc.ChoiceError, match="'b1'"):  # no biases in this network
        mlp_hvp(weights, x, y, "tanh", "squared_error", {"b1": np.ones(3)})
    with pytest.raises(jc.ShapeError, match=r"V\['W1'\] must be shaped like W1, \(3, 2\)"):
        mlp_hvp(weights, x, y, "tanh", "squared_error", {"W1": np.ones((2, 3))})
    with pytest.raises(jc.ChoiceError, match="unknown parameter 'W5'"):
        mlp_gauss_newton_block(weights, x, y, "tanh", "squared_error", "W5", 1)
    with pytest.raises(jc.ChoiceError, match="unknown parameter 3"):
        mlp_gauss_newton_block(weights, x, y, "tanh", "squared_error", 3, 1)
    with pytest.raises(jc.ChoiceError, match="unknown parameter 'b1'"):
        mlp_kfac(weights, x, y, "tanh", "squared_error", "b1", biases=[np.ones(3), np.ones(2)])
    with pytest.raises(jc.ShapeError, match="x must have 2 rows"):
        mlp_hessian(weights, np.ones(3), y, "tanh", "squared_error")
    with pytest.raises(jc.ShapeError, match=r"y must be shaped like ŷ, i.e. \(2, 4\)"):
        mlp_hessian(weights, np.ones((2, 4)), y, "tanh", "squared_error")
    with pytest.raises(jc.ShapeError, match="W2 has shape"):
        mlp_hessian([weights[0], np.ones((2, 2))], x, y, "tanh", "squared_error")
    with pytest.raises(jc.ShapeError, match=r"b2 must have shape \(2,\) or \(2, 1\)"):
        mlp_hessian(weights, x, y, "tanh", "squared_error", biases=[np.ones(3), np.ones(3)])


def test_biases_come_back_shaped_as_given(small):
    weights, x, y = small
    biases = [np.ones((3, 1)), np.ones(2)]
    out = mlp_hvp(weights, x, y, "tanh", "squared_error", {"b1": np.ones(3)}, biases=biases)
    assert [out[n].shape for n in ("W1", "W2", "b1", "b2")] == [(3, 2), (2, 3), (3, 1), (2,)]
    H = mlp_hessian(weights, x, y, "tanh", "squared_error", biases=biases)
    np.testing.assert_allclose(out["b1"].ravel(), H[12:15, 12:15].sum(axis=1), rtol=1e-13)


def test_overflow_is_a_domain_error_not_a_nan():
    W = [np.full((2, 2), 1e200), np.full((2, 2), 1e200)]
    with pytest.raises(jc.DomainError, match="overflows"):
        mlp_hessian(W, np.ones(2), np.ones(2), "softplus", "squared_error")
    with pytest.raises(jc.DomainError):
        mlp_kfac(W, np.ones(2), np.ones(2), "identity", "squared_error", 1)
    # finite forward values whose second-order products overflow
    # (ŷ = 1 is finite, the Hessian (x xᵀ) ⊗ I = 1e320 is not)
    W, x = [np.full((1, 1), 1e-160)], np.full(1, 1e160)
    with pytest.raises(jc.DomainError, match="not finite"):
        mlp_hessian(W, x, np.zeros(1), "tanh", "squared_error")
    with pytest.raises(jc.DomainError, match="not finite"):
        mlp_gauss_newton_block(W, x, np.zeros(1), "tanh", "squared_error", 1, 1)
    with pytest.raises(jc.DomainError, match="not finite"):
        mlp_hvp(W, x, np.zeros(1), "tanh", "squared_error", {"W1": np.ones((1, 1))})
