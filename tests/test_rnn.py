"""The recurrent network: literal chains over the unrolled graph against independent oracles.

Oracles: the compact formulas of back-propagation through time and of real-time recurrent
learning (:mod:`jacobian_calc.lecture.bptt`, numpy only), central finite differences of a
plain numpy forward written here, and ``torch.func.jacrev`` reordered to the vec layout
(skipped without torch).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.lecture import bptt

seeds = st.integers(0, 2**32 - 1)
small = st.integers(1, 3)
steps = st.integers(1, 5)
#: Smooth activations: finite differences are exact to rounding everywhere.
SMOOTH = ["tanh", "sigmoid", "softplus", "identity"]


def close(actual, expected, rtol=1e-9, atol=1e-11):
    actual = actual.toarray() if hasattr(actual, "toarray") else np.asarray(actual)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale)


def fd(f, X):
    return jc.finite_difference_jacobian(f, X)


PHI = {"tanh": np.tanh, "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
       "softplus": lambda a: np.logaddexp(0.0, a), "identity": lambda a: a,
       "relu": lambda a: np.maximum(a, 0.0)}


def plain_states(W, U, X, activation="tanh"):
    """h_t = φ(W h_{t−1} + U x_t) from h_0 = 0, in a loop: (h_1, …, h_T) as columns."""
    h, out = np.zeros(W.shape[0]), []
    for t in range(X.shape[1]):
        h = PHI[activation](W @ h + U @ X[:, t])
        out.append(h)
    return np.column_stack(out)


def plain_loss(W, U, V, X, Y, activation="tanh"):
    Yhat = V @ plain_states(W, U, X, activation)
    return 0.5 * float(np.sum((Yhat - Y) ** 2))


def problem(seed, d, n, s, T, scale=0.6):
    r = np.random.default_rng(seed)
    return (r.uniform(-scale, scale, size=(n, n)), r.uniform(-1, 1, size=(n, d)),
            r.uniform(-1, 1, size=(s, n)), r.uniform(-1, 1, size=(d, T)),
            r.uniform(-1, 1, size=(s, T)))


# ------------------------------------------------------------------ gradients
@settings(max_examples=200)
@given(seed=seeds, d=small, n=small, s=small, T=steps,
       activation=st.sampled_from(sorted(jc.ACTIVATIONS)), loss=st.sampled_from(sorted(jc.LOSSES)))
def test_explicit_gradients_are_the_compact_bptt_formulas(seed, d, n, s, T, activation, loss):
    W, U, V, X, Y = problem(seed, d, n, s, T)
    rnn = jc.RNN(W, U, V, activation=activation, loss=loss)
    explicit = rnn.gradients(X, Y, method="explicit")
    compact = rnn.gradients(X, Y, method="bptt")
    assert list(explicit) == ["W", "U", "V"]
    for k in explicit:
        assert explicit[k].shape == {"W": W, "U": U, "V": V}[k].shape
        close(explicit[k], compact[k], rtol=1e-10, atol=1e-12)


@settings(max_examples=200)
@given(seed=seeds, d=small, n=small, s=small, T=steps, activation=st.sampled_from(SMOOTH))
def test_gradients_are_the_finite_differences_of_the_loss(seed, d, n, s, T, activation):
    W, U, V, X, Y = problem(seed, d, n, s, T)
    g = jc.RNN(W, U, V, activation=activation).gradients(X, Y)
    weights = {"W": W, "U": U, "V": V}
    for k, value in weights.items():
        def f(v, k=k):
            return plain_loss(**{**weights, k: v}, X=X, Y=Y, activation=activation)
        close(g[k].reshape(1, -1, order="F"), fd(f, value), rtol=1e-6, atol=1e-8)


def test_the_loss_is_summed_over_the_steps(rng):
    W, U, V, X, Y = problem(1, 2, 3, 2, 4)
    rnn = jc.RNN(W, U, V)
    assert rnn.loss_value(X, Y) == pytest.approx(plain_loss(W, U, V, X, Y), rel=1e-14)
    np.testing.assert_allclose(rnn.states(X), plain_states(W, U, X), atol=1e-15)
    np.testing.assert_allclose(rnn.predict(X), V @ plain_states(W, U, X), atol=1e-15)
    graph = rnn.compose(X, Y)
    assert {"f1", "f4", "a2", "h3", "yhat4", "x1", "y2", "h0", "f"} <= set(graph.named)
    assert graph.node("yhat2").form.text == "ŷ2" and graph.node("yhat2").form.latex == r"\hat{y}_{2}"


# ------------------------------------------------------------------ Jacobians
@settings(max_examples=200)
@given(seed=seeds, d=small, n=small, T=steps, activation=st.sampled_from(SMOOTH))
def test_state_jacobian_is_rtrl_and_finite_differences(seed, d, n, T, activation):
    W, U, V, X, _ = problem(seed, d, n, 1, T)
    J = jc.RNN(W, U, V, activation=activation).jacobian(X, of="H", wrt="W")
    assert J.shape == (n * T, n * n) and J.symbol == "∂vec(H)/∂vec(W)"
    close(J, bptt.rtrl_state_jacobians(W, U, X, activation), rtol=1e-10, atol=1e-12)
    close(J, fd(lambda w: plain_states(w, U, X, activation), W), rtol=1e-6, atol=1e-8)


@settings(max_examples=200)
@given(seed=seeds, d=small, n=small, T=steps, activation=st.sampled_from(sorted(jc.ACTIVATIONS)))
def test_per_step_jacobian_is_block_lower_triangular(seed, d, n, T, activation):
    """∂(h_1…h_T)/∂vec(W_1…W_T): block (t, k) zero — no stored entry — for k > t; the blocks
    are the compact products D_t W ⋯ D_k (h_{k−1}ᵀ ⊗ I); block columns sum to ∂vec(H)/∂vec(W)."""
    W, U, V, X, _ = problem(seed, d, n, 1, T)
    rnn = jc.RNN(W, U, V, activation=activation)
    J = rnn.jacobian(X, of="H", wrt="W", per_step=True)
    assert J.shape == (n * T, n * n * T) and J.issparse
    M = sp.csr_array(J.matrix)
    blocks = bptt.unrolled_blocks(W, U, X, activation)
    for t in range(T):
        for k in range(T):
            block = M[t * n:(t + 1) * n, k * n * n:(k + 1) * n * n]
            if k > t:
                assert block.nnz == 0, (t, k)
            close(block.toarray(), blocks[t, k], rtol=1e-10, atol=1e-12)
    summed = sum(M[:, k * n * n:(k + 1) * n * n].toarray() for k in range(T))
    close(summed, rnn.jacobian(X, of="H", wrt="W").toarray(), rtol=1e-10, atol=1e-12)


@settings(max_examples=100)
@given(seed=seeds, d=small, n=small, T=steps)
def test_jacobian_with_respect_to_the_inputs_is_block_lower_triangular(seed, d, n, T):
    W, U, V, X, _ = problem(seed, d, n, 1, T)
    J = jc.RNN(W, U, V).jacobian(X, of="H", wrt="X")
    assert J.shape == (n * T, d * T)
    dense = J.toarray()
    close(dense, fd(lambda x: plain_states(W, U, x), X), rtol=1e-6, atol=1e-8)
    M = sp.csr_array(J.matrix)
    for t in range(T):
        for k in range(t + 1, T):  # h_t is computed before x_k is read
            assert M[t * n:(t + 1) * n, k * d:(k + 1) * d].nnz == 0


def test_jacobians_of_single_nodes_and_of_the_loss(rng):
    W, U, V, X, Y = problem(3, 2, 3, 2, 4)
    rnn = jc.RNN(W, U, V)
    J = rnn.jacobian(X, of="h4", wrt="h1")
    assert J.symbol == "∂h4/∂h1" and J.shape == (3, 3)
    H = plain_states(W, U, X)
    D = [np.diag(1 - H[:, t] ** 2) for t in range(4)]  # tanh′ = 1 − tanh²
    close(J, D[3] @ W @ D[2] @ W @ D[1] @ W, rtol=1e-12, atol=1e-14)
    row = rnn.jacobian(X, Y, of="f", wrt="X")
    assert row.shape == (1, 8)
    close(row, fd(lambda x: plain_loss(W, U, V, x, Y), X), rtol=1e-6, atol=1e-8)
    Yhat = rnn.jacobian(X, of="Yhat", wrt="U")
    assert Yhat.shape == (2 * 4, 3 * 2)
    close(Yhat, fd(lambda u: V @ plain_states(W, u, X), U), rtol=1e-6, atol=1e-8)
    # h1 does not depend on later states: a zero Jacobian, no stored entry
    assert rnn.jacobian(X, of="h1", wrt="h3").nnz == 0


# ------------------------------------------------------------------ derivation, cost
def test_the_derivation_sums_the_paths_through_time(rng):
    T = 3
    W, U, V, X, Y = problem(4, 2, 3, 2, T)
    rnn = jc.RNN(W, U, V)
    d = rnn.derivation(X, Y, wrt="W")
    assert d.path_count == T * (T + 1) // 2 == len(d.path_values)
    gradient = rnn.gradients(X, Y, method="bptt")["W"]
    close(sum(p.toarray() for p in d.path_values).reshape(3, 3, order="F"), gradient,
          rtol=1e-12, atol=1e-14)
    close(d.gradient, gradient, rtol=1e-12, atol=1e-14)
    text = str(d)
    assert "3·4/2 = 6 paths, one per pair k ≤ t" in text
    assert "compact form (BPTT): δ_k = φ′(a_k) ⊙ (Vᵀ ∂f_k/∂ŷ_k + Wᵀ δ_(k+1))" in text
    assert "(∂f/∂h2)ᵀ = (∂f/∂ŷ2)ᵀ · ∂ŷ2/∂h2" in text  # a state's two consumers, summed
    assert "+ (∂f/∂(W h2))ᵀ · ∂(W h2)/∂h2" in text
    assert rnn.derivation(X, Y, wrt="V").path_count == T
    assert rnn.derivation(X, Y, wrt="h1").path_count == T  # through ŷ1, h2 → …


def test_the_derivation_in_every_format(rng):
    pytest.importorskip("latex2mathml")
    from jacobian_calc.render import check_latex

    W, U, V, X, Y = problem(5, 1, 2, 1, 2)
    d = jc.RNN(W, U, V, activation="sigmoid").derivation(X, Y, wrt="U")
    data = json.loads(json.dumps(d.to_dict()))
    assert len(data["paths"]) == 3 and data["gradient_shape"] == [2, 1]
    latex = d.to_latex()
    check_latex(latex)  # one aligned block: every step, path and note
    assert r"\hat{y}_{2}" in latex
    assert d.to_markdown().startswith("#")


def test_the_cost_model_prices_bptt_against_the_paths_one_by_one():
    """Path by path grows as T³ (T(T+1)/2 chains of length up to T); the tail-to-head sweep
    as T; the head-to-tail sweep (real-time recurrent learning) carries n² columns."""
    reports = {}
    for T in (4, 8, 16):
        W, U, V, X, Y = problem(6, 2, 4, 2, T)
        reports[T] = jc.RNN(W, U, V).cost(X, Y, wrt="W")
    for T, r in reports.items():
        # paths meet at W (T uses) and at h_1 … h_(T−1) (each feeds ŷ_t and the next step)
        assert r.paths == T * (T + 1) // 2 and r.merges == T
        assert r.reverse < r.forward and r.reverse < r.path_by_path
    for a, b in ((4, 8), (8, 16)):
        assert reports[b].path_by_path / reports[a].path_by_path > 4.5  # ~8 for T³
        assert reports[b].reverse / reports[a].reverse < 2.5            # ~2 for T
    assert reports[16].saving > 10
    lines = reports[8].lines()
    assert lines[0] == "36 paths lead from W to f; 8 nodes on them feed more than one other"
    assert any(line.startswith("reusing the tail-to-head products costs 1/") for line in lines)


def test_vanishing_products_are_bounded_by_the_norm_of_w():
    """tanh′ ≤ 1, so ‖∂h_t/∂h_k‖₂ ≤ ‖W‖₂^(t−k): with ‖W‖₂ = 0.5 the products vanish."""
    W, U, V, X, _ = problem(7, 2, 4, 1, 8)
    W = 0.5 * W / np.linalg.norm(W, 2)
    rnn = jc.RNN(W, U, V)
    norms = [np.linalg.norm(rnn.jacobian(X, of="h8", wrt=f"h{k}").toarray(), 2)
             for k in range(1, 9)]
    assert norms[-1] == pytest.approx(1.0)  # ∂h8/∂h8 = I
    for k, value in enumerate(norms, 1):
        assert value <= 0.5 ** (8 - k) * (1 + 1e-12)


def test_against_torch_jacrev():
    torch = pytest.importorskip("torch")
    from torch.func import grad, jacrev

    W, U, V, X, Y = problem(8, 2, 3, 2, 4)
    rnn = jc.RNN(W, U, V)

    def states(Wt, Ut):
        h, out = torch.zeros(3, dtype=torch.float64), []
        for t in range(X.shape[1]):
            h = torch.tanh(Wt @ h + Ut @ torch.from_numpy(X[:, t]))
            out.append(h)
        return torch.stack(out, dim=1)  # (n, T): columns are the states

    Wt, Ut, Vt = (torch.from_numpy(M) for M in (W, U, V))
    T = jacrev(states)(Wt, Ut)
    peer = jc.from_tensor_jacobian(T, (3, 4), (3, 3))
    close(rnn.jacobian(X, of="H", wrt="W"), peer.toarray(), rtol=1e-12, atol=1e-14)

    def loss(Wt, Ut, Vt):
        return 0.5 * torch.sum((Vt @ states(Wt, Ut) - torch.from_numpy(Y)) ** 2)

    peers = grad(loss, argnums=(0, 1, 2))(Wt, Ut, Vt)
    ours = rnn.gradients(X, Y)
    for k, g in zip("WUV", peers):
        close(ours[k], g.numpy(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ bad input
def test_shapes_of_the_weights_are_checked():
    with pytest.raises(jc.ShapeError, match=r"W maps the hidden state to itself, so it must be "
                                            r"square \(n × n\), got 3×4"):
        jc.RNN(np.ones((3, 4)), np.ones((3, 2)), np.ones((1, 3)))
    with pytest.raises(jc.ShapeError, match=r"U maps an input to the hidden state: it needs "
                                            r"n = 3 rows like W \(3×3\), got 2×2"):
        jc.RNN(np.ones((3, 3)), np.ones((2, 2)), np.ones((1, 3)))
    with pytest.raises(jc.ShapeError, match=r"V maps the hidden state to an output: it needs "
                                            r"n = 3 columns like W \(3×3\), got 1×2"):
        jc.RNN(np.ones((3, 3)), np.ones((3, 2)), np.ones((1, 2)))
    with pytest.raises(jc.ShapeError, match="W"):
        jc.RNN(np.ones(3), np.ones((3, 2)), np.ones((1, 3)))
    with pytest.raises(jc.ChoiceError, match="activation"):
        jc.RNN(np.eye(2), np.ones((2, 1)), np.ones((1, 2)), activation="gelu")


def test_sequences_are_checked():
    rnn = jc.RNN(np.eye(3) * 0.5, np.ones((3, 2)), np.ones((1, 3)))
    with pytest.raises(jc.ShapeError, match=r"X has T = 0 columns: the recurrence needs at least "
                                            r"one time step"):
        rnn.gradients(np.ones((2, 0)), np.ones((1, 0)))
    with pytest.raises(jc.ShapeError, match=r"X must be d × T with d = 2 rows.*got 5×2 \(it "
                                            r"looks transposed: the inputs are the columns\)"):
        rnn.states(np.ones((5, 2)))
    with pytest.raises(jc.ShapeError, match=r"Y must be s × T = 1 × 4.*got 1×3"):
        rnn.gradients(np.ones((2, 4)), np.ones((1, 3)))
    with pytest.raises(jc.ShapeError, match="X"):
        rnn.states(np.ones(2))


def test_names_methods_and_options_are_checked():
    rnn = jc.RNN(np.eye(2) * 0.5, np.ones((2, 1)), np.ones((1, 2)))
    X, Y = np.ones((1, 3)), np.ones((1, 3))
    with pytest.raises(jc.ChoiceError, match="unknown method 'backprop'.*'explicit', 'bptt'"):
        rnn.gradients(X, Y, method="backprop")
    with pytest.raises(jc.ChoiceError, match="'h9'"):
        rnn.jacobian(X, of="h9")
    with pytest.raises(jc.JacobianCalcError, match="needs the targets"):
        rnn.jacobian(X, of="f", wrt="W")
    with pytest.raises(jc.JacobianCalcError, match="wrt must be 'W' or 'U', got 'V'"):
        rnn.jacobian(X, wrt="V", per_step=True)
    with pytest.raises(jc.JacobianCalcError, match="per_step must be True or False"):
        rnn.jacobian(X, per_step=1)
    with pytest.raises(jc.JacobianCalcError, match="stands for T of them"):
        rnn.derivation(X, Y, wrt="X")
    assert repr(rnn) == "RNN(d=1, n=2, s=1, activation='tanh', loss='squared_error')"


def test_one_step_names_its_loss_f():
    rnn = jc.RNN(np.eye(2) * 0.5, np.ones((2, 1)), np.ones((1, 2)))
    graph = rnn.compose(np.ones((1, 1)), np.ones((1, 1)))
    assert graph.node("f").op.name == "squared_error" and "f1" not in graph.named
    assert "f1" not in rnn.node_names(1) and "f1" in rnn.node_names(2)
