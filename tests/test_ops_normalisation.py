"""layer_norm and batch_norm: literal factors against finite differences, the compact backward pass and PyTorch.

Oracles: central differences of the compact forward pass
(:mod:`jacobian_calc.lecture.conv_norm`), its backward formulas (Ioffe and Szegedy's
batch-norm gradient, also layer norm's along the other axis), differences of that
compact gradient for the second order, closed forms of the invariants, and
``torch.func.jacrev`` of PyTorch's own normalisations reordered to the vec convention.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jacobian_calc as jc
from jacobian_calc.lecture import conv_norm as compact
from jacobian_calc.render.latex import check_latex
from jacobian_calc.testing import real_arrays

FORWARD = {"layer_norm": compact.layer_norm_forward, "batch_norm": compact.batch_norm_forward}
BACKWARD = {"layer_norm": compact.layer_norm_backward, "batch_norm": compact.batch_norm_backward}


@st.composite
def spread(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Entries at least 0.3 apart: no column or row is nearly constant, so σ ≥ 0.15 when eps = 0."""
    n = int(np.prod(shape))
    order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.0, 0.2)))
    return ((order - (n - 1) / 2) * 0.5 + jitter).reshape(shape)


@st.composite
def problems(draw: st.DrawFn) -> tuple[str, np.ndarray, float]:
    """An operation, X (every group at least 2 entries) and eps (0 about half the time)."""
    name = draw(st.sampled_from(["layer_norm", "batch_norm"]))
    m = draw(st.integers(2 if name == "layer_norm" else 1, 5))
    n = draw(st.integers(2 if name == "batch_norm" else 1, 5))
    eps = draw(st.one_of(st.just(0.0), st.floats(1e-3, 2.0)))
    X = draw(spread((m, n)) if eps == 0 else real_arrays((m, n)))
    return name, X, eps


def fd(f, x):
    return jc.finite_difference_jacobian(f, x)


def close(actual, expected, rtol=1e-6):
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def exact(actual, expected):
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)


def literal(name, X, eps):
    Xv = jc.var("X", X)
    F = getattr(jc, name)(Xv, eps=eps)
    return Xv, F, jc.jacobian(F, Xv)


# ------------------------------------------------------- literal == compact == FD
@given(problems(), st.data())
def test_factor_is_the_derivative_and_gradients_equal_the_compact_backward(problem, data):
    name, X, eps = problem
    Xv, F, J = literal(name, X, eps)
    exact(F.value, FORWARD[name](X, eps))
    assert sp.issparse(J.storage)
    close(J.toarray(), fd(lambda v: FORWARD[name](v, eps), X))
    G = data.draw(real_arrays(X.shape), label="G")
    exact(jc.grad(jc.sum(F * jc.var("G", G)), Xv), BACKWARD[name](X, G, eps))


def test_a_vector_is_one_column_for_layer_norm(rng):
    x = rng.normal(size=5)
    xv = jc.var("x", x)
    y = jc.layer_norm(xv)
    exact(y.value, compact.layer_norm_forward(x[:, None])[:, 0])
    close(jc.jacobian(y, xv).toarray(), fd(lambda v: compact.layer_norm_forward(v), x))


# ------------------------------------------------------------------ invariants
@given(problems())
def test_each_block_annihilates_the_ones_and_with_eps_0_the_input(problem):
    name, X, eps = problem
    _, F, J = literal(name, X, eps)
    m, n = X.shape
    M = J.toarray()
    xhat = F.value
    for g in range(n if name == "layer_norm" else m):
        # the group's entries in vec(X): a column is contiguous, a row is m apart
        idx = m * g + np.arange(m) if name == "layer_norm" else g + m * np.arange(n)
        x = X[:, g] if name == "layer_norm" else X[g, :]
        B = M[np.ix_(idx, idx)]
        v = np.var(x)
        scale = 1 / np.sqrt(v + eps)  # the size of the block's entries (B is 0 for N = 2)
        np.testing.assert_allclose(B @ np.ones(idx.size), 0, atol=1e-12 * scale * idx.size)
        # J x = eps/(v + eps) x̂: zero for eps = 0 (a scaling of the group changes nothing)
        expected = eps / (v + eps) * (xhat[:, g] if name == "layer_norm" else xhat[g, :])
        np.testing.assert_allclose(B @ x, expected,
                                   atol=1e-12 * scale * idx.size * np.abs(x).max())
        np.testing.assert_array_equal(B, B.T)  # symmetric
        # nothing outside the group: the other entries of these rows are structural zeros
        others = np.setdiff1d(np.arange(X.size), idx)
        assert not M[np.ix_(idx, others)].any()


