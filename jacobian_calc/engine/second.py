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

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core.errors import JacobianCalcError, ShapeError, WorkLimitError
from ..core.hessian import Hessian
from ..core.limits import check_dense, check_work
from ..core.structure import Diagonal, Identity, Kron, KronSum, MatrixInfo, Structured, add, \
    product, product_cost, product_info, sum_info
from .graph import Graph, Node

__all__ = ["Term", "hessian", "hessian_terms", "hessian_blocks", "assemble", "accumulate", "hvp",
           "hvp_many", "transpose",
           "TermNamer"]

#: ``node -> name`` of the term a node contributes (e.g. "gauss_newton", "activation_1").
TermNamer = Callable[[Node], str]


def transpose(matrix: Any) -> Any:
    """The transpose of a dense, scipy sparse or structured matrix, keeping its storage kind."""
    if isinstance(matrix, Structured):
        return matrix.transpose()
    return matrix.T


@dataclass(frozen=True)
class Term:
    r"""One node's contribution :math:`T_{a_i,X}^\top S_n^{ij} T_{a_j,Y}` to a Hessian block.

    Attributes
    ----------
    name : str
        The term's name (by default the node's formula).
    node : Node
        The node n whose second derivative it is.
    positions : tuple of int
        (i, j): the arguments a_i (perturbed along X) and a_j (along Y).
    left : Jacobian
        :math:`T_{a_i,X} = \partial \operatorname{vec}(a_i)/\partial \operatorname{vec}(X)`,
        shape (size a_i, size X).
    middle : matrix
        :math:`S_n^{ij}`, shape (size a_i, size a_j).
    right : Jacobian
        :math:`T_{a_j,Y}`, shape (size a_j, size Y).
    value : matrix
        The product, shape (size X, size Y).
    """

    name: str
    node: Node
    positions: tuple[int, int]
    left: Any
    middle: Any
    right: Any
    value: Any


def _row(J: Any) -> np.ndarray:
    """An adjoint ∂f/∂vec(n) (a 1 × size row Jacobian) as a 1-D float array."""
    return np.asarray(J.toarray(), dtype=np.float64).reshape(-1)


def _blocks(node: Node, adjoint: Any) -> dict[tuple[int, int], Any]:
    """The op's second-order rule at ``node``: {(i, j): S_ij}, each checked for its shape."""
    op = node.op
    rule = op.second  # type: ignore[union-attr]
    if rule is None:
        raise JacobianCalcError(
            f"the operation {op.name!r} (in {node.form.text}) has no second-order rule; "  # type: ignore[union-attr]
            f"second derivatives through it cannot be computed (give it one with "
            f"jacobian_calc.extend: d2f=... or second=...)")
    out = rule(node, _row(adjoint))
    arity = len(node.args)
    for key, S in out.items():
        if (not isinstance(key, tuple) or len(key) != 2
                or not all(isinstance(k, int) and 0 <= k < arity for k in key)):
            raise JacobianCalcError(f"the second-order rule of {op.name!r} gave the key "  # type: ignore[union-attr]
                                    f"{key!r}; keys are pairs (i, j) of argument positions "
                                    f"0…{arity - 1}")
        i, j = key
        expected = (node.args[i].size, node.args[j].size)
        if tuple(getattr(S, "shape", ())) != expected:
            raise ShapeError(f"the second-order rule of {op.name!r} gave S_{i}{j} of shape "  # type: ignore[union-attr]
                             f"{getattr(S, 'shape', None)}; it must be (size of argument {i}, "
                             f"size of argument {j}) = {expected}")
    return out


def _scalar(head: Node) -> None:
    if head.size != 1:
        raise ShapeError(f"a Hessian needs a scalar f, but {head.form.text} has {head.size} "
                         f"entries (shape {head.shape}); take a sum or a loss first")


def _pairs(rule_out: Any) -> Iterator[tuple[int, int, Any]]:
    """Each (i, j, S_ij) of a rule, with the mirrored (j, i, S_ijᵀ) of an off-diagonal pair."""
    for (i, j), S in rule_out.items():
        yield i, j, S
        if i != j:
            yield j, i, transpose(S)


