r"""What one entry of the operations table holds, and the table itself.

An :class:`Operation` keeps in one place everything the library needs to know about an
operation:

* its public spelling and arity (``jc.<spelling>``, the expression parser's whitelist and
  the documented list of functions are generated from it);
* its domain, as :class:`Rule` objects — one validator each (square, invertible,
  positive, equal shapes, …), with the hint the calculator uses to draw random data that
  satisfies it;
* its forward computation and output shape;
* one :class:`Partial` per argument: the literal Jacobian ∂vec(out)/∂vec(argument), how
  that factor is written, what it costs before it is built (for the work bound and the
  cost model), whether it is symmetric, and the lecture equation it reproduces;
* one notation :class:`~jacobian_calc.core.notation.Template`, from which both the text
  and the LaTeX of the result are produced;
* its rewriting rules for formulas (:class:`Rewrite`, one per partial): the literal factor
  written as a matrix expression of :mod:`jacobian_calc.core.symbolic` — :math:`B^\top
  \otimes I` for a product, :math:`\operatorname{diag}(\operatorname{vec}\phi'(H))` for
  an activation — which the formula engine (:mod:`jacobian_calc.engine.formulas`) rewrites
  into a closed form, and optionally how the result itself is written (``symbolic``);
* for elementwise functions, the pointwise φ and φ′ (the blue quantities of Figure 1).

The engine, the renderers, the parser and the calculator only ever read this table. The
built-in operations are entries like any other: each family module
(:mod:`~jacobian_calc.ops.elementwise`, :mod:`~jacobian_calc.ops.linear`,
:mod:`~jacobian_calc.ops.matrix`, :mod:`~jacobian_calc.ops.reductions`,
:mod:`~jacobian_calc.ops.losses`, :mod:`~jacobian_calc.ops.convolution`,
:mod:`~jacobian_calc.ops.normalisation`, :mod:`~jacobian_calc.ops.attention`) lists its
entries, and :mod:`jacobian_calc.extend` adds
users' entries the same way.
"""

from __future__ import annotations

import keyword
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..core.errors import ChoiceError, JacobianCalcError
from ..core import symbolic as S
from ..core.notation import Form, Template
from ..core.structure import Diagonal, Identity, Kron, MatrixInfo, dense_info

__all__ = [
    "ATOM", "POSTFIX", "UNARY", "PRODUCT", "SUM",
    "FAMILIES", "NodeLike", "MatrixInfo", "Rule", "Partial", "Pointwise", "Param",
    "Operation", "Table", "LiveView", "role_view", "TABLE", "dense_info", "identity_partial", "identity_info", "diagonal_partial", "diagonal_info",
    "kron_partial", "gradient_partial", "LINEAR", "pointwise_second", "Operands", "Rewrite",
    "entry_call",
]

#: Precedence of the written forms, tightest first: a name or a function call, a postfix
#: (ᵀ, ⁻¹, a power), a prefix minus, a product, a sum. Used to place parentheses.
ATOM, POSTFIX, UNARY, PRODUCT, SUM = 5, 4, 3, 2, 1

#: The families, one module each.
FAMILIES = ("elementwise", "linear", "matrix", "reductions", "losses", "convolution",
            "normalisation", "attention")

Matrix = Any  # numpy.ndarray, a scipy sparse array or a Structured matrix


class NodeLike(Protocol):
    """What an operation reads of a node: its value, arguments, parameters and written form."""

    value: np.ndarray
    args: tuple[NodeLike, ...]
    params: Mapping[str, Any]
    op: Any

    @property
    def form(self) -> Form: ...


# ------------------------------------------------------------------------ domain rules
@dataclass(frozen=True)
class Rule:
    """One condition on an operation's arguments, checked before anything is computed.

    Attributes
    ----------
    check : callable
        ``(args, params, where) -> None``; raises a :class:`~jacobian_calc.JacobianCalcError`
        subclass whose message names the expression ``where`` (its written form), the
        argument and what was expected.
    sample : str or None
        What random data must satisfy for this rule, read by the calculator:
        ``"positive"`` or ``"invertible"`` (applied to the variables inside the arguments
        listed in ``on``), ``"probability"`` (a variable given as that argument is a
        distribution: positive, each column summing to 1), ``"spread"`` (entries well apart from one another, so that no
        column or row is nearly constant: a normalisation with eps = 0), or ``None``.
    on : tuple of int
        The arguments the sample hint applies to.
    when : callable or None
        ``params -> bool``: the rule applies only when this holds (a power's exponent).
    """

    check: Callable[[Sequence[NodeLike], Mapping[str, Any], str], None]
    sample: str | None = None
    on: tuple[int, ...] = (0,)
    when: Callable[[Mapping[str, Any]], bool] | None = None

    def applies(self, params: Mapping[str, Any]) -> bool:
        return self.when is None or bool(self.when(params))


