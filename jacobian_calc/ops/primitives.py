r"""The table of primitives: each one's forward, its literal Jacobian per argument, and how both are written.

Every composition this library differentiates is built from the entries of
:data:`PRIMITIVES`. An entry keeps side by side what a lecture keeps side by side:

* the forward computation, e.g. ``h = W x``;
* for each argument, the literal Jacobian as a 2-D matrix in the vec convention —
  ``W`` for the input (eq 11), :math:`(x_1 I_p, \dots, x_d I_p)` for the weight (eq 22),
  :math:`\operatorname{diag}(\phi'(h))` for an activation (eq 29), the row
  :math:`(\partial f / \partial \hat y)^\top` for a loss;
* the label each factor is written with, and the lecture equation it reproduces.

The engine (:mod:`jacobian_calc.graph`) only ever reads this table; adding a primitive
never touches the engine.

The functions at the bottom (:func:`linear_weight_jacobian` and friends) are the same
literal factors for users who want one of them on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from .activations import get_activation
from ..core.errors import ShapeError
from .losses import get_loss
from ..core.notation import component, dims, latex_name, pretty, subscript
from ..core.validation import as_real_array
from ..core.kron import KronEyeArray, transpose_kron_eye
from ..core.vec import eye_kron

__all__ = [
    "Partial",
    "Primitive",
    "PRIMITIVES",
    "linear_weight_jacobian",
    "linear_input_jacobian",
    "activation_jacobian",
    "loss_gradient",
]

Matrix = Any  # numpy.ndarray or a scipy sparse array, always 2-D


class NodeLike(Protocol):
    """What a primitive reads of a node: its value, its arguments and its parameters."""

    name: str
    value: np.ndarray
    args: tuple[NodeLike, ...]
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Partial:
    """The derivative of a primitive's output with respect to one argument.

    Attributes
    ----------
    build : callable
        ``node -> matrix``: the literal Jacobian ∂vec(node)/∂vec(argument), shape
        (node size, argument size), dense or scipy sparse.
    label, latex : callable
        ``node -> str``: how the factor is written (``"W3"``, ``"diag(φ′(h2))"``).
    equation : str or None
        The lecture equation the factor reproduces (``"22"``), if any.
    """

    build: Callable[[NodeLike], Matrix]
    label: Callable[[NodeLike], str]
    latex: Callable[[NodeLike], str]
    equation: Callable[[NodeLike], str | None] = lambda node: None


@dataclass(frozen=True)
class Primitive:
    """One operation: forward, output shape, one :class:`Partial` per argument, written form.

    Attributes
    ----------
    name : str
    arity : int
    forward : callable
        ``(*argument values, **params) -> ndarray``.
    shape : callable
        ``(args, params) -> tuple``: the output shape; raises :class:`ShapeError` naming
        the arguments when they do not fit together.
    partials : tuple of Partial
        ``partials[i]`` differentiates with respect to argument ``i``.
    formula, latex : callable
        ``node -> str``: the right-hand side, e.g. ``"W1 x"``.
    """

    name: str
    arity: int
    forward: Callable[..., np.ndarray]
    shape: Callable[[tuple[NodeLike, ...], Mapping[str, Any]], tuple[int, ...]]
    partials: tuple[Partial, ...]
    formula: Callable[[NodeLike], str]
    latex: Callable[[NodeLike], str]


def _arg(node: NodeLike, i: int) -> str:
    return pretty(node.args[i].name)


def _arg_tex(node: NodeLike, i: int) -> str:
    return latex_name(node.args[i].name)


# ------------------------------------------------------------------------- matmul
def _matmul_shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    a, b = args
    if a.value.ndim != 2:
        raise ShapeError(f"in {pretty(a.name)} @ {pretty(b.name)}, the left factor "
                         f"{pretty(a.name)} must be a matrix, got shape {a.value.shape}")
    if b.value.ndim not in (1, 2):
        raise ShapeError(f"in {pretty(a.name)} @ {pretty(b.name)}, the right factor "
                         f"{pretty(b.name)} must be a vector or a matrix, got shape {b.value.shape}")
    m, k = a.value.shape
    if b.value.shape[0] != k:
        what = "entries" if b.value.ndim == 1 else "rows"
        raise ShapeError(
            f"in {pretty(a.name)} @ {pretty(b.name)}: {pretty(a.name)} is {dims(a.value.shape)}, "
            f"so {pretty(b.name)} needs {k} {what}, but {pretty(b.name)} has shape {b.value.shape}"
        )
    return (m,) + b.value.shape[1:]


def _kron_label(node: NodeLike) -> str:
    b, m = node.args[1], node.value.shape[0]
    if b.value.ndim == 2:
        return f"{pretty(b.name)}ᵀ⊗I{subscript(m)}"
    d, eye = b.value.shape[0], f"I{subscript(m)}"
    parts = [f"{component(b.name, 1)}{eye}"]
    if d > 2:
        parts.append("…")
    if d > 1:
        parts.append(f"{component(b.name, d)}{eye}")
    return "(" + ", ".join(parts) + ")" if d > 1 else parts[0]


def _kron_latex(node: NodeLike) -> str:
    b, m = node.args[1], node.value.shape[0]
    if b.value.ndim == 2:
        return rf"{latex_name(b.name)}^\top \otimes I_{{{m}}}"
    d = b.value.shape[0]
    first = rf"{component(b.name, 1, latex=True)} I_{{{m}}}"
    if d == 1:
        return first
    middle = r", \dots, " if d > 2 else ", "
    return rf"\left({first}{middle}{component(b.name, d, latex=True)} I_{{{m}}}\right)"


def _matmul_right_label(node: NodeLike) -> str:
    a, b = node.args
    if b.value.ndim == 1:
        return pretty(a.name)
    return f"I{subscript(b.value.shape[1])}⊗{pretty(a.name)}"


def _matmul_right_latex(node: NodeLike) -> str:
    a, b = node.args
    if b.value.ndim == 1:
        return latex_name(a.name)
    return rf"I_{{{b.value.shape[1]}}} \otimes {latex_name(a.name)}"


def _matmul_right(node: NodeLike) -> Matrix:
    a, b = node.args
    if b.value.ndim == 1:
        return a.value  # eq (11): the Jacobian of Wx with respect to x is W itself, dense
    return eye_kron(b.value.shape[1], a.value)


_MATMUL = Primitive(
    name="matmul",
    arity=2,
    forward=lambda a, b: a @ b,
    shape=_matmul_shape,
    partials=(
        Partial(
            build=lambda node: transpose_kron_eye(node.args[1].value, node.value.shape[0]),
            label=_kron_label,
            latex=_kron_latex,
            equation=lambda node: "22" if node.args[1].value.ndim == 1 else None,
        ),
        Partial(
            build=_matmul_right,
            label=_matmul_right_label,
            latex=_matmul_right_latex,
            equation=lambda node: "11" if node.args[1].value.ndim == 1 else None,
        ),
    ),
    formula=lambda node: f"{_arg(node, 0)} {_arg(node, 1)}",
    latex=lambda node: f"{_arg_tex(node, 0)} {_arg_tex(node, 1)}",
)


# -------------------------------------------------------------------- elementwise
def _diagonal(values: np.ndarray) -> sp.csr_array:
    """A sparse diagonal matrix built from its index pattern, one stored entry per row."""
    d = values.reshape(-1, order="F")
    n = d.size
    idx = np.arange(n + 1, dtype=np.int32 if n < 2**31 - 1 else np.int64)
    return sp.csr_array((d.copy(), idx[:-1], idx), shape=(n, n))


def _symbol(node: NodeLike) -> str:
    return node.params.get("symbol") or node.params["fn"]


def _symbol_latex(node: NodeLike) -> str:
    sym = _symbol(node)
    return {"φ": r"\phi", "σ": r"\sigma"}.get(sym, rf"\operatorname{{{sym}}}")


_ELEMENTWISE = Primitive(
    name="elementwise",
    arity=1,
    forward=lambda h, fn, symbol=None: get_activation(fn).function(h),
    shape=lambda args, params: (get_activation(params["fn"]), args[0].value.shape)[1],
    partials=(
        Partial(
            # eq (29): φ acts entry by entry, so its Jacobian is diagonal.
            build=lambda node: _diagonal(get_activation(node.params["fn"]).derivative(
                node.args[0].value)),
            label=lambda node: f"diag({_symbol(node)}′({_arg(node, 0)}))",
            latex=lambda node: rf"\operatorname{{diag}}({_symbol_latex(node)}'({_arg_tex(node, 0)}))",
            equation=lambda node: "29",
        ),
    ),
    formula=lambda node: f"{_symbol(node)}({_arg(node, 0)})",
    latex=lambda node: rf"{_symbol_latex(node)}({_arg_tex(node, 0)})",
)


# ---------------------------------------------------------------------------- loss
def _loss_shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    get_loss(params["loss"])
    yhat, y = args
    if yhat.value.shape != y.value.shape:
        raise ShapeError(
            f"the loss compares {pretty(yhat.name)} and {pretty(y.name)}, which must have the "
            f"same shape: {pretty(yhat.name)} has shape {yhat.value.shape} but "
            f"{pretty(y.name)} has shape {y.value.shape}"
        )
    return ()


def _loss_text(node: NodeLike, template: str) -> str:
    return template.format(yhat=_arg(node, 0), y=_arg(node, 1))


def _loss_tex(node: NodeLike, template: str) -> str:
    return template.format(yhat=_arg_tex(node, 0), y=_arg_tex(node, 1))


def _row(column_like: np.ndarray) -> np.ndarray:
    """vec(G)ᵀ: a gradient shaped like its variable as a row (eq 24 read backwards)."""
    return column_like.reshape(1, -1, order="F")


_LOSS = Primitive(
    name="loss",
    arity=2,
    forward=lambda yhat, y, loss: np.asarray(get_loss(loss).value(yhat, y)),
    shape=_loss_shape,
    partials=(
        Partial(
            build=lambda node: _row(get_loss(node.params["loss"]).gradient(
                node.args[0].value, node.args[1].value)),
            label=lambda node: "(" + _loss_text(node, get_loss(node.params["loss"]).gradient_formula) + ")ᵀ",
            latex=lambda node: r"\left(" + _loss_tex(node, get_loss(node.params["loss"]).gradient_latex) + r"\right)^\top",
        ),
        Partial(
            build=lambda node: _row(get_loss(node.params["loss"]).target_gradient(
                node.args[0].value, node.args[1].value)),
            label=lambda node: f"(∂{pretty(node.name)}/∂{_arg(node, 1)})ᵀ",
            latex=lambda node: rf"\left(\frac{{\partial {latex_name(node.name)}}}{{\partial {_arg_tex(node, 1)}}}\right)^\top",
        ),
    ),
    formula=lambda node: _loss_text(node, get_loss(node.params["loss"]).formula),
    latex=lambda node: _loss_tex(node, get_loss(node.params["loss"]).latex),
)


#: The one table of primitives, by name.
PRIMITIVES: dict[str, Primitive] = {p.name: p for p in (_MATMUL, _ELEMENTWISE, _LOSS)}


# ------------------------------------------------- the same factors, one at a time
def linear_weight_jacobian(x: object, p: int) -> KronEyeArray | sp.csc_array:
    r"""∂(Wx)/∂vec(W) for W with ``p`` rows: :math:`(x_1 I_p, \dots, x_d I_p) = x^\top \otimes I_p` (eq 22).

    Built directly from its structure, d scaled identities, with the values of ``x``
    written once each per stored entry (never through a dense matrix or
    ``scipy.sparse.kron``); exactly ``p*d`` stored entries, zeros of ``x`` included.

    Parameters
    ----------
    x : array_like, shape (d,) or (d, 1); or (d, n) for a batch of n columns
    p : int
        Rows of W.

    Returns
    -------
    KronEyeArray, shape (p, p*d)
        A scipy sparse array kept as the d diagonals of its transpose (8 bytes per stored
        entry; see :mod:`jacobian_calc.kron`). For a batch, (p*n, p*d)
        (:math:`X^\top \otimes I_p`) as a ``scipy.sparse.csc_array``.

    Examples
    --------
    >>> linear_weight_jacobian([1.0, 2.0], 2).toarray()
    array([[1., 0., 2., 0.],
           [0., 1., 0., 2.]])
    """
    arr = as_real_array(x, "x", ndim=(1, 2))
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return transpose_kron_eye(arr, p)


def linear_input_jacobian(W: object) -> np.ndarray:
    """∂(Wx)/∂x = W (eq 11), dense: shape (p, d).

    Examples
    --------
    >>> linear_input_jacobian([[1, 2], [3, 4]])
    array([[1., 2.],
           [3., 4.]])
    """
    return as_real_array(W, "W", ndim=(2,))


def activation_jacobian(h: object, activation: str = "sigmoid") -> sp.csr_array:
    r"""∂φ(h)/∂h = :math:`\operatorname{diag}(\phi'(h))` (eq 29), sparse with one entry per row.

    Parameters
    ----------
    h : array_like, shape (n,) or (n, m)
        For a matrix, the diagonal holds φ′ of vec(h).
    activation : str
        One of :data:`~jacobian_calc.activations.ACTIVATIONS`.

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
    act = get_activation(activation)
    return _diagonal(act.derivative(as_real_array(h, "h", ndim=(1, 2))))


