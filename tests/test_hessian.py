"""Second order on expressions: every operation's rule, jc.hessian, jc.hvp, derivations, errors.

The oracle throughout is numerical and independent of the rules: second differences of
the operations' forward functions, central differences of gradients, and closed forms
(dense Kronecker products, the commutation matrix).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc import extend
from jacobian_calc.core.structure import Kron, KronSum
from jacobian_calc.engine.graph import Graph, apply, leaf
from jacobian_calc.engine.second import hessian as engine_hessian
from jacobian_calc.ops import TABLE
from test_ops_table import instances, missing_test_data

# ------------------------------------------------------------------ every rule
STEP = 1e-4


def second_differences(f, values, i, j):
    """∂²f/∂vec(a_i)∂vec(a_j) by the four-point formula, entry by entry (f scalar)."""
    a, b = values[i], values[j]
    out = np.zeros((a.size, b.size))

    def at(shifts):
        vs = [v.copy() for v in values]
        for k, (pos, sign) in shifts:
            flat = vs[k].reshape(-1, order="F").copy()
            flat[pos] += sign * STEP
            vs[k] = flat.reshape(values[k].shape, order="F")
        return f(vs)

    for p in range(a.size):
        for q in range(b.size):
            out[p, q] = (at([(i, (p, 1)), (j, (q, 1))]) - at([(i, (p, 1)), (j, (q, -1))])
                         - at([(i, (p, -1)), (j, (q, 1))]) + at([(i, (p, -1)), (j, (q, -1))])
                         ) / (4 * STEP * STEP)
    return out


@settings(max_examples=30)
@given(data=st.data())
def test_every_second_order_rule_is_the_second_derivative_of_its_forward(data):
    """For f = ⟨C, op(a₁, …)⟩, H_{a_i a_j} is exactly the rule's S_ij with ā = vec(C)."""
    assert not missing_test_data()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    for name, op in TABLE.items():
        if op.second is None:
            continue
        node = data.draw(instances(op), label=name)
        C = rng.uniform(-1, 1, size=node.shape)
        f_node = apply("sum", apply("hadamard", node, leaf("Z", C)))  # Z: no argument's name
        graph = Graph(f_node)
        values = [a.value for a in node.args]

        def f(vs, op=op, params=node.params, C=C):
            return float(np.sum(C * op.forward(*vs, **params)))

        for i in range(op.arity):
            for j in range(i, op.arity):
                H = engine_hessian(graph, f_node, node.args[i], node.args[j]).toarray()
                numeric = second_differences(f, values, i, j)
                scale = max(1.0, float(np.abs(numeric).max(initial=0.0)))
                np.testing.assert_allclose(H, numeric, rtol=1e-4, atol=1e-4 * scale,
                                           err_msg=f"{name}: block ({i}, {j})")


def test_every_built_in_operation_has_a_second_order_rule():
    missing = [name for name, op in TABLE.items() if op.second is None]
    assert missing == []


# ------------------------------------------------------------------ closed forms
def test_hessian_of_half_squared_residual_is_x_xT_kron_identity(rng):
    W = jc.var("W", rng.normal(size=(3, 4)))
    x, y = rng.normal(size=4), rng.normal(size=3)
    H = jc.hessian(jc.squared_error(W @ jc.var("x", x), jc.var("y", y)), W)
    np.testing.assert_allclose(H.toarray(), np.kron(np.outer(x, x), np.eye(3)), atol=1e-14)
    assert H.shape == (12, 12) and H.symbol == "∂²(½‖W x − y‖²)/∂vec(W)²"


def test_hessian_of_trace_xT_a_x_is_identity_kron_a_plus_aT(rng):
    A = rng.normal(size=(3, 3))
    X = jc.var("X", rng.normal(size=(3, 2)))
    H = jc.hessian(jc.trace(X.T @ jc.var("A", A) @ X), X)
    np.testing.assert_allclose(H.toarray(), np.kron(np.eye(2), A + A.T), atol=1e-13)


