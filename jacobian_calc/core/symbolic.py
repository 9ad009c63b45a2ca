r"""Matrix expressions: the closed forms that formulas are written in.

A formula (:mod:`jacobian_calc.engine.formulas`) is a :class:`MatExpr`, a small immutable
tree of matrices: symbols with a shape, the identity :math:`I`, the all-ones :math:`\mathbf 1`,
the commutation matrix :math:`K_{m,n}`, transposes, inverses, products, sums, scalar
multiples, Hadamard (⊙) and Kronecker (⊗) products, ``diag``, ``vec``, ``tr`` and calls of
functions (``φ′(h)``, ``det(X)``, ``softmax(ŷ)``). Every node has a 2-D shape — a vector is
its column, a scalar 1×1 — a plain-text form (ᵀ, ⁻¹, ⊗, ⊙), a LaTeX form, and a value
(:func:`evaluate`) on any values of its symbols.

:func:`simplify` rewrites an expression with a small set of named identities (the
:data:`RULES`), each application logged by name; :func:`pull` rewrites the literal chain
"row gradient times factor", :math:`\operatorname{vec}(G)^\top F`, into
:math:`\operatorname{vec}(R)^\top` by the vec identities, which is how a reverse sweep
turns literal factors into a matrix-shaped gradient:

.. math::

    \operatorname{vec}(G)^\top (P \otimes Q) = \operatorname{vec}(Q^\top G P)^\top,\quad
    \operatorname{vec}(G)^\top \operatorname{diag}(\operatorname{vec} V) =
    \operatorname{vec}(V \odot G)^\top,\quad
    \operatorname{vec}(G)^\top K = \operatorname{vec}(G^\top)^\top .

Nothing here knows the operations table or the graph: the operations build their
factors from these nodes (:class:`~jacobian_calc.ops.base.Rewrite`), the engine sweeps.

>>> import numpy as np
>>> A, X = symbol("A", (3, 2)), symbol("X", (2, 2))
>>> e = simplify(add(product(A, X), product(transpose(transpose(A)), X)))
>>> str(e)
'2AX'
>>> values = {"A": np.ones((3, 2)), "X": np.eye(2)}
>>> evaluate(e, values)
array([[2., 2.],
       [2., 2.],
       [2., 2.]])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import JacobianCalcError, ShapeError
from .notation import Form, Template, latex_name, pretty, subscript

__all__ = [
    "MatExpr", "Symbol", "Identity", "Ones", "Zero", "Commutation", "Transpose", "Inverse",
    "Product", "Sum", "Scaled", "ScalarTimes", "Hadamard", "Kron", "Diag", "Vec", "Unvec",
    "Trace", "Call", "Factor", "symbol", "identity", "ones", "zero", "commutation",
    "transpose", "inverse", "product", "add", "scaled", "neg", "scalar_times", "hadamard",
    "kron", "diag", "vec", "unvec", "trace", "call", "matrix_shape", "evaluate", "simplify",
    "pull", "count_nodes", "symbols", "RULES",
]

#: Precedence of the written forms, tightest first (the same levels as the operations'
#: notation): a name or a call, a postfix (ᵀ, ⁻¹), a prefix minus, a product, a sum.
ATOM, POSTFIX, UNARY, PRODUCT, SUM = 5, 4, 3, 2, 1

def matrix_shape(shape: Sequence[int]) -> tuple[int, int]:
    """The 2-D shape a value stands for: ``()`` → (1, 1), ``(n,)`` → (n, 1) (a column, eq 6)."""
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0:
        return (1, 1)
    if len(shape) == 1:
        return (shape[0], 1)
    if len(shape) == 2:
        return shape  # type: ignore[return-value]
    raise ShapeError(f"a matrix expression has at most 2 dimensions, got shape {shape}")


# ============================================================================ the nodes
class MatExpr:
    """A node of a matrix expression: immutable, compared and hashed by its structure.

    Attributes
    ----------
    shape : tuple of int
        (rows, columns); a vector is a column (n, 1) and a scalar is 1×1.
    text, latex : str
        The written forms (plain Unicode and LaTeX).
    precedence : int
        How tightly the written form binds (:data:`ATOM` … :data:`SUM`).
    """

    __slots__ = ("shape", "_key", "_hash", "_form", "_count")
    precedence = ATOM

    def _setup(self, shape: tuple[int, int], key: tuple) -> None:
        object.__setattr__(self, "shape", (int(shape[0]), int(shape[1])))
        object.__setattr__(self, "_key", (type(self).__name__,) + key)
        object.__setattr__(self, "_hash", hash(self._key))
        object.__setattr__(self, "_form", None)
        object.__setattr__(self, "_count", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, MatExpr) or self._hash != other._hash:
            return False
        return self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    @property
    def children(self) -> tuple[MatExpr, ...]:
        """The sub-expressions, in order."""
        return ()

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        """The same node over other children (same number, same shapes)."""
        return self

    @property
    def form(self) -> Form:
        """Both written forms (computed once)."""
        if self._form is None:
            object.__setattr__(self, "_form", _write(self))
        return self._form  # type: ignore[return-value]

    @property
    def text(self) -> str:
        return self.form.text

    @property
    def latex(self) -> str:
        return self.form.latex

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text} {self.shape[0]}×{self.shape[1]}>"


class Symbol(MatExpr):
    """A named matrix: a variable, or an intermediate result with a name (``h2``, ``ŷ``).

    ``name`` is the key of its value in :func:`evaluate`; ``written`` how it is shown.
    """

    __slots__ = ("name", "written")

    def __init__(self, name: str, shape: tuple[int, int], written: Form) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "written", written)
        self._setup(shape, (name, tuple(shape)))


class Identity(MatExpr):
    """The n×n identity I."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        object.__setattr__(self, "n", int(n))
        self._setup((n, n), (int(n),))


class Ones(MatExpr):
    """The m×n matrix of ones: 𝟏 (a column), 𝟏ᵀ (a row), 𝟏𝟏ᵀ."""

    __slots__ = ()

    def __init__(self, m: int, n: int) -> None:
        self._setup((m, n), (int(m), int(n)))

    @property
    def precedence(self) -> int:  # type: ignore[override]
        m, n = self.shape
        return ATOM if n == 1 else POSTFIX if m == 1 else PRODUCT


class Zero(MatExpr):
    """The m×n zero matrix."""

    __slots__ = ()

    def __init__(self, m: int, n: int) -> None:
        self._setup((m, n), (int(m), int(n)))


class Commutation(MatExpr):
    r"""The commutation matrix :math:`K_{m,n}`: :math:`K \operatorname{vec}(A) = \operatorname{vec}(A^\top)` for A m×n."""

    __slots__ = ("m", "n")

    def __init__(self, m: int, n: int) -> None:
        object.__setattr__(self, "m", int(m))
        object.__setattr__(self, "n", int(n))
        self._setup((m * n, m * n), (int(m), int(n)))


class _Unary(MatExpr):
    __slots__ = ("a",)

    def __init__(self, a: MatExpr) -> None:
        object.__setattr__(self, "a", a)
        self._setup(self._shape(a), (a,))

    def _shape(self, a: MatExpr) -> tuple[int, int]:
        return a.shape

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return (self.a,)

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        (a,) = children
        return self if a is self.a else type(self)(a)


class Transpose(_Unary):
    """Aᵀ."""

    __slots__ = ()
    precedence = POSTFIX

    def _shape(self, a: MatExpr) -> tuple[int, int]:
        return (a.shape[1], a.shape[0])


class Inverse(_Unary):
    """X⁻¹ of a square X."""

    __slots__ = ()
    precedence = POSTFIX

    def _shape(self, a: MatExpr) -> tuple[int, int]:
        if a.shape[0] != a.shape[1]:
            raise ShapeError(f"the inverse of {a.text} needs a square matrix, got {_dims(a)}")
        return a.shape


