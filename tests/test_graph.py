"""The composition engine: tail-to-head accumulation, sums over paths, reuse."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.core.errors import DomainError
from jacobian_calc.engine.graph import Graph, apply, leaf
from jacobian_calc.testing import real_arrays


def chain3(rng):
    x, W = leaf("x", rng.normal(size=4)), leaf("W", rng.normal(size=(3, 4)), "weight")
    h = apply("matmul", W, x, name="h")
    z = apply("tanh", h, name="z")
    V = leaf("V", rng.normal(size=(2, 3)), "weight")
    out = apply("matmul", V, z, name="out")
    return Graph(out), x, W, h, z, V


def test_vector_output_jacobian_is_the_product_of_the_literal_factors(rng):
    g, x, W, h, z, V = chain3(rng)
    J = g.jacobian("out", "x")
    dense = V.value @ np.diag(1 - np.tanh(h.value) ** 2) @ W.value  # eq (4) written out
    np.testing.assert_allclose(J.toarray(), dense, rtol=1e-13)
    assert (J.of, J.wrt, J.shape) == ("out", "x", (2, 4))


def test_jacobian_wrt_a_weight_matches_finite_differences(rng):
    g, x, W, h, z, V = chain3(rng)
    J = g.jacobian("out", "W")
    fd = jc.finite_difference_jacobian(lambda M: V.value @ np.tanh(M @ x.value), W.value)
    np.testing.assert_allclose(J.toarray(), fd, atol=1e-8)


def test_a_variable_used_twice_gets_the_sum_over_both_paths(rng):
    X = leaf("X", rng.normal(size=(3, 3)))
    Y = apply("matmul", X, X, name="Y")
    g = Graph(Y)
    assert g.count_paths("Y", "X") == 2 and len(g.edge_paths("Y", "X")) == 2
    J = g.jacobian("Y", "X")
    # ∂vec(XX)/∂vec(X) = Xᵀ⊗I + I⊗X
    dense = np.kron(X.value.T, np.eye(3)) + np.kron(np.eye(3), X.value)
    np.testing.assert_allclose(J.toarray(), dense, rtol=1e-13)
    fd = jc.finite_difference_jacobian(lambda M: M @ M, X.value)
    np.testing.assert_allclose(J.toarray(), fd, atol=1e-8)
    steps = g.backward("Y", ["X"], record=True).steps
    assert len(steps) == 1 and len(steps[0].terms) == 2


def test_one_sweep_serves_every_variable_and_reuses_the_shared_prefix(rng):
    g, x, W, h, z, V = chain3(rng)
    acc = g.backward("out", ["W", "V", "x", "h"], record=True)
    for name in ("W", "V", "x", "h"):
        np.testing.assert_allclose(acc.jacobians[name].toarray(), g.jacobian("out", name).toarray(),
                                   rtol=1e-14)
    # out → z → h computed once; W and x both start from the adjoint of h
    order = [s.node.name for s in acc.steps]
    assert sorted(order) == ["V", "W", "h", "x", "z"]  # each node once
    assert order.index("z") < order.index("h") < min(order.index("W"), order.index("x"))
    h_step = next(s for s in acc.steps if s.node.name == "h")
    w_step = next(s for s in acc.steps if s.node.name == "W")
    assert w_step.terms[0].previous is h_step.result


def test_identity_and_zero_jacobians(rng):
    g, x, W, h, z, V = chain3(rng)
    I = g.jacobian("h", "h")
    np.testing.assert_array_equal(I.toarray(), np.eye(3))
    Z = g.jacobian("h", "V")  # h does not depend on V
    assert Z.nnz == 0 and Z.shape == (3, 6)
    assert not g.depends_on("h", "V") and g.depends_on("out", "x")


def test_unknown_names_list_the_nodes(rng):
    g = chain3(rng)[0]
    with pytest.raises(jc.ChoiceError, match="unknown node 'h2'; valid choices are: .*'x'"):
        g.jacobian("out", "h2")


def test_two_nodes_with_one_name_are_refused(rng):
    a = leaf("a", np.ones(2))
    W = leaf("W", np.ones((2, 2)))
    h = apply("matmul", W, a, name="a")
    with pytest.raises(jc.JacobianCalcError, match="two different nodes are named 'a'"):
        Graph(h)


def test_unknown_primitive_and_bad_arguments():
    with pytest.raises(jc.ChoiceError, match="unknown operation 'conv'"):
        apply("conv", leaf("x", np.ones(2)), name="y")
    with pytest.raises(jc.JacobianCalcError, match="takes 2 Node argument"):
        apply("matmul", leaf("x", np.ones(2)), name="y")
    with pytest.raises(jc.JacobianCalcError, match="tanh takes the parameter.*not 'fn'"):
        apply("tanh", leaf("x", np.ones(2)), name="y", fn="swish")


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.data())
def test_deep_chains_match_finite_differences(n, m, depth, data):
    """A chain of tanh layers of random widths: the literal chain against the complex step.

    Finite differences lose digits when the gain of the chain is large (all-ones weights give
    a Jacobian of ~90 with a big third derivative); the complex-step derivative
    Im f(x + ihe_j)/h is exact to rounding for this analytic chain, so the tolerance can be
    tight without the test becoming flaky.
    """
    widths = [n] + [data.draw(st.integers(1, 6)) for _ in range(depth)] + [m]
    weights = [data.draw(real_arrays((b, a), bound=1.0)) for a, b in zip(widths, widths[1:])]
    x0 = data.draw(real_arrays((n,)))
    node = leaf("x", x0)
    for k, W in enumerate(weights):
        node = apply("matmul", leaf(f"W{k}", W, "weight"), node, name=f"h{k}")
        node = apply("tanh", node, name=f"z{k}")
    g = Graph(node)

    def forward(v):
        for W in weights:
            v = np.tanh(W @ v)
        return v

    h = 1e-30
    oracle = np.column_stack([forward(x0 + 1j * h * e).imag / h for e in np.eye(n)])
    np.testing.assert_allclose(g.jacobian(node, "x").toarray(), oracle, rtol=1e-10,
                               atol=1e-12 * max(1.0, np.abs(oracle).max()))


def test_a_non_finite_forward_value_is_an_error_naming_the_node():
    big = leaf("x", np.array([1.0, 800.0]))
    with pytest.raises(DomainError, match=r"u = exp\(x\) is not finite"):
        apply("exp", big, name="u")
