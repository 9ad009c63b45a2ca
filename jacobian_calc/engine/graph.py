"""Compositions of operations, and their Jacobians accumulated through the graph.

A composition is a directed acyclic graph of :class:`Node` objects: leaves hold known
values (inputs, weights, targets); every other node is one entry of the operations table
(:data:`jacobian_calc.ops.TABLE`) applied to earlier nodes, computed when it is created
(the forward pass). A node may carry a name (``h1``, ``W2``); a node without one is
written as its expression (``A X``, ``tr(A X Xᵀ)``), so nothing is ever renamed behind
the user's back.

:meth:`Graph.backward` computes ∂(of)/∂(node) for every node between the requested
variables and ``of`` by walking the graph from the tail to the head, multiplying the
accumulated Jacobian by each node's literal factor (eq 4) and summing over the paths
where a node feeds several others — the reuse the lecture points out for ∂f/∂h2 (§3.4).
:meth:`Graph.forward` accumulates head to tail instead, which is cheaper for a variable
with few entries; :meth:`Graph.jacobian` takes the cheaper of the two under the cost
model. Each literal factor is built once per graph and kept. Before anything is built,
the work of the chosen sweep — factors and products built and kept, multiply-adds — is
estimated and checked against the work bound (:func:`jacobian_calc.set_work_limit`).
Nothing here knows about networks: the lecture network is one composition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import ChoiceError, DomainError, JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian
from ..core.limits import check_work
from ..core.notation import Form, latex_name, pretty
from ..core.structure import MatrixInfo, is_finite, product_cost, product_info, sum_info
from ..core.validation import as_real_array
from ..ops.base import ATOM, POSTFIX, PRODUCT, SUM, UNARY, TABLE, Operation
from .cost import MAX_REUSE_PATHS, ReuseReport, chain, reuse_report

__all__ = ["Node", "leaf", "known_leaf", "apply", "Graph", "Step", "Term", "Accumulation",
           "Work", "ROLES", "topological"]

#: What a leaf stands for. Known quantities are drawn black in the lecture's Figure 1.
ROLES = ("input", "weight", "target", "constant")

#: Bumped by every rename; a cached written form of an older generation is stale.
_generation = [0]
#: An unnamed intermediate result longer than this is written with its deepest parts as …
MAX_TEXT = 60
_ELLIPSIS = Form("…", r"\cdots")


class Node:
    """One quantity of a composition: a known value, or an operation applied to earlier nodes.

    Attributes
    ----------
    name : str or None
        The name it is shown by (``"h1"``, ``"W2"``, ``"yhat"``); ``None`` for an
        intermediate result, which is then written as its expression.
    value : numpy.ndarray
        Shape ``()``, ``(n,)`` or ``(m, n)``; float64, read-only.
    op : Operation or None
        ``None`` for a leaf.
    args : tuple of Node
    params : dict
        Parameters of the operation (``{"p": 2.0}`` for a power).
    role : str
        A leaf's role (one of :data:`ROLES`) or ``"computed"``.
    """

    __slots__ = ("_name", "value", "op", "args", "params", "role", "_form", "__weakref__")

    def __init__(self, name: str | None, value: np.ndarray, op: Operation | None,
                 args: tuple[Node, ...], params: Mapping[str, Any], role: str) -> None:
        self._name = name
        self.value = value
        self.op = op
        self.args = args
        self.params = dict(params)
        self.role = role
        self._form: tuple[int, Form] | None = None

    @property
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        # Every written form that contains this node's is out of date: forms are cached
        # per generation, and a rename starts a new one.
        _generation[0] += 1
        self._name = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return int(self.value.size)

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def form(self) -> Form:
        """How the node is written: its name, or else its expression, in text and LaTeX."""
        cached = self._form
        if cached is not None and cached[0] == _generation[0]:
            return cached[1]
        if self._name is not None:
            written = Form(pretty(self._name), latex_name(self._name))
        else:
            written = self._abridged()
        self._form = (_generation[0], written)
        return written

    def _abridged(self) -> Form:
        """The expression, with its longest arguments written … while it is longer than MAX_TEXT.

        Arguments are already abridged, so this costs a few template fills per node; a
        2,000-character expression would otherwise be spelled out in every symbol of every
        step. The text of a name or of a short expression is never cut.
        """
        forms = [a.form for a in self.args]
        written = self.expression(forms)
        for i in sorted(range(len(forms)), key=lambda i: -len(forms[i].text)):
            if len(written.text) <= MAX_TEXT:
                break
            forms[i] = _ELLIPSIS
            written = self.expression(forms)
        return written

    @property
    def label(self) -> str:
        """The name a Jacobian uses for this node: its name, or its expression's text."""
        return self.name if self.name is not None else self.form.text

    @property
    def precedence(self) -> int:
        return ATOM if self.name is not None or self.op is None else self.op.precedence

    def expression(self, forms: Sequence[Form] | None = None) -> Form:
        """The node's right-hand side written from its arguments (``W1 x``, ``σ(h1)``).

        Each argument appears as its own written form (a name, or an abridged expression),
        or as given in ``forms``.
        """
        if self.op is None:
            return self.form
        need = operand_precedence(self.op)
        fields = self.op.notation_fields(self)
        for i, arg in enumerate(self.args):
            f = arg.form if forms is None else forms[i]
            if arg.precedence < need[i] and f is not _ELLIPSIS:
                f = Form(f"({f.text})", rf"\left({f.latex}\right)")
            fields[str(i)] = f
        return self.op.notation.form(**fields)

    def formula(self) -> str:
        """``'h1 = W1 x'`` for a named computed node; the expression or the name otherwise."""
        if self.op is None or self.name is None:
            return self.form.text
        return f"{pretty(self.name)} = {self.expression().text}"

    def __repr__(self) -> str:
        return f"<Node {self.formula()} shape={self.shape}>"