class Diag(_Unary):
    """diag(v): the n×n matrix with the column v (n×1) on its diagonal."""

    __slots__ = ()

    def _shape(self, a: MatExpr) -> tuple[int, int]:
        if a.shape[1] != 1:
            raise ShapeError(f"diag takes a column, got {a.text} ({_dims(a)})")
        return (a.shape[0], a.shape[0])


class Vec(_Unary):
    """vec(A): the columns of A stacked (eq 16), an (mn)×1 column."""

    __slots__ = ()

    def _shape(self, a: MatExpr) -> tuple[int, int]:
        return (a.shape[0] * a.shape[1], 1)


class Trace(_Unary):
    """tr(A) of a square A, a 1×1 matrix."""

    __slots__ = ()

    def _shape(self, a: MatExpr) -> tuple[int, int]:
        if a.shape[0] != a.shape[1]:
            raise ShapeError(f"the trace of {a.text} needs a square matrix, got {_dims(a)}")
        return (1, 1)


class Unvec(MatExpr):
    """unvec(v, shape): the column v (mn×1) read back as an m×n matrix, column by column."""

    __slots__ = ("a",)

    def __init__(self, a: MatExpr, shape: tuple[int, int]) -> None:
        if a.shape[1] != 1 or a.shape[0] != shape[0] * shape[1]:
            raise ShapeError(f"unvec to {shape[0]}×{shape[1]} takes a column of "
                             f"{shape[0] * shape[1]}, got {a.text} ({_dims(a)})")
        object.__setattr__(self, "a", a)
        self._setup(shape, (a, tuple(shape)))

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return (self.a,)

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        (a,) = children
        return self if a is self.a else Unvec(a, self.shape)


class Product(MatExpr):
    """The matrix product of two or more factors, left to right."""

    __slots__ = ("factors",)
    precedence = PRODUCT

    def __init__(self, factors: Sequence[MatExpr]) -> None:
        factors = tuple(factors)
        if len(factors) < 2:
            raise JacobianCalcError("a Product needs at least two factors")
        for left, right in zip(factors, factors[1:]):
            if left.shape[1] != right.shape[0]:
                raise ShapeError(f"the product {left.text} · {right.text} does not conform: "
                                 f"{_dims(left)} times {_dims(right)}")
        object.__setattr__(self, "factors", factors)
        self._setup((factors[0].shape[0], factors[-1].shape[1]), factors)

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return self.factors

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        return self if tuple(children) == self.factors else Product(children)


class Sum(MatExpr):
    """The sum of two or more terms of one shape."""

    __slots__ = ("terms",)
    precedence = SUM

    def __init__(self, terms: Sequence[MatExpr]) -> None:
        terms = tuple(terms)
        if len(terms) < 2:
            raise JacobianCalcError("a Sum needs at least two terms")
        for t in terms[1:]:
            if t.shape != terms[0].shape:
                raise ShapeError(f"the sum {terms[0].text} + {t.text} adds {_dims(terms[0])} "
                                 f"to {_dims(t)}")
        object.__setattr__(self, "terms", terms)
        self._setup(terms[0].shape, terms)

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return self.terms

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        return self if tuple(children) == self.terms else Sum(children)


class Scaled(MatExpr):
    """c·A for a number c (−A when c = −1)."""

    __slots__ = ("c", "a")

    def __init__(self, c: float, a: MatExpr) -> None:
        c = float(c)
        if not np.isfinite(c):
            raise JacobianCalcError(f"a scaling factor must be finite, got {c}")
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "a", a)
        self._setup(a.shape, (c, a))

    @property
    def precedence(self) -> int:  # type: ignore[override]
        return UNARY if self.c == -1.0 else PRODUCT

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return (self.a,)

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        (a,) = children
        return self if a is self.a else Scaled(self.c, a)


class ScalarTimes(MatExpr):
    """s·A for a 1×1 expression s (``det(X)X⁻ᵀ``)."""

    __slots__ = ("s", "a")
    precedence = PRODUCT

    def __init__(self, s: MatExpr, a: MatExpr) -> None:
        if s.shape != (1, 1):
            raise ShapeError(f"a scalar factor must be 1×1, got {s.text} ({_dims(s)})")
        object.__setattr__(self, "s", s)
        object.__setattr__(self, "a", a)
        self._setup(a.shape, (s, a))

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return (self.s, self.a)

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        s, a = children
        return self if (s is self.s and a is self.a) else ScalarTimes(s, a)


class _Binary(MatExpr):
    __slots__ = ("a", "b")
    precedence = PRODUCT

    def __init__(self, a: MatExpr, b: MatExpr) -> None:
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        self._setup(self._shape(a, b), (a, b))

    def _shape(self, a: MatExpr, b: MatExpr) -> tuple[int, int]:
        raise NotImplementedError

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return (self.a, self.b)

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        a, b = children
        return self if (a is self.a and b is self.b) else type(self)(a, b)


class Hadamard(_Binary):
    """A ⊙ B, entry by entry, of one shape."""

    __slots__ = ()

    def _shape(self, a: MatExpr, b: MatExpr) -> tuple[int, int]:
        if a.shape != b.shape:
            raise ShapeError(f"{a.text} ⊙ {b.text} needs equal shapes, got {_dims(a)} and "
                             f"{_dims(b)}")
        return a.shape


class Kron(_Binary):
    """A ⊗ B, the Kronecker product: (mp)×(nq) for A m×n and B p×q."""

    __slots__ = ()

    def _shape(self, a: MatExpr, b: MatExpr) -> tuple[int, int]:
        return (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])


class Call(MatExpr):
    """A function applied to matrix arguments: ``φ′(h2)``, ``det(X)``, ``softmax(ŷ)``.

    Attributes
    ----------
    name : str
        What is applied (with ``key``, what makes two calls the same).
    args : tuple of MatExpr
    fn : callable
        ``(*argument values) -> value``, the arguments in their ``lib_shapes`` (a vector
        as (n,), a scalar as ()), as the operations table's functions take them.
    template : Template
        How it is written: ``$0``, ``$1`` the arguments, other fields from ``fields``.
    lib_shapes : tuple of tuple
        The arguments' shapes as ``fn`` takes them.
    """

    __slots__ = ("name", "args", "fn", "template", "fields", "lib_shapes", "_precedence")

    def __init__(self, name: str, args: Sequence[MatExpr], fn: Callable[..., Any],
                 template: Template, *, shape: tuple[int, int],
                 lib_shapes: Sequence[tuple[int, ...]], fields: Mapping[str, Form] | None = None,
                 precedence: int = ATOM, key: tuple = ()) -> None:
        args = tuple(args)
        lib_shapes = tuple(tuple(int(n) for n in s) for s in lib_shapes)
        if len(lib_shapes) != len(args):
            raise JacobianCalcError(f"call {name}: one shape per argument")
        for a, s in zip(args, lib_shapes):
            if matrix_shape(s) != a.shape:
                raise ShapeError(f"call {name}: argument {a.text} is {_dims(a)} but the "
                                 f"function takes shape {s}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "fields", dict(fields or {}))
        object.__setattr__(self, "lib_shapes", lib_shapes)
        object.__setattr__(self, "_precedence", int(precedence))
        self._setup(shape, (name, args, lib_shapes, tuple(key)))

    @property
    def precedence(self) -> int:  # type: ignore[override]
        return self._precedence

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return self.args

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        if tuple(children) == self.args:
            return self
        return Call(self.name, children, self.fn, self.template, shape=self.shape,
                    lib_shapes=self.lib_shapes, fields=self.fields,
                    precedence=self._precedence, key=self._key[-1])


class Factor(MatExpr):
    """A literal factor no rule rewrites: written by its label, built from its arguments.

    ``build(*argument values)`` (2-D values) returns the factor as a matrix (dense, sparse
    or structured); :func:`evaluate` makes it dense.
    """

    __slots__ = ("label", "args", "build")

    @property
    def precedence(self) -> int:  # type: ignore[override]
        # a label such as ∂frob2/∂(A X) is bracketed wherever it meets an operator
        return ATOM if self.label.text.isidentifier() else SUM

    def __init__(self, label: Form, args: Sequence[MatExpr], build: Callable[..., Any],
                 shape: tuple[int, int], key: tuple = ()) -> None:
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "build", build)
        self._setup(shape, (label.text, tuple(args), tuple(key)))

    @property
    def children(self) -> tuple[MatExpr, ...]:
        return self.args

    def rebuild(self, children: Sequence[MatExpr]) -> MatExpr:
        if tuple(children) == self.args:
            return self
        return Factor(self.label, children, self.build, self.shape, self._key[-1])


