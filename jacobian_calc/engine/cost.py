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

import numpy as np
import scipy.sparse as sp

from ..core.errors import JacobianCalcError, ShapeError
from ..core.notation import dims

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
]

#: A parenthesisation: a factor's index, or a pair of sub-trees (left, right).
Tree = Union[int, tuple["Tree", "Tree"]]


@dataclass(frozen=True)
class MatrixInfo:
    """What the cost model knows of one factor: shape, stored entries, storage.

    Attributes
    ----------
    rows, cols : int
    nnz : int
        Stored entries (``rows·cols`` for a dense matrix).
    sparse : bool
    """

    rows: int
    cols: int
    nnz: int
    sparse: bool

    @classmethod
    def of(cls, matrix: Any) -> MatrixInfo:
        """Describe an ndarray, a scipy sparse array or a :class:`~jacobian_calc.jacobian.Jacobian`."""
        m = getattr(matrix, "matrix", matrix)  # a Jacobian exposes its matrix
        if sp.issparse(m):
            return cls(int(m.shape[0]), int(m.shape[1]), int(m.nnz), True)
        arr = np.asarray(m)
        if arr.ndim != 2:
            raise ShapeError(f"a chain factor must be a 2-D matrix, got shape {arr.shape}")
        return cls(int(arr.shape[0]), int(arr.shape[1]), int(arr.size), False)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)


def product_cost(a: MatrixInfo, b: MatrixInfo) -> int:
    """Multiply-adds of ``a @ b`` under the cost model (see the module notes)."""
    _check_meet(a, b)
    if a.sparse and b.sparse:
        return -(-a.nnz * b.nnz // max(a.cols, 1))  # ceil(nnz(A)·nnz(B)/k)
    if a.sparse:
        return a.nnz * b.cols
    if b.sparse:
        return a.rows * b.nnz
    return a.rows * a.cols * b.cols


def product_info(a: MatrixInfo, b: MatrixInfo) -> MatrixInfo:
    """The estimated description of ``a @ b``: sparse only if both are."""
    _check_meet(a, b)
    full = a.rows * b.cols
    if a.sparse and b.sparse:
        return MatrixInfo(a.rows, b.cols, min(full, -(-a.nnz * b.nnz // max(a.cols, 1))), True)
    return MatrixInfo(a.rows, b.cols, full, False)


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
    """

    tree: Tree
    cost: int
    n: int

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


def reverse_cost(chain: Sequence[MatrixInfo | Any]) -> int:
    """Multiply-adds of tail-to-head accumulation: ``((J1·J2)·J3)·…`` (back-propagation)."""
    infos = _infos(chain)
    return tree_cost(infos, _left_tree(0, len(infos) - 1))


def forward_cost(chain: Sequence[MatrixInfo | Any]) -> int:
    """Multiply-adds of head-to-tail accumulation: ``…·(J(k−1)·Jk)`` (forward mode)."""
    infos = _infos(chain)
    return tree_cost(infos, _right_tree(0, len(infos) - 1))


def optimal_order(chain: Sequence[MatrixInfo | Any]) -> ChainPlan:
    """The cheapest parenthesisation of ``chain``, by the matrix-chain dynamic programme.

    Ties go to the tail-to-head (left-to-right) order, the one back-propagation uses.

    Parameters
    ----------
    chain : sequence of MatrixInfo, ndarray, scipy sparse array or Jacobian
        The factors, head first (``J1`` is applied last, as written in eq 4).

    Returns
    -------
    ChainPlan
    """
    infos = _infos(chain)
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
               f"head-to-tail (forward accumulation):      {self.forward:,} multiply-adds",
               f"cheapest order (matrix-chain DP):         {self.optimal.cost:,} multiply-adds, "
               f"{self.optimal.describe(self.names)}"]
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
