"""Residual connections h + f(h): the skip path and the branch are two paths, and they compose.

The Jacobian of one block is I + ∂f/∂h; of L blocks in a row the product of those, whose
expansion has 2^L paths — each block's skip or branch. The literal engine sums them;
the oracles are the closed-form product, central finite differences and the cost model's
account of the sum.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.engine.graph import Graph
from jacobian_calc.front.calculator import calculate
from jacobian_calc.front.parse import parse_expression

seeds = st.integers(0, 2**32 - 1)


def close(actual, expected, rtol=1e-9, atol=1e-11):
    actual = actual.toarray() if hasattr(actual, "toarray") else np.asarray(actual)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale)


def blocks(h, W, L):
    """h_{k+1} = h_k + tanh(W h_k), L times, with one shared W."""
    for _ in range(L):
        h = h + jc.tanh(W @ h)
    return h


def plain_blocks(h, W, L):
    for _ in range(L):
        h = h + np.tanh(W @ h)
    return h


@settings(max_examples=200)
@given(seed=seeds, n=st.integers(1, 4), m=st.integers(1, 3), L=st.integers(1, 4))
def test_residual_blocks_are_the_product_of_identity_plus_branch(seed, n, m, L):
    r = np.random.default_rng(seed)
    Hv, Wv = r.uniform(-1, 1, size=(n, m)), r.uniform(-1, 1, size=(n, n))
    H, W = jc.var("H", Hv), jc.var("W", Wv)
    Z = blocks(H, W, L)
    # closed form: Π_k (I + (I_m ⊗ I) diag(tanh′(W h_k)) (I_m ⊗ W)), later blocks on the left
    expected, h = np.eye(n * m), Hv
    for _ in range(L):
        a = Wv @ h
        step = np.eye(n * m) + np.diag((1 - np.tanh(a) ** 2).reshape(-1, order="F")) \
            @ np.kron(np.eye(m), Wv)
        expected, h = step @ expected, h + np.tanh(a)
    J = jc.jacobian(Z, H)
    close(J, expected, rtol=1e-10, atol=1e-12)
    close(J, jc.finite_difference_jacobian(lambda v: plain_blocks(v, Wv, L), Hv),
          rtol=1e-6, atol=1e-8)
    # and with respect to the shared weight: one use per block, 2^(L−k) paths from use k
    close(jc.jacobian(Z, W), jc.finite_difference_jacobian(lambda w: plain_blocks(Hv, w, L),
                                                           Wv), rtol=1e-6, atol=1e-8)


def test_the_paths_double_with_every_block_and_the_sweep_shares_them():
    r = np.random.default_rng(1)
    H, W = jc.var("H", r.uniform(-1, 1, size=(3, 2))), jc.var("W", r.uniform(-1, 1, (3, 3)))
    reports = []
    for L in (2, 4, 6):
        F = jc.sum(blocks(H, W, L))
        d = jc.derivation(F, H)
        assert d.path_count == 2 ** L
        reports.append(Graph(F.node).reuse(F.node, H.node))
        assert reports[-1].paths == 2 ** L and reports[-1].merges == L
    # priced one by one the paths cost exponentially more (4× the paths, each longer, for
    # two more blocks); the sweep grows with L
    assert reports[2].path_by_path > 4 * reports[1].path_by_path > 16 * reports[0].path_by_path
    assert reports[2].reverse < 2 * reports[1].reverse
    assert reports[2].saving > 15


def test_residual_gradients_hessians_and_derivations_compose():
    r = np.random.default_rng(2)
    Hv, Wv = r.uniform(-1, 1, size=(3, 2)), r.uniform(-1, 1, size=(3, 3))
    H, W = jc.var("H", Hv), jc.var("W", Wv)

    def loss(h, w):
        z = blocks(h, w, 2)
        return jc.sum(z * z) * 0.5

    def plain_loss(h, w):
        return 0.5 * float(np.sum(plain_blocks(h, w, 2) ** 2))

    F = loss(H, W)
    close(jc.grad(F, W).reshape(1, -1, order="F"),
          jc.finite_difference_jacobian(lambda w: plain_loss(Hv, w), Wv), rtol=1e-6, atol=1e-8)
    def gradient_w(h):
        w = jc.var("W", Wv)
        return jc.grad(loss(jc.var("H", h), w), w)

    Hess = jc.hessian(F, W, H)  # ∂(∇_W F)/∂vec(H): rows vec(W), columns vec(H)
    assert Hess.shape == (9, 6)
    close(Hess, jc.finite_difference_jacobian(gradient_w, Hv), rtol=1e-6, atol=1e-8)
    d = jc.derivation(F, H)
    text = str(d)
    assert d.path_count == 8  # 2 blocks: 4 paths, and z appears twice in z ⊙ z
    assert "∂vec(H + tanh(W H))/∂vec(H) = I₆" in text  # the skip path's factor
    assert d.to_markdown() and d.to_dict()["paths"]


def test_the_parser_and_the_calculator_take_a_residual_block():
    r = np.random.default_rng(3)
    Hv, Wv = r.uniform(-1, 1, size=(3, 2)), r.uniform(-1, 1, size=(3, 3))
    Z = parse_expression("H + tanh(W @ H)", {"H": jc.var("H", Hv), "W": jc.var("W", Wv)})
    np.testing.assert_allclose(Z.value, plain_blocks(Hv, Wv, 1), atol=1e-15)
    calc = calculate("sum(H + tanh(W @ H))", {"H": (3, 2), "W": (3, 3)}, wrt="H", seed=0)
    assert calc.ok and calc.derivation.path_count == 2


def test_a_residual_convolution_block_is_identity_plus_the_convolution_matrix():
    """Z = layer_norm(X + conv2d(X, K, padding=1)): the skip path adds I to the conv's matrix."""
    from scipy.signal import correlate2d

    r = np.random.default_rng(5)
    Xv, Kv, Yv = r.uniform(-1, 1, size=(4, 5)), r.uniform(-1, 1, size=(3, 3)), \
        r.uniform(-1, 1, size=(4, 5))
    X, K = jc.var("X", Xv), jc.var("K", Kv)
    B = X + jc.conv2d(X, K, padding=1)  # a 3×3 kernel with padding 1 keeps the shape
    # the convolution's matrix, one column per unit image, by scipy's zero-padded correlation
    units = np.eye(Xv.size).reshape(Xv.size, *Xv.shape, order="F")
    C = np.stack([correlate2d(u, Kv, mode="same").reshape(-1, order="F") for u in units], 1)
    close(jc.jacobian(B, X), np.eye(Xv.size) + C, rtol=1e-13, atol=1e-15)

    def plain(x):
        z = x + correlate2d(x, Kv, mode="same")
        return np.sum((z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5) * Yv)

    Y = jc.var("Y", Yv)
    F = jc.sum(jc.layer_norm(B, eps=1e-5) * Y)
    close(jc.jacobian(F, X), jc.finite_difference_jacobian(plain, Xv), rtol=1e-6, atol=1e-8)

    def gradient_k(x):
        x, k = jc.var("X", x), jc.var("K", Kv)
        return jc.grad(jc.sum(jc.layer_norm(x + jc.conv2d(x, k, padding=1), eps=1e-5) * Y), k)

    close(jc.hessian(F, K, X), jc.finite_difference_jacobian(gradient_k, Xv), rtol=1e-5,
          atol=1e-7)
    assert jc.derivation(F, X).path_count == 2  # the skip path and the convolution


def test_a_residual_needs_equal_shapes():
    H, W = jc.var("H", np.ones((3, 2))), jc.var("W", np.ones((4, 3)))
    with pytest.raises(jc.ShapeError, match=r"H is 3×2 but tanh\(W H\) is 4×2; \+ needs equal "
                                            r"shapes"):
        H + jc.tanh(W @ H)