def _dims(e: MatExpr) -> str:
    return f"{e.shape[0]}×{e.shape[1]}"


# ====================================================================== constructors
def symbol(name: str, shape: Sequence[int], written: Form | None = None) -> Symbol:
    """A named matrix; ``shape`` may be a value's shape (``()``, ``(n,)``, ``(m, n)``)."""
    return Symbol(name, matrix_shape(shape),
                  written if written is not None else Form(pretty(name), latex_name(name)))


def ones(m: int, n: int = 1) -> Ones:
    """The m×n matrix of ones (a column 𝟏 by default)."""
    return Ones(m, n)


#: Lower-case spellings of the nodes that need no more than their class, for writing
#: rules in the notation's own words: ``transpose(a)`` is ``Transpose(a)``, Aᵀ;
#: ``scaled(c, a)`` is c·A; ``scalar_times(s, a)`` is s·A for a 1×1 s; ``diag(v)`` takes
#: a column (for a matrix V write ``diag(vec(V))``); ``vec`` stacks columns (eq 16).
identity, zero, commutation = Identity, Zero, Commutation
transpose, inverse, diag, vec, trace = Transpose, Inverse, Diag, Vec, Trace
scaled, scalar_times, hadamard, kron = Scaled, ScalarTimes, Hadamard, Kron


def product(*factors: MatExpr) -> MatExpr:
    """The product of the factors (one factor is returned as it is)."""
    return factors[0] if len(factors) == 1 else Product(factors)


def add(*terms: MatExpr) -> MatExpr:
    """The sum of the terms (one term is returned as it is)."""
    return terms[0] if len(terms) == 1 else Sum(terms)


def neg(a: MatExpr) -> Scaled:
    """−A."""
    return Scaled(-1.0, a)


def unvec(a: MatExpr, shape: Sequence[int]) -> Unvec:
    """The column ``a`` read as a matrix of ``shape`` (a value's shape is accepted)."""
    return Unvec(a, matrix_shape(shape))


def call(name: str, fn: Callable[..., Any], template: Template | str, *args: MatExpr,
         lib_shapes: Sequence[Sequence[int]] | None = None, shape: Sequence[int] | None = None,
         fields: Mapping[str, Form] | None = None, precedence: int = ATOM,
         key: tuple = ()) -> Call:
    r"""A function applied to the arguments, written with ``template``.

    Parameters
    ----------
    name : str
    fn : callable
        ``(*argument values) -> value``; arguments are passed in ``lib_shapes``.
    template : Template or str
        E.g. ``r"\phi'($0)"``; ``$0``, ``$1`` the arguments, ``$name`` from ``fields``.
    *args : MatExpr
    lib_shapes : sequence of shape, optional
        The shapes ``fn`` takes its arguments in (default: the 2-D shapes).
    shape : shape, optional
        The value's shape (a value's shape is accepted; default: the first argument's).
    fields : mapping of str to Form, optional
    precedence : int
    key : tuple
        What else distinguishes two calls of the same name on the same arguments (the
        parameters).
    """
    template = template if isinstance(template, Template) else Template(template)
    out = matrix_shape(shape) if shape is not None else args[0].shape
    return Call(name, args, fn, template, shape=out,
                lib_shapes=tuple(lib_shapes) if lib_shapes is not None
                else tuple(a.shape for a in args),
                fields=fields, precedence=precedence, key=key)


# ========================================================================== writing
_SUPERSCRIPTS = set("ᵀ⁻¹²³⁰⁴⁵⁶⁷⁸⁹′")


def _paren(f: Form) -> Form:
    return Form(f"({f.text})", rf"\left({f.latex}\right)")


def _square(f: Form) -> Form:
    return Form(f"[{f.text}]", rf"\left[{f.latex}\right]")


def _name_run(text: str, end: bool) -> str:
    """The letters and digits at the end (or the start) of ``text``; superscripts excluded."""
    chars = reversed(text) if end else iter(text)
    run = []
    for ch in chars:
        if (ch.isalnum() or ch == "_") and ch not in _SUPERSCRIPTS:
            run.append(ch)
        else:
            break
    return "".join(run)


def _separator(left: str, right: str) -> str:
    """What goes between two factors of a product: ``AᵀBᵀ``, ``(A + Aᵀ)X``, ``W3 z1``, ``] z1ᵀ``.

    No space after a superscript or a closing parenthesis, before an opening one, after
    a number (``2X``), or between two one-letter names (``AX``); a space between longer
    names, so that ``W3 z1`` never reads as one name, and after a square bracket, so the
    lecture's ``[…] z1ᵀ`` keeps its bracket apart.
    """
    if not left or not right:
        return ""
    if left[-1] in _SUPERSCRIPTS or left[-1] == ")" or right[0] == "(":
        return ""
    if left[-1] == "]":
        return " "
    a, b = _name_run(left, end=True), _name_run(right, end=False)
    if not a or not b or left.lstrip("−-").replace(".", "").isdigit():
        return ""
    if len(a) == 1 and len(b) == 1 and not (a.isdigit() and b.isdigit()):
        return ""
    return " "


def _join(left: str, right: str) -> str:
    """Two factors side by side (see :func:`_separator`)."""
    return left + _separator(left, right) + right


def _operand(e: MatExpr, need: int) -> Form:
    f = e.form
    return _paren(f) if e.precedence < need else f


def _number(c: float) -> Form:
    """c as written: ``2``, ``0.5``; a float that ``:g`` would round but that is a simple
    fraction p/q (q ≤ 1000) exactly is written as the fraction, ``(1/3)``."""
    if c == int(c) and abs(c) < 1e15:
        text = str(int(c))
        return Form(text, text)
    text = f"{c:g}"
    if float(text) != c:
        f = Fraction(c).limit_denominator(1000)
        if f.numerator / f.denominator == c:
            return Form(f"({f.numerator}/{f.denominator})",
                        rf"\frac{{{f.numerator}}}{{{f.denominator}}}")
    return Form(text, text)


def _write_scaled(c: float, a: MatExpr) -> Form:
    inner = a.form
    if isinstance(a, (Sum, Scaled)):
        inner = _paren(inner)
    if c == -1.0:
        return Form(f"−{inner.text}", f"-{inner.latex}")
    sign = "−" if c < 0 else ""
    n = _number(abs(c))
    return Form(f"{sign}{_join(n.text, inner.text)}",
                f"{'-' if c < 0 else ''}{n.latex} {inner.latex}")


def _product_operand(e: MatExpr) -> Form:
    if isinstance(e, Hadamard):
        return _square(e.form)  # the lecture's [φ′(h2) ⊙ (W3ᵀ δ)] z1ᵀ
    if isinstance(e, (Sum, Kron, Scaled)) or e.precedence < PRODUCT:
        return _paren(e.form)
    return e.form


