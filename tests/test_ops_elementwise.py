"""Functions applied entry by entry: φ and φ′ against closed forms and central differences.

The activations (``jacobian_calc.ACTIVATIONS``, a live view of the table entries with the
role ``"activation"``), exp, log, powers and the Hadamard product. Their factors against
finite differences at random points are also covered, with every other operation, by
``tests/test_ops_table.py``; this file checks what is particular to the family.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc import extend
from jacobian_calc.core.structure import Diagonal
from jacobian_calc.engine.graph import Graph, apply, leaf
from jacobian_calc.ops import TABLE
from jacobian_calc.render import check_latex
from jacobian_calc.testing import arrays_away_from_kinks, real_arrays

NAMES = ("identity", "sigmoid", "tanh", "relu", "softplus")

CLOSED_FORMS = {
    "identity": (lambda h: h, lambda h: np.ones_like(h)),
    "sigmoid": (lambda h: 1 / (1 + np.exp(-h)), lambda h: np.exp(-h) / (1 + np.exp(-h)) ** 2),
    "tanh": (np.tanh, lambda h: 1 / np.cosh(h) ** 2),
    "relu": (lambda h: np.where(h > 0, h, 0.0), lambda h: np.where(h > 0, 1.0, 0.0)),
    "softplus": (lambda h: np.log1p(np.exp(h)), lambda h: 1 / (1 + np.exp(-h))),
    "exp": (np.exp, np.exp),
    "log": (np.log, lambda h: 1 / h),
}

vectors = real_arrays(st.integers(1, 20), bound=8.0)


def test_the_activations_are_the_lectures_five():
    assert tuple(jc.ACTIVATIONS) == NAMES
    assert len(jc.ACTIVATIONS) == 5
    assert all(jc.ACTIVATIONS[n] is TABLE[n] for n in NAMES)
    assert all(TABLE[n].family == "elementwise" and TABLE[n].arity == 1 for n in NAMES)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@given(h=vectors)
def test_function_and_derivative_match_closed_forms(name, h):
    if name == "log":
        h = np.abs(h) + 0.5  # log's domain
    pw = TABLE[name].pointwise
    phi, dphi = CLOSED_FORMS[name]
    np.testing.assert_allclose(pw.function(h), phi(h), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pw.derivative(h), dphi(h), rtol=1e-12, atol=1e-14)
    assert pw.function(h).shape == pw.derivative(h).shape == h.shape


@pytest.mark.parametrize("name", NAMES)
@given(h=st.floats(-6, 6).filter(lambda v: abs(v) > 1e-3))
def test_derivative_matches_central_differences(name, h):
    pw = jc.ACTIVATIONS[name].pointwise
    t = 1e-6
    numeric = (pw.function(np.array(h + t)) - pw.function(np.array(h - t))) / (2 * t)
    np.testing.assert_allclose(pw.derivative(np.array(h)), numeric, rtol=1e-6, atol=1e-8)


def test_relu_derivative_at_zero_is_zero_by_convention():
    np.testing.assert_array_equal(jc.ACTIVATIONS["relu"].pointwise.derivative(
        np.array([-0.0, 0.0])), 0.0)
    D = jc.activation_jacobian([-1.0, 0.0, 2.0], "relu")
    np.testing.assert_array_equal(D.toarray(), np.diag([0.0, 0.0, 1.0]))


def test_large_inputs_do_not_overflow():
    h = np.array([-800.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(jc.ACTIVATIONS["softplus"].pointwise.function(h), [0.0, 800.0])
        np.testing.assert_allclose(jc.ACTIVATIONS["sigmoid"].pointwise.derivative(h), [0.0, 0.0])
        np.testing.assert_allclose(jc.ACTIVATIONS["sigmoid"].pointwise.function(h), [0.0, 1.0])
        np.testing.assert_allclose(jc.ACTIVATIONS["tanh"].pointwise.derivative(h), [0.0, 0.0])


def test_unknown_activation_lists_the_valid_ones():
    message = ("unknown activation 'gelu'; valid choices are: 'identity', 'sigmoid', 'tanh', "
               "'relu', 'softplus'")
    with pytest.raises(jc.ChoiceError, match=message):
        jc.ACTIVATIONS.lookup("gelu")
    with pytest.raises(jc.ChoiceError, match=message):
        jc.activation_jacobian([1.0], "gelu")
    with pytest.raises(KeyError):
        jc.ACTIVATIONS["exp"]  # an entry of the table, but not an activation
    assert "exp" not in jc.ACTIVATIONS and "exp" in TABLE


def test_the_activations_view_is_live():
    extend.elementwise("softsignact", lambda x: x / (1 + np.abs(x)),
                       lambda x: 1 / (1 + np.abs(x)) ** 2, activation=True)
    try:
        assert "softsignact" in jc.ACTIVATIONS and len(jc.ACTIVATIONS) == 6
        D = jc.activation_jacobian([0.5, -2.0], "softsignact")
        np.testing.assert_allclose(D.toarray(), np.diag([1 / 1.5 ** 2, 1 / 9]))
    finally:
        extend.remove("softsignact")
    assert "softsignact" not in jc.ACTIVATIONS and tuple(jc.ACTIVATIONS) == NAMES


@pytest.mark.parametrize("name", NAMES)
@given(h=arrays_away_from_kinks(st.integers(1, 8), margin=1e-3))
def test_activation_jacobian_is_a_sparse_diagonal_of_the_derivative(name, h):
    D = jc.activation_jacobian(h, name)
    assert sp.issparse(D) and D.shape == (h.size, h.size)
    assert D.nnz == h.size  # one stored entry per row, zeros of φ′ included
    pw = jc.ACTIVATIONS[name].pointwise
    np.testing.assert_array_equal(D.diagonal(), pw.derivative(h))
    fd = jc.finite_difference_jacobian(pw.function, h)  # eq (29) from first principles
    np.testing.assert_allclose(D.toarray(), fd, rtol=1e-6, atol=1e-8)


def test_activation_jacobian_of_a_matrix_follows_vec(rng):
    H = rng.normal(size=(3, 2))
    D = jc.activation_jacobian(H, "tanh")
    np.testing.assert_allclose(D.diagonal(), 1 - np.tanh(H.ravel(order="F")) ** 2)
    fd = jc.finite_difference_jacobian(np.tanh, H)
    np.testing.assert_allclose(D.toarray(), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(n for n, op in TABLE.items() if op.pointwise))
def test_the_written_definitions_render(name):
    op = TABLE[name]
    symbol = next(p.default for p in op.params if p.name == "symbol")
    for template in (op.pointwise.definition, op.pointwise.derivative_definition):
        written = template.form(fn=symbol, **{"0": "h"})
        assert "\\" not in written.text
        check_latex(written.latex)


# ------------------------------------------------------------------------ the factor
@given(real_arrays(st.tuples(st.integers(1, 4), st.integers(1, 4))))
def test_the_factor_is_kept_as_its_diagonal(H):
    node = apply("sigmoid", leaf("H", H))
    built = TABLE["sigmoid"].partials[0].build(node)
    assert isinstance(built, Diagonal)
    np.testing.assert_array_equal(built.values,
                                  TABLE["sigmoid"].pointwise.derivative(H).ravel(order="F"))
    J = Graph(node).factor(node, 0)
    assert J.equation == "29" and J.symmetric


# ------------------------------------------------------------------------------ power
@given(real_arrays(st.integers(1, 6), bound=2.0).map(lambda v: np.abs(v) + 0.5),
       st.floats(-3.0, 3.0))
def test_power_and_its_derivative(x, p):
    node = apply("power", leaf("x", x), p=p)
    np.testing.assert_allclose(node.value, x ** p, rtol=1e-14)
    built = TABLE["power"].partials[0].build(node)
    np.testing.assert_allclose(built.values, p * x ** (p - 1), rtol=1e-13, atol=1e-300)


@given(real_arrays(st.integers(1, 6)), st.integers(1, 4))
def test_a_positive_integer_power_is_defined_everywhere(x, p):
    node = apply("power", leaf("x", x), p=p)
    np.testing.assert_allclose(node.value, x ** p, rtol=1e-14)
    J = Graph(node).factor(node, 0)
    np.testing.assert_allclose(J.toarray(), np.diag(p * x ** (p - 1)), rtol=1e-13, atol=1e-300)


def test_power_domain_errors_name_the_expression():
    with pytest.raises(jc.DomainError, match=r"non-integer power needs non-negative entries"):
        apply("power", leaf("x", np.array([-1.0, 2.0])), p=0.5)
    with pytest.raises(jc.DomainError, match=r"negative power is not defined at 0"):
        apply("power", leaf("x", np.array([0.0, 2.0])), p=-1)
    with pytest.raises(jc.JacobianCalcError, match="needs the parameter 'p'"):
        apply("power", leaf("x", np.ones(2)))
    with pytest.raises(jc.JacobianCalcError, match="finite real number"):
        apply("power", leaf("x", np.ones(2)), p=float("nan"))


def test_log_refuses_non_positive_entries():
    with pytest.raises(jc.DomainError, match=r"log\(x\): x has 1 non-positive entry"):
        apply("log", leaf("x", np.array([1.0, 0.0])))


def test_the_zeroth_power_has_a_zero_derivative_at_zero():
    # d/dx x⁰ = 0 everywhere, also at 0, where p·x^(p−1) would be 0·inf = nan
    node = apply("power", leaf("x", np.array([0.0, 1.0])), p=0, name="u")
    np.testing.assert_array_equal(node.value, [1.0, 1.0])
    np.testing.assert_array_equal(Graph(node).factor(node, 0).toarray(), np.zeros((2, 2)))


# ---------------------------------------------------------------------------- hadamard
@given(st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda s: st.tuples(real_arrays(s), real_arrays(s))))
def test_hadamard_factors_are_the_other_argument_on_the_diagonal(pair):
    A, B = pair
    node = apply("hadamard", leaf("A", A), leaf("B", B))
    np.testing.assert_array_equal(node.value, A * B)
    d_A, d_B = (TABLE["hadamard"].partials[i].build(node) for i in (0, 1))
    assert isinstance(d_A, Diagonal) and isinstance(d_B, Diagonal)
    np.testing.assert_array_equal(d_A.values, B.ravel(order="F"))  # diag(vec B), column-stacked
    np.testing.assert_array_equal(d_B.values, A.ravel(order="F"))


def test_hadamard_needs_equal_shapes():
    with pytest.raises(jc.ShapeError, match="nothing is broadcast"):
        apply("hadamard", leaf("A", np.ones((2, 2))), leaf("B", np.ones(2)))
