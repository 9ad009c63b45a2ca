r"""What a chain of Jacobians costs, and the cheapest order to multiply it (the matrix-chain DP).

The chain rule (eq 4) writes ∂a/∂e as a product ``J1 · J2 · … · Jk``. Matrix
multiplication is associative, so every parenthesisation gives the same matrix, but not
at the same price: multiplying tail to head (left to right, starting at the output — the
reverse accumulation that back-propagation is, §3.4) keeps every intermediate a single
row when ``a`` is a scalar, while multiplying head to tail (right to left, starting at
the variable — forward accumulation) keeps every intermediate a single column when ``e``
is a single number. This module counts the multiply-adds of any order and finds the
cheapest one.

The cost model
--------------
Each factor is described by :class:`MatrixInfo`: its shape, its stored entries and
whether it is sparse. The cost of one product ``A @ B`` (``A`` is m×k, ``B`` is k×n), in
multiply-adds, is what a dense or a compressed-sparse kernel really does:

========================  ==========================================================
``A`` dense, ``B`` dense  ``m·k·n``
``A`` sparse, ``B`` dense ``nnz(A)·n`` — each stored entry of A meets one row of B
``A`` dense, ``B`` sparse ``m·nnz(B)`` — each stored entry of B meets one column of A
both sparse               ``nnz(A)·nnz(B)/k`` — each stored a_ij meets the stored
                          entries of row j of B, ``nnz(B)/k`` of them on average
========================  ==========================================================

The product is sparse only when both factors are; its stored entries are then estimated
as ``min(m·n, nnz(A)·nnz(B)/k)`` (exact for the structured factors here: a diagonal times
a Kronecker factor, a Kronecker factor times a diagonal). A dense product stores
``m·n``. So that the dynamic programme is exact, the estimate for a sub-chain
``J_i … J_j`` is computed once, by folding it left to right, and used whatever the order
inside it; :func:`all_orders` (brute force, for tests) uses the same estimates.

With these costs :func:`optimal_order` is the classic matrix-chain dynamic programme
(O(k³) for k factors): ``best[i, j] = min over s of best[i, s] + best[s+1, j] +
cost(info[i..s], info[s+1..j])``.

Examples
--------
The lecture's ∂f/∂vec(W1) with d, p, q, s = 4, 5, 3, 2: a loss row, W3, diag(φ′(h2)),
W2, diag(φ′(h1)) and the Kronecker factor (x₁I₅, …, x₄I₅).

>>> chain = [MatrixInfo(1, 2, 2, False), MatrixInfo(2, 3, 6, False),
...          MatrixInfo(3, 3, 3, True), MatrixInfo(3, 5, 15, False),
...          MatrixInfo(5, 5, 5, True), MatrixInfo(5, 20, 20, True)]
>>> reverse_cost(chain), forward_cost(chain)
(49, 300)
>>> plan = optimal_order(chain)
>>> plan.cost, plan.describe()
(49, '(((((J1·J2)·J3)·J4)·J5)·J6)')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union


from ..core.errors import JacobianCalcError, ShapeError
from ..core.notation import dims
from ..core.jacobian import Jacobian, check_chain
from ..core.structure import MatrixInfo, product_cost, product_info

__all__ = [
    "MatrixInfo",
    "ChainPlan",
    "CostReport",
    "product_cost",
    "product_info",
    "reverse_cost",
    "forward_cost",
    "optimal_order",
    "all_orders",
    "evaluate",
    "cost_report",
    "chain",
    "MAX_SEARCHED_FACTORS",
    "ReuseReport",
    "reuse_report",
    "MAX_REUSE_PATHS",
]

#: Chains of more factors than this are not searched by the O(k³) dynamic programme:
#: the cheaper of the two directions is taken instead (the search is work too).
MAX_SEARCHED_FACTORS = 48

#: Paths multiplied one by one for a :class:`ReuseReport`; beyond this they are only counted.
MAX_REUSE_PATHS = 4096

#: A parenthesisation: a factor's index, or a pair of sub-trees (left, right).
Tree = Union[int, tuple["Tree", "Tree"]]


def _check_meet(a: MatrixInfo, b: MatrixInfo) -> None:
    if a.cols != b.rows:
        raise ShapeError(f"cannot multiply {dims(a.shape)} by {dims(b.shape)}: "
                         f"{a.cols} columns meet {b.rows} rows")


def _infos(chain: Sequence[MatrixInfo | Any]) -> tuple[MatrixInfo, ...]:
    infos = tuple(c if isinstance(c, MatrixInfo) else MatrixInfo.of(c) for c in chain)
    if not infos:
        raise JacobianCalcError("a chain needs at least one factor")
    for a, b in zip(infos, infos[1:]):
        _check_meet(a, b)
    return infos


def _sub_infos(infos: tuple[MatrixInfo, ...]) -> dict[tuple[int, int], MatrixInfo]:
    """The estimate for every sub-chain i..j, each folded left to right (order-free)."""
    out: dict[tuple[int, int], MatrixInfo] = {}
    for i in range(len(infos)):
        acc = infos[i]
        out[i, i] = acc
        for j in range(i + 1, len(infos)):
            acc = product_info(acc, infos[j])
            out[i, j] = acc
    return out


@dataclass(frozen=True)
class ChainPlan:
    """One way of multiplying a chain and what it costs.

    Attributes
    ----------
    tree : int or tuple
        The parenthesisation: a factor index, or ``(left, right)`` sub-trees.
    cost : int
        Multiply-adds under the cost model.
    n : int
        Number of factors.
    searched : bool
        False when the chain was too long to search and the cheaper direction was taken.
    """

    tree: Tree
    cost: int
    n: int
    searched: bool = True

    def describe(self, names: Sequence[str] | None = None) -> str:
        """The order as text, ``((J1·J2)·J3)``; ``names`` replaces ``J1, J2, …``."""
        labels = list(names) if names is not None else [f"J{i + 1}" for i in range(self.n)]

        def text(t: Tree) -> str:
            if isinstance(t, int):
                return labels[t]
            return f"({text(t[0])}·{text(t[1])})"

        return text(self.tree)

    @property
    def is_reverse(self) -> bool:
        """True for the left-to-right (tail-to-head, back-propagation) order."""
        return self.tree == _left_tree(0, self.n - 1)

    @property
    def is_forward(self) -> bool:
        """True for the right-to-left (head-to-tail, forward accumulation) order."""
        return self.tree == _right_tree(0, self.n - 1)


def _left_tree(i: int, j: int) -> Tree:
    tree: Tree = i
    for k in range(i + 1, j + 1):
        tree = (tree, k)
    return tree


def _right_tree(i: int, j: int) -> Tree:
    tree: Tree = j
    for k in range(j - 1, i - 1, -1):
        tree = (k, tree)
    return tree


def tree_cost(chain: Sequence[MatrixInfo | Any], tree: Tree) -> int:
    """Multiply-adds of the parenthesisation ``tree`` of ``chain``."""
    infos = _infos(chain)
    sub = _sub_infos(infos)

    def walk(t: Tree) -> tuple[int, int, int]:  # (cost, first index, last index)
        if isinstance(t, int):
            return 0, t, t
        lc, li, lj = walk(t[0])
        rc, ri, rj = walk(t[1])
        if lj + 1 != ri:
            raise JacobianCalcError(f"not a parenthesisation of consecutive factors: {t!r}")
        return lc + rc + product_cost(sub[li, lj], sub[ri, rj]), li, rj

    cost, first, last = walk(tree)
    if (first, last) != (0, len(infos) - 1):
        raise JacobianCalcError(f"the order {tree!r} does not cover all {len(infos)} factors")
    return cost


def _fold_cost(infos: Sequence[MatrixInfo]) -> int:
    """Multiply-adds of multiplying left to right, each product's estimate carried along."""
    cost, acc = 0, infos[0]
    for b in infos[1:]:
        cost += product_cost(acc, b)
        acc = product_info(acc, b)
    return cost


