"""The cost model, the matrix-chain dynamic programme, and evaluation in the cheapest order."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.engine.cost import (
    MatrixInfo,
    all_orders,
    cost_report,
    evaluate,
    forward_cost,
    optimal_order,
    product_cost,
    reverse_cost,
    tree_cost,
)
from jacobian_calc.engine.derivation import derive
from jacobian_calc.core.errors import JacobianCalcError, ShapeError
from jacobian_calc.core.jacobian import Jacobian


# ----------------------------------------------------------------- random chains
@st.composite
def chains(draw, max_len=6, max_dim=7):
    """Matrices that chain: dense or sparse (random density), sizes 1..max_dim."""
    n = draw(st.integers(1, max_len))
    dims_ = draw(st.lists(st.integers(1, max_dim), min_size=n + 1, max_size=n + 1))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mats = []
    for a, b in zip(dims_, dims_[1:]):
        if draw(st.booleans()):
            density = draw(st.sampled_from([0.2, 0.5, 1.0]))
            mats.append(sp.random_array((a, b), density=density, format="csr", random_state=rng))
        else:
            mats.append(rng.normal(size=(a, b)))
    return mats


def dense(m):
    return m.toarray() if sp.issparse(m) else np.asarray(m)


# --------------------------------------------------------------- single products
def test_product_costs_follow_the_kernel_that_runs():
    D = MatrixInfo(4, 5, 20, False)
    assert product_cost(D, MatrixInfo(5, 3, 15, False)) == 4 * 5 * 3  # dense · dense
    assert product_cost(MatrixInfo(4, 5, 7, True), MatrixInfo(5, 3, 15, False)) == 7 * 3
    assert product_cost(D, MatrixInfo(5, 30, 30, True)) == 4 * 30  # row-by-Kronecker
    # diag(5) · (x₁I₅, …, x₆I₅): each of the 5 diagonal entries meets 6 entries of its row
    assert product_cost(MatrixInfo(5, 5, 5, True), MatrixInfo(5, 30, 30, True)) == 30


def test_mismatched_factors_are_refused_with_both_shapes():
    with pytest.raises(ShapeError, match="2×3 by 4×1"):
        product_cost(MatrixInfo(2, 3, 6, False), MatrixInfo(4, 1, 4, False))
    with pytest.raises(JacobianCalcError, match="at least one factor"):
        optimal_order([])
    with pytest.raises(ShapeError):
        reverse_cost([np.ones((2, 3)), np.ones((2, 3))])


def test_the_classic_textbook_chain():
    # (10×100)(100×5)(5×50): ((AB)C) = 5000 + 2500 = 7500, (A(BC)) = 25000 + 50000 = 75000.
    chain = [MatrixInfo(10, 100, 1000, False), MatrixInfo(100, 5, 500, False),
             MatrixInfo(5, 50, 250, False)]
    assert reverse_cost(chain) == 7500 and forward_cost(chain) == 75000
    plan = optimal_order(chain)
    assert plan.cost == 7500 and plan.tree == ((0, 1), 2) and plan.is_reverse


def test_a_mixed_order_can_beat_both_directions():
    # A·B is tiny and C·D is tiny; the middle of the chain is wide.
    chain = [MatrixInfo(50, 1, 50, False), MatrixInfo(1, 50, 50, False),
             MatrixInfo(50, 1, 50, False), MatrixInfo(1, 50, 50, False)]
    plan = optimal_order(chain)
    best = min(p.cost for p in all_orders(chain))
    assert plan.cost == best
    assert not plan.is_reverse and not plan.is_forward
    assert plan.cost < min(reverse_cost(chain), forward_cost(chain))
    assert cost_report(chain).winner == "neither"


def test_tree_cost_rejects_a_tree_that_is_not_the_chain():
    chain = [MatrixInfo(2, 2, 4, False)] * 3
    with pytest.raises(JacobianCalcError):
        tree_cost(chain, (0, 2))
    with pytest.raises(JacobianCalcError):
        tree_cost(chain, (0, 1))


# ------------------------------------------------------------ DP vs brute force
@settings(max_examples=300)
@given(chains())
def test_dp_optimum_equals_brute_force_over_every_parenthesisation(mats):
    plans = list(all_orders(mats))
    best = min(p.cost for p in plans)
    plan = optimal_order(mats)
    assert plan.cost == best
    assert tree_cost(mats, plan.tree) == plan.cost  # the tree costs what the DP says
    assert reverse_cost(mats) in {p.cost for p in plans if p.is_reverse}
    assert forward_cost(mats) in {p.cost for p in plans if p.is_forward}
    assert best <= min(reverse_cost(mats), forward_cost(mats))


@settings(max_examples=200)
@given(chains())
def test_every_order_gives_the_left_to_right_product(mats):
    left = dense(mats[0])
    for m in mats[1:]:
        left = left @ dense(m)  # independent: plain dense numpy, left to right
    got = dense(evaluate(mats, optimal_order(mats).tree))
    scale = max(1.0, np.max(np.abs(left)))
    np.testing.assert_allclose(got, left, atol=1e-12 * scale * len(mats), rtol=1e-12)


@settings(max_examples=100)
@given(chains(max_len=5))
def test_jc_chain_of_jacobians_equals_the_dense_product(mats):
    names = [f"a{i}" for i in range(len(mats) + 1)]
    factors = [Jacobian(m, of=names[i], wrt=names[i + 1], of_shape=(m.shape[0],),
                        wrt_shape=(m.shape[1],)) for i, m in enumerate(mats)]
    expected = dense(mats[0])
    for m in mats[1:]:
        expected = expected @ dense(m)
    J = jc.chain(*factors)
    assert (J.of, J.wrt, J.shape) == ("a0", names[-1], expected.shape)
    np.testing.assert_allclose(J.toarray(), expected, atol=1e-12 * max(1.0, np.abs(expected).max()))


def test_jc_chain_still_reports_a_broken_chain_before_multiplying():
    a = Jacobian(np.ones((2, 3)), of="a", wrt="b", of_shape=(2,), wrt_shape=(3,))
    b = Jacobian(np.ones((3, 4)), of="b", wrt="c", of_shape=(3,), wrt_shape=(4,))
    c = Jacobian(np.ones((5, 1)), of="z", wrt="e", of_shape=(5,), wrt_shape=(1,))
    with pytest.raises(jc.ChainError, match=r"\(2×3\)·\(3×4\)·\(5×1\)"):
        jc.chain(a, b, c)


# --------------------------------------------------- what the derivation reports
def test_lecture_net_reverse_beats_forward_for_the_loss(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights)
    for wrt in ("W1", "W2", "W3"):
        d = net.derivation(x, y, wrt=wrt)
        (report,) = d.costs
        assert report.reverse < report.forward or wrt == "W3"
        assert report.optimal.cost == report.reverse
        assert report.winner == "reverse"
    text = str(net.derivation(x, y, wrt="W1"))
    # d, p, q, s = 4, 5, 3, 2; by hand, tail to head: row·W3 = 2·3, ·diag = 3, ·W2 = 3·5,
    # ·diag = 5, ·(x₁I₅, …, x₄I₅) = 20  → 49; head to tail: 20 + 3·20 + 3·20 + 2·3·20 + 2·20.
    assert "tail-to-head (reverse, back-propagation): 49 multiply-adds" in text
    assert "head-to-tail (forward accumulation):      300 multiply-adds" in text
    assert "reverse accumulation wins" in text


def test_a_narrow_input_and_wide_output_favours_forward(rng):
    d, p, q, s = 1, 6, 7, 40
    net = jc.MLP([rng.normal(size=(p, d)), rng.normal(size=(q, p)), rng.normal(size=(s, q))])
    d_ = derive(net.compose(rng.normal(size=d)), "yhat", "x")
    (report,) = d_.costs
    # By hand: forward = diag·W1 (p) + W2·col (q·p) + diag (q) + W3·col (s·q);
    # reverse = W3·diag (s·q) + ·W2 (s·q·p) + ·diag (s·p) + ·W1 (s·p·d).
    assert report.forward == p + q * p + q + s * q
    assert report.reverse == s * q + s * q * p + s * p + s * p * d
    assert report.forward < report.reverse and report.winner == "forward"
    assert "forward accumulation wins" in d_.to_text()


def test_graph_jacobian_multiplies_in_the_cheapest_order_and_stays_exact(rng, monkeypatch):
    d, p, q, s = 1, 6, 7, 40
    weights = [rng.normal(size=(p, d)), rng.normal(size=(q, p)), rng.normal(size=(s, q))]
    net = jc.MLP(weights, activation="tanh")
    x = rng.normal(size=d)
    seen = []
    real = jc.Jacobian.__matmul__

    def spy(a, b):
        seen.append((a.shape, b.shape))
        return real(a, b)

    monkeypatch.setattr(jc.Jacobian, "__matmul__", spy)
    J = net.jacobian(x, of="yhat", wrt="x")
    # head to tail: the first product is diag(φ′(h1)) · W1, a p×1 column
    assert seen[0] == ((p, p), (p, d))
    assert all(b[1] == d for _, b in seen)
    h1 = weights[0] @ x
    h2 = weights[1] @ np.tanh(h1)
    closed = weights[2] @ np.diag(1 - np.tanh(h2) ** 2) @ weights[1] \
        @ np.diag(1 - np.tanh(h1) ** 2) @ weights[0]
    np.testing.assert_allclose(J.toarray(), closed, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------- rules stated, now each with a test
def test_two_sparse_factors_whose_quotient_is_not_whole_cost_its_ceiling():
    # nnz(A)·nnz(B)/k = 3·5/4 = 3.75 multiply-adds: the model rounds up to 4
    a = MatrixInfo(2, 4, 3, True)
    b = MatrixInfo(4, 3, 5, True)
    assert product_cost(a, b) == 4
    assert product_cost(MatrixInfo(2, 4, 4, True), MatrixInfo(4, 3, 4, True)) == 4  # 16/4


def test_ties_go_to_the_tail_to_head_order():
    # three square dense factors: both directions and every order cost the same
    chain = [MatrixInfo(3, 3, 9, False)] * 3
    plan = optimal_order(chain)
    assert plan.cost == reverse_cost(chain) == forward_cost(chain)
    assert plan.is_reverse and plan.tree == ((0, 1), 2)
    # a longer tie: still left to right
    chain = [MatrixInfo(2, 2, 4, False)] * 6
    assert optimal_order(chain).is_reverse