# ------------------------------------------------------------------- formula rules
@dataclass(frozen=True)
class Operands:
    """What a rewriting rule sees of one application of an operation: its written parts.

    Attributes
    ----------
    args : tuple of MatExpr
        The arguments as matrix expressions (:mod:`jacobian_calc.core.symbolic`), written
        as the user wrote them (``A X``, a name, an expression); a vector is a column.
    out : MatExpr
        The result itself: its name when it has one (``h2``, ``ŷ``), else its expression
        (``X⁻¹`` for an unnamed inverse).
    params : mapping
        The operation's parameters (a power's ``p``, an activation's ``symbol``).
    shapes : tuple of tuple
        The arguments' shapes as values (``()``, ``(n,)``, ``(m, n)``).
    out_shape : tuple of int
        The result's shape as a value.
    """

    args: tuple[S.MatExpr, ...]
    out: S.MatExpr
    params: Mapping[str, Any]
    shapes: tuple[tuple[int, ...], ...]
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class Rewrite:
    r"""How one partial enters a formula: its literal factor written as a matrix expression.

    The formula engine (:mod:`jacobian_calc.engine.formulas`) multiplies these factors
    along the graph and rewrites the products with the named identities of
    :mod:`jacobian_calc.core.symbolic`: for a scalar F the row gradient times the factor,
    :math:`\operatorname{vec}(G)^\top F`, becomes :math:`\operatorname{vec}(R)^\top` with R
    shaped like the argument (:func:`~jacobian_calc.core.symbolic.pull`); for a matrix F the
    factors are kept in Kronecker form and merged by :math:`(A \otimes B)(C \otimes D) = AC
    \otimes BD`. A partial without a rewrite (or whose rule returns ``None`` for the
    shapes at hand) is left in the chain form, and the formula says so.

    Attributes
    ----------
    factor : callable or None
        ``Operands -> MatExpr | None``: ∂vec(out)/∂vec(argument) as a matrix expression,
        shape (size of the result, size of the argument): ``B^\top \otimes I_m`` for
        ``A @ B`` with respect to A, ``-(X^{-\top} \otimes X^{-1})`` for the inverse,
        ``\operatorname{diag}(\operatorname{vec}(\phi'(H)))`` for an activation, a row
        ``\operatorname{vec}(M)^\top`` for a scalar result.
    adjoint : callable or None
        ``(G, Operands) -> MatExpr``: the rewritten row directly, R with
        :math:`\operatorname{vec}(R)^\top = \operatorname{vec}(G)^\top F`, for a factor whose
        identity the engine does not know; G is shaped like the result, R like the argument.
    identity : str
        The name of the identity ``adjoint`` applies, printed in derivations.
    """

    factor: Callable[[Operands], S.MatExpr | None] | None = None
    adjoint: Callable[[S.MatExpr, Operands], S.MatExpr | None] | None = None
    identity: str = ""


def entry_call(op: Operation, args: Sequence[S.MatExpr], shapes: Sequence[tuple[int, ...]],
               out_shape: tuple[int, ...], params: Mapping[str, Any] | None = None,
               fields: Mapping[str, Form] | None = None) -> S.Call:
    """The operation ``op`` applied to matrix expressions: evaluated by its ``forward``,
    written with its notation (``softmax(ŷ)``, ``det(X)``)."""
    params = dict(params or {})
    return S.call(op.name, lambda *values: op.forward(*values, **params), op.notation,
                  *args, lib_shapes=shapes, shape=out_shape, fields=fields,
                  precedence=op.precedence,
                  key=tuple(sorted((k, repr(v)) for k, v in params.items())))


# ---------------------------------------------------------------------------- partials
FieldFn = Callable[[NodeLike], Mapping[str, object]]