def _contributions(graph: Graph, head: Node, xs: Sequence[Node], ys: Sequence[Node],
                   select: Callable[[Node], bool] | None = None, what: str = ""
                   ) -> Iterator[tuple[Node, int, int, Any, Node, Node, Any, Any]]:
    """Every (node, i, j, S_ij, X, Y, T_{a_i,X}, T_{a_j,Y}) that adds to some block H_XY.

    The adjoints are swept once, each variable's tangents once, each rule applied once;
    ``select`` keeps only the nodes it accepts.
    """
    variables = list(dict.fromkeys([*xs, *ys]))
    try:
        adjoints = graph.adjoints(head, variables, leaves=False)
        tangents = {v: graph.tangents(head, v, keep_kron=True) for v in variables}
    except WorkLimitError as exc:  # say what the sweeps were for
        raise WorkLimitError(f"{what}: {exc}" if what else str(exc)) from None
    for node in graph.nodes:
        if node not in adjoints or node.op is None or (select is not None and not select(node)):
            continue
        involved = [v for v in variables if any(a in tangents[v] for a in node.args)]
        if not involved:
            continue
        for i, j, S in _pairs(_blocks(node, adjoints[node])):
            for X in xs:
                Ti = tangents[X].get(node.args[i])
                if Ti is None:
                    continue
                for Y in ys:
                    Tj = tangents[Y].get(node.args[j])
                    if Tj is not None:
                        yield node, i, j, S, X, Y, Ti, Tj


def _check(items: Sequence[tuple[Any, Any, Any]], blocks: int, what: str) -> None:
    """The work of the products Tᵢᵀ S Tⱼ and (``blocks`` > 0) of their sums, from the infos."""
    entries = operations = 0
    total: dict[int, MatrixInfo] = {}
    for key, (Ti, S, Tj) in enumerate(items):
        a, m, b = (MatrixInfo.of(transpose(Ti)), MatrixInfo.of(S), MatrixInfo.of(Tj))
        first = product_info(a, m)
        value = product_info(first, b)
        operations += product_cost(a, m) + product_cost(first, b)
        entries += first.held + value.held
        total[key] = value
    infos = list(total.values())
    if infos and blocks:
        acc = infos[0]
        for info in infos[1:]:
            acc = sum_info(acc, info)
            operations += acc.nnz
        entries += acc.held * blocks
    check_work(entries, operations, what)


def _name(node: Node) -> str:
    return node.formula()


def _collect(graph: Graph, head: Node, xs: Sequence[Node], ys: Sequence[Node],
             names: TermNamer | None, what: str, summed: bool = True,
             select: Callable[[Node], bool] | None = None) -> list[tuple[Node, Node, Term]]:
    """The terms of every block H_XY (X in xs, Y in ys), checked against the work bound
    (with the sum of each block's terms when ``summed``)."""
    raw = list(_contributions(graph, head, xs, ys, select, what))
    _check([(Ti.storage, S, Tj.storage) for *_, S, _x, _y, Ti, Tj in raw],
           len(xs) * len(ys) if summed else 0,
           what)
    name = names or _name
    out = []
    for node, i, j, S, X, Y, Ti, Tj in raw:
        value = product(product(transpose(Ti.storage), S, keep_kron=True), Tj.storage,
                        keep_kron=True)
        out.append((X, Y, Term(name(node), node, (i, j), Ti, S, Tj, value)))
    return out


def _empty(X: Node, Y: Node) -> sp.csr_array:
    return sp.csr_array((X.size, Y.size))


def _sum(values: Sequence[Any], X: Node, Y: Node) -> Any:
    return assemble({(0, 0): list(values)}, [X.size], [Y.size])


