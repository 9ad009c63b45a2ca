r"""Second order: Hessian blocks and Hessian-vector products, literal, in the vec convention.

The second differential of a scalar f computed through a graph is a sum over its nodes:
each node n = op(a₁, …) contributes ā_n · d²n, where ā_n = ∂f/∂vec(n) is its adjoint row
(the first-order sweep) and d²n the op's second derivative along the perturbations of its
arguments. With T_{a,X} = ∂vec(a)/∂vec(X), the tangent of an argument (the forward
sweep), that reads

.. math::

    H_{XY} = \sum_n \sum_{i,j} T_{a_i,X}^\top\, S_n^{ij}\, T_{a_j,Y}, \qquad
    S_n^{ij} = \frac{\partial^2 (\bar a_n \cdot \operatorname{vec}(n))}
               {\partial \operatorname{vec}(a_i)\, \partial \operatorname{vec}(a_j)},

with S_n^{ij} the second-order rule of the op's entry (:attr:`Operation.second
<jacobian_calc.ops.base.Operation.second>`). Every term is a literal product of literal
matrices, kept by structure: for one example, the loss node's term of a layer's weight is
:math:`T^\top H_L T` with :math:`T = z^\top \otimes B`, which the mixed-product rule keeps
as :math:`(z z^\top) \otimes (B^\top H_L B)` — the Gauss-Newton block. The other terms
are the residual: φ″ at each activation, the bilinear term of each product W z whose two
factors both depend on the variables.

A Hessian-vector product needs no matrix of that size: the tangents along V
(one forward sweep of columns), the rules applied to them, and one reverse sweep that
carries those injections back to X.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core.errors import JacobianCalcError, ShapeError
from ..core.hessian import Hessian
from ..core.limits import check_work
from ..core.structure import Identity, Structured, add, product
from .graph import Graph, Node

__all__ = ["hessian", "hvp", "transpose", "TermNamer"]

#: ``node -> name`` of the term a node contributes (e.g. "gauss_newton", "φ″(h1)").
TermNamer = Callable[[Node], str]


def transpose(matrix: Any) -> Any:
    """The transpose of a dense, scipy sparse or structured matrix, keeping its storage kind."""
    if isinstance(matrix, Structured):
        return matrix.transpose()
    return matrix.T


def _row(J: Any) -> np.ndarray:
    """An adjoint ∂f/∂vec(n) (a 1 × size row Jacobian) as a 1-D float array."""
    return np.asarray(J.toarray(), dtype=np.float64).reshape(-1)


def _rule(node: Node) -> Callable[..., Any]:
    rule = node.op.second  # type: ignore[union-attr]
    if rule is None:
        raise JacobianCalcError(
            f"the operation {node.op.name!r} (in {node.form.text}) has no second-order rule; "  # type: ignore[union-attr]
            f"second derivatives through it cannot be computed (add one with "
            f"jacobian_calc.extend, second=...)")
    return rule


def _scalar(graph: Graph, head: Node) -> None:
    if head.size != 1:
        raise ShapeError(f"a Hessian needs a scalar f, but {head.form.text} has {head.size} "
                         f"entries (shape {head.shape})")


def _default_name(node: Node) -> str:
    return node.formula()


def hessian(graph: Graph, of: str | Node, x: str | Node, y: str | Node | None = None, *,
            names: TermNamer | None = None, keep_terms: bool = False) -> Hessian:
    r"""H_XY = ∂²f/∂vec(X)∂vec(Y) of the scalar ``of``, assembled node by node (see the module notes).

    Parameters
    ----------
    graph : Graph
    of : str or Node
        The scalar f.
    x, y : str or Node
        The variables; ``y`` defaults to ``x`` (a diagonal block, symmetric).
    names : callable, optional
        ``node -> name`` of each node's term (default: the node's formula).
    keep_terms : bool
        Keep each node's contribution, by name, in :attr:`Hessian.terms`.

    Raises
    ------
    ShapeError
        ``of`` is not a scalar.
    JacobianCalcError
        An operation on the way has no second-order rule.
    WorkLimitError
        The tangents and the block would be over the work bound.
    """
    head, X = graph.node(of), graph.node(x)
    Y = X if y is None else graph.node(y)
    _scalar(graph, head)
    variables = [X] if Y is X else [X, Y]
    _check(graph, head, X, Y, keep_terms)
    adjoints = graph.adjoints(head, variables)
    tx = graph.tangents(head, X)
    ty = tx if Y is X else graph.tangents(head, Y)
    name = names or _default_name
    total: Any = None
    terms: dict[str, Any] = {}
    for node, adjoint in adjoints.items():
        if node.op is None or not any(a in tx or a in ty for a in node.args):
            continue
        rule = _rule(node)
        abar = _row(adjoint)
        for (i, j), S in rule(node, abar).items():
            pairs = [(i, j, S)] if i == j else [(i, j, S), (j, i, transpose(S))]
            for p, q, M in pairs:
                Tp, Tq = tx.get(node.args[p]), ty.get(node.args[q])
                if Tp is None or Tq is None:
                    continue
                part = product(product(transpose(Tp.storage), M), Tq.storage)
                total = part if total is None else add(total, part)
                if keep_terms:
                    key = name(node)
                    terms[key] = part if key not in terms else add(terms[key], part)
    if total is None:
        total = sp.csr_array((X.size, Y.size))
    return Hessian(total, f=head.label, x=X.label, y=Y.label, x_shape=X.shape, y_shape=Y.shape,
                   f_latex=head.form.latex, x_latex=X.form.latex, y_latex=Y.form.latex,
                   terms=terms)


def _check(graph: Graph, head: Node, X: Node, Y: Node, keep_terms: bool) -> None:
    """The work of a Hessian block: the tangents, every term's product, and the block."""
    live = [n for n in graph.nodes if graph.depends_on(head, n)
            and (graph.depends_on(n, X) or graph.depends_on(n, Y))]
    tangents = sum(n.size for n in live) * (X.size + (Y.size if Y is not X else 0))
    block = X.size * Y.size
    terms = sum(1 for n in live if n.op is not None)
    entries = tangents + block * (1 + (terms if keep_terms else 1))
    operations = tangents * max((n.size for n in live), default=1) + block * terms
    check_work(entries, operations,
               f"the Hessian block ∂²{head.form.text}/∂{X.form.text}∂{Y.form.text}")