@dataclass(frozen=True)
class Partial:
    """∂vec(output)/∂vec(argument) of one operation: the literal factor and how it is written.

    Attributes
    ----------
    build : callable
        ``node -> matrix``: the factor, shape (size of the node, size of the argument),
        dense, scipy sparse or structured (:mod:`jacobian_calc.core.structure`).
    label : Template
        How the factor is written; ``$0``, ``$1``, … are the arguments' written forms,
        other fields come from ``fields`` (or the operation's ``fields``).
    info : callable or None
        ``node -> MatrixInfo``: its shape and storage before it is built (the work bound
        and the cost model read it). ``None`` means dense.
    symmetric : bool
        The factor equals its transpose (an identity, a diagonal): in a transposed chain
        it is written as it is.
    equation : str or callable or None
        The lecture equation the factor reproduces, or ``node -> str | None``.
    fields : callable or None
        ``node -> {name: value}``: extra notation fields of this label.
    rewrite : Rewrite or None
        The factor as a matrix expression, for formulas (:func:`jacobian_calc.formula`);
        ``None`` leaves formulas through this partial in the chain form.
    """

    build: Callable[[NodeLike], Matrix]
    label: Template
    info: Callable[[NodeLike], MatrixInfo] | None = None
    symmetric: bool = False
    equation: str | Callable[[NodeLike], str | None] | None = None
    fields: FieldFn | None = None
    rewrite: Rewrite | None = None

    def equation_of(self, node: NodeLike) -> str | None:
        return self.equation(node) if callable(self.equation) else self.equation


def identity_partial(scale: float | Callable[[NodeLike], float] = 1.0, *,
                     label: str | None = None, equation: str | None = None,
                     fields: FieldFn | None = None, rewrite: Rewrite | None = None) -> Partial:
    """c·I of the output's size: sums, differences, scalings, reshapes.

    Its formula is c·I (a constant ``scale``); pass ``rewrite`` for a scale that depends
    on the node.
    """
    def c(node: NodeLike) -> float:
        return float(scale(node)) if callable(scale) else float(scale)

    def size(node: NodeLike) -> dict[str, object]:
        out: dict[str, object] = {"n": int(node.value.size)}
        out.update(fields(node) if fields else {})
        return out

    if rewrite is None and not callable(scale):
        rewrite = Rewrite(factor=lambda o: _scaled_identity(float(scale), o))
    return Partial(
        build=lambda node: Identity(node.value.size, c(node)),
        label=Template(label or "I_{$n}"),
        info=lambda node: identity_info(node.value.size),
        symmetric=True, equation=equation, fields=size, rewrite=rewrite)


def _scaled_identity(c: float, o: Operands) -> S.MatExpr:
    eye = S.identity(int(np.prod(o.out_shape, dtype=np.int64)))
    return eye if c == 1.0 else S.scaled(c, eye)


def identity_info(n: int) -> MatrixInfo:
    """The info of c·I_n, as :meth:`MatrixInfo.of` describes an :class:`Identity`: n entries
    written out, n multiply-adds a row, one number held (c), multiplied as a scaling."""
    n = int(n)
    return MatrixInfo(n, n, n, True, n, 1, "identity")


def diagonal_info(node: NodeLike) -> MatrixInfo:
    """The info of a diagonal factor of the node's size, as :meth:`MatrixInfo.of` describes a
    :class:`Diagonal`: n stored entries, n multiply-adds a row, n numbers held."""
    n = int(node.value.size)
    return MatrixInfo(n, n, n, True, n, n, "diagonal")


def diagonal_partial(values: Callable[[NodeLike], np.ndarray], label: str, *,
                     equation: str | None = None, fields: FieldFn | None = None,
                     rewrite: Rewrite | None = None) -> Partial:
    """diag(v) for an operation applied entry by entry (eq 29)."""
    return Partial(build=lambda node: Diagonal(values(node)), label=Template(label),
                   info=diagonal_info, symmetric=True, equation=equation, fields=fields,
                   rewrite=rewrite)


def kron_partial(factors: Callable[[NodeLike], tuple[np.ndarray | int, np.ndarray | int]],
                 label: str, *, scale: float = 1.0,
                 equation: str | Callable[[NodeLike], str | None] | None = None,
                 fields: FieldFn | None = None, rewrite: Rewrite | None = None) -> Partial:
    """A ⊗ B (each a matrix or an identity size), e.g. xᵀ ⊗ I_p (eq 22) or I_n ⊗ A.

    ``factors(node)`` must be cheap (views of values the node already holds): it is also
    called to learn the factor's size before it is built.
    """
    def build(node: NodeLike) -> Kron:
        k = Kron(*factors(node))
        return k if scale == 1.0 else k.scaled(scale)

    return Partial(build=build, label=Template(label),
                   info=lambda node: MatrixInfo.of(Kron(*factors(node))),
                   equation=equation, fields=fields, rewrite=rewrite)


