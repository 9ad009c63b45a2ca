r"""From the literal chain to the formula: closed forms rewritten from the graph's factors.

:func:`derive_formula` takes a composition and writes ∂(of)/∂(wrt) as a matrix expression
(:mod:`jacobian_calc.core.symbolic`) in the user's variables, by the lecture's move from
eq (31) to (32), (36) to (38) and (24) to (25): each operation's literal factor, written as
a matrix expression by its entry (:class:`~jacobian_calc.ops.base.Rewrite`), is rewritten
with named identities, and every rewrite is a step of the record.

* For a scalar ``of`` the sweep runs tail to head, as back-propagation does: the
  matrix-shaped gradient G of each node (eq 12) meets the factor F of each argument, and
  the row :math:`\operatorname{vec}(G)^\top F` is rewritten into
  :math:`\operatorname{vec}(R)^\top` (:func:`~jacobian_calc.core.symbolic.pull`). Where a
  node feeds several others the paths are summed and collected:
  :math:`AX + A^\top X = (A + A^\top)X`.
* For a matrix ``of`` the sweep runs head to tail and keeps the Jacobian in Kronecker
  form: :math:`(B^\top \otimes I)(I \otimes A) = B^\top \otimes A` for AXB.

Intermediate results with a name (the lecture network's h2, z1, ŷ) stay names, defined
by the expression of their node; unnamed ones are written as their expression. A factor
no rule rewrites stays in the chain form and the formula says so.

Before a :class:`Formula` is returned it is **certified**: evaluated on fresh random
values of every variable of the composition (drawn as the operations' domain rules ask:
positive entries, well-conditioned square matrices) and compared with the literal
Jacobian of the same composition rebuilt on those values. A formula that disagrees raises
:class:`~jacobian_calc.CertificateError`, a bug report, never a silent answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import display
from ..core import symbolic as S
from ..core.errors import CertificateError, JacobianCalcError, ShapeError, WorkLimitError
from ..core.notation import Form, derivative_symbol, dims
from ..ops import domain
from ..ops.base import Operands, Operation, entry_call
from .graph import Graph, Node, apply, leaf

__all__ = ["Formula", "FormulaStep", "Certificate", "Instance", "derive_formula",
           "fresh_values", "MAX_NODES", "INSTANCES", "RTOL", "ATOL"]

#: A formula of more nodes than this is refused (its paths multiply out too far to read).
MAX_NODES = 4000
#: Fresh random instances a formula is certified on.
INSTANCES = 3
#: The certificate's tolerance: max|formula − literal| ≤ RTOL·scale + ATOL, scale the
#: larger of their largest entries. Both sides are exact formulas evaluated in floating
#: point, so they differ by rounding only.
RTOL = 1e-8
ATOL = 1e-10
#: Random draws tried for one instance before the given values are perturbed instead.
_DRAWS = 8


# ============================================================================ records
@dataclass(frozen=True)
class FormulaStep:
    """One rewrite of the derivation of a formula.

    Attributes
    ----------
    kind : {"rewrite", "collect", "chain"}
        ``"rewrite"``: a row gradient times one literal factor, rewritten by an identity
        (reverse sweep); ``"collect"``: the paths into one node summed and simplified;
        ``"chain"``: one node's Jacobian in Kronecker form (forward sweep).
    target : Form
        What the step computes (``∂f/∂(A X)``, ``∂vec(A X B)/∂vec(X)``).
    before : Form
        The literal form: ``vec(Ḡ)ᵀ(Bᵀ ⊗ I)``, a sum of paths, a product of factors.
    after : Form
        The same rewritten: ``vec(ḠBᵀ)ᵀ``.
    rules : tuple of str
        The identities that turn ``before`` into ``after``, in order, each once.
    source : Form or None
        What Ḡ stands for in a ``"rewrite"`` step (the gradient it starts from).
    value : Form
        The result of the step with everything substituted and simplified.
    simplified : tuple of str
        The identities of the simplifier used to reach ``value``.
    """

    kind: str
    target: Form
    before: Form
    after: Form
    rules: tuple[str, ...]
    source: Form | None
    value: Form
    simplified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Instance:
    """One instance of a certificate: how its values were drawn and how close the two were."""

    how: str
    error: float
    scale: float

    @property
    def relative(self) -> float:
        return self.error / self.scale if self.scale > 0 else self.error


@dataclass(frozen=True)
class Certificate:
    """The formula against the literal Jacobian on values it had not seen.

    Attributes
    ----------
    instances : tuple of Instance
    rtol, atol : float
        Each instance passes when max|formula − literal| ≤ rtol·scale + atol.
    """

    instances: tuple[Instance, ...]
    rtol: float = RTOL
    atol: float = ATOL

    @property
    def ok(self) -> bool:
        return bool(self.instances) and all(
            i.error <= self.rtol * i.scale + self.atol for i in self.instances)

    @property
    def worst(self) -> float:
        """The largest relative difference over the instances."""
        return max((i.relative for i in self.instances), default=float("nan"))

    def describe(self) -> str:
        """``'equal to the literal Jacobian on 3 fresh random instances (…)'``."""
        kinds: dict[str, int] = {}
        for i in self.instances:
            kinds[i.how] = kinds.get(i.how, 0) + 1
        drawn = ", ".join(f"{n} {how}{'s' if n > 1 else ''}" for how, n in kinds.items())
        return (f"equal to the literal Jacobian on {drawn} (largest relative difference "
                f"{self.worst:.1e}, tolerance {self.rtol:g})")


# ============================================================================ formula
@dataclass(repr=False, eq=False)
class Formula(display.Printable):
    r"""The closed form of a derivative, certified against the literal Jacobian.

    For a scalar F it is the gradient shaped like X (eq 12), e.g. :math:`A^\top B^\top` for
    tr(AXB); for a matrix F the Jacobian ∂vec(F)/∂vec(X) in Kronecker form, e.g.
    :math:`B^\top \otimes A` for AXB. ``str(f)`` is the expression in plain text, ``f.latex``
    in LaTeX; ``f.to_text()`` adds the symbol, the definitions and the certificate.

    Attributes
    ----------
    of, wrt : Form
        How F and X are written.
    symbol : Form
        ``∂tr(A X B)/∂X`` (a gradient) or ``∂vec(A X B)/∂vec(X)`` (a Jacobian).
    expression : MatExpr
    kind : {"gradient", "jacobian"}
    definitions : tuple of (Symbol, MatExpr)
        The named intermediate results the expression uses, each by the expression of its
        node (``h2 = W2 z1``), in the order they are computed.
    variables : tuple of str
        The names :meth:`evaluate` needs values for.
    inputs : dict of str to tuple
        Every variable of F's composition with its shape (values for the others are
        accepted and ignored by :meth:`evaluate`).
    of_shape, wrt_shape : tuple of int
    steps : tuple of FormulaStep
        The rewrites, in the order they were made.
    complete : bool
        False when some factor had no rule and is left in the chain form.
    notes : tuple of str
    certificate : Certificate or None
        ``None`` only when certification was skipped (the engine's ``certify=False``).
    """

    of: Form
    wrt: Form
    symbol: Form
    expression: S.MatExpr
    kind: str
    definitions: tuple[tuple[S.Symbol, S.MatExpr], ...]
    variables: tuple[str, ...]
    inputs: dict[str, tuple[int, ...]]
    of_shape: tuple[int, ...]
    wrt_shape: tuple[int, ...]
    steps: tuple[FormulaStep, ...] = ()
    complete: bool = True
    notes: tuple[str, ...] = ()
    certificate: Certificate | None = field(default=None)

    # ------------------------------------------------------------------ written forms
    @property
    def text(self) -> str:
        """The expression in plain text (ᵀ, ⁻¹, ⊗, ⊙)."""
        return self.expression.text

    @property
    def latex(self) -> str:
        """The expression in LaTeX."""
        return self.expression.latex

    @property
    def equation(self) -> Form:
        """``symbol = expression`` in both forms."""
        return Form(f"{self.symbol.text} = {self.text}", f"{self.symbol.latex} = {self.latex}")

    @property
    def certified(self) -> bool:
        """True when the certificate holds (always, for a formula that was returned)."""
        return self.certificate is not None and self.certificate.ok

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        state = "certified" if self.certified else "not certified"
        if not self.complete:
            state += ", partly in chain form"
        return f"<Formula {self.equation.text} ({state})>"

    def _repr_html_(self) -> str:
        return str(display.show(self, "html"))

    # ---------------------------------------------------------------------- values
    def evaluate(self, values: Mapping[str, object]) -> np.ndarray:
        """The formula's value at ``values`` (name → array), in the layout of the literal result.

        Parameters
        ----------
        values : mapping of str to array_like
            A value for each name of :attr:`variables`, shaped like that variable; values
            of the composition's other variables are accepted and ignored.

        Returns
        -------
        ndarray
            For a gradient, shaped like X (as :func:`jacobian_calc.grad` returns it); for
            a Jacobian, the (size(F), size(X)) matrix (as ``jc.jacobian(F, X).toarray()``).

        Raises
        ------
        JacobianCalcError
            A needed value is missing, or a name is not a variable of the composition.
        ShapeError
            A value does not have its variable's shape.
        """
        if not isinstance(values, Mapping):
            raise JacobianCalcError(f"evaluate takes a mapping of names to values, got "
                                    f"{type(values).__name__}")
        defined = {sym.name for sym, _ in self.definitions}
        for name in values:
            if name in defined:
                raise JacobianCalcError(
                    f"{name!r} is an intermediate result of the composition, computed from "
                    f"the variables; give values for {', '.join(self.variables) or 'nothing'}")
            if name not in self.inputs:
                raise JacobianCalcError(
                    f"{name!r} is not a variable of {self.of.text}; its variables are "
                    f"{', '.join(self.inputs) or '(none)'}")
        missing = [n for n in self.variables if n not in values]
        if missing:
            raise JacobianCalcError(f"evaluate needs values for {', '.join(missing)} (the "
                                    f"formula {self.text} uses "
                                    f"{', '.join(self.variables)})")
        env: dict[str, np.ndarray] = {}
        for name in self.variables:
            arr = np.asarray(values[name], dtype=np.float64)
            if arr.shape != self.inputs[name]:
                raise ShapeError(f"the value of {name} has shape {arr.shape}, but {name} is "
                                 f"{_size(self.inputs[name])}")
            env[name] = arr
        with np.errstate(all="ignore"):
            for sym, definition in self.definitions:
                env[sym.name] = S.evaluate(definition, env)
            out = S.evaluate(self.expression, env)
        if self.kind == "gradient":
            return out.reshape(self.wrt_shape)
        return out


def _size(shape: tuple[int, ...]) -> str:
    return "a scalar" if shape == () else f"{dims(shape)}"


# ============================================================== writing the nodes
#: Stands for the gradient a rewrite starts from, in the printed rewrite.
_PLACEHOLDER = "\x00G"


def _placeholder(shape: tuple[int, int]) -> S.Symbol:
    if shape == (1, 1):
        return S.Symbol(_PLACEHOLDER, shape, Form("ḡ", r"\bar{g}"))
    return S.Symbol(_PLACEHOLDER, shape, Form("Ḡ", r"\bar{G}"))


class _Writer:
    """Every node of the graph as a matrix expression: a name, or its expression."""

    def __init__(self) -> None:
        self._expr: dict[int, S.MatExpr] = {}
        self.defined: dict[int, tuple[S.Symbol, Node]] = {}

    def expr(self, node: Node) -> S.MatExpr:
        found = self._expr.get(id(node))
        if found is not None:
            return found
        shape = S.matrix_shape(node.shape)
        if node.op is None or node.name is not None:
            e: S.MatExpr = S.Symbol(str(node.name), shape, node.form)
            if node.op is not None:
                self.defined[id(node)] = (e, node)  # type: ignore[assignment]
        else:
            e = self.written(node)
        self._expr[id(node)] = e
        return e

    def operands(self, node: Node, out: S.MatExpr | None = None) -> Operands:
        return Operands(tuple(self.expr(a) for a in node.args),
                        out if out is not None else self.expr(node), dict(node.params),
                        tuple(a.shape for a in node.args), node.shape)

    def written(self, node: Node) -> S.MatExpr:
        """The node's own expression in its arguments (a named node's definition)."""
        op: Operation = node.op  # type: ignore[assignment]
        # While the result itself is being written it has no expression yet: rules that
        # write a result never read ``out``.
        o = self.operands(node, out=S.Zero(*S.matrix_shape(node.shape)))
        if op.symbolic is not None:
            e = op.symbolic(o)
        else:
            fields = {k: v for k, v in op.notation_fields(node).items() if not k.isdigit()}
            e = entry_call(op, o.args, o.shapes, node.shape, node.params, fields)
        if e.shape != S.matrix_shape(node.shape):
            raise JacobianCalcError(f"the operation {op.name!r} writes {node.form.text} as "
                                    f"{e.text}, of shape {e.shape}, but the node is "
                                    f"{_size(node.shape)}")
        return e


def _opaque(node: Node, position: int, o: Operands) -> S.Factor:
    """The literal factor of a partial with no rule: written by its label, built when evaluated."""
    op: Operation = node.op  # type: ignore[assignment]
    partial = op.partials[position]
    shapes = o.shapes
    params = dict(node.params)

    def build(*values: np.ndarray) -> Any:
        args = [leaf(f"a{i}", v.reshape(s)) for i, (v, s) in enumerate(zip(values, shapes))]
        return partial.build(apply(op, *args, **params))

    label = op.label(node, position)
    return S.Factor(label, o.args, build, (node.size, node.args[position].size),
                    key=(op.name, position, tuple(sorted((k, repr(v))
                                                         for k, v in params.items()))))


def _factor(writer: _Writer, node: Node, position: int) -> tuple[S.MatExpr, bool]:
    """The factor ∂node/∂(argument) as a matrix expression, and whether a rule wrote it."""
    op: Operation = node.op  # type: ignore[assignment]
    rw = op.partials[position].rewrite
    o = writer.operands(node)
    F = rw.factor(o) if rw is not None and rw.factor is not None else None
    if F is None:
        return _opaque(node, position, o), False
    want = (node.size, node.args[position].size)
    if F.shape != want:
        raise JacobianCalcError(f"the rewrite of {op.name!r} with respect to argument "
                                f"{position + 1} writes its factor as {F.text}, of shape "
                                f"{F.shape}, but the factor is {want[0]}×{want[1]}")
    return F, True


# ========================================================================= the sweeps
def _live(graph: Graph, head: Node, var: Node) -> list[Node]:
    """The nodes on a path from ``var`` to ``head``, in topological order."""
    above: set[int] = set()
    stack = [head]
    while stack:
        n = stack.pop()
        if id(n) in above:
            continue
        above.add(id(n))
        stack.extend(n.args)
    below: set[int] = {id(var)}
    for n in graph.nodes:
        if any(id(a) in below for a in n.args):
            below.add(id(n))
    return [n for n in graph.nodes if id(n) in above and id(n) in below]


def _unique(rules: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for r in rules if r))


def _gradient_symbol(head: Node, node: Node) -> Form:
    return Form(derivative_symbol(head.form.text, node.form.text, (), (), formed=True),
                derivative_symbol(head.form.latex, node.form.latex, (), (), latex=True,
                                  formed=True))


def _jacobian_symbol(head: Node, node: Node) -> Form:
    return Form(derivative_symbol(head.form.text, node.form.text, head.shape, node.shape,
                                  formed=True),
                derivative_symbol(head.form.latex, node.form.latex, head.shape, node.shape,
                                  latex=True, formed=True))


def _vec_row(e: S.MatExpr) -> Form:
    """``vec(E)ᵀ`` — or ``E`` itself for a 1×1 E."""
    if e.shape == (1, 1):
        return e.form
    return Form(f"vec({e.text})ᵀ", rf"\operatorname{{vec}}({e.latex})^\top")


def _link(G: Form, F: S.MatExpr) -> Form:
    """The literal link ``vec(Ḡ)ᵀ(Bᵀ ⊗ I)``, ``ḡ·vec(ŷ − y)ᵀ``."""
    f = F.form if F.precedence >= S.POSTFIX else Form(f"({F.text})", rf"\left({F.latex}\right)")
    return _link_form(G, f)


def _link_form(G: Form, f: Form) -> Form:
    if G.text == "ḡ":
        return Form(f"ḡ·{f.text}", rf"{G.latex} \cdot {f.latex}")
    return Form(f"{G.text}{f.text}", f"{G.latex} {f.latex}")


def _guard(e: S.MatExpr, what: str) -> S.MatExpr:
    if S.count_nodes(e) > MAX_NODES:
        raise WorkLimitError(f"the formula of {what} grows beyond {MAX_NODES:,} terms and "
                             f"factors (its paths multiply out); the literal Jacobian "
                             f"(jacobian_calc.jacobian) is not affected")
    return e


def _adjoint_rule(writer: _Writer, node: Node, position: int, P: S.MatExpr, G: S.MatExpr,
                  log: list[str]) -> tuple[Form | None, S.MatExpr | None, S.MatExpr | None]:
    """The entry's own adjoint rule, when it has one that applies: (the literal link, the
    rule on the placeholder Ḡ, the rule on G); ``(None, None, None)`` otherwise."""
    op: Operation = node.op  # type: ignore[assignment]
    rw = op.partials[position].rewrite
    if rw is None or rw.adjoint is None:
        return None, None, None
    o = writer.operands(node)
    pattern, R = rw.adjoint(P, o), rw.adjoint(G, o)
    if pattern is None or R is None:  # the rule does not cover these shapes
        return None, None, None
    shape = S.matrix_shape(node.args[position].shape)
    if R.shape != shape:
        raise JacobianCalcError(f"the adjoint rule of {op.name!r} for argument {position + 1} "
                                f"writes {R.text}, of shape {R.shape}, but the argument is "
                                f"{_size(node.args[position].shape)}")
    log.append(rw.identity or f"the adjoint rule of {op.name}")
    label = op.label(node, position)
    factor = label if label.text.isidentifier() else Form(f"({label.text})",
                                                          rf"\left({label.latex}\right)")
    return _link_form(_vec_row(P), factor), pattern, R


def _no_rule(node: Node, arg: Node) -> str:
    """The note of a factor ∂node/∂arg without a rule, left in the chain form."""
    return (f"no rewriting rule for the factor ∂({node.form.text})/∂({arg.form.text}) of "
            f"{node.op.name}: it is left in the chain form")  # type: ignore[union-attr]


def _reverse(graph: Graph, head: Node, var: Node, writer: _Writer,
             steps: list[FormulaStep], notes: list[str]) -> tuple[S.MatExpr, bool]:
    """The matrix-shaped gradient of the scalar ``head`` with respect to ``var``."""
    live = _live(graph, head, var)
    live_ids = {id(n) for n in live}
    what = f"∂{head.form.text}/∂{var.form.text}"
    adj: dict[int, S.MatExpr] = {id(head): S.identity(1)}
    complete = True
    for node in reversed(live):
        if node is head:
            continue
        target = _gradient_symbol(head, node)
        shape = S.matrix_shape(node.shape)
        contributions: list[S.MatExpr] = []
        for child, position in graph.consumers(node):
            if id(child) not in live_ids:
                continue
            G = adj[id(child)]
            P = _placeholder(G.shape)
            log: list[str] = []
            link, pattern, R = _adjoint_rule(writer, child, position, P, G, log)
            if link is None:  # the entry's factor, rewritten by the identities of pull
                F, ruled = _factor(writer, child, position)
                complete &= ruled
                if not ruled:
                    notes.append(_no_rule(child, node))
                link = _link(_vec_row(P), F)
                pattern = S.pull(P, F, shape, log)
                R = S.pull(G, F, shape)
            after = S.simplify(pattern)
            simplified: list[str] = []
            value = _guard(S.simplify(R, simplified), what)
            steps.append(FormulaStep(
                "rewrite", target, link, _vec_row(after), _unique(log),
                _gradient_symbol(head, child) if child is not head else Form("1", "1"),
                value.form, _unique(simplified)))
            contributions.append(value)
        if not contributions:
            continue
        if len(contributions) == 1:
            adj[id(node)] = contributions[0]
            continue
        log = []
        raw = S.add(*contributions)
        total = _guard(S.simplify(raw, log), what)
        steps.append(FormulaStep("collect", target, raw.form, total.form, _unique(log), None,
                                 total.form, _unique(log)))
        adj[id(node)] = total
    result = adj.get(id(var))
    if result is None:
        result = S.zero(*S.matrix_shape(var.shape))
    return result, complete


def _forward(graph: Graph, head: Node, var: Node, writer: _Writer,
             steps: list[FormulaStep], notes: list[str]) -> tuple[S.MatExpr, bool]:
    """∂vec(head)/∂vec(var) in Kronecker form, head to tail."""
    live = _live(graph, head, var)
    what = f"∂vec({head.form.text})/∂vec({var.form.text})"
    tangent: dict[int, S.MatExpr] = {id(var): S.identity(var.size)}
    complete = True
    for node in live:
        if node is var:
            continue
        terms = []
        ruled_all = True
        for position, arg in enumerate(node.args):
            if id(arg) not in tangent:
                continue
            F, ruled = _factor(writer, node, position)
            ruled_all &= ruled
            if not ruled:
                notes.append(_no_rule(node, arg))
            terms.append(S.product(F, tangent[id(arg)]))
        complete &= ruled_all
        if not terms:
            continue
        log: list[str] = []
        raw = S.add(*terms)
        value = _guard(S.simplify(raw, log), what)
        steps.append(FormulaStep("chain", _jacobian_symbol(node, var), raw.form, value.form,
                                 _unique(log), None, value.form, _unique(log)))
        tangent[id(node)] = value
    result = tangent.get(id(head))
    if result is None:
        result = S.zero(head.size, var.size)
    return result, complete


# ======================================================================== certifying
def _hints(graph: Graph) -> dict[str, str]:
    """What random data each leaf must satisfy, from the domain rules' sample hints."""
    wanted: dict[str, str] = {}
    for node in graph.nodes:
        if node.op is None:
            continue
        for rule in node.op.domain:
            if rule.sample is None or not rule.applies(node.params):
                continue
            for i in rule.on:
                if i >= len(node.args):
                    continue
                stack, seen = [node.args[i]], set()
                while stack:
                    n = stack.pop()
                    if id(n) in seen:
                        continue
                    seen.add(id(n))
                    if n.op is None and n.name is not None:
                        # "positive" wins over "invertible": I + E has positive diagonal only
                        if wanted.get(n.name) != "positive":
                            wanted[n.name] = rule.sample
                    stack.extend(n.args)
    return wanted


