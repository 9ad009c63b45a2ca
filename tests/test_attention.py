"""Attention and softmax with a named axis: literal Jacobians against independent oracles.

Oracles: central finite differences of plain numpy forwards; the compact backward
formulas of :mod:`jacobian_calc.lecture.attention` (numpy only, nothing of the literal
machinery); the composition of the table's own matmul, transpose, scaling and softmax;
and ``torch.func.jacrev`` reordered to the vec layout (skipped without torch).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax as scipy_softmax

import jacobian_calc as jc
from jacobian_calc.core.structure import Kron, MatrixInfo
from jacobian_calc.engine.graph import Graph
from jacobian_calc.front.calculator import calculate
from jacobian_calc.front.parse import ALLOWED_FUNCTIONS, parse_expression
from jacobian_calc.lecture.attention import attention_forward, attention_jacobians, \
    attention_vjp
from jacobian_calc.ops import TABLE

side = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)


def fd(f, X):
    return jc.finite_difference_jacobian(f, X)


def close(actual, expected, rtol=1e-9, atol=1e-11):
    """Entries agree relative to the largest of the expected ones."""
    actual = actual.toarray() if hasattr(actual, "toarray") else np.asarray(actual)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale)


def plain_attention(Q, K, V):
    """V softmax(KᵀQ/√d) in numpy, straight from the definition."""
    return V @ scipy_softmax(K.T @ Q / np.sqrt(Q.shape[0]), axis=0)


def problem(seed, d, n, m, e):
    r = np.random.default_rng(seed)
    return (r.uniform(-1.5, 1.5, size=(d, n)), r.uniform(-1.5, 1.5, size=(d, m)),
            r.uniform(-1.5, 1.5, size=(e, m)))


def variables(Qv, Kv, Vv):
    return jc.var("Q", Qv), jc.var("K", Kv), jc.var("V", Vv)


# ------------------------------------------------------------------ softmax's axis
@settings(max_examples=200)
@given(seed=seeds, m=side, n=side, axis=st.sampled_from([0, 1]))
def test_softmax_jacobian_along_either_axis_is_the_derivative(seed, m, n, axis):
    Xv = np.random.default_rng(seed).uniform(-3, 3, size=(m, n))
    X = jc.var("X", Xv)
    S = jc.softmax(X, axis=axis)
    np.testing.assert_allclose(S.value, scipy_softmax(Xv, axis=axis), rtol=1e-15, atol=1e-15)
    J = jc.jacobian(S, X)
    close(J, fd(lambda v: scipy_softmax(v, axis=axis), Xv), rtol=1e-7, atol=1e-9)
    # each distribution sums to one, so every block annihilates the ones vector of its
    # group: the rows of Jᵀ summed over a group vanish
    ones = np.ones((m, n)).reshape(-1, order="F")
    np.testing.assert_allclose(ones @ J.toarray(), 0.0, atol=1e-15)
    # n·m² (columns) or m·n² (rows) stored entries: one dense block per distribution
    assert J.nnz == (m * m * n if axis == 0 else n * n * m)


def test_softmax_along_rows_is_the_transpose_of_softmax_along_columns(rng):
    Xv = rng.normal(size=(3, 5))
    X = jc.var("X", Xv)
    rows = jc.jacobian(jc.softmax(X, axis=1), X).toarray()
    cols = jc.jacobian(jc.softmax(X.T), X).toarray()  # softmax(Xᵀ) column-wise, of X
    K = jc.commutation_matrix(5, 3).toarray()  # vec(Sᵀ) back to vec(S)
    np.testing.assert_allclose(rows, K @ cols, atol=1e-15)


def test_softmax_axis_is_written_and_checked():
    X = jc.var("X", np.ones((2, 3)))
    assert jc.softmax(X).text == "softmax(X)"
    assert jc.softmax(X, axis=1).text == "softmax(X, axis=1)"
    label = jc.jacobian(jc.softmax(X, axis=1), X).label
    assert label == "K₃,₂ blockdiag_(i=1)²(diag(sᵢ) − sᵢ sᵢᵀ) K₂,₃"
    with pytest.raises(jc.ShapeError, match=r"softmax\(x, axis=1\).*x is a vector of length "
                                            r"2.*a column: use axis=0"):
        jc.softmax(jc.var("x", [1.0, 2.0]), axis=1)
    for bad in (2, -1, 1.0, True, "rows"):
        with pytest.raises(jc.JacobianCalcError, match="axis must be 0 .* or 1"):
            jc.softmax(X, axis=bad)


@settings(max_examples=100)
@given(seed=seeds, m=side, n=side)
def test_softmax_row_second_order_rule_is_the_second_derivative(seed, m, n):
    r = np.random.default_rng(seed)
    Xv, C = r.uniform(-2, 2, size=(m, n)), r.uniform(-1, 1, size=(m, n))
    X = jc.var("X", Xv)
    F = jc.sum(jc.softmax(X, axis=1) * jc.var("C", C))

    def gradient(v):
        Y = jc.var("X", v)
        return jc.grad(jc.sum(jc.softmax(Y, axis=1) * jc.var("C", C)), Y)

    close(jc.hessian(F, X), fd(gradient, Xv), rtol=1e-6, atol=1e-8)


def test_softmax_rows_against_torch(rng):
    torch = pytest.importorskip("torch")
    from torch.func import jacrev

    Xv = rng.normal(size=(3, 4))
    X = jc.var("X", Xv)
    T = jacrev(lambda t: torch.softmax(t, dim=1))(torch.from_numpy(Xv))
    peer = jc.from_tensor_jacobian(T, (3, 4), (3, 4))
    close(jc.jacobian(jc.softmax(X, axis=1), X), peer.toarray(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ attention's value
def test_attention_value_is_the_definition_and_torchs_row_major_form_transposed(rng):
    Qv, Kv, Vv = rng.normal(size=(4, 3)), rng.normal(size=(4, 5)), rng.normal(size=(2, 5))
    O = jc.attention(*variables(Qv, Kv, Vv))
    assert O.shape == (2, 3) and O.text == "attention(Q, K, V)"
    np.testing.assert_allclose(O.value, plain_attention(Qv, Kv, Vv), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(O.value, attention_forward(Qv, Kv, Vv)[0], rtol=1e-13,
                               atol=1e-15)
    torch = pytest.importorskip("torch")
    Qr, Kr, Vr = (torch.from_numpy(M.T.copy()) for M in (Qv, Kv, Vv))  # tokens as rows
    row_major = torch.nn.functional.scaled_dot_product_attention(Qr, Kr, Vr)
    np.testing.assert_allclose(O.value, row_major.numpy().T, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ its Jacobians
@settings(max_examples=200)
@given(seed=seeds, d=side, n=side, m=side, e=side)
def test_literal_equals_compact_equals_finite_differences(seed, d, n, m, e):
    Qv, Kv, Vv = problem(seed, d, n, m, e)
    Q, K, V = variables(Qv, Kv, Vv)
    O = jc.attention(Q, K, V)
    compact = attention_jacobians(Qv, Kv, Vv)
    numeric = (fd(lambda q: plain_attention(q, Kv, Vv), Qv),
               fd(lambda k: plain_attention(Qv, k, Vv), Kv),
               fd(lambda v: plain_attention(Qv, Kv, v), Vv))
    for X, c, f in zip((Q, K, V), compact, numeric):
        J = jc.jacobian(O, X)
        assert J.shape == (e * n, X.size) and J.symbol == f"∂vec(attention(Q, K, V))/∂vec({X.name})"
        close(J, c, rtol=1e-10, atol=1e-12)  # two exact routes: only rounding apart
        close(J, f, rtol=1e-6, atol=1e-8)


@settings(max_examples=200)
@given(seed=seeds, d=side, n=side, m=side, e=side)
def test_a_row_times_each_literal_jacobian_is_the_compact_backward_pass(seed, d, n, m, e):
    """vec(C)ᵀ J_X = vec(X̄)ᵀ: the literal chain tail to head and the compact VJP agree."""
    Qv, Kv, Vv = problem(seed, d, n, m, e)
    C = np.random.default_rng(seed + 1).uniform(-1, 1, size=(e, n))
    Q, K, V = variables(Qv, Kv, Vv)
    F = jc.sum(jc.attention(Q, K, V) * jc.var("C", C))
    for X, bar in zip((Q, K, V), attention_vjp(Qv, Kv, Vv, C)):
        close(jc.grad(F, X), bar, rtol=1e-10, atol=1e-12)


def test_the_factors_keep_their_structure(rng):
    d, n, m, e = 3, 4, 5, 2
    Qv, Kv, Vv = rng.normal(size=(d, n)), rng.normal(size=(d, m)), rng.normal(size=(e, m))
    Q, K, V = variables(Qv, Kv, Vv)
    node = jc.attention(Q, K, V).node
    graph = Graph(node)
    P = scipy_softmax(Kv.T @ Qv / np.sqrt(d), axis=0)
    # V: Pᵀ ⊗ I_e, kept as its factors
    JV = graph.factor(node, 2)
    assert isinstance(JV.storage, Kron) and JV.label == "softmax(KᵀQ/√3)ᵀ⊗I₂"
    np.testing.assert_allclose(JV.toarray(), np.kron(P.T, np.eye(e)), atol=1e-15)
    # Q: block diagonal, query j moves only column j of the result
    JQ = graph.factor(node, 0)
    assert sp.issparse(JQ.storage) and JQ.nnz == n * e * d
    dense = JQ.toarray()
    for j in range(n):
        block = dense[j * e:(j + 1) * e, j * d:(j + 1) * d]
        Jj = np.diag(P[:, j]) - np.outer(P[:, j], P[:, j])
        np.testing.assert_allclose(block, Vv @ Jj @ Kv.T / np.sqrt(d), atol=1e-14)
        dense[j * e:(j + 1) * e, j * d:(j + 1) * d] = 0.0
    assert not dense.any()
    assert JQ.label == "1/√3·blockdiag_(j=1)⁴(V·(diag(pⱼ) − pⱼ pⱼᵀ)·Kᵀ)"
    # K: dense, every output depends on every key; block row j is c (V J_j) ⊗ q_jᵀ
    JK = graph.factor(node, 1)
    assert isinstance(JK.storage, np.ndarray)
    for j in range(n):
        Jj = np.diag(P[:, j]) - np.outer(P[:, j], P[:, j])
        np.testing.assert_allclose(JK.toarray()[j * e:(j + 1) * e],
                                   np.kron(Vv @ Jj, Qv[:, j][None, :]) / np.sqrt(d), atol=1e-14)
    # what the cost model is told before a factor is built is what gets built
    for i in range(3):
        told, built = node.op.factor_info(node, i), MatrixInfo.of(graph.factor(node, i))
        assert (told.shape, told.nnz, told.sparse, told.kind) == \
            (built.shape, built.nnz, built.sparse, built.kind), i


def test_the_entry_is_the_composition_of_the_table_multiplied_out(rng):
    """V softmax(KᵀQ/√d) built from matmul, transpose, scale and softmax: same values, same
    Jacobians, and its derivation lists the inner factors as steps."""
    Qv, Kv, Vv = rng.normal(size=(3, 4)), rng.normal(size=(3, 2)), rng.normal(size=(2, 2))
    Q, K, V = variables(Qv, Kv, Vv)
    fused = jc.attention(Q, K, V)
    spelled = V @ jc.softmax(K.T @ Q / np.sqrt(3))
    np.testing.assert_allclose(fused.value, spelled.value, atol=1e-15)
    for X in (Q, K, V):
        close(jc.jacobian(fused, X), jc.jacobian(spelled, X).toarray(), rtol=1e-13,
              atol=1e-15)
    text = str(jc.derivation(jc.sum(spelled), K))
    assert "K₃,₂" in text and "blockdiag" in text and "I₄⊗V" in text


def test_attention_against_torch_jacrev(rng):
    torch = pytest.importorskip("torch")
    from torch.func import jacrev

    d, n, m, e = 3, 4, 5, 2
    Qv, Kv, Vv = rng.normal(size=(d, n)), rng.normal(size=(d, m)), rng.normal(size=(e, m))
    Q, K, V = variables(Qv, Kv, Vv)
    O = jc.attention(Q, K, V)

    def f(Q, K, V):  # the column form, in torch
        return V @ torch.softmax(K.T @ Q / np.sqrt(d), dim=0)

    args = tuple(torch.from_numpy(M) for M in (Qv, Kv, Vv))
    tensors = jacrev(f, argnums=(0, 1, 2))(*args)
    for X, T in zip((Q, K, V), tensors):
        peer = jc.from_tensor_jacobian(T, (e, n), X.shape)
        close(jc.jacobian(O, X), peer.toarray(), rtol=1e-12, atol=1e-14)

    # the row-major form users know: ∂vec(O_r)/∂vec(Q_r) = K_{e,n} J K_{n,d}
    def f_rows(Qr, Kr, Vr):
        return torch.softmax(Qr @ Kr.T / np.sqrt(d), dim=-1) @ Vr

    Tr = jacrev(f_rows)(*(a.T.contiguous() for a in args))
    peer_rows = jc.from_tensor_jacobian(Tr, (n, e), (n, d)).toarray()
    J = jc.jacobian(O, Q).toarray()
    to_rows = jc.commutation_matrix(e, n).toarray() @ J @ jc.commutation_matrix(n, d).toarray()
    np.testing.assert_allclose(to_rows, peer_rows, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ through projections
def projections(seed, d_model=3, d=2, e=3, n=4):
    r = np.random.default_rng(seed)
    return (r.uniform(-1, 1, size=(d_model, n)), r.uniform(-1, 1, size=(d, d_model)),
            r.uniform(-1, 1, size=(d, d_model)), r.uniform(-1, 1, size=(e, d_model)))


def self_attention(X, WQ, WK, WV):
    return jc.attention(WQ @ X, WK @ X, WV @ X)


@settings(max_examples=200)
@given(seed=seeds, d_model=side, d=side, e=side, n=side)
def test_gradients_of_the_projection_weights_are_the_compact_chain(seed, d_model, d, e, n):
    """f = ⟨C, attention(W_Q X, W_K X, W_V X)⟩: W̄_Q = Q̄ Xᵀ, …, X̄ = W_Qᵀ Q̄ + W_Kᵀ K̄ + W_Vᵀ V̄."""
    Xv, WQv, WKv, WVv = projections(seed, d_model, d, e, n)
    C = np.random.default_rng(seed + 1).uniform(-1, 1, size=(e, n))
    X, WQ, WK, WV = (jc.var(k, v) for k, v in zip(("X", "WQ", "WK", "WV"),
                                                   (Xv, WQv, WKv, WVv)))
    F = jc.sum(self_attention(X, WQ, WK, WV) * jc.var("C", C))
    Qb, Kb, Vb = attention_vjp(WQv @ Xv, WKv @ Xv, WVv @ Xv, C)
    close(jc.grad(F, WQ), Qb @ Xv.T, rtol=1e-10, atol=1e-12)
    close(jc.grad(F, WK), Kb @ Xv.T, rtol=1e-10, atol=1e-12)
    close(jc.grad(F, WV), Vb @ Xv.T, rtol=1e-10, atol=1e-12)
    close(jc.grad(F, X), WQv.T @ Qb + WKv.T @ Kb + WVv.T @ Vb, rtol=1e-10, atol=1e-12)


def test_jacobians_through_the_projections_against_differences_and_torch():
    Xv, WQv, WKv, WVv = projections(5)
    X, WQ, WK, WV = (jc.var(k, v) for k, v in zip(("X", "WQ", "WK", "WV"),
                                                   (Xv, WQv, WKv, WVv)))
    O = self_attention(X, WQ, WK, WV)

    def plain(X, WQ, WK, WV):
        return plain_attention(WQ @ X, WK @ X, WV @ X)

    values = [Xv, WQv, WKv, WVv]
    literal = [jc.jacobian(O, v) for v in (X, WQ, WK, WV)]
    for i, J in enumerate(literal):
        def f(v, i=i):
            return plain(*(v if j == i else w for j, w in enumerate(values)))
        close(J, fd(f, values[i]), rtol=1e-6, atol=1e-8)
    # X reaches O along three paths, one per projection: the engine sums them
    assert jc.derivation(jc.sum(O), X).path_count == 3
    torch = pytest.importorskip("torch")
    from torch.func import jacrev

    def f_torch(X, WQ, WK, WV):
        Q, K, V = WQ @ X, WK @ X, WV @ X
        return V @ torch.softmax(K.T @ Q / np.sqrt(Q.shape[0]), dim=0)

    tensors = jacrev(f_torch, argnums=(0, 1, 2, 3))(*(torch.from_numpy(v) for v in values))
    for J, T, v in zip(literal, tensors, values):
        peer = jc.from_tensor_jacobian(T, O.shape, v.shape)
        close(J, peer.toarray(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ residual connection
def test_a_residual_attention_block_composes_with_everything():
    """Z = X + attention(W_Q X, W_K X, W_V X): four paths from X, gradients, Hessians."""
    Xv, WQv, WKv, WVv = projections(11, d_model=3, d=2, e=3, n=3)
    X, WQ, WK, WV = (jc.var(k, v) for k, v in zip(("X", "WQ", "WK", "WV"),
                                                   (Xv, WQv, WKv, WVv)))
    Z = X + self_attention(X, WQ, WK, WV)

    def plain(x):
        return x + plain_attention(WQv @ x, WKv @ x, WVv @ x)

    J = jc.jacobian(Z, X)
    close(J, fd(plain, Xv), rtol=1e-6, atol=1e-8)
    # the identity of the skip path plus the attention's own Jacobian
    close(J.toarray() - np.eye(Xv.size), jc.jacobian(self_attention(X, WQ, WK, WV), X)
          .toarray(), rtol=1e-13, atol=1e-15)
    d = jc.derivation(jc.sum(Z), X)  # the skip path and one through each projection
    assert d.path_count == 4 and len(d.path_values) == 4
    close(sum(p.toarray() for p in d.path_values), d.result.toarray(), rtol=1e-13, atol=1e-15)
    F = jc.sum(Z * Z) * 0.5

    def grad_WQ(w):
        q = jc.var("WQ", w)
        z = X + self_attention(X, q, WK, WV)
        return jc.grad(jc.sum(z * z) * 0.5, q)

    H = jc.hessian(F, WQ)
    close(H, fd(grad_WQ, WQv), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H.toarray(), H.toarray().T, atol=1e-12)
    v = np.random.default_rng(3).normal(size=WQv.shape)
    close(jc.hvp(F, WQ, v).reshape(-1, order="F"), H.toarray() @ v.reshape(-1, order="F"),
          rtol=1e-10, atol=1e-12)
    # the cheaper sweep for a scalar: tail to head
    assert Graph(F.node).cheaper_mode(F.node, X.node) == "reverse"


def test_the_derivation_in_every_format():
    pytest.importorskip("latex2mathml")
    from jacobian_calc.render import check_latex

    Xv, WQv, WKv, WVv = projections(2, d_model=2, d=2, e=2, n=2)
    X, WQ, WK, WV = (jc.var(k, v) for k, v in zip(("X", "WQ", "WK", "WV"),
                                                   (Xv, WQv, WKv, WVv)))
    F = jc.sum(X + self_attention(X, WQ, WK, WV))
    d = jc.derivation(F, WK)
    text = str(d)
    assert "attention(WQ X, WK X, WV X)" in text
    assert "1/√2·[(WV X)·(diag(pⱼ) − pⱼ pⱼᵀ)⊗qⱼᵀ]_(j=1)²" in text
    assert "(1×4)·(4×4)·(4×4)·(4×4) → 1×4" in text
    data = json.loads(json.dumps(d.to_dict()))
    assert any("attention" in json.dumps(step) for step in data["steps"])
    latex = d.to_latex()
    check_latex(latex)  # one aligned block: every step, path and note
    assert r"\operatorname{attention}" in latex
    assert d.to_markdown().startswith("#") and d._repr_markdown_() == d.to_markdown()
    check_latex(jc.attention(*variables(*problem(0, 2, 2, 2, 2))).latex)
    check_latex(jc.softmax(X, axis=1).latex)


# ------------------------------------------------------------------ parser, calculator
def test_the_parser_and_the_calculator_accept_attention():
    assert ALLOWED_FUNCTIONS["attention"] == (3, 3)
    Qv, Kv, Vv = problem(4, 2, 3, 4, 2)
    env = dict(zip("QKV", variables(Qv, Kv, Vv)))
    O = parse_expression("attention(Q, K, V) + V @ softmax(K.T @ Q)", env)
    np.testing.assert_allclose(
        O.value, plain_attention(Qv, Kv, Vv) + Vv @ scipy_softmax(Kv.T @ Qv, axis=0),
        atol=1e-14)
    calc = calculate("sum(attention(A @ X, B @ X, X) * X)", {"A": (2, 3), "B": (2, 3),
                                                              "X": (3, 4)}, wrt="X", seed=2)
    assert calc.ok and calc.jacobian.shape == (1, 12)
    with pytest.raises(jc.ExpressionSyntaxError, match="attention takes 3 arguments, got 2"):
        parse_expression("attention(Q, K)", env)


def test_the_parser_takes_softmax_axis_and_attention_beside_the_other_layers():
    assert ALLOWED_FUNCTIONS["softmax"] == (1, 2) and TABLE["softmax"].call_params == ("axis",)
    r = np.random.default_rng(8)
    Xv, Av, Bv, Cv, Yv = (r.uniform(-1, 1, size=s) for s in ((3, 4), (2, 3), (2, 3), (3, 3),
                                                            (3, 4)))
    env = {k: jc.var(k, v) for k, v in zip("XABCY", (Xv, Av, Bv, Cv, Yv))}
    for text in ("softmax(X, axis=1)", "softmax(X, 1)"):
        np.testing.assert_allclose(parse_expression(text, env).value, scipy_softmax(Xv, axis=1),
                                   atol=1e-15)
    # a transformer block in text: layer_norm of the residual self-attention
    F = parse_expression("sum(layer_norm(X + attention(A @ X, B @ X, C @ X), eps=1e-5) * Y)",
                         env)

    def plain(x):
        z = x + plain_attention(Av @ x, Bv @ x, Cv @ x)
        return np.sum((z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5) * Yv)

    close(jc.jacobian(F, env["X"]), fd(plain, Xv), rtol=1e-6, atol=1e-8)
    with pytest.raises(jc.JacobianCalcError, match="softmax's axis must be 0 .* or 1 .*got 2"):
        parse_expression("softmax(X, axis=2)", env)
    with pytest.raises(jc.ExpressionSyntaxError, match="'dim' is not one; softmax takes the "
                                                       "parameter\\(s\\) axis"):
        parse_expression("softmax(X, dim=1)", env)


def test_the_grader_reads_attention_and_names_a_mistake_in_its_gradient():
    """f = Σ attention(Q, K, V) ⊙ W = tr(Wᵀ V P): ∂f/∂V = W Pᵀ, P = softmax(KᵀQ/√d)."""
    from jacobian_calc.testing import diagnose

    shapes = {"Q": (4, 3), "K": (4, 5), "V": (2, 5), "W": (2, 3)}
    truth = "sum(attention(Q, K, V) * W)"
    assert diagnose("W @ softmax(K.T @ Q / 2).T", truth, wrt="V", shapes=shapes).verdict \
        == "correct"
    wrong = diagnose("-(W @ softmax(K.T @ Q / 2).T)", truth, wrt="V", shapes=shapes)
    assert (wrong.verdict, wrong.mistake) == ("wrong", "sign")
    rows = diagnose("W @ softmax(Q.T @ K / 2, axis=1)", truth, wrt="V", shapes=shapes)
    assert rows.verdict == "correct"  # softmax along rows of the transpose is Pᵀ


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("shapes, message", [
    (((3, 4), (2, 5), (2, 5)), r"the queries Q are 3×4 and the keys K are 2×5; queries and keys "
                               r"need the same number of rows d_k \(3 ≠ 2\)"),
    (((2, 4), (2, 5), (3, 4)), r"the values V are 3×4 and the keys K are 2×5; there must be one "
                               r"value column per key column \(4 ≠ 5\)"),
    (((2,), (2, 5), (3, 5)), r"the queries Q must be a matrix \(d × n, one token per "
                             r"column\), but it is a vector of length 2"),
    (((2, 4), (2, 5), ()), r"the values V must be a matrix \(e × m.*but it is a scalar"),
])
def test_mismatched_shapes_are_refused_with_the_sizes(shapes, message):
    Q, K, V = (jc.var(k, np.ones(s)) for k, s in zip("QKV", shapes))
    with pytest.raises(jc.ShapeError, match=r"attention\(Q, K, V\): " + message):
        jc.attention(Q, K, V)


def test_wrong_arity_and_non_expressions_are_refused():
    Q = jc.var("Q", np.ones((2, 2)))
    with pytest.raises(jc.JacobianCalcError, match="attention takes 3 expression arguments, "
                                                   "got 2"):
        jc.attention(Q, Q)
    with pytest.raises(jc.JacobianCalcError, match=r"attention\(\) takes expressions"):
        jc.attention(Q, Q, np.ones((2, 2)))
    assert "attention" in TABLE and TABLE["attention"].family == "attention"