def accumulate(out: np.ndarray, value: Any) -> None:
    """``out += value`` in place, for a dense ``out`` (a view is fine) and any storage.

    A Kronecker product A ⊗ B is added one row of A at a time, through a 4-D view of
    ``out``, so no full-size temporary is made; a sum of them term by term; a diagonal or
    sparse matrix at its entries only.
    """
    if isinstance(value, KronSum):
        for term in value.terms:
            accumulate(out, term)
        return
    if isinstance(value, Kron) and not (isinstance(value.left, int)
                                        and isinstance(value.right, int)):
        A, B = value.left, value.right
        (ar, ac), (br, bc) = [(f, f) if isinstance(f, int) else f.shape for f in (A, B)]
        blocks = out.view()
        blocks.shape = (ar, br, ac, bc)  # entry (i·br + k, j·bc + l) is a_ij·b_kl; a view
        if isinstance(B, int):  # A ⊗ I_m: A on the diagonal k = l of every block
            for k in range(br):
                blocks[:, k, :, k] += A
        elif isinstance(A, int):  # I_n ⊗ B: B in the diagonal blocks i = j
            for i in range(ar):
                blocks[i, :, i, :] += B
        else:
            for i in range(ar):  # one row of A at a time: no full-size temporary
                blocks[i] += A[i][None, :, None] * B[:, None, :]
        return
    if isinstance(value, (Identity, Diagonal)):
        n = value.shape[0]
        idx = np.arange(n)
        out[idx, idx] += value.values if isinstance(value, Diagonal) else value.scale
        return
    if isinstance(value, Structured):
        value = value.tosparse()
    if sp.issparse(value):
        coo = sp.coo_array(value)
        coo.sum_duplicates()
        out[coo.row, coo.col] += coo.data
        return
    _tiled(out, np.asarray(value), np.add, out)


#: Side of the square tiles in which a block is added or mirrored when the two sides are
#: laid out differently (one row-major, one column-major): 256 × 256 doubles of each stay
#: in cache, where a whole-block pass reads one of them with a stride of a row.
_TILE = 256


def _tiled(out: np.ndarray, a: np.ndarray, ufunc: Any = None, b: Any = None) -> None:
    """``out[...] = ufunc(b, a)`` (or ``= a`` without a ufunc), tile by tile when ``a`` is not
    laid out like ``out``; ``out`` may be a view into a larger matrix."""
    if out.shape != a.shape:
        raise ShapeError(f"a block of shape {a.shape} cannot be written into {out.shape}")
    same = a.flags.c_contiguous or a.ndim < 2 or min(a.shape) <= _TILE
    rows, cols = out.shape if out.ndim == 2 else (1, 1)
    steps: list[Any] = [...] if same else [
        (slice(i, i + _TILE), slice(j, j + _TILE))
        for i in range(0, rows, _TILE) for j in range(0, cols, _TILE)]
    for tile in steps:
        if ufunc is None:
            out[tile] = a[tile]
        else:
            ufunc(b[tile], a[tile], out=out[tile])


def assemble(blocks: Mapping[tuple[int, int], Sequence[Any]], rows: Sequence[int],
             cols: Sequence[int] | None = None) -> Any:
    """The matrix made of blocks, each the sum of its values; mirrored when symmetric.

    Parameters
    ----------
    blocks : mapping of (a, b) to a sequence of matrices
        The terms of block (a, b), any storage. With ``cols`` omitted the matrix is
        symmetric: only blocks a ≤ b are given and block (b, a) is the transpose.
    rows, cols : sequence of int
        The sizes of the block rows (and columns).

    Returns
    -------
    matrix
        One block: its terms' sum, kept structured when :func:`~jacobian_calc.core.structure.add` keeps it. Several:
        dense when the terms fill a quarter of it or more (added in place, see
        :func:`accumulate`), else a scipy sparse array.
    """
    symmetric = cols is None
    cols = rows if cols is None else cols
    if len(rows) == 1 and len(cols) == 1:
        values = list(blocks.get((0, 0), []))
        if not values:
            return sp.csr_array((rows[0], cols[0]))
        if len(values) == 1 or not _fills(values, rows[0] * cols[0]):
            total = values[0]
            for v in values[1:]:
                total = add(total, v)
            return total
    r_at, c_at = np.cumsum([0, *rows]), np.cumsum([0, *cols])
    shape = (int(r_at[-1]), int(c_at[-1]))
    held = sum(MatrixInfo.of(v).nnz * (2 if symmetric and a != b else 1)
               for (a, b), vs in blocks.items() for v in vs)
    if _fills_count(held, shape[0] * shape[1]):
        check_dense(shape, "the Hessian")
        out = np.zeros(shape)
        for (a, b), vs in blocks.items():
            view = out[r_at[a]:r_at[a + 1], c_at[b]:c_at[b + 1]]
            for v in _merged(vs):
                accumulate(view, v)
        if symmetric:
            for (a, b) in blocks:
                if a != b:
                    _tiled(out[r_at[b]:r_at[b + 1], c_at[a]:c_at[a + 1]],
                           out[r_at[a]:r_at[a + 1], c_at[b]:c_at[b + 1]].T)
        return out
    grid: list[list[Any]] = [[None] * len(cols) for _ in rows]
    for (a, b), vs in blocks.items():
        total: Any = sp.csr_array((rows[a], cols[b]))
        for v in vs:
            total = total + (v.tosparse() if isinstance(v, Structured) else sp.csr_array(v))
        grid[a][b] = sp.csr_array(total)
        if symmetric and a != b:
            grid[b][a] = sp.csr_array(total.T)
    for a in range(len(rows)):  # every block row and column needs one block to fix its size
        if grid[a][a] is None and rows[a] == cols[a]:
            grid[a][a] = sp.csr_array((rows[a], cols[a]))
    return sp.csr_array(sp.block_array(grid, format="csr"))