def LINEAR(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Matrix]:
    """The second-order rule of a linear (or affine) operation: every block is zero."""
    return {}


def pointwise_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Matrix]:
    """The second-order rule of φ applied entry by entry: diag(ā ⊙ φ″(vec h))."""
    phi2 = node.op.pointwise.second_derivative  # type: ignore[attr-defined]
    h = node.args[0].value.reshape(-1, order="F")
    return {(0, 0): Diagonal(adjoint * phi2(h))}


def gradient_partial(gradient: Callable[..., np.ndarray], label: str, *,
                     position: int = 0, equation: str | None = None,
                     fields: FieldFn | None = None, rewrite: Rewrite | None = None) -> Partial:
    """The row vec(g)ᵀ of a scalar-valued operation, g = ∂out/∂(argument) shaped like it (eq 1, 24)."""
    def build(node: NodeLike) -> np.ndarray:
        g = gradient(*(a.value for a in node.args), **node.params)
        return np.asarray(g, dtype=np.float64).reshape(1, -1, order="F")

    return Partial(build=build, label=Template(label),
                   info=lambda node: dense_info(1, node.args[position].value.size),
                   equation=equation, fields=fields, rewrite=rewrite)


@dataclass(frozen=True)
class Pointwise:
    """φ and φ′ of a function applied entry by entry, and their written definitions.

    Attributes
    ----------
    function, derivative : callable
        ``ndarray -> ndarray`` of the same shape.
    definition, derivative_definition : Template
        ``$0`` is the argument, ``$fn`` the function's symbol: e.g.
        ``$fn($0) = \\frac{1}{1 + e^{-$0}}``.
    second_derivative : callable or None
        φ″, ``ndarray -> ndarray``; ``None`` when it is not known (then second-order
        derivatives through this function are refused).
    second_note : str or None
        Why φ″ vanishes, for a function whose φ″ is identically zero (the identity, ReLU):
        second-order derivations print it beside the term that vanishes.
    """

    function: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    definition: Template
    derivative_definition: Template
    second_derivative: Callable[[np.ndarray], np.ndarray] | None = None
    second_note: str | None = None


@dataclass(frozen=True)
class Param:
    """A parameter of an operation (a power's exponent, a scaling's factor).

    ``check(value) -> value`` validates and normalises it; ``default`` is used when the
    caller leaves it out (``None``: required).
    """

    name: str
    check: Callable[[object], object]
    default: object = None


