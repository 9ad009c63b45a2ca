r"""Second order on the lecture network: Hessian blocks, Gauss-Newton, K-FAC, Hessian-vector products.

Every result here is literal: the network is composed from the operations table
(:meth:`~jacobian_calc.MLP.compose`) and the blocks are assembled by :mod:`jacobian_calc.engine.second`,
node by node, as :math:`T_i^\top S\, T_j` with the tangents T and each operation's
second-order rule S. The blocks are named by the parameters, in the order of
:attr:`MLP.parameter_names` (weights, then biases), with the binding convention

.. math::

    H_{XY} = \frac{\partial (\nabla_{\operatorname{vec}(X)} f)}{\partial \operatorname{vec}(Y)},
    \qquad \text{shape } (\operatorname{size} X, \operatorname{size} Y).

The block of a network splits exactly into named terms (:meth:`Curvature.hessian_terms`):

``"gauss_newton"``
    the loss node's term :math:`J_X^\top H_L J_Y` with :math:`J = \partial \hat y /
    \partial \operatorname{vec}(\cdot)` and :math:`H_L = \partial^2 f / \partial \hat y^2`:
    the generalized Gauss-Newton block. For one example and two weights it is
    :math:`(z_{k-1} z_{l-1}^\top) \otimes (B_k^\top H_L B_l)` with :math:`B_k = \partial \hat
    y / \partial h_k`, kept as its two factors; over a batch it is the sum of such
    products, one per example (a :class:`~jacobian_calc.core.structure.KronSum`).
``"activation_k"``
    the φ″ term of layer k, :math:`T_{h_k}^\top \operatorname{diag}(\partial f/\partial z_k
    \odot \phi''(h_k))\, T_{h_k}` (zero for ReLU and the identity);
``"product_k"``
    the bilinear term of :math:`h_k = W_k z_{k-1}`, present in a block of W_k and a
    parameter below it (the cross-layer residual).

This module is the literal side; :mod:`jacobian_calc.lecture.curvature` holds the
compact formulas it is checked against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..core.errors import ChoiceError, JacobianCalcError, ShapeError
from ..core.hessian import Hessian
from ..core.notation import dims
from ..core.limits import check_work
from ..core.structure import Kron, KronSum
from ..core.validation import as_real_array
from ..engine import second
from ..engine.graph import Graph, Node
from ..engine.second_derivation import SecondDerivation, derive_second
from ..render import render
from ..render.report import Heading, Report, Table

__all__ = ["Curvature", "KFAC", "Block"]

#: ``None`` (every parameter), one name (a diagonal block) or two names (a block H_XY).
Block = str | Sequence[str] | None


class _Network(Protocol):  # what the mixin needs of MLP
    parameter_names: tuple[str, ...]
    weight_names: tuple[str, ...]
    depth: int
    bias_names: tuple[str, ...]
    _bias_shapes: tuple[tuple[int, ...], ...]

    def compose(self, x: object, y: object | None = None) -> Graph: ...
    def data(self, x: object, y: object | None = None) -> tuple[np.ndarray, Any]: ...


@dataclass(frozen=True)
class KFAC:
    r"""The K-FAC factors of one weight's Gauss-Newton block, and how good A ⊗ G is.

    Normalisation: for a batch of n examples (columns),

    .. math::

        A = \frac1n \sum_i z_{k-1,i} z_{k-1,i}^\top, \qquad
        G = \sum_i B_{k,i}^\top H_{L,i} B_{k,i},

    so that :math:`A \otimes G` approximates the exact block
    :math:`\sum_i (z_{k-1,i} z_{k-1,i}^\top) \otimes (B_{k,i}^\top H_{L,i} B_{k,i})` (the loss
    is summed over the examples) and equals it for n = 1. Both factors are read off the
    literal per-example Gauss-Newton blocks.

    Attributes
    ----------
    name : str
        The weight, e.g. ``"W2"``.
    A : ndarray, shape (n_{k−1}, n_{k−1})
    G : ndarray, shape (n_k, n_k)
    approximation : Hessian
        A ⊗ G, stored as its two factors.
    exact : Hessian
        The Gauss-Newton block, stored as the sum of its per-example Kronecker products.
    error : float
        ‖A ⊗ G − exact‖_F / ‖exact‖_F (0 when the block is 0 and so is A ⊗ G).
    """

    name: str
    A: np.ndarray
    G: np.ndarray
    approximation: Hessian
    exact: Hessian
    error: float

    def __repr__(self) -> str:
        (p, _), (q, _) = self.G.shape, self.A.shape
        return (f"<KFAC of {self.name}: A {q}×{q} ⊗ G {p}×{p}, relative error "
                f"{self.error:.3g} against the Gauss-Newton block>")

    def report(self) -> Report:
        """The factors and the error as a table (what Jupyter shows)."""
        (p, _), (q, _) = self.G.shape, self.A.shape
        rows = [["A = (1/n) Σ z zᵀ", dims(self.A.shape), "input side"],
                ["G = Σ Bᵀ H_L B", dims(self.G.shape), "output side"],
                ["A ⊗ G", dims((q * p, q * p)), f"relative error {self.error:.3g}"]]
        return Report([Heading(f"K-FAC of {self.name}", 2),
                       Table(["factor", "shape", ""], rows, kinds=["text", "dims", "text"])],
                      {"name": self.name, "A": self.A.tolist(), "G": self.G.tolist(),
                       "error": self.error})

    def _repr_html_(self) -> str:
        return str(render(self.report(), "html"))

    def _repr_markdown_(self) -> str:
        return str(render(self.report(), "markdown"))


def _is_loss(node: Node) -> bool:
    return node.op is not None and "loss" in node.op.roles


def _term_name(node: Node) -> str:
    """``"gauss_newton"``, ``"activation_k"``, ``"product_k"`` for the network's nodes."""
    label = node.label
    if _is_loss(node):
        return "gauss_newton"
    if label.startswith("z") and label[1:].isdigit():
        return f"activation_{label[1:]}"
    if node.op is not None and node.op.name == "matmul":
        weight = node.args[0].label
        if weight.startswith("W") and weight[1:].isdigit():
            return f"product_{weight[1:]}"
    return label