def operand_precedence(op: Operation) -> tuple[int, ...]:
    """The precedence each operand needs to be written without parentheses."""
    p = op.precedence
    if op.name == "hadamard":  # ⊙ next to a product reads ambiguously: bracket products
        return (PRODUCT + 1, PRODUCT + 1)
    if p == ATOM:
        return (0,) * op.arity
    if p == POSTFIX:
        return (ATOM,) * op.arity
    if p == UNARY:
        return (UNARY,) * op.arity
    return (p,) + (p + 1,) * (op.arity - 1) if p in (PRODUCT, SUM) else (p,) * op.arity


def _check_name(name: object) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise JacobianCalcError(f"a node name must be a non-empty str or None, got {name!r}")
    return name


def _frozen(value: np.ndarray) -> np.ndarray:
    value.flags.writeable = False
    return value


def leaf(name: str, value: object, role: str = "input") -> Node:
    """A known quantity: validated and copied into a read-only float64 array.

    Parameters
    ----------
    name : str
    value : array_like
        A scalar, vector or matrix of real, finite numbers.
    role : {"input", "weight", "target", "constant"}
    """
    if role not in ROLES:
        raise ChoiceError("role", role, ROLES)
    if name is None:
        raise JacobianCalcError("a leaf needs a name")
    name = _check_name(name)
    return Node(name, _frozen(as_real_array(value, name)), None, (), {}, role)


def known_leaf(name: str, value: np.ndarray, role: str) -> Node:
    """A leaf over an array its owner has already validated: no copy, no second scan.

    Only a read-only float64 ndarray qualifies (an :class:`~jacobian_calc.MLP` keeps its
    weights that way after checking them); anything else goes through :func:`leaf`.
    Copying and re-checking an n×n weight on every call would cost as much memory traffic
    as the forward pass itself.
    """
    if (isinstance(value, np.ndarray) and value.dtype == np.float64 and value.ndim <= 2
            and value.size and not value.flags.writeable and role in ROLES):
        return Node(_check_name(name), value, None, (), {}, role)
    return leaf(name, value, role)