def test_hessian_of_trace_x_x_is_twice_the_commutation_matrix(rng):
    X = jc.var("X", rng.normal(size=(3, 3)))
    H = jc.hessian(jc.trace(X @ X), X)
    np.testing.assert_allclose(H.toarray(), 2 * jc.commutation_matrix(3, 3).toarray(),
                               atol=1e-14)


def test_hessian_of_logdet_is_minus_trace_of_inverse_products(rng):
    """d² log det X [E_i, E_j] = −tr(X⁻¹ E_i X⁻¹ E_j), entry by entry over vec's basis."""
    A = rng.normal(size=(3, 3))
    X0 = A @ A.T + 3 * np.eye(3)
    X = jc.var("X", X0)
    H = jc.hessian(jc.logdet(X), X).toarray()
    Xi = np.linalg.inv(X0)
    basis = [np.eye(9)[k].reshape(3, 3, order="F") for k in range(9)]
    expected = np.array([[-np.trace(Xi @ Ei @ Xi @ Ej) for Ej in basis] for Ei in basis])
    np.testing.assert_allclose(H, expected, atol=1e-13)


def test_cross_block_is_the_transpose_of_the_other(rng):
    A = jc.var("A", rng.normal(size=(2, 3)))
    B = jc.var("B", rng.normal(size=(3, 2)))
    F = jc.sum(jc.tanh(A @ B))
    HAB, HBA = jc.hessian(F, A, B), jc.hessian(F, B, A)
    assert HAB.shape == (6, 6)
    np.testing.assert_allclose(HAB.toarray(), HBA.toarray().T, atol=1e-14)


@settings(max_examples=50)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4), m=st.integers(1, 4))
def test_hessian_is_the_jacobian_of_the_gradient(seed, n, m):
    """H_XY against central differences of jc.grad(F, X) as a function of Y."""
    rng = np.random.default_rng(seed)
    A0, X0, Y0 = (rng.uniform(-1, 1, size=s) for s in ((n, n), (n, m), (m, n)))

    def F(A, X, Y):
        return jc.sum(jc.sigmoid(A @ X) @ jc.tanh(Y)) + jc.trace(jc.exp(Y @ X) * 0.5)

    def grad_x(Y_value):
        A, X, Y = jc.var("A", A0), jc.var("X", X0), jc.var("Y", Y_value)
        return jc.grad(F(A, X, Y), X)

    A, X, Y = jc.var("A", A0), jc.var("X", X0), jc.var("Y", Y0)
    H = jc.hessian(F(A, X, Y), X, Y)
    numeric = jc.finite_difference_jacobian(grad_x, Y0)
    np.testing.assert_allclose(H.toarray(), numeric, rtol=1e-6, atol=1e-7)
    HXX = jc.hessian(F(A, X, Y), X).toarray()
    np.testing.assert_allclose(HXX, HXX.T, atol=1e-13)


@settings(max_examples=50)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4))
def test_hvp_is_the_hessian_times_vec_v(seed, n):
    rng = np.random.default_rng(seed)
    X = jc.var("X", rng.uniform(-1, 1, size=(n, n)) + 2 * np.eye(n))
    B = jc.var("B", rng.uniform(-1, 1, size=(n, n)))
    F = jc.logdet(X @ X.T) + jc.sum(jc.softplus(B @ X) * jc.sigmoid(X))
    V = rng.uniform(-1, 1, size=(n, n))
    H = jc.hessian(F, X).toarray()
    np.testing.assert_allclose(jc.hvp(F, X, V).reshape(-1, order="F"),
                               H @ V.reshape(-1, order="F"), rtol=1e-9, atol=1e-9)


def test_a_kronecker_block_stays_kronecker(rng):
    W = jc.var("W", rng.normal(size=(3, 4)))
    x = jc.var("x", rng.normal(size=4))
    H = jc.hessian(jc.sum(jc.sigmoid(W @ x)), W)
    assert isinstance(H.storage, Kron)
    assert H.nbytes < 12 * 12 * 8


