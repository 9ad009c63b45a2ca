r"""Expressions: write a formula with numpy-like operators, get its literal Jacobian.

An :class:`Expr` is a thin handle on one node of the graph engine
(:mod:`jacobian_calc.engine.graph`): every operator and function applies one entry of the
operations table (:data:`jacobian_calc.ops.TABLE`) and computes the value at once.
:func:`jacobian` then runs the same accumulation that the lecture network uses, so a
variable reached along several paths — ``X`` twice in
:math:`\operatorname{tr}(A X X^\top)`, a residual ``X + f(X)``, a shared weight — gets the
sum over its paths, and :func:`derivation` prints each path with its factors and shapes.

>>> import numpy as np, jacobian_calc as jc
>>> A = jc.var("A", [[1.0, 2.0], [0.0, 1.0]])
>>> X = jc.var("X", [[1.0, 0.0], [2.0, 1.0]])
>>> F = jc.trace(A @ X @ X.T)
>>> F.text, F.shape
('tr(A X Xᵀ)', ())
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
  by a Python number or by a scalar expression (``e / s`` is ``e * s**-1``); ``**`` raises entry by entry to a Python number. Nothing else is
  broadcast: a mismatch is a :class:`~jacobian_calc.ShapeError` that names both operands
  and their shapes.
* An intermediate result is written as its expression (``A X``) wherever it appears —
  in messages, Jacobian symbols and derivations; :meth:`Expr.named` gives it a name.
  Differentiating never renames anything.
* The functions (``jc.trace``, ``jc.sigmoid``, …) are generated from the operations
  table: :data:`FUNCTIONS` lists them, and an operation added with
  :mod:`jacobian_calc.extend` appears there too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

import numpy as np

from ..core.errors import ChoiceError, DomainError, JacobianCalcError, ShapeError
from ..core.hessian import Hessian
from ..core.jacobian import Jacobian
from ..core.notation import dims
from ..core.structure import is_finite
from ..core.validation import as_real_array
from ..engine.derivation import Derivation, derive
from ..engine.formulas import Formula, derive_formula
from ..engine.second_derivation import SecondDerivation, derive_second
from ..engine import second
from ..engine.graph import Graph, Node, apply, leaf
from ..ops import TABLE
from ..ops.base import LiveView, Operation
from ..ops.domain import size_text

__all__ = ["Expr", "var", "jacobian", "grad", "hessian", "hvp", "derivation", "formula",
           "FUNCTIONS", "function_for"]


class Expr:
    """A value in a composition: a variable from :func:`var` or the result of an operation.

    Attributes
    ----------
    value : numpy.ndarray
        Shape ``()``, ``(n,)`` or ``(m, n)``, float64, read-only.
    shape : tuple of int
    name : str
        The variable's name, the name given by :meth:`named`, or else the expression's
        text; Jacobians use it for ``of`` and ``wrt``.
    text : str
        How the expression is written, e.g. ``"tr(A X Xᵀ)"``; used in messages.
    latex : str
        The same in LaTeX.
    node : Node
        The graph node (for use with :mod:`jacobian_calc.engine.graph` directly).
    """

    __slots__ = ("_node",)
    # Make numpy defer to our reflected operators (ndarray @ Expr → Expr.__rmatmul__).
    __array_ufunc__ = None

    def __init__(self, node: Node) -> None:
        if not isinstance(node, Node):
            raise JacobianCalcError(f"an Expr wraps a graph Node, got {type(node).__name__}")
        self._node = node

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
        return self._node.label

    @property
    def text(self) -> str:
        return self._node.form.text

    @property
    def latex(self) -> str:
        return self._node.form.latex

    def named(self, name: str) -> Expr:
        """Give this intermediate result a name (shown in derivations); returns ``self``.

        Examples
        --------
        >>> import jacobian_calc as jc
        >>> x = jc.var("x", [1.0, 2.0])
        >>> jc.tanh(x).named("z").name
        'z'
        """
        _check_name(name)
        if self._node.is_leaf:
            raise JacobianCalcError(f"{self._node.name} is a variable; its name is fixed")
        self._node.name = name
        return self

    def __repr__(self) -> str:
        return f"<Expr {self.text} shape={self.shape}>"

    def _repr_latex_(self) -> str:
        size = r"\text{scalar}" if not self.shape else dims(self.shape).replace("×", r" \times ")
        return rf"$${self.latex} \qquad ({size})$$"

    def __bool__(self) -> bool:
        raise JacobianCalcError(f"the truth value of the expression {self.text} is ambiguous")

    # An Expr is used as a dictionary key by identity (as graph nodes are).
    __hash__ = object.__hash__

    # ------------------------------------------------------------------- operators
    @property
    def T(self) -> Expr:
        """The transpose; its Jacobian is the commutation matrix K (vec(Xᵀ) = K vec(X))."""
        return _make("transpose", self)

    def __matmul__(self, other: object) -> Expr:
        other = _operand(other, self, "@", right=True)
        a = self
        if a.ndim == 1 and other.ndim == 2 and other.shape[0] == 1:
            # a vector is a column (eq 6): x @ yᵀ is the outer product, as in Lemma 2.6
            a = _make("column", a)
        return _make("matmul", a, other)

    def __rmatmul__(self, other: object) -> Expr:
        return _operand(other, self, "@", right=False).__matmul__(self)

    def __add__(self, other: object) -> Expr:
        return _make("add", self, _operand(other, self, "+", right=True))

    def __radd__(self, other: object) -> Expr:
        return _operand(other, self, "+", right=False).__add__(self)

    def __sub__(self, other: object) -> Expr:
        return _make("sub", self, _operand(other, self, "-", right=True))

    def __rsub__(self, other: object) -> Expr:
        return _operand(other, self, "-", right=False).__sub__(self)

    def __neg__(self) -> Expr:
        return _make("neg", self)

    def __pos__(self) -> Expr:
        return self

    def __mul__(self, other: object) -> Expr:
        if _is_number(other):
            return _make("scale", self, c=_number(other, lambda: f"{self.text} * …"))
        other = _operand(other, self, "*", right=True)
        if (self.ndim == 0) != (other.ndim == 0):  # a scalar expression times the other
            c, a = (self, other) if self.ndim == 0 else (other, self)
            return _make("scalar_mul", c, a)
        return _make("hadamard", self, other)

    def __rmul__(self, other: object) -> Expr:
        if _is_number(other):
            return _make("scale", self, c=_number(other, lambda: f"… * {self.text}"))
        return _operand(other, self, "*", right=False).__mul__(self)

    def __truediv__(self, other: object) -> Expr:
        if isinstance(other, Expr) and other.ndim == 0:
            # e / s = e * s**-1: the power's domain refuses s = 0
            return self * _reciprocal(other, self.text)
        if not _is_number(other):
            raise JacobianCalcError(
                f"{self.text} / {_short_operand(other)}: only division by a Python number or "
                f"by a scalar expression (shape ()) is supported; for entrywise division "
                f"write A * B**-1, for a matrix inverse A @ inv(B)")
        divisor = _number(other, lambda: f"{self.text} / …")
        if divisor == 0.0:
            raise DomainError(f"{self.text} / 0: division by zero")
        return _make("scale", self, c=1.0 / divisor)

    def __rtruediv__(self, other: object) -> Expr:
        if _is_number(other) and self.ndim == 0:
            c = _number(other, lambda: f"… / {self.text}")
            inverse = _reciprocal(self, _short(other))
            return inverse if c == 1.0 else inverse * c
        raise JacobianCalcError(
            f"{_short(other)} / {self.text}: only a scalar expression (shape ()) can be a "
            f"divisor; for entrywise reciprocals write c * X**-1, for a matrix inverse "
            f"inv(X)")

    def __pow__(self, power: object) -> Expr:
        if not _is_number(power):
            raise JacobianCalcError(
                f"{self.text} ** {_short(power)}: the exponent must be a Python number "
                f"(an elementwise power with a constant exponent)")
        return _make("power", self, p=_number(power, lambda: f"{self.text} ** …"))


# ------------------------------------------------------------------------ helpers
def _is_number(x: object) -> bool:
    """A real Python or numpy number (not a bool); :func:`_number` checks that it is finite."""
    return isinstance(x, (Real, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _number(x: object, where: Callable[[], str]) -> float:
    """The number as a finite float, or an error saying why it is not one."""
    try:
        value = float(x)  # type: ignore[arg-type]
    except OverflowError:
        value = float("inf")
    if not np.isfinite(value):
        raise DomainError(f"{where()}: {_short(x)} is not a finite float64 number")
    return value


def _reciprocal(divisor: Expr, numerator: str) -> Expr:
    """divisor ** -1, with the message of a division when the divisor is 0."""
    if np.any(divisor.value == 0):
        raise DomainError(f"{numerator} / {divisor.text}: division by zero ({divisor.text} = 0)")
    return divisor ** -1


def _short_operand(x: object) -> str:
    return x.text if isinstance(x, Expr) else _short(x)


def _short(x: object) -> str:
    shown = repr(x)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _operand(other: object, this: Expr, op: str, right: bool) -> Expr:
    if isinstance(other, Expr):
        return other
    kind = "a Python number" if _is_number(other) else f"a {type(other).__name__}"
    shown = f"{this.text} {op} {_short(other)}" if right else f"{_short(other)} {op} {this.text}"
    raise JacobianCalcError(
        f"{shown}: the other operand is {kind}, not an expression; wrap constants with "
        f"jc.var(name, value)" + (" (a number may only multiply or divide an expression)"
                                  if _is_number(other) else ""))


def _make(op: str | Operation, *args: Expr, **params: Any) -> Expr:
    return Expr(apply(op, *(a.node for a in args), **params))


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise JacobianCalcError(f"a name must be an identifier (letters, digits and _, not "
                                f"starting with a digit), got {name!r}")
    return name


def _as_expr(e: object, where: str) -> Expr:
    if not isinstance(e, Expr):
        raise JacobianCalcError(f"{where} takes expressions (from jc.var or operations on "
                                f"them), got {type(e).__name__}: {_short(e)}")
    return e


# ----------------------------------------------------------------------- variables
def var(name: str, value: object, role: str = "input") -> Expr:
    """A variable (or a constant): a named scalar, vector or matrix value.

    Parameters
    ----------
    name : str
        An identifier, unique within a composition.
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
    return Expr(leaf(_check_name(name), value, role))


