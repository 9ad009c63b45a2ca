r"""The record of a second-order derivation: each term of a Hessian block with its factors.

A block :math:`H_{XY}` is the sum over the nodes n of f of
:math:`T_{a_i,X}^\top S_n^{ij} T_{a_j,Y}` (:mod:`jacobian_calc.engine.second`). The
derivation lists every such term as the lecture lists the factors of a chain: each factor
with its symbol, shape and storage — a Kronecker product with the shapes of its two
factors and the dimension check ((q×q)⊗(s×s) → qs×qs) — the product's own dimension
check, and, for a term that vanishes or simplifies, the reason (ReLU: φ″ = 0 almost
everywhere; squared error: ∂²f/∂ŷ² = I). The value is printable like a first-order
:class:`~jacobian_calc.Derivation`: text, Markdown, LaTeX, HTML and JSON (the render
layer writes them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core.display import Printable
from ..core.hessian import Hessian
from ..core.notation import Form, dims, flat_name
from ..core.structure import Diagonal, Identity, Kron, KronSum, Structured, add
from .graph import Graph, Node
from .second import Term, TermNamer, hessian_terms

__all__ = ["Factor", "SecondStep", "SecondDerivation", "derive_second"]


@dataclass(frozen=True)
class Factor:
    """One matrix of a term, as a derivation shows it.

    Attributes
    ----------
    symbol : Form
        How it is written (text and LaTeX).
    shape : tuple of int
    storage : str
        ``"dense"``, ``"sparse"``, ``"identity"``, ``"diagonal"``, ``"kron"`` or
        ``"kronsum"``.
    kron : tuple of two shapes, or None
        For a Kronecker product A ⊗ B: the shapes of A and B.
    terms : int
        For a sum of Kronecker products: how many.
    """

    symbol: Form
    shape: tuple[int, int]
    storage: str
    kron: tuple[tuple[int, int], tuple[int, int]] | None = None
    terms: int = 0

    @property
    def kron_check(self) -> str | None:
        """``'(4×4)⊗(5×5) → 20×20'`` for a Kronecker product, else ``None``."""
        if self.kron is None:
            return None
        a, b = self.kron
        return f"({dims(a)})⊗({dims(b)}) → {dims(self.shape)}"

    @property
    def stored_as(self) -> str:
        """The storage in words: ``'kron (4×4)⊗(5×5)'``, ``'diagonal'``, ``'dense'``…"""
        if self.kron is not None:
            a, b = self.kron
            return f"kron ({dims(a)})⊗({dims(b)})"
        if self.storage == "kronsum":
            return f"sum of {self.terms} Kronecker products"
        return self.storage


def _kind(m: Any) -> str:
    if isinstance(m, Structured):
        return type(m).__name__.lower()
    return "sparse" if sp.issparse(m) else "dense"


def _shape_of(f: np.ndarray | int) -> tuple[int, int]:
    return (f, f) if isinstance(f, int) else (int(f.shape[0]), int(f.shape[1]))


def factor(matrix: Any, symbol: Form) -> Factor:
    """The :class:`Factor` of a matrix (any storage, or a Jacobian)."""
    m = getattr(matrix, "storage", matrix)
    shape = (int(m.shape[0]), int(m.shape[1]))
    if isinstance(m, Kron):
        return Factor(symbol, shape, "kron", (_shape_of(m.left), _shape_of(m.right)))
    if isinstance(m, KronSum):
        return Factor(symbol, shape, "kronsum", terms=len(m.terms))
    return Factor(symbol, shape, _kind(m))


def is_zero(m: Any) -> bool:
    """Whether every entry of a matrix (any storage) is zero, without writing it out."""
    if isinstance(m, Identity):
        return m.scale == 0.0
    if isinstance(m, Diagonal):
        return not np.any(m.values)
    if isinstance(m, Kron):
        return any(not isinstance(f, int) and not np.any(f) for f in (m.left, m.right))
    if isinstance(m, KronSum):
        return all(is_zero(t) for t in m.terms)
    if sp.issparse(m):
        return not np.any(m.data)
    return not np.any(m)


@dataclass(frozen=True)
class SecondStep:
    """One term :math:`T_i^\\top S\\, T_j` of the block.

    Attributes
    ----------
    name : str
        The term's name (``"gauss_newton"``, ``"activation_1"``, … for the network; the
        node's formula otherwise).
    node : Form
        The node whose second derivative it is, as a formula (``z1 = φ(h1)``).
    left, middle, right, value : Factor
        T_i, S, T_j and the product Tᵢᵀ S Tⱼ.
    vanishes : str or None
        Why the term is zero here, when it is.
    notes : tuple of str
        What the term is (the network's names explain it) and how it simplifies.
    matrix : matrix
        The term's value (any storage).
    positions : tuple of int
        (i, j): the node's arguments along X and along Y.
    arity : int
        How many arguments the node has.
    """

    name: str
    node: Form
    left: Factor
    middle: Factor
    right: Factor
    value: Factor
    vanishes: str | None
    notes: tuple[str, ...]
    matrix: Any = field(repr=False, compare=False)
    positions: tuple[int, int] = (0, 0)
    arity: int = 1

    @property
    def check(self) -> str:
        """The dimension check of Tᵢᵀ S Tⱼ, e.g. ``'(20×2)·(2×2)·(2×15) → 20×15'``."""
        a, s, b = self.left.shape, self.middle.shape, self.right.shape
        return f"({a[1]}×{a[0]})·({dims(s)})·({dims(b)}) → {dims(self.value.shape)}"


@dataclass(frozen=True)
class SecondDerivation(Printable):
    """The record of H_XY = ∂²f/∂vec(X)∂vec(Y), term by term (see the module notes).

    Attributes
    ----------
    title : Form
        ``∂²f/∂vec(W1)∂vec(W2)``.
    shape : tuple of int
        (size X, size Y).
    steps : tuple of SecondStep
        Tail to head.
    total : Factor
        The block, as stored.
    result : Hessian
        The block itself.
    context : tuple of str
        Lines on the setting (the activation, the loss, the network).
    notes : tuple of str
        Lines after the terms.
    max_values : int or None
        The most entries a printed term shows.
    """

    title: Form
    shape: tuple[int, int]
    steps: tuple[SecondStep, ...]
    total: Factor
    result: Hessian = field(repr=False, compare=False)
    context: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    max_values: int | None = None

    # A report is not one display formula: Jupyter shows the Markdown or HTML form instead.
    _repr_latex_ = None  # type: ignore[assignment]

    def _repr_html_(self) -> str:
        from ..core.display import show
        return str(show(self, "html"))

    @property
    def vanishing(self) -> tuple[str, ...]:
        """The names of the terms that are zero at this point."""
        return tuple(s.name for s in self.steps if s.vanishes is not None)


def _tex_words(name: str) -> str:
    """A term's name inside \\text{…}: TeX's special characters escaped."""
    for ch in "\\{}$&#^_%~":
        name = name.replace(ch, "\\" + ch if ch not in "\\^~" else " ")
    return name


def _flat(node: Node, latex: bool) -> str:
    """A node as a derivative writes it: vec(·) for a matrix, an expression in brackets."""
    return flat_name(node.form.latex if latex else node.form.text, node.shape, latex,
                     formed=True)


def _middle_symbol(term: Term, head: Node) -> Form:
    """How S_n^{ij} is written: the loss's Hessian, diag(ā ⊙ φ″), or the general form."""
    node, (i, j) = term.node, term.positions
    a, b = node.args[i], node.args[j]
    at, bt, al, bl = _flat(a, False), _flat(b, False), _flat(a, True), _flat(b, True)
    ft, fl = _flat(head, False), _flat(head, True)
    if node is head:
        if i == j:
            return Form(f"∂²{ft}/∂{at}²", rf"\frac{{\partial^2 {fl}}}{{\partial {al}^2}}")
        return Form(f"∂²{ft}/∂{at}∂{bt}",
                    rf"\frac{{\partial^2 {fl}}}{{\partial {al}\,\partial {bl}}}")
    nt, nl = _flat(node, False), _flat(node, True)
    op = node.op
    if op is not None and op.pointwise is not None:
        sym = node.params.get("symbol")
        phi = sym if isinstance(sym, Form) else Form(op.name, rf"\operatorname{{{op.name}}}")
        return Form(f"diag(∂{ft}/∂{nt} ⊙ {phi.text}″({a.form.text}))",
                    rf"\operatorname{{diag}}\!\left(\frac{{\partial {fl}}}{{\partial {nl}}}"
                    rf" \odot {phi.latex}''({a.form.latex})\right)")
    return Form(f"∂²((∂{ft}/∂{nt})·{nt})/∂{at}∂{bt}",
                rf"\frac{{\partial^2 \left(\frac{{\partial {fl}}}{{\partial {nl}}} \cdot {nl}"
                rf"\right)}}{{\partial {al}\,\partial {bl}}}")


def _reason(term: Term) -> str | None:
    """Why a zero term vanishes (or None when it does not)."""
    if not is_zero(term.value):
        return None
    op = term.node.op
    if op is not None and op.pointwise is not None:
        note = op.pointwise.second_note
        arg = term.node.args[0].form.text
        return note if note else f"φ″ = 0 at every entry of {arg} here"
    if is_zero(term.middle):
        return "its second derivative S is zero at this point"
    return "the product is zero at this point"


def _simplifies(term: Term) -> tuple[str, ...]:
    """How a term simplifies (an identity S; a Kronecker product by the mixed-product rule)."""
    out = []
    S = term.middle
    if isinstance(S, Identity) and S.scale == 1.0:
        what = f"{term.node.op.name}: " if term.node.op is not None else ""  # type: ignore[union-attr]
        out.append(f"{what}S = I, so the term is Tᵢᵀ Tⱼ")
    left, right = term.left.storage, term.right.storage
    if isinstance(term.value, Kron) and isinstance(left, Kron) and isinstance(right, Kron):
        out.append("Kronecker by the mixed-product rule: (aᵀ ⊗ B)ᵀ S (cᵀ ⊗ D) = (a cᵀ) ⊗ (Bᵀ S D)"
                   " for rows aᵀ, cᵀ")
    return tuple(out)


def derive_second(graph: Graph, of: str | Node, x: str | Node, y: str | Node | None = None, *,
                  names: TermNamer | None = None,
                  explain: Callable[[str], str | None] | None = None,
                  context: Sequence[str] = (), notes: Sequence[str] = (),
                  max_values: int | None = None) -> SecondDerivation:
    """Record H_XY term by term.

    Parameters
    ----------
    graph : Graph
    of, x, y : str or Node
        The scalar f and the variables (``y`` defaults to ``x``).
    names : callable, optional
        ``node -> name`` of each term.
    explain : callable, optional
        ``name -> line`` saying what a term is (the network's "the Gauss-Newton term …").
    context, notes : sequence of str
        Lines before and after the terms.
    max_values : int, optional
        The most entries a printed term shows.
    """
    head, X = graph.node(of), graph.node(x)
    Y = X if y is None else graph.node(y)
    terms = hessian_terms(graph, head, X, Y, names=names)
    steps = []
    total: Any = None
    for t in terms:
        i, j = t.positions
        left = factor(t.left, Form(t.left.symbol, t.left.latex_symbol))
        right = factor(t.right, Form(t.right.symbol, t.right.latex_symbol))
        middle = factor(t.middle, _middle_symbol(t, head))
        value = factor(t.value, Form(f"the {t.name} term", rf"\text{{the {_tex_words(t.name)} term}}"))
        lines = []
        if explain is not None:
            line = explain(t.name)
            if line:
                lines.append(line)
        lines += list(_simplifies(t))
        node_form = Form(t.node.formula(), t.node.form.latex)
        steps.append(SecondStep(t.name, node_form, left, middle, right, value, _reason(t),
                                tuple(lines), t.value, t.positions, len(t.node.args)))
        total = t.value if total is None else add(total, t.value)
    if total is None:
        total = sp.csr_array((X.size, Y.size))
    result = Hessian(total, f=head.label, x=X.label, y=Y.label, x_shape=X.shape,
                     y_shape=Y.shape, f_latex=head.form.latex, x_latex=X.form.latex,
                     y_latex=Y.form.latex)
    title = Form(result.symbol, result.latex_symbol)
    return SecondDerivation(title, (X.size, Y.size), tuple(steps),
                            factor(total, Form("H", "H")), result, tuple(context),
                            tuple(notes), max_values)