def loss_gradient(yhat: object, y: object, loss: str = "squared_error") -> np.ndarray:
    """The row gradient (∂f/∂ŷ)ᵀ of a loss, shape (1, size(ŷ)) (eq 1 layout).

    Examples
    --------
    >>> loss_gradient([1.0, 2.0], [0.0, 2.0])
    array([[1., 0.]])
    """
    fn = get_loss(loss)
    a = as_real_array(yhat, "yhat", ndim=(1, 2))
    b = as_real_array(y, "y", ndim=(1, 2))
    if a.shape != b.shape:
        raise ShapeError(f"yhat and y must have the same shape, got {a.shape} and {b.shape}")
    return _row(fn.gradient(a, b))


# =====================================================================================
# Primitives of the expression API (issue 4): sums, scalings, transposes, Hadamard
# products, pointwise functions, reductions, inverse, determinants, softmax, bias add.
# Each factor is built directly — sparse from its index pattern where it has structure,
# dense where it really is dense — and labelled with the formula it stands for.
# =====================================================================================
from ..core.errors import DomainError, SingularMatrixError  # noqa: E402  (kept beside its users)
from ..core.vec import (  # noqa: E402
    block_diagonal,
    commutation_matrix,
    kron_dense,
    ones_kron_eye,
)

#: Matrices with a larger 2-norm condition number are treated as singular.
SINGULAR_CONDITION = 1e12