# ------------------------------------------------------------------ errors
def test_a_non_scalar_f_is_refused_with_its_shape(rng):
    X = jc.var("X", rng.normal(size=(2, 2)))
    with pytest.raises(jc.ShapeError, match=r"scalar F.*X X.*2×2"):
        jc.hessian(X @ X, X)
    with pytest.raises(jc.ShapeError, match="scalar"):
        jc.hvp(X @ X, X, np.ones((2, 2)))


def test_hvp_refuses_a_direction_of_the_wrong_shape(rng):
    X = jc.var("X", rng.normal(size=(2, 3)))
    with pytest.raises(jc.ShapeError, match=r"\(2, 3\).*\(3, 2\)"):
        jc.hvp(jc.sum(X * X), X, np.ones((3, 2)))


def test_an_operation_without_a_second_order_rule_is_named():
    extend.elementwise("cube_root_x", np.cbrt, lambda h: 1 / (3 * np.cbrt(h) ** 2))
    try:
        X = jc.var("X", np.array([1.0, 8.0]))
        F = jc.sum(jc.cube_root_x(X))
        jc.grad(F, X)  # first order works
        with pytest.raises(jc.JacobianCalcError, match=r"'cube_root_x'.*no second-order rule"):
            jc.hessian(F, X)
    finally:
        extend.remove("cube_root_x")


def test_an_added_function_with_d2f_has_hessians():
    extend.elementwise("softsign2", lambda h: h / (1 + np.abs(h)),
                       lambda h: 1 / (1 + np.abs(h)) ** 2,
                       d2f=lambda h: -2 * np.sign(h) / (1 + np.abs(h)) ** 3)
    try:
        x0 = np.array([0.5, -1.5, 2.0])
        x = jc.var("x", x0)
        H = jc.hessian(jc.sum(jc.softsign2(x)), x)
        np.testing.assert_allclose(np.diag(H.toarray()), -2 * np.sign(x0) / (1 + abs(x0)) ** 3)
    finally:
        extend.remove("softsign2")


def test_an_added_operation_with_a_second_rule_and_a_bad_one():
    # f(a, b) = a ⊙ b ⊙ b: ā·vec(out) has S_01 = diag(2 ā ⊙ b), S_11 = diag(2 ā ⊙ a)
    def second(abar, a, b):
        a, b = a.reshape(-1, order="F"), b.reshape(-1, order="F")
        return {(0, 1): np.diag(2 * abar * b), (1, 1): np.diag(2 * abar * a)}

    extend.operation("abb", lambda a, b: a * b * b,
                     [lambda a, b: np.diag((b * b).ravel(order="F")),
                      lambda a, b: np.diag((2 * a * b).ravel(order="F"))],
                     notation=r"\operatorname{abb}($0, $1)", second=second)
    try:
        a, b = jc.var("a", np.array([1.0, 2.0])), jc.var("b", np.array([3.0, -1.0]))
        F = jc.sum(jc.abb(a, b))
        np.testing.assert_allclose(jc.hessian(F, a, b).toarray(), np.diag([6.0, -2.0]))
        np.testing.assert_allclose(jc.hessian(F, b).toarray(), np.diag([2.0, 4.0]))
    finally:
        extend.remove("abb")
    extend.operation("bad2", lambda a: a * a, [lambda a: np.diag(2 * a.ravel(order="F"))],
                     notation=r"\operatorname{bad2}($0)",
                     second=lambda abar, a: {(0, 0): np.eye(a.size + 1)})
    try:
        a = jc.var("a", np.array([1.0, 2.0]))
        with pytest.raises(jc.ShapeError, match=r"S_00 of shape \(3, 3\).*\(2, 2\)"):
            jc.hessian(jc.sum(jc.bad2(a)), a)
    finally:
        extend.remove("bad2")


def test_a_hessian_over_the_work_bound_is_refused_before_it_is_built(rng):
    X = jc.var("X", rng.normal(size=(30, 30)))
    F = jc.sum(jc.tanh(X @ X))
    with jc.work_limit(entries=10_000, operations=None):
        with pytest.raises(jc.WorkLimitError, match="Hessian"):
            jc.hessian(F, X)