def _write(e: MatExpr) -> Form:
    if isinstance(e, Symbol):
        return e.written
    if isinstance(e, Identity):
        return Form("I", "I")
    if isinstance(e, Zero):
        return Form("0", "0")
    if isinstance(e, Ones):
        m, n = e.shape
        if n == 1:
            return Form("𝟏", r"\mathbf{1}")
        if m == 1:
            return Form("𝟏ᵀ", r"\mathbf{1}^\top")
        return Form("𝟏𝟏ᵀ", r"\mathbf{1}\mathbf{1}^\top")
    if isinstance(e, Commutation):
        return Form(f"K{subscript(e.m)},{subscript(e.n)}", f"K_{{{e.m},{e.n}}}")
    if isinstance(e, Transpose):
        if isinstance(e.a, Inverse):  # (X⁻¹)ᵀ is written X⁻ᵀ
            base = _operand(e.a.a, ATOM)
            return Form(f"{base.text}⁻ᵀ", rf"{base.latex}^{{-\top}}")
        base = _operand(e.a, ATOM)
        return Form(f"{base.text}ᵀ", rf"{base.latex}^\top")
    if isinstance(e, Inverse):
        base = _operand(e.a, ATOM)
        return Form(f"{base.text}⁻¹", rf"{base.latex}^{{-1}}")
    if isinstance(e, Product):
        flat: list[MatExpr] = []
        for f in e.factors:  # a product of products is written as one (associativity)
            flat.extend(f.factors if isinstance(f, Product) else [f])
        parts = [_product_operand(f) for f in flat]
        text = parts[0].text
        for prev, p in zip(parts, parts[1:]):  # each factor against its neighbour only
            text += _separator(prev.text, p.text) + p.text
        return Form(text, " ".join(p.latex for p in parts))
    if isinstance(e, Sum):
        text, latex = e.terms[0].form.text, e.terms[0].form.latex
        for t in e.terms[1:]:
            if isinstance(t, Scaled) and t.c < 0:
                rest = t.a.form if t.c == -1.0 else _write_scaled(-t.c, t.a)
                if t.c == -1.0 and isinstance(t.a, (Sum, Scaled)):
                    rest = _paren(rest)
                text += f" − {rest.text}"
                latex += f" - {rest.latex}"
            else:
                text += f" + {t.form.text}"
                latex += f" + {t.form.latex}"
        return Form(text, latex)
    if isinstance(e, Scaled):
        return _write_scaled(e.c, e.a)
    if isinstance(e, ScalarTimes):
        s = e.s.form if e.s.precedence >= POSTFIX else _paren(e.s.form)
        a = _product_operand(e.a)
        return Form(_join(s.text, a.text), f"{s.latex} {a.latex}")
    if isinstance(e, Hadamard):
        a, b = (_paren(x.form) if x.precedence <= PRODUCT and not isinstance(x, Hadamard)
                else x.form for x in (e.a, e.b))
        return Form(f"{a.text} ⊙ {b.text}", rf"{a.latex} \odot {b.latex}")
    if isinstance(e, Kron):
        a = _paren(e.a.form) if isinstance(e.a, (Sum, Kron, Hadamard)) else e.a.form
        b = _paren(e.b.form) if isinstance(e.b, (Sum, Kron, Hadamard, Scaled)) else e.b.form
        return Form(f"{a.text} ⊗ {b.text}", rf"{a.latex} \otimes {b.latex}")
    if isinstance(e, Diag):
        return Form(f"diag({e.a.text})", rf"\operatorname{{diag}}({e.a.latex})")
    if isinstance(e, Vec):
        return Form(f"vec({e.a.text})", rf"\operatorname{{vec}}({e.a.latex})")
    if isinstance(e, Unvec):
        return Form(f"unvec({e.a.text})", rf"\operatorname{{unvec}}({e.a.latex})")
    if isinstance(e, Trace):
        return Form(f"tr({e.a.text})", rf"\operatorname{{tr}}({e.a.latex})")
    if isinstance(e, Call):
        fields: dict[str, object] = dict(e.fields)
        need = 0 if e.precedence == ATOM else (ATOM if e.precedence == POSTFIX
                                               else e.precedence + 1)
        for i, a in enumerate(e.args):
            fields[str(i)] = _operand(a, need)
        return e.template.form(**fields)
    if isinstance(e, Factor):
        return e.label
    raise TypeError(f"cannot write a {type(e).__name__}")  # pragma: no cover


# ======================================================================= evaluation
def evaluate(e: MatExpr, values: Mapping[str, object]) -> np.ndarray:
    """The value of ``e``, a 2-D float64 array, given each symbol's value by name.

    A symbol's value may be given in its value's shape (a vector as (n,), a scalar as a
    number): it is read as the matrix it stands for. Shared sub-expressions are
    evaluated once.

    Raises
    ------
    JacobianCalcError
        A symbol has no value.
    ShapeError
        A value does not have its symbol's shape.
    """
    memo: dict[int, np.ndarray] = {}
    env: dict[str, np.ndarray] = {}
    for name, v in values.items():
        arr = np.asarray(v, dtype=np.float64)
        env[name] = arr

    def ev(x: MatExpr) -> np.ndarray:
        key = id(x)
        found = memo.get(key)
        if found is not None:
            return found
        out = _evaluate_node(x, ev, env)
        if out.shape != x.shape:
            raise ShapeError(f"{x.text} evaluated to shape {out.shape}, expected {x.shape}")
        memo[key] = out
        return out

    with np.errstate(all="ignore"):
        return ev(e)


def _symbol_value(e: Symbol, env: Mapping[str, np.ndarray]) -> np.ndarray:
    if e.name not in env:
        raise JacobianCalcError(f"no value for {e.written.text} (key {e.name!r}); given: "
                                f"{', '.join(env) or 'nothing'}")
    v = env[e.name]
    if v.size != e.shape[0] * e.shape[1] or (v.ndim == 2 and v.shape != e.shape) or v.ndim > 2:
        raise ShapeError(f"the value of {e.written.text} has shape {v.shape}, but "
                         f"{e.written.text} is {_dims(e)}")
    return v.reshape(e.shape)


def _dense(m: Any) -> np.ndarray:
    if hasattr(m, "toarray"):
        m = m.toarray()
    return np.asarray(m, dtype=np.float64)


def _evaluate_node(e: MatExpr, ev: Callable[[MatExpr], np.ndarray],
                   env: Mapping[str, np.ndarray]) -> np.ndarray:
    if isinstance(e, Symbol):
        return _symbol_value(e, env)
    if isinstance(e, Identity):
        return np.eye(e.n)
    if isinstance(e, Ones):
        return np.ones(e.shape)
    if isinstance(e, Zero):
        return np.zeros(e.shape)
    if isinstance(e, Commutation):
        from .vec import commutation_matrix
        return commutation_matrix(e.m, e.n).toarray()
    if isinstance(e, Transpose):
        return np.ascontiguousarray(ev(e.a).T)
    if isinstance(e, Inverse):
        return np.linalg.inv(ev(e.a))
    if isinstance(e, Product):
        mats = [ev(f) for f in e.factors]
        if 2 < len(mats) <= 16:  # multi_dot chooses the order (and recurses: keep it short)
            return np.linalg.multi_dot(mats)
        out = mats[0]
        for m in mats[1:]:
            out = out @ m
        return out
    if isinstance(e, Sum):
        out = ev(e.terms[0]).copy()
        for t in e.terms[1:]:
            out += ev(t)
        return out
    if isinstance(e, Scaled):
        return e.c * ev(e.a)
    if isinstance(e, ScalarTimes):
        return ev(e.s)[0, 0] * ev(e.a)
    if isinstance(e, Hadamard):
        return ev(e.a) * ev(e.b)
    if isinstance(e, Kron):
        return np.kron(ev(e.a), ev(e.b))
    if isinstance(e, Diag):
        return np.diag(ev(e.a)[:, 0])
    if isinstance(e, Vec):
        return ev(e.a).reshape(-1, 1, order="F")
    if isinstance(e, Unvec):
        return ev(e.a).reshape(e.shape, order="F")
    if isinstance(e, Trace):
        return np.array([[np.trace(ev(e.a))]])
    if isinstance(e, Call):
        args = [ev(a).reshape(s) for a, s in zip(e.args, e.lib_shapes)]
        return np.asarray(e.fn(*args), dtype=np.float64).reshape(e.shape)
    if isinstance(e, Factor):
        return _dense(e.build(*(ev(a) for a in e.args)))
    raise TypeError(f"cannot evaluate a {type(e).__name__}")  # pragma: no cover