def _identity(n: int) -> sp.csr_array:
    return sp.eye_array(n, format="csr")


def _eye_label(node: NodeLike) -> str:
    return f"I{subscript(node.value.size)}"


def _eye_latex(node: NodeLike) -> str:
    return rf"I_{{{node.value.size}}}"


def _same_shape(op: str) -> Callable[[tuple[NodeLike, ...], Mapping[str, Any]], tuple[int, ...]]:
    def shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
        a, b = args
        if a.value.shape != b.value.shape:
            raise ShapeError(
                f"{pretty(a.name)} {op} {pretty(b.name)}: {pretty(a.name)} is "
                f"{dims(a.value.shape) or 'a scalar'} but {pretty(b.name)} is "
                f"{dims(b.value.shape) or 'a scalar'}; {op} needs equal shapes "
                f"(no broadcasting)"
            )
        return a.value.shape
    return shape


def _number(value: float) -> str:
    return f"{value:g}"


_ADD = Primitive(
    name="add",
    arity=2,
    forward=lambda a, b: a + b,
    shape=_same_shape("+"),
    partials=(
        Partial(build=lambda node: _identity(node.value.size), label=_eye_label, latex=_eye_latex),
        Partial(build=lambda node: _identity(node.value.size), label=_eye_label, latex=_eye_latex),
    ),
    formula=lambda node: f"{_arg(node, 0)} + {_arg(node, 1)}",
    latex=lambda node: f"{_arg_tex(node, 0)} + {_arg_tex(node, 1)}",
)

