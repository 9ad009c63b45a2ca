"""The checks the suite relies on catch the classic mistakes.

Each test plants one bug in the literal machinery — φ′ dropped, a transpose misplaced, the
Kronecker factor built for row-stacking vec — and asserts that comparing with the
compact formulas exposes it. If these tests fail, the property tests above prove nothing.
"""

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

import jacobian_calc as jc
from jacobian_calc.ops import primitives
from jacobian_calc.testing import assert_allclose_scaled


@pytest.fixture
def square_net(rng):
    weights = [rng.normal(size=(4, 4)) for _ in range(3)]
    return jc.MLP(weights, activation="tanh"), rng.normal(size=4), rng.normal(size=4)


def literal_matches_compact(net, x, y):
    literal = net.gradients(x, y, method="explicit")
    compact = net.gradients(x, y, method="backprop")
    try:
        for name in literal:
            assert_allclose_scaled(literal[name], compact[name], rtol=1e-10)
    except AssertionError:
        return False
    return True


def test_the_unbroken_machinery_agrees(square_net):
    assert literal_matches_compact(*square_net)


def test_dropping_phi_prime_is_caught(square_net, monkeypatch):
    monkeypatch.setattr(primitives, "_diagonal", lambda v: sp.eye_array(v.size, format="csr"))
    assert not literal_matches_compact(*square_net)


def test_a_misplaced_transpose_is_caught(square_net, monkeypatch):
    matmul = primitives.PRIMITIVES["matmul"]
    wrong = replace(matmul.partials[1], build=lambda node: node.args[0].value.T)  # Wᵀ, not W
    monkeypatch.setitem(primitives.PRIMITIVES, "matmul",
                        replace(matmul, partials=(matmul.partials[0], wrong)))
    assert not literal_matches_compact(*square_net)


def test_a_row_stacking_kronecker_factor_is_caught(square_net, monkeypatch):
    # I_p ⊗ xᵀ is ∂y/∂vec(W) for row-stacked vec; unvec'ed by columns it is wrong.
    monkeypatch.setattr(primitives, "transpose_kron_eye",
                        lambda b, m: sp.csr_array(np.kron(np.eye(m), b[None, :])))
    assert not literal_matches_compact(*square_net)


def test_one_wrong_stored_entry_of_the_kronecker_factor_is_caught(square_net, monkeypatch):
    # The explicit route multiplies the stored diagonals themselves, not x: change one of
    # the p·d stored values (the entry in row p−1, column p−1, which holds x₁) and the
    # gradient of that weight must change.
    from jacobian_calc.core.kron import KronEyeArray

    built = primitives.transpose_kron_eye

    def one_entry_off(b, m):
        K = built(b, m)
        diagonals = K.diagonals.copy()
        diagonals[0, -1] += 1.0
        return KronEyeArray(diagonals)

    monkeypatch.setattr(primitives, "transpose_kron_eye", one_entry_off)
    assert not literal_matches_compact(*square_net)