def reverse_cost(chain: Sequence[MatrixInfo | Any]) -> int:
    """Multiply-adds of tail-to-head accumulation: ``((J1·J2)·J3)·…`` (back-propagation)."""
    infos = _infos(chain)
    if len(infos) > MAX_SEARCHED_FACTORS:  # O(k): no table of every sub-chain
        return _fold_cost(infos)
    return tree_cost(infos, _left_tree(0, len(infos) - 1))


def forward_cost(chain: Sequence[MatrixInfo | Any]) -> int:
    """Multiply-adds of head-to-tail accumulation: ``…·(J(k−1)·Jk)`` (forward mode)."""
    infos = _infos(chain)
    if len(infos) > MAX_SEARCHED_FACTORS:  # fold the transposed chain, right to left
        flipped = [i.transpose() for i in reversed(infos)]
        return _fold_cost(flipped)
    return tree_cost(infos, _right_tree(0, len(infos) - 1))


def optimal_order(chain: Sequence[MatrixInfo | Any]) -> ChainPlan:
    """The cheapest parenthesisation of ``chain``, by the matrix-chain dynamic programme.

    Ties go to the tail-to-head (left-to-right) order, the one back-propagation uses. A
    chain of more than :data:`MAX_SEARCHED_FACTORS` factors is not searched (the
    programme costs O(k³)): the cheaper of the two directions is returned, and the plan
    says so (``searched`` is False).

    Parameters
    ----------
    chain : sequence of MatrixInfo, ndarray, scipy sparse array or Jacobian
        The factors, head first (``J1`` is applied last, as written in eq 4).

    Returns
    -------
    ChainPlan
    """
    infos = _infos(chain)
    if len(infos) > MAX_SEARCHED_FACTORS:
        n = len(infos)
        rc, fc = reverse_cost(infos), forward_cost(infos)
        if rc <= fc:
            return ChainPlan(_left_tree(0, n - 1), rc, n, False)
        return ChainPlan(_right_tree(0, n - 1), fc, n, False)
    return _optimal(infos)