# ------------------------------------------------------------------------ functions
_MADE: dict[tuple[str, int], Callable[..., Expr]] = {}


def function_for(op: Operation) -> Callable[..., Expr]:
    """The function ``jc.<spelling>`` of a table entry: expressions in, an expression out.

    Made once per entry (an entry replaced in the table gets a new function).
    """
    key = (str(op.spelling), id(op))
    if key in _MADE:
        return _MADE[key]

    def f(*args: object, **params: Any) -> Expr:
        label = f"{op.spelling}()"
        extra = len(args) - op.arity
        if extra < 0 or extra > len(op.call_params):
            also = (f" and up to {len(op.call_params)} parameter(s) "
                    f"({', '.join(op.call_params)})" if op.call_params else "")
            raise JacobianCalcError(f"{op.spelling} takes {op.arity} expression argument"
                                    f"{'s' if op.arity != 1 else ''}{also}, got {len(args)}")
        # parameters given by position follow the expressions, in the entry's order
        for name, value in zip(op.call_params, args[op.arity:]):
            if name in params:
                raise JacobianCalcError(f"{op.spelling}() got the parameter {name!r} both by "
                                        f"position and by keyword")
            params[name] = value
        return _make(op, *(_as_expr(a, label) for a in args[:op.arity]), **params)

    f.__name__ = f.__qualname__ = str(op.spelling)
    partials = "; ".join(
        f"∂/∂(argument {i + 1}): {p.label.source}" for i, p in enumerate(op.partials))
    f.__doc__ = (f"{op.summary or op.name}.\n\nAn entry of the operations table "
                 f"(family {op.family}); its literal Jacobians are written {partials}.")
    if op.call_params:
        defaults = {p.name: p.default for p in op.params}
        shown = ", ".join(name if defaults[name] is None else f"{name}={defaults[name]!r}"
                          for name in op.call_params)
        f.__doc__ += (f"\n\nParameters after the expression arguments, by position or by "
                      f"keyword: {shown}.")
    f.__module__ = "jacobian_calc"
    _MADE[key] = f
    return f