@given(problems())
def test_a_shift_and_with_eps_0_a_scaling_leave_the_output_unchanged(problem):
    name, X, eps = problem
    axis = 0 if name == "layer_norm" else 1
    shape = (1, X.shape[1]) if axis == 0 else (X.shape[0], 1)
    shifted = X + np.linspace(-2, 2, num=int(np.prod(shape))).reshape(shape)
    np.testing.assert_allclose(getattr(jc, name)(jc.var("X", shifted), eps=eps).value,
                               FORWARD[name](X, eps), atol=1e-9)
    if eps == 0:
        scaled = X * np.linspace(0.5, 3, num=int(np.prod(shape))).reshape(shape)
        np.testing.assert_allclose(getattr(jc, name)(jc.var("X", scaled)).value,
                                   FORWARD[name](X, 0.0), atol=1e-12)


def test_batch_norm_is_layer_norm_of_the_transpose_through_commutation_matrices(rng):
    X = rng.normal(size=(3, 4))
    Jb = literal("batch_norm", X, 0.0)[2].toarray()
    Jl = literal("layer_norm", X.T, 0.0)[2].toarray()
    K34, K43 = jc.commutation_matrix(3, 4).toarray(), jc.commutation_matrix(4, 3).toarray()
    # vec(B(X)) = K₄₃ vec(L(Xᵀ)) with vec(Xᵀ) = K₃₄ vec(X)
    exact(Jb, K43 @ Jl @ K34)


