"""The primitive table: every literal factor against dense formulas and finite differences."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.engine.graph import Graph, apply, leaf
from jacobian_calc.ops.primitives import PRIMITIVES
from jacobian_calc.testing import real_arrays

sizes = st.integers(1, 12)


@given(sizes.flatmap(lambda d: real_arrays((d,))), sizes)
def test_linear_weight_jacobian_is_x_transposed_kron_identity(x, p):
    K = jc.linear_weight_jacobian(x, p)
    d = x.size
    assert sp.issparse(K) and K.shape == (p, p * d)
    assert K.nnz == p * d  # exactly p·d stored entries, zeros of x included
    # eq (22), written block by block: (x₁I_p, …, x_dI_p)
    blocks = np.hstack([x[j] * np.eye(p) for j in range(d)])
    np.testing.assert_array_equal(K.toarray(), blocks)
    np.testing.assert_array_equal(K.toarray(), np.kron(x[None, :], np.eye(p)))


def test_linear_weight_jacobian_is_the_derivative_of_wx(rng):
    # eq (19)–(22): differentiate y = W x entry by entry of vec(W), column-stacked.
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    fd = jc.finite_difference_jacobian(lambda M: M @ x, W)
    np.testing.assert_allclose(jc.linear_weight_jacobian(x, 3).toarray(), fd, atol=1e-9)


def test_linear_weight_jacobian_accepts_a_column_and_a_batch(rng):
    x = rng.normal(size=(4, 1))
    np.testing.assert_array_equal(jc.linear_weight_jacobian(x, 2).toarray(),
                                  np.kron(x.T, np.eye(2)))
    X = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(jc.linear_weight_jacobian(X, 2).toarray(),
                                  np.kron(X.T, np.eye(2)))


def test_linear_input_jacobian_is_w(rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    fd = jc.finite_difference_jacobian(lambda v: W @ v, x)  # eq (8)–(11)
    np.testing.assert_allclose(jc.linear_input_jacobian(W), fd, atol=1e-9)


@pytest.mark.parametrize("name", sorted(jc.ACTIVATIONS))
def test_activation_jacobian_is_a_sparse_diagonal_of_the_derivative(name, rng):
    h = rng.normal(size=6) + np.sign(rng.normal(size=6)) * 0.1
    D = jc.activation_jacobian(h, name)
    assert sp.issparse(D) and D.nnz == 6
    act = jc.ACTIVATIONS[name]
    fd = jc.finite_difference_jacobian(act.function, h)  # eq (29) from first principles
    np.testing.assert_allclose(D.toarray(), fd, atol=1e-8)


def test_loss_gradient_is_a_row(rng):
    yhat, y = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_array_equal(jc.loss_gradient(yhat, y), (yhat - y)[None, :])
    with pytest.raises(jc.ShapeError, match=r"\(3,\) and \(2,\)"):
        jc.loss_gradient(yhat, y[:2])


def factor_cases(rng):
    """One node per primitive and argument, with a function that recomputes it from that argument."""
    W, x, X = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2))
    h, y = rng.normal(size=3), rng.normal(size=3)
    cases = []
    nW, nx, nX = leaf("W", W), leaf("x", x), leaf("X", X)
    cases.append((apply("matmul", nW, nx, name="h"), 0, lambda M: M @ x))
    cases.append((apply("matmul", nW, nx, name="h"), 1, lambda v: W @ v))
    cases.append((apply("matmul", nW, nX, name="H"), 0, lambda M: M @ X))
    cases.append((apply("matmul", nW, nX, name="H"), 1, lambda M: W @ M))
    for fn in jc.ACTIVATIONS:
        node = apply("elementwise", leaf("h", h), name="z", fn=fn)
        cases.append((node, 0, jc.ACTIVATIONS[fn].function))
    for loss in jc.LOSSES:
        value = jc.LOSSES[loss].value
        node = apply("loss", leaf("yhat", h), leaf("y", y, "target"), name="f", loss=loss)
        cases.append((node, 0, lambda v, value=value: value(v, y)))
        cases.append((node, 1, lambda v, value=value: value(h, v)))
    cases += expression_factor_cases(rng)
    return cases


def expression_factor_cases(rng):
    """The primitives of the expression API (issue 4), each argument recomputed with numpy."""
    A, B = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    S = rng.normal(size=(3, 3)) + 3 * np.eye(3)  # well conditioned, positive determinant
    P = np.abs(rng.normal(size=(3, 2))) + 0.5  # positive, for log and fractional powers
    b, H = rng.normal(size=3), rng.normal(size=(3, 4))
    nA, nB, nS, nP, nb, nH = (leaf(n, v) for n, v in
                              (("A", A), ("B", B), ("S", S), ("P", P), ("b", b), ("H", H)))
    sm = lambda M: np.exp(M) / np.exp(M).sum(axis=0)  # noqa: E731
    return [
        (apply("add", nA, nB, name="u"), 0, lambda M: M + B),
        (apply("add", nA, nB, name="u"), 1, lambda M: A + M),
        (apply("sub", nA, nB, name="u"), 0, lambda M: M - B),
        (apply("sub", nA, nB, name="u"), 1, lambda M: A - M),
        (apply("scale", nA, name="u", c=-2.5), 0, lambda M: -2.5 * M),
        (apply("transpose", nA, name="u"), 0, lambda M: M.T),
        (apply("hadamard", nA, nB, name="u"), 0, lambda M: M * B),
        (apply("hadamard", nA, nB, name="u"), 1, lambda M: A * M),
        (apply("power", nP, name="u", p=1.5), 0, lambda M: M ** 1.5),
        (apply("exp", nA, name="u"), 0, np.exp),
        (apply("log", nP, name="u"), 0, np.log),
        (apply("sum", nA, name="u"), 0, np.sum),
        (apply("trace", nS, name="u"), 0, np.trace),
        (apply("inv", nS, name="u"), 0, np.linalg.inv),
        (apply("det", nS, name="u"), 0, np.linalg.det),
        (apply("logdet", nS, name="u"), 0, lambda M: np.log(np.linalg.det(M))),
        (apply("softmax", nH, name="u"), 0, sm),
        (apply("bias_add", nH, nb, name="u"), 0, lambda M: M + b[:, None]),
        (apply("bias_add", nH, nb, name="u"), 1, lambda v: H + v[:, None]),
        (apply("column", nb, name="u"), 0, lambda v: v[:, None]),
        (apply("scalar_mul", leaf("c", np.array(-1.5)), nA, name="u"), 0, lambda c: c * A),
        (apply("scalar_mul", leaf("c", np.array(-1.5)), nA, name="u"), 1, lambda M: -1.5 * M),
    ]


def test_every_partial_in_the_table_matches_finite_differences(rng):
    covered = set()
    for node, position, recompute in factor_cases(rng):
        J = Graph(node).factor(node, position)
        fd = jc.finite_difference_jacobian(recompute, node.args[position].value)
        np.testing.assert_allclose(J.toarray(), fd, atol=1e-7, err_msg=f"{node} arg {position}")
        covered.add((node.primitive.name, position))
    expected = {(name, i) for name, p in PRIMITIVES.items() for i in range(p.arity)}
    assert covered == expected


def test_factor_labels_and_equations():
    x = leaf("x", np.arange(1.0, 5.0))
    W = leaf("W1", np.ones((5, 4)))
    h = apply("matmul", W, x, name="h1")
    z = apply("elementwise", h, name="z1", fn="tanh", symbol="φ")
    g = Graph(z)
    kron, lin, diag = g.factor(h, 0), g.factor(h, 1), g.factor(z, 0)
    assert (kron.label, kron.equation) == ("(x₁I₅, …, x₄I₅)", "22")
    assert (lin.label, lin.equation) == ("W1", "11")
    assert (diag.label, diag.equation) == ("diag(φ′(h1))", "29")
    assert kron.symbol == "∂h1/∂vec(W1)"


def test_matmul_shape_error_names_both_operands():
    with pytest.raises(jc.ShapeError, match=r"in W @ x: W is 3×4, so x needs 4 entries, but x "
                                            r"has shape \(5,\)"):
        apply("matmul", leaf("W", np.ones((3, 4))), leaf("x", np.ones(5)), name="h")


def test_loss_shape_error_names_both_operands():
    with pytest.raises(jc.ShapeError, match=r"ŷ has shape \(3,\) but y has shape \(2,\)"):
        apply("loss", leaf("yhat", np.ones(3)), leaf("y", np.ones(2)), name="f",
              loss="squared_error")