@lru_cache(maxsize=256)
def _optimal(infos: tuple[MatrixInfo, ...]) -> ChainPlan:
    n = len(infos)
    sub = _sub_infos(infos)
    best: dict[tuple[int, int], tuple[int, Tree]] = {(i, i): (0, i) for i in range(n)}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            choice: tuple[int, Tree] | None = None
            # Split points from the right end first, so the left-to-right tree wins ties.
            for s in range(j - 1, i - 1, -1):
                cost = (best[i, s][0] + best[s + 1, j][0]
                        + product_cost(sub[i, s], sub[s + 1, j]))
                if choice is None or cost < choice[0]:
                    choice = (cost, (best[i, s][1], best[s + 1, j][1]))
            assert choice is not None
            best[i, j] = choice
    cost, tree = best[0, n - 1]
    return ChainPlan(tree, cost, n)


def all_orders(chain: Sequence[MatrixInfo | Any]) -> Iterator[ChainPlan]:
    """Every parenthesisation with its cost (Catalan-many: for tests and small chains)."""
    infos = _infos(chain)

    def trees(i: int, j: int) -> Iterator[Tree]:
        if i == j:
            yield i
            return
        for s in range(i, j):
            for left in trees(i, s):
                for right in trees(s + 1, j):
                    yield (left, right)

    for t in trees(0, len(infos) - 1):
        yield ChainPlan(t, tree_cost(infos, t), len(infos))


def evaluate(factors: Sequence[Any], tree: Tree, multiply: Any = None) -> Any:
    """Multiply ``factors`` in the order ``tree``.

    Parameters
    ----------
    factors : sequence
        Matrices or :class:`~jacobian_calc.jacobian.Jacobian` objects.
    tree : int or tuple
        A parenthesisation, e.g. ``optimal_order(factors).tree``.
    multiply : callable, optional
        ``(left, right) -> product``; ``@`` by default.
    """
    mul = multiply if multiply is not None else (lambda a, b: a @ b)

    def walk(t: Tree) -> Any:
        if isinstance(t, int):
            return factors[t]
        return mul(walk(t[0]), walk(t[1]))

    return walk(tree)