def _merged(values: Sequence[Any]) -> list[Any]:
    """The values with Kronecker products of one left factor joined: A ⊗ B + A ⊗ C = A ⊗ (B + C).

    The terms of a layer's block share their left factor (z zᵀ for one example), so the
    block is written out once instead of once per term.
    """
    out: list[Any] = []
    groups: list[tuple[np.ndarray, np.ndarray]] = []
    for v in values:
        if isinstance(v, Kron) and not isinstance(v.left, int) and not isinstance(v.right, int):
            for k, (left, right) in enumerate(groups):
                if left.shape == v.left.shape and right.shape == v.right.shape \
                        and (left is v.left or np.array_equal(left, v.left)):
                    groups[k] = (left, right + v.right)
                    break
            else:
                groups.append((v.left, v.right))
        else:
            out.append(v)
    return [Kron(left, right) for left, right in groups] + out


def _fills_count(held: int, size: int) -> bool:
    return 4 * held >= size


def _fills(values: Sequence[Any], size: int) -> bool:
    """Whether the values' stored entries fill a quarter of the block (then it is dense)."""
    return _fills_count(sum(MatrixInfo.of(v).nnz for v in values), size)


def _labelled(matrix: Any, head: Node, X: Node, Y: Node, terms: dict[str, Any] | None = None
              ) -> Hessian:
    return Hessian(matrix, f=head.label, x=X.label, y=Y.label, x_shape=X.shape, y_shape=Y.shape,
                   f_latex=head.form.latex, x_latex=X.form.latex, y_latex=Y.form.latex,
                   terms=terms)


def _what(head: Node, X: Node, Y: Node) -> str:
    return f"the Hessian block ∂²{head.form.text}/∂{X.form.text}∂{Y.form.text}"


def _block_nodes(graph: Graph, of: str | Node, x: str | Node,
                 y: str | Node | None) -> tuple[Node, Node, Node]:
    """The scalar f and the block's variables X, Y (Y = X when omitted), f checked scalar."""
    head, X = graph.node(of), graph.node(x)
    _scalar(head)
    return head, X, (X if y is None else graph.node(y))


def hessian_terms(graph: Graph, of: str | Node, x: str | Node, y: str | Node | None = None, *,
                  names: TermNamer | None = None,
                  select: Callable[[Node], bool] | None = None) -> list[Term]:
    """The terms of H_XY node by node, each with its three literal factors (see the module notes).

    Parameters
    ----------
    graph : Graph
    of : str or Node
        The scalar f.
    x, y : str or Node
        The variables (``y`` defaults to ``x``).
    names : callable, optional
        ``node -> name`` of each node's term (default: the node's formula).
    select : callable, optional
        ``node -> bool``: only the terms of the nodes it accepts (default: every node).

    Returns
    -------
    list of Term
        In the graph's order (tail to head); a node whose rule has two pairs (i, j)
        contributes one term for each.
    """
    head, X, Y = _block_nodes(graph, of, x, y)
    return [t for _x, _y, t in _collect(graph, head, [X], [Y], names, _what(head, X, Y),
                                        summed=False, select=select)]


