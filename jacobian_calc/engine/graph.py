"""Compositions of primitives, and their Jacobians accumulated tail-to-head.

A composition is a directed acyclic graph of :class:`Node` objects: leaves hold known
values (inputs, weights, targets); every other node is one primitive of
:data:`~jacobian_calc.primitives.PRIMITIVES` applied to earlier nodes, computed when it is
created (the forward pass).

:meth:`Graph.backward` computes ∂(of)/∂(node) for every node between the requested
variables and ``of`` by walking the graph from the tail to the head, multiplying the
accumulated Jacobian by each node's literal factor (eq 4) and summing over the paths
where a node feeds several others. Each intermediate product is computed once and reused
by everything upstream of it, which is exactly the reuse the lecture points out for
∂f/∂h2 (§3.4). Nothing here knows about networks: the lecture network
(:mod:`jacobian_calc.mlp`) is just one composition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import ChoiceError, DomainError, JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian, chain
from ..core.notation import pretty
from ..ops.primitives import PRIMITIVES, Primitive
from ..core.validation import as_real_array

__all__ = ["Node", "leaf", "apply", "Graph", "Step", "Term", "Accumulation", "ROLES"]

#: What a leaf stands for. Known quantities are drawn black in the lecture's Figure 1.
ROLES = ("input", "weight", "target", "constant")


class Node:
    """One quantity of a composition: a known value, or a primitive applied to earlier nodes.

    Attributes
    ----------
    name : str
        Unique within a composition (``"h1"``, ``"W2"``, ``"yhat"``).
    value : numpy.ndarray
        Shape ``()``, ``(n,)`` or ``(m, n)``; float64.
    primitive : Primitive or None
        ``None`` for a leaf.
    args : tuple of Node
        The nodes the primitive was applied to.
    params : dict
        Parameters of the primitive (``{"fn": "tanh"}``).
    role : str
        A leaf's role (one of :data:`ROLES`) or ``"computed"``.
    """

    __slots__ = ("name", "value", "primitive", "args", "params", "role")

    def __init__(self, name: str, value: np.ndarray, primitive: Primitive | None,
                 args: tuple[Node, ...], params: Mapping[str, Any], role: str) -> None:
        self.name = name
        self.value = value
        self.primitive = primitive
        self.args = args
        self.params = dict(params)
        self.role = role

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return int(self.value.size)

    @property
    def is_leaf(self) -> bool:
        return self.primitive is None

    def formula(self) -> str:
        """``'h1 = W1 x'`` for a computed node, the name alone for a leaf."""
        if self.primitive is None:
            return pretty(self.name)
        return f"{pretty(self.name)} = {self.primitive.formula(self)}"

    def __repr__(self) -> str:
        return f"<Node {self.formula()} shape={self.shape}>"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise JacobianCalcError(f"a node name must be a non-empty str, got {name!r}")
    return name


def leaf(name: str, value: object, role: str = "input") -> Node:
    """A known quantity: validated and copied into float64.

    Parameters
    ----------
    name : str
    value : array_like
        A scalar, vector or matrix of real, finite numbers.
    role : {"input", "weight", "target", "constant"}
    """
    if role not in ROLES:
        raise ChoiceError("role", role, ROLES)
    name = _check_name(name)
    return Node(name, as_real_array(value, name), None, (), {}, role)


def _known_leaf(name: str, value: np.ndarray, role: str) -> Node:
    """A leaf over an array its owner has already validated: no copy, no second scan.

    Only a read-only float64 ndarray qualifies (an :class:`~jacobian_calc.mlp.MLP` keeps
    its weights that way after checking them); anything else goes through :func:`leaf`.
    Copying and re-checking an n×n weight on every call would cost as much memory traffic
    as the forward pass itself.
    """
    if (isinstance(value, np.ndarray) and value.dtype == np.float64 and value.ndim <= 2
            and value.size and not value.flags.writeable and role in ROLES):
        return Node(_check_name(name), value, None, (), {}, role)
    return leaf(name, value, role)


def apply(op: str, *args: Node, name: str, **params: Any) -> Node:
    """Apply the primitive ``op`` of the table to ``args`` and compute the value now.

    Parameters
    ----------
    op : str
        A key of :data:`~jacobian_calc.primitives.PRIMITIVES`.
    *args : Node
    name : str
        The new node's name.
    **params
        The primitive's parameters (e.g. ``fn="sigmoid"`` for ``"elementwise"``).

    Raises
    ------
    ChoiceError
        Unknown primitive or parameter value.
    ShapeError
        The arguments do not fit together; the message names them and their shapes.
    """
    try:
        prim = PRIMITIVES[op]
    except (KeyError, TypeError):
        raise ChoiceError("primitive", op, PRIMITIVES) from None
    name = _check_name(name)
    if len(args) != prim.arity or not all(isinstance(a, Node) for a in args):
        raise JacobianCalcError(f"{op} takes {prim.arity} Node argument(s), got {args!r}")
    shape = prim.shape(args, params)
    # Overflow and poles are reported below as one error naming the node, rather than as
    # numpy warnings followed by inf/nan flowing on into the Jacobians.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        value = np.asarray(prim.forward(*(a.value for a in args), **params), dtype=np.float64)
    if not np.all(np.isfinite(value)):
        inputs = ", ".join(a.name for a in args)
        raise DomainError(f"{name} = {op}({inputs}) is not finite at this point "
                          "(overflow or a singularity)")
    if value.shape != shape:  # a primitive that disagrees with its own shape rule is a bug
        raise ShapeError(f"{op} produced shape {value.shape} but its shape rule says {shape}")
    return Node(name, value, prim, tuple(args), params, "computed")


@dataclass(frozen=True)
class Term:
    """One path's contribution to a step: ``previous @ factor`` (or the factor alone at the head)."""

    previous: Jacobian | None
    factor: Jacobian
    product: Jacobian