_SUB = Primitive(
    name="sub",
    arity=2,
    forward=lambda a, b: a - b,
    shape=_same_shape("-"),
    partials=(
        Partial(build=lambda node: _identity(node.value.size), label=_eye_label, latex=_eye_latex),
        Partial(build=lambda node: -_identity(node.value.size),
                label=lambda node: f"−{_eye_label(node)}",
                latex=lambda node: f"-{_eye_latex(node)}"),
    ),
    formula=lambda node: f"{_arg(node, 0)} − {_arg(node, 1)}",
    latex=lambda node: f"{_arg_tex(node, 0)} - {_arg_tex(node, 1)}",
)

_SCALE = Primitive(
    name="scale",
    arity=1,
    forward=lambda a, c: c * a,
    shape=lambda args, params: args[0].value.shape,
    partials=(
        Partial(build=lambda node: node.params["c"] * _identity(node.value.size),
                label=lambda node: f"{_number(node.params['c'])}·{_eye_label(node)}",
                latex=lambda node: rf"{_number(node.params['c'])}\,{_eye_latex(node)}"),
    ),
    formula=lambda node: f"{_number(node.params['c'])}·{_arg(node, 0)}",
    latex=lambda node: rf"{_number(node.params['c'])}\,{_arg_tex(node, 0)}",
)


