"""Hypothesis strategies and assertion helpers for property tests of derivations.

The package's own tests are built from these, and users can build theirs from them too:

>>> from hypothesis import given
>>> from jacobian_calc.testing import mlp_problems
>>> @given(mlp_problems(max_depth=2))
... def test_literal_equals_compact(problem):
...     net = problem.network()
...     a = net.gradients(problem.x, problem.y, method="explicit")
...     b = net.gradients(problem.x, problem.y, method="backprop")
...     for name in a:
...         assert_allclose_scaled(a[name], b[name], rtol=1e-10)
>>> test_literal_equals_compact()

Requires the ``test`` extra (hypothesis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .activations import ACTIVATIONS
from .check import max_relative_error
from .losses import LOSSES
from .mlp import MLP

__all__ = [
    "MLPProblem",
    "real_arrays",
    "mlp_problems",
    "assert_allclose_scaled",
]


def real_arrays(shape: tuple[int, ...] | st.SearchStrategy, bound: float = 2.0
                ) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with entries in [−bound, bound], no NaN, inf or subnormals."""
    return hnp.arrays(
        np.float64, shape,
        elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                           allow_subnormal=False),
    )


@dataclass(frozen=True)
class MLPProblem:
    """Weights, input, target, activation and loss of one lecture-network instance."""

    weights: tuple[np.ndarray, ...]
    x: np.ndarray
    y: np.ndarray
    activation: str
    loss: str

    def network(self) -> MLP:
        return MLP(list(self.weights), activation=self.activation, loss=self.loss)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1],) + tuple(W.shape[0] for W in self.weights)


def _pre_activations(weights: Sequence[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    # Only relu has a kink; the smooth activations never need this.
    hs, z = [], x
    for W in weights[:-1]:
        h = W @ z
        hs.append(h)
        z = np.maximum(h, 0.0)
    return hs


@st.composite
def mlp_problems(
    draw: st.DrawFn,
    min_depth: int = 1,
    max_depth: int = 4,
    max_size: int = 12,
    activations: Sequence[str] = tuple(ACTIVATIONS),
    losses: Sequence[str] = tuple(LOSSES),
    kink_margin: float = 1e-3,
) -> MLPProblem:
    """Random lecture networks: depth, sizes (1–``max_size``), values, activation and loss.

    Weights are drawn in [−2, 2] and scaled by 1/√fan-in so values stay moderate at any
    depth. For relu, inputs whose pre-activations come within ``kink_margin`` of the kink
    at 0 are rejected, so finite differences stay meaningful. For the cross-entropy loss
    the target is a probability vector.
    """
    depth = draw(st.integers(min_depth, max_depth))
    sizes = draw(st.lists(st.integers(1, max_size), min_size=depth + 1, max_size=depth + 1))
    weights = tuple(
        draw(real_arrays((n_out, n_in))) / np.sqrt(n_in)
        for n_in, n_out in zip(sizes, sizes[1:])
    )
    x = draw(real_arrays((sizes[0],)))
    activation = draw(st.sampled_from(list(activations)))
    loss = draw(st.sampled_from(list(losses)))
    if loss == "softmax_cross_entropy":
        raw = draw(hnp.arrays(np.float64, (sizes[-1],), elements=st.floats(0.0, 1.0)))
        y = raw / raw.sum() if raw.sum() > 0 else np.full(sizes[-1], 1.0 / sizes[-1])
    else:
        y = draw(real_arrays((sizes[-1],)))
    if activation == "relu":
        assume(all(np.min(np.abs(h)) > kink_margin for h in _pre_activations(weights, x)))
    return MLPProblem(weights, x, y, activation, loss)


def assert_allclose_scaled(actual: object, expected: object, rtol: float = 1e-10,
                           what: str = "arrays") -> None:
    """Assert max|actual − expected| ≤ rtol · max(max|actual|, max|expected|).

    A relative error measured against the largest entry, so tiny entries of a large
    gradient do not make a correct result fail, and all-zero results compare exactly.
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shapes differ, {a.shape} vs {b.shape}")
    err = max_relative_error(a, b)
    if not err <= rtol:
        worst = np.unravel_index(np.argmax(np.abs(a - b)), a.shape) if a.size else ()
        raise AssertionError(
            f"{what}: relative error {err:.3e} > {rtol:.1e}; worst entry {tuple(map(int, worst))}: "
            f"{a[worst]!r} vs {b[worst]!r}"
        )