# -------------------------------------------------------------------------- the entry
@dataclass(frozen=True)
class Operation:
    """One entry of the operations table.

    Attributes
    ----------
    name : str
        Key in the table; also the public spelling unless ``spelling`` says otherwise.
    family : str
        One of :data:`FAMILIES`.
    arity : int
    forward : callable
        ``(*argument values, **params) -> ndarray``.
    partials : tuple of Partial
        ``partials[i]`` differentiates with respect to argument ``i``.
    notation : Template
        The written form of the result (``$0``, ``$1`` the arguments).
    precedence : int
        How tightly the written form binds (:data:`ATOM` … :data:`SUM`).
    shape : callable or None
        ``(argument shapes, params) -> output shape``; ``None``: the first argument's.
        Called after the domain rules, so it may assume they hold.
    domain : tuple of Rule
    params : tuple of Param
    fields : callable or None
        ``node -> {name: value}``: notation fields shared by the result and its partials.
    spelling : str or None
        The function name users call (``jc.trace``, ``trace(X)`` in the parser); ``None``
        for an operation reached through an operator (``@``, ``+``, ``.T``).
    aliases : tuple of str
        Other spellings accepted (``tr`` for ``trace``).
    summary : str
        One line for the function's docstring and the documented list.
    pointwise : Pointwise or None
        For a function applied entry by entry: φ and φ′.
    gradients : tuple of callable or None
        For an operation with a scalar value: the gradient with respect to each argument,
        shaped like that argument, as ``(*argument values, **params) -> ndarray`` (the
        compact formulas read a loss's ∂f/∂ŷ here).
    roles : frozenset of str
        ``"activation"`` (offered to the lecture network as φ) or ``"loss"`` (as L).
    parser : bool
        Whether the expression parser (``jacobian-calc expr``) accepts calls of it.
    call_params : tuple of str
        Parameters a call may also give by position, after the expression arguments and in
        this order: ``jc.im2col(X, 3, 3)`` is ``jc.im2col(X, kh=3, kw=3)``. The expression
        parser accepts these (and only these) parameters, by position or by keyword, as
        numeric constants: ``conv2d(X, K, stride=2)``.
    second : callable or None
        The second-order rule: ``(node, ā) -> {(i, j): S_ij}`` where ā is the adjoint row
        of the node's output (a 1-D array, vec order) and S_ij, of shape (size of argument
        i, size of argument j), is ∂²(ā · vec(out)) / ∂vec(argument i) ∂vec(argument j).
        Only blocks with i ≤ j that are not zero are returned (S_ji = S_ijᵀ). ``LINEAR``
        for an operation whose second derivatives all vanish; ``None`` when it has no rule
        (second-order derivatives through it are then refused).
    symbolic : callable or None
        ``Operands -> MatExpr``: the result written as a matrix expression of its
        arguments (``A B`` as a product, ``Xᵀ`` as a transpose), which the simplifier can
        rewrite; ``None`` writes it as a call of this entry, evaluated by ``forward`` and
        written with ``notation``.
    positive_on : str or None
        The sample hint under which the value is positive whatever else holds (det:
        ``"invertible"``, det(I + E) > 0 for ‖E‖₂ < 1). A variable under this operation,
        inside an argument that must be positive (``log(det(X))``), is drawn with this hint
        rather than with positive entries, which would not make the value positive.
    """

    name: str
    family: str
    arity: int
    forward: Callable[..., np.ndarray]
    partials: tuple[Partial, ...]
    notation: Template
    precedence: int = ATOM
    shape: Callable[[tuple[tuple[int, ...], ...], Mapping[str, Any]], tuple[int, ...]] | None = None
    domain: tuple[Rule, ...] = ()
    params: tuple[Param, ...] = ()
    fields: FieldFn | None = None
    spelling: str | None = field(default="", repr=False)
    aliases: tuple[str, ...] = ()
    summary: str = ""
    pointwise: Pointwise | None = None
    gradients: tuple[Callable[..., np.ndarray], ...] | None = None
    roles: frozenset[str] = frozenset()
    parser: bool = True
    second: Callable[[NodeLike, np.ndarray], Mapping[tuple[int, int], Matrix]] | None = None
    symbolic: Callable[[Operands], S.MatExpr] | None = None
    positive_on: str | None = None
    call_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.spelling == "":
            object.__setattr__(self, "spelling", self.name)
        if self.family not in FAMILIES:
            raise JacobianCalcError(f"operation {self.name!r}: unknown family {self.family!r}; "
                                    f"choose one of {', '.join(FAMILIES)}")
        if len(self.partials) != self.arity:
            raise JacobianCalcError(f"operation {self.name!r} takes {self.arity} argument(s) "
                                    f"but has {len(self.partials)} partial(s); give one per "
                                    f"argument")
        unknown = [p for p in self.call_params if p not in {q.name for q in self.params}]
        if unknown:
            raise JacobianCalcError(f"operation {self.name!r}: call_params names "
                                    f"{', '.join(map(repr, unknown))}, which are not among its "
                                    f"parameters")
        for spelled in self.spellings:
            if not spelled.isidentifier() or keyword.iskeyword(spelled) \
                    or spelled.startswith("_"):
                raise JacobianCalcError(f"operation {self.name!r}: {spelled!r} cannot be a "
                                        f"function name (an identifier, not a keyword, no "
                                        f"leading underscore)")

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every name the function is called by: the spelling, then the aliases."""
        return ((self.spelling,) if self.spelling else ()) + self.aliases

    def notation_fields(self, node: NodeLike) -> dict[str, object]:
        """The fields of the result's template: arguments by position, then named fields."""
        out: dict[str, object] = {str(i): a.form for i, a in enumerate(node.args)}
        if self.fields is not None:
            out.update(self.fields(node))
        return out

    def partial_fields(self, node: NodeLike, position: int) -> dict[str, object]:
        out = self.notation_fields(node)
        extra = self.partials[position].fields
        if extra is not None:
            out.update(extra(node))
        return out

    def label(self, node: NodeLike, position: int) -> Form:
        """How the factor ∂node/∂(argument ``position``) is written, in both forms.

        An argument that is itself an expression with an operator (``A X``) is bracketed,
        so ``I₃⊗(A X)`` reads as one factor.
        """
        fields = self.partial_fields(node, position)
        for i, arg in enumerate(node.args):
            f = fields.get(str(i))
            if isinstance(f, Form) and getattr(arg, "precedence", ATOM) < ATOM \
                    and f.text != "…":
                fields[str(i)] = Form(f"({f.text})", rf"\left({f.latex}\right)")
        return self.partials[position].label.form(**fields)

    def factor_info(self, node: NodeLike, position: int) -> MatrixInfo:
        partial = self.partials[position]
        if partial.info is not None:
            return partial.info(node)
        return dense_info(node.value.size, node.args[position].value.size)

    def check_params(self, given: Mapping[str, object]) -> dict[str, object]:
        """Validate the parameters; unknown or missing ones are refused."""
        known = {p.name: p for p in self.params}
        extra = [k for k in given if k not in known]
        if extra:
            raise JacobianCalcError(
                f"{self.name} takes the parameter(s) {', '.join(known) or '(none)'}, not "
                f"{', '.join(repr(k) for k in extra)}")
        out = {}
        for p in self.params:
            if p.name in given:
                out[p.name] = p.check(given[p.name])
            elif p.default is not None:
                out[p.name] = p.default
            else:
                raise JacobianCalcError(f"{self.name} needs the parameter {p.name!r}")
        return out


