r"""Losses f = L(ŷ, y): a scalar, and its gradient ∂f/∂ŷ evaluated directly at the forward value.

Both accept a single sample (vectors of length s) or a batch stored as columns (s × n
matrices), in which case the loss is the sum over the columns.

* ``squared_error``: :math:`f = \tfrac12\lVert \hat y - y\rVert^2`, gradient
  :math:`\hat y - y`.
* ``softmax_cross_entropy``: :math:`f = -\sum_i y_i \log \operatorname{softmax}(\hat y)_i`,
  gradient :math:`\operatorname{softmax}(\hat y)\sum_i y_i - y` (which is
  :math:`\operatorname{softmax}(\hat y) - y` when y sums to 1). Computed through
  log-sum-exp, so large logits neither overflow nor lose the small probabilities.

The row gradient (∂f/∂ŷ)ᵀ is the first factor of every chain of the lecture (eq 18, 28).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import log_softmax, softmax

from ..core import symbolic as S
from ..core.errors import ChoiceError, ShapeError
from ..core.notation import Template
from ..core.structure import Identity
from ..core.validation import as_real_array
from ..core.vec import block_diagonal
from . import domain
from .base import ATOM, TABLE, NodeLike, Operands, Operation, Rewrite, Rule, gradient_partial
from .reductions import softmax_call

__all__ = ["OPERATIONS", "loss_gradient"]


def _check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
    yhat, y = args
    if yhat.value.ndim == 0 or yhat.value.shape != y.value.shape:
        raise ShapeError(f"{where}: {yhat.form.text} is {domain.size_text(yhat.value.shape)} but "
                         f"{y.form.text} is {domain.size_text(y.value.shape)}; they must be "
                         f"vectors or matrices of the same shape")


def loss(name: str, value: Callable[[np.ndarray, np.ndarray], float],
         gradient: Callable[[np.ndarray, np.ndarray], np.ndarray],
         target_gradient: Callable[[np.ndarray, np.ndarray], np.ndarray],
         notation: str, gradient_label: str, target_label: str, summary: str,
         second: Callable[..., Mapping[tuple[int, int], Any]] | None = None,
         gradient_formulas: tuple[Callable[[Operands], S.MatExpr], ...] | None = None,
         target_data: str | None = None) -> Operation:
    """An entry for a loss L(ŷ, y): its value, the row gradients (∂f/∂ŷ)ᵀ and (∂f/∂y)ᵀ,
    and its second-order rule (H_L = ∂²f/∂ŷ∂ŷ and the mixed blocks).

    ``gradient_formulas`` write ∂f/∂ŷ and ∂f/∂y as matrix expressions (ŷ − y for the
    squared error): the rows vec(·)ᵀ are the factors formulas are rewritten from.
    ``target_data`` is the sample hint of the target's random data (``"probability"``: a
    distribution, the data the textbook gradient assumes), read by the calculator.
    """
    rewrites: list[Rewrite | None] = [None, None]
    if gradient_formulas is not None:
        rewrites = [Rewrite(factor=lambda o, g=g: S.transpose(S.vec(g(o))))
                    for g in gradient_formulas]
    return Operation(
        name=name, family="losses", arity=2,
        forward=lambda yhat, y: np.asarray(value(yhat, y)),
        partials=(gradient_partial(gradient, gradient_label, position=0, rewrite=rewrites[0]),
                  gradient_partial(target_gradient, target_label, position=1,
                                   rewrite=rewrites[1])),
        notation=Template(notation), precedence=ATOM, shape=lambda shapes, params: (),
        domain=(Rule(_check),) + ((domain.prefers(target_data, 1),) if target_data else ()),
        gradients=(gradient, target_gradient),
        roles=frozenset({"loss"}), summary=summary, second=second)


def _squared_error(yhat: np.ndarray, y: np.ndarray) -> float:
    r = yhat - y
    return 0.5 * float(np.sum(r * r))


def _cross_entropy(yhat: np.ndarray, y: np.ndarray) -> float:
    return -float(np.sum(y * log_softmax(yhat, axis=0)))


def _cross_entropy_gradient(yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    return softmax(yhat, axis=0) * np.sum(y, axis=0) - y


def _squared_error_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Any]:
    # f = ½‖ŷ − y‖²: H_L = I, and −I between ŷ and y
    n, a = node.args[0].value.size, float(adjoint[0])
    return {(0, 0): Identity(n, a), (0, 1): Identity(n, -a), (1, 1): Identity(n, a)}


def _cross_entropy_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Any]:
    # per column: ∂²f/∂ŷ² = (Σy)(diag(s) − s sᵀ) and ∂²f/∂ŷ∂y = s 1ᵀ − I, s = softmax(ŷ)
    yhat, y = (a.value.reshape(a.value.shape[0], -1) for a in node.args)
    a = float(adjoint[0])
    S = softmax(yhat, axis=0)
    hess = np.array([a * t.sum() * (np.diag(s) - np.outer(s, s)) for s, t in zip(S.T, y.T)])
    mixed = np.array([a * (np.outer(s, np.ones_like(s)) - np.eye(s.size)) for s in S.T])
    if node.args[0].value.ndim == 1:
        return {(0, 0): hess[0], (0, 1): mixed[0]}
    return {(0, 0): block_diagonal(hess), (0, 1): block_diagonal(mixed)}


def _softmax_of(o: Operands) -> S.MatExpr:
    return softmax_call(o.args[0], o.shapes[0])


def _cross_entropy_formula(o: Operands) -> S.MatExpr:
    # softmax(ŷ)·Σᵢyᵢ − y, column by column: softmax(ŷ)(𝟏ᵀy) − y for a vector,
    # softmax(Ŷ) diag(Yᵀ𝟏) − Y for a batch of columns
    yhat, y = o.args
    s = _softmax_of(o)
    if len(o.shapes[0]) == 1:
        scaled = S.product(s, S.ones(1, y.shape[0]), y)
    else:
        scaled = S.product(s, S.diag(S.product(S.transpose(y), S.ones(y.shape[0], 1))))
    return S.add(scaled, S.neg(y))


def _cross_entropy_target_formula(o: Operands) -> S.MatExpr:
    # −log softmax(ŷ), column by column
    return S.neg(S.call("log_softmax", lambda v: log_softmax(v, axis=0),
                        r"\log \operatorname{softmax}($0)", o.args[0], lib_shapes=o.shapes[:1],
                        shape=o.shapes[0]))


SQUARED_ERROR = loss(
    "squared_error", _squared_error, lambda yhat, y: yhat - y, lambda yhat, y: y - yhat,
    r"\tfrac{1}{2}\lVert $0 - $1\rVert^2", r"\left($0 - $1\right)^\top",
    r"\left($1 - $0\right)^\top",
    "½‖ŷ − y‖², summed over the columns of a batch", _squared_error_second,
    (lambda o: S.add(o.args[0], S.neg(o.args[1])),
     lambda o: S.add(o.args[1], S.neg(o.args[0]))))
SOFTMAX_CROSS_ENTROPY = loss(
    "softmax_cross_entropy", _cross_entropy, _cross_entropy_gradient,
    lambda yhat, y: -log_softmax(yhat, axis=0),
    # the target is braced: a subscripted name (y_{0}) must not get a second "_i"
    r"-\sum_i {$1}_i \log \operatorname{softmax}($0)_i",
    r"\left(\operatorname{softmax}($0)\textstyle\sum_i {$1}_i - $1\right)^\top",
    r"\left(-\log \operatorname{softmax}($0)\right)^\top",
    "−Σᵢ yᵢ log softmax(ŷ)ᵢ column by column, summed; computed through log-sum-exp",
    _cross_entropy_second, (_cross_entropy_formula, _cross_entropy_target_formula),
    target_data="probability")

#: The entries of this family, in the order they are listed.
OPERATIONS = (SQUARED_ERROR, SOFTMAX_CROSS_ENTROPY)


def loss_gradient(yhat: object, y: object, loss: str = "squared_error") -> np.ndarray:
    """The row gradient (∂f/∂ŷ)ᵀ of a loss, shape (1, size(ŷ)) (eq 1 layout).

    Examples
    --------
    >>> loss_gradient([1.0, 2.0], [0.0, 2.0])
    array([[1., 0.]])
    """
    choices = TABLE.with_role("loss")
    op = choices.get(loss) if isinstance(loss, str) else None
    if op is None:
        raise ChoiceError("loss", loss, choices)
    a = as_real_array(yhat, "yhat", ndim=(1, 2))
    b = as_real_array(y, "y", ndim=(1, 2))
    if a.shape != b.shape:
        raise ShapeError(f"yhat and y must have the same shape, got {a.shape} and {b.shape}")
    return np.asarray(op.gradients[0](a, b)).reshape(1, -1, order="F")