def fresh_values(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random values for every variable of ``graph``, drawn as its domain rules ask.

    A variable under a rule with the hint ``"positive"`` (log, a fractional or negative
    power) gets entries uniform in [0.5, 2]; a square one under ``"invertible"`` (inv,
    logdet; det prefers it) is I + E with ‖E‖₂ = ½ (condition number ≤ 3, det > 0); the
    others are standard normal.
    """
    hints = _hints(graph)
    out: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        if node.op is not None:
            continue
        out[str(node.name)] = domain.draw(node.shape, hints.get(str(node.name)), rng)
    return out


def _replay(graph: Graph, values: Mapping[str, np.ndarray]) -> dict[int, Node]:
    """The same composition rebuilt on other values of its variables (domains re-checked)."""
    new: dict[int, Node] = {}
    for node in graph.nodes:
        if node.op is None:
            new[id(node)] = leaf(str(node.name), values[str(node.name)], node.role)
        else:
            new[id(node)] = apply(node.op, *(new[id(a)] for a in node.args), name=node.name,
                                  **node.params)
    return new


def _literal(graph: Graph, head: Node, var: Node, values: Mapping[str, np.ndarray],
             kind: str) -> np.ndarray:
    new = _replay(graph, values)
    h, v = new[id(head)], new[id(var)]
    J = Graph(h, v).jacobian(h, v)
    return J.matrix_gradient() if kind == "gradient" else J.toarray()


def _instances(graph: Graph, count: int, seed: int
               ) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """Values for ``count`` instances: fresh draws; where the domain refuses them, the given
    values perturbed; at worst the given values themselves."""
    rng = np.random.default_rng(seed)
    given = {str(n.name): np.array(n.value) for n in graph.nodes if n.op is None}
    for _ in range(count):
        for _ in range(_DRAWS):
            values = fresh_values(graph, rng)
            try:
                _replay(graph, values)
            except JacobianCalcError:
                continue
            yield "fresh random instance", values
            break
        else:
            perturbed = {k: v + 1e-3 * (1 + np.abs(v)) * rng.standard_normal(v.shape)
                         for k, v in given.items()}
            try:
                _replay(graph, perturbed)
                yield "instance near the given values", perturbed
            except JacobianCalcError:
                yield "instance at the given values", given


def _certify(formula: Formula, graph: Graph, head: Node, var: Node, *,
            instances: int = INSTANCES, seed: int = 0) -> Certificate:
    """Compare ``formula`` with the literal Jacobian on ``instances`` fresh random values.

    Raises
    ------
    CertificateError
        The formula and the literal Jacobian disagree beyond the tolerance on some
        instance (or the formula cannot be evaluated there).
    """
    results = []
    for how, values in _instances(graph, instances, seed):
        literal = _literal(graph, head, var, values, formula.kind)
        needed = {k: values[k] for k in formula.variables}
        try:
            got = formula.evaluate(needed)
        except (JacobianCalcError, np.linalg.LinAlgError) as exc:
            raise CertificateError(
                f"the formula {formula.equation.text} cannot be evaluated on a {how} "
                f"({exc}); this is a bug in a rewriting rule, please report it") from exc
        error = float(np.max(np.abs(got - literal))) if literal.size else 0.0
        scale = float(max(np.max(np.abs(got), initial=0.0), np.max(np.abs(literal), initial=0.0)))
        if not np.isfinite(error):
            error = float("inf")
        instance = Instance(how, error, scale)
        results.append(instance)
        if not error <= RTOL * scale + ATOL:
            worst = np.unravel_index(int(np.argmax(np.abs(got - literal))), literal.shape) \
                if literal.size and np.isfinite(error) else ()
            raise CertificateError(
                f"the formula {formula.equation.text} disagrees with the literal Jacobian on "
                f"a {how}: largest difference {error:.3g} (at entry {tuple(int(i) for i in worst)}"
                f", formula {got[worst] if worst else got} vs literal "
                f"{literal[worst] if worst else literal}), scale {scale:.3g}, tolerance "
                f"{RTOL:g}·scale + {ATOL:g}. The formula was not returned: this is a bug in a "
                f"rewriting rule (of jacobian_calc, or of an operation added with "
                f"jacobian_calc.extend); please report it with this message. The literal "
                f"Jacobian, jacobian_calc.jacobian, is not affected.")
    return Certificate(tuple(results))


# ========================================================================== the entry
def derive_formula(graph: Graph, of: str | Node, wrt: str | Node, *, certify: bool = True,
                   instances: int = INSTANCES, seed: int = 0) -> Formula:
    """The closed form of ∂(of)/∂(wrt), rewritten from the literal factors and certified.

    Parameters
    ----------
    graph : Graph
    of, wrt : str or Node
    certify : bool
        Certify before returning (always, except for measuring the rewriting alone).
    instances : int
        Fresh random instances of the certificate.
    seed : int
        Seed of the certificate's random values.

    Returns
    -------
    Formula
        A gradient shaped like ``wrt`` for an ``of`` of one entry; otherwise the Jacobian
        ∂vec(of)/∂vec(wrt) in Kronecker form.

    Raises
    ------
    CertificateError
        The rewritten formula disagrees with the literal Jacobian (a bug report).
    WorkLimitError
        The formula grows beyond :data:`MAX_NODES`.
    """
    head, var = graph.node(of), graph.node(wrt)
    writer = _Writer()
    steps: list[FormulaStep] = []
    notes: list[str] = []
    kind = "gradient" if head.size == 1 else "jacobian"
    if head is var:
        expression: S.MatExpr = S.identity(var.size)  # 1×1 for a gradient: var has one entry
        complete = True
        notes.append(f"{var.form.text} differentiated by itself: the identity")
    elif kind == "gradient":
        expression, complete = _reverse(graph, head, var, writer, steps, notes)
    else:
        expression, complete = _forward(graph, head, var, writer, steps, notes)
    if not graph.depends_on(head, var):
        notes.append(f"{head.form.text} does not depend on {var.form.text}: the derivative is 0")
    expression = S.simplify(expression)
    definitions = _definitions(writer, expression, graph)
    inputs = {str(n.name): tuple(n.shape) for n in graph.nodes if n.op is None}
    # the variables in the order they are first written: the definitions, then the formula
    used: dict[str, None] = {}
    for e in [d for _, d in definitions] + [expression]:
        used.update((s.name, None) for s in S.symbols(e) if s.name in inputs)
    variables = tuple(used)
    symbol = _gradient_symbol(head, var) if kind == "gradient" else _jacobian_symbol(head, var)
    formula = Formula(head.form, var.form, symbol, expression, kind, definitions, variables,
                      inputs, tuple(head.shape), tuple(var.shape), tuple(steps), complete,
                      tuple(dict.fromkeys(notes)))
    if certify:
        formula.certificate = _certify(formula, graph, head, var, instances=instances,
                                       seed=seed)
    return formula


def _definitions(writer: _Writer, expression: S.MatExpr, graph: Graph
                 ) -> tuple[tuple[S.Symbol, S.MatExpr], ...]:
    """The named intermediate results ``expression`` needs, with their definitions, in order."""
    by_name = {sym.name: (sym, node) for sym, node in writer.defined.values()}
    needed: dict[str, S.MatExpr] = {}
    stack = [s.name for s in S.symbols(expression)]
    while stack:
        name = stack.pop()
        if name in needed or name not in by_name:
            continue
        sym, node = by_name[name]
        definition = writer.written(node)
        # the definition may name further intermediates: written() registered them
        by_name.update({s.name: (s, n) for s, n in writer.defined.values()})
        needed[name] = definition
        stack.extend(s.name for s in S.symbols(definition))
    order = [str(n.name) for n in graph.nodes if n.op is not None and n.name is not None]
    return tuple((by_name[name][0], needed[name]) for name in order if name in needed)

