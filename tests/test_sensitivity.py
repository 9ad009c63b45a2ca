"""The checks the suite relies on catch the classic mistakes.

Each test plants one bug in the literal machinery — φ′ dropped, a transpose misplaced, the
Kronecker factor built for row-stacking vec, one stored value off — by replacing one
partial of one entry of the operations table, and asserts that comparing with the
compact formulas exposes it. If these tests fail, the property tests prove nothing.
"""

from dataclasses import replace

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.core.structure import Identity, Kron
from jacobian_calc.ops import TABLE
from jacobian_calc.testing import assert_allclose_scaled


@pytest.fixture
def square_net(rng):
    weights = [rng.normal(size=(4, 4)) for _ in range(3)]
    return jc.MLP(weights, activation="tanh"), rng.normal(size=4), rng.normal(size=4)


@pytest.fixture
def plant():
    """Replace one partial of one table entry; the original comes back afterwards."""
    saved = []

    def plant_(name: str, position: int, build):
        op = TABLE[name]
        saved.append(op)
        partials = list(op.partials)
        partials[position] = replace(partials[position], build=build)
        TABLE.add(replace(op, partials=tuple(partials)), replace=True)

    yield plant_
    for op in saved:
        TABLE.add(op, replace=True)


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


def test_dropping_phi_prime_is_caught(square_net, plant):
    plant("tanh", 0, lambda node: Identity(node.value.size))
    assert not literal_matches_compact(*square_net)


def test_a_misplaced_transpose_is_caught(square_net, plant):
    plant("matmul", 1, lambda node: node.args[0].value.T)  # Wᵀ, not W
    assert not literal_matches_compact(*square_net)


def test_a_row_stacking_kronecker_factor_is_caught(square_net, plant):
    # I_p ⊗ xᵀ is ∂y/∂vec(W) for row-stacked vec; unvec'ed by columns it is wrong.
    plant("matmul", 0, lambda node: np.kron(np.eye(node.value.shape[0]),
                                            node.args[1].value[None, :]))
    assert not literal_matches_compact(*square_net)


def test_one_wrong_stored_value_of_the_kronecker_factor_is_caught(square_net, plant):
    # The explicit route multiplies the values the factor stores (x itself): change one of
    # them and the gradient of that weight must change.
    def one_value_off(node):
        x = node.args[1].value.copy()
        x[0] += 1.0
        return Kron(x[None, :], node.value.shape[0])

    plant("matmul", 0, one_value_off)
    assert not literal_matches_compact(*square_net)


def test_the_table_is_restored_after_a_plant(square_net):
    assert literal_matches_compact(*square_net)