def hessian(graph: Graph, of: str | Node, x: str | Node, y: str | Node | None = None, *,
            names: TermNamer | None = None, keep_terms: bool = False) -> Hessian:
    r"""H_XY = ∂²f/∂vec(X)∂vec(Y) of the scalar ``of``, assembled node by node.

    Parameters
    ----------
    graph, of, x, y, names
        As in :func:`hessian_terms`; with ``y`` omitted the block is diagonal and symmetric.
    keep_terms : bool
        Keep each node's contribution, by name, in :attr:`Hessian.terms <jacobian_calc.Hessian.terms>` (a term that
        vanishes at this point is kept too, as the zero matrix it is).

    Returns
    -------
    Hessian
        Shape (size X, size Y); a sparse zero matrix when f does not depend on both.

    Raises
    ------
    ShapeError
        ``of`` is not a scalar.
    JacobianCalcError
        An operation on the way has no second-order rule.
    WorkLimitError
        The tangents, the terms or the block would be over the work bound.
    """
    head, X, Y = _block_nodes(graph, of, x, y)
    terms = [t for _x, _y, t in _collect(graph, head, [X], [Y], names, _what(head, X, Y))]
    named: dict[str, list[Any]] = {}
    for t in terms:
        named.setdefault(t.name, []).append(t.value)
    total = _sum([t.value for t in terms], X, Y)
    kept = {k: _sum(v, X, Y) for k, v in named.items()} if keep_terms else None
    return _labelled(total, head, X, Y, kept)


def hessian_blocks(graph: Graph, of: str | Node, variables: Sequence[str | Node]
                   ) -> dict[tuple[int, int], list[Any]]:
    """The terms of every block H_XY for X, Y among ``variables`` with X not after Y, in one pass.

    The adjoints are swept once and each variable's tangents once, however many blocks;
    the blocks below the diagonal are the transposes (H_YX = H_XYᵀ). :func:`assemble`
    makes the matrix of them.

    Returns
    -------
    dict
        ``{(a, b): [terms of the block of variables a and b]}`` for every pair a ≤ b of
        positions in ``variables`` (an empty list for a block that is zero).
    """
    head = graph.node(of)
    _scalar(head)
    nodes = [graph.node(v) for v in variables]
    what = f"the Hessian of {head.form.text} over ({', '.join(n.form.text for n in nodes)})"
    found: dict[tuple[int, int], list[Any]] = {
        (a, b): [] for a in range(len(nodes)) for b in range(a, len(nodes))}
    position = {id(n): k for k, n in enumerate(nodes)}
    for X, Y, t in _collect(graph, head, nodes, nodes, None, what):
        a, b = position[id(X)], position[id(Y)]
        if a <= b:
            found[(a, b)].append(t.value)
    return found


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
    X = graph.node(x)
    return hvp_many(graph, of, {X: v}, [X])[X.label]


