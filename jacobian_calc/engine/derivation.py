"""The step-by-step record of a chain-rule computation, as the lecture writes it.

:func:`derive` runs the tail-to-head accumulation of :class:`~jacobian_calc.engine.graph.Graph`
with recording on and keeps, for every step, which quantity it produces, the literal
factor it multiplies by (its label such as ``W3`` or ``diag(φ′(h2))``, its shape, the
lecture equation it reproduces), the dimension check in the form of eq (33), and the
numbers. When the variable is the weight of a product ``W b`` with a vector ``b``, the
record also gives the matrix form of Lemma 2.6 (eq 17, 25): the chain transposed and
closed by ``bᵀ``, with its own eq (33) dimension check. With ``formula=True`` the record
also carries the closed form (:mod:`jacobian_calc.engine.formulas`): the rewriting steps
from the literal chain to the compact formula, which every renderer prints last.

Each factor is built once for the whole record. The number of paths can grow
exponentially with depth, so they are counted, and listed (with their dimension checks
and evaluation-order reports) only up to a bound; the record says how many there are.

A :class:`Derivation` is data. Printing it (``str(d)``, ``d.to_markdown()``,
``d.to_latex()``, ``d.to_dict()``) is the render layer's work (:mod:`jacobian_calc.render`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core import display
from ..core.errors import WorkLimitError
from ..core.jacobian import Jacobian
from ..core.limits import check_work
from ..core.notation import chain_dims, derivative_symbol, dims, flat_name
from .cost import MAX_SEARCHED_FACTORS, CostReport, MatrixInfo, cost_report, reverse_cost
from .formulas import Formula, derive_formula
from .graph import ROLES, Graph, Node, Step

__all__ = ["Derivation", "DerivationStep", "FactorInfo", "MatrixForm", "derive",
           "MAX_LISTED_PATHS", "MAX_PATH_VALUES", "MAX_COST_REPORTS"]

#: Paths listed with their factors and dimension checks; beyond that they are counted.
MAX_LISTED_PATHS = 32
#: Each path's own product is shown when there are between 2 and this many paths.
MAX_PATH_VALUES = 16
#: Paths that get an evaluation-order report (the report searches orders: work too).
MAX_COST_REPORTS = 4


@dataclass(frozen=True)
class FactorInfo:
    """One literal factor of a chain: what it is, how it is written, and its size.

    ``gradient_symbol`` and ``gradient_latex`` are set for the row gradient of a scalar
    (∂f/∂ŷ, whose row is written (∂f/∂ŷ)ᵀ): the column it stands for in a transposed chain.
    """

    symbol: str
    label: str
    latex_symbol: str
    latex: str
    shape: tuple[int, int]
    equation: str | None
    sparse: bool
    nnz: int
    symmetric: bool = False
    gradient_symbol: str | None = None
    gradient_latex: str | None = None

    @classmethod
    def of(cls, J: Jacobian) -> FactorInfo:
        scalar = J.of_shape == ()
        return cls(row_symbol(J), J.label or J.symbol, row_symbol(J, latex=True),
                   J.latex or J.latex_symbol, J.shape, J.equation, J.issparse, J.nnz,
                   J.symmetric, J.symbol if scalar else None,
                   J.latex_symbol if scalar else None)


@dataclass(frozen=True)
class DerivationStep:
    """``target = Σ previous · factor`` for one node, with its dimension checks and value."""

    target: str
    target_latex: str
    terms: tuple[tuple[str | None, str | None, FactorInfo], ...]  # (previous, previous_latex, factor)
    checks: tuple[str, ...]
    result: Jacobian


@dataclass(frozen=True)
class MatrixForm:
    """Lemma 2.6 in matrix form: ``∂f/∂W = (transposed chain) · bᵀ`` (eq 30–31, 37)."""

    factors: tuple[str, ...]
    latex_factors: tuple[str, ...]
    check: str
    equation: str | None


@dataclass(repr=False)
class Derivation(display.Printable):
    """The record of ∂(of)/∂(wrt).

    Attributes
    ----------
    of, wrt : str
        How the two are written (a name, or an expression's text).
    of_latex, wrt_latex : str
    title : str
    setting : list of str
        The known quantities, the forward pass and the sizes.
    steps : list of DerivationStep
        Tail to head, as computed.
    paths : list of list of FactorInfo
        The factors of each listed path from ``wrt`` to ``of``, head first.
    path_count : int
        How many paths there are (only the first :data:`MAX_LISTED_PATHS` are listed).
    path_checks : list of str
        One eq (33)-style dimension check per listed path.
    matrix_form : MatrixForm or None
        Present when Lemma 2.6 applies (a weight times a vector, a single path).
    result : Jacobian
        ∂(of)/∂(wrt).
    gradient : ndarray or None
        For a scalar ``of``: the gradient shaped like ``wrt`` (eq 12, 25).
    equations : dict of str to str
        Lecture equations cited for the parts (``"(27)–(33)"``): keys ``"title"``,
        ``"chain"``, ``"matrix"``, ``"check"``.
    notes : list of str
    setting_latex : list of str
        The known quantities and the forward pass in LaTeX.
    path_values : list of Jacobian
        Each path's own product, when there are a few paths.
    costs : list of CostReport
        Multiply-adds of reverse and forward accumulation and the cheapest order, for the
        first :data:`MAX_COST_REPORTS` paths (:mod:`jacobian_calc.engine.cost`).
    formula : Formula or None
        The closed form and the rewrites that reach it (``derive(..., formula=True)``),
        certified against the literal result; printed last.
    """

    of: str
    wrt: str
    title: str
    setting: list[str]
    steps: list[DerivationStep]
    paths: list[list[FactorInfo]]
    path_checks: list[str]
    matrix_form: MatrixForm | None
    result: Jacobian
    gradient: np.ndarray | None
    equations: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    setting_latex: list[str] = field(default_factory=list)
    path_values: list[Jacobian] = field(default_factory=list)
    costs: list[CostReport] = field(default_factory=list)
    path_count: int = 0
    of_latex: str = ""
    wrt_latex: str = ""
    max_values: int | None = None
    formula: Formula | None = None

    def __repr__(self) -> str:
        return f"<Derivation {self.title}: {len(self.steps)} steps>"


def row_symbol(J: Jacobian, latex: bool = False) -> str:
    """A scalar's gradient is a row; written (∂f/∂h2)ᵀ as in eq (18), (28)."""
    if latex:
        return rf"\left({J.latex_symbol}\right)^\top" if J.of_shape == () else J.latex_symbol
    return f"({J.symbol})ᵀ" if J.of_shape == () else J.symbol


def _transposed_label(f: FactorInfo) -> tuple[str, str]:
    """How a factor appears in the transposed (ML, column) form of the chain."""
    if f.gradient_symbol is not None:  # the loss row (∂f/∂ŷ)ᵀ becomes the column ∂f/∂ŷ
        return f.gradient_symbol, f.gradient_latex or f.gradient_symbol
    if f.symmetric:  # its own transpose
        return f.label, f.latex
    if f.label.isidentifier():
        return f"{f.label}ᵀ", rf"{f.latex}^\top"
    return f"({f.label})ᵀ", rf"\left({f.latex}\right)^\top"


def derive(
    graph: Graph,
    of: str | Node,
    wrt: str | Node,
    *,
    equations: Mapping[str, str] | None = None,
    reuse: str | None = None,
    context: Sequence[str] = (),
    notes: Sequence[str] = (),
    max_values: int | None = None,
    formula: bool = False,
) -> Derivation:
    """Record the computation of ∂(of)/∂(wrt) step by step.

    Parameters
    ----------
    graph : Graph
    of, wrt : str or Node
    equations : mapping, optional
        Lecture equation numbers to cite (see :attr:`Derivation.equations`).
    reuse : str, optional
        A node whose gradient an earlier derivation already produced; the matrix form then
        starts from it, as eq (37) starts from ∂f/∂h2.
    context : sequence of str
        Extra lines for the setting (e.g. which activation φ is).
    notes : sequence of str
        Extra lines printed at the end.
    max_values : int, optional
        The most values a printed step shows (``None``: the renderers' default).
    formula : bool
        Also rewrite the chain into its closed form (:func:`~jacobian_calc.engine.formulas.derive_formula`),
        certified; a formula too large to write is left out with a note.

    Raises
    ------
    WorkLimitError
        The recorded sweep, the listed paths and their order searches together would
        exceed the work bound; nothing is built.
    CertificateError
        With ``formula=True``: the rewritten formula disagrees with the literal result (a
        bug report; see :mod:`jacobian_calc.engine.formulas`).
    """
    head, var = graph.node(of), graph.node(wrt)
    count = graph.count_paths(head, var)
    edge_paths = [p for p in graph.edge_paths(head, var, limit=MAX_LISTED_PATHS) if p]
    _check_listing(graph, head, var, edge_paths, count)
    acc = graph.backward(head, [var], record=True)
    result = acc.jacobians[var.label]
    steps = [_step(s) for s in acc.steps]
    paths = [[FactorInfo.of(graph.factor(n, i)) for n, i in p][::-1] for p in edge_paths]
    path_values = ([_path_value(graph, p) for p in edge_paths]
                   if 1 < count <= MAX_PATH_VALUES else [])
    checks = [chain_dims([f.shape for f in p]) for p in paths]
    gradient = result.matrix_gradient() if head.shape == () else None
    eqs = dict(equations or {})
    matrix_form = _matrix_form(graph, head, var, reuse, eqs) if count == 1 else None
    setting = _setting(graph, head, var) + list(context)
    notes = list(notes)
    if head is var:
        notes.append(f"∂{head.form.text}/∂{var.form.text} is the identity I_{head.size}: the "
                     f"variable differentiated by itself")
    if count > len(paths) and paths:
        notes.append(f"{count:,} paths lead from {var.form.text} to {head.form.text}; the first "
                     f"{len(paths)} are listed, the steps above sum all of them")
    costs = [_cost(p) for p in paths[:MAX_COST_REPORTS]]
    title = f"∂{_bracket(head)}/∂{_bracket(var)}"
    closed = None
    if formula:
        try:
            closed = derive_formula(graph, head, var)
        except WorkLimitError as exc:
            notes.append(f"no compact form: {exc}")
    return Derivation(head.label, var.label, title, setting, steps, paths, checks, matrix_form,
                      result, gradient, eqs, notes, _setting_latex(graph, head), path_values,
                      costs, count, head.form.latex, var.form.latex, max_values, closed)


def _bracket(node: Node) -> str:
    text = node.form.text
    return text if node.precedence >= 5 else f"({text})"


def _check_listing(graph: Graph, head: Node, var: Node, edge_paths: list, count: int) -> None:
    """The work of listing paths beyond the sweep: their products and order searches."""
    entries = operations = 0
    for k, p in enumerate(edge_paths):
        infos = [graph.factor_info(n, i) for n, i in reversed(p)]
        operations += len(infos)
        if k < MAX_COST_REPORTS:
            n = min(len(infos), MAX_SEARCHED_FACTORS)
            operations += n ** 3 // 6 + len(infos) ** 2
        if 1 < count <= MAX_PATH_VALUES and len(infos) > 1:
            operations += reverse_cost(infos)
            entries += infos[0].rows * infos[-1].cols
    check_work(entries, operations, f"listing the paths of ∂{head.form.text}/∂{var.form.text}")


def _cost(path: list[FactorInfo]) -> CostReport:
    """What the chain of one path costs in each order (the factors, head first)."""
    infos = [MatrixInfo(f.shape[0], f.shape[1], f.nnz, f.sparse) for f in path]
    return cost_report(infos, [f.label for f in path])


def _step(step: Step) -> DerivationStep:
    terms = []
    checks = []
    for term in step.terms:
        info = FactorInfo.of(term.factor)
        if term.previous is None:
            terms.append((None, None, info))
            checks.append(dims(info.shape))
        else:
            terms.append((row_symbol(term.previous), row_symbol(term.previous, latex=True), info))
            checks.append(chain_dims([term.previous.shape, info.shape]))
    return DerivationStep(row_symbol(step.result), row_symbol(step.result, latex=True),
                          tuple(terms), tuple(checks), step.result)


def _path_value(graph: Graph, edges: list[tuple[Node, int]]) -> Jacobian:
    """The product of one path's literal factors: that path's share of ∂(of)/∂(wrt)."""
    factors = [graph.factor(n, i) for n, i in edges][::-1]
    out = factors[0]
    for f in factors[1:]:
        out = out @ f
    return out


def _matrix_form(graph: Graph, head: Node, var: Node, reuse: str | None,
                 eqs: Mapping[str, str]) -> MatrixForm | None:
    """Lemma 2.6: ∂f/∂W = (∂f/∂h) bᵀ with ∂f/∂h written as the transposed chain."""
    if head.shape != () or var.value.ndim != 2:
        return None
    consumers = graph.consumers(var)
    if len(consumers) != 1:
        return None
    product, position = consumers[0]
    if product.op is None or product.op.name != "matmul" or position != 0:
        return None
    b = product.args[1]
    if b.value.ndim != 1:
        return None
    path = [n for n, _ in graph.edge_paths(head, product, limit=1)[0]]  # above the product
    chain_nodes = [product] + path
    if reuse is not None:
        names = [n.name for n in chain_nodes]
        if reuse in names:
            chain_nodes = chain_nodes[: names.index(reuse) + 1]
    factors: list[tuple[str, str, tuple[int, int]]] = []
    for lower, upper in zip(chain_nodes, chain_nodes[1:]):
        position_ = next(i for i, a in enumerate(upper.args) if a is lower)
        info = FactorInfo.of(graph.factor(upper, position_))
        text, tex = _transposed_label(info)
        factors.append((text, tex, (info.shape[1], info.shape[0])))
    top = chain_nodes[-1]
    if top is not head:
        sym = f"∂{head.form.text}/∂{flat_name(top.form.text, top.shape, formed=True)}"
        tex = derivative_symbol(head.form.latex, top.form.latex, head.shape, top.shape,
                                latex=True, formed=True)
        factors.append((sym, tex, (top.size, 1)))
    closing = (f"{b.form.text}ᵀ", rf"{b.form.latex}^\top", (1, b.size))
    ordered = factors + [closing]
    return MatrixForm(tuple(f[0] for f in ordered), tuple(f[1] for f in ordered),
                      chain_dims([f[2] for f in ordered]), eqs.get("check"))


def _size(node: Node) -> str:
    return dims(node.shape) if node.shape else "scalar"


def _known(graph: Graph) -> list[Node]:
    return sorted((n for n in graph.nodes if n.is_leaf),
                  key=lambda n: (ROLES.index(n.role), n.form.text))


#: The setting lists at most this many known and computed quantities each.
MAX_SETTING = 24


def _listed(nodes: list[Node], write: Callable[[Node], str], sep: str = ", ",
            more: str = ", … and {} more") -> str:
    """The first MAX_SETTING nodes written out (only those are written), then how many more."""
    shown = sep.join(write(n) for n in nodes[:MAX_SETTING])
    extra = len(nodes) - MAX_SETTING
    return shown + (more.format(f"{extra:,}") if extra > 0 else "")


def _setting(graph: Graph, head: Node, var: Node) -> list[str]:
    computed = [n for n in graph.nodes if not n.is_leaf]
    lines = ["known: " + _listed(_known(graph), lambda n: f"{n.form.text} ({_size(n)})"),
             "forward: " + _listed(computed, lambda n: f"{n.formula()} ({_size(n)})")]
    if head.shape == ():
        lines.append(f"gradients of {head.form.text} are rows (eq 1), chained left to right "
                     f"(eq 4, 18); {flat_name(var.form.text, var.shape, formed=True)} flattens "
                     f"by columns (eq 16)")
    return lines


def _size_latex(node: Node) -> str:
    if not node.shape:
        return r"\mathbb{R}"
    times = r" \times "
    return rf"\mathbb{{R}}^{{{times.join(str(n) for n in node.shape)}}}"


def _setting_latex(graph: Graph, head: Node) -> list[str]:
    """The known quantities and the forward pass in LaTeX, as in §3.1."""
    computed = [n for n in graph.nodes if not n.is_leaf]

    def formula(n: Node) -> str:
        if n.name is None:
            return n.form.latex
        return f"{n.form.latex} = {n.expression().latex}"

    more = r",\ \dots\ \text{{and {} more}}"
    return [
        r"\text{known: } " + _listed(_known(graph),
                                     lambda n: f"{n.form.latex} \\in {_size_latex(n)}",
                                     r",\ ", more),
        r"\text{forward: } " + _listed(computed, lambda n: f"{formula(n)} \\in {_size_latex(n)}",
                                       r",\ ", more),
    ]