class Table(Mapping[str, Operation]):
    """The operations by name; thread-safe to extend, read like a ``dict``."""

    def __init__(self) -> None:
        self._ops: dict[str, Operation] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Operation:
        return self._ops[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._ops))

    def __len__(self) -> int:
        return len(self._ops)

    def get_op(self, name: object) -> Operation:
        """The entry called ``name``, or :class:`~jacobian_calc.ChoiceError` listing them all."""
        try:
            return self._ops[name]  # type: ignore[index]
        except (KeyError, TypeError):
            raise ChoiceError("operation", name, self._ops) from None

    def add(self, op: Operation, *, replace: bool = False) -> Operation:
        """Add ``op``; a name or spelling already taken is refused unless ``replace``."""
        if not isinstance(op, Operation):
            raise JacobianCalcError(f"the table holds Operation entries, got {type(op).__name__}")
        with self._lock:
            if op.name in self._ops and not replace:
                raise JacobianCalcError(f"an operation named {op.name!r} already exists; pass "
                                        f"replace=True to replace it")
            taken = {s: o.name for o in self._ops.values() for s in o.spellings
                     if o.name != op.name}
            for s in op.spellings:
                if s in taken:
                    raise JacobianCalcError(f"the spelling {s!r} of {op.name!r} is already "
                                            f"the function of operation {taken[s]!r}")
            self._ops[op.name] = op
        return op

    def remove(self, name: str) -> Operation:
        """Take an entry out again (for users' extensions; built-ins stay)."""
        with self._lock:
            return self._ops.pop(self.get_op(name).name)

    def functions(self) -> dict[str, Operation]:
        """Every spelling (and alias) of a function, to its entry, in table order."""
        return {s: op for op in self._ops.values() for s in op.spellings}

    def parser_functions(self) -> dict[str, tuple[int, int]]:
        """The calls the expression parser accepts: spelling → (min, max) argument count.

        The count includes the parameters a call may give by position after the expression
        arguments (:attr:`Operation.call_params`).
        """
        return {s: (op.arity, op.arity + len(op.call_params))
                for s, op in self.functions().items() if op.parser}

    def with_role(self, role: str) -> dict[str, Operation]:
        """The entries offered in a role (``"activation"``, ``"loss"``), by name."""
        return {name: op for name, op in self._ops.items() if role in op.roles}


class LiveView(Mapping[str, Any]):
    """A read-only mapping read afresh from the table at every access, so it never goes stale.

    Parameters
    ----------
    read : callable
        ``() -> dict``: the mapping as the table makes it now.
    what : str
        What the values are, for ``repr`` and error messages.
    """

    def __init__(self, read: Callable[[], Mapping[str, Any]], what: str) -> None:
        self._read, self.what = read, what

    def __getitem__(self, name: str) -> Any:
        return self._read()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __repr__(self) -> str:
        return f"<{self.what}: {', '.join(self)}>"

    def lookup(self, name: object) -> Any:
        """The value for ``name``, or :class:`~jacobian_calc.ChoiceError` listing the valid names."""
        try:
            return self[name]  # type: ignore[index]
        except (KeyError, TypeError):
            raise ChoiceError(self.what, name, tuple(self)) from None


def role_view(table: Table, role: str) -> LiveView:
    """The entries with one role (``"activation"``, ``"loss"``), by name, read live."""
    return LiveView(lambda: table.with_role(role), role)


#: The one table of operations.
TABLE = Table()