def hvp_many(graph: Graph, of: str | Node, directions: Mapping[str | Node, np.ndarray],
             wrt: Sequence[str | Node]) -> dict[str, np.ndarray]:
    r"""The Hessian-vector product over several variables: (H v)_W = Σ_X H_WX vec(V_X).

    One forward sweep carries the columns vec(V_X) through the tangents (each node gets
    Σ_X T_{n,X} vec(V_X)), each node's second-order rule turns them into injections
    S_n^{ij} (T v)_j at its arguments, and one reverse sweep — the first-order one, with
    the injections added on the way — brings them back to every W of ``wrt``.

    Parameters
    ----------
    graph : Graph
    of : str or Node
        The scalar f.
    directions : mapping of variable to ndarray
        V_X, each shaped like its variable X (treated as independent).
    wrt : sequence of str or Node
        The variables W whose part of H v is returned.

    Returns
    -------
    dict of str to ndarray
        ``{W.label: (H v)_W shaped like W}``.
    """
    head = graph.node(of)
    _scalar(head)
    seeds: dict[Node, np.ndarray] = {}
    for ref, value in directions.items():
        X = graph.node(ref)
        V = np.asarray(value, dtype=np.float64)
        if V.shape != X.shape:
            raise ShapeError(f"the direction for {X.form.text} must be shaped like it, "
                             f"{X.shape}; got {V.shape}")
        seeds[X] = V
    targets = [graph.node(w) for w in wrt]
    variables = list(dict.fromkeys([*seeds, *targets]))
    live = [n for n in graph.nodes if graph.depends_on(head, n)
            and any(graph.depends_on(n, v) for v in variables)]
    factors = [graph.factor(n, p) for n in live if n.op is not None
               for p, a in enumerate(n.args) if a in live]
    infos = [MatrixInfo.of(f.storage) for f in factors]
    check_work(4 * sum(n.size for n in live) + sum(i.held for i in infos),
               4 * sum(i.apply or i.nnz for i in infos),
               f"a Hessian-vector product of {head.form.text}")
    adjoints = graph.adjoints(head, variables, leaves=False) if live else {}
    # the tangent along V of every live node, one column each, tail to head
    along: dict[Node, np.ndarray] = {}
    for node in live:
        if node in seeds or node.op is None:
            continue
        total = None
        for position, arg in enumerate(node.args):
            if arg in seeds or arg in along:
                term = _tangent_term(graph.factor(node, position).storage, arg, seeds, along)
                total = term if total is None else total + term
        if total is not None:
            along[node] = total
    # the second-order injections ā_n · d²n at the arguments of every node; a Kronecker
    # rule's injection is kept as the matrix B V Aᵀ, so a weight's part (ā tᵀ for W z) is
    # formed in the weight's own shape
    inject: dict[Node, list[np.ndarray]] = {}
    for node in live:
        if node.op is None or node not in adjoints \
                or not any(a in along or a in seeds for a in node.args):
            continue
        for p, q, M in _pairs(_blocks(node, adjoints[node])):
            b = node.args[q]
            if b in along or b in seeds:
                u = (M.apply(seeds[b] if b in seeds else along[b]) if isinstance(M, Kron)
                     else _tangent_term(M, b, seeds, along))
                inject.setdefault(node.args[p], []).append(u)
    # one reverse sweep that carries the injections back to the variables
    rows: dict[Node, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for node in reversed(live):
        r = shaped = None  # shaped: a variable's part, already in its own shape
        own_shape = node in targets and node.op is None
        for u in inject.get(node, ()):
            if own_shape and u.shape == node.shape:
                shaped = u if shaped is None else shaped + u
            else:
                u = u.reshape(-1, order="F")
                r = u if r is None else r + u
        for child, position in graph.consumers(node):
            if child in rows:
                factor = graph.factor(child, position).storage
                if own_shape and _outer_factor(factor, node):
                    # (xᵀ ⊗ I_p)ᵀ applied to a row g is vec(g xᵀ): the outer product,
                    # formed in W's shape without a column-major copy
                    part = np.outer(rows[child], factor.left[0])
                    shaped = part if shaped is None else shaped + part
                    continue
                term = _dense(product(rows[child][None, :], factor)).reshape(-1)
                r = term if r is None else r + term
        if r is not None:
            rows[node] = r
        if node in targets:
            whole = shaped
            if r is not None:
                column = r.reshape(node.shape, order="F")
                whole = column if whole is None else whole + column
            out[node.label] = whole
    return {W.label: out[W.label] if out.get(W.label) is not None else np.zeros(W.shape)
            for W in targets}


def _vec(V: np.ndarray) -> np.ndarray:
    return V.reshape(-1, 1, order="F")


def _outer_factor(factor: Any, node: Node) -> bool:
    """Whether ``factor`` is xᵀ ⊗ I_p with the matrix ``node`` (p × d) as its argument."""
    return (isinstance(factor, Kron) and isinstance(factor.right, int)
            and not isinstance(factor.left, int) and factor.left.shape[0] == 1
            and len(node.shape) == 2 and node.shape == (factor.right, factor.left.shape[1]))


def _tangent_term(factor: Any, arg: Node, seeds: Mapping[Node, np.ndarray],
                  along: Mapping[Node, np.ndarray]) -> np.ndarray:
    """The factor times the tangent column of ``arg`` (a seed's V used in its own shape)."""
    if arg in seeds and isinstance(factor, Kron):
        # (A ⊗ B) vec(V) = vec(B V Aᵀ): V as it is, not copied column-major first
        # ((xᵀ ⊗ I) vec(V) = V x; (I ⊗ āᵀ) vec(V) = āᵀ V, a row)
        return factor.apply(seeds[arg]).reshape(-1, 1, order="F")
    column = along[arg] if arg in along else _vec(seeds[arg])
    return _dense(product(factor, column))


def _dense(m: Any) -> np.ndarray:
    if isinstance(m, Structured) or sp.issparse(m):
        return m.toarray()
    return np.asarray(m)