def _transpose_forward(a: np.ndarray) -> np.ndarray:
    # A vector is a column, so its transpose is a 1×n row (a matrix).
    return a[None, :].copy() if a.ndim == 1 else a.T.copy()


def _transpose_shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    a = args[0]
    if a.value.ndim == 0:
        raise ShapeError(f"{pretty(a.name)}ᵀ: {pretty(a.name)} is a scalar; transpose needs a "
                         f"vector or a matrix")
    return (1, a.value.shape[0]) if a.value.ndim == 1 else a.value.shape[::-1]


def _transpose_factor(node: NodeLike) -> Matrix:
    a = node.args[0].value
    if a.ndim == 1:
        return _identity(a.size)  # vec of a column and of its row are the same list
    return commutation_matrix(*a.shape)


def _transpose_label(node: NodeLike) -> str:
    a = node.args[0].value
    if a.ndim == 1:
        return f"I{subscript(a.size)}"
    return f"K{subscript(a.shape[0])},{subscript(a.shape[1])}"


def _transpose_latex(node: NodeLike) -> str:
    a = node.args[0].value
    if a.ndim == 1:
        return rf"I_{{{a.size}}}"
    return rf"K_{{{a.shape[0]},{a.shape[1]}}}"


_TRANSPOSE = Primitive(
    name="transpose",
    arity=1,
    forward=_transpose_forward,
    shape=_transpose_shape,
    partials=(Partial(build=_transpose_factor, label=_transpose_label, latex=_transpose_latex),),
    formula=lambda node: f"{_arg(node, 0)}ᵀ",
    latex=lambda node: rf"{_arg_tex(node, 0)}^\top",
)

# A scalar expression times a vector or matrix: ∂vec(cX)/∂c = vec(X), ∂vec(cX)/∂vec(X) = c·I.
_SCALAR_MUL = Primitive(
    name="scalar_mul",
    arity=2,
    forward=lambda c, a: c * a,
    shape=lambda args, params: args[1].value.shape,
    partials=(
        Partial(build=lambda node: node.args[1].value.reshape(-1, 1, order="F"),
                label=lambda node: f"vec({_arg(node, 1)})",
                latex=lambda node: rf"\operatorname{{vec}}({_arg_tex(node, 1)})"),
        Partial(build=lambda node: float(node.args[0].value) * _identity(node.value.size),
                label=lambda node: f"{_arg(node, 0)}·{_eye_label(node)}",
                latex=lambda node: rf"{_arg_tex(node, 0)}\,{_eye_latex(node)}"),
    ),
    formula=lambda node: f"{_arg(node, 0)}·{_arg(node, 1)}",
    latex=lambda node: rf"{_arg_tex(node, 0)}\,{_arg_tex(node, 1)}",
)

# A vector is a column (the ML layout, eq 6): reading an n-vector as the n×1 matrix it
# stands for changes no entry of vec, so the factor is the identity.
_COLUMN = Primitive(
    name="column",
    arity=1,
    forward=lambda a: a.reshape(-1, 1),
    shape=lambda args, params: (args[0].value.size, 1),
    partials=(Partial(build=lambda node: _identity(node.value.size), label=_eye_label,
                      latex=_eye_latex),),
    formula=lambda node: f"{_arg(node, 0)} as a column",
    latex=lambda node: _arg_tex(node, 0),
)

_HADAMARD = Primitive(
    name="hadamard",
    arity=2,
    forward=lambda a, b: a * b,
    shape=_same_shape("⊙"),
    partials=(
        Partial(build=lambda node: _diagonal(node.args[1].value),
                label=lambda node: f"diag(vec({_arg(node, 1)}))",
                latex=lambda node: rf"\operatorname{{diag}}(\operatorname{{vec}}({_arg_tex(node, 1)}))"),
        Partial(build=lambda node: _diagonal(node.args[0].value),
                label=lambda node: f"diag(vec({_arg(node, 0)}))",
                latex=lambda node: rf"\operatorname{{diag}}(\operatorname{{vec}}({_arg_tex(node, 0)}))"),
    ),
    formula=lambda node: f"{_arg(node, 0)} ⊙ {_arg(node, 1)}",
    latex=lambda node: rf"{_arg_tex(node, 0)} \odot {_arg_tex(node, 1)}",
)


