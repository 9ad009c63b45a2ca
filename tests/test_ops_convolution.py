"""conv1d, conv2d and im2col: literal factors against finite differences, the compact formulas and PyTorch.

The oracles are independent of the literal machinery: central differences of the compact
forward pass (:mod:`jacobian_calc.lecture.conv_norm`), its backward formulas (gradients by
correlation with the output gradient), matrices written entry by entry from the
definition in plain loops, and ``torch.func.jacrev`` reordered to the vec convention.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.lecture import conv_norm as compact
from jacobian_calc.ops import convolution as conv
from jacobian_calc.render.latex import check_latex
from jacobian_calc.testing import real_arrays


# ------------------------------------------------------------------ drawn problems
@st.composite
def problems(draw: st.DrawFn, max_side: int = 6) -> tuple:
    """X (H×W), K (kh×kw), stride, padding with the kernel inside the padded image."""
    s, p = draw(st.integers(1, 3), label="stride"), draw(st.integers(0, 2), label="padding")
    H, W = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    kh = draw(st.integers(1, min(H + 2 * p, 4)))
    kw = draw(st.integers(1, min(W + 2 * p, 4)))
    return draw(real_arrays((H, W))), draw(real_arrays((kh, kw))), s, p


def fd(f, x):
    return jc.finite_difference_jacobian(f, x)


def close(actual, expected, rtol=1e-7):
    """Equal up to finite-difference error, relative to the largest entry."""
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def exact(actual, expected):
    """Equal up to rounding (sums in another order)."""
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)


def input_matrix(K, shape, s, p):
    """∂vec(Y)/∂vec(X) from the definition, entry by entry (plain loops)."""
    H, W = shape
    kh, kw = K.shape
    Ho, Wo = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
    J = np.zeros((Ho * Wo, H * W))
    for i in range(Ho):
        for j in range(Wo):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * s + a - p, j * s + b - p
                    if 0 <= r < H and 0 <= c < W:
                        J[i + Ho * j, r + H * c] += K[a, b]
    return J


def conv_matrix_1d(k, n, s=1, p=0):
    """The 1-D strided, padded correlation matrix: row i holds k_a at column i·s + a − p."""
    m = k.size
    out = (n + 2 * p - m) // s + 1
    T = np.zeros((out, n))
    for i in range(out):
        for a in range(m):
            if 0 <= i * s + a - p < n:
                T[i, i * s + a - p] = k[a]
    return T


# ------------------------------------------------------- literal == compact == FD
@given(problems())
def test_conv2d_factors_are_the_derivatives_of_the_forward(problem):
    X, K, s, p = problem
    Xv, Kv = jc.var("X", X), jc.var("K", K)
    Y = jc.conv2d(Xv, Kv, stride=s, padding=p)
    exact(Y.value, compact.conv2d_forward(X, K, s, p))
    JX, JK = jc.jacobian(Y, Xv), jc.jacobian(Y, Kv)
    assert sp.issparse(JX.storage) and isinstance(JK.storage, np.ndarray)
    close(JX.toarray(), fd(lambda v: compact.conv2d_forward(v, K, s, p), X))
    close(JK.toarray(), fd(lambda v: compact.conv2d_forward(X, v, s, p), K))
    exact(JX.toarray(), input_matrix(K, X.shape, s, p))


@given(problems(), st.data())
def test_conv2d_gradients_literal_equal_compact_correlations(problem, data):
    X, K, s, p = problem
    Xv, Kv = jc.var("X", X), jc.var("K", K)
    Y = jc.conv2d(Xv, Kv, stride=s, padding=p)
    G = data.draw(real_arrays(Y.shape), label="G")
    f = jc.sum(Y * jc.var("G", G))  # f = ⟨G, Y⟩, so ∂f/∂Y = G
    dX, dK = compact.conv2d_backward(X, K, G, s, p)
    exact(jc.grad(f, Xv), dX)
    exact(jc.grad(f, Kv), dK)
    # and the compact formulas are the derivative (an oracle for the oracle)
    close(dK.reshape(1, -1, order="F"),
          fd(lambda v: np.sum(G * compact.conv2d_forward(X, v, s, p)), K))


signals = st.integers(1, 8).flatmap(  # a signal and a kernel no longer than it
    lambda n: st.integers(1, n).flatmap(lambda m: st.tuples(real_arrays((n,)), real_arrays((m,)))))


@given(signals, st.data())
def test_conv1d_factors_and_gradients(pair, data):
    x, k = pair
    xv, kv = jc.var("x", x), jc.var("k", k)
    y = jc.conv1d(xv, kv)
    exact(y.value, compact.conv1d_forward(x, k))
    Jx, Jk = jc.jacobian(y, xv), jc.jacobian(y, kv)
    close(Jx.toarray(), fd(lambda v: compact.conv1d_forward(v, k), x))
    close(Jk.toarray(), fd(lambda v: compact.conv1d_forward(x, v), k))
    exact(Jx.toarray(), conv_matrix_1d(k, x.size))  # Toeplitz: row i is k shifted by i
    g = data.draw(real_arrays(y.shape), label="g")
    dx, dk = compact.conv1d_backward(x, k, g)
    f = jc.sum(y * jc.var("g", g))
    exact(jc.grad(f, xv), dx)
    exact(jc.grad(f, kv), dk)


# ------------------------------------------------------------------ structure
@given(problems())
def test_input_factor_is_sparse_with_a_row_per_output_and_a_column_per_tap(problem):
    X, K, s, p = problem
    J = conv.conv2d_input_jacobian(K, X.shape, s, p)
    assert type(J) is sp.csr_array and J.has_sorted_indices
    per_row = np.diff(J.indptr)
    kh, kw = K.shape
    if p == 0:
        assert np.all(per_row == kh * kw)  # kh·kw entries a row, zeros of K included
    else:
        assert per_row.max() <= kh * kw  # a tap on the padding has no column
    # each row lists the kernel (in vec(K) order) at the taps that fall on the image
    dense = J.toarray()
    assert J.nnz == np.count_nonzero(input_matrix(np.ones_like(K), X.shape, s, p))
    exact(dense, input_matrix(K, X.shape, s, p))


@given(st.integers(1, 5), st.integers(1, 5), st.data())
def test_stride_one_unpadded_factor_is_block_toeplitz_with_toeplitz_blocks(H, W, data):
    kh, kw = data.draw(st.integers(1, H)), data.draw(st.integers(1, W))
    K = data.draw(real_arrays((kh, kw)))
    J = conv.conv2d_input_jacobian(K, (H, W)).toarray()
    Ho, Wo = H - kh + 1, W - kw + 1
    for j in range(Wo):
        for c in range(W):
            block = J[Ho * j:Ho * (j + 1), H * c:H * (c + 1)]
            b = c - j  # the block depends on c − j only: the kernel's column b, as 1-D
            expected = conv_matrix_1d(K[:, b], H) if 0 <= b < kw else np.zeros((Ho, H))
            np.testing.assert_array_equal(block, expected)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 3), st.integers(0, 2), st.data())
def test_separable_kernel_gives_the_kronecker_product_of_the_1d_matrices(H, W, s, p, data):
    kh = data.draw(st.integers(1, min(H + 2 * p, 4)))
    kw = data.draw(st.integers(1, min(W + 2 * p, 4)))
    u, v = data.draw(real_arrays((kh,))), data.draw(real_arrays((kw,)))
    J = conv.conv2d_input_jacobian(np.outer(u, v), (H, W), s, p).toarray()
    # column stacking: the width (v) factor on the left, the height (u) factor on the right;
    # each entry is the same product u_a·v_b, so the match is exact
    np.testing.assert_array_equal(J, np.kron(conv_matrix_1d(v, W, s, p),
                                             conv_matrix_1d(u, H, s, p)))


def test_separable_kernel_kronecker_factors_are_conv1d_jacobians(rng):
    u, v = rng.normal(size=3), rng.normal(size=2)
    X = jc.var("X", rng.normal(size=(6, 5)))
    J = jc.jacobian(jc.conv2d(X, jc.var("K", np.outer(u, v))), X).toarray()
    x6, x5 = jc.var("x", np.zeros(6)), jc.var("z", np.zeros(5))
    Tu = jc.jacobian(jc.conv1d(x6, jc.var("u", u)), x6).toarray()
    Tv = jc.jacobian(jc.conv1d(x5, jc.var("v", v)), x5).toarray()
    np.testing.assert_array_equal(J, np.kron(Tv, Tu))
    assert not np.allclose(J, np.kron(Tu, Tv))  # the order matters


def test_the_256_by_256_input_factor_is_built_sparse_in_little_memory(rng):
    X, K = rng.normal(size=(256, 256)), rng.normal(size=(3, 3))
    tracemalloc.start()
    try:
        J = conv.conv2d_input_jacobian(K, X.shape)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert J.shape == (254 * 254, 256 * 256) and J.nnz == 254 * 254 * 9
    assert peak < 100 * 2**20  # a dense one would be 254²·256²·8 B ≈ 31 GiB
    g = rng.normal(size=254 * 254)
    dX, _ = compact.conv2d_backward(X, K, g.reshape(254, 254, order="F"))
    exact(g @ J, dX.reshape(-1, order="F"))


# ------------------------------------------------------------------------ im2col
@given(problems())
def test_im2col_layout_and_convolution_as_a_product(problem):
    X, K, s, p = problem
    kh, kw = K.shape
    P = jc.im2col(jc.var("X", X), kh, kw, s, p).value
    H, W = X.shape
    Ho, Wo = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
    Xp = np.pad(X, p)
    assert P.shape == (kh * kw, Ho * Wo)
    for i in range(Ho):
        for j in range(Wo):
            for a in range(kh):
                for b in range(kw):
                    assert P[a + kh * b, i + Ho * j] == Xp[i * s + a, j * s + b]
    # vec(Y)ᵀ = vec(K)ᵀ P
    exact(K.reshape(1, -1, order="F") @ P,
          compact.conv2d_forward(X, K, s, p).reshape(1, -1, order="F"))


@given(problems(max_side=5), st.data())
def test_im2col_factor_is_a_selection_and_its_transpose_is_col2im(problem, data):
    X, K, s, p = problem
    kh, kw = K.shape
    Xv = jc.var("X", X)
    P = jc.im2col(Xv, kh, kw, stride=s, padding=p)
    E = jc.jacobian(P, Xv)
    assert sp.issparse(E.storage) and set(np.unique(E.storage.data)) <= {1.0}
    assert np.all(np.diff(E.storage.indptr) <= 1)  # one copied entry a row, none on padding
    close(E.toarray(), fd(lambda v: conv.im2col_forward(v, kh, kw, s, p), X))
    Pbar = data.draw(real_arrays(P.shape), label="Pbar")
    exact(jc.grad(jc.sum(P * jc.var("Pbar", Pbar)), Xv),
          compact.col2im(Pbar, X.shape, kh, kw, s, p))
    # ∂vec(Y)/∂vec(X) = (I ⊗ vec(K)ᵀ) ∂vec(P)/∂vec(X): a convolution reads through im2col
    through = sp.kron(sp.eye_array(P.shape[1]), K.reshape(1, -1, order="F")) @ E.storage
    exact(through.toarray(), conv.conv2d_input_jacobian(K, X.shape, s, p).toarray())


def test_multichannel_convolution_is_stacked_kernels_times_stacked_patches(rng):
    C_in, C_out, kh, kw, s, p = 3, 2, 3, 2, 2, 1
    Xs = [rng.normal(size=(7, 6)) for _ in range(C_in)]
    Ks = rng.normal(size=(C_out, C_in, kh, kw))
    P = np.vstack([conv.im2col_forward(X, kh, kw, s, p) for X in Xs])  # (C_in·kh·kw, Ho·Wo)
    Wmat = np.stack([np.concatenate([Ks[o, c].reshape(-1, order="F") for c in range(C_in)])
                     for o in range(C_out)])  # row o: vec(K_o1)ᵀ … vec(K_oC)ᵀ
    Y = Wmat @ P
    for o in range(C_out):
        expected = sum(compact.conv2d_forward(Xs[c], Ks[o, c], s, p) for c in range(C_in))
        exact(Y[o].reshape(expected.shape, order="F"), expected)
    # the same through expressions: Σ_c W_c @ im2col(X_c), differentiated by X_1
    Xv = [jc.var(f"X{c + 1}", X) for c, X in enumerate(Xs)]
    Wc = [jc.var(f"W{c + 1}", Wmat[:, c * kh * kw:(c + 1) * kh * kw]) for c in range(C_in)]
    Ye = Wc[0] @ jc.im2col(Xv[0], kh, kw, s, p)
    for c in range(1, C_in):
        Ye = Ye + Wc[c] @ jc.im2col(Xv[c], kh, kw, s, p)
    exact(Ye.value, Y)
    G = rng.normal(size=Y.shape)
    out_shape = compact.conv2d_forward(Xs[0], Ks[0, 0], s, p).shape
    expected = sum(compact.conv2d_backward(Xs[0], Ks[o, 0], G[o].reshape(out_shape, order="F"),
                                           s, p)[0] for o in range(C_out))
    exact(jc.grad(jc.sum(Ye * jc.var("G", G)), Xv[0]), expected)


# -------------------------------------------------------------------- second order
@given(problems(max_side=4), st.data())
def test_conv2d_hessian_is_only_the_mixed_block(problem, data):
    X, K, s, p = problem
    Xv, Kv = jc.var("X", X), jc.var("K", K)
    Y = jc.conv2d(Xv, Kv, stride=s, padding=p)
    C = data.draw(real_arrays(Y.shape), label="C")
    f = jc.sum(Y * jc.var("C", C))
    assert np.all(jc.hessian(f, Xv).toarray() == 0)
    assert np.all(jc.hessian(f, Kv).toarray() == 0)
    # H_XK[:, q] = ∂ vec(∂f/∂X)/∂K_q: differences of the compact gradient (linear in K)
    H = jc.hessian(f, Xv, Kv).toarray()
    close(H, fd(lambda v: compact.conv2d_backward(X, v, C, s, p)[0], K))
    exact(jc.hessian(f, Kv, Xv).toarray(), H.T)


def test_a_composition_through_conv2d_has_the_hessian_of_its_gradient(rng):
    X, K = rng.normal(size=(5, 4)), rng.normal(size=(2, 2))
    Xv, Kv = jc.var("X", X), jc.var("K", K)
    f = jc.sum(jc.tanh(jc.conv2d(Xv, Kv, padding=1)) ** 2)

    def grad_K(v):
        Y = compact.conv2d_forward(X, v, 1, 1)
        return compact.conv2d_backward(X, v, 2 * np.tanh(Y) * (1 - np.tanh(Y) ** 2), 1, 1)[1]

    close(jc.hessian(f, Kv).toarray(), fd(grad_K, K), rtol=1e-6)
    V = rng.normal(size=K.shape)
    close(jc.hvp(f, Kv, V).reshape(-1, order="F"),
          jc.hessian(f, Kv).toarray() @ V.reshape(-1, order="F"), rtol=1e-10)


# --------------------------------------------------- composition, notation, parser
def test_conv_derivation_in_every_format(rng):
    pytest.importorskip("latex2mathml")
    X, K = jc.var("X", rng.normal(size=(4, 4))), jc.var("K", rng.normal(size=(2, 2)))
    f = jc.sum(jc.sigmoid(jc.conv2d(X, K, stride=2, padding=1)))
    d = jc.derivation(f, K)
    assert d.title == "∂sum(σ(conv2d(X, K, stride=2, padding=1)))/∂K"
    text = str(d)
    assert "im2col(X, 2, 2, stride=2, padding=1)ᵀ" in text
    data = json.loads(json.dumps(d.to_dict()))
    assert data["result"]["shape"] == [1, 4]
    check_latex(d.to_latex())  # one aligned block
    assert d.to_markdown().startswith("#")
    exact(d.result.matrix_gradient(), jc.grad(f, K))


def test_written_forms_and_factor_labels():
    pytest.importorskip("latex2mathml")
    X, K = jc.var("X", np.ones((5, 5))), jc.var("K", np.eye(3))
    Y = jc.conv2d(X, K, 2, 1)
    assert Y.text == "conv2d(X, K, stride=2, padding=1)" and Y.shape == (3, 3)
    assert jc.jacobian(Y, X).label == "toeplitz(K, stride=2, padding=1)"
    assert jc.jacobian(Y, K).label == "im2col(X, 3, 3, stride=2, padding=1)ᵀ"
    assert jc.conv2d(X, K).text == "conv2d(X, K)"
    P = jc.im2col(X, 2, 3)
    assert P.text == "im2col(X, 2, 3)" and P.shape == (6, 12)
    assert jc.jacobian(P, X).label == "gather(X, 2, 3)"
    x, k = jc.var("x", np.arange(5.0)), jc.var("k", np.ones(2))
    assert jc.jacobian(jc.conv1d(x, k), k).label == "hankel(x)"
    for F in (Y, P, jc.conv1d(x, k)):
        check_latex(F.latex)


def test_pytorch_output_size_with_stride_and_padding():
    for H, kh, s, p, expected in [(5, 3, 1, 0, 3), (5, 3, 2, 1, 3), (6, 3, 2, 0, 2),
                                  (7, 2, 3, 2, 4), (1, 3, 1, 1, 1), (4, 4, 5, 0, 1)]:
        Y = jc.conv2d(jc.var("X", np.ones((H, H))), jc.var("K", np.ones((kh, kh))),
                      stride=s, padding=p)
        assert Y.shape == (expected, expected), (H, kh, s, p)


def test_parser_and_calculator_take_stride_and_padding():
    from jacobian_calc.front.calculator import calculate
    from jacobian_calc.front.parse import parse_expression

    rng = np.random.default_rng(3)
    env = {"X": jc.var("X", rng.normal(size=(6, 5))), "K": jc.var("K", rng.normal(size=(3, 2)))}
    by_position = parse_expression("conv2d(X, K, 2, 1)", env)
    by_keyword = parse_expression("conv2d(X, K, padding=1, stride=2)", env)
    direct = jc.conv2d(env["X"], env["K"], stride=2, padding=1)
    assert by_position.text == by_keyword.text == direct.text
    np.testing.assert_array_equal(by_position.value, direct.value)
    assert parse_expression("im2col(X, 2, 2, padding=1)", env).shape == (4, 42)
    # the calculator checks the Jacobian against differences of the text's own forward,
    # with the same parameters
    calc = calculate("sum(conv2d(X, K, stride=2, padding=1) ** 2)", {"X": (6, 5), "K": (3, 2)},
                     wrt="K", seed=1)
    assert calc.ok and calc.jacobian.shape == (1, 6)
    calc = calculate("im2col(X, 2, 3, 2)", {"X": (5, 5)}, wrt="X", seed=2)
    assert calc.ok and calc.jacobian.shape == (6 * 4, 25)


def test_expression_functions_take_the_parameters_by_position():
    X = jc.var("X", np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(jc.im2col(X, 2, 2).value, jc.im2col(X, kh=2, kw=2).value)
    with pytest.raises(jc.JacobianCalcError, match="both by position and by keyword"):
        jc.im2col(X, 2, 2, kh=2)
    with pytest.raises(jc.JacobianCalcError, match="up to 4 parameter"):
        jc.im2col(X, 2, 2, 1, 0, 7)
    with pytest.raises(jc.JacobianCalcError, match="needs the parameter 'kh'"):
        jc.im2col(X)


# ------------------------------------------------------------------------ errors
def test_bad_input_is_refused_with_a_named_reason():
    X, K = jc.var("X", np.ones((3, 3))), jc.var("K", np.ones((4, 2)))
    with pytest.raises(jc.ShapeError, match=r"the kernel K is 4×2 but the image X is 3×3; "
                                            r"the kernel must fit inside the padded image"):
        jc.conv2d(X, K)
    assert jc.conv2d(X, K, padding=1).shape == (2, 4)  # with padding it fits
    with pytest.raises(jc.ShapeError, match=r"5×5 with padding 1"):
        jc.conv2d(X, jc.var("B", np.ones((6, 1))), padding=1)
    with pytest.raises(jc.DomainError, match="stride must be ≥ 1, got 0"):
        jc.conv2d(X, jc.var("k", np.ones((2, 2))), stride=0)
    with pytest.raises(jc.DomainError, match="stride must be ≥ 1, got -2"):
        jc.conv2d(X, jc.var("k", np.ones((2, 2))), stride=-2)
    with pytest.raises(jc.DomainError, match="padding must be ≥ 0, got -1"):
        jc.conv2d(X, jc.var("k", np.ones((2, 2))), padding=-1)
    with pytest.raises(jc.JacobianCalcError, match=r"stride must be an int ≥ 1, got 1.5 \(a float"):
        jc.conv2d(X, jc.var("k", np.ones((2, 2))), stride=1.5)
    with pytest.raises(jc.JacobianCalcError, match="padding must be an int"):
        jc.conv2d(X, jc.var("k", np.ones((2, 2))), padding=True)
    with pytest.raises(jc.ShapeError, match="the kernel k must be a matrix, but it is a vector"):
        jc.conv2d(X, jc.var("k", np.ones(2)))
    with pytest.raises(jc.ShapeError, match="the image x must be a matrix"):
        jc.conv2d(jc.var("x", np.ones(3)), jc.var("k", np.ones((2, 2))))
    with pytest.raises(jc.ShapeError, match="the kernel k has 4 entries but the signal x has 3"):
        jc.conv1d(jc.var("x", np.ones(3)), jc.var("k", np.ones(4)))
    with pytest.raises(jc.ShapeError, match="the signal x must be a vector"):
        jc.conv1d(jc.var("x", np.ones((3, 1))), jc.var("k", np.ones(2)))
    with pytest.raises(jc.ShapeError, match="the kernel window is 4×1 but the image X is 3×3"):
        jc.im2col(X, 4, 1)
    with pytest.raises(jc.DomainError, match="im2col: kw must be ≥ 1, got 0"):
        jc.im2col(X, 1, 0)
    with pytest.raises(jc.WorkLimitError, match="padded image"):
        jc.conv2d(X, jc.var("k", np.ones((2, 2))), padding=10**6)


# ------------------------------------------------------------------ PyTorch peers
def test_pytorch_jacrev_matches_the_literal_factors(rng):
    torch = pytest.importorskip("torch")
    from torch.func import jacrev
    from torch.nn.functional import conv1d, conv2d, unfold

    for (H, W, kh, kw, s, p) in [(5, 6, 3, 2, 1, 0), (7, 6, 3, 3, 2, 1), (4, 5, 2, 2, 3, 2)]:
        X, K = rng.normal(size=(H, W)), rng.normal(size=(kh, kw))
        Xt, Kt = torch.from_numpy(X), torch.from_numpy(K)

        def f(x, k):
            return conv2d(x[None, None], k[None, None], stride=s, padding=p)[0, 0]

        Xv, Kv = jc.var("X", X), jc.var("K", K)
        Y = jc.conv2d(Xv, Kv, stride=s, padding=p)
        exact(Y.value, f(Xt, Kt).numpy())
        TX = jacrev(f, argnums=0)(Xt, Kt)  # shape Y.shape + X.shape, row-major
        TK = jacrev(f, argnums=1)(Xt, Kt)
        exact(jc.jacobian(Y, Xv).toarray(), jc.from_tensor_jacobian(TX, Y.shape, X.shape).toarray())
        exact(jc.jacobian(Y, Kv).toarray(), jc.from_tensor_jacobian(TK, Y.shape, K.shape).toarray())
        # torch's unfold: rows a·kw + b (row-major kernel), columns i·Wo + j; ours is the
        # column-stacking order of both
        U = unfold(Xt[None, None], (kh, kw), stride=s, padding=p)[0].numpy()
        Ho, Wo = Y.shape
        ours = jc.im2col(Xv, kh, kw, s, p).value
        a, b, i, j = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(Ho), np.arange(Wo),
                                 indexing="ij")
        np.testing.assert_array_equal(ours[a + kh * b, i + Ho * j], U[a * kw + b, i * Wo + j])
    x, k = rng.normal(size=9), rng.normal(size=4)
    xv, kv = jc.var("x", x), jc.var("k", k)
    y = jc.conv1d(xv, kv)

    def g(x, k):
        return conv1d(x[None, None], k[None, None])[0, 0]

    T = jacrev(g, argnums=(0, 1))(torch.from_numpy(x), torch.from_numpy(k))
    exact(jc.jacobian(y, xv).toarray(), jc.from_tensor_jacobian(T[0], (6,), (9,)).toarray())
    exact(jc.jacobian(y, kv).toarray(), jc.from_tensor_jacobian(T[1], (6,), (4,)).toarray())


def test_pytorch_multichannel_conv2d_is_the_stacked_product(rng):
    torch = pytest.importorskip("torch")
    from torch.nn.functional import conv2d

    C_in, C_out, kh, kw, s, p = 2, 3, 3, 3, 2, 1
    X = rng.normal(size=(C_in, 6, 7))
    Kt = rng.normal(size=(C_out, C_in, kh, kw))
    P = np.vstack([conv.im2col_forward(X[c], kh, kw, s, p) for c in range(C_in)])
    Wmat = np.stack([np.concatenate([Kt[o, c].reshape(-1, order="F") for c in range(C_in)])
                     for o in range(C_out)])
    Y = conv2d(torch.from_numpy(X)[None], torch.from_numpy(Kt), stride=s, padding=p)[0].numpy()
    for o in range(C_out):
        exact((Wmat @ P)[o], Y[o].reshape(-1, order="F"))
