r"""The lecture's network (§3.1), for any depth L ≥ 1.

.. math::

    z_0 = x,\qquad h_k = W_k z_{k-1},\quad z_k = \phi(h_k)\ \ (1 \le k < L),\qquad
    \hat y = W_L z_{L-1},\qquad f = L(y, \hat y).

Optionally each layer has a bias, :math:`h_k = W_k z_{k-1} + b_k` (and
:math:`\hat y = W_L z_{L-1} + b_L`), and ``x`` may be a batch: a d×n matrix whose columns
are examples, in which case every h, z and ŷ has n columns, each bias is added to every
column, and the loss is the sum over the columns.

With L = 3 and sizes d, p, q, s this is exactly the lecture's x ∈ R^d, W1 ∈ R^{p×d},
W2 ∈ R^{q×p}, W3 ∈ R^{s×q}. The network is one composition of the primitive table
(:func:`MLP.compose`); its derivatives come from the generic engine
(:mod:`jacobian_calc.graph`) or, for comparison, from the compact formulas
(:mod:`jacobian_calc.backprop`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..core.errors import ChoiceError, JacobianCalcError, ShapeError
from ..core.jacobian import Jacobian
from ..core.notation import Form, chain_dims, dims
from ..core.validation import as_real_array
from ..engine.derivation import Derivation, derive
from ..engine.second_derivation import SecondDerivation
from ..engine.graph import Graph, Node, apply, known_leaf, leaf
from ..ops import ACTIVATIONS, LOSSES
from ..render import render
from ..render.report import Heading, Lines, Report, Table
from . import backprop
from .hessians import Curvature
from .shapes import check_biases

__all__ = ["MLP"]

#: Every activation of the lecture network is written φ, whichever function it is.
_PHI = Form("φ", r"\phi")

Method = Literal["explicit", "backprop"]
METHODS = ("explicit", "backprop")


class MLP(Curvature):
    """The lecture network with given weights, activation φ and loss L.

    Parameters
    ----------
    weights : sequence of array_like
        ``[W1, …, WL]``; ``W_k`` has shape (n_k, n_{k−1}), so consecutive weights must
        chain: ``W_{k+1}.shape[1] == W_k.shape[0]``.
    activation : str
        One of ``sorted(jacobian_calc.ACTIVATIONS)``: ``"identity"``, ``"sigmoid"``,
        ``"tanh"``, ``"relu"``, ``"softplus"`` (or one added with
        :mod:`jacobian_calc.extend`).
    loss : str
        One of ``sorted(jacobian_calc.LOSSES)``: ``"squared_error"``,
        ``"softmax_cross_entropy"``.
    biases : sequence of array_like, optional
        ``[b1, …, bL]``, ``b_k`` of shape (n_k,) or (n_k, 1): h_k = W_k z_{k−1} + b_k.
        Gradients are then returned for ``"b1"``, … too, shaped as given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> W1, W2, W3 = rng.normal(size=(5, 4)), rng.normal(size=(3, 5)), rng.normal(size=(2, 3))
    >>> net = MLP([W1, W2, W3], activation="sigmoid", loss="squared_error")
    >>> x, y = rng.normal(size=4), rng.normal(size=2)
    >>> g = net.gradients(x, y)
    >>> g["W2"].shape
    (3, 5)
    >>> np.allclose(g["W2"], net.gradients(x, y, method="backprop")["W2"])
    True
    >>> net.jacobian(x, of="yhat", wrt="W1").shape
    (2, 20)

    A batch of 3 examples (columns) and biases:

    >>> b = [np.zeros(5), np.zeros(3), np.ones(2)]
    >>> net = MLP([W1, W2, W3], activation="tanh", biases=b)
    >>> X, Y = rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    >>> sorted(net.gradients(X, Y))
    ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']
    >>> net.jacobian(X, Y, of="f", wrt="b2").shape
    (1, 3)
    """

    def __init__(self, weights: Sequence[object], activation: str = "sigmoid",
                 loss: str = "squared_error", biases: Sequence[object] | None = None) -> None:
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
            raise JacobianCalcError(
                "weights must be a non-empty list [W1, …, WL] of matrices, got "
                f"{type(weights).__name__}"
            )
        mats = [as_real_array(W, f"W{k}", ndim=(2,)) for k, W in enumerate(weights, 1)]
        for k in range(1, len(mats)):
            below, above = mats[k - 1], mats[k]
            if above.shape[1] != below.shape[0]:
                raise ShapeError(
                    f"W{k + 1} ({dims(above.shape)}) cannot follow W{k} ({dims(below.shape)}): "
                    f"W{k} produces {below.shape[0]} entries, so W{k + 1} needs "
                    f"{below.shape[0]} columns but has {above.shape[1]}; "
                    f"W{k + 1}·W{k}: {chain_dims([above.shape, below.shape])}"
                )
        for W in mats:
            W.flags.writeable = False
        self._weights = tuple(mats)
        self._biases: tuple[np.ndarray, ...] | None = None
        self._bias_shapes: tuple[tuple[int, ...], ...] = ()
        if biases is not None:
            self._biases, self._bias_shapes = check_biases(biases, mats)
        self.activation = ACTIVATIONS.lookup(activation).name
        self.loss = LOSSES.lookup(loss).name

    # ---------------------------------------------------------------- structure
    @property
    def weights(self) -> list[np.ndarray]:
        """Copies of ``W1 … WL``."""
        return [W.copy() for W in self._weights]

    @property
    def depth(self) -> int:
        """L, the number of weight matrices."""
        return len(self._weights)

    @property
    def sizes(self) -> tuple[int, ...]:
        """``(n_0, n_1, …, n_L)``: input size, hidden sizes, output size (d, p, q, s for L = 3)."""
        return (self._weights[0].shape[1],) + tuple(W.shape[0] for W in self._weights)

    @property
    def weight_names(self) -> tuple[str, ...]:
        return tuple(f"W{k}" for k in range(1, self.depth + 1))

    @property
    def biases(self) -> list[np.ndarray] | None:
        """Copies of ``b1 … bL`` in the shapes given, or ``None`` for a network without biases."""
        if self._biases is None:
            return None
        return [b.reshape(s).copy() for b, s in zip(self._biases, self._bias_shapes)]

    @property
    def bias_names(self) -> tuple[str, ...]:
        """``("b1", …, "bL")`` when the network has biases, else ``()``."""
        return () if self._biases is None else tuple(f"b{k}" for k in range(1, self.depth + 1))

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The keys of :meth:`gradients`: the weights, then the biases (if any)."""
        return self.weight_names + self.bias_names

    def _product_name(self, k: int) -> str:
        """Name of W_k z_{k−1} before its bias is added (``"W1x"``, ``"W2z1"``)."""
        return f"W{k}" + ("x" if k == 1 else f"z{k - 1}")

    def node_names(self, with_loss: bool = True) -> tuple[str, ...]:
        """Every quantity that ``of`` and ``wrt`` may name, in forward order."""
        names = ["x", *self.weight_names, *self.bias_names]
        for k in range(1, self.depth + 1):
            if self._biases is not None:
                names.append(self._product_name(k))
            if k < self.depth:
                names += [f"h{k}", f"z{k}"]
        names.append("yhat")
        if with_loss:
            names += ["y", "f"]
        return tuple(names)

    def __repr__(self) -> str:
        arrows = " → ".join(str(n) for n in self.sizes)
        bias = ", biases" if self._biases is not None else ""
        return f"MLP({arrows}, activation={self.activation!r}, loss={self.loss!r}{bias})"

    def report(self) -> Report:
        """The network as a table: one row per layer, its formula, weight and output size."""
        rows = []
        for k, W in enumerate(self._weights, 1):
            z = "x" if k == 1 else f"z{k - 1}"
            h = "ŷ" if k == self.depth else f"h{k}"
            bias = f" + b{k}" if self._biases is not None else ""
            rows.append([f"{h} = W{k} {z}{bias}", dims(W.shape), W.shape[0]])
            if k < self.depth:
                rows.append([f"z{k} = φ(h{k})", "", W.shape[0]])
        rows.append([f"f = {LOSSES[self.loss].notation.text(**{'0': 'yhat', '1': 'y'})}", "",
                     "scalar"])
        return Report([Heading(repr(self), 2),
                       Table(["layer", "weight", "output size"], rows, number_format="d"),
                       Lines.of(f"φ = {self.activation}, L = {self.loss}")])

    def _repr_html_(self) -> str:
        return str(render(self.report(), "html"))

    def _repr_markdown_(self) -> str:
        return str(render(self.report(), "markdown"))

    # ------------------------------------------------------------------- inputs
    def data(self, x: object, y: object | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``x`` and ``y`` checked against the network and read as float64 arrays.

        A column ``x`` (d, 1) is the vector x; ``y`` must be shaped like ŷ (a (s, 1)
        column is accepted for a vector x).

        Raises
        ------
        ShapeError
            The message says which shape was expected and which arrived.
        """
        xv = self._input(x)
        return xv, (None if y is None else self._target(y, xv))

    def _input(self, x: object) -> np.ndarray:
        arr = as_real_array(x, "x", ndim=(1, 2))
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]  # a column is the vector x
        d = self.sizes[0]
        if arr.shape[0] != d:
            hint = ""
            if arr.ndim == 2 and arr.shape[1] == d:
                hint = "; it looks like a row or a batch of rows: examples are columns, pass x.T"
            raise ShapeError(
                f"x must be a vector of length {d} or a {d}×n batch whose columns are examples, "
                f"to match W1 ({dims(self._weights[0].shape)}); got shape {arr.shape}{hint}"
            )
        return arr

    def _target(self, y: object, x: np.ndarray) -> np.ndarray:
        arr = as_real_array(y, "y", ndim=(1, 2))
        expected = (self.sizes[-1],) + x.shape[1:]
        if arr.shape != expected and arr.ndim == 2 and arr.shape[1] == 1 and x.ndim == 1:
            arr = arr[:, 0]
        if arr.shape != expected:
            raise ShapeError(
                f"y must be shaped like ŷ = W{self.depth} z{self.depth - 1}, i.e. {expected} "
                f"(W{self.depth} has {self.sizes[-1]} rows), got shape {arr.shape}"
            )
        return arr

    # -------------------------------------------------------------- composition
    def compose(self, x: object, y: object | None = None) -> Graph:
        """The network as a composition of primitives, evaluated at ``x`` (and ``y``).

        Returns
        -------
        Graph
            Nodes ``x, W1…WL, h1, z1, …, yhat`` and, when ``y`` is given, ``y, f``. With
            biases also ``b1…bL`` and the products before the bias, ``W1x, W2z1, …``.
        """
        xv = self._input(x)
        z: Node = leaf("x", xv, "input")
        for k, W in enumerate(self._weights, 1):
            w = known_leaf(f"W{k}", W, "weight")  # checked and made read-only in __init__
            out = f"h{k}" if k < self.depth else "yhat"
            if self._biases is None:
                h = apply("matmul", w, z, name=out)
            else:
                b = leaf(f"b{k}", self._biases[k - 1], "weight")
                h = apply("bias_add", apply("matmul", w, z, name=self._product_name(k)), b,
                          name=out)
            if k < self.depth:
                z = apply(self.activation, h, name=f"z{k}", symbol=_PHI)
            else:
                z = h
        if y is None:
            return Graph(z)
        target = leaf("y", self._target(y, xv), "target")
        return Graph(apply(self.loss, z, target, name="f"))

    def predict(self, x: object) -> np.ndarray:
        """Run the forward pass on the input ``x`` and return the prediction ŷ (a copy)."""
        return self.compose(x).node("yhat").value.copy()

    def loss_value(self, x: object, y: object) -> float:
        """Run the forward pass on ``x``; return the loss f = L(y, ŷ) against the target ``y``."""
        return float(self.compose(x, y).node("f").value)

    # -------------------------------------------------------------- derivatives
    def gradients(self, x: object, y: object, method: Method = "explicit") -> dict[str, np.ndarray]:
        """∂f/∂W_k for every layer, each shaped like W_k (eq 12, 25); with biases also ∂f/∂b_k.

        Parameters
        ----------
        x : array_like, shape (d,), or (d, n) for a batch of n examples (columns)
        y : array_like, shaped like ŷ
        method : {"explicit", "backprop"}
            ``"explicit"`` multiplies the literal Jacobians tail to head — the loss row,
            each W, each diag(φ′(h)), and finally each weight's Kronecker factor
            (eq 18, 22, 28, 35) — and reshapes by unvec (eq 25). ``"backprop"`` uses the
            compact formulas (26), (32), (38) instead.

        Returns
        -------
        dict
            ``{"W1": ndarray like W1, …, "WL": …}``, then ``"b1", …, "bL"`` (shaped like
            the biases given) when the network has biases.
        """
        if method not in METHODS:
            raise ChoiceError("method", method, METHODS)
        if method == "backprop":
            xv = self._input(x)
            yv = self._target(y, xv)
            return backprop.mlp_gradients(self._weights, xv, yv, self.activation, self.loss,
                                          biases=self.biases)
        acc = self.compose(x, y).backward("f", self.parameter_names)
        # The accumulated rows are fresh products owned by nobody else: no copy needed.
        grads = {name: acc.jacobians[name].matrix_gradient(copy=False)
                 for name in self.parameter_names}
        for name, shape in zip(self.bias_names, self._bias_shapes):
            grads[name] = grads[name].reshape(shape)  # a (p, 1) bias gets a (p, 1) gradient
        return grads

    def _check_names(self, of: str, wrt: str, y: object | None) -> None:
        valid = self.node_names()
        for what, name in (("of", of), ("wrt", wrt)):
            if name not in valid:
                raise ChoiceError(f"{what} name", name, valid)
        if y is None and ("f" in (of, wrt) or "y" in (of, wrt)):
            raise JacobianCalcError(
                f"of={of!r}, wrt={wrt!r} involves the loss, which needs the target: "
                f"call jacobian(x, y, of={of!r}, wrt={wrt!r})"
            )

    def jacobian(self, x: object, y: object | None = None, *, of: str = "yhat",
                 wrt: str = "x") -> Jacobian:
        """The literal Jacobian ∂(of)/∂(wrt), a (size(of), size(wrt)) matrix.

        Parameters
        ----------
        x : array_like, shape (d,) or (d, n)
        y : array_like, optional
            Needed when ``of`` or ``wrt`` is ``"f"`` (or ``"y"``).
        of : str
            ``"yhat"``, ``"f"``, ``"h1"``, ``"z1"``, …
        wrt : str
            ``"x"``, ``"W1"``, …, ``"b1"``, … (with biases), or any h/z computed before
            ``of``. A weight is flattened by vec (eq 16). A quantity that ``of`` does not depend on gives a zero matrix.

        Returns
        -------
        Jacobian
            For ``of="f"`` the row gradient (1, size(wrt)) — the vec of ∂f/∂wrt as a row.
        """
        self._check_names(of, wrt, y)
        return self.compose(x, y).jacobian(of, wrt)

    def derivation(self, x: object, y: object, wrt: str | Sequence[str] = "W1", *,
                   max_values: int | None = None, order: int = 1
                   ) -> Derivation | SecondDerivation:
        """The step-by-step record of ∂f/∂(wrt), with the lecture's equation numbers.

        ``print(net.derivation(x, y, wrt="W2"))`` shows every factor with its label and
        shape, the chain's dimension check and, for a weight, the matrix form with the
        check of eq (33), e.g. ``(3×3)·(3×2)·(2×1)·(1×5) → 3×5`` for the lecture's sizes.

        With ``order=2`` it is the second-order derivation of a Hessian block instead:
        ``wrt`` is a parameter (the block H_WW) or a pair (``("W1", "W2")``), and each
        term T_iᵀ S T_j of the block (:meth:`hessian_terms`) is shown with its factors,
        their shapes and storage, the Kronecker factors with their dimension check, and
        why a term vanishes (ReLU: φ″ = 0 almost everywhere).

        Parameters
        ----------
        x, y : array_like
        wrt : str, or a pair of str with ``order=2``
        max_values : int, optional
            Print a step's value when it has at most this many entries (default 60).
        order : {1, 2}
        """
        if order == 2:
            return self._second_derivation(x, y, wrt, max_values, self._context())
        if order != 1:
            raise ChoiceError("derivative order", order, ("1", "2"))
        if not isinstance(wrt, str):
            raise JacobianCalcError(f"a first-order derivation is with respect to one name, "
                                    f"got {wrt!r}; a pair of names is a Hessian block "
                                    f"(order=2)")
        self._check_names("f", wrt, y)
        graph = self.compose(x, y)
        equations, reuse, notes = self._lecture_notes(wrt)
        return derive(graph, "f", wrt, equations=equations, reuse=reuse,
                      context=self._context(), notes=notes, max_values=max_values)

    def _lecture_notes(self, wrt: str) -> tuple[dict[str, str], str | None, list[str]]:
        """Which lecture equations a weight's derivation reproduces (by its position)."""
        if wrt not in self.weight_names:
            return {"chain": "(4)"}, None, []
        k, L = int(wrt[1:]), self.depth
        z = "x" if k == 1 else f"z{k - 1}"
        if k == L:
            return ({"title": "(26)", "chain": "(18)", "matrix": "(17), (26)"}, None,
                    [f"compact form, eq (26): ∂f/∂W{k} = (∂f/∂ŷ) {z}ᵀ"])
        above = "ŷ" if k + 1 == L else f"h{k + 1}"
        compact = f"∂f/∂W{k} = [φ′(h{k}) ⊙ (W{k + 1}ᵀ ∂f/∂{above})] {z}ᵀ"
        if k == L - 1:
            return ({"title": "(27)–(33)", "chain": "(18), (28)", "matrix": "(30)–(31)",
                     "check": "(33)"}, None, [f"compact form, eq (32): {compact}"])
        return (
            {"title": "(34)–(38)", "chain": "(18), (35)–(36)", "matrix": "(37)",
             "check": "(33)"},
            f"h{k + 1}",
            [f"(∂f/∂h{k + 1})ᵀ is the product the derivation of W{k + 1} already formed; "
             f"computing it once and reusing it, tail to head, is back-propagation (§3.4)",
             f"compact form, eq (38): {compact}"],
        )

    def _context(self) -> list[str]:
        """The activation and the loss, as the derivation's setting lists them.

        A network of one layer applies no activation, so it gets no φ line.
        """
        phi, loss = ACTIVATIONS[self.activation], LOSSES[self.loss]
        symbol = phi.params[0].default
        own = {"fn": symbol, "0": "h"}
        definition = phi.pointwise.definition.text(**own)
        derivative = phi.pointwise.derivative_definition.text(**own)
        args = {"0": "yhat", "1": "y"}
        lines = [f"φ = {phi.name}: {definition}, {derivative}"] if self.depth > 1 else []
        return lines + [f"loss = {loss.name}: f = {loss.notation.text(**args)}, "
                        f"(∂f/∂ŷ)ᵀ = {loss.partials[0].label.text(**args)}"]
