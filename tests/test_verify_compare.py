"""Random directions and the direction comparison, plain and along lines."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.verify.compare import DISTRIBUTIONS, compare_directions, random_directions

shapes = st.tuples(st.integers(1, 9), st.integers(1, 9))


@given(shapes, st.integers(0, 2**32 - 1), st.sampled_from(DISTRIBUTIONS))
def test_directions_are_seeded_unit_and_shaped_like_x(shape, seed, distribution):
    first = list(random_directions(shape, 3, seed, distribution))
    again = list(random_directions(shape, 3, seed, distribution))
    assert len(first) == 3
    for V, W in zip(first, again):
        assert V.shape == shape and np.linalg.norm(V) == pytest.approx(1.0, rel=1e-14)
        np.testing.assert_array_equal(V, W)


def test_normal_directions_are_the_normalised_standard_normal_draws():
    rng = np.random.default_rng(7)
    for V in random_directions((3, 4), 2, 7):
        expected = rng.standard_normal((3, 4))
        np.testing.assert_array_equal(V, expected / np.linalg.norm(expected))


def test_uniform_directions_are_bytes_of_the_generator_in_vec_order():
    # Eight signed bytes from each raw 64-bit output, lowest first, filling vec(V) (column
    # stacking): a documented layout, the same on every platform.
    raw = np.random.default_rng(11).bit_generator.random_raw(2)
    octets = np.array([((int(r) >> (8 * i)) & 0xFF) for r in raw for i in range(8)])
    ints = np.where(octets >= 128, octets - 256, octets)[:15].astype(float)
    [V] = random_directions((3, 5), 1, 11, "uniform")
    assert V.flags.f_contiguous
    np.testing.assert_allclose(V.ravel(order="F"), ints / np.linalg.norm(ints), rtol=1e-15)
    # entries are spread over the 256 levels of [−1, 1)
    [V] = random_directions((200, 50), 1, 0, "uniform")
    levels = V.ravel() / np.min(np.abs(V[V != 0]))
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
    assert len(np.unique(np.round(levels))) == 256


def test_a_distribution_must_be_one_of_the_names():
    with pytest.raises(jc.ChoiceError, match="distribution"):
        list(random_directions((2, 2), 1, 0, "cauchy"))
    with pytest.raises(jc.ChoiceError, match="distribution"):
        compare_directions(np.sum, np.ones(3), np.ones((1, 3)), distribution="rademacher")


def _problem(rng, n=30):
    A = rng.normal(size=(n, n))
    X = rng.normal(size=(n, n))
    f = lambda M: float(np.sum(np.tanh(A * M)))  # noqa: E731
    G = A / np.cosh(A * X) ** 2  # the gradient, shaped like X
    return f, X, G.reshape(1, -1, order="F")


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_along_lines_gives_the_verdict_of_the_plain_check(rng, distribution):
    f, X, J = _problem(rng)
    along = lambda V: (lambda s: f(X + s * V))  # noqa: E731
    plain = compare_directions(f, X, J, distribution=distribution, seed=2)
    fast = compare_directions(f, X, J, distribution=distribution, seed=2, along=along)
    assert plain.ok and fast.ok
    assert fast.worst["direction"] == plain.worst["direction"] or \
        max(plain.error, fast.error) < 1e-8
    np.testing.assert_allclose(fast.worst["analytic"], plain.worst["analytic"], rtol=1e-12)
    np.testing.assert_allclose(fast.worst["numeric"], plain.worst["numeric"], rtol=1e-6)
    # A wrong Jacobian fails both ways, in the same direction.
    wrong = J * (1 + 1e-3 * rng.uniform(-1, 1, size=J.shape))
    bad_plain = compare_directions(f, X, wrong, distribution=distribution, seed=2)
    bad_fast = compare_directions(f, X, wrong, distribution=distribution, seed=2, along=along)
    assert not bad_plain.ok and not bad_fast.ok
    assert bad_fast.worst["direction"] == bad_plain.worst["direction"]
    assert bad_fast.error == pytest.approx(bad_plain.error, rel=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_the_worst_direction_reported_along_lines_is_the_one_drawn(rng, seed):
    # Along lines the directions are drawn into one buffer, and the worst one is drawn again
    # at the end: the V reported must be the unit direction random_directions yields.
    f, X, J = _problem(rng, n=8)
    wrong = J + rng.normal(size=J.shape) * 1e-2
    along = lambda V: (lambda s: f(X + s * V))  # noqa: E731
    c = compare_directions(f, X, wrong, directions=9, seed=seed, distribution="uniform",
                           along=along)
    drawn = list(random_directions(X.shape, 9, seed, "uniform"))
    V = drawn[c.worst["direction"] - 1]
    np.testing.assert_array_equal(c.worst["V"], V)
    assert c.worst["analytic"] == pytest.approx((wrong @ V.reshape(-1, 1, order="F")).item(),
                                                rel=1e-12)
    errors = [abs((wrong @ W.reshape(-1, 1, order="F")).item() - jc.gateaux_derivative(f, X, W))
              for W in drawn]
    assert c.worst["direction"] - 1 == int(np.argmax(errors))


def test_a_point_that_is_not_finite_is_refused_along_lines():
    X = np.array([1.0, np.inf])
    with pytest.raises(jc.JacobianCalcError, match="X contains NaN or ±inf"):
        compare_directions(np.sum, X, np.ones((1, 2)), along=lambda V: (lambda s: 0.0))


def test_zero_jacobians_pass_along_lines(rng):
    X = rng.normal(size=(5, 4))
    c = compare_directions(None, X, np.zeros((1, 20)), distribution="uniform",
                           along=lambda V: (lambda s: 3.0))
    assert c.ok and c.error == 0.0 and c.scale == 0.0


def test_a_huge_point_gets_the_step_of_its_norm_along_lines():
    # ‖X‖² overflows for X = 1e200: the step is still ∛ε·‖X‖, and the derivative right.
    X = np.full(4, 1e200)
    c = compare_directions(np.sum, X, np.ones((1, 4)), distribution="uniform",
                           along=lambda V: (lambda s: float(np.sum(X + s * V))))
    assert c.ok and c.error <= 1e-8


def test_a_uniform_direction_is_never_zero():
    # One entry is 0 with chance 1/256: such a draw is no direction, and is drawn again.
    for seed in range(2000):
        [V] = random_directions((1,), 1, seed, "uniform")
        assert abs(V[0]) == 1.0