class Curvature:
    """The second-order methods of :class:`~jacobian_calc.MLP` (a mixin; see the module notes)."""

    # ------------------------------------------------------------------ blocks
    def _block(self: _Network, wrt: Block) -> tuple[str, ...] | tuple[str, str]:
        """``()`` for every parameter, else the pair (X, Y) of a block, checked."""
        names = self.parameter_names
        if wrt is None:
            return ()
        pair = (wrt, wrt) if isinstance(wrt, str) else tuple(wrt)
        if len(pair) != 2 or not all(isinstance(n, str) for n in pair):
            raise JacobianCalcError(
                f"wrt must be None (every parameter), one name such as {names[0]!r} or a "
                f"pair such as ({names[0]!r}, {names[-1]!r}); got {wrt!r}")
        for name in pair:
            if name not in names:
                raise ChoiceError("block name", name, names)
        return pair

    def _labelled(self: _Network, matrix: Any, X: Node, Y: Node,
                  terms: Mapping[str, Any] | None = None) -> Hessian:
        return Hessian(matrix, f="f", x=X.label, y=Y.label, x_shape=X.shape, y_shape=Y.shape,
                       x_latex=X.form.latex, y_latex=Y.form.latex, terms=terms)

    def _full(self: _Network, graph: Graph, blocks: Mapping[tuple[int, int], Sequence[Any]]
              ) -> Hessian:
        """The blocks (a ≤ b, by position) assembled into the Hessian over θ = (vec W1; …; b1; …)."""
        nodes = [graph.node(n) for n in self.parameter_names]
        sizes = [n.size for n in nodes]
        starts = np.cumsum([0] + sizes)
        total = int(starts[-1])
        parts = {n.label: (slice(int(a), int(b)), n.shape)
                 for n, a, b in zip(nodes, starts[:-1], starts[1:])}
        matrix = second.assemble(blocks, sizes)
        return Hessian(matrix, f="f", x="θ", y="θ", x_shape=(total,), y_shape=(total,),
                       x_latex=r"\theta", y_latex=r"\theta", parts=parts)

    # ------------------------------------------------------------------ Hessian
    def hessian(self: _Network, x: object, y: object, wrt: Block = None) -> Hessian:
        r"""The Hessian of f, or one block H_XY, as a literal matrix in the vec convention.

        Parameters
        ----------
        x : array_like, shape (d,) or (d, n)
        y : array_like, shaped like ŷ
        wrt : None, str or pair of str
            ``None``: the full Hessian over θ = (vec W1; …; vec WL; b1; …; bL), shape
            (P, P) for P parameters, with :meth:`Hessian.block` to read a block back;
            ``"W2"``: the block H_{W2 W2}; ``("W1", "W2")``: the block H_{W1 W2}, shape
            (size W1, size W2) — cross-layer blocks included.

        Returns
        -------
        Hessian
            Symmetric for a diagonal block or the full matrix; H_YX = H_XYᵀ.

        Raises
        ------
        ChoiceError
            A block name that is not a parameter (the message lists them).
        WorkLimitError, DenseLimitError
            The block is too large.
        """
        pair = self._block(wrt)
        graph = self.compose(x, y)
        with np.errstate(over="ignore", invalid="ignore"):
            if not pair:
                return self._full(graph, second.hessian_blocks(graph, "f", self.parameter_names))
            X, Y = graph.node(pair[0]), graph.node(pair[1])
            total = second.hessian(graph, "f", X, Y).storage
        return self._labelled(total, X, Y)

    def hessian_terms(self: _Network, x: object, y: object, wrt: Block = "W1"
                      ) -> dict[str, Hessian]:
        """The exact split of a block into its Gauss-Newton term and the named residual terms.

        Parameters
        ----------
        x, y : array_like
        wrt : str or pair of str
            The block, as for :meth:`hessian` (one block; default ``"W1"``).

        Returns
        -------
        dict of str to Hessian
            ``"gauss_newton"`` first (the same value as :meth:`gauss_newton`), then
            ``"activation_k"`` (the φ″ term of layer k) and ``"product_k"`` (the bilinear
            term of h_k = W_k z_{k−1}) for each term the block has, tail to head. A term
            that vanishes at this point (ReLU's φ″ = 0) is listed as the zero matrix it is.
            Their sum is the block.
        """
        pair = self._block(wrt)
        if not pair:
            raise JacobianCalcError("hessian_terms splits one block: give wrt='W1' or a pair "
                                    "such as ('W1', 'W2')")
        graph = self.compose(x, y)
        X, Y = graph.node(pair[0]), graph.node(pair[1])
        with np.errstate(over="ignore", invalid="ignore"):
            found = second.hessian(graph, "f", X, Y, names=_term_name, keep_terms=True).terms
        out = {"gauss_newton": self.gauss_newton(x, y, wrt=pair)}
        for name, value in found.items():
            if name != "gauss_newton":
                out[name] = self._labelled(value, X, Y)
        return out

    # ------------------------------------------------------------------ Gauss-Newton
    def _examples(self: _Network, x: object, y: object) -> list[tuple[np.ndarray, np.ndarray]]:
        xv, yv = self.data(x, y)
        if xv.ndim == 1:
            return [(xv, yv)]
        return [(xv[:, i], yv[:, i]) for i in range(xv.shape[1])]

    def _gn_blocks(self: _Network, x: object, y: object, pairs: Sequence[tuple[str, str]]
                   ) -> dict[tuple[str, str], list[Any]]:
        """Each block's loss-node terms, one per example (Kronecker products for weights)."""
        per: dict[tuple[str, str], list[Any]] = {p: [] for p in pairs}
        for xi, yi in self._examples(x, y):
            graph = self.compose(xi, yi)
            for a, b in pairs:
                terms = second.hessian_terms(graph, "f", a, b, select=_is_loss)
                per[(a, b)] += [t.value for t in terms]
        return per

    def gauss_newton(self: _Network, x: object, y: object, wrt: Block = None) -> Hessian:
        r"""The generalized Gauss-Newton matrix Jᵀ H_L J, or one block J_Xᵀ H_L J_Y.

        J = ∂ŷ/∂vec(·) and H_L = ∂²f/∂ŷ² per example; over a batch the sum over the
        examples. A block of two weights is stored as its Kronecker factors,
        :math:`(z_{k-1} z_{l-1}^\top) \otimes (B_k^\top H_L B_l)` for one example (memory
        O(n²) for layers of width n, never the O(n⁴) matrix) and the sum of one such
        product per example over a batch; it multiplies a vector through its factors
        (``H.storage @ v``).

        Parameters
        ----------
        x, y : array_like
        wrt : None, str or pair of str
            As for :meth:`hessian`.
        """
        pair = self._block(wrt)
        names = self.parameter_names
        pairs = [pair] if pair else [(a, b) for i, a in enumerate(names) for b in names[i:]]
        with np.errstate(over="ignore", invalid="ignore"):
            per = self._gn_blocks(x, y, pairs)
        graph = self.compose(x, y)
        if not pair:
            index = {n: k for k, n in enumerate(names)}
            return self._full(graph, {(index[a], index[b]): v for (a, b), v in per.items()})
        X, Y = graph.node(pair[0]), graph.node(pair[1])
        values = per[pair]
        if values and all(isinstance(v, Kron) for v in values):
            value: Any = values[0] if len(values) == 1 else KronSum(values)
        else:
            value = second.assemble({(0, 0): values}, [X.size], [Y.size])
        return self._labelled(value, X, Y)

    def kfac(self: _Network, x: object, y: object, wrt: str = "W1") -> KFAC:
        """The K-FAC factors (A, G) of a weight's Gauss-Newton block and the error of A ⊗ G.

        See :class:`KFAC` for the normalisation. The exact block is the sum of the
        per-example Kronecker products; the error is computed from the factors without
        writing either matrix out.

        Raises
        ------
        ChoiceError
            ``wrt`` is not a weight.
        """
        if not isinstance(wrt, str) or wrt not in self.weight_names:
            raise ChoiceError("K-FAC weight", wrt, self.weight_names)
        exact = self.gauss_newton(x, y, wrt=wrt)
        terms = _kron_terms(exact.storage)
        n = len(terms)
        A = sum(np.asarray(_factor(t.left)) for t in terms) / n
        G = sum(np.asarray(_factor(t.right)) for t in terms)
        approx = Hessian(Kron(A, G), f="f", x=wrt, y=wrt, x_shape=exact.of_shape,
                         y_shape=exact.wrt_shape, label="A ⊗ G", latex=r"A \otimes G")
        return KFAC(wrt, A, G, approx, exact, _relative_error(A, G, terms))

    # ------------------------------------------------------------------ derivations
    def _second_derivation(self: _Network, x: object, y: object, wrt: Block,
                           max_values: int | None, context: Sequence[str]) -> SecondDerivation:
        """The second-order derivation of one block, its terms named and explained."""
        pair = self._block(wrt)
        if not pair:
            raise JacobianCalcError("a second-order derivation is of one block: give wrt='W1' "
                                    "or a pair such as ('W1', 'W2')")
        graph = self.compose(x, y)
        with np.errstate(over="ignore", invalid="ignore"):
            return derive_second(graph, "f", pair[0], pair[1], names=_term_name,
                                 explain=_explain, context=context, max_values=max_values)

    # ------------------------------------------------------------------ products
    def hvp(self: _Network, x: object, y: object, V: Mapping[str, object]) -> dict[str, np.ndarray]:
        """The Hessian-vector product H v over every parameter, without forming H.

        Parameters
        ----------
        x, y : array_like
        V : dict of str to array_like
            The direction, one array per parameter shaped like it (a missing name is a
            zero direction).

        Returns
        -------
        dict of str to ndarray
            ``{name: (H v) for that parameter}`` for every parameter, each shaped like it.
        """
        if not isinstance(V, Mapping):
            raise JacobianCalcError(f"V must be a dict of parameter name → array, got "
                                    f"{type(V).__name__}")
        graph = self.compose(x, y)
        given = dict(zip(self.bias_names, self._bias_shapes))  # a (p, 1) bias stays (p, 1)
        directions: dict[Node, np.ndarray] = {}
        for name, value in V.items():
            if name not in self.parameter_names:
                raise ChoiceError("parameter name in V", name, self.parameter_names)
            node = graph.node(name)
            arr = as_real_array(value, f"V[{name!r}]", copy=False)  # only read
            shapes = {node.shape, given.get(name, node.shape)}
            if arr.shape not in shapes:
                raise ShapeError(f"V[{name!r}] must be shaped like {name}, "
                                 f"{' or '.join(map(str, sorted(shapes)))}; got {arr.shape}")
            directions[node] = arr.reshape(node.shape)
        with np.errstate(over="ignore", invalid="ignore"):
            out = second.hvp_many(graph, "f", directions, self.parameter_names)
        return {name: out[name].reshape(given.get(name, out[name].shape))
                for name in self.parameter_names}


