r"""Functions applied entry by entry: the activations, exp, log, powers, the Hadamard product.

An elementwise function's Jacobian is diagonal (eq 29): :math:`\operatorname{diag}(\phi'(h))`,
one stored entry per row, kept as its diagonal. Each function is an entry of its own with
its φ and φ′ — the pointwise ("blue") quantities of the lecture's Figure 1 — and their
written definitions. The five with the role ``"activation"`` are the choices of
:class:`~jacobian_calc.MLP`.

relu is not differentiable at 0; this library uses φ′(0) = 0, as PyTorch and JAX do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

import numpy as np
from scipy.special import expit

from ..core import symbolic as S
from ..core.errors import ChoiceError, JacobianCalcError
from ..core.notation import Form, Template, operator_name
from ..core.structure import Diagonal
from ..core.validation import as_real_array
from . import domain
from .base import ATOM, POSTFIX, PRODUCT, SUM, TABLE, NodeLike, Operands, Operation, Param, \
    Partial, Pointwise, Rewrite, Rule, diagonal_info, diagonal_partial, pointwise_second

__all__ = ["OPERATIONS", "activation_jacobian", "derivative_rewrite"]


def _symbol_param(default: Form) -> Param:
    """The symbol the function is written with; the lecture network writes every φ as φ."""
    def check(value: object) -> Form:
        if isinstance(value, Form):
            return value
        if isinstance(value, str) and value:
            return Form(value, {"φ": r"\phi", "σ": r"\sigma"}.get(value, operator_name(value)))
        raise JacobianCalcError(f"symbol must be a non-empty str, got {value!r}")
    return Param("symbol", check, default)


def _symbol(node: NodeLike) -> dict[str, object]:
    return {"fn": node.params["symbol"]}


_DERIVATIVE = Template("$fn'($0)")


ClosedForm = Callable[[Operands], S.MatExpr]


def derivative_rewrite(name: str, df: Callable[[np.ndarray], np.ndarray],
                       closed: ClosedForm | None = None) -> Rewrite:
    """The factor diag(vec(φ′(X))) of φ applied entry by entry, φ′ written with the symbol
    the node is written with (``φ′(h2)``, ``σ′(A X)``); the formula engine turns a row
    times it into φ′(X) ⊙ G (eq 32).

    ``closed`` writes φ′(X) in closed form where it is an operation of X already written
    (exp′(X) = exp(X), log′(X) = 1 ⊘ X); it is used only while the node keeps its own
    symbol — a function written as φ keeps φ′, as the lecture writes it.
    """
    def factor(o: Operands) -> S.MatExpr:
        symbol = o.params.get("symbol")
        fn = symbol if isinstance(symbol, Form) else Form(name, operator_name(name))
        if closed is not None and fn.text == name:
            return S.diag(S.vec(closed(o)))
        dphi = S.call(f"{name}′", df, _DERIVATIVE, o.args[0], lib_shapes=o.shapes,
                      shape=o.shapes[0], fields={"fn": fn}, key=(fn.text,))
        return S.diag(S.vec(dphi))
    return Rewrite(factor=factor)


def _exp_closed(o: Operands) -> S.MatExpr:
    """exp′(X) = exp(X): the node itself (its name, if it has one)."""
    if not isinstance(o.out, S.Zero):
        return o.out
    return S.call("exp", np.exp, Template(r"\exp($0)"), o.args[0])  # pragma: no cover


def _reciprocal(x: S.MatExpr) -> S.MatExpr:
    """1 ⊘ X, entry by entry: X⁻¹ for a 1×1 X."""
    if x.shape == (1, 1):
        return S.inverse(x)
    x = S.simplify(x)  # the written form the brackets are chosen for (the value is the same)
    # bracketed wherever it meets an operator; its argument bracketed unless a name or a
    # postfix form (1 ⊘ P, 1 ⊘ (AX), 1 ⊘ (x − 3c))
    paren = PRODUCT <= x.precedence < POSTFIX
    template = Template(r"1 \oslash \left($0\right)" if paren else r"1 \oslash $0")
    return S.call("reciprocal", lambda h: 1.0 / h, template, x, precedence=SUM)


def _log_closed(o: Operands) -> S.MatExpr:
    """log′(X) = 1 ⊘ X (X⁻¹ for a scalar X)."""
    return _reciprocal(o.args[0])


def function(name: str, symbol: Form, f: Callable[[np.ndarray], np.ndarray],
             df: Callable[[np.ndarray], np.ndarray], definition: str, derivative: str, *,
             summary: str, domain_rules: tuple[Rule, ...] = (), roles: frozenset[str] = frozenset(),
             equation: str | None = "29",
             d2f: Callable[[np.ndarray], np.ndarray] | None = None,
             second_note: str | None = None, closed: ClosedForm | None = None) -> Operation:
    r"""An entry for φ applied entry by entry: φ(X), and the factor diag(φ′(vec X)) (eq 29).

    ``definition`` and ``derivative`` are templates in ``$fn`` (the symbol) and ``$0`` (the
    argument), e.g. ``r"$fn($0) = \frac{1}{1 + e^{-$0}}"``. ``d2f`` is φ″: with it the
    entry has the second-order rule diag(ā ⊙ φ″(vec X)); without it, none.
    ``second_note`` says why φ″ is zero, for a function whose φ″ always is.
    ``closed`` writes φ′(X) in formulas in closed form (:func:`derivative_rewrite`).
    """
    return Operation(
        name=name, family="elementwise", arity=1,
        forward=lambda h, symbol=None: f(h),
        partials=(diagonal_partial(lambda node: df(node.args[0].value),
                                   r"\operatorname{diag}($fn'($0))", equation=equation,
                                   rewrite=derivative_rewrite(name, df, closed)),),
        notation=Template("$fn($0)"), precedence=ATOM, domain=domain_rules,
        params=(_symbol_param(symbol),), fields=_symbol, summary=summary,
        pointwise=Pointwise(f, df, Template(definition), Template(derivative), d2f, second_note),
        roles=roles, second=pointwise_second if d2f is not None else None)


def _sigmoid_derivative(h: np.ndarray) -> np.ndarray:
    s = expit(h)
    return s * (1.0 - s)


def _tanh_derivative(h: np.ndarray) -> np.ndarray:
    t = np.tanh(h)
    return 1.0 - t * t


def _sigmoid_second(h: np.ndarray) -> np.ndarray:
    s = expit(h)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _tanh_second(h: np.ndarray) -> np.ndarray:
    t = np.tanh(h)
    return -2.0 * t * (1.0 - t * t)


_ACTIVATION = frozenset({"activation"})

IDENTITY = function(
    "identity", Form("identity", r"\operatorname{identity}"), lambda h: h.copy(), np.ones_like,
    "$fn($0) = $0", "$fn'($0) = 1", roles=_ACTIVATION, d2f=np.zeros_like,
    second_note="the identity is linear: φ″ = 0",
    summary="the identity, entry by entry (a linear layer has φ = identity)")
SIGMOID = function(
    "sigmoid", Form("σ", r"\sigma"), expit, _sigmoid_derivative,
    r"$fn($0) = \frac{1}{1 + e^{-$0}}", r"$fn'($0) = $fn($0)\,(1 - $fn($0))", roles=_ACTIVATION,
    d2f=_sigmoid_second,
    summary="the logistic sigmoid σ(x) = 1/(1 + e^(−x)), entry by entry")
TANH = function(
    "tanh", Form("tanh", r"\tanh"), np.tanh, _tanh_derivative,
    r"$fn($0)", r"$fn'($0) = 1 - \tanh^2($0)", roles=_ACTIVATION, d2f=_tanh_second,
    summary="the hyperbolic tangent, entry by entry")
RELU = function(
    # Strict inequality: relu′(0) = 0 by convention.
    "relu", Form("relu", r"\operatorname{relu}"), lambda h: np.maximum(h, 0.0),
    lambda h: (h > 0).astype(np.float64),
    r"$fn($0) = \max($0, 0)", r"$fn'($0) = [$0 > 0]\ (\text{0 at}\ 0)", roles=_ACTIVATION,
    # relu″ = 0 wherever it exists, that is everywhere but the kink at 0
    d2f=np.zeros_like,
    second_note="ReLU is piecewise linear: φ″ = 0 almost everywhere (all but the kink at 0)",
    summary="max(x, 0), entry by entry; relu′(0) = 0 by convention")
SOFTPLUS = function(
    # logaddexp(0, h) = log(1 + e^h) without overflow for large h.
    "softplus", Form("softplus", r"\operatorname{softplus}"), lambda h: np.logaddexp(0.0, h),
    expit, r"$fn($0) = \log(1 + e^{$0})", r"$fn'($0) = \sigma($0)", roles=_ACTIVATION,
    d2f=_sigmoid_derivative,
    summary="log(1 + eˣ), entry by entry (computed without overflow)")
EXP = function(
    "exp", Form("exp", r"\exp"), np.exp, np.exp, r"$fn($0) = e^{$0}", r"$fn'($0) = e^{$0}",
    summary="eˣ, entry by entry", d2f=np.exp, closed=_exp_closed)
LOG = function(
    "log", Form("log", r"\log"), np.log, lambda h: 1.0 / h, r"$fn($0)",
    r"$fn'($0) = 1/$0", domain_rules=(domain.positive(0),),
    summary="the natural logarithm, entry by entry (every entry must be > 0)",
    d2f=lambda h: -1.0 / (h * h), closed=_log_closed)


# ------------------------------------------------------------------------------ power
def _exponent(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(float(value)):
        raise JacobianCalcError(f"the exponent must be a finite real number, got {value!r}")
    return float(value)


def _fractional(params: Mapping[str, Any]) -> bool:
    return params["p"] != int(params["p"])


def _power_derivative(node: NodeLike) -> np.ndarray:
    """p·x^(p−1); for p = 0 the constant x⁰ = 1 (0⁰ = 1, as numpy has it) has slope 0 everywhere."""
    p, x = node.params["p"], node.args[0].value
    if p == 0:
        return np.zeros_like(x)
    return p * np.power(x, p - 1)


def _power_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Any]:
    """diag(ā ⊙ p(p − 1) x^(p−2)); zero for p = 0 and p = 1."""
    p, x = node.params["p"], node.args[0].value.reshape(-1, order="F")
    if p in (0.0, 1.0):
        return {}
    return {(0, 0): Diagonal(adjoint * p * (p - 1) * np.power(x, p - 2))}


def _power_fields(node: NodeLike) -> dict[str, object]:
    p = node.params["p"]
    return {"p": int(p) if p == int(p) else p, "q": int(p - 1) if p == int(p) else p - 1}


def _power_rewrite(o: Operands) -> S.MatExpr:
    # diag(vec(p X^(p−1))): X itself for p = 2, the identity for p = 1, zero for p = 0
    p, x = o.params["p"], o.args[0]
    if p == 0:
        return S.zero(x.shape[0] * x.shape[1], x.shape[0] * x.shape[1])
    q = p - 1
    if q == 0:
        return S.identity(x.shape[0] * x.shape[1])
    if q == 1:
        inner: S.MatExpr = x
    else:
        exponent = str(int(q)) if q == int(q) else f"{q:g}"
        inner = S.call("power", lambda v: np.power(v, q), Template("$0^{$p}"), x,
                       lib_shapes=o.shapes, shape=o.shapes[0],
                       fields={"p": Form(exponent, exponent)}, precedence=POSTFIX, key=(q,))
    return S.diag(S.vec(S.scaled(p, inner)))


POWER = Operation(
    name="power", family="elementwise", arity=1,
    forward=lambda a, p: np.power(a, p),
    partials=(diagonal_partial(_power_derivative, r"\operatorname{diag}($p\,$0^{$q})",
                               equation="29", rewrite=Rewrite(factor=_power_rewrite)),),
    notation=Template("$0^{$p}"), precedence=POSTFIX,
    domain=(domain.nonnegative_for(_fractional, "a non-integer power"),
            domain.nonzero_for(lambda params: params["p"] < 0, "a negative power")),
    params=(Param("p", _exponent),), fields=_power_fields, spelling=None,
    summary="X**p: every entry raised to a constant power p", second=_power_second)


# --------------------------------------------------------------------------- Hadamard
HADAMARD = Operation(
    name="hadamard", family="elementwise", arity=2,
    forward=lambda a, b: a * b,
    partials=(
        Partial(build=lambda node: Diagonal(node.args[1].value),
                label=Template(r"\operatorname{diag}(\operatorname{vec}($1))"),
                info=diagonal_info,
                symmetric=True,
                rewrite=Rewrite(factor=lambda o: S.diag(S.vec(o.args[1])))),
        Partial(build=lambda node: Diagonal(node.args[0].value),
                label=Template(r"\operatorname{diag}(\operatorname{vec}($0))"),
                info=diagonal_info,
                symmetric=True,
                rewrite=Rewrite(factor=lambda o: S.diag(S.vec(o.args[0])))),
    ),
    symbolic=lambda o: S.hadamard(*o.args),
    notation=Template(r"$0 \odot $1"), precedence=PRODUCT,
    domain=(domain.same_shape("⊙", " (a scalar times an expression needs a scalar: shape ())"),),
    spelling=None, summary="A * B: the Hadamard (entrywise) product of equal shapes",
    # ∂²(ā·vec(A⊙B))/∂vec(A)∂vec(B) = diag(ā)
    second=lambda node, adjoint: {(0, 1): Diagonal(adjoint)})

#: The entries of this family, in the order they are listed.
OPERATIONS = (IDENTITY, SIGMOID, TANH, RELU, SOFTPLUS, EXP, LOG, POWER, HADAMARD)


def activation_jacobian(h: object, activation: str = "sigmoid") -> Any:
    r"""∂φ(h)/∂h = :math:`\operatorname{diag}(\phi'(h))` (eq 29), sparse with one entry per row.

    Parameters
    ----------
    h : array_like, shape (n,) or (n, m)
        For a matrix, the diagonal holds φ′ of vec(h).
    activation : str
        One of the activations, ``sorted(jacobian_calc.ACTIVATIONS)``.

    Returns
    -------
    scipy.sparse.csr_array, shape (size(h), size(h))

    Examples
    --------
    >>> activation_jacobian([-1.0, 0.0, 2.0], "relu").toarray()
    array([[0., 0., 0.],
           [0., 0., 0.],
           [0., 0., 1.]])
    """
    choices = TABLE.with_role("activation")
    op = choices.get(activation) if isinstance(activation, str) else None
    if op is None:
        raise ChoiceError("activation", activation, choices)
    values = as_real_array(h, "h", ndim=(1, 2))
    return Diagonal(op.pointwise.derivative(values)).tosparse()