def hvp(graph: Graph, of: str | Node, x: str | Node, v: np.ndarray) -> np.ndarray:
    """H_XX vec(V) without forming H, shaped like X: tangents along V, rules, one reverse sweep.

    Parameters
    ----------
    graph : Graph
    of : str or Node
        The scalar f.
    x : str or Node
    v : ndarray, shaped like X

    Returns
    -------
    ndarray, shaped like X
    """
    head, X = graph.node(of), graph.node(x)
    _scalar(graph, head)
    V = np.asarray(v, dtype=np.float64)
    if V.shape != X.shape:
        raise ShapeError(f"V must be shaped like {X.form.text}, {X.shape}; got {V.shape}")
    check_work(sum(n.size for n in graph.nodes) * 4, sum(n.size for n in graph.nodes) * 8,
               f"a Hessian-vector product of {head.form.text}")
    adjoints = graph.adjoints(head, [X])
    # tangents along V: each node's T v, one column, head to tail
    column = V.reshape(-1, 1, order="F")
    along: dict[Node, Any] = {X: column}
    for node in graph.nodes:
        if node is X or node.op is None or not graph.depends_on(head, node):
            continue
        total = None
        for position, arg in enumerate(node.args):
            if arg in along:
                term = product(graph.factor(node, position).storage, along[arg])
                total = term if total is None else add(total, term)
        if total is not None:
            along[node] = total
    # the second-order injections, at the arguments of every node
    inject: dict[Node, np.ndarray] = {}
    for node, adjoint in adjoints.items():
        if node.op is None or not any(a in along for a in node.args):
            continue
        for (i, j), S in _rule(node)(node, _row(adjoint)).items():
            pairs = [(i, j, S)] if i == j else [(i, j, S), (j, i, transpose(S))]
            for p, q, M in pairs:
                if node.args[q] in along:
                    u = np.asarray(_dense(product(M, along[node.args[q]]))).reshape(-1)
                    a = node.args[p]
                    inject[a] = u if a not in inject else inject[a] + u
    # one reverse sweep that carries the injections back to X
    rows: dict[Node, np.ndarray] = {}
    for node in reversed(graph.nodes):
        if not graph.depends_on(head, node) or not graph.depends_on(node, X):
            continue
        r = inject.get(node)
        for child, position in graph.consumers(node):
            if child in rows:
                term = np.asarray(_dense(product(rows[child][None, :],
                                                 graph.factor(child, position).storage)))
                r = term.reshape(-1) if r is None else r + term.reshape(-1)
        if r is not None:
            rows[node] = r
    out = rows.get(X, np.zeros(X.size))
    return out.reshape(X.shape, order="F")


def _dense(m: Any) -> np.ndarray:
    if isinstance(m, (Structured,)) or sp.issparse(m):
        return m.toarray()
    return np.asarray(m)