def _explain(name: str) -> str | None:
    """What a named term of the network is (the module notes, one line each)."""
    if name == "gauss_newton":
        return ("the Gauss-Newton term J_Xᵀ H_L J_Y, J = ∂ŷ/∂vec(·), H_L = ∂²f/∂ŷ²; for two "
                "weights (z_{k−1} z_{l−1}ᵀ) ⊗ (B_kᵀ H_L B_l) with B_k = ∂ŷ/∂h_k")
    kind, _, k = name.partition("_")
    if kind == "activation" and k.isdigit():
        return f"the φ″ term of layer {k}: φ″(h{k}) weighted by ∂f/∂z{k}"
    if kind == "product" and k.isdigit():
        below = "x" if k == "1" else f"z{int(k) - 1}"
        return (f"the bilinear term of h{k} = W{k} {below}: W{k} and {below} both move, a "
                f"cross-layer residual that Gauss-Newton leaves out")
    return None


def _kron_terms(storage: Any) -> tuple[Kron, ...]:
    if isinstance(storage, KronSum):
        return storage.terms
    if isinstance(storage, Kron):
        return (storage,)
    raise JacobianCalcError("the Gauss-Newton block is not a sum of Kronecker products")


def _factor(f: np.ndarray | int) -> np.ndarray:
    return np.eye(f) if isinstance(f, int) else f


