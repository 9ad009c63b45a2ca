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
from .errors import ShapeError
from .losses import get_loss
from .notation import component, dims, latex_name, pretty, subscript
from .validation import as_real_array
from .vec import eye_kron, transpose_kron_eye

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
    (a, b), m = node.args, node.value.shape[0]
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
    (a, b), m = node.args, node.value.shape[0]
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
def linear_weight_jacobian(x: object, p: int) -> sp.csc_array:
    r"""∂(Wx)/∂vec(W) for W with ``p`` rows: :math:`(x_1 I_p, \dots, x_d I_p) = x^\top \otimes I_p` (eq 22).

    Built directly from its index pattern (never through a dense matrix or
    ``scipy.sparse.kron``); exactly ``p*d`` stored entries, zeros of ``x`` included.

    Parameters
    ----------
    x : array_like, shape (d,) or (d, 1); or (d, n) for a batch of n columns
    p : int
        Rows of W.

    Returns
    -------
    scipy.sparse.csc_array, shape (p, p*d); (p*n, p*d) for a batch (:math:`X^\top \otimes I_p`)

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