# ==================================================================== inspection
def count_nodes(e: MatExpr) -> int:
    """The number of nodes of the tree (a shared sub-expression counts each time it appears)."""
    if e._count is None:
        object.__setattr__(e, "_count", 1 + sum(count_nodes(c) for c in e.children))
    return e._count  # type: ignore[return-value]


def symbols(e: MatExpr) -> list[Symbol]:
    """The symbols of ``e``, each once, in the order they are first met (left to right)."""
    seen: dict[Symbol, None] = {}
    done: set[int] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if id(x) in done:
            continue
        done.add(id(x))
        if isinstance(x, Symbol):
            seen.setdefault(x, None)
        stack.extend(reversed(x.children))
    return list(seen)


def _transposes(e: MatExpr) -> int:
    """How many transposes a term is written with (a sum lists the plainer terms first)."""
    own = 1 if isinstance(e, Transpose) else 0
    return own + sum(_transposes(c) for c in e.children)


# ====================================================================== simplifying
class _Rule:
    """One identity: its name, the node type it applies to, and the rewrite (or None)."""

    __slots__ = ("name", "kind", "apply")

    def __init__(self, name: str | None, kind: type,
                 apply: Callable[[Any], MatExpr | None]) -> None:
        self.name, self.kind, self.apply = name, kind, apply

    def __repr__(self) -> str:
        return f"<rule {self.name}>"


def _is_one(e: MatExpr) -> bool:
    """A 1×1 matrix equal to 1 (I₁ or 𝟏 of one entry)."""
    return e.shape == (1, 1) and isinstance(e, (Identity, Ones))


def _split_scalar(e: MatExpr) -> tuple[float, MatExpr]:
    if isinstance(e, Scaled):
        return e.c, e.a
    return 1.0, e


def _with_scalar(c: float, e: MatExpr) -> MatExpr:
    if c == 1.0:
        return e
    if c == 0.0:
        return Zero(*e.shape)
    return Scaled(c, e)


# --------------------------------------------------------------------- transposes
def _t_twice(e: Transpose) -> MatExpr | None:
    return e.a.a if isinstance(e.a, Transpose) else None


def _t_product(e: Transpose) -> MatExpr | None:
    if isinstance(e.a, Product):
        return Product([Transpose(f) for f in reversed(e.a.factors)])
    if isinstance(e.a, ScalarTimes):
        return ScalarTimes(e.a.s, Transpose(e.a.a))
    return None


def _t_sum(e: Transpose) -> MatExpr | None:
    return Sum([Transpose(t) for t in e.a.terms]) if isinstance(e.a, Sum) else None


def _t_scaled(e: Transpose) -> MatExpr | None:
    return Scaled(e.a.c, Transpose(e.a.a)) if isinstance(e.a, Scaled) else None


def _t_entrywise(e: Transpose) -> MatExpr | None:
    a = e.a
    if isinstance(a, Hadamard):
        return Hadamard(Transpose(a.a), Transpose(a.b))
    if isinstance(a, Kron):
        return Kron(Transpose(a.a), Transpose(a.b))
    return None


def _t_symmetric(e: Transpose) -> MatExpr | None:
    a = e.a
    if isinstance(a, (Identity, Diag)) or (a.shape == (1, 1) and not isinstance(a, Transpose)):
        return a
    if isinstance(a, Zero):
        return Zero(a.shape[1], a.shape[0])
    if isinstance(a, Ones) and a.shape[0] > 1 and a.shape[1] > 1:
        return Ones(a.shape[1], a.shape[0])
    if isinstance(a, Ones) and a.shape[1] > 1:  # (𝟏ᵀ)ᵀ = 𝟏
        return Ones(a.shape[1], 1)
    return None


def _t_commutation(e: Transpose) -> MatExpr | None:
    return Commutation(e.a.n, e.a.m) if isinstance(e.a, Commutation) else None


def _flipped(x: MatExpr) -> MatExpr:
    """xᵀ as it is written after simplifying: (Aᵀ)ᵀ is A."""
    return x.a if isinstance(x, Transpose) else Transpose(x)


def _transposed_term(t: MatExpr) -> MatExpr:
    """The transpose of a term as the simplifier writes it: (cA)ᵀ = cAᵀ, (AB)ᵀ = BᵀAᵀ."""
    if isinstance(t, Scaled):
        return Scaled(t.c, _transposed_term(t.a))
    if isinstance(t, Product):
        return Product([_flipped(f) for f in reversed(t.factors)])
    return _flipped(t)