@dataclass(frozen=True)
class CostReport:
    """The price of a chain in three orders, for the derivation to print.

    Attributes
    ----------
    shapes : tuple of (int, int)
    reverse, forward : int
        Multiply-adds tail to head (back-propagation) and head to tail (forward mode).
    optimal : ChainPlan
        The cheapest order found by the dynamic programme.
    names : tuple of str
        How the factors are written, head first.
    """

    shapes: tuple[tuple[int, int], ...]
    reverse: int
    forward: int
    optimal: ChainPlan
    names: tuple[str, ...]

    @property
    def winner(self) -> str:
        """``"reverse"``, ``"forward"`` or ``"neither"`` (a mixed order is strictly cheaper)."""
        if self.optimal.cost == self.reverse and self.reverse <= self.forward:
            return "reverse"
        if self.optimal.cost == self.forward:
            return "forward"
        return "neither"

    def lines(self) -> list[str]:
        """The report as text lines."""
        out = [f"tail-to-head (reverse, back-propagation): {self.reverse:,} multiply-adds",
               f"head-to-tail (forward accumulation):      {self.forward:,} multiply-adds"]
        if self.optimal.searched:
            out.append(f"cheapest order (matrix-chain DP):         {self.optimal.cost:,} "
                       f"multiply-adds, {self.optimal.describe(self.names)}")
        else:
            out.append(f"cheapest order: not searched ({len(self.shapes)} factors, more than "
                       f"{MAX_SEARCHED_FACTORS}); the cheaper direction is used")
        first, last = self.shapes[0], self.shapes[-1]
        if self.winner == "reverse" and self.reverse < self.forward:
            why = (f"the chain starts with {first[0]} row{'s' if first[0] != 1 else ''}: "
                   f"tail to head every intermediate keeps {first[0]} row"
                   f"{'s' if first[0] != 1 else ''}, so reverse accumulation wins")
        elif self.winner == "forward" and self.forward < self.reverse:
            why = (f"the chain ends with {last[1]} column{'s' if last[1] != 1 else ''}: "
                   f"head to tail every intermediate keeps {last[1]} column"
                   f"{'s' if last[1] != 1 else ''}, so forward accumulation wins")
        elif self.reverse == self.forward:
            why = "both directions cost the same here"
        else:
            why = "a mixed order beats both directions"
        out.append(why)
        return out


def cost_report(factors: Sequence[Any], names: Sequence[str] | None = None) -> CostReport:
    """Costs of reverse, forward and DP-optimal accumulation of a chain, head first.

    Examples
    --------
    A 1×100 row times a 100×100 matrix times a 100×1 column:

    >>> import numpy as np
    >>> r = cost_report([np.ones((1, 100)), np.ones((100, 100)), np.ones((100, 1))])
    >>> r.reverse, r.forward, r.optimal.cost
    (10100, 10100, 10100)
    """
    infos = _infos(factors)
    labels = tuple(names) if names is not None else tuple(f"J{i + 1}" for i in range(len(infos)))
    if len(labels) != len(infos):
        raise JacobianCalcError(f"{len(labels)} names for {len(infos)} factors")
    return CostReport(tuple(i.shape for i in infos), reverse_cost(infos), forward_cost(infos),
                      optimal_order(infos), labels)


def chain(*factors: Jacobian) -> Jacobian:
    """The chain-rule product of several Jacobians, ∂a/∂b · ∂b/∂c · … (eq 4, eq 28).

    The whole chain is checked before anything is multiplied, so a mismatch anywhere is
    reported with every factor and its shape. The product is then evaluated in the
    cheapest order under the cost model (:func:`optimal_order`): tail to head for a row
    gradient, head to tail for a narrow variable, a mixed order when that is cheaper.
    Every order gives the same matrix up to rounding.

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> g = jc.Jacobian([[1.0, 2.0]], of="f", wrt="y", of_shape=(), wrt_shape=(2,))
    >>> W = jc.Jacobian(np.eye(2), of="y", wrt="x", of_shape=(2,), wrt_shape=(2,))
    >>> jc.chain(g, W).toarray()
    array([[1., 2.]])
    >>> jc.chain(np.ones((2, 2)), np.ones((2, 2)))
    Traceback (most recent call last):
    ...
    jacobian_calc.JacobianCalcError: a chain multiplies Jacobian objects, but factor 1 is of type ndarray; ...
    """
    if not factors:
        raise JacobianCalcError("chain() needs at least one Jacobian")
    check_chain(factors)
    if len(factors) <= 2:
        return factors[0] if len(factors) == 1 else factors[0] @ factors[1]
    plan = optimal_order([MatrixInfo.of(f) for f in factors])
    return evaluate(factors, plan.tree)


