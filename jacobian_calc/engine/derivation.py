"""The step-by-step record of a chain-rule computation, written the way the lecture writes it.

:func:`derive` runs the tail-to-head accumulation of :mod:`jacobian_calc.graph` with
recording on and keeps, for every step, which quantity it produces, the literal factor it
multiplies by (its label such as ``W3`` or ``diag(φ′(h2))``, its shape and the lecture
equation it reproduces), the dimension check in the form of eq (33), and the numbers.
When the variable is the weight of a product ``W b`` with a vector ``b``, the record also
gives the matrix form of Lemma 2.6 (eq 17, 25): the chain transposed and closed by
``bᵀ``, with its own eq (33) dimension check.

A :class:`Derivation` prints as plain text (``str(d)``); :mod:`jacobian_calc.render` writes
it as Markdown (``d.to_markdown()``, shown by Jupyter), LaTeX (``d.to_latex()``) and
JSON-ready data (``d.to_dict()``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .cost import CostReport, MatrixInfo, cost_report
from .graph import ROLES, Graph, Node, Step
from ..core.jacobian import Jacobian
from ..core.notation import chain_dims, derivative_symbol, dims, flat_name, latex_name, pretty

__all__ = ["Derivation", "DerivationStep", "FactorInfo", "MatrixForm", "derive"]


@dataclass(frozen=True)
class FactorInfo:
    """One literal factor of a chain: what it is, how it is written, and its size."""

    symbol: str
    label: str
    latex_symbol: str
    latex: str
    shape: tuple[int, int]
    equation: str | None
    sparse: bool
    nnz: int

    @classmethod
    def of(cls, J: Jacobian) -> FactorInfo:
        return cls(_row_symbol(J), J.label or J.symbol, _row_symbol(J, latex=True),
                   J.latex or J.latex_symbol, J.shape, J.equation, J.issparse, J.nnz)


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


@dataclass
class Derivation:
    """The record of ∂(of)/∂(wrt), printable as text.

    Attributes
    ----------
    of, wrt : str
    title : str
    setting : list of str
        The forward pass, one formula per computed node, and the sizes.
    steps : list of DerivationStep
        Tail to head, as computed.
    paths : list of list of FactorInfo
        The factors of every path from ``wrt`` to ``of``, head first.
    path_checks : list of str
        One eq (33)-style dimension check per path.
    matrix_form : MatrixForm or None
        Present when Lemma 2.6 applies (a weight times a vector, a single path).
    result : Jacobian
        ∂(of)/∂(wrt).
    gradient : ndarray or None
        For a scalar ``of``: the gradient shaped like ``wrt`` (eq 12, 25).
    equations : dict of str to str
        Lecture equations cited for the parts, written as they are printed
        (``"(27)–(33)"``): keys ``"title"``, ``"chain"``, ``"matrix"``, ``"check"``.
    notes : list of str
    setting_latex : list of str
        The known quantities and the forward pass in LaTeX (for the LaTeX renderer).
    costs : list of CostReport
        One per path: multiply-adds of tail-to-head (reverse) and head-to-tail (forward)
        accumulation and the cheapest order (:mod:`jacobian_calc.cost`).
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

    def to_text(self) -> str:
        """The derivation as plain text, one block per step."""
        return _render_text(self)

    def to_markdown(self) -> str:
        """Markdown: heading, setting, table of steps, chains, dimension checks, value."""
        from ..render.latex import derivation_markdown
        return derivation_markdown(self)

    def to_latex(self) -> str:
        r"""LaTeX: one amsmath ``aligned`` block, without ``$$`` (see :mod:`jacobian_calc.render`)."""
        from ..render.latex import derivation_latex
        return derivation_latex(self)

    def to_dict(self) -> dict:
        """JSON-serialisable data: every step, factor, check and value."""
        from ..render.latex import derivation_to_dict
        return derivation_to_dict(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Derivation {self.title}: {len(self.steps)} steps>"


_IDENTITY = re.compile(r"I[₀-₉]+")

#: Derivations show each path's product when there are at most this many paths.
MAX_PATH_VALUES = 16


def _row_symbol(J: Jacobian, latex: bool = False) -> str:
    """A scalar's gradient is a row; written (∂f/∂h2)ᵀ as in eq (18), (28)."""
    if latex:
        return rf"\left({J.latex_symbol}\right)^\top" if J.of_shape == () else J.latex_symbol
    return f"({J.symbol})ᵀ" if J.of_shape == () else J.symbol


def _transposed_label(J: Jacobian) -> tuple[str, str]:
    """How a factor appears in the transposed (ML, column) form of the chain."""
    label, latex = J.label or J.symbol, J.latex or J.latex_symbol
    if J.of_shape == ():  # the loss row (∂f/∂ŷ)ᵀ becomes the column ∂f/∂ŷ
        return J.symbol, J.latex_symbol
    if label.startswith("diag(") or _IDENTITY.fullmatch(label):  # symmetric: its own transpose
        return label, latex
    if label.isidentifier():
        return f"{label}ᵀ", rf"{latex}^\top"
    return f"({label})ᵀ", rf"\left({latex}\right)^\top"


def derive(
    graph: Graph,
    of: str | Node,
    wrt: str | Node,
    *,
    equations: Mapping[str, str] | None = None,
    reuse: str | None = None,
    context: Sequence[str] = (),
    notes: Sequence[str] = (),
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
    """
    head, var = graph.node(of), graph.node(wrt)
    acc = graph.backward(head, [var], record=True)
    result = acc.jacobians[var.name]
    steps = [_step(s) for s in acc.steps]
    # The variable itself is reached along one path with no factors; its Jacobian is the
    # identity the accumulation starts from, so there is no product to show.
    edge_paths = [p for p in graph.edge_paths(head, var) if p]
    paths = [_edge_path_factors(graph, p) for p in edge_paths]
    # Each path's own product is shown when there are a few; their number can grow
    # exponentially with depth (residual stacks), so beyond that only the sum is kept.
    path_values = ([_path_value(graph, p) for p in edge_paths]
                   if 1 < len(edge_paths) <= MAX_PATH_VALUES else [])
    checks = [chain_dims([f.shape for f in p]) for p in paths]
    gradient = None
    if head.shape == ():
        gradient = result.matrix_gradient()
    eqs = dict(equations or {})
    matrix_form = _matrix_form(graph, head, var, reuse, eqs) if len(paths) == 1 else None
    setting = _setting(graph, head, var) + list(context)
    if head is var:
        notes = [*notes, f"∂{pretty(head.name)}/∂{pretty(var.name)} is the identity "
                         f"I_{head.size}: the variable differentiated by itself"]
    title = f"{'∂' + pretty(head.name)}/∂{pretty(var.name)}"
    costs = [_cost(p) for p in paths if p]
    return Derivation(head.name, var.name, title, setting, steps, paths, checks, matrix_form,
                      result, gradient, eqs, list(notes), _setting_latex(graph, head),
                      path_values, costs)


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
            terms.append((_row_symbol(term.previous), _row_symbol(term.previous, latex=True), info))
            checks.append(chain_dims([term.previous.shape, info.shape]))
    return DerivationStep(_row_symbol(step.result), _row_symbol(step.result, latex=True),
                          tuple(terms), tuple(checks), step.result)


def _edge_path_factors(graph: Graph, edges: list[tuple[str, int]]) -> list[FactorInfo]:
    """Factors along one path given as edges (tail first), returned head first."""
    return [FactorInfo.of(graph.factor(name, position)) for name, position in edges][::-1]


def _path_value(graph: Graph, edges: list[tuple[str, int]]) -> Jacobian:
    """The product of one path's literal factors: that path's share of ∂(of)/∂(wrt)."""
    factors = [graph.factor(name, position) for name, position in edges][::-1]
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
    if product.primitive is None or product.primitive.name != "matmul" or position != 0:
        return None
    b = product.args[1]
    if b.value.ndim != 1:
        return None
    path = graph.paths(head, product)[0]  # product … head
    if reuse is not None and reuse in path:
        path = path[: path.index(reuse) + 1]
    factors: list[tuple[str, str, tuple[int, int]]] = []
    for lower, upper in zip(path, path[1:]):
        node = graph.node(upper)
        position_ = next(i for i, a in enumerate(node.args) if a.name == lower)
        J = graph.factor(node, position_)
        text, tex = _transposed_label(J)
        factors.append((text, tex, (J.shape[1], J.shape[0])))
    if reuse is not None and reuse in path and reuse != head.name:
        top = graph.node(reuse)
        sym = f"∂{pretty(head.name)}/∂{flat_name(top.name, top.shape)}"
        tex = derivative_symbol(head.name, top.name, head.shape, top.shape, latex=True)
        factors.append((sym, tex, (top.size, 1)))
    closing = (f"{pretty(b.name)}ᵀ", rf"{latex_name(b.name)}^\top", (1, b.size))
    ordered = factors + [closing]
    return MatrixForm(tuple(f[0] for f in ordered), tuple(f[1] for f in ordered),
                      chain_dims([f[2] for f in ordered]), eqs.get("check"))


def _size(node: Node) -> str:
    return dims(node.shape) if node.shape else "scalar"


def _setting(graph: Graph, head: Node, var: Node) -> list[str]:
    known = sorted((n for n in graph.nodes.values() if n.is_leaf),
                   key=lambda n: (ROLES.index(n.role), n.name))
    computed = [n for n in graph.nodes.values() if not n.is_leaf]
    lines = ["known: " + ", ".join(f"{pretty(n.name)} ({_size(n)})" for n in known),
             "forward: " + ", ".join(f"{n.formula()} ({_size(n)})" for n in computed)]
    if head.shape == ():
        lines.append(f"gradients of {pretty(head.name)} are rows (eq 1), chained left to right "
                     f"(eq 4, 18); {flat_name(var.name, var.shape)} flattens by columns (eq 16)")
    return lines


def _size_latex(node: Node) -> str:
    if not node.shape:
        return r"\mathbb{R}"
    times = r" \times "
    return rf"\mathbb{{R}}^{{{times.join(str(n) for n in node.shape)}}}"


def _setting_latex(graph: Graph, head: Node) -> list[str]:
    """The known quantities and the forward pass in LaTeX, as in §3.1."""
    known = sorted((n for n in graph.nodes.values() if n.is_leaf),
                   key=lambda n: (ROLES.index(n.role), n.name))
    computed = [n for n in graph.nodes.values() if not n.is_leaf]
    return [
        r"\text{known: } " + r",\ ".join(f"{latex_name(n.name)} \\in {_size_latex(n)}"
                                          for n in known),
        r"\text{forward: } " + r",\ ".join(
            f"{latex_name(n.name)} = {n.primitive.latex(n)} \\in {_size_latex(n)}"
            for n in computed),
    ]


def _eq(eqs: Mapping[str, str], key: str) -> str:
    return f", eq {eqs[key]}" if key in eqs else ""


def _value_text(arr: np.ndarray, indent: str) -> str:
    if arr.size > 60:
        return f"{indent}= ({dims(arr.shape)} values; too many to print)"
    body = np.array2string(arr[0] if arr.ndim and arr.shape[0] == 1 else arr, precision=4,
                           suppress_small=True, max_line_width=100)
    return "\n".join(f"{indent}{'= ' if i == 0 else '  '}{line}"
                     for i, line in enumerate(body.splitlines()))


def _render_text(d: Derivation) -> str:
    eqs = d.equations
    out = [f"Derivation of {d.title}{_eq(eqs, 'title')}"]
    out += [f"  {line}" for line in d.setting]
    out.append("")
    for k, step in enumerate(d.steps, 1):
        for j, ((prev, _, f), check) in enumerate(zip(step.terms, step.checks)):
            lead = f"Step {k}  {step.target} = " if j == 0 else " " * (len(f"Step {k}  {step.target}") + 1) + "+ "
            product = f.label if prev is None else f"{prev} · {f.symbol}"
            where = "" if prev is None else f"    where {f.symbol} = {f.label}"
            eq = f", eq ({f.equation})" if f.equation else ""
            store = f", sparse, {f.nnz} stored" if f.sparse else ""
            out.append(f"{lead}{product}{where}{eq}{store}")
            out.append(f"        dimensions: {check}")
        out.append(_value_text(step.result.toarray(), "        "))
    out.append("")
    for i, (p, check) in enumerate(zip(d.paths, d.path_checks)):
        which = f", path {i + 1} of {len(d.paths)}" if len(d.paths) > 1 else ""
        out.append(f"Chain rule{_eq(eqs, 'chain')}{which}:")
        lhs = _row_symbol(d.result)
        out.append(f"  {lhs} = " + " · ".join(f.symbol for f in p))
        out.append(f"  {' ' * len(lhs)} = " + " · ".join(f.label for f in p))
        out.append(f"  dimension check: {check}")
        if i < len(d.path_values):
            out.append(_value_text(d.path_values[i].toarray(), "  "))
    if len(d.paths) > 1:
        out.append(f"  {d.result.symbol} is the sum of these {len(d.paths)} paths")
    if d.gradient is not None:
        out.append("")
        name = flat_name(d.wrt, d.gradient.shape)
        out.append(f"Reshape {name} back to the shape of {pretty(d.wrt)} (unvec, eq 23–25): "
                   f"∂{pretty(d.of)}/∂{pretty(d.wrt)} is {dims(d.gradient.shape) or 'a scalar'}")
    if d.matrix_form is not None:
        mf = d.matrix_form
        out.append(f"Lemma 2.6 in matrix form{_eq(eqs, 'matrix')}:")
        out.append(f"  ∂{pretty(d.of)}/∂{pretty(d.wrt)} = " + " · ".join(mf.factors))
        out.append(f"  dimension check{_eq(eqs, 'check')}: {mf.check}")
    if d.gradient is not None:
        out.append(_value_text(d.gradient, "  "))
    for k, report in enumerate(d.costs, 1):
        which = f" of path {k}" if len(d.costs) > 1 else ""
        out.append(f"Evaluation order{which}, multiply-adds (cost model of jacobian_calc.cost):")
        out += [f"  {line}" for line in report.lines()]
    out += [f"Note: {n}" for n in d.notes]
    return "\n".join(out)
