r"""Adding an operation: one call, one entry of the operations table.

Every operation of jacobian_calc — the lecture's activations, ``inv``, ``trace`` — is one
entry of :data:`jacobian_calc.ops.TABLE`; this module adds yours the same way. Once added
it works everywhere the built-in ones do: as ``jc.<name>`` on expressions, in
:func:`jacobian_calc.jacobian`, :func:`jacobian_calc.grad` and derivations (its factor
labelled as you write it, in text and LaTeX), in the cost model and the work bound, with
:mod:`jacobian_calc.testing`, and — when you ask for it with ``parser=True`` — in the
``jacobian-calc expr`` parser. An elementwise function with ``activation=True`` is also a
choice of :class:`jacobian_calc.MLP`.

>>> import numpy as np, jacobian_calc as jc
>>> from jacobian_calc import extend
>>> op = extend.elementwise(
...     "softsign", lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2,
...     summary="x / (1 + |x|), entry by entry")
>>> x = jc.var("x", [0.5, -2.0])
>>> jc.softsign(x).text
'softsign(x)'
>>> jc.jacobian(jc.softsign(x), x).toarray().round(4)
array([[0.4444, 0.    ],
       [0.    , 0.1111]])
>>> _ = extend.remove("softsign")

The general form, :func:`operation`, takes a forward function and one Jacobian function
per argument; both receive the argument values (and the operation's parameters):

>>> op = extend.operation(
...     "frob2", lambda A: np.asarray(np.sum(A * A)),
...     [lambda A: 2 * A.reshape(1, -1, order="F")],      # the row vec(2A)ᵀ (eq 1, 24)
...     notation=r"\lVert $0\rVert_F^2", labels=[r"2\,\operatorname{vec}($0)^\top"],
...     shape=lambda shapes: (), family="reductions")
>>> A = jc.var("A", [[1.0, 2.0], [3.0, 4.0]])
>>> jc.grad(jc.frob2(A), A)
array([[2., 4.],
       [6., 8.]])
>>> _ = extend.remove("frob2")

Formulas (:func:`jacobian_calc.formula`) reach an added operation through its rewriting
rule: a :class:`Rewrite` per argument, its literal factor written as a matrix expression of
:mod:`jacobian_calc.core.symbolic` (here the row vec(2A)ᵀ). Without one, the formula keeps
the operation's factor in the chain form, and says so. An elementwise function gets its
rule, diag(vec φ′(X)), without asking.

>>> from jacobian_calc.extend import symbolic as S
>>> op = extend.operation(
...     "frob2", lambda A: np.asarray(np.sum(A * A)),
...     [lambda A: 2 * A.reshape(1, -1, order="F")],
...     notation=r"\lVert $0\rVert_F^2", shape=lambda shapes: (), family="reductions",
...     rewrites=[extend.Rewrite(factor=lambda o: S.scaled(2, S.transpose(S.vec(o.args[0]))))])
>>> X = jc.var("X", [[1.0, 0.0], [1.0, 1.0]])
>>> str(jc.formula(jc.frob2(A @ X), X))
'2AᵀAX'
>>> _ = extend.remove("frob2")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace as replaced
from typing import Any

import numpy as np

from .core import symbolic
from .core.errors import JacobianCalcError
from .core.notation import Form, Template, operator_name
from .ops.base import ATOM, FAMILIES, TABLE, Operands, Operation, Partial, Rewrite, Rule, \
    dense_info
from .ops.domain import invertible, positive, prefers, rank, same_shape, square
from .ops.elementwise import function

__all__ = ["elementwise", "operation", "remove", "Rule", "positive", "invertible", "square",
           "same_shape", "rank", "prefers", "FAMILIES", "Rewrite", "Operands", "symbolic"]


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise JacobianCalcError(f"an operation's name must be an identifier without a leading "
                                f"underscore, got {name!r}")
    return name


def _callable(f: object, what: str) -> Callable[..., Any]:
    if not callable(f):
        raise JacobianCalcError(f"{what} must be a function, got {type(f).__name__}")
    return f  # type: ignore[return-value]


def elementwise(name: str, f: Callable[[np.ndarray], np.ndarray],
                df: Callable[[np.ndarray], np.ndarray], *, symbol: str | None = None,
                latex: str | None = None, definition: str | None = None,
                derivative: str | None = None, summary: str = "",
                domain: Sequence[Rule] = (), activation: bool = False, parser: bool = False,
                replace: bool = False,
                d2f: Callable[[np.ndarray], np.ndarray] | None = None) -> Operation:
    r"""Add a function applied entry by entry: φ and φ′, and its factor diag(φ′(vec X)) (eq 29).

    Parameters
    ----------
    name : str
        The function's name: ``jc.<name>`` and, with ``parser=True``, ``name(X)`` in the
        expression parser.
    f, df : callable
        φ and φ′, ``ndarray -> ndarray`` of the same shape.
    symbol, latex : str, optional
        How φ is written in text and LaTeX (default: the name, in LaTeX as
        ``operator_name`` (in ``jacobian_calc.core.notation``) writes it: ``\operatorname{name}``,
        or ``\mathop{\mathrm{soft\_sign}}`` for a name with an ``_``).
    definition, derivative : str, optional
        Templates of φ's and φ′'s definitions in ``$fn`` (the symbol) and ``$0``, e.g.
        ``r"$fn($0) = \frac{$0}{1 + |$0|}"``; shown when it is the lecture network's φ.
    summary : str
        One line for its docstring and the documented list of functions.
    domain : sequence of Rule
        Conditions on the argument (:func:`positive`, …), checked before it is computed.
    activation : bool
        Offer it to :class:`~jacobian_calc.MLP` as an activation.
    parser : bool
        Accept it in the expression parser.
    replace : bool
        Replace an operation of the same name (otherwise that is an error).
    d2f : callable, optional
        φ″, ``ndarray -> ndarray``: with it, Hessians (:func:`jacobian_calc.hessian`) pass
        through the function (its second-order rule is diag(ā ⊙ φ″)); without it they are
        refused with an error that names it.

    Returns
    -------
    Operation
        The entry, as added to the table.
    """
    name = _check_name(name)
    _callable(f, "f")
    _callable(df, "df")
    if d2f is not None:
        _callable(d2f, "d2f")
    symbol = symbol or name
    form = Form(symbol, latex or operator_name(symbol))
    op = function(name, form, f, df, definition or "$fn($0)", derivative or "$fn'($0)",
                  summary=summary or f"{name}, entry by entry", domain_rules=tuple(domain),
                  roles=frozenset({"activation"}) if activation else frozenset(), equation=None,
                  d2f=d2f)
    return TABLE.add(replaced(op, parser=parser), replace=replace)


def operation(name: str, forward: Callable[..., np.ndarray],
              jacobians: Sequence[Callable[..., Any]], *, notation: str,
              labels: Sequence[str] | None = None, shape: Callable[..., tuple] | None = None,
              domain: Sequence[Rule] = (), family: str = "elementwise", summary: str = "",
              precedence: int = ATOM, parser: bool = False, replace: bool = False,
              second: Callable[..., Mapping[tuple[int, int], Any]] | None = None,
              rewrites: Sequence[Rewrite | None] | None = None,
              positive_on: str | None = None) -> Operation:
    r"""Add any operation: its forward, one literal Jacobian per argument, its notation, its domain.

    Parameters
    ----------
    name : str
        The function's name (``jc.<name>``; ``name(…)`` in the parser with ``parser=True``).
    forward : callable
        ``(*argument values) -> ndarray``, the value.
    jacobians : sequence of callable
        One per argument: ``(*argument values) -> matrix``, the literal Jacobian
        ∂vec(out)/∂vec(argument i) in the vec convention, shape (size of the output, size
        of argument i) — dense, scipy sparse, or a structured matrix of
        :mod:`jacobian_calc.core.structure`. Its size and storage are counted by the work
        bound as dense unless it is structured.
    notation : str
        How the result is written: LaTeX with ``$0``, ``$1``, … for the arguments, e.g.
        ``r"\operatorname{softsign}($0)"``; the text form is derived from it.
    labels : sequence of str, optional
        How each Jacobian is written, in the same notation (default ``∂name/∂$i``).
    shape : callable, optional
        ``(*argument shapes) -> output shape``; by default the first argument's shape.
    domain : sequence of Rule
        Conditions on the arguments, checked before anything is computed.
    family : str
        One of :data:`FAMILIES`.
    summary : str
        One line for its docstring and the documented list of functions.
    precedence : int
        How tightly the notation binds (a function call, the default, binds tightest).
    parser, replace : bool
        As for :func:`elementwise`.
    second : callable, optional
        The second-order rule, ``(abar, *argument values) -> {(i, j): S_ij}``: for the
        adjoint row ā = ∂f/∂vec(out) (a 1-D array), the blocks
        S_ij = ∂²(ā · vec(out))/∂vec(argument i)∂vec(argument j), shape (size of argument
        i, size of argument j), for i ≤ j (the pair (j, i) is the transpose); pairs left
        out are zero. Without it, Hessians through the operation are refused.
    positive_on : {"invertible", "positive", "probability"}, optional
        The data on which the value is positive whatever else holds (det: "invertible",
        det(I + E) > 0): the calculator then draws the variables under it that way inside
        an argument that must be positive (``log(name(X))``).

    Returns
    -------
    Operation
    """
    name = _check_name(name)
    _callable(forward, "forward")
    jacobians = list(jacobians)
    if not jacobians:
        raise JacobianCalcError(f"operation {name!r} needs one Jacobian function per argument")
    for i, jac in enumerate(jacobians):
        _callable(jac, f"jacobians[{i}]")
    arity = len(jacobians)
    labels = list(labels) if labels is not None else \
        [rf"\partial{operator_name(name)}/\partial ${i}" for i in range(arity)]
    if len(labels) != arity:
        raise JacobianCalcError(f"operation {name!r} has {arity} Jacobian(s) but {len(labels)} "
                                f"label(s)")

    if positive_on not in (None, "invertible", "positive", "probability"):
        raise JacobianCalcError(f"operation {name!r}: positive_on must be None, 'invertible', "
                                f"'positive' or 'probability', got {positive_on!r}")
    rules = list(rewrites) if rewrites is not None else [None] * arity
    if len(rules) != arity:
        raise JacobianCalcError(f"operation {name!r} has {arity} Jacobian(s) but {len(rules)} "
                                f"rewrite(s); give one per argument (None where there is none)")
    for i, rule in enumerate(rules):
        if rule is not None and not isinstance(rule, Rewrite):
            raise JacobianCalcError(f"rewrites[{i}] must be an extend.Rewrite or None, got "
                                    f"{type(rule).__name__}")

    def partial(i: int) -> Partial:
        jac = jacobians[i]
        return Partial(build=lambda node: jac(*(a.value for a in node.args)),
                       label=Template(labels[i]),
                       info=lambda node: dense_info(node.value.size, node.args[i].value.size),
                       rewrite=rules[i])

    op = Operation(
        name=name, family=family, arity=arity,
        forward=lambda *values: forward(*values),
        partials=tuple(partial(i) for i in range(arity)), notation=Template(notation),
        precedence=precedence,
        shape=(lambda shapes, params: tuple(shape(*shapes))) if shape is not None else None,
        domain=tuple(domain), summary=summary or name, parser=parser,
        second=None if second is None else _second_rule(second), positive_on=positive_on)
    return TABLE.add(op, replace=replace)


def _second_rule(user: Callable[..., Mapping[tuple[int, int], Any]]) -> Callable[..., Any]:
    _callable(user, "second")
    return lambda node, adjoint: dict(user(adjoint, *(a.value for a in node.args)))


def remove(name: str) -> Operation:
    """Take an added operation out of the table again; returns its entry.

    Built-in operations cannot be removed.
    """
    op = TABLE.get_op(name)
    if op.name in _BUILT_IN:
        raise JacobianCalcError(f"{name!r} is a built-in operation; it cannot be removed")
    return TABLE.remove(name)


#: The operations the package itself defines (fixed when this module is first imported).
_BUILT_IN = frozenset(TABLE)
