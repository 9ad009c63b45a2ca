"""Each activation's φ′ against closed forms and central differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.ops.activations import get_activation
from jacobian_calc.testing import real_arrays

NAMES = sorted(jc.ACTIVATIONS)

CLOSED_FORMS = {
    "identity": (lambda h: h, lambda h: np.ones_like(h)),
    "sigmoid": (lambda h: 1 / (1 + np.exp(-h)), lambda h: np.exp(-h) / (1 + np.exp(-h)) ** 2),
    "tanh": (np.tanh, lambda h: 1 / np.cosh(h) ** 2),
    "relu": (lambda h: np.where(h > 0, h, 0.0), lambda h: np.where(h > 0, 1.0, 0.0)),
    "softplus": (lambda h: np.log1p(np.exp(h)), lambda h: 1 / (1 + np.exp(-h))),
}


def test_every_activation_has_a_closed_form_here():
    assert set(CLOSED_FORMS) == set(jc.ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
@given(h=real_arrays(st.integers(1, 20), bound=8.0))
def test_function_and_derivative_match_closed_forms(name, h):
    act = get_activation(name)
    phi, dphi = CLOSED_FORMS[name]
    np.testing.assert_allclose(act.function(h), phi(h), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(act.derivative(h), dphi(h), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
@given(h=st.floats(-6, 6).filter(lambda v: abs(v) > 1e-3))
def test_derivative_matches_central_differences(name, h):
    act = get_activation(name)
    t = 1e-6
    numeric = (act.function(np.array(h + t)) - act.function(np.array(h - t))) / (2 * t)
    np.testing.assert_allclose(act.derivative(np.array(h)), numeric, rtol=1e-6, atol=1e-8)


def test_relu_derivative_at_zero_is_zero_by_convention():
    np.testing.assert_array_equal(get_activation("relu").derivative(np.array([-0.0, 0.0])), 0.0)


def test_large_inputs_do_not_overflow():
    h = np.array([-800.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(get_activation("softplus").function(h), [0.0, 800.0])
        np.testing.assert_allclose(get_activation("sigmoid").derivative(h), [0.0, 0.0])


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(jc.ChoiceError, match="unknown activation 'gelu'; valid choices are: "
                                             "'identity', 'sigmoid', 'tanh', 'relu', 'softplus'"):
        get_activation("gelu")
