r"""Elementwise activations φ and their derivatives φ′, the pointwise ("blue") quantities.

In Figure 1 of the lecture the derivative of an activation is obtained directly: write
down φ′ once, then evaluate it at the forward value h (eq 29). This module holds exactly
that: for each activation its function, its derivative, and how both are written.

relu is not differentiable at 0; this library uses the convention φ′(0) = 0, as PyTorch
and JAX do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ..core.errors import ChoiceError

__all__ = ["Activation", "ACTIVATIONS", "get_activation"]

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """An elementwise function with its derivative and their written forms.

    Attributes
    ----------
    name : str
        The name users pass (``"sigmoid"``).
    function, derivative : callable
        ``ndarray -> ndarray`` of the same shape, applied entry by entry.
    formula, derivative_formula : str
        Plain-text forms, e.g. ``"σ(h) = 1/(1 + e^(−h))"``.
    latex, derivative_latex : str
        The same in LaTeX, with ``h`` as the argument.
    """

    name: str
    function: Callable[[Array], Array]
    derivative: Callable[[Array], Array]
    formula: str
    derivative_formula: str
    latex: str
    derivative_latex: str


def _sigmoid_derivative(h: Array) -> Array:
    s = expit(h)
    return s * (1.0 - s)


def _tanh_derivative(h: Array) -> Array:
    t = np.tanh(h)
    return 1.0 - t * t


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            "identity", lambda h: h.copy(), np.ones_like,
            "φ(h) = h", "φ′(h) = 1",
            r"\phi(h) = h", r"\phi'(h) = 1",
        ),
        Activation(
            "sigmoid", expit, _sigmoid_derivative,
            "σ(h) = 1/(1 + e^(−h))", "σ′(h) = σ(h)(1 − σ(h))",
            r"\sigma(h) = \frac{1}{1 + e^{-h}}", r"\sigma'(h) = \sigma(h)\,(1 - \sigma(h))",
        ),
        Activation(
            "tanh", np.tanh, _tanh_derivative,
            "tanh(h)", "tanh′(h) = 1 − tanh²(h)",
            r"\tanh(h)", r"\tanh'(h) = 1 - \tanh^2(h)",
        ),
        Activation(
            # Strict inequality: relu′(0) = 0 by convention.
            "relu", lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(np.float64),
            "relu(h) = max(h, 0)", "relu′(h) = 1 if h > 0 else 0 (relu′(0) = 0)",
            r"\operatorname{relu}(h) = \max(h, 0)",
            r"\operatorname{relu}'(h) = [h > 0]",
        ),
        Activation(
            # logaddexp(0, h) = log(1 + e^h) without overflow for large h.
            "softplus", lambda h: np.logaddexp(0.0, h), expit,
            "softplus(h) = log(1 + e^h)", "softplus′(h) = σ(h)",
            r"\operatorname{softplus}(h) = \log(1 + e^{h})",
            r"\operatorname{softplus}'(h) = \sigma(h)",
        ),
    )
}


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name; an :class:`Activation` is returned unchanged.

    Raises
    ------
    ChoiceError
        ``name`` is not in :data:`ACTIVATIONS`; the message lists the valid names.
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ChoiceError("activation", name, ACTIVATIONS) from None