def apply(op: str | Operation, *args: Node, name: str | None = None, **params: Any) -> Node:
    """Apply an operation of the table to ``args`` and compute the value now.

    Parameters
    ----------
    op : str or Operation
        A name of :data:`jacobian_calc.ops.TABLE` (or an entry).
    *args : Node
    name : str, optional
        The new node's name; without one it is written as its expression.
    **params
        The operation's parameters (e.g. ``p=2`` for ``"power"``).

    Raises
    ------
    ChoiceError
        Unknown operation.
    ShapeError, DomainError, SingularMatrixError
        A domain rule of the operation fails; the message names the expression in the
        user's notation, the argument and what was expected.
    """
    entry = op if isinstance(op, Operation) else TABLE.get_op(op)
    if len(args) != entry.arity or not all(isinstance(a, Node) for a in args):
        got = ", ".join(type(a).__name__ for a in args) or "nothing"
        raise JacobianCalcError(f"{entry.name} takes {entry.arity} Node argument(s), got {got}")
    node = Node(_check_name(name), None, entry, tuple(args), entry.check_params(params),
                "computed")  # type: ignore[arg-type]
    where = _Written(node)  # written out only if a message needs it
    for rule in entry.domain:
        if rule.applies(node.params):
            rule.check(node.args, node.params, where)
    shape = (entry.shape(tuple(a.shape for a in args), node.params) if entry.shape
             else args[0].shape)
    # Overflow and poles are reported below as one error naming the expression, rather
    # than as numpy warnings followed by inf/nan flowing on into the Jacobians.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        value = np.array(entry.forward(*(a.value for a in args), **node.params),
                         dtype=np.float64)
    if value.shape != tuple(shape):
        raise ShapeError(f"the operation {entry.name!r} produced shape {value.shape} but its "
                         f"shape rule says {tuple(shape)} (for {where})")
    if not np.all(np.isfinite(value)):
        raise DomainError(f"{where} is not finite at this point (overflow or a singularity)")
    node.value = _frozen(value)
    return node