def _is_symmetric(e: MatExpr) -> bool:
    """Sᵀ = S by its structure: I, diag(v), a scalar, MMᵀ, AᵀSA, S + T, cS, S⁻¹ of such S."""
    if e.shape[0] != e.shape[1]:
        return False
    if isinstance(e, (Identity, Diag)) or e.shape == (1, 1):
        return True
    if isinstance(e, Ones):
        return True
    if isinstance(e, (Scaled, Inverse)):
        return _is_symmetric(e.a)
    if isinstance(e, ScalarTimes):
        return _is_symmetric(e.a)
    if isinstance(e, Sum):  # each term symmetric, or its transpose a term as often (A + Aᵀ)
        rest = [t for t in e.terms if not _is_symmetric(t)]
        flipped = [_transposed_term(t) for t in rest]
        return all(rest.count(t) == flipped.count(t) for t in rest)
    if isinstance(e, Product):  # a palindrome up to transposes: f₁…fₙ with fᵢ = fₙ₊₁₋ᵢᵀ
        fs = e.factors
        n = len(fs)
        for i in range(n // 2):
            if fs[i] != _flipped(fs[n - 1 - i]):
                return False
        return n % 2 == 0 or _is_symmetric(fs[n // 2])
    return False


def _t_symmetric_inverse(e: Transpose) -> MatExpr | None:
    a = e.a
    if isinstance(a, Inverse) and _is_symmetric(a.a):
        return a
    return None


# ---------------------------------------------------------------------- inverses
def _i_twice(e: Inverse) -> MatExpr | None:
    return e.a.a if isinstance(e.a, Inverse) else None


def _i_transpose(e: Inverse) -> MatExpr | None:
    return Transpose(Inverse(e.a.a)) if isinstance(e.a, Transpose) else None


def _i_trivial(e: Inverse) -> MatExpr | None:
    if isinstance(e.a, Identity):
        return e.a
    if isinstance(e.a, Scaled):
        return Scaled(1.0 / e.a.c, Inverse(e.a.a))
    return None


# ---------------------------------------------------------------------- products
def _p_flatten(e: Product) -> MatExpr | None:
    if not any(isinstance(f, Product) for f in e.factors):
        return None
    out: list[MatExpr] = []
    for f in e.factors:
        out.extend(f.factors if isinstance(f, Product) else [f])
    return Product(out)


def _p_zero(e: Product) -> MatExpr | None:
    return Zero(*e.shape) if any(isinstance(f, Zero) for f in e.factors) else None


def _p_scalars(e: Product) -> MatExpr | None:
    for i, f in enumerate(e.factors):
        if isinstance(f, Scaled):
            rest = list(e.factors)
            rest[i] = f.a
            return Scaled(f.c, Product(rest))
        if isinstance(f, ScalarTimes):
            rest = list(e.factors)
            rest[i] = f.a
            return ScalarTimes(f.s, Product(rest))
    return None


def _p_identity(e: Product) -> MatExpr | None:
    kept = [f for f in e.factors if not (isinstance(f, Identity) or _is_one(f))]
    if len(kept) == len(e.factors):
        return None
    if not kept:
        return Identity(e.shape[0])
    return product(*kept)


def _p_kron(e: Product) -> MatExpr | None:
    fs = e.factors
    for i in range(len(fs) - 1):
        a, b = fs[i], fs[i + 1]
        if isinstance(a, Kron) and isinstance(b, Kron) and a.a.shape[1] == b.a.shape[0] \
                and a.b.shape[1] == b.b.shape[0]:
            merged = Kron(product(a.a, b.a), product(a.b, b.b))
            return product(*fs[:i], merged, *fs[i + 2:])
    return None


def _cancels(a: MatExpr, b: MatExpr) -> bool:
    """a b = I: X X⁻¹, X⁻¹ X, Xᵀ X⁻ᵀ, X⁻ᵀ Xᵀ."""
    def base(x: MatExpr) -> tuple[MatExpr, bool, bool]:
        t = isinstance(x, Transpose)
        x = x.a if t else x
        inv = isinstance(x, Inverse)
        return (x.a if inv else x), inv, t
    xa, ia, ta = base(a)
    xb, ib, tb = base(b)
    return xa == xb and ia != ib and ta == tb


def _p_inverse(e: Product) -> MatExpr | None:
    fs = e.factors
    for i in range(len(fs) - 1):
        if _cancels(fs[i], fs[i + 1]):
            rest = fs[:i] + fs[i + 2:]
            return product(*rest) if rest else Identity(e.shape[0])
    return None


def _p_diag(e: Product) -> MatExpr | None:
    fs = e.factors
    for i in range(len(fs) - 1):
        a, b = fs[i], fs[i + 1]
        if isinstance(a, Diag) and isinstance(b, Diag):
            return product(*fs[:i], Diag(Hadamard(a.a, b.a)), *fs[i + 2:])
        if isinstance(a, Diag) and b.shape[1] == 1:
            return product(*fs[:i], Hadamard(a.a, b), *fs[i + 2:])
    return None


def _p_vec_inner(e: Product) -> MatExpr | None:
    fs = e.factors
    for i in range(len(fs) - 1):
        a, b = fs[i], fs[i + 1]
        if isinstance(a, Transpose) and isinstance(a.a, Vec) and isinstance(b, Vec) \
                and a.a.a.shape == b.a.shape:
            return product(*fs[:i], Trace(product(Transpose(a.a.a), b.a)), *fs[i + 2:])
    return None


def _kron_like(e: MatExpr) -> MatExpr | None:
    return _split_scalar(e)[1] if isinstance(_split_scalar(e)[1], Kron) else None


def _p_distribute(e: Product) -> MatExpr | None:
    """K(S₁ + S₂) = KS₁ + KS₂ when K is a Kronecker product that merges with a term."""
    fs = e.factors
    for i, f in enumerate(fs):
        if not isinstance(f, Sum):
            continue
        for j, side in ((i - 1, "left"), (i + 1, "right")):
            if not 0 <= j < len(fs) or not isinstance(fs[j], Kron):
                continue
            k = fs[j]
            merges = False
            for t in f.terms:
                tk = _kron_like(t)
                if tk is None:
                    continue
                a, b = (k, tk) if side == "left" else (tk, k)
                if a.a.shape[1] == b.a.shape[0] and a.b.shape[1] == b.b.shape[0]:
                    merges = True
            if not merges:
                continue
            lo, hi = min(i, j), max(i, j)
            terms = [product(k, t) if side == "left" else product(t, k) for t in f.terms]
            return product(*fs[:lo], Sum(terms), *fs[hi + 1:])
    return None


# ---------------------------------------------------------------------------- sums
def _s_flatten(e: Sum) -> MatExpr | None:
    if not any(isinstance(t, Sum) for t in e.terms) and \
            not any(isinstance(t, Scaled) and isinstance(t.a, Sum) for t in e.terms):
        return None
    out: list[MatExpr] = []
    for t in e.terms:
        c, core = _split_scalar(t)
        if isinstance(core, Sum):
            out.extend(_with_scalar(c, u) for u in core.terms)
        else:
            out.append(t)
    return Sum(out)


def _s_zero(e: Sum) -> MatExpr | None:
    kept = [t for t in e.terms if not isinstance(t, Zero)]
    if len(kept) == len(e.terms):
        return None
    return add(*kept) if kept else Zero(*e.shape)


def _s_like(e: Sum) -> MatExpr | None:
    groups: dict[MatExpr, float] = {}
    order: list[MatExpr] = []
    for t in e.terms:
        c, core = _split_scalar(t)
        if core not in groups:
            order.append(core)
            groups[core] = 0.0
        groups[core] += c
    if len(order) == len(e.terms):
        return None
    kept = [_with_scalar(groups[core], core) for core in order if groups[core] != 0.0]
    return add(*kept) if kept else Zero(*e.shape)


def _factors(t: MatExpr) -> tuple[float, list[MatExpr]]:
    c, core = _split_scalar(t)
    return c, (list(core.factors) if isinstance(core, Product) else [core])


def _s_common(e: Sum) -> MatExpr | None:
    """AC + BC = (A + B)C and CA + CB = C(A + B), for two or more products."""
    for side in ("right", "left"):
        groups: dict[MatExpr, list[int]] = {}
        for i, t in enumerate(e.terms):
            c, fs = _factors(t)
            if len(fs) < 2:
                continue
            groups.setdefault(fs[-1] if side == "right" else fs[0], []).append(i)
        for common, members in groups.items():
            if len(members) < 2:
                continue
            rests = []
            for i in members:
                c, fs = _factors(e.terms[i])
                rest = product(*(fs[:-1] if side == "right" else fs[1:]))
                rests.append(_with_scalar(c, rest))
            inner = Sum(rests)
            merged = product(inner, common) if side == "right" else product(common, inner)
            others = [t for i, t in enumerate(e.terms) if i not in members]
            first = members[0]
            terms = []
            for i, t in enumerate(e.terms):
                if i == first:
                    terms.append(merged)
                elif i not in members:
                    terms.append(t)
            return add(*terms) if others else merged
    return None


def _s_common_kron(e: Sum) -> MatExpr | None:
    """A ⊗ C + B ⊗ C = (A + B) ⊗ C and C ⊗ A + C ⊗ B = C ⊗ (A + B)."""
    for side in ("right", "left"):
        groups: dict[MatExpr, list[int]] = {}
        for i, t in enumerate(e.terms):
            c, core = _split_scalar(t)
            if isinstance(core, Kron):
                groups.setdefault(core.b if side == "right" else core.a, []).append(i)
        for common, members in groups.items():
            if len(members) < 2:
                continue
            parts = []
            for i in members:
                c, core = _split_scalar(e.terms[i])
                parts.append(_with_scalar(c, core.a if side == "right" else core.b))
            merged = Kron(Sum(parts), common) if side == "right" else Kron(common, Sum(parts))
            terms = [merged if i == members[0] else t for i, t in enumerate(e.terms)
                     if i == members[0] or i not in members]
            return add(*terms)
    return None


def _order_key(t: MatExpr) -> tuple[bool, int]:
    # positive terms first (ŷ − y, not −y + ŷ), then the plainer ones (AX + AᵀX)
    return (isinstance(t, Scaled) and t.c < 0, _transposes(t))


def _s_order(e: Sum) -> MatExpr | None:
    ordered = sorted(e.terms, key=_order_key)
    return None if ordered == list(e.terms) else Sum(ordered)


# ---------------------------------------------------------------- scalar multiples
def _c_trivial(e: Scaled) -> MatExpr | None:
    if e.c == 1.0:
        return e.a
    if e.c == 0.0 or isinstance(e.a, Zero):
        return Zero(*e.shape)
    if isinstance(e.a, Scaled):
        return _with_scalar(e.c * e.a.c, e.a.a)
    return None


def _st_trivial(e: ScalarTimes) -> MatExpr | None:
    if _is_one(e.s):
        return e.a
    if isinstance(e.s, Zero) or isinstance(e.a, Zero):
        return Zero(*e.shape)
    if isinstance(e.s, Scaled):
        return Scaled(e.s.c, ScalarTimes(e.s.a, e.a))
    if isinstance(e.a, Scaled):
        return Scaled(e.a.c, ScalarTimes(e.s, e.a.a))
    if isinstance(e.a, ScalarTimes):
        return ScalarTimes(product(e.s, e.a.s), e.a.a)
    if e.a.shape == (1, 1):
        return product(e.s, e.a)
    return None


# ---------------------------------------------------------------- Hadamard, Kronecker
def _h_trivial(e: Hadamard) -> MatExpr | None:
    for x, y in ((e.a, e.b), (e.b, e.a)):
        if isinstance(x, Zero):
            return Zero(*e.shape)
        if isinstance(x, Ones):
            return y
        if isinstance(x, Scaled):
            return Scaled(x.c, Hadamard(x.a, y) if x is e.a else Hadamard(y, x.a))
    return None


def _h_scalars(e: Hadamard) -> MatExpr | None:
    if e.shape != (1, 1):
        return None
    if isinstance(e.b, Identity):
        return e.a
    if isinstance(e.a, Identity):
        return e.b
    return product(e.a, e.b)


def _k_trivial(e: Kron) -> MatExpr | None:
    a, b = e.a, e.b
    if isinstance(a, Zero) or isinstance(b, Zero):
        return Zero(*e.shape)
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(a.n * b.n)
    if a.shape == (1, 1):
        return b if _is_one(a) else ScalarTimes(a, b)
    if b.shape == (1, 1):
        return a if _is_one(b) else ScalarTimes(b, a)
    if isinstance(a, Scaled):
        return Scaled(a.c, Kron(a.a, b))
    if isinstance(b, Scaled):
        return Scaled(b.c, Kron(a, b.a))
    return None


# ---------------------------------------------------------------- diag, vec, unvec, tr
def _d_trivial(e: Diag) -> MatExpr | None:
    if isinstance(e.a, Ones):
        return Identity(e.shape[0])
    if isinstance(e.a, Zero):
        return Zero(*e.shape)
    if isinstance(e.a, Scaled):
        return Scaled(e.a.c, Diag(e.a.a))
    return None


def _v_trivial(e: Vec) -> MatExpr | None:
    a = e.a
    if a.shape[1] == 1:
        return a
    if a.shape[0] == 1:  # vec(xᵀ) = x: a row's entries in order
        return Transpose(a)
    if isinstance(a, Zero):
        return Zero(*e.shape)
    if isinstance(a, Scaled):
        return Scaled(a.c, Vec(a.a))
    return None


def _u_trivial(e: Unvec) -> MatExpr | None:
    a = e.a
    if isinstance(a, Vec) and a.a.shape == e.shape:
        return a.a
    if a.shape == e.shape:
        return a
    if e.shape[0] == 1 and a.shape[1] == 1:  # a column read as a row
        return Transpose(a)
    if isinstance(a, Scaled):
        return Scaled(a.c, Unvec(a.a, e.shape))
    return None


def _tr_trivial(e: Trace) -> MatExpr | None:
    if e.a.shape == (1, 1):
        return e.a
    if isinstance(e.a, Scaled):
        return Scaled(e.a.c, Trace(e.a.a))
    return None


#: The identities the simplifier uses, by the node type they rewrite; each is tried in
#: order, and its name is logged when it changes the expression (``None``: bookkeeping
#: such as associativity, not logged).
RULES: tuple[_Rule, ...] = (
    _Rule("(Aᵀ)ᵀ = A", Transpose, _t_twice),
    _Rule("(AB)ᵀ = BᵀAᵀ", Transpose, _t_product),
    _Rule("(A + B)ᵀ = Aᵀ + Bᵀ", Transpose, _t_sum),
    _Rule("(cA)ᵀ = cAᵀ", Transpose, _t_scaled),
    _Rule("(A ⊙ B)ᵀ = Aᵀ ⊙ Bᵀ, (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ", Transpose, _t_entrywise),
    _Rule("a symmetric matrix (I, diag(v), a scalar) is its own transpose", Transpose,
          _t_symmetric),
    _Rule("the transpose of K(m,n) is K(n,m)", Transpose, _t_commutation),
    _Rule("a symmetric S (MMᵀ, S + Sᵀ, …) has S⁻ᵀ = S⁻¹", Transpose, _t_symmetric_inverse),
    _Rule("(X⁻¹)⁻¹ = X", Inverse, _i_twice),
    _Rule("(Xᵀ)⁻¹ = X⁻ᵀ", Inverse, _i_transpose),
    _Rule("I⁻¹ = I, (cX)⁻¹ = c⁻¹X⁻¹", Inverse, _i_trivial),
    _Rule(None, Product, _p_flatten),
    _Rule("0·A = 0", Product, _p_zero),
    _Rule("scalars move out of products: A(cB) = c(AB)", Product, _p_scalars),
    _Rule("IA = A", Product, _p_identity),
    _Rule("XX⁻¹ = I", Product, _p_inverse),
    _Rule("(A ⊗ B)(C ⊗ D) = AC ⊗ BD", Product, _p_kron),
    _Rule("diag(v)u = v ⊙ u", Product, _p_diag),
    _Rule("vec(A)ᵀvec(B) = tr(AᵀB)", Product, _p_vec_inner),
    _Rule("distributivity: K(A + B) = KA + KB", Product, _p_distribute),
    _Rule(None, Sum, _s_flatten),
    _Rule("A + 0 = A", Sum, _s_zero),
    _Rule("like terms collected: cA + dA = (c + d)A", Sum, _s_like),
    _Rule("common factor: AC + BC = (A + B)C", Sum, _s_common),
    _Rule("common Kronecker factor: A ⊗ C + B ⊗ C = (A + B) ⊗ C", Sum, _s_common_kron),
    _Rule(None, Sum, _s_order),
    _Rule("1·A = A, c(dA) = (cd)A", Scaled, _c_trivial),
    _Rule("1·A = A, c(dA) = (cd)A", ScalarTimes, _st_trivial),
    _Rule("𝟏 ⊙ A = A, (cA) ⊙ B = c(A ⊙ B)", Hadamard, _h_trivial),
    _Rule("a ⊙ b = ab for 1×1 a, b (s ⊙ I₁ = s)", Hadamard, _h_scalars),
    _Rule("I ⊗ I = I, c ⊗ A = cA, (cA) ⊗ B = c(A ⊗ B)", Kron, _k_trivial),
    _Rule("diag(𝟏) = I", Diag, _d_trivial),
    _Rule("vec(v) = v, vec(xᵀ) = x", Vec, _v_trivial),
    _Rule("unvec(vec(A)) = A", Unvec, _u_trivial),
    _Rule("tr(s) = s for a scalar s", Trace, _tr_trivial),
)

_BY_KIND: dict[type, list[_Rule]] = {}
for _r in RULES:
    _BY_KIND.setdefault(_r.kind, []).append(_r)
del _r

#: A rewrite that keeps firing this many times on one expression is a bug (a rule loop).
_MAX_REWRITES = 100_000


def simplify(e: MatExpr, log: list[str] | None = None) -> MatExpr:
    """``e`` rewritten with :data:`RULES` until none applies; the value is unchanged.

    Children are simplified first; then the rules of the node's type are tried in order,
    and a result is simplified again. The name of every identity used is appended to
    ``log`` (once per application).
    """
    memo: dict[MatExpr, MatExpr] = {}
    budget = [_MAX_REWRITES]

    def go(x: MatExpr) -> MatExpr:
        found = memo.get(x)
        if found is not None:
            return found
        kids = x.children
        y = x.rebuild([go(c) for c in kids]) if kids else x
        for rule in _BY_KIND.get(type(y), ()):
            z = rule.apply(y)
            if z is not None:
                if z.shape != y.shape:  # pragma: no cover - a wrong rule
                    raise JacobianCalcError(f"the rule {rule.name!r} changed the shape of "
                                            f"{y.text}")
                budget[0] -= 1
                if budget[0] < 0:  # pragma: no cover - a rule loop
                    raise JacobianCalcError(f"simplifying {e.text[:200]} does not terminate")
                if rule.name and log is not None:
                    log.append(rule.name)
                y = go(z)
                break
        memo[x] = y
        return y

    return go(e)


# =================================================================== the literal chain
def pull(G: MatExpr, F: MatExpr, shape: tuple[int, int] | None = None,
         log: list[str] | None = None) -> MatExpr:
    r"""The matrix R with :math:`\operatorname{vec}(R)^\top = \operatorname{vec}(G)^\top F`.

    This rewrites one link of a chain of row gradients (eq 18, 28, 35): G is the
    matrix-shaped gradient of a scalar with respect to a node, F the literal factor
    ∂vec(node)/∂vec(argument) written as a matrix expression, R the gradient with
    respect to the argument, shaped ``shape``. The identities, each logged by name:

    * :math:`\operatorname{vec}(G)^\top (P \otimes Q) = \operatorname{vec}(Q^\top G P)^\top`
      (from :math:`\operatorname{vec}(AXB) = (B^\top \otimes A)\operatorname{vec}X`); with
      Q = I and P = xᵀ this is Lemma 2.6, a row times :math:`x^\top \otimes I` is
      :math:`\operatorname{vec}(g x^\top)^\top` (eq 17, 25);
    * :math:`\operatorname{vec}(G)^\top \operatorname{diag}(\operatorname{vec}V) =
      \operatorname{vec}(V \odot G)^\top` (diag(v)u = v ⊙ u, eq 29, 32);
    * :math:`\operatorname{vec}(G)^\top K = \operatorname{vec}(G^\top)^\top`;
    * :math:`g^\top M = (M^\top g)^\top` for a column g (eq 11, 31);
    * a scalar's row :math:`g \operatorname{vec}(M)^\top = \operatorname{vec}(gM)^\top`,
      a column :math:`\operatorname{vec}(G)^\top \operatorname{vec}(A) = \operatorname{tr}(G^\top A)`;
    * sums, products and scalar multiples of factors, link by link.

    A factor none of these reads (a :class:`Factor`, a dense matrix acting on a matrix) is
    left in the chain form :math:`\operatorname{unvec}(F^\top \operatorname{vec}(G))`,
    logged as such.
    """
    log = log if log is not None else []
    if G.shape[0] * G.shape[1] != F.shape[0]:
        raise ShapeError(f"the row vec({G.text})ᵀ has {G.shape[0] * G.shape[1]} entries but "
                         f"the factor {F.text} has {F.shape[0]} rows")
    R = _pull(G, F, shape, log)
    if shape is not None and R.shape != tuple(shape):
        R = Transpose(R) if R.shape == (shape[1], shape[0]) and 1 in shape \
            else Unvec(Vec(R), tuple(shape))  # type: ignore[arg-type]
    return R


def _pull(G: MatExpr, F: MatExpr, shape: tuple[int, int] | None, log: list[str]) -> MatExpr:
    if isinstance(F, Scaled):
        return Scaled(F.c, _pull(G, F.a, shape, log))
    if isinstance(F, ScalarTimes):
        return ScalarTimes(F.s, _pull(G, F.a, shape, log))
    if isinstance(F, Sum):
        parts = [_pull(G, t, shape, log) for t in F.terms]
        parts = [_reshaped(p, parts[0].shape if shape is None else shape) for p in parts]
        return Sum(parts)
    if isinstance(F, Product):
        R = G
        for i, f in enumerate(F.factors):
            last = i == len(F.factors) - 1
            R = _pull(R, f, shape if last else None, log)
        return R
    if isinstance(F, Zero):
        return Zero(*(shape or (F.shape[1], 1)))
    if isinstance(F, Identity):
        log.append("vec(G)ᵀI = vec(G)ᵀ")
        return G
    if isinstance(F, Kron):
        P, Q = F.a, F.b
        want = (Q.shape[0], P.shape[0])
        g = G if G.shape == want else _reshaped(G, want)
        if isinstance(Q, Identity) and P.shape[0] == 1:
            log.append("a row times (xᵀ ⊗ I) is vec(g xᵀ)ᵀ (Lemma 2.6)")
        else:
            log.append("vec(G)ᵀ(P ⊗ Q) = vec(QᵀGP)ᵀ, from vec(AXB) = (Bᵀ ⊗ A)vec(X)")
        return product(Transpose(Q), g, P)
    if isinstance(F, Diag):
        v = F.a
        V = v.a if isinstance(v, Vec) else v
        g = G if G.shape == V.shape else _reshaped(G, V.shape)
        log.append("vec(G)ᵀdiag(vec V) = vec(V ⊙ G)ᵀ, as diag(v)u = v ⊙ u")
        return Hadamard(V, g)
    if isinstance(F, Commutation):
        g = G if G.shape == (F.n, F.m) else _reshaped(G, (F.n, F.m))
        log.append("vec(G)ᵀK = vec(Gᵀ)ᵀ")
        return Transpose(g)
    if F.shape[0] == 1 and G.shape == (1, 1):
        # the row of a scalar: g·vec(M)ᵀ = vec(gM)ᵀ
        if isinstance(F, Transpose) and isinstance(F.a, Vec):
            M = F.a.a
        elif isinstance(F, Ones):
            M = Ones(*(shape or (F.shape[1], 1)))
        else:
            M = Transpose(F) if shape is None or shape[1] == 1 else \
                Unvec(Transpose(F), tuple(shape))  # type: ignore[arg-type]
        log.append("g·vec(M)ᵀ = vec(gM)ᵀ for a scalar's row")
        return ScalarTimes(G, M)
    if F.shape[1] == 1 and (shape is None or shape == (1, 1)):
        A = F.a if isinstance(F, Vec) else F
        g = G if G.shape == A.shape else _reshaped(G, A.shape)
        log.append("vec(G)ᵀvec(A) = tr(GᵀA)")
        return Trace(product(Transpose(g), A))
    if G.shape[1] == 1 and (shape is None or shape[1] == 1) and not isinstance(F, Factor):
        log.append("gᵀM = (Mᵀg)ᵀ")
        return product(Transpose(F), G)
    log.append("no identity applies: left in the chain form unvec(Fᵀvec(G))")
    out = shape or (F.shape[1], 1)
    column = product(Transpose(F), G if G.shape[1] == 1 else Vec(G))
    return column if tuple(out) == column.shape else Unvec(column, tuple(out))  # type: ignore[arg-type]


def _reshaped(G: MatExpr, shape: Sequence[int]) -> MatExpr:
    shape = (int(shape[0]), int(shape[1]))
    if G.shape == shape:
        return G
    if G.shape == (shape[1], shape[0]) and 1 in shape:
        return Transpose(G)
    return Unvec(Vec(G), shape)