def _finite_diagonal(values: np.ndarray, what: str) -> sp.csr_array:
    if not np.all(np.isfinite(values)):
        raise DomainError(f"the derivative of {what} is not finite at this point")
    return _diagonal(values)


def _power_shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    a, p = args[0], params["p"]
    if p != int(p) and np.any(a.value < 0):
        raise DomainError(f"{pretty(a.name)}**{_number(p)}: a non-integer power needs "
                          f"non-negative entries, {pretty(a.name)} has negative ones")
    if p < 0 and np.any(a.value == 0):
        raise DomainError(f"{pretty(a.name)}**{_number(p)}: a negative power of an entry 0")
    return a.value.shape


_POWER = Primitive(
    name="power",
    arity=1,
    forward=lambda a, p: np.power(a, p),
    shape=_power_shape,
    partials=(
        Partial(build=lambda node: _finite_diagonal(
                    node.params["p"] * np.power(node.args[0].value, node.params["p"] - 1),
                    f"{_arg(node, 0)}**{_number(node.params['p'])}"),
                label=lambda node: f"diag({_number(node.params['p'])}·{_arg(node, 0)}^"
                                   f"{_number(node.params['p'] - 1)})",
                latex=lambda node: rf"\operatorname{{diag}}({_number(node.params['p'])}\,"
                                   rf"{_arg_tex(node, 0)}^{{{_number(node.params['p'] - 1)}}})",
                # pointwise, so diagonal, as diag(φ′(h)) in eq (29)
                equation=lambda node: "29"),
    ),
    formula=lambda node: f"{_arg(node, 0)}^{_number(node.params['p'])}",
    latex=lambda node: rf"{_arg_tex(node, 0)}^{{{_number(node.params['p'])}}}",
)

_EXP = Primitive(
    name="exp",
    arity=1,
    forward=np.exp,
    shape=lambda args, params: args[0].value.shape,
    partials=(
        Partial(build=lambda node: _diagonal(node.value),  # exp′ = exp, already computed
                label=lambda node: f"diag(exp({_arg(node, 0)}))",
                latex=lambda node: rf"\operatorname{{diag}}(\exp({_arg_tex(node, 0)}))",
                # pointwise, so diagonal, as diag(φ′(h)) in eq (29)
                equation=lambda node: "29"),
    ),
    formula=lambda node: f"exp({_arg(node, 0)})",
    latex=lambda node: rf"\exp({_arg_tex(node, 0)})",
)


def _log_shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    a = args[0]
    if np.any(a.value <= 0):
        raise DomainError(f"log({pretty(a.name)}): {pretty(a.name)} has "
                          f"{int(np.sum(a.value <= 0))} non-positive entries; log needs > 0")
    return a.value.shape


_LOG = Primitive(
    name="log",
    arity=1,
    forward=np.log,
    shape=_log_shape,
    partials=(
        Partial(build=lambda node: _diagonal(1.0 / node.args[0].value),
                label=lambda node: f"diag(1/{_arg(node, 0)})",
                latex=lambda node: rf"\operatorname{{diag}}(1/{_arg_tex(node, 0)})",
                # pointwise, so diagonal, as diag(φ′(h)) in eq (29)
                equation=lambda node: "29"),
    ),
    formula=lambda node: f"log({_arg(node, 0)})",
    latex=lambda node: rf"\log({_arg_tex(node, 0)})",
)

_SUM = Primitive(
    name="sum",
    arity=1,
    forward=lambda a: np.asarray(np.sum(a)),
    shape=lambda args, params: (),
    partials=(
        Partial(build=lambda node: np.ones((1, node.args[0].value.size)),
                label=lambda node: f"1{subscript(node.args[0].value.size)}ᵀ",
                latex=lambda node: rf"\mathbf{{1}}_{{{node.args[0].value.size}}}^\top"),
    ),
    formula=lambda node: f"sum({_arg(node, 0)})",
    latex=lambda node: rf"\textstyle\sum {_arg_tex(node, 0)}",
)


def _square_shape(what: str, invertible: bool) -> Callable[..., tuple[int, ...]]:
    def shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
        a = args[0]
        if a.value.ndim != 2 or a.value.shape[0] != a.value.shape[1]:
            raise ShapeError(f"{what}({pretty(a.name)}): {pretty(a.name)} must be a square "
                             f"matrix, got shape {a.value.shape}")
        if invertible:
            check_invertible(a.value, f"{what}({pretty(a.name)})", pretty(a.name))
        return () if what != "inv" else a.value.shape
    return shape


