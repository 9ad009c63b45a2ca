"""The printed derivation: steps, labels, shapes, equation numbers and numbers."""

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.engine.derivation import derive
from jacobian_calc.engine.graph import Graph, apply, leaf


@pytest.fixture
def net_xy(lecture):
    weights, x, y = lecture
    return jc.MLP(weights, activation="sigmoid"), x, y


def test_w2_derivation_has_the_lectures_dimension_check(net_xy):
    net, x, y = net_xy
    d = net.derivation(x, y, wrt="W2")
    text = str(d)
    assert "(3×3)·(3×2)·(2×1)·(1×5) → 3×5" in text  # eq (33) with d, p, q, s = 4, 5, 3, 2
    assert "∂f/∂W2 = diag(φ′(h2)) · W3ᵀ · ∂f/∂ŷ · z1ᵀ" in text  # eq (31)
    assert "(1×2)·(2×3)·(3×3)·(3×15) → 1×15" in text  # the literal row chain, eq (18)/(28)
    assert "(ŷ − y)ᵀ · W3 · diag(φ′(h2)) · (z1₁I₃, …, z1₅I₃)" in text
    assert "eq (22)" in text and "eq (29)" in text and "eq (11)" in text
    assert "eq (27)–(33)" in text and "eq (32)" in text


def test_w1_derivation_reuses_the_gradient_of_h2(net_xy):
    net, x, y = net_xy
    text = str(net.derivation(x, y, wrt="W1"))
    assert "∂f/∂W1 = diag(φ′(h1)) · W2ᵀ · ∂f/∂h2 · xᵀ" in text  # eq (37)
    assert "(5×5)·(5×3)·(3×1)·(1×4) → 5×4" in text
    assert "back-propagation (§3.4)" in text
    assert "eq (38)" in text


def test_w3_derivation_is_lemma_2_6_directly(net_xy):
    net, x, y = net_xy
    text = str(net.derivation(x, y, wrt="W3"))
    assert "∂f/∂W3 = ∂f/∂ŷ · z2ᵀ" in text
    assert "(2×1)·(1×3) → 2×3" in text and "eq (26)" in text


def test_the_record_holds_the_numbers(net_xy):
    net, x, y = net_xy
    d = net.derivation(x, y, wrt="W2")
    compact = net.gradients(x, y, method="backprop")["W2"]
    np.testing.assert_allclose(d.gradient, compact, rtol=1e-12)
    np.testing.assert_allclose(d.result.toarray(), jc.vec(compact).T, rtol=1e-12)
    assert [s.target for s in d.steps] == ["(∂f/∂ŷ)ᵀ", "(∂f/∂z2)ᵀ", "(∂f/∂h2)ᵀ",
                                           "(∂f/∂vec(W2))ᵀ"]
    labels = [f.label for f in d.paths[0]]
    assert labels == ["(ŷ − y)ᵀ", "W3", "diag(φ′(h2))", "(z1₁I₃, …, z1₅I₃)"]
    assert [f.shape for f in d.paths[0]] == [(1, 2), (2, 3), (3, 3), (3, 15)]
    # each step's printed value is the running product
    np.testing.assert_allclose(d.steps[0].result.toarray()[0], net.predict(x) - y, rtol=1e-14)
    # small numbers are printed
    assert np.array2string(d.gradient, precision=4, suppress_small=True).splitlines()[0][:8] \
        in str(d)


def test_derivation_of_a_hidden_node(net_xy):
    net, x, y = net_xy
    d = net.derivation(x, y, wrt="h1")
    assert d.gradient.shape == (5,) and d.matrix_form is None
    np.testing.assert_allclose(d.result.toarray(), net.jacobian(x, y, of="f", wrt="h1").toarray())


def test_several_paths_are_each_shown():
    X = leaf("X", np.array([[1.0, 2.0], [3.0, 4.0]]))
    Y = apply("matmul", X, X, name="Y")
    d = derive(Graph(Y), "Y", "X")
    text = str(d)
    assert len(d.paths) == 2 and "sum of these 2 paths" in text
    assert "+ " in text  # the step shows both terms
