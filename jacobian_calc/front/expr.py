r"""Expressions: write a formula with numpy-like operators, get its literal Jacobian.

An :class:`Expr` is a thin handle on one node of the graph engine
(:mod:`jacobian_calc.graph`): every operator and function below applies one entry of the
primitive table (:data:`~jacobian_calc.primitives.PRIMITIVES`) and computes the value at
once. :func:`jacobian` then runs the same tail-to-head accumulation that the lecture
network uses, so a variable reached along several paths — ``X`` twice in
:math:`\operatorname{tr}(A X X^\top)`, a residual ``X + f(X)``, a shared weight — gets the
sum over its paths, and :func:`derivation` prints each path with its factors and shapes.

>>> import numpy as np, jacobian_calc as jc
>>> A = jc.var("A", [[1.0, 2.0], [0.0, 1.0]])
>>> X = jc.var("X", [[1.0, 0.0], [2.0, 1.0]])
>>> F = jc.trace(A @ X @ X.T)
>>> F.shape
()
>>> jc.grad(F, X)  # (A + Aᵀ) X, the sum of the two paths through X
array([[6., 2.],
       [6., 2.]])

Conventions
-----------
* Values are scalars ``()``, vectors ``(n,)`` (columns) or matrices ``(m, n)``; Jacobians
  flatten matrices by column-stacking vec (eq 16), shape (size(F), size(X)) (eq 3).
* ``Xᵀ`` of a vector ``x`` (n,) is the 1×n row, a matrix.
* ``*`` is the Hadamard product of two expressions of equal shape, or a scalar (a Python
  number or a scalar expression such as ``sum(X)``) times an expression; ``/`` divides
  by a Python number; ``**`` raises entry by entry to a Python number. Nothing else is
  broadcast: a mismatch is a
  :class:`~jacobian_calc.errors.ShapeError` that names both operands and their shapes.
* :func:`softmax` of a matrix is taken column by column (each column an example).
* Intermediate results are named ``u1, u2, …`` in the order they are computed; the
  numbering is refreshed each time an expression is differentiated, and such names are
  reserved (a :func:`var` may not use them). :meth:`Expr.named` gives one a name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import count
from numbers import Real
from typing import Any

import numpy as np

from ..engine.derivation import Derivation, derive
from ..core.errors import DomainError, JacobianCalcError, ShapeError
from ..engine.graph import Graph, Node, _topological, apply, leaf
from ..core.jacobian import Jacobian
from ..core.notation import dims, pretty
from ..ops.primitives import check_invertible

__all__ = [
    "Expr",
    "var",
    "jacobian",
    "grad",
    "derivation",
    "sigmoid",
    "tanh",
    "relu",
    "softplus",
    "exp",
    "log",
    "sum",
    "trace",
    "inv",
    "det",
    "logdet",
    "softmax",
    "squared_error",
    "softmax_cross_entropy",
    "bias_add",
    "FUNCTIONS",
]

_AUTO = re.compile(r"u[0-9]+\Z")
_fresh = count(1)

# Precedence of the written form, used only to place parentheses in texts and messages.
_ATOM, _POSTFIX, _UNARY, _PRODUCT, _SUM = 5, 4, 3, 2, 1


def _auto_name() -> str:
    return f"u{next(_fresh)}"


def _size_text(shape: tuple[int, ...]) -> str:
    if shape == ():
        return "a scalar"
    if len(shape) == 1:
        return f"a vector of length {shape[0]}"
    return dims(shape)


class Expr:
    """A value in a composition: a variable from :func:`var` or the result of an operation.

    Attributes
    ----------
    value : numpy.ndarray
        Shape ``()``, ``(n,)`` or ``(m, n)``, float64, read-only.
    shape : tuple of int
    name : str
        The node's name: the variable's name, or ``u1, u2, …`` for intermediate results.
    text : str
        The expression as written, e.g. ``"tr(A @ X @ Xᵀ)"``; used in error messages.
    node : Node
        The graph node (for use with :mod:`jacobian_calc.graph` directly).
    """

    __slots__ = ("_node", "_text", "_prec")
    # Make numpy defer to our reflected operators (ndarray @ Expr → Expr.__rmatmul__).
    __array_ufunc__ = None

    def __init__(self, node: Node, text: str, prec: int = _ATOM) -> None:
        self._node, self._text, self._prec = node, text, prec

    # ------------------------------------------------------------------ attributes
    @property
    def node(self) -> Node:
        return self._node

    @property
    def value(self) -> np.ndarray:
        view = self._node.value.view()
        view.flags.writeable = False
        return view

    @property
    def shape(self) -> tuple[int, ...]:
        return self._node.value.shape

    @property
    def size(self) -> int:
        return int(self._node.value.size)

    @property
    def ndim(self) -> int:
        return self._node.value.ndim

    @property
    def name(self) -> str:
        return self._node.name

    @property
    def text(self) -> str:
        return self._text

    def named(self, name: str) -> Expr:
        """Give this intermediate result a name (shown in derivations); returns ``self``.

        Examples
        --------
        >>> import jacobian_calc as jc
        >>> x = jc.var("x", [1.0, 2.0])
        >>> jc.tanh(x).named("z").name
        'z'
        """
        _check_var_name(name)
        if self._node.is_leaf:
            raise JacobianCalcError(f"{self._node.name} is a variable; its name is fixed")
        self._node.name = name
        return self

    def __repr__(self) -> str:
        return f"<Expr {self._text} shape={self.shape}>"

    def __bool__(self) -> bool:
        raise JacobianCalcError(f"the truth value of the expression {self._text} is ambiguous")

    # ------------------------------------------------------------------- operators
    @property
    def T(self) -> Expr:
        """The transpose; its Jacobian is the commutation matrix K (vec(Xᵀ) = K vec(X))."""
        if self.ndim == 0:
            raise ShapeError(f"({self._text})ᵀ: {self._text} is a scalar; transpose needs a "
                             f"vector or a matrix")
        return _make("transpose", (self,), f"{_wrap(self, _POSTFIX)}ᵀ", _POSTFIX)

    def __matmul__(self, other: object) -> Expr:
        other = _operand(other, self, "@", right=True)
        a, b = self, other
        where = f"{_wrap(a, _PRODUCT)} @ {_wrap(b, _PRODUCT + 1)}"
        if a.ndim == 1 and b.ndim == 2 and b.shape[0] == 1:
            # a vector is a column (eq 6): x @ yᵀ is the outer product, as in Lemma 2.6
            a = _make("column", (a,), a.text, a._prec)
        if a.ndim != 2:
            raise ShapeError(f"{where}: the left factor {a.text} must be a matrix, but it is "
                             f"{_size_text(a.shape)}" + (" (use its transpose .T for a row)"
                                                          if a.ndim == 1 else ""))
        if b.ndim == 0:
            raise ShapeError(f"{where}: the right factor {b.text} must be a vector or a matrix, "
                             f"but it is a scalar (use * for a product with a number)")
        if a.shape[1] != b.shape[0]:
            raise ShapeError(f"{where}: {a.text} is {_size_text(a.shape)} but {b.text} is "
                             f"{_size_text(b.shape)}; inner sizes {a.shape[1]} ≠ {b.shape[0]}")
        return _make("matmul", (a, b), where, _PRODUCT)

    def __rmatmul__(self, other: object) -> Expr:
        return _operand(other, self, "@", right=False).__matmul__(self)

    def __add__(self, other: object) -> Expr:
        other = _operand(other, self, "+", right=True)
        return _binary("add", "+", self, other, _SUM)

    def __radd__(self, other: object) -> Expr:
        return _operand(other, self, "+", right=False).__add__(self)

    def __sub__(self, other: object) -> Expr:
        other = _operand(other, self, "-", right=True)
        return _binary("sub", "−", self, other, _SUM)

    def __rsub__(self, other: object) -> Expr:
        return _operand(other, self, "-", right=False).__sub__(self)

    def __neg__(self) -> Expr:
        return _make("scale", (self,), f"−{_wrap(self, _UNARY)}", _UNARY, c=-1.0)

    def __pos__(self) -> Expr:
        return self

    def __mul__(self, other: object) -> Expr:
        if _is_number(other):
            return _scale(self, float(other))  # type: ignore[arg-type]
        other = _operand(other, self, "*", right=True)
        if (self.ndim == 0) != (other.ndim == 0):  # a scalar expression times the other
            c, a = (self, other) if self.ndim == 0 else (other, self)
            return _make("scalar_mul", (c, a),
                         f"{_wrap(c, _PRODUCT)}·{_wrap(a, _PRODUCT + 1)}", _PRODUCT)
        return _binary("hadamard", "⊙", self, other, _PRODUCT)

    def __rmul__(self, other: object) -> Expr:
        if _is_number(other):
            return _scale(self, float(other))  # type: ignore[arg-type]
        return _operand(other, self, "*", right=False).__mul__(self)

    def __truediv__(self, other: object) -> Expr:
        if not _is_number(other):
            raise JacobianCalcError(
                f"{self._text} / {other!r}: only division by a Python number is supported; "
                f"for entrywise division write A * B**-1")
        if float(other) == 0.0:  # type: ignore[arg-type]
            raise DomainError(f"{self._text} / 0: division by zero")
        return _scale(self, 1.0 / float(other), f"{_wrap(self, _PRODUCT)} / {other!r}")  # type: ignore[arg-type]

    def __pow__(self, power: object) -> Expr:
        if not _is_number(power):
            raise JacobianCalcError(
                f"{self._text} ** {power!r}: the exponent must be a Python number "
                f"(an elementwise power with a constant exponent)")
        p = float(power)  # type: ignore[arg-type]
        where = f"{_wrap(self, _POSTFIX + 1)}^{p:g}"
        if p != int(p) and np.any(self._node.value < 0):
            raise DomainError(f"{where}: a non-integer power needs non-negative entries, but "
                              f"{self._text} has {int(np.sum(self._node.value < 0))} negative")
        if p < 0 and np.any(self._node.value == 0):
            raise DomainError(f"{where}: a negative power of an entry that is 0")
        return _make("power", (self,), where, _POSTFIX, p=p)

    # An Expr is used as a dictionary key by identity (as graph nodes are).
    __hash__ = object.__hash__


# ------------------------------------------------------------------------ helpers
def _is_number(x: object) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool) and np.isfinite(float(x))  # type: ignore[arg-type]


def _wrap(e: Expr, level: int) -> str:
    return e.text if e._prec >= level else f"({e.text})"


def _operand(other: object, this: Expr, op: str, right: bool) -> Expr:
    if isinstance(other, Expr):
        return other
    kind = "a Python number" if _is_number(other) else f"a {type(other).__name__}"
    shown = f"{this.text} {op} {other!r}" if right else f"{other!r} {op} {this.text}"
    if len(shown) > 120:
        shown = f"{this.text} {op} …" if right else f"… {op} {this.text}"
    raise JacobianCalcError(
        f"{shown}: the other operand is {kind}, not an expression; wrap constants with "
        f"jc.var(name, value)" + (" (a number may only multiply or divide an expression)"
                                  if _is_number(other) else "")
    )


def _binary(op: str, symbol: str, a: Expr, b: Expr, prec: int) -> Expr:
    # ⊙ next to @ reads ambiguously, so a product inside a Hadamard gets parentheses.
    left = prec + 1 if op == "hadamard" else prec
    where = f"{_wrap(a, left)} {symbol} {_wrap(b, prec + 1)}"
    if a.shape != b.shape:
        hint = " (a scalar times an expression needs a scalar: shape ())" if op == "hadamard" else ""
        raise ShapeError(f"{where}: {a.text} is {_size_text(a.shape)} but {b.text} is "
                         f"{_size_text(b.shape)}; {symbol} needs equal shapes, nothing is "
                         f"broadcast{hint}")
    return _make(op, (a, b), where, prec)


def _scale(e: Expr, c: float, text: str | None = None) -> Expr:
    return _make("scale", (e,), text or f"{c:g}·{_wrap(e, _PRODUCT)}", _PRODUCT, c=c)


def _make(op: str, args: tuple[Expr, ...], text: str, prec: int = _ATOM, **params: Any) -> Expr:
    try:
        node = apply(op, *(a.node for a in args), name=_auto_name(), **params)
    except DomainError:  # say it in the user's own notation rather than the node's
        raise DomainError(f"{text} is not finite at this point (overflow or a singularity)") from None
    return Expr(node, text, prec)


def _check_var_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise JacobianCalcError(f"a variable name must be a non-empty str, got {name!r}")
    if _AUTO.match(name):
        raise JacobianCalcError(f"the names u1, u2, … are reserved for intermediate results; "
                                f"choose another name than {name!r}")
    return name


def _as_expr(e: object, where: str) -> Expr:
    if not isinstance(e, Expr):
        raise JacobianCalcError(f"{where} takes expressions (from jc.var or operations on "
                                f"them), got {type(e).__name__}: {e!r}"[:300])
    return e


# ----------------------------------------------------------------------- variables
def var(name: str, value: object, role: str = "input") -> Expr:
    """A variable (or a constant): a named scalar, vector or matrix value.

    Parameters
    ----------
    name : str
        Unique within a composition; ``u1, u2, …`` are reserved.
    value : array_like
        Real and finite, 0-, 1- or 2-D; stored as float64.
    role : {"input", "weight", "target", "constant"}
        Only changes how the derivation lists it.

    Examples
    --------
    >>> import jacobian_calc as jc
    >>> jc.var("W", [[1, 2], [3, 4]]).shape
    (2, 2)
    """
    _check_var_name(name)
    return Expr(leaf(name, value, role), pretty(name))


# ------------------------------------------------------------------------ functions
def _unary(op: str, label: str, e: object, **params: Any) -> Expr:
    e = _as_expr(e, f"{label}()")
    return _make(op, (e,), f"{label}({e.text})", _ATOM, **params)


def _activation(fn: str, symbol: str) -> Callable[[Expr], Expr]:
    def f(e: Expr) -> Expr:
        return _unary("elementwise", fn, e, fn=fn, symbol=symbol)

    f.__name__ = fn
    f.__doc__ = (f"``{fn}`` entry by entry; its Jacobian is diag({symbol}′(vec X)), sparse "
                 f"(eq 29).")
    return f


sigmoid = _activation("sigmoid", "σ")
tanh = _activation("tanh", "tanh")
relu = _activation("relu", "relu")
softplus = _activation("softplus", "softplus")


def exp(e: Expr) -> Expr:
    """``exp`` entry by entry; Jacobian diag(exp(vec X)), sparse."""
    return _unary("exp", "exp", e)


def log(e: Expr) -> Expr:
    """Natural log entry by entry (entries must be > 0); Jacobian diag(1/vec X), sparse."""
    e = _as_expr(e, "log()")
    bad = int(np.sum(e.node.value <= 0))
    if bad:
        raise DomainError(f"log({e.text}): {e.text} has {bad} non-positive "
                          f"entr{'y' if bad == 1 else 'ies'}; log needs every entry > 0")
    return _unary("log", "log", e)


def sum(e: Expr) -> Expr:  # noqa: A001  (jc.sum, like np.sum)
    """The sum of all entries, a scalar; Jacobian the row of ones 1ᵀ."""
    return _unary("sum", "sum", e)


def trace(e: Expr) -> Expr:
    r"""tr(X) of a square matrix; Jacobian :math:`\operatorname{vec}(I)^\top`.

    Composed with ``A @ X`` the chain gives :math:`\operatorname{vec}(A^\top)^\top`:
    ∂tr(AX)/∂X = Aᵀ.
    """
    e = _as_expr(e, "trace()")
    _square(e, "tr")
    return _unary("trace", "tr", e)


def _square(e: Expr, what: str) -> None:
    if e.ndim != 2 or e.shape[0] != e.shape[1]:
        raise ShapeError(f"{what}({e.text}): {e.text} must be a square matrix, but it is "
                         f"{_size_text(e.shape)}")


def inv(e: Expr) -> Expr:
    r"""The inverse; Jacobian :math:`-(X^{-\top} \otimes X^{-1})`, dense.

    Raises
    ------
    SingularMatrixError
        X is singular to working precision (its condition number is reported).
    """
    e = _as_expr(e, "inv()")
    _square(e, "inv")
    check_invertible(e.node.value, f"inv({e.text})", e.text)
    return _make("inv", (e,), f"{_wrap(e, _POSTFIX + 1)}⁻¹", _POSTFIX)


def det(e: Expr) -> Expr:
    r"""The determinant; Jacobian :math:`\det(X)\operatorname{vec}(X^{-\top})^\top` (the cofactors, also for singular X)."""
    e = _as_expr(e, "det()")
    _square(e, "det")
    return _unary("det", "det", e)


def logdet(e: Expr) -> Expr:
    r"""log|det X|; Jacobian :math:`\operatorname{vec}(X^{-\top})^\top`.

    For a positive determinant this is log det X. Raises
    :class:`~jacobian_calc.errors.SingularMatrixError` for a singular X.
    """
    e = _as_expr(e, "logdet()")
    _square(e, "logdet")
    check_invertible(e.node.value, f"logdet({e.text})", e.text)
    return _unary("logdet", "logdet", e)


def softmax(e: Expr) -> Expr:
    r"""Softmax of a vector; of a matrix, column by column (each column one example).

    Jacobian :math:`\operatorname{diag}(s) - s s^\top` (dense) for a vector, and the
    block-diagonal matrix of these blocks, one per column (sparse), for a matrix.
    """
    e = _as_expr(e, "softmax()")
    if e.ndim == 0:
        raise ShapeError(f"softmax({e.text}): needs a vector or a matrix, got a scalar")
    return _unary("softmax", "softmax", e)


def _loss(loss: str, label: str, yhat: object, y: object) -> Expr:
    yhat, y = _as_expr(yhat, f"{label}()"), _as_expr(y, f"{label}()")
    if yhat.ndim == 0 or yhat.shape != y.shape:
        raise ShapeError(f"{label}({yhat.text}, {y.text}): {yhat.text} is "
                         f"{_size_text(yhat.shape)} but {y.text} is {_size_text(y.shape)}; "
                         f"they must be vectors or matrices of the same shape")
    return _make("loss", (yhat, y), f"{label}({yhat.text}, {y.text})", _ATOM, loss=loss)


def squared_error(yhat: Expr, y: Expr) -> Expr:
    """½‖ŷ − y‖², summed over columns for a batch; row gradient (ŷ − y)ᵀ."""
    return _loss("squared_error", "squared_error", yhat, y)


def softmax_cross_entropy(yhat: Expr, y: Expr) -> Expr:
    """−Σᵢ yᵢ log softmax(ŷ)ᵢ, column by column and summed; row gradient (softmax(ŷ)Σy − y)ᵀ."""
    return _loss("softmax_cross_entropy", "softmax_cross_entropy", yhat, y)


def bias_add(h: Expr, b: Expr) -> Expr:
    r"""``h + b``, the vector ``b`` (p,) added to every column of ``h`` (p,) or (p, n).

    Jacobians: I with respect to ``h``; :math:`1_n \otimes I_p` with respect to ``b``.
    """
    h, b = _as_expr(h, "bias_add()"), _as_expr(b, "bias_add()")
    where = f"{_wrap(h, _SUM)} + {_wrap(b, _SUM + 1)}"
    if b.ndim != 1 or h.ndim not in (1, 2) or h.shape[0] != b.shape[0]:
        raise ShapeError(f"{where}: the bias {b.text} must be a vector with one entry per row "
                         f"of {h.text}; {h.text} is {_size_text(h.shape)} but {b.text} is "
                         f"{_size_text(b.shape)}")
    return _make("bias_add", (h, b), where, _SUM)


#: The functions by name, e.g. for a parser: ``FUNCTIONS["tanh"](x)``.
FUNCTIONS: dict[str, Callable[..., Expr]] = {
    "sigmoid": sigmoid, "tanh": tanh, "relu": relu, "softplus": softplus, "exp": exp,
    "log": log, "sum": sum, "trace": trace, "tr": trace, "inv": inv, "det": det,
    "logdet": logdet, "softmax": softmax, "squared_error": squared_error,
    "softmax_cross_entropy": softmax_cross_entropy, "bias_add": bias_add,
}


# -------------------------------------------------------------------- derivatives
def _graph(F: Expr, X: Expr) -> Graph:
    """The composition of F (and X), with intermediate results renumbered u1, u2, …."""
    nodes = _topological([F.node, X.node])
    taken = {n.name for n in nodes if not _AUTO.match(n.name)}
    k = 0
    for n in nodes:
        if _AUTO.match(n.name):
            k += 1
            while f"u{k}" in taken:
                k += 1
            n.name = f"u{k}"
    return Graph(F.node, X.node)


def jacobian(F: Expr, X: Expr) -> Jacobian:
    """∂vec(F)/∂vec(X) as a literal matrix, shape (size(F), size(X)) (eq 3, 16).

    Accumulated tail to head over the composition, summing over every path from X to F.
    X may be any variable or intermediate result; if F does not depend on X the result is
    a sparse zero matrix.

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> A, X = jc.var("A", np.eye(2) * 3), jc.var("X", np.ones((2, 2)))
    >>> jc.jacobian(A @ X, X).toarray()  # I₂ ⊗ A
    array([[3., 0., 0., 0.],
           [0., 3., 0., 0.],
           [0., 0., 3., 0.],
           [0., 0., 0., 3.]])
    """
    F, X = _as_expr(F, "jacobian(F, X)"), _as_expr(X, "jacobian(F, X)")
    with np.errstate(over="ignore", invalid="ignore"):  # reported once, by _finite
        J = _graph(F, X).jacobian(F.node, X.node)
    return _finite(J, F, X)


def _finite(J: Jacobian, F: Expr, X: Expr) -> Jacobian:
    """J itself, or a DomainError if a factor overflowed (finite values, infinite slopes)."""
    data = J.matrix.data if J.issparse else J.matrix
    if not np.all(np.isfinite(data)):
        raise DomainError(f"∂({F.text})/∂{X.text} is not finite at this point: a factor of the "
                          "chain overflows (the function is too steep here)")
    return J


def grad(F: Expr, X: Expr) -> np.ndarray:
    """The gradient of a scalar F, shaped like X (eq 12; unvec of the row, eq 25).

    F may also be a vector or matrix with a single entry.

    Raises
    ------
    ShapeError
        F has more than one entry (use :func:`jacobian`).
    """
    F, X = _as_expr(F, "grad(F, X)"), _as_expr(X, "grad(F, X)")
    if F.size != 1:
        raise ShapeError(f"grad(F, {X.text}) needs a scalar F, but F = {F.text} is "
                         f"{_size_text(F.shape)}; use jc.jacobian(F, {X.text}) for the "
                         f"{F.size}×{X.size} Jacobian")
    return jacobian(F, X).matrix_gradient()


def derivation(F: Expr, X: Expr) -> Derivation:
    """The step-by-step record of ∂F/∂X: every step, every path with its factors and shapes, and the sum.

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> X = jc.var("X", np.eye(2))
    >>> d = jc.derivation(jc.trace(X @ X), X)
    >>> len(d.paths)
    2
    """
    F, X = _as_expr(F, "derivation(F, X)"), _as_expr(X, "derivation(F, X)")
    graph = _graph(F, X)
    notes = [f"{pretty(F.name)} = {F.text}"] if not F.node.is_leaf else []
    with np.errstate(over="ignore", invalid="ignore"):  # reported once, by _finite
        d = derive(graph, F.node, X.node, notes=notes)
    _finite(d.result, F, X)
    return d
