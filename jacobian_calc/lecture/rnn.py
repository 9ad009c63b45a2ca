r"""A recurrent network unrolled in time: the lecture's method on a weight shared by every step.

.. math::

    h_0 = 0,\qquad a_t = W h_{t-1} + U x_t,\qquad h_t = \phi(a_t),\qquad
    \hat y_t = V h_t,\qquad f = \sum_{t=1}^{T} L(\hat y_t, y_t),

with the inputs as the columns of X (d × T) and the targets as the columns of Y (s × T).
:meth:`RNN.compose` unrolls it into one composition of the operations table: W, U and V
are single leaves used at every step, so every use is a path from the weight to f, and
the literal gradient is the sum over those paths that the graph's tail-to-head sweep
forms (:meth:`~jacobian_calc.engine.graph.Graph.backward`). The compact formulas of
back-propagation through time (:mod:`jacobian_calc.lecture.bptt`) are written apart and
share nothing with it.

Names in the unrolled graph: ``W``, ``U``, ``V``; ``h0`` (the zero state); ``x1 … xT``
and ``y1 … yT``; ``a1 … aT`` (pre-activations), ``h1 … hT`` (states), ``yhat1 … yhatT``;
``f1 … fT`` (the loss of each step, when T > 1) and ``f``. ``"H"``, ``"Yhat"`` and ``"X"`` stand for all the states, outputs and inputs
stacked as the columns of one matrix (so vec stacks them in time order).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from ..core.errors import ChoiceError, JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian
from ..core.notation import Form, dims
from ..core.structure import Structured
from ..core.validation import as_real_array
from ..engine.cost import ReuseReport
from ..engine.derivation import Derivation, derive
from ..engine.graph import Graph, Node, apply, known_leaf, leaf
from ..ops import ACTIVATIONS, LOSSES
from . import bptt

__all__ = ["RNN"]

_PHI = Form("φ", r"\phi")

Method = Literal["explicit", "bptt"]
METHODS = ("explicit", "bptt")
#: Names that stand for a whole sequence: all the states, outputs or inputs as columns.
STACKED = {"H": "h", "Yhat": "yhat", "X": "x"}


def _shape_text(shape: tuple[int, ...]) -> str:
    return dims(shape) if len(shape) == 2 else f"shape {shape}"


class RNN:
    """An Elman recurrent network with weights W (n × n), U (n × d), V (s × n).

    Parameters
    ----------
    W : array_like, shape (n, n)
        The hidden state's own weight, shared by every step.
    U : array_like, shape (n, d)
        The input weight.
    V : array_like, shape (s, n)
        The output weight.
    activation : str
        φ, one of ``sorted(jacobian_calc.ACTIVATIONS)``.
    loss : str
        L, one of ``sorted(jacobian_calc.LOSSES)``, applied at every step and summed.

    Examples
    --------
    >>> import numpy as np, jacobian_calc as jc
    >>> rng = np.random.default_rng(0)
    >>> rnn = jc.RNN(rng.normal(size=(3, 3)) / 2, rng.normal(size=(3, 2)), rng.normal(size=(1, 3)))
    >>> X, Y = rng.normal(size=(2, 4)), rng.normal(size=(1, 4))
    >>> g = rnn.gradients(X, Y)
    >>> sorted(g), g["W"].shape
    (['U', 'V', 'W'], (3, 3))
    >>> all(np.allclose(g[k], rnn.gradients(X, Y, method="bptt")[k]) for k in g)
    True
    >>> rnn.jacobian(X, of="H", wrt="W").shape  # (h_1; …; h_4) by vec(W)
    (12, 9)
    """

    def __init__(self, W: object, U: object, V: object, activation: str = "tanh",
                 loss: str = "squared_error") -> None:
        W_, U_, V_ = (as_real_array(M, name, ndim=(2,)) for M, name in ((W, "W"), (U, "U"),
                                                                        (V, "V")))
        n = W_.shape[0]
        if W_.shape != (n, n):
            raise ShapeError(f"W maps the hidden state to itself, so it must be square "
                             f"(n × n), got {dims(W_.shape)}")
        if U_.shape[0] != n:
            raise ShapeError(f"U maps an input to the hidden state: it needs n = {n} rows like "
                             f"W ({dims(W_.shape)}), got {dims(U_.shape)}")
        if V_.shape[1] != n:
            raise ShapeError(f"V maps the hidden state to an output: it needs n = {n} columns "
                             f"like W ({dims(W_.shape)}), got {dims(V_.shape)}")
        for M in (W_, U_, V_):
            M.flags.writeable = False
        self._W, self._U, self._V = W_, U_, V_
        self.activation = ACTIVATIONS.lookup(activation).name
        self.loss = LOSSES.lookup(loss).name

    # ---------------------------------------------------------------- structure
    @property
    def weights(self) -> dict[str, np.ndarray]:
        """Copies of W, U and V, by name."""
        return {"W": self._W.copy(), "U": self._U.copy(), "V": self._V.copy()}

    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(d, n, s)``: input, hidden and output sizes."""
        return self._U.shape[1], self._W.shape[0], self._V.shape[0]

    def __repr__(self) -> str:
        d, n, s = self.sizes
        return (f"RNN(d={d}, n={n}, s={s}, activation={self.activation!r}, "
                f"loss={self.loss!r})")

    def node_names(self, T: int, with_loss: bool = True) -> tuple[str, ...]:
        """Every name ``of`` and ``wrt`` may take for a sequence of ``T`` steps."""
        names = ["W", "U", "V", "h0", "X", "H", "Yhat"]
        for t in range(1, T + 1):
            names += [f"x{t}", f"a{t}", f"h{t}", f"yhat{t}"]
        if with_loss:
            names += ["f"] + [f"y{t}" for t in range(1, T + 1)]
            names += [f"f{t}" for t in range(1, T + 1)] if T > 1 else []
        return tuple(names)

    # ------------------------------------------------------------------- inputs
    def data(self, X: object, Y: object | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """X (d × T) and Y (s × T) checked against the network, as float64 arrays.

        Raises
        ------
        ShapeError
            A wrong shape, or T = 0 (no time step); the message says what was expected.
        """
        d, _, s = self.sizes
        shape = np.shape(X)
        if len(shape) == 2 and shape[1] == 0:
            raise ShapeError(f"X has T = 0 columns: the recurrence needs at least one time "
                             f"step (X is d × T = {d} × T, one input per column)")
        Xv = as_real_array(X, "X", ndim=(2,))
        if Xv.shape[0] != d:
            hint = (" (it looks transposed: the inputs are the columns)"
                    if Xv.shape[1] == d else "")
            raise ShapeError(f"X must be d × T with d = {d} rows, one input x_t per column "
                             f"(U is {dims(self._U.shape)}), got {dims(Xv.shape)}{hint}")
        if Y is None:
            return Xv, None
        Yv = as_real_array(Y, "Y", ndim=(2,))
        if Yv.shape != (s, Xv.shape[1]):
            raise ShapeError(f"Y must be s × T = {s} × {Xv.shape[1]}, one target per step like "
                             f"ŷ_t = V h_t (V is {dims(self._V.shape)}), got "
                             f"{_shape_text(Yv.shape)}")
        return Xv, Yv

    # -------------------------------------------------------------- composition
    def compose(self, X: object, Y: object | None = None) -> Graph:
        """The network unrolled over the T columns of X, evaluated (and its loss, given Y).

        Returns
        -------
        Graph
            Nodes ``W, U, V, h0, x1…xT, a1…aT, h1…hT, yhat1…yhatT`` and, with ``Y``,
            ``y1…yT``, the step losses ``f1…fT`` (when T > 1) and their sum ``f``.
        """
        Xv, Yv = self.data(X, Y)
        return self._compose(Xv, Yv)[0]

    def _compose(self, X: np.ndarray, Y: np.ndarray | None
                 ) -> tuple[Graph, dict[str, list[Node]]]:
        """The graph and, by kind, the nodes of each step (the uses of W and U included)."""
        W = known_leaf("W", self._W, "weight")
        U = known_leaf("U", self._U, "weight")
        V = known_leaf("V", self._V, "weight")
        h = leaf("h0", np.zeros(self._W.shape[0]), "constant")
        nodes: dict[str, list[Node]] = {k: [] for k in ("x", "Wh", "Ux", "a", "h", "yhat")}
        losses = []
        for t in range(1, X.shape[1] + 1):
            x = leaf(f"x{t}", X[:, t - 1], "input")
            Wh, Ux = apply("matmul", W, h), apply("matmul", U, x)
            a = apply("add", Wh, Ux, name=f"a{t}")
            h = apply(self.activation, a, name=f"h{t}", symbol=_PHI)
            yhat = apply("matmul", V, h, name=f"yhat{t}")
            for kind, node in zip(nodes, (x, Wh, Ux, a, h, yhat)):
                nodes[kind].append(node)
            if Y is not None:
                # f_t, named when there is more than one step (else it is f itself)
                losses.append(apply(self.loss, yhat, leaf(f"y{t}", Y[:, t - 1], "target"),
                                    name=f"f{t}" if X.shape[1] > 1 else "f"))
        if Y is None:
            return Graph(*nodes["yhat"]), nodes
        total = losses[0]
        for k, term in enumerate(losses[1:], 2):
            total = apply("add", total, term, name="f" if k == len(losses) else None)
        return Graph(total), nodes

    def states(self, X: object) -> np.ndarray:
        """H = [h_1, …, h_T], shape (n, T)."""
        graph, nodes = self._compose(self.data(X)[0], None)
        return np.column_stack([h.value for h in nodes["h"]])

    def predict(self, X: object) -> np.ndarray:
        """Ŷ = [ŷ_1, …, ŷ_T], shape (s, T)."""
        graph, nodes = self._compose(self.data(X)[0], None)
        return np.column_stack([y.value for y in nodes["yhat"]])

    def loss_value(self, X: object, Y: object) -> float:
        """f = Σ_t L(ŷ_t, y_t)."""
        return float(self.compose(X, Y).node("f").value)

    # -------------------------------------------------------------- derivatives
    def gradients(self, X: object, Y: object, method: Method = "explicit"
                  ) -> dict[str, np.ndarray]:
        """∂f/∂W, ∂f/∂U and ∂f/∂V, each shaped like its weight (eq 12, 25).

        Parameters
        ----------
        X : array_like, shape (d, T)
        Y : array_like, shape (s, T)
        method : {"explicit", "bptt"}
            ``"explicit"``: the literal factors of the unrolled graph multiplied tail to
            head, each weight's row the sum over its T uses (one path per pair of a use
            and a later loss term), then unvec. ``"bptt"``: the compact formulas of
            back-propagation through time (:func:`~jacobian_calc.lecture.bptt.bptt_gradients`).

        Returns
        -------
        dict
            ``{"W": (n, n), "U": (n, d), "V": (s, n)}``.
        """
        if method not in METHODS:
            raise ChoiceError("method", method, METHODS)
        Xv, Yv = self.data(X, Y)
        if method == "bptt":
            return bptt.bptt_gradients(self._W, self._U, self._V, Xv, Yv, self.activation,
                                       self.loss)
        acc = self._compose(Xv, Yv)[0].backward("f", ["W", "U", "V"])
        return {k: acc.jacobians[k].matrix_gradient(copy=False) for k in ("W", "U", "V")}

    def _check_names(self, T: int, of: str, wrt: str, Y: object | None) -> None:
        valid = self.node_names(T)
        for what, name in (("of", of), ("wrt", wrt)):
            if name not in valid:
                raise ChoiceError(f"{what} name", name, valid)
        if Y is None and any(n[:1] in ("f", "y") and n[1:].isdigit() or n == "f"
                             for n in (of, wrt)):
            raise JacobianCalcError(f"of={of!r}, wrt={wrt!r} involves the loss, which needs "
                                    f"the targets: call jacobian(X, Y, of={of!r}, wrt={wrt!r})")

    def jacobian(self, X: object, Y: object | None = None, *, of: str = "H", wrt: str = "W",
                 per_step: bool = False) -> Jacobian:
        """A literal Jacobian of the unrolled network, in the vec convention.

        Parameters
        ----------
        X : array_like, shape (d, T)
        Y : array_like, shape (s, T), optional
            Needed when ``of`` or ``wrt`` is ``"f"``.
        of : str
            ``"H"`` (all the states, vec(H) = (h_1; …; h_T)), ``"Yhat"``, ``"f"``, or one
            node: ``"h3"``, ``"a2"``, ``"yhat1"``, …
        wrt : str
            ``"W"``, ``"U"``, ``"V"``, ``"X"`` (all the inputs), or one node (``"h1"``,
            ``"x2"``, …).
        per_step : bool
            With ``wrt`` ``"W"`` or ``"U"``: differentiate with respect to the copy of the
            weight used at each step, [W_1, …, W_T] side by side (n × nT). Block (t, k) is
            ∂h_t/∂vec(W_k) = ∂h_t/∂(W h_{k−1}) · (h_{k−1}ᵀ ⊗ I_n), zero for k > t: the
            matrix is block lower triangular, and the sum of its block columns is
            ∂(·)/∂vec(W).

        Returns
        -------
        Jacobian
            Shape (size(of), size(wrt)); ``of="H"``, ``wrt="X"`` is block lower triangular
            with T × T blocks of n × d (h_t does not depend on later inputs).
        """
        Xv, Yv = self.data(X, Y)
        T = Xv.shape[1]
        self._check_names(T, of, wrt, Yv)
        if not isinstance(per_step, bool):
            raise JacobianCalcError(f"per_step must be True or False, got {per_step!r}")
        if per_step and wrt not in ("W", "U"):
            raise JacobianCalcError(f"per_step differentiates with respect to the copies of a "
                                    f"weight used at each step: wrt must be 'W' or 'U', got "
                                    f"{wrt!r}")
        graph, nodes = self._compose(Xv, Yv)
        heads = nodes[STACKED[of]] if of in STACKED else [graph.node(of)]
        if per_step:
            uses = nodes["Wh"] if wrt == "W" else nodes["Ux"]
            blocks = [[self._through_use(graph, head, use) for use in uses] for head in heads]
            weight = graph.node(wrt)
            n_cols = weight.shape[1]
            wrt_name, wrt_shape = f"[{wrt}₁ … {wrt}_T]", (weight.shape[0], n_cols * T)
            wrt_latex = rf"[{wrt}_1, \dots, {wrt}_T]"
        else:
            targets = nodes[STACKED[wrt]] if wrt in STACKED else [graph.node(wrt)]
            blocks = [[_storage(graph.jacobian(head, t)) for t in targets] for head in heads]
            wrt_name = wrt
            wrt_shape = (Xv.shape if wrt == "X" else graph.node(wrt).shape)
            wrt_latex = None
        of_shape = ((heads[0].size, T) if of in STACKED else heads[0].shape)
        matrix = blocks[0][0] if len(blocks) == 1 and len(blocks[0]) == 1 \
            else sp.csr_array(sp.block_array(blocks, format="csr"))
        return Jacobian(matrix, of=of, wrt=wrt_name, of_shape=of_shape, wrt_shape=wrt_shape,
                        wrt_latex=wrt_latex)

    @staticmethod
    def _through_use(graph: Graph, head: Node, use: Node) -> object:
        """∂head/∂vec(weight at this use): ∂head/∂(use) times the use's own factor (eq 22)."""
        if not graph.depends_on(head, use):
            rows, cols = head.size, use.args[0].size
            return sp.csr_array((rows, cols))
        return _storage(graph.jacobian(head, use) @ graph.factor(use, 0))

    def derivation(self, X: object, Y: object, wrt: str = "W", *,
                   max_values: int | None = None) -> Derivation:
        """The step-by-step record of ∂f/∂(wrt): every path through time, and their sum.

        For a shared weight each step's use is a path to every later loss term: T(T+1)/2
        paths for W and U, T for V. The record lists them (up to its bound) with their
        factors and dimension checks, each path's own product when there are few, the
        tail-to-head steps that sum them, and the compact BPTT formula it reproduces.

        Parameters
        ----------
        X, Y : array_like
        wrt : str
            ``"W"``, ``"U"``, ``"V"``, or a node (``"h2"``, ``"x1"``, …).
        max_values : int, optional
        """
        Xv, Yv = self.data(X, Y)
        T = Xv.shape[1]
        if wrt in STACKED:
            raise JacobianCalcError(f"a derivation is with respect to one node; {wrt!r} stands "
                                    f"for T of them (name one, e.g. {STACKED[wrt]}1)")
        self._check_names(T, "f", wrt, Yv)
        graph = self._compose(Xv, Yv)[0]
        return derive(graph, "f", wrt, context=self._context(T), notes=self._notes(wrt, T),
                      max_values=max_values)

    def _context(self, T: int) -> list[str]:
        phi, loss = ACTIVATIONS[self.activation], LOSSES[self.loss]
        own = {"fn": phi.params[0].default, "0": "a"}
        return [f"recurrence: h_t = φ(W h_(t−1) + U x_t), h0 = 0, ŷ_t = V h_t, "
                f"f = Σ_t f_t with f_t = L(ŷ_t, y_t), t = 1…{T}",
                f"φ = {phi.name}: {phi.pointwise.definition.text(**own)}, "
                f"{phi.pointwise.derivative_definition.text(**own)}",
                f"loss = {loss.name}: L = {loss.notation.text(**{'0': 'yhat_t', '1': 'y_t'})}"]

    def _notes(self, wrt: str, T: int) -> list[str]:
        if wrt == "V":
            return [f"V is used once per step: {T} paths, one through each ŷ_t",
                    "compact form (BPTT): ∂f/∂V = Σ_t (∂f_t/∂ŷ_t) h_tᵀ"]
        if wrt not in ("W", "U"):
            return []
        z = "h_(k−1)" if wrt == "W" else "x_k"
        return [f"{wrt} is used at every step k, and its use at step k reaches every step loss "
                f"f_t with t ≥ k: {T}·{T + 1}/2 = {T * (T + 1) // 2} paths, one per pair "
                f"k ≤ t. Summed: ∂f/∂vec({wrt}) = Σ_t Σ_(k≤t) (∂f_t/∂ŷ_t) V (∂h_t/∂h_k) "
                f"diag(φ′(a_k)) ({z}ᵀ ⊗ I_n), where ∂h_t/∂h_k = diag(φ′(a_t)) W ⋯ "
                f"diag(φ′(a_(k+1))) W is the identity for k = t",
                "the steps above sum the paths tail to head: ∂f/∂h_k is formed once, from "
                "∂f/∂h_(k+1) and ŷ_k, and shared by every path through h_k "
                "(back-propagation through time; RNN.cost prices the alternative)",
                f"compact form (BPTT): δ_k = φ′(a_k) ⊙ (Vᵀ ∂f_k/∂ŷ_k + Wᵀ δ_(k+1)), "
                f"∂f/∂{wrt} = Σ_k δ_k {z}ᵀ"]

    def cost(self, X: object, Y: object, wrt: str = "W") -> ReuseReport:
        """The cost model's account of why BPTT reuses the tail-to-head products.

        Prices the T(T+1)/2 paths from ``wrt`` to f one by one (each path's chain
        multiplied tail to head on its own: O(T³) products of n × n size for W) beside the
        tail-to-head sweep (∂f/∂h_t formed once per step and shared: O(T)) and the
        head-to-tail sweep (forward accumulation, which for a recurrent net is real-time
        recurrent learning: n² columns carried through every step). Nothing is built.

        Returns
        -------
        ReuseReport
            ``.lines()`` reads it out.
        """
        Xv, Yv = self.data(X, Y)
        self._check_names(Xv.shape[1], "f", wrt, Yv)
        return self._compose(Xv, Yv)[0].reuse("f", wrt)


def _storage(J: Jacobian) -> object:
    """A Jacobian's matrix as a scipy sparse array (a block of a larger one)."""
    stored = J.storage
    if isinstance(stored, Structured):
        return stored.tosparse()
    return stored if sp.issparse(stored) else sp.csr_array(stored)