def check_invertible(X: np.ndarray, where: str, name: str) -> None:
    """Raise :class:`SingularMatrixError` when ``X`` is singular to working precision."""
    cond = float(np.linalg.cond(X)) if np.all(np.isfinite(X)) else float("inf")
    if not np.isfinite(cond) or cond > SINGULAR_CONDITION:
        raise SingularMatrixError(
            f"{where}: {name} is singular (condition number {cond:.3g}, above "
            f"{SINGULAR_CONDITION:.0e})"
        )


def _trace_factor(node: NodeLike) -> sp.csr_array:
    # vec(I)ᵀ: a 1 at every diagonal position i + n·i of vec(X).
    n = node.args[0].value.shape[0]
    cols = np.arange(n, dtype=np.int64) * (n + 1)
    return sp.csr_array((np.ones(n), cols, np.array([0, n])), shape=(1, n * n))


_TRACE = Primitive(
    name="trace",
    arity=1,
    forward=lambda a: np.asarray(np.trace(a)),
    shape=_square_shape("tr", invertible=False),
    partials=(
        Partial(build=_trace_factor,
                label=lambda node: f"vec(I{subscript(node.args[0].value.shape[0])})ᵀ",
                latex=lambda node: rf"\operatorname{{vec}}(I_{{{node.args[0].value.shape[0]}}})^\top"),
    ),
    formula=lambda node: f"tr({_arg(node, 0)})",
    latex=lambda node: rf"\operatorname{{tr}}({_arg_tex(node, 0)})",
)

_INV = Primitive(
    name="inv",
    arity=1,
    forward=np.linalg.inv,
    shape=_square_shape("inv", invertible=True),
    partials=(
        # d(X⁻¹) = −X⁻¹ dX X⁻¹, so vec(d X⁻¹) = −(X⁻ᵀ ⊗ X⁻¹) vec(dX); dense.
        Partial(build=lambda node: -kron_dense(node.value.T, node.value),
                label=lambda node: f"−({_arg(node, 0)}⁻ᵀ⊗{_arg(node, 0)}⁻¹)",
                latex=lambda node: rf"-\left({_arg_tex(node, 0)}^{{-\top}} \otimes "
                                   rf"{_arg_tex(node, 0)}^{{-1}}\right)"),
    ),
    formula=lambda node: f"{_arg(node, 0)}⁻¹",
    latex=lambda node: rf"{_arg_tex(node, 0)}^{{-1}}",
)


def cofactor(X: np.ndarray) -> np.ndarray:
    r"""The cofactor matrix :math:`\operatorname{adj}(X)^\top`, which is :math:`\det(X)\,X^{-\top}` when X is invertible.

    Computed from the SVD :math:`X = U \Sigma V^\top` as
    :math:`\det(U)\det(V)\, U \operatorname{adj}(\Sigma) V^\top`, so it is defined (and
    accurate) for singular X too, where ∂det(X)/∂X is still the cofactor matrix.
    """
    U, s, Vt = np.linalg.svd(X)
    n = s.size
    others = np.array([np.prod(np.delete(s, i)) for i in range(n)]) if n > 1 else np.ones(1)
    sign = np.linalg.det(U) * np.linalg.det(Vt)
    return sign * (U * others) @ Vt


_DET = Primitive(
    name="det",
    arity=1,
    forward=lambda a: np.asarray(np.linalg.det(a)),
    shape=_square_shape("det", invertible=False),
    partials=(
        Partial(build=lambda node: cofactor(node.args[0].value).reshape(1, -1, order="F"),
                label=lambda node: f"det({_arg(node, 0)})·vec({_arg(node, 0)}⁻ᵀ)ᵀ",
                latex=lambda node: rf"\det({_arg_tex(node, 0)})\,\operatorname{{vec}}"
                                   rf"({_arg_tex(node, 0)}^{{-\top}})^\top"),
    ),
    formula=lambda node: f"det({_arg(node, 0)})",
    latex=lambda node: rf"\det({_arg_tex(node, 0)})",
)

_LOGDET = Primitive(
    name="logdet",
    arity=1,
    forward=lambda a: np.asarray(np.linalg.slogdet(a)[1]),
    shape=_square_shape("logdet", invertible=True),
    partials=(
        Partial(build=lambda node: np.linalg.inv(node.args[0].value).T.reshape(1, -1, order="F"),
                label=lambda node: f"vec({_arg(node, 0)}⁻ᵀ)ᵀ",
                latex=lambda node: rf"\operatorname{{vec}}({_arg_tex(node, 0)}^{{-\top}})^\top"),
    ),
    formula=lambda node: f"log|det({_arg(node, 0)})|",
    latex=lambda node: rf"\log\lvert\det({_arg_tex(node, 0)})\rvert",
)


