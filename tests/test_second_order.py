"""The literal second-order API (MLP.hessian, gauss_newton, hessian_terms, kfac, hvp;
jc.hessian, jc.hvp) against the compact formulas and finite differences.

The compact side (:mod:`jacobian_calc.lecture.curvature`) shares no code with the literal
machinery, and is itself checked against finite differences in ``test_curvature.py``;
here the literal route is compared with it, with finite differences directly, and with
the exact identities of the lecture network (symmetry, GN = H where the residual
vanishes, the product term of a deep linear network, K-FAC for one example, (x xᵀ) ⊗ I).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.core.structure import Kron
from jacobian_calc.lecture.backprop import mlp_forward
from jacobian_calc.lecture.curvature import (
    loss_hessians, mlp_gauss_newton_block, mlp_hessian, mlp_hvp, mlp_kfac,
)
from jacobian_calc.testing import real_arrays
from test_curvature import SMOOTH, Problem, assert_close, fd_hessian, gradient_scale, problems


def network(p: Problem) -> jc.MLP:
    return jc.MLP(list(p.weights), p.activation, p.loss,
                  biases=None if p.biases is None else list(p.biases))


def compact_hessian(p):
    return mlp_hessian(*p.args(), biases=p.biases)


def pairs(p):
    return st.tuples(st.sampled_from(p.names), st.sampled_from(p.names))


def dense(M):
    return M.toarray() if hasattr(M, "toarray") else np.asarray(M)


# ------------------------------------------------------- literal = compact = FD
@given(problems())
def test_full_hessian_is_the_compact_hessian(p):
    H = network(p).hessian(p.x, p.y)
    assert H.shape == (p.theta().size,) * 2
    assert list(H.parts) == p.names  # (vec W1, …, vec WL, b1, …, bL)
    assert_close(H.toarray(), compact_hessian(p), 1e-10, gradient_scale(p))


@given(problems(), st.data())
def test_hessian_blocks_are_the_compact_blocks(p, data):
    a, b = data.draw(pairs(p))
    where = p.offsets()
    block = network(p).hessian(p.x, p.y, wrt=(a, b))
    assert block.shape == (p.params[a].size, p.params[b].size)
    assert_close(block.toarray(), compact_hessian(p)[where[a], where[b]], 1e-10, gradient_scale(p))
    if a == b:  # one name is the diagonal block
        assert_close(network(p).hessian(p.x, p.y, wrt=a).toarray(), block.toarray(), 1e-13)


@given(problems(), st.data())
def test_hessian_blocks_match_finite_differences(p, data):
    a, b = data.draw(pairs(p))
    where = p.offsets()
    block = network(p).hessian(p.x, p.y, wrt=(a, b)).toarray()
    assert_close(block, fd_hessian(p)[where[a], where[b]], 1e-6, gradient_scale(p))


@given(problems())
def test_full_hessian_is_symmetric(p):
    H = network(p).hessian(p.x, p.y).toarray()
    assert_close(H, H.T, 1e-12, gradient_scale(p))


@given(problems(), st.data())
def test_a_block_and_its_mirror_are_transposes(p, data):
    a, b = data.draw(pairs(p))
    net = network(p)
    assert_close(net.hessian(p.x, p.y, wrt=(a, b)).toarray(),
          net.hessian(p.x, p.y, wrt=(b, a)).toarray().T, 1e-12, gradient_scale(p))


@given(problems(), st.data())
def test_hvp_is_the_compact_hvp(p, data):
    V = {name: data.draw(real_arrays(p.params[name].shape, 1.0))
         for name in p.names if data.draw(st.booleans())}
    literal = network(p).hvp(p.x, p.y, V)
    compact = mlp_hvp(*p.args(), V, biases=p.biases)
    assert list(literal) == p.names
    for name in p.names:
        # compared by value: see test_hvp_gives_biases_the_shape_they_were_given for shapes
        assert literal[name].size == p.params[name].size
        assert_close(literal[name].reshape(compact[name].shape), compact[name], 1e-10,
              gradient_scale(p))


def test_hvp_gives_biases_the_shape_they_were_given(rng):
    weights = [rng.normal(size=(3, 2)), rng.normal(size=(2, 3))]
    biases = [rng.normal(size=(3, 1)), rng.normal(size=2)]
    net = jc.MLP(weights, "tanh", biases=biases)
    x, y = rng.normal(size=2), rng.normal(size=2)
    assert net.gradients(x, y)["b1"].shape == (3, 1)
    assert mlp_hvp(weights, x, y, "tanh", "squared_error", {}, biases=biases)["b1"].shape \
        == (3, 1)
    assert net.hvp(x, y, {})["b1"].shape == (3, 1)


# ----------------------------------------------------------------- Gauss-Newton
@given(problems(), st.data())
def test_gauss_newton_blocks_are_the_compact_blocks(p, data):
    a, b = data.draw(pairs(p))
    G = network(p).gauss_newton(p.x, p.y, wrt=(a, b))
    assert_close(G.toarray(), mlp_gauss_newton_block(*p.args(), a, b, biases=p.biases), 1e-10,
          gradient_scale(p))


@settings(max_examples=40)  # the full literal Gauss-Newton matrix is ~0.2 s at the largest draws
@given(problems())
def test_full_gauss_newton_is_the_compact_blocks(p):
    G = network(p).gauss_newton(p.x, p.y).toarray()
    where = p.offsets()
    for a in p.names:
        for b in p.names:
            assert_close(G[where[a], where[b]], mlp_gauss_newton_block(*p.args(), a, b,
                                                                biases=p.biases),
                  1e-10, gradient_scale(p))


@given(problems(max_depth=1, losses=("squared_error",)))
def test_one_layer_linear_squared_error_gauss_newton_is_the_hessian(p):
    net = network(p)
    assert_close(net.gauss_newton(p.x, p.y).toarray(), net.hessian(p.x, p.y).toarray(), 1e-13)


@given(problems(), st.data())
def test_gauss_newton_is_the_hessian_at_a_perfect_fit(p, data):
    fit = Problem(p.weights, p.biases, p.x, p.yhat(p.theta()), p.activation, "squared_error")
    a, b = data.draw(pairs(fit))
    net = network(fit)
    assert_close(net.gauss_newton(fit.x, fit.y, wrt=(a, b)).toarray(),
          net.hessian(fit.x, fit.y, wrt=(a, b)).toarray(), 1e-12)


def b_factors(p, x):
    """B_k = ∂ŷ/∂h_k of one example, written out with numpy: B_L = I, B_k = B_{k+1} W_{k+1} diag φ′."""
    hs, zs = mlp_forward(list(p.weights), x, p.activation, p.biases)
    dphi = jc.ACTIVATIONS[p.activation].pointwise.derivative
    B = [np.eye(p.weights[-1].shape[0])]
    for k in range(p.depth - 1, 0, -1):
        B.insert(0, B[0] @ p.weights[k] @ np.diag(dphi(hs[k - 1])))
    return B, zs, hs[-1]


@given(problems(batch=st.just(None)), st.data())
def test_single_example_gauss_newton_block_is_stored_as_z_zT_kron_BT_H_B(p, data):
    k = data.draw(st.integers(1, p.depth), label="k")
    l = data.draw(st.integers(1, p.depth), label="l")
    G = network(p).gauss_newton(p.x, p.y, wrt=(f"W{k}", f"W{l}"))
    assert isinstance(G.storage, Kron)
    B, zs, yhat = b_factors(p, p.x)
    HL = loss_hessians(yhat, p.y, p.loss)[0]
    assert_close(dense_factor(G.storage.left), np.outer(zs[k - 1], zs[l - 1]), 1e-13)
    assert_close(dense_factor(G.storage.right), B[k - 1].T @ HL @ B[l - 1], 1e-12)


def dense_factor(f):
    return np.eye(f) if isinstance(f, int) else np.asarray(f)


def test_a_scalar_output_network_keeps_the_kronecker_gauss_newton_block(rng):
    d, p = 30, 30
    net = jc.MLP([rng.normal(size=(p, d)), rng.normal(size=(1, p))], "tanh")
    G = net.gauss_newton(rng.normal(size=d), rng.normal(size=1), wrt="W1")
    assert isinstance(G.storage, Kron)
    assert G.nbytes < (p * d) ** 2 * 8 / 100


# --------------------------------------------------------------------- the terms
@given(problems(), st.data())
def test_hessian_terms_sum_to_the_block(p, data):
    a, b = data.draw(pairs(p))
    net = network(p)
    terms = net.hessian_terms(p.x, p.y, wrt=(a, b))
    names = list(terms)
    assert names[0] == "gauss_newton"
    for name in names[1:]:
        kind, _, layer = name.partition("_")
        assert kind in ("activation", "product") and 1 <= int(layer) <= p.depth, name
    total = sum(term.toarray() for term in terms.values())
    where = p.offsets()
    assert_close(total, compact_hessian(p)[where[a], where[b]], 1e-10, gradient_scale(p))
    assert_close(terms["gauss_newton"].toarray(),
          mlp_gauss_newton_block(*p.args(), a, b, biases=p.biases), 1e-10, gradient_scale(p))


@settings(max_examples=100)  # six literal blocks an example
@given(problems(activations=("identity",), min_depth=2), st.data())
def test_deep_linear_network_same_layer_is_gauss_newton_cross_layer_adds_the_product_term(p, data):
    net = network(p)
    k, l = sorted(data.draw(st.lists(st.integers(1, p.depth), min_size=2, max_size=2,
                                     unique=True)))
    a, b = f"W{k}", f"W{l}"
    # same layer: no residual at all
    for w in (a, b):
        assert_close(net.hessian(p.x, p.y, wrt=w).toarray(),
              net.gauss_newton(p.x, p.y, wrt=w).toarray(), 1e-12, gradient_scale(p))
    # cross layer: H − GN is exactly the bilinear term of h_l = W_l z_{l−1}
    terms = net.hessian_terms(p.x, p.y, wrt=(a, b))
    assert list(terms)[0] == "gauss_newton"
    assert [n for n in terms if n.startswith("product_")] == [f"product_{l}"]
    for name, term in terms.items():  # φ = identity: its φ″ terms are listed, and zero
        if name.startswith("activation_"):
            assert not np.any(term.toarray()), name
    H = net.hessian(p.x, p.y, wrt=(a, b)).toarray()
    G = net.gauss_newton(p.x, p.y, wrt=(a, b)).toarray()
    assert_close(H - G, terms[f"product_{l}"].toarray(), 1e-10, gradient_scale(p))
    # … and that term is the compact H − GN
    where = p.offsets()
    compact = compact_hessian(p)[where[a], where[b]] - \
        mlp_gauss_newton_block(*p.args(), a, b, biases=p.biases)
    assert_close(terms[f"product_{l}"].toarray(), compact, 1e-10, gradient_scale(p))


def test_deep_linear_cross_layer_block_really_differs_from_gauss_newton(rng):
    # the product term x rᵀ-shaped, r = ŷ − y ≠ 0: the identity above is not 0 = 0
    W1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(2, 3))
    x, y = rng.normal(size=2), rng.normal(size=2)
    net = jc.MLP([W1, W2], "identity")
    diff = net.hessian(x, y, wrt=("W1", "W2")).toarray() - \
        net.gauss_newton(x, y, wrt=("W1", "W2")).toarray()
    r = W2 @ W1 @ x - y
    expected = np.zeros((6, 6))  # entry (W1[i, j], W2[a, i]) is r_a x_j
    for i in range(3):
        for j in range(2):
            for a in range(2):
                expected[i + 3 * j, a + 2 * i] = r[a] * x[j]
    np.testing.assert_allclose(diff, expected, rtol=1e-12, atol=1e-14)


@given(problems(activations=("relu",)), st.data())
def test_relu_same_layer_blocks_are_gauss_newton(p, data):
    a = data.draw(st.sampled_from(p.names))
    net = network(p)
    terms = net.hessian_terms(p.x, p.y, wrt=a)
    for name, term in terms.items():
        if name != "gauss_newton":  # φ″ = 0: listed, and zero
            assert name.startswith("activation_") and not np.any(term.toarray()), name
    assert_close(net.hessian(p.x, p.y, wrt=a).toarray(), net.gauss_newton(p.x, p.y, wrt=a).toarray(),
          1e-12, gradient_scale(p))


@given(problems(activations=("sigmoid", "tanh", "softplus"), min_depth=2))
def test_the_residual_terms_of_a_smooth_network_are_the_compact_h_minus_gn(p):
    net = network(p)
    terms = net.hessian_terms(p.x, p.y, wrt="W1")
    assert [f"activation_{k}" for k in range(1, p.depth)] == \
        sorted(n for n in terms if n.startswith("activation_"))
    H = compact_hessian(p)[p.offsets()["W1"], p.offsets()["W1"]]
    G = mlp_gauss_newton_block(*p.args(), "W1", "W1", biases=p.biases)
    rest = sum(t.toarray() for n, t in terms.items() if n != "gauss_newton")
    assert_close(rest, H - G, 1e-10, gradient_scale(p))


def test_the_phi_second_term_is_not_zero_for_tanh(lecture):
    weights, x, y = lecture
    terms = jc.MLP(weights, "tanh").hessian_terms(x, y, wrt="W2")
    assert list(terms) == ["gauss_newton", "activation_2"]
    assert np.max(np.abs(terms["activation_2"].toarray())) > 1e-3


# -------------------------------------------------------------------------- K-FAC
@given(problems(), st.data())
def test_kfac_factors_are_the_compact_factors(p, data):
    k = data.draw(st.integers(1, p.depth))
    K = network(p).kfac(p.x, p.y, wrt=f"W{k}")
    A, G = mlp_kfac(*p.args(), k, biases=p.biases)
    assert_close(K.A, A, 1e-12)
    assert_close(K.G, G, 1e-10, gradient_scale(p))
    exact = mlp_gauss_newton_block(*p.args(), k, k, biases=p.biases)
    assert_close(dense(K.exact), exact, 1e-10, gradient_scale(p))
    # the reported error is ‖A ⊗ G − GN‖_F / ‖GN‖_F
    scale = np.linalg.norm(exact)
    assume(scale > 1e-6)
    expected = np.linalg.norm(np.kron(A, G) - exact) / scale
    assert abs(K.error - expected) <= 1e-8 * max(1.0, expected)


@given(problems(batch=st.sampled_from([None, 1])), st.data())
def test_kfac_is_the_gauss_newton_block_for_one_example(p, data):
    k = data.draw(st.integers(1, p.depth))
    K = network(p).kfac(p.x, p.y, wrt=f"W{k}")
    W = p.weights[k - 1]
    assert K.A.shape == (W.shape[1],) * 2 and K.G.shape == (W.shape[0],) * 2
    assert_close(np.kron(K.A, K.G), dense(K.exact), 1e-12)
    assert_close(dense(K.exact), mlp_gauss_newton_block(*p.args(), k, k, biases=p.biases), 1e-10,
          gradient_scale(p))
    assert K.error <= 1e-12


def test_kfac_of_a_scalar_output_network(rng):
    W1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(1, 3))
    x, y = rng.normal(size=2), rng.normal(size=1)
    K = jc.MLP([W1, W2], "tanh").kfac(x, y, wrt="W1")
    A, G = mlp_kfac([W1, W2], x, y, "tanh", "squared_error", 1)
    assert_close(K.A, A, 1e-12)
    assert_close(K.G, G, 1e-12)


def test_kfac_factor_shapes_with_one_cross_entropy_output(rng):
    W1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(1, 3))
    x, y = rng.normal(size=2), np.array([1.0])
    K = jc.MLP([W1, W2], "tanh", "softmax_cross_entropy").kfac(x, y, wrt="W2")
    assert K.A.shape == (3, 3) and K.G.shape == (1, 1)


# ------------------------------------------------------------------- closed forms
@given(st.integers(1, 4), st.integers(1, 4), st.sampled_from([None, 1, 2, 3]), st.data())
def test_hessian_of_half_squared_residual_is_x_xT_kron_identity(s, d, n, data):
    cols = () if n is None else (n,)
    W0 = data.draw(real_arrays((s, d), 1.0))
    x0, y0 = data.draw(real_arrays((d,) + cols, 1.0)), data.draw(real_arrays((s,) + cols, 1.0))
    X = x0.reshape(d, -1)
    expected = np.kron(X @ X.T, np.eye(s))
    W = jc.var("W", W0)
    expr = jc.hessian(jc.squared_error(W @ jc.var("x", x0), jc.var("y", y0)), W)
    assert_close(expr.toarray(), expected, 1e-13)
    assert_close(jc.MLP([W0], "tanh").hessian(x0, y0, wrt="W1").toarray(), expected, 1e-13)
    assert_close(mlp_hessian([W0], x0, y0, "tanh", "squared_error"), expected, 1e-13)


# ------------------------------------------------------------- jc.hessian, jc.hvp
@st.composite
def two_layer_expressions(draw):
    d, p_, s = (draw(st.integers(1, 4)) for _ in range(3))
    W1, W2 = draw(real_arrays((p_, d), 1.0)), draw(real_arrays((s, p_), 1.0))
    n = draw(st.sampled_from([None, 1, 2]))
    cols = () if n is None else (n,)
    x = draw(real_arrays((d,) + cols, 1.0))
    loss = draw(st.sampled_from(("squared_error", "softmax_cross_entropy")))
    y = draw(real_arrays((s,) + cols, 1.0))
    y = np.abs(y) if loss == "softmax_cross_entropy" else y
    activation = draw(st.sampled_from(SMOOTH))
    return W1, W2, x, y, activation, loss


def expression(W1, W2, x, y, activation, loss):
    A, B = jc.var("W1", W1), jc.var("W2", W2)
    h = A @ jc.var("x", x)
    z = h if activation == "identity" else getattr(jc, activation)(h)
    return getattr(jc, loss)(B @ z, jc.var("y", y)), A, B


@given(two_layer_expressions(), st.data())
def test_expression_hessian_and_hvp_are_the_compact_ones(case, data):
    W1, W2, x, y, activation, loss = case
    F, A, B = expression(*case)
    H = mlp_hessian([W1, W2], x, y, activation, loss)
    scale = gradient_scale(Problem((W1, W2), None, x, y, activation, loss))
    n1 = W1.size
    assert_close(jc.hessian(F, A).toarray(), H[:n1, :n1], 1e-10, scale)
    assert_close(jc.hessian(F, A, B).toarray(), H[:n1, n1:], 1e-10, scale)
    assert_close(jc.hessian(F, B).toarray(), H[n1:, n1:], 1e-10, scale)
    V = data.draw(real_arrays(W1.shape, 1.0))
    out = jc.hvp(F, A, V)
    assert out.shape == W1.shape
    # H_{W1 W1} vec(V): the W1 part of the full product along (V, 0)
    assert_close(out, mlp_hvp([W1, W2], x, y, activation, loss, {"W1": V})["W1"], 1e-10, scale)


# ------------------------------------------------------------------------- errors
@pytest.fixture
def net_data(rng):
    weights = [rng.normal(size=(3, 2)), rng.normal(size=(2, 3))]
    net = jc.MLP(weights, "tanh", biases=[np.zeros(3), np.zeros(2)])
    return net, rng.normal(size=2), rng.normal(size=2)


def test_a_non_scalar_function_is_refused(rng):
    W = jc.var("W", rng.normal(size=(2, 3)))
    x = jc.var("x", rng.normal(size=3))
    with pytest.raises(jc.ShapeError, match="scalar"):
        jc.hessian(jc.tanh(W @ x), W)
    with pytest.raises(jc.ShapeError, match="scalar"):
        jc.hvp(jc.tanh(W @ x), W, np.ones((2, 3)))


CHOICES = r"valid choices are: 'W1', 'W2', 'b1', 'b2'"


@pytest.mark.parametrize("call", [
    lambda net, x, y: net.hessian(x, y, wrt="W3"),
    lambda net, x, y: net.hessian(x, y, wrt=("W1", "h1")),
    lambda net, x, y: net.gauss_newton(x, y, wrt="x"),
    lambda net, x, y: net.gauss_newton(x, y, wrt=("b3", "W1")),
    lambda net, x, y: net.hessian_terms(x, y, wrt="z1"),
    lambda net, x, y: net.hessian(x, y).block("W9"),
], ids=["hessian", "hessian-pair", "gauss_newton", "gauss_newton-pair", "terms", "block"])
def test_unknown_block_names_list_the_choices(net_data, call):
    with pytest.raises(jc.ChoiceError, match=CHOICES):
        call(*net_data)


def test_kfac_and_hvp_names_are_checked(net_data):
    net, x, y = net_data
    with pytest.raises(jc.ChoiceError, match=r"K-FAC weight 'b1'.*'W1', 'W2'$"):
        net.kfac(x, y, wrt="b1")
    with pytest.raises(jc.ChoiceError, match="parameter name in V 'W3'.*" + CHOICES):
        net.hvp(x, y, {"W3": np.ones((2, 2))})
    with pytest.raises(jc.ShapeError, match=r"V\['W1'\] must be shaped like W1"):
        net.hvp(x, y, {"W1": np.ones((3, 3))})


def test_hvp_refuses_a_transposed_direction(net_data):
    net, x, y = net_data
    with pytest.raises(jc.ShapeError, match=r"V\['W1'\] must be shaped like W1, \(3, 2\)"):
        net.hvp(x, y, {"W1": np.ones((2, 3))})