class _Written:
    """A node's formula, written when formatted: most nodes never need it in a message."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    def __format__(self, spec: str) -> str:
        return format(self.node.formula(), spec)

    def __str__(self) -> str:
        return self.node.formula()


@dataclass(frozen=True)
class Term:
    """One path's contribution to a step: ``previous @ factor`` (the factor alone at the head).

    Only the factor's description is kept, not the product: a recorded sweep holds the
    running sums, never every term.
    """

    previous: Jacobian | None
    factor: Jacobian


@dataclass(frozen=True)
class Step:
    """∂(of)/∂(node) computed from the nodes it feeds: the sum of its terms."""

    node: Node
    terms: tuple[Term, ...]
    result: Jacobian


@dataclass(frozen=True)
class Accumulation:
    """The result of :meth:`Graph.backward`.

    Attributes
    ----------
    of : Node
    jacobians : dict of str to Jacobian
        ∂(of)/∂(w) for each requested ``w``, keyed by its label.
    steps : tuple of Step
        In the order computed (tail to head); empty unless ``record=True``.
    """

    of: Node
    jacobians: dict[str, Jacobian]
    steps: tuple[Step, ...] = field(default=())


@dataclass(frozen=True)
class Work:
    """The estimated work of a sweep, before anything is built.

    Attributes
    ----------
    entries : int
        Matrix entries built and kept: factors, accumulated Jacobians (and, when
        recording, every step's value).
    operations : int
        Multiply-adds of the products and sums, plus the entries written.
    """

    entries: int
    operations: int


def _finite_factor(J: Jacobian, node: Node, position: int) -> Jacobian:
    if not is_finite(J.storage):
        raise DomainError(f"the factor ∂({node.form.text})/∂({node.args[position].form.text}) "
                          f"is not finite at this point: it overflows (the function is too steep here)")
    return J


class Graph:
    """The composition that produced ``outputs``, its nodes in topological order.

    Parameters
    ----------
    *outputs : Node
        The final nodes; every node they depend on becomes part of the graph.

    Raises
    ------
    JacobianCalcError
        Two different nodes share a name.
    """

    def __init__(self, *outputs: Node) -> None:
        self._order = topological(outputs)
        self._named: dict[str, Node] = {}
        self._children: dict[int, list[tuple[Node, int]]] = {id(n): [] for n in self._order}
        self._factors: dict[tuple[int, int], Jacobian] = {}
        for node in self._order:
            if node.name is not None:
                other = self._named.get(node.name)
                if other is not None:
                    raise JacobianCalcError(
                        f"two different nodes are named {node.name!r} ({other.formula()} and "
                        f"{node.formula()}); names must be unique within a composition")
                self._named[node.name] = node
            for i, arg in enumerate(node.args):
                self._children[id(arg)].append((node, i))

    # --------------------------------------------------------------------- lookup
    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node in topological order (leaves and causes first)."""
        return tuple(self._order)

    @property
    def named(self) -> Mapping[str, Node]:
        """The named nodes by name, in topological order."""
        return dict(self._named)

    def node(self, ref: str | Node) -> Node:
        """The node called ``ref`` (a :class:`Node` of this graph is returned as it is)."""
        if isinstance(ref, Node):
            if id(ref) not in self._children:
                raise JacobianCalcError(f"{ref.form.text} is not part of this composition")
            return ref
        try:
            return self._named[ref]
        except (KeyError, TypeError):
            raise ChoiceError("node", ref, self._named) from None

    def consumers(self, ref: str | Node) -> tuple[tuple[Node, int], ...]:
        """The nodes that take ``ref`` as an argument, with the argument's position."""
        return tuple(self._children[id(self.node(ref))])

    def factor(self, ref: str | Node, position: int) -> Jacobian:
        """The literal factor ∂(node)/∂(its argument at ``position``), built once and kept."""
        node = self.node(ref)
        if node.op is None:
            raise JacobianCalcError(f"{node.form.text} is a leaf; it has no factors")
        key = (id(node), position)
        found = self._factors.get(key)
        if found is not None:
            return found
        op, arg = node.op, node.args[position]
        partial = op.partials[position]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            matrix = partial.build(node)

        def notation() -> tuple[str, str]:
            label = op.label(node, position)
            return label.text, label.latex

        J = _finite_factor(Jacobian(matrix, of=node.label, wrt=arg.label, of_shape=node.shape,
                                    wrt_shape=arg.shape, notation=notation,
                                    equation=partial.equation_of(node),
                                    symmetric=partial.symmetric or None,
                                    of_latex=node.form.latex, wrt_latex=arg.form.latex),
                           node, position)
        self._factors[key] = J
        return J

    def factor_info(self, ref: str | Node, position: int) -> MatrixInfo:
        """What :meth:`factor` will build, known before building it."""
        node = self.node(ref)
        key = (id(node), position)
        if key in self._factors:
            return MatrixInfo.of(self._factors[key])
        return node.op.factor_info(node, position)  # type: ignore[union-attr]

    def depends_on(self, of: str | Node, wrt: str | Node) -> bool:
        """True when ``of`` is ``wrt`` or is computed from it."""
        return id(self.node(wrt)) in self._ancestors(self.node(of))

    def count_paths(self, of: str | Node, wrt: str | Node) -> int:
        """How many paths lead from ``wrt`` to ``of`` (through distinct arguments), without listing them."""
        head, start = self.node(of), self.node(wrt)
        counts: dict[int, int] = {id(start): 1}
        for node in self._order:
            if node is start:
                continue
            total = sum(counts.get(id(a), 0) for a in node.args)
            if total:
                counts[id(node)] = total
        return counts.get(id(head), 0)

    def edge_paths(self, of: str | Node, wrt: str | Node, limit: int | None = None
                   ) -> list[list[tuple[Node, int]]]:
        """Paths from ``wrt`` to ``of`` as their edges ``(node, argument position)``, tail first.

        Two paths that pass through the same nodes but enter a node through different
        arguments (``X @ X``, ``X ⊙ X``) are told apart. At most ``limit`` paths are
        listed (their number can grow exponentially; :meth:`count_paths` counts them).
        """
        target, start = self.node(of), self.node(wrt)
        live = self._ancestors(target)
        found: list[list[tuple[Node, int]]] = []
        stack: list[tuple[Node, list[tuple[Node, int]]]] = [(start, [])]
        if id(start) not in live:
            return found
        while stack and (limit is None or len(found) < limit):
            node, trail = stack.pop()
            if node is target:
                found.append(trail)
                continue
            for child, position in reversed(self._children[id(node)]):
                if id(child) in live:
                    stack.append((child, trail + [(child, position)]))
        return found

    # ------------------------------------------------------------------ estimates
    def _live(self, head: Node, targets: Sequence[Node]) -> list[Node]:
        ancestors = self._ancestors(head)
        marked = {id(t) for t in targets}
        live = []
        for node in self._order:
            if id(node) in marked or any(id(a) in marked for a in node.args):
                marked.add(id(node))
                if id(node) in ancestors:
                    live.append(node)
        return live

    def estimate(self, of: str | Node, wrt: Iterable[str | Node], mode: str = "reverse",
                 record: bool = False) -> Work:
        """The work of a sweep from ``wrt`` to ``of``, from the factors' descriptions only.

        ``mode`` is ``"reverse"`` (tail to head, :meth:`backward`) or ``"forward"``
        (:meth:`forward`); ``record`` also keeps every step's value (derivations).
        """
        head = self.node(of)
        targets = [self.node(w) for w in wrt]
        live = self._live(head, targets)
        live_ids = {id(n) for n in live}
        entries = operations = 0
        acc: dict[int, MatrixInfo] = {}
        if mode == "reverse":
            for node in reversed(live):
                if node is head:
                    continue
                total: MatrixInfo | None = None
                for child, position in self._children[id(node)]:
                    if id(child) not in live_ids:
                        continue
                    f = self.factor_info(child, position)
                    entries += f.held
                    if child is head:
                        term = f
                    else:
                        term = product_info(acc[id(child)], f)
                        operations += product_cost(acc[id(child)], f) + \
                            (0 if term.sparse else term.nnz)
                    if total is not None:
                        operations += term.nnz
                    total = term if total is None else sum_info(total, term)
                if total is None:
                    continue
                acc[id(node)] = total
                entries += total.held
        else:
            start = {id(t) for t in targets}
            for node in live:
                if id(node) in start:
                    acc[id(node)] = MatrixInfo(node.size, node.size, node.size, True,
                                               node.size, 1, "identity")
                    continue
                total = None
                for position, arg in enumerate(node.args):
                    if id(arg) not in acc:
                        continue
                    f = self.factor_info(node, position)
                    entries += f.held
                    term = product_info(f, acc[id(arg)])
                    operations += product_cost(f, acc[id(arg)]) + (0 if term.sparse else term.nnz)
                    if total is not None:
                        operations += term.nnz
                    total = term if total is None else sum_info(total, term)
                if total is not None:
                    acc[id(node)] = total
                    entries += total.held
        if record:
            entries *= 2  # each step keeps its value beside the running sums
        return Work(entries, operations)

    def check(self, of: str | Node, wrt: Iterable[str | Node], what: str,
              mode: str = "reverse", record: bool = False) -> Work:
        """:meth:`estimate`, then refuse with :class:`~jacobian_calc.WorkLimitError` if over the bound."""
        work = self.estimate(of, wrt, mode, record)
        check_work(work.entries, work.operations, what)
        return work

    # -------------------------------------------------------------- accumulation
    def backward(self, of: str | Node, wrt: Iterable[str | Node], *,
                 record: bool = False) -> Accumulation:
        """∂(of)/∂(w) for every ``w`` in ``wrt``, by one tail-to-head sweep.

        Starting from ``of``, each node's Jacobian is the sum over the nodes it feeds of
        (their accumulated Jacobian) · (their literal factor) — row-gradient products when
        ``of`` is a scalar (eq 18, 28, 35). Only nodes on a path from some ``w`` to ``of``
        are visited. The work is checked against the bound before anything is built.

        Parameters
        ----------
        of : str or Node
        wrt : iterable of str or Node
        record : bool
            Keep every step with its factors (for derivations).

        Returns
        -------
        Accumulation
            A variable ``of`` does not depend on gets a sparse zero Jacobian; ``of``
            itself gets the identity.
        """
        head = self.node(of)
        targets = [self.node(w) for w in wrt]
        names = ", ".join(t.form.text for t in targets)
        self.check(head, targets, f"∂{head.form.text}/∂{names if len(targets) == 1 else f'({names})'}",
                   "reverse", record)
        adjoint, steps = self._reverse(head, targets, record)
        result = {}
        for t in targets:
            if t is head:
                result[t.label] = _identity(t)
            elif id(t) in adjoint:
                result[t.label] = adjoint[id(t)]
            else:
                result[t.label] = _zeros(head, t)
        return Accumulation(head, result, tuple(steps))

    def _reverse(self, head: Node, targets: Sequence[Node], record: bool = False,
                 leaves: bool = True) -> tuple[dict[int, Jacobian], list[Step]]:
        """The tail-to-head sweep: the adjoint of every live node but the head, by node id
        (of the inner nodes only when ``leaves`` is false)."""
        live = self._live(head, targets)
        live_ids = {id(n) for n in live}
        adjoint: dict[int, Jacobian] = {}
        steps: list[Step] = []
        for node in reversed(live):
            if node is head or (not leaves and node.op is None):
                continue
            total: Jacobian | None = None
            terms: list[Term] = []
            for child, position in self._children[id(node)]:
                if id(child) not in live_ids:
                    continue
                factor = self.factor(child, position)
                previous = adjoint.get(id(child))  # None: child is the head itself
                product = factor if previous is None else previous @ factor
                if record:
                    terms.append(Term(previous, factor))
                total = product if total is None else total + product
            if total is None:
                continue
            adjoint[id(node)] = total
            if record:
                steps.append(Step(node, tuple(terms), total))
        return adjoint, steps

    def adjoints(self, of: str | Node, wrt: Iterable[str | Node], *, leaves: bool = True
                 ) -> dict[Node, Jacobian]:
        """∂(of)/∂(n) for every node n on a path from a variable of ``wrt`` to ``of`` (the head
        included); with ``leaves=False`` only for the computed nodes (what second-order
        rules need: a leaf's adjoint is a gradient nobody asked for)."""
        head = self.node(of)
        targets = [self.node(w) for w in wrt]
        self.check(head, targets, f"the adjoints of {head.form.text}", "reverse")
        adjoint, _ = self._reverse(head, targets, leaves=leaves)
        out = {n: adjoint[id(n)] for n in self._live(head, targets) if id(n) in adjoint}
        out[head] = _identity(head)
        return out

    def tangents(self, of: str | Node, wrt: str | Node, *, keep_kron: bool = False
                 ) -> dict[Node, Jacobian]:
        """∂(n)/∂(wrt) for every node n on a path from ``wrt`` to ``of`` (``wrt`` itself included).

        ``keep_kron`` keeps a tangent zᵀ ⊗ B a Kronecker product through one-wide layers
        too (second order needs the factors; see :func:`~jacobian_calc.core.structure.product`).
        """
        head, start = self.node(of), self.node(wrt)
        self.check(head, [start], f"the tangents of ∂{head.form.text}/∂{start.form.text}",
                   "forward")
        tangent: dict[int, Jacobian] = {id(start): _identity(start)}
        out = {start: tangent[id(start)]}
        for node in self._live(head, [start]):
            if node is start:
                continue
            total: Jacobian | None = None
            for position, arg in enumerate(node.args):
                if id(arg) in tangent:
                    term = self.factor(node, position).matmul(tangent[id(arg)],
                                                              keep_kron=keep_kron)
                    total = term if total is None else total + term
            if total is not None:
                tangent[id(node)] = out[node] = total
        return out

    def forward(self, of: str | Node, wrt: str | Node) -> Jacobian:
        """∂(of)/∂(wrt) by one head-to-tail sweep (forward accumulation).

        Each node's Jacobian with respect to ``wrt`` is the sum over its arguments of
        (its literal factor) · (the argument's Jacobian), starting from the identity at
        ``wrt``: the intermediates keep as many columns as ``wrt`` has entries.
        """
        head, start = self.node(of), self.node(wrt)
        if head is start:
            return _identity(start)
        return self.tangents(head, start).get(head) or _zeros(head, start)

    def jacobian(self, of: str | Node, wrt: str | Node) -> Jacobian:
        """∂(of)/∂(wrt) as a literal :class:`~jacobian_calc.Jacobian`, in the cheapest order.

        A single path is multiplied by :func:`~jacobian_calc.chain` in the order of the
        cost model; several paths by the cheaper of the tail-to-head sweep
        (:meth:`backward`) and the head-to-tail sweep (:meth:`forward`), which sum over
        them. Either way the work is checked against the bound first.
        """
        head, var = self.node(of), self.node(wrt)
        if head is var:
            return _identity(var)
        if not self.depends_on(head, var):
            return _zeros(head, var)
        if self.count_paths(head, var) == 1:
            path = self.edge_paths(head, var, limit=1)[0]
            if len(path) > 1:
                self.check(head, [var], f"∂{head.form.text}/∂{var.form.text}",
                           self.cheaper_mode(head, var))
                return chain(*(self.factor(node, position) for node, position in reversed(path)))
        mode = self.cheaper_mode(head, var)
        if mode == "forward":
            return self.forward(head, var)
        return self.backward(head, [var]).jacobians[var.label]

    def cheaper_mode(self, of: str | Node, wrt: str | Node) -> str:
        """``"reverse"`` or ``"forward"``: the sweep the cost model says is cheaper (ties: reverse)."""
        head, var = self.node(of), self.node(wrt)
        rev = self.estimate(head, [var], "reverse")
        fwd = self.estimate(head, [var], "forward")
        return "forward" if fwd.operations < rev.operations else "reverse"

    def reuse(self, of: str | Node, wrt: str | Node) -> ReuseReport:
        """What the tail-to-head sweep saves over multiplying every path on its own.

        The paths from ``wrt`` to ``of`` are priced one by one under the cost model (up
        to :data:`~jacobian_calc.engine.cost.MAX_REUSE_PATHS` of them), beside the
        estimates of the two sweeps, which share each node's product among the paths
        through it (see :class:`~jacobian_calc.engine.cost.ReuseReport`). Nothing is built.
        """
        head, var = self.node(of), self.node(wrt)
        count = self.count_paths(head, var)
        chains = None
        if count <= MAX_REUSE_PATHS:
            chains = [[self.factor_info(n, i) for n, i in reversed(p)]
                      for p in self.edge_paths(head, var)]
        live = self._live(head, [var])
        ids = {id(n) for n in live}
        merges = sum(1 for n in live
                     if sum(1 for child, _ in self._children[id(n)] if id(child) in ids) > 1)
        return reuse_report(chains, of=head.form.text, wrt=var.form.text, count=count,
                            reverse=self.estimate(head, [var], "reverse").operations,
                            forward=self.estimate(head, [var], "forward").operations,
                            merges=merges)

    # ------------------------------------------------------------------- helpers
    def _ancestors(self, node: Node) -> set[int]:
        seen = {id(node)}
        stack = [node]
        while stack:
            for arg in stack.pop().args:
                if id(arg) not in seen:
                    seen.add(id(arg))
                    stack.append(arg)
        return seen


def _identity(node: Node) -> Jacobian:
    J = Jacobian.identity(node.label, node.shape)
    J.of_latex = J.wrt_latex = node.form.latex
    return J


def _zeros(head: Node, var: Node) -> Jacobian:
    J = Jacobian.zeros(head.label, var.label, head.shape, var.shape)
    J.of_latex, J.wrt_latex = head.form.latex, var.form.latex
    return J


def topological(outputs: Iterable[Node]) -> list[Node]:
    """Nodes in dependency order (arguments before the nodes computed from them)."""
    order: list[Node] = []
    done: set[int] = set()
    for out in outputs:
        if not isinstance(out, Node):
            raise JacobianCalcError(f"a Graph is built from Node objects, got {out!r}"[:200])
        stack: list[tuple[Node, bool]] = [(out, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            for arg in reversed(node.args):
                if id(arg) not in done:
                    stack.append((arg, False))
    return order
