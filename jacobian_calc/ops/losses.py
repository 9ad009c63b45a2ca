r"""Losses f = L(y, ŷ) and their gradients ∂f/∂ŷ, evaluated directly at the forward value.

Both losses accept a single sample (vectors of length s) or a batch stored as columns
(s × n matrices), in which case the loss is the sum over the columns.

* ``squared_error``: :math:`f = \tfrac12\lVert \hat y - y\rVert^2`, gradient
  :math:`\hat y - y`.
* ``softmax_cross_entropy``: :math:`f = -\sum_i y_i \log \operatorname{softmax}(\hat y)_i`,
  gradient :math:`\operatorname{softmax}(\hat y)\sum_i y_i - y` (which is
  :math:`\operatorname{softmax}(\hat y) - y` when y sums to 1). Computed through
  log-sum-exp, so large logits neither overflow nor lose the small probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax, softmax

from ..core.errors import ChoiceError

__all__ = ["Loss", "LOSSES", "get_loss"]

Array = np.ndarray


@dataclass(frozen=True)
class Loss:
    """A scalar loss of the prediction ŷ and the target y.

    Attributes
    ----------
    name : str
    value : callable
        ``(yhat, y) -> float``.
    gradient : callable
        ``(yhat, y) -> ndarray`` shaped like ``yhat``: ∂f/∂ŷ in the ML layout (eq 6).
    target_gradient : callable
        ``(yhat, y) -> ndarray`` shaped like ``y``: ∂f/∂y.
    formula, gradient_formula : str
        Plain-text templates with ``{yhat}`` and ``{y}`` standing for the argument names.
    latex, gradient_latex : str
        The same in LaTeX.
    """

    name: str
    value: Callable[[Array, Array], float]
    gradient: Callable[[Array, Array], Array]
    target_gradient: Callable[[Array, Array], Array]
    formula: str
    gradient_formula: str
    latex: str
    gradient_latex: str


def _squared_error(yhat: Array, y: Array) -> float:
    r = yhat - y
    return 0.5 * float(np.sum(r * r))


def _cross_entropy(yhat: Array, y: Array) -> float:
    return -float(np.sum(y * log_softmax(yhat, axis=0)))


def _cross_entropy_gradient(yhat: Array, y: Array) -> Array:
    return softmax(yhat, axis=0) * np.sum(y, axis=0) - y


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "squared_error", _squared_error, lambda yhat, y: yhat - y, lambda yhat, y: y - yhat,
            "½‖{yhat} − {y}‖²", "{yhat} − {y}",
            r"\tfrac{{1}}{{2}}\lVert {yhat} - {y} \rVert^2",
            r"{yhat} - {y}",
        ),
        Loss(
            "softmax_cross_entropy", _cross_entropy, _cross_entropy_gradient,
            lambda yhat, y: -log_softmax(yhat, axis=0),
            # the target is braced: a subscripted name (y_{0}) must not get a second "_i"
            "−Σᵢ {y}ᵢ log softmax({yhat})ᵢ", "softmax({yhat})·Σᵢ{y}ᵢ − {y}",
            r"-\sum_i {{{y}}}_i \log \operatorname{{softmax}}({yhat})_i",
            r"\operatorname{{softmax}}({yhat}) \textstyle\sum_i {{{y}}}_i - {y}",
        ),
    )
}


def get_loss(name: str | Loss) -> Loss:
    """Look up a loss by name; a :class:`Loss` is returned unchanged.

    Raises
    ------
    ChoiceError
        ``name`` is not in :data:`LOSSES`; the message lists the valid names.
    """
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ChoiceError("loss", name, LOSSES) from None