# ------------------------------------------------------------- reuse across paths (§3.4)
@dataclass(frozen=True)
class ReuseReport:
    """Why a sweep reuses the tail-to-head products: one variable's paths, priced two ways.

    When a variable reaches the result along many paths — a weight shared by every step
    of a recurrent net, a residual branch — ∂(result)/∂(variable) is the sum over the
    paths of each path's chain (eq 4). Multiplied path by path, the long common tails
    (∂f/∂h_T · ∂h_T/∂h_{T−1} · …) are formed again for every path that shares them. The
    tail-to-head sweep forms each node's ∂f/∂(node) once, from the nodes it feeds, and
    every path through that node uses it: that reuse, which the lecture points out for
    ∂f/∂h2 (§3.4), is what makes back-propagation — through time, for a recurrent net —
    cost one sweep instead of one chain per path.

    Attributes
    ----------
    of, wrt : str
        How the result and the variable are written.
    paths : int
        How many paths lead from ``wrt`` to ``of``.
    path_by_path : int or None
        Multiply-adds of multiplying every path's chain on its own, tail to head, under
        the cost model of this module, and of adding the paths' results; ``None`` when there are more than
        :data:`MAX_REUSE_PATHS` paths (they are counted, not listed).
    reverse, forward : int
        Multiply-adds of the tail-to-head and the head-to-tail sweep (the estimate of
        :meth:`~jacobian_calc.engine.graph.Graph.estimate`), products and sums.
    merges : int
        Nodes on the paths that feed more than one other node on them: where paths
        meet, and where the sweep shares one product among them.
    """

    of: str
    wrt: str
    paths: int
    path_by_path: int | None
    reverse: int
    forward: int
    merges: int

    @property
    def saving(self) -> float | None:
        """Path by path over the tail-to-head sweep (``None`` when paths were not listed)."""
        if self.path_by_path is None:
            return None
        return self.path_by_path / max(self.reverse, 1)

    def lines(self) -> list[str]:
        """The report as text lines."""
        one = self.merges == 1
        out = [f"{self.paths:,} path{'s' if self.paths != 1 else ''} lead from {self.wrt} to "
               f"{self.of}; {self.merges:,} node{'' if one else 's'} on them "
               f"feed{'s' if one else ''} more than one other"]
        if self.path_by_path is None:
            out.append(f"path by path: not priced (more than {MAX_REUSE_PATHS:,} paths)")
        else:
            out.append(f"path by path, each chain multiplied tail to head on its own: "
                       f"{self.path_by_path:,} multiply-adds")
        out.append(f"one tail-to-head sweep, each ∂{self.of}/∂(node) formed once and shared by "
                   f"every path through the node: {self.reverse:,} multiply-adds")
        out.append(f"one head-to-tail sweep (forward accumulation): {self.forward:,} "
                   f"multiply-adds")
        if self.saving is not None and self.paths > 1:
            if self.saving > 1:
                out.append(f"reusing the tail-to-head products costs 1/{self.saving:,.1f} of "
                           f"the paths one by one")
            else:
                out.append("with so few and such short shared tails the paths one by one are "
                           "no dearer than the sweep, which also writes out every sum")
        return out


def reuse_report(paths: Sequence[Sequence[MatrixInfo | Any]] | None, *, of: str, wrt: str,
                 count: int, reverse: int, forward: int, merges: int) -> ReuseReport:
    """Price the paths one by one and set them beside the two sweeps.

    Parameters
    ----------
    paths : sequence of chains, or None
        Each path's factors, head first (as :func:`reverse_cost` takes them); ``None`` when
        they were too many to list.
    of, wrt : str
    count : int
        How many paths there are.
    reverse, forward : int
        Multiply-adds of the two sweeps.
    merges : int
        Nodes where paths meet.

    Examples
    --------
    Two paths of the lecture's shapes that share the tail (1×2)·(2×3):

    >>> tail = [MatrixInfo(1, 2, 2, False), MatrixInfo(2, 3, 6, False)]
    >>> a = tail + [MatrixInfo(3, 4, 12, False)]
    >>> b = tail + [MatrixInfo(3, 4, 12, False)]
    >>> r = reuse_report([a, b], of="f", wrt="x", count=2, reverse=24, forward=40, merges=1)
    >>> r.path_by_path, r.saving  # 18 for each chain, 4 to add the two 1×4 results
    (40, 1.6666666666666667)
    """
    priced = None
    if paths is not None:
        priced, results = 0, []
        for p in paths:
            infos = _infos(p)
            priced += reverse_cost(infos)
            acc = infos[0]
            for b in infos[1:]:
                acc = product_info(acc, b)
            results.append(acc)
        priced += sum(r.nnz for r in results[1:])  # adding each further path's matrix
    return ReuseReport(of, wrt, int(count), priced, int(reverse), int(forward), int(merges))