def test_the_factors_are_stored_sparse_by_group(rng):
    X = rng.normal(size=(4, 6))
    Jl = literal("layer_norm", X, 0.0)[2].storage
    Jb = literal("batch_norm", X, 0.0)[2].storage
    assert Jl.nnz == 6 * 4 * 4 and Jb.nnz == 4 * 6 * 6  # N² entries a group
    rows, cols = Jb.nonzero()
    assert np.all(rows % 4 == cols % 4)  # batch_norm couples the examples of one feature
    rows, cols = Jl.nonzero()
    assert np.all(rows // 4 == cols // 4)  # layer_norm: one block per example


# -------------------------------------------------------------------- second order
@given(problems(), st.data())
def test_hessian_is_the_derivative_of_the_compact_gradient(problem, data):
    name, X, eps = problem
    Xv, F, _ = literal(name, X, eps)
    C = data.draw(real_arrays(X.shape), label="C")
    f = jc.sum(F * jc.var("C", C))
    H = jc.hessian(f, Xv).toarray()
    close(H, fd(lambda v: BACKWARD[name](v, C, eps), X), rtol=1e-5)
    np.testing.assert_allclose(H, H.T, atol=1e-12 * max(1.0, np.abs(H).max()))


def test_hessian_of_a_normalised_layer_in_a_composition(rng):
    W = rng.normal(size=(3, 4))
    x = rng.normal(size=(4, 5))
    Wv = jc.var("W", W)
    f = jc.sum(jc.tanh(jc.batch_norm(Wv @ jc.var("x", x), eps=1e-3)) ** 2)

    def grad_W(V):
        Z = compact.batch_norm_forward(V @ x, 1e-3)
        dZ = compact.batch_norm_backward(V @ x, 2 * np.tanh(Z) * (1 - np.tanh(Z) ** 2), 1e-3)
        return dZ @ x.T

    exact(jc.grad(f, Wv), grad_W(W))
    close(jc.hessian(f, Wv).toarray(), fd(grad_W, W), rtol=1e-5)


# ------------------------------------------------------------ notation and errors
def test_written_forms_and_labels():
    pytest.importorskip("latex2mathml")
    X = jc.var("X", np.arange(6.0).reshape(2, 3) ** 2)
    L, B = jc.layer_norm(X), jc.batch_norm(X, eps=1e-5)
    assert L.text == "layer_norm(X)" and B.text == "batch_norm(X, eps=1e-05)"
    assert jc.jacobian(L, X).label == "Σ_(j=1)³ eⱼ eⱼᵀ⊗1/σⱼ(I₂ − ½(11ᵀ + x̂ⱼx̂ⱼᵀ))"
    assert jc.jacobian(B, X).label == "Σ_(i=1)² (1/σᵢ(I₃ − 1/3(11ᵀ + x̂ᵢx̂ᵢᵀ))⊗eᵢ eᵢᵀ)"
    for F in (L, B):
        check_latex(F.latex)
        check_latex(F.node.op.label(F.node, 0).latex)


def test_derivations_of_first_and_second_order_in_every_format(rng):
    pytest.importorskip("latex2mathml")
    import json
    import re

    W = jc.var("W", rng.normal(size=(3, 4)))
    x = jc.var("x", rng.normal(size=(4, 5)))
    f = jc.sum(jc.tanh(jc.layer_norm(W @ x, eps=1e-5)))
    first, second = jc.derivation(f, W), jc.derivation(f, W, order=2)
    check_latex(first.to_latex())  # one aligned block
    blocks = re.findall(r"^\\\[\n(.*?)\n\\\]$", second.to_latex(), flags=re.S | re.M)
    assert len(blocks) == len(second.steps) >= 1
    for block in blocks:
        check_latex(block)
    assert json.loads(json.dumps(first.to_dict()))["gradient_shape"] == [3, 4]
    assert json.loads(json.dumps(second.to_dict()))["shape"] == [12, 12]
    for d in (first, second):
        assert d.to_markdown().startswith("#") and "layer_norm(W x, eps=1e-05)" in str(d)
    exact(jc.derivation(f, W).result.matrix_gradient(), jc.grad(f, W))


def test_parser_takes_eps():
    from jacobian_calc.front.calculator import calculate
    from jacobian_calc.front.parse import parse_expression

    X = jc.var("X", np.array([[1.0, 2.0], [3.0, 5.0]]))
    np.testing.assert_array_equal(parse_expression("layer_norm(X, eps=0.5)", {"X": X}).value,
                                  jc.layer_norm(X, eps=0.5).value)
    np.testing.assert_array_equal(parse_expression("batch_norm(X, 0.5)", {"X": X}).value,
                                  jc.batch_norm(X, eps=0.5).value)
    calc = calculate("sum(batch_norm(X, eps=0.1) ** 3)", {"X": (3, 4)}, wrt="X", seed=4)
    assert calc.ok


def test_constant_groups_and_bad_eps_are_refused_with_a_named_reason():
    X = jc.var("X", np.array([[1.0, 2.0, 3.0], [1.0, 5.0, 3.0]]))
    with pytest.raises(jc.DomainError, match=r"layer_norm\(X\): column 0 \(counting from 0\) of "
                                             r"X is constant \(and 1 more\), every entry equal "
                                             r"to 1, so its variance is 0 and it cannot be "
                                             r"normalised with eps = 0; pass eps > 0"):
        jc.layer_norm(X)
    np.testing.assert_array_equal(jc.layer_norm(X, eps=1e-5).value[:, 0], [0.0, 0.0])
    with pytest.raises(jc.DomainError, match="row 0 .* a row of a single entry is always "
                                             "constant"):
        jc.batch_norm(jc.var("Z", np.ones((2, 1))))
    with pytest.raises(jc.DomainError, match="it is constant"):
        jc.layer_norm(jc.var("x", np.full(3, 0.1)))
    with pytest.raises(jc.ShapeError, match="the batch x must be a matrix, but it is a vector"):
        jc.batch_norm(jc.var("x", np.arange(3.0)))
    with pytest.raises(jc.ShapeError, match="the input c must be a vector or a matrix"):
        jc.layer_norm(jc.var("c", 2.0))
    for bad in (-1e-5, float("nan"), float("inf")):
        with pytest.raises(jc.DomainError, match="eps must be a finite number ≥ 0"):
            jc.layer_norm(X, eps=bad)
    with pytest.raises(jc.JacobianCalcError, match="eps must be a real number"):
        jc.batch_norm(X, eps=True)


# ------------------------------------------------------------------ PyTorch peers
@pytest.mark.parametrize("eps", [0.0, 1e-5, 0.3])
def test_pytorch_jacrev_of_its_normalisations_matches(rng, eps):
    torch = pytest.importorskip("torch")
    from torch.func import jacrev
    from torch.nn.functional import batch_norm, layer_norm

    X = rng.normal(size=(4, 5))
    Xt = torch.from_numpy(X)

    def by_columns(Z):  # torch normalises the last axis: our columns are its rows of Zᵀ
        return layer_norm(Z.T, (Z.shape[0],), eps=eps).T

    def by_rows(Z):  # torch's batch is the first axis: our columns, features our rows
        return batch_norm(Z.T, None, None, training=True, eps=eps).T

    for name, f in (("layer_norm", by_columns), ("batch_norm", by_rows)):
        if name == "batch_norm" and eps == 0:
            continue  # torch refuses eps = 0 in training mode ("eps must be positive")
        _, F, J = literal(name, X, eps)
        exact(F.value, f(Xt).numpy())
        T = jacrev(f)(Xt)
        exact(J.toarray(), jc.from_tensor_jacobian(T, X.shape, X.shape).toarray())