#: The expression functions by name (``FUNCTIONS["tanh"](x)``), generated from the table.
FUNCTIONS: Mapping[str, Callable[..., Expr]] = LiveView(
    lambda: {name: function_for(op) for name, op in TABLE.functions().items()},
    "expression functions")


# -------------------------------------------------------------------- derivatives
def jacobian(F: Expr, X: Expr) -> Jacobian:
    """∂vec(F)/∂vec(X) as a literal matrix, shape (size(F), size(X)) (eq 3, 16).

    Accumulated over the composition in the cheaper direction, summing over every path
    from X to F. X may be any variable or intermediate result; if F does not depend on X
    the result is a sparse zero matrix.

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
        J = Graph(F.node, X.node).jacobian(F.node, X.node)
    return _finite(J, F, X)


def _finite(J: Jacobian, F: Expr, X: Expr) -> Jacobian:
    """J itself, or a DomainError if a product overflowed (finite factors, infinite slopes)."""
    if not is_finite(J.storage):
        raise DomainError(f"∂({F.text})/∂{X.text} is not finite at this point: a product of "
                          "the chain overflows (the function is too steep here)")
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
                         f"{size_text(F.shape)}; use jc.jacobian(F, {X.text}) for the "
                         f"{F.size}×{X.size} Jacobian")
    return jacobian(F, X).matrix_gradient()


def _scalar_of(F: Expr, X: Expr, what: str) -> None:
    if F.size != 1:
        raise ShapeError(f"{what} needs a scalar F, but F = {F.text} is {size_text(F.shape)}; "
                         f"the second derivatives of a vector or matrix F are one Hessian per "
                         f"entry: take a sum, a trace or a loss first")


def hessian(F: Expr, X: Expr, Y: Expr | None = None) -> Hessian:
    r"""H_XY = ∂(∇_vec(X) F)/∂vec(Y), the Hessian block of a scalar F as a literal matrix.

    Shape (size X, size Y), vec stacking columns: (H_XY)_ij = ∂²F/∂vec(X)_i ∂vec(Y)_j.
    H_XX (``Y`` omitted) is symmetric, and H_YX = H_XYᵀ. The block is the sum over the
    nodes of F of Tᵀ S T (:mod:`jacobian_calc.engine.second`), every factor literal and
    kept by its structure, so a Kronecker or diagonal block stays one.

    Parameters
    ----------
    F : Expr
        A scalar (or a single entry).
    X, Y : Expr
        Variables or intermediate results; ``Y`` defaults to ``X``.

    Returns
    -------
    Hessian
        A :class:`~jacobian_calc.Jacobian` of the gradient, written ∂²F/∂vec(X)∂vec(Y).

    Raises
    ------
    ShapeError
        F has more than one entry.
    JacobianCalcError
        An operation of F has no second-order rule.
    WorkLimitError, DenseLimitError
        The block is too large to build (or to write out dense).

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> W = jc.var("W", np.ones((2, 2)))
    >>> x, y = jc.var("x", [1.0, 2.0]), jc.var("y", [0.0, 1.0])
    >>> H = jc.hessian(jc.squared_error(W @ x, y), W)
    >>> H.toarray()  # (x xᵀ) ⊗ I₂
    array([[1., 0., 2., 0.],
           [0., 1., 0., 2.],
           [2., 0., 4., 0.],
           [0., 2., 0., 4.]])
    """
    F, X = _as_expr(F, "hessian(F, X)"), _as_expr(X, "hessian(F, X)")
    Y = X if Y is None else _as_expr(Y, "hessian(F, X, Y)")
    _scalar_of(F, X, f"hessian(F, {X.text})")
    with np.errstate(over="ignore", invalid="ignore"):  # reported once, by _finite
        H = second.hessian(Graph(F.node, X.node, Y.node), F.node, X.node, Y.node)
    if not is_finite(H.storage):
        raise DomainError(f"∂²({F.text})/∂{X.text}∂{Y.text} is not finite at this point "
                          "(a product of the terms overflows)")
    return H


def hvp(F: Expr, X: Expr, V: object) -> np.ndarray:
    """The Hessian-vector product H_XX vec(V), shaped like X, without forming H.

    One forward sweep carries V through the tangents, each node's second-order rule
    turns it into an injection, and one reverse sweep brings those back to X: the work
    of a few gradients, whatever the size of H.

    Parameters
    ----------
    F : Expr
        A scalar.
    X : Expr
    V : array_like, shaped like X

    Returns
    -------
    ndarray, shaped like X

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> X = jc.var("X", np.eye(2))
    >>> jc.hvp(jc.trace(X @ X), X, np.ones((2, 2)))  # H = 2·K, so 2·Vᵀ
    array([[2., 2.],
           [2., 2.]])
    """
    F, X = _as_expr(F, "hvp(F, X, V)"), _as_expr(X, "hvp(F, X, V)")
    _scalar_of(F, X, f"hvp(F, {X.text}, V)")
    v = as_real_array(V, "V")
    if v.shape != X.shape:
        raise ShapeError(f"hvp(F, {X.text}, V) needs V shaped like {X.text}, {X.shape}; "
                         f"got shape {v.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = second.hvp(Graph(F.node, X.node), F.node, X.node, v)
    if not np.all(np.isfinite(out)):
        raise DomainError(f"the Hessian-vector product of {F.text} is not finite at this point")
    return out


def formula(F: Expr, X: Expr) -> Formula:
    r"""The closed form of ∂F/∂X, rewritten from the literal chain and certified against it.

    For a scalar F (one entry) the gradient shaped like X (eq 12): :math:`A^\top B^\top`
    for tr(AXB), :math:`(A + A^\top)X` for tr(XᵀAX). Otherwise the Jacobian
    ∂vec(F)/∂vec(X) in Kronecker form: :math:`B^\top \otimes A` for AXB,
    :math:`-X^{-\top} \otimes X^{-1}` for X⁻¹. Each operation's literal factor, written as
    a matrix expression by its entry of the operations table, is rewritten with named
    identities (vec(AXB) = (Bᵀ ⊗ A) vec X, diag(v)u = v ⊙ u, (A ⊗ B)(C ⊗ D) = AC ⊗ BD,
    transposes of products, paths collected); ``f.steps`` records each rewrite. Sub-results
    that have a name (:meth:`Expr.named`) stay names and are defined in ``f.definitions``.

    Before it is returned the formula is evaluated on three fresh random values of the
    variables (positive or well-conditioned where the operations' domains ask) and compared
    with the literal Jacobian there.

    Parameters
    ----------
    F, X : Expr

    Returns
    -------
    Formula
        ``str(f)`` the expression, ``f.latex``, ``f.evaluate({...})`` (the layout of
        :func:`grad` or ``jacobian(F, X).toarray()``), ``f.variables``, ``f.steps``.

    Raises
    ------
    CertificateError
        The rewritten formula disagrees with the literal Jacobian: a bug in a rewriting
        rule, reported instead of an answer.
    WorkLimitError
        The formula grows too large to write (its paths multiply out).

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> rng = np.random.default_rng(0)
    >>> A, X, B = (jc.var(n, rng.normal(size=s)) for n, s in
    ...            (("A", (2, 3)), ("X", (3, 4)), ("B", (4, 2))))
    >>> f = jc.formula(jc.trace(A @ X @ B), X)
    >>> str(f), f.variables, f.certified
    ('AᵀBᵀ', ('A', 'B'), True)
    >>> A2, B2 = rng.normal(size=(2, 3)), rng.normal(size=(4, 2))
    >>> np.allclose(f.evaluate({"A": A2, "B": B2}), A2.T @ B2.T)
    True
    >>> str(jc.formula(A @ X @ B, X))
    'Bᵀ ⊗ A'
    """
    F, X = _as_expr(F, "formula(F, X)"), _as_expr(X, "formula(F, X)")
    with np.errstate(over="ignore", invalid="ignore"):
        return derive_formula(Graph(F.node, X.node), F.node, X.node)


def derivation(F: Expr, X: Expr, *, max_values: int | None = None, order: int = 1,
               Y: Expr | None = None) -> Derivation | SecondDerivation:
    """The step-by-step record of ∂F/∂X: every step, every path with its factors and shapes, and the sum.

    A first-order derivation ends in the closed form: the rewrites from the literal chain
    to the formula (:func:`formula`), each naming its identity, and the certified result.

    With ``order=2`` (F a scalar) it is the record of the Hessian block H_XY instead
    (``Y`` defaults to ``X``): each node's term Tᵢᵀ S Tⱼ with its factors, shapes and
    storage, the Kronecker checks, and the terms that vanish.

    Parameters
    ----------
    F, X : Expr
    max_values : int, optional
        The most values a printed step shows (default 60).
    order : {1, 2}
    Y : Expr, optional
        The second variable of a Hessian block (``order=2`` only).

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> X = jc.var("X", np.eye(2))
    >>> d = jc.derivation(jc.trace(X @ X), X)
    >>> d.path_count, d.title
    (2, '∂tr(X X)/∂X')
    >>> jc.derivation(jc.trace(X @ X), X, order=2).shape
    (4, 4)
    """
    F, X = _as_expr(F, "derivation(F, X)"), _as_expr(X, "derivation(F, X)")
    if max_values is not None and (isinstance(max_values, bool) or not isinstance(max_values, int)
                                   or max_values < 0):
        raise JacobianCalcError(f"max_values must be a non-negative int, got {max_values!r}")
    if isinstance(order, bool) or order not in (1, 2):
        raise ChoiceError("derivative order", order, ("1", "2"))
    if order == 2:
        Y = X if Y is None else _as_expr(Y, "derivation(F, X, order=2, Y=Y)")
        _scalar_of(F, X, f"derivation(F, {X.text}, order=2)")
        with np.errstate(over="ignore", invalid="ignore"):
            return derive_second(Graph(F.node, X.node, Y.node), F.node, X.node, Y.node,
                                 max_values=max_values)
    if Y is not None:
        raise JacobianCalcError("Y is the second variable of a Hessian block: pass order=2")
    with np.errstate(over="ignore", invalid="ignore"):  # reported once, by _finite
        d = derive(Graph(F.node, X.node), F.node, X.node, max_values=max_values, formula=True)
    _finite(d.result, F, X)
    return d