def test_a_dense_hessian_over_the_dense_limit_is_refused_when_written_out(rng):
    W = jc.var("W", rng.normal(size=(40, 40)))
    x = jc.var("x", rng.normal(size=40))
    H = jc.hessian(jc.sum(jc.sigmoid(W @ x)), W)  # kept as a Kronecker product
    with pytest.raises(jc.DenseLimitError):
        H.toarray(max_bytes=1000)


# ------------------------------------------------------------------ the Hessian value
def test_full_network_hessian_has_blocks_by_name(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights, activation="tanh")
    H = net.hessian(x, y)
    assert H.shape == (sum(W.size for W in weights),) * 2
    assert list(H.parts) == ["W1", "W2", "W3"]
    for a, b in (("W1", "W1"), ("W1", "W3"), ("W3", "W2")):
        np.testing.assert_allclose(H.block(a, b).toarray(),
                                   net.hessian(x, y, wrt=(a, b)).toarray(), atol=1e-13)
    with pytest.raises(jc.ChoiceError, match="'W4'.*'W1', 'W2', 'W3'"):
        H.block("W4")


def test_network_block_names_are_checked(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights)
    with pytest.raises(jc.ChoiceError, match=r"unknown block name 'W9'.*'W1', 'W2', 'W3'"):
        net.hessian(x, y, wrt=("W1", "W9"))
    with pytest.raises(jc.JacobianCalcError, match="pair"):
        net.hessian(x, y, wrt=("W1", "W2", "W3"))
    with pytest.raises(jc.ChoiceError, match="K-FAC weight"):
        net.kfac(x, y, wrt="b1")
    with pytest.raises(jc.ChoiceError, match="parameter name in V"):
        net.hvp(x, y, {"W7": np.ones(3)})


def test_gauss_newton_over_a_batch_is_a_sum_of_kronecker_products(lecture, rng):
    weights, _, _ = lecture
    net = jc.MLP(weights, activation="sigmoid")
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    G = net.gauss_newton(X, Y, wrt="W2")
    assert isinstance(G.storage, KronSum) and len(G.storage.terms) == 3
    single = [net.gauss_newton(X[:, i], Y[:, i], wrt="W2").toarray() for i in range(3)]
    np.testing.assert_allclose(G.toarray(), sum(single), atol=1e-13)
    v = rng.normal(size=(G.shape[1], 1))
    np.testing.assert_allclose(G.storage @ v, G.toarray() @ v, atol=1e-12)


# ------------------------------------------------------------------ derivations
def test_second_order_derivation_lists_terms_with_kronecker_checks(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights, activation="relu")
    d = net.derivation(x, y, wrt=("W1", "W2"), order=2)
    names = [s.name for s in d.steps]
    assert names == ["product_2", "activation_2", "gauss_newton"]
    text = str(d)
    assert "(4×5)⊗(5×3) → 20×15" in text          # the Kronecker dimension check
    assert "(20×2)·(2×2)·(2×15) → 20×15" in text   # the product's
    assert "ReLU is piecewise linear" in text and d.vanishing == ("activation_2",)
    assert "S = I" in text                           # squared error: H_L = I
    total = sum(s.matrix.toarray() if hasattr(s.matrix, "toarray") else s.matrix
                for s in d.steps)
    np.testing.assert_allclose(total, net.hessian(x, y, wrt=("W1", "W2")).toarray(),
                               atol=1e-13)


def test_second_order_derivation_in_every_format(lecture):
    pytest.importorskip("latex2mathml")
    from jacobian_calc.render.latex import check_latex

    weights, x, y = lecture
    d = jc.MLP(weights, activation="softplus", loss="softmax_cross_entropy").derivation(
        x, np.array([0.0, 1.0]), wrt="W2", order=2)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["shape"] == [15, 15] and data["terms"][-1]["name"] == "gauss_newton"
    assert data["terms"][-1]["value"]["kron"] == [[5, 5], [3, 3]]
    latex = d.to_latex()
    blocks = re.findall(r"^\\\[\n(.*?)\n\\\]$", latex, flags=re.S | re.M)
    assert len(blocks) == len(d.steps)
    for block in blocks:
        check_latex(block)
    assert d.to_markdown().startswith("# Second-order derivation")
    assert "<table>" in d._repr_html_()