@dataclass(frozen=True)
class Step:
    """∂(of)/∂(node) computed from the nodes it feeds: the sum of its terms."""

    node: str
    terms: tuple[Term, ...]
    result: Jacobian


@dataclass(frozen=True)
class Accumulation:
    """The result of :meth:`Graph.backward`.

    Attributes
    ----------
    of : str
    jacobians : dict of str to Jacobian
        ∂(of)/∂(wrt) for each requested ``wrt``.
    steps : tuple of Step
        In the order computed (tail to head); empty unless ``record=True``.
    """

    of: str
    jacobians: dict[str, Jacobian]
    steps: tuple[Step, ...] = field(default=())


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
        self._nodes: dict[str, Node] = {}
        self._children: dict[str, list[tuple[Node, int]]] = {}
        for node in _topological(outputs):
            other = self._nodes.get(node.name)
            if other is not None:
                raise JacobianCalcError(
                    f"two different nodes are named {node.name!r} ({other.formula()} and "
                    f"{node.formula()}); names must be unique within a composition"
                )
            self._nodes[node.name] = node
            self._children[node.name] = []
            for i, arg in enumerate(node.args):
                self._children[arg.name].append((node, i))

    # --------------------------------------------------------------------- lookup
    @property
    def nodes(self) -> Mapping[str, Node]:
        """Every node by name, in topological order (leaves and causes first)."""
        return self._nodes

    def node(self, name: str | Node) -> Node:
        """The node called ``name`` (a :class:`Node` of this graph is returned as is)."""
        key = name.name if isinstance(name, Node) else name
        try:
            found = self._nodes[key]
        except (KeyError, TypeError):
            raise ChoiceError("node", key, self._nodes) from None
        if isinstance(name, Node) and found is not name:
            raise JacobianCalcError(f"node {key!r} is not part of this composition")
        return found

    def consumers(self, name: str | Node) -> tuple[tuple[Node, int], ...]:
        """The nodes that take ``name`` as an argument, with the argument's position."""
        return tuple(self._children[self.node(name).name])

    def factor(self, node: str | Node, position: int) -> Jacobian:
        """The literal factor ∂(node)/∂(its argument at ``position``) from the primitive table."""
        node = self.node(node)
        if node.primitive is None:
            raise JacobianCalcError(f"{pretty(node.name)} is a leaf; it has no factors")
        partial = node.primitive.partials[position]
        arg = node.args[position]
        return Jacobian(
            partial.build(node), of=node.name, wrt=arg.name, of_shape=node.shape,
            wrt_shape=arg.shape, label=partial.label(node), latex=partial.latex(node),
            equation=partial.equation(node),
        )

    def depends_on(self, of: str | Node, wrt: str | Node) -> bool:
        """True when ``of`` is ``wrt`` or is computed from it."""
        return self.node(wrt).name in self._ancestors(self.node(of))

    def paths(self, of: str | Node, wrt: str | Node) -> list[list[str]]:
        """Every path from ``wrt`` to ``of`` as a list of node names, head first."""
        target, start = self.node(of), self.node(wrt)
        found: list[list[str]] = []

        def walk(node: Node, trail: list[str]) -> None:
            if node is target:
                found.append(trail)
                return
            for child, _ in self._children[node.name]:
                walk(child, trail + [child.name])

        if self.depends_on(target, start):
            walk(start, [start.name])
        return found

    def edge_paths(self, of: str | Node, wrt: str | Node) -> list[list[tuple[str, int]]]:
        """Every path from ``wrt`` to ``of`` as its edges ``(node, argument position)``, tail first.

        Unlike :meth:`paths`, two paths that pass through the same nodes but enter a node
        through different arguments (``X @ X``, ``X ⊙ X``) are told apart.
        """
        target, start = self.node(of), self.node(wrt)
        found: list[list[tuple[str, int]]] = []

        def walk(node: Node, trail: list[tuple[str, int]]) -> None:
            if node is target:
                found.append(trail)
                return
            for child, position in self._children[node.name]:
                walk(child, trail + [(child.name, position)])

        if self.depends_on(target, start):
            walk(start, [])
        return found

    # -------------------------------------------------------------- accumulation
    def backward(self, of: str | Node, wrt: Iterable[str | Node], *,
                 record: bool = False) -> Accumulation:
        """∂(of)/∂(w) for every ``w`` in ``wrt``, by one tail-to-head sweep.

        Starting from ``of``, each node's Jacobian is the sum over the nodes it feeds of
        (their accumulated Jacobian) · (their literal factor) — row-gradient products when
        ``of`` is a scalar (eq 18, 28, 35). Only nodes on a path from some ``w`` to ``of``
        are visited.

        Parameters
        ----------
        of : str or Node
        wrt : iterable of str or Node
        record : bool
            Keep every factor and product as :class:`Step` records (for derivations).
            Off by default so large factors are freed as soon as they are used.

        Returns
        -------
        Accumulation
            A variable ``of`` does not depend on gets a sparse zero Jacobian; ``of``
            itself gets the identity.
        """
        head = self.node(of)
        targets = [self.node(w) for w in wrt]
        ancestors = self._ancestors(head)
        live = self._descendants(targets) & ancestors
        adjoint: dict[str, Jacobian] = {}
        steps: list[Step] = []
        for node in reversed(self._nodes.values()):
            if node.name not in live or node is head:
                continue
            total: Jacobian | None = None
            terms: list[Term] = []
            for child, position in self._children[node.name]:
                if child.name not in live:
                    continue
                factor = self.factor(child, position)
                previous = adjoint.get(child.name)  # None: child is the head itself
                product = factor if previous is None else previous @ factor
                if record:
                    terms.append(Term(previous, factor, product))
                total = product if total is None else total + product
                # Drop the factor now, before the next one is built: a large Kronecker
                # factor's memory is then free (and its buffer recyclable) at once.
                factor = product = None  # type: ignore[assignment]
            assert total is not None  # a live node other than the head feeds a live node
            adjoint[node.name] = total
            if record:
                steps.append(Step(node.name, tuple(terms), total))
        result = {}
        for t in targets:
            if t is head:
                result[t.name] = Jacobian.identity(t.name, t.shape)
            elif t.name in adjoint:
                result[t.name] = adjoint[t.name]
            else:
                result[t.name] = Jacobian.zeros(head.name, t.name, head.shape, t.shape)
        return Accumulation(head.name, result, tuple(steps))

    def jacobian(self, of: str | Node, wrt: str | Node) -> Jacobian:
        """∂(of)/∂(wrt) as a literal :class:`~jacobian_calc.jacobian.Jacobian`.

        When a single path leads from ``wrt`` to ``of``, its factors are multiplied by
        :func:`~jacobian_calc.chain` in the cheapest order of the cost model
        (:mod:`jacobian_calc.cost`); with several paths, by the tail-to-head sweep of
        :meth:`backward`, which sums over them.
        """
        head, var = self.node(of), self.node(wrt)
        path = self._single_path(head, var)
        if path is not None and len(path) > 1:
            return chain(*(self.factor(node, position) for node, position in reversed(path)))
        return self.backward(head, [var.name]).jacobians[var.name]

    def _single_path(self, head: Node, var: Node) -> list[tuple[Node, int]] | None:
        """The ``(node, argument position)`` steps from ``var`` up to ``head`` if unique."""
        if var is head:
            return None
        ancestors = self._ancestors(head)
        if var.name not in ancestors:
            return None
        steps: list[tuple[Node, int]] = []
        node = var
        while node is not head:
            live = [(c, i) for c, i in self._children[node.name] if c.name in ancestors]
            if len(live) != 1:
                return None
            steps.append(live[0])
            node = live[0][0]
        return steps

    # ------------------------------------------------------------------- helpers
    def _ancestors(self, node: Node) -> set[str]:
        seen = {node.name}
        stack = [node]
        while stack:
            for arg in stack.pop().args:
                if arg.name not in seen:
                    seen.add(arg.name)
                    stack.append(arg)
        return seen

    def _descendants(self, nodes: Sequence[Node]) -> set[str]:
        marked = {n.name for n in nodes}
        for node in self._nodes.values():
            if any(a.name in marked for a in node.args):
                marked.add(node.name)
        return marked


def _topological(outputs: Iterable[Node]) -> list[Node]:
    """Nodes in dependency order (arguments before the nodes computed from them)."""
    order: list[Node] = []
    done: set[int] = set()
    for out in outputs:
        if not isinstance(out, Node):
            raise JacobianCalcError(f"a Graph is built from Node objects, got {out!r}")
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