def _softmax_forward(a: np.ndarray) -> np.ndarray:
    from scipy.special import softmax
    return softmax(a, axis=0)  # column by column for a matrix


def _softmax_factor(node: NodeLike) -> Matrix:
    s = node.value
    if s.ndim == 1:
        return np.diag(s) - np.outer(s, s)  # dense: every entry depends on every input
    cols = s.T  # (n, k): one softmax per column
    blocks = cols[:, :, None] * np.eye(s.shape[0])[None] - cols[:, :, None] * cols[:, None, :]
    return block_diagonal(blocks)


def _softmax_shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    a = args[0]
    if a.value.ndim not in (1, 2):
        raise ShapeError(f"softmax({pretty(a.name)}) needs a vector or a matrix (one softmax "
                         f"per column), got shape {a.value.shape}")
    return a.value.shape


_SOFTMAX = Primitive(
    name="softmax",
    arity=1,
    forward=_softmax_forward,
    shape=_softmax_shape,
    partials=(
        Partial(build=_softmax_factor,
                label=lambda node: "diag(s) − s sᵀ" if node.value.ndim == 1 else
                                   f"blockdiag(diag(sⱼ) − sⱼ sⱼᵀ, j = 1…{node.value.shape[1]})",
                latex=lambda node: r"\operatorname{diag}(s) - s s^\top" if node.value.ndim == 1
                                   else rf"\operatorname{{blockdiag}}_{{j=1}}^{{{node.value.shape[1]}}}"
                                        r"\left(\operatorname{diag}(s_j) - s_j s_j^\top\right)"),
    ),
    formula=lambda node: f"softmax({_arg(node, 0)})",
    latex=lambda node: rf"\operatorname{{softmax}}({_arg_tex(node, 0)})",
)


def _bias_shape(args: tuple[NodeLike, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    h, b = args
    if b.value.ndim != 1 or h.value.ndim not in (1, 2) or h.value.shape[0] != b.value.shape[0]:
        raise ShapeError(
            f"{pretty(h.name)} + {pretty(b.name)}: the bias {pretty(b.name)} must be a vector "
            f"with one entry per row of {pretty(h.name)}; {pretty(h.name)} is "
            f"{dims(h.value.shape) or 'a scalar'} but {pretty(b.name)} has shape {b.value.shape}"
        )
    return h.value.shape


def _bias_forward(h: np.ndarray, b: np.ndarray) -> np.ndarray:
    return h + (b if h.ndim == 1 else b[:, None])  # the same b added to every column


def _bias_label(node: NodeLike) -> str:
    p = node.args[1].value.size
    n = 1 if node.value.ndim == 1 else node.value.shape[1]
    return f"I{subscript(p)}" if n == 1 else f"1{subscript(n)}⊗I{subscript(p)}"


def _bias_latex(node: NodeLike) -> str:
    p = node.args[1].value.size
    n = 1 if node.value.ndim == 1 else node.value.shape[1]
    return rf"I_{{{p}}}" if n == 1 else rf"\mathbf{{1}}_{{{n}}} \otimes I_{{{p}}}"


_BIAS = Primitive(
    name="bias_add",
    arity=2,
    forward=_bias_forward,
    shape=_bias_shape,
    partials=(
        Partial(build=lambda node: _identity(node.value.size), label=_eye_label, latex=_eye_latex),
        Partial(build=lambda node: ones_kron_eye(
                    1 if node.value.ndim == 1 else node.value.shape[1], node.args[1].value.size),
                label=_bias_label, latex=_bias_latex),
    ),
    formula=lambda node: f"{_arg(node, 0)} + {_arg(node, 1)}",
    latex=lambda node: f"{_arg_tex(node, 0)} + {_arg_tex(node, 1)}",
)

PRIMITIVES.update({p.name: p for p in (
    _ADD, _SUB, _SCALE, _TRANSPOSE, _HADAMARD, _POWER, _EXP, _LOG, _SUM, _TRACE, _INV, _DET,
    _LOGDET, _SOFTMAX, _BIAS, _COLUMN, _SCALAR_MUL,
)})