def test_first_order_derivation_refuses_a_pair_and_orders_are_checked(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights)
    with pytest.raises(jc.JacobianCalcError, match="order=2"):
        net.derivation(x, y, wrt=("W1", "W2"))
    with pytest.raises(jc.ChoiceError, match="derivative order"):
        net.derivation(x, y, order=3)


# ------------------------------------------------------------------ assembly
def _storages(rng):
    from jacobian_calc.core.structure import Diagonal, Identity
    A, B, C = rng.normal(size=(2, 3)), rng.normal(size=(3, 2)), rng.normal(size=(3, 3))
    return [Kron(A, B), Kron(2, C), Kron(C, 2), KronSum([Kron(A, B), Kron(-A, 2 * B)]),
            Identity(6, 2.5), Diagonal(rng.normal(size=6)), rng.normal(size=(6, 6)),
            sp.random_array((6, 6), density=0.3, random_state=1, format="csr")]


def test_accumulate_adds_every_storage_into_a_strided_view(rng):
    from jacobian_calc.engine.second import accumulate

    for value in _storages(rng):
        out = rng.normal(size=(9, 10))
        expected = out.copy()
        dense = value.toarray() if hasattr(value, "toarray") else value
        expected[2:8, 3:9] += dense
        accumulate(out[2:8, 3:9], value)
        np.testing.assert_allclose(out, expected, atol=1e-14, err_msg=type(value).__name__)


@pytest.mark.parametrize("tile", [3, 4, 256])
def test_a_block_laid_out_by_columns_is_added_and_mirrored_tile_by_tile(rng, monkeypatch, tile):
    # Small tiles (edge tiles ragged) exercise the path large blocks take.
    from jacobian_calc.engine import second

    monkeypatch.setattr(second, "_TILE", tile)
    value = np.asfortranarray(rng.normal(size=(7, 10)))
    out = rng.normal(size=(9, 13))
    expected = out.copy()
    expected[1:8, 2:12] += value
    second.accumulate(out[1:8, 2:12], value)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    upper = np.asfortranarray(rng.normal(size=(5, 9)))
    H = second.assemble({(0, 0): [np.eye(5)], (0, 1): [upper, np.ones((5, 9))],
                         (1, 1): [2 * np.eye(9)]}, [5, 9])
    want = np.block([[np.eye(5), upper + 1.0], [(upper + 1.0).T, 2 * np.eye(9)]])
    np.testing.assert_allclose(H, want, rtol=1e-15)
    with pytest.raises(jc.ShapeError, match="cannot be written"):
        second.accumulate(out[1:8, 2:11], value)


def test_assemble_mirrors_a_symmetric_matrix_of_blocks(rng):
    from jacobian_calc.engine.second import assemble

    values = _storages(rng)
    blocks = {(0, 0): [values[4], values[6] + values[6].T], (0, 1): values[:2],
              (1, 1): [values[5]]}
    H = assemble(blocks, [6, 6])
    dense = lambda v: v.toarray() if hasattr(v, "toarray") else v  # noqa: E731
    top = np.hstack([dense(values[4]) + values[6] + values[6].T,
                     dense(values[0]) + dense(values[1])])
    bottom = np.hstack([(dense(values[0]) + dense(values[1])).T, dense(values[5])])
    np.testing.assert_allclose(H.toarray() if sp.issparse(H) else H, np.vstack([top, bottom]),
                               atol=1e-13)
    sparse = assemble({(0, 0): [values[5]], (0, 1): [], (1, 1): [values[4]]}, [6, 6])
    assert sp.issparse(sparse) and sparse.nnz == 12