def _relative_error(A: np.ndarray, G: np.ndarray, terms: Sequence[Kron]) -> float:
    """‖A⊗G − Σ Aᵢ⊗Gᵢ‖_F / ‖Σ Aᵢ⊗Gᵢ‖_F.

    Written out when the block is small (exact to rounding); otherwise from the factors
    alone, with ⟨A⊗G, C⊗D⟩ = ⟨A, C⟩⟨G, D⟩, which costs O(n²) inner products for n examples
    but loses relative accuracy below about 1e-8 (the square root of rounding).
    """
    rows = A.shape[0] * G.shape[0]
    if rows * rows <= _WRITTEN_OUT:
        exact = sum(np.kron(_factor(t.left), _factor(t.right)) for t in terms[1:])
        exact = np.kron(_factor(terms[0].left), _factor(terms[0].right)) + exact
        scale = float(np.linalg.norm(exact))
        diff = float(np.linalg.norm(np.kron(A, G) - exact))
        return diff / scale if scale else (0.0 if diff == 0.0 else float("inf"))
    As = np.stack([_factor(t.left).reshape(-1) for t in terms])
    Gs = np.stack([_factor(t.right).reshape(-1) for t in terms])
    check_work(As.size + Gs.size + 2 * len(terms) ** 2,
               len(terms) ** 2 * (As.shape[1] + Gs.shape[1]), "the error of K-FAC")
    exact_sq = float(np.sum((As @ As.T) * (Gs @ Gs.T)))
    cross = float(np.sum((As @ A.reshape(-1)) * (Gs @ G.reshape(-1))))
    approx_sq = float(np.sum(A * A) * np.sum(G * G))
    diff_sq = max(approx_sq - 2 * cross + exact_sq, 0.0)
    if exact_sq == 0.0:
        return 0.0 if approx_sq == 0.0 else float("inf")
    return float(np.sqrt(diff_sq / exact_sq))


#: Blocks of at most this many entries have their K-FAC error computed written out.
_WRITTEN_OUT = 1 << 22
