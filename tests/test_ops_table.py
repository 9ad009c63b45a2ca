"""The operations table: every entry's literal factors against finite differences of its forward.

:func:`test_every_partial_of_every_operation` reads :data:`jacobian_calc.ops.TABLE` when it
runs, so an operation added later (through :mod:`jacobian_calc.extend` or a new family
module) is covered without editing this file — unless its argument shapes cannot be
derived from its entry, in which case the test fails and names the operation and the
table below (:data:`ARGUMENT_SHAPES`) that needs a line for it.

What is derived from an entry: its arity; the argument shapes of a function applied entry
by entry (``pointwise``: any shape); the values each argument needs, from the domain
rules' ``sample`` hints (``"positive"``, ``"invertible"``) where they apply to the drawn
parameters. What is listed here by name: the argument shapes of every other operation,
and a strategy for each required parameter (:data:`PARAMETERS`).

The linear family's public factors (eq 8–11, 19–22) are checked at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jacobian_calc as jc
from jacobian_calc import extend
from jacobian_calc.core import symbolic as S
from jacobian_calc.core.structure import MatrixInfo, Structured
from jacobian_calc.engine.graph import Graph, apply, leaf
from jacobian_calc.ops import TABLE
from jacobian_calc.ops.base import Operands, Operation
from jacobian_calc.render import check_latex
from jacobian_calc.testing import real_arrays

Shapes = tuple[tuple[int, ...], ...]

# ------------------------------------------------------------------ argument shapes
side = st.integers(1, 4)
any_shape = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)
vector_or_matrix = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4)
square = side.map(lambda n: (n, n))


def one(shape: st.SearchStrategy) -> st.SearchStrategy[Shapes]:
    return shape.map(lambda s: (s,))


def twice(shape: st.SearchStrategy) -> st.SearchStrategy[Shapes]:
    """Two arguments of one drawn shape (nothing is broadcast)."""
    return shape.map(lambda s: (s, s))


@st.composite
def _matmul(draw: st.DrawFn) -> Shapes:
    m, k = draw(side), draw(side)
    right = draw(st.one_of(st.just((k,)), side.map(lambda n: (k, n))))  # a vector is a column
    return ((m, k), right)


@st.composite
def _bias_add(draw: st.DrawFn) -> Shapes:
    p = draw(side)
    return (draw(st.one_of(st.just((p,)), side.map(lambda n: (p, n)))), (p,))


@st.composite
def _conv1d(draw: st.DrawFn) -> Shapes:
    n = draw(st.integers(1, 6))
    return ((n,), (draw(st.integers(1, n)),))  # the kernel fits inside the signal


@st.composite
def _conv2d(draw: st.DrawFn) -> Shapes:
    # the kernel fits inside the image even without padding, whatever padding is drawn
    H, W = draw(side), draw(side)
    return ((H, W), (draw(st.integers(1, min(H, 3))), draw(st.integers(1, min(W, 3)))))


#: Sizes of a window (im2col's kh, kw) and of the image it slides over: any window fits.
WINDOW = st.integers(1, 3)
image = st.tuples(st.integers(3, 4), st.integers(3, 4))
# a normalised group has at least 2 entries (with eps = 0 a single entry is constant)
layer_shape = st.integers(2, 4).flatmap(lambda m: st.one_of(st.just((m,)),
                                                            side.map(lambda n: (m, n))))
batch_shape = st.tuples(side, st.integers(2, 4))
eps = st.one_of(st.just(0.0), st.floats(0.1, 1.0))


@st.composite
def _attention(draw: st.DrawFn) -> Shapes:
    """Q (d × n), K (d × m), V (e × m): columns are tokens."""
    d, n, m, e = (draw(st.integers(1, 3)) for _ in range(4))
    return ((d, n), (d, m), (e, m))


#: The argument shapes of each operation that is not elementwise, by name. An operation
#: with ``pointwise`` (φ applied entry by entry) takes any shape and needs no line here.
ARGUMENT_SHAPES: dict[str, st.SearchStrategy[Shapes]] = {
    "power": one(any_shape),
    "hadamard": twice(any_shape),
    "matmul": _matmul(),
    "add": twice(any_shape),
    "sub": twice(any_shape),
    "neg": one(any_shape),
    "scale": one(any_shape),
    "scalar_mul": any_shape.map(lambda s: ((), s)),
    "transpose": one(vector_or_matrix),
    "column": one(side.map(lambda n: (n,))),
    "bias_add": _bias_add(),
    "inv": one(square),
    "det": one(square),
    "logdet": one(square),
    "trace": one(square),
    "sum": one(any_shape),
    "softmax": one(vector_or_matrix),
    "squared_error": twice(vector_or_matrix),
    "softmax_cross_entropy": twice(vector_or_matrix),
    "attention": _attention(),
    "conv1d": _conv1d(),
    "conv2d": _conv2d(),
    "im2col": one(image),
    "layer_norm": one(layer_shape),
    "batch_norm": one(batch_shape),
}

#: A strategy for every parameter without a default, by operation and parameter name.
PARAMETERS: dict[str, dict[str, st.SearchStrategy]] = {
    # integers (including 0 and negatives) and fractions; the domain rules then ask for
    # positive values where a fractional or negative exponent needs them
    "power": {"p": st.one_of(st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]),
                             st.floats(-3.0, 3.0, allow_subnormal=False))},
    "scale": {"c": st.floats(-3.0, 3.0, allow_subnormal=False)},
    # parameters with defaults, drawn too so that every value is covered
    "conv2d": {"stride": st.integers(1, 3), "padding": st.integers(0, 2)},
    "im2col": {"kh": WINDOW, "kw": WINDOW, "stride": st.integers(1, 3),
               "padding": st.integers(0, 2)},
    "layer_norm": {"eps": eps},
    "batch_norm": {"eps": eps},
}


def shape_strategy(op: Operation) -> st.SearchStrategy[Shapes] | None:
    if op.name in ARGUMENT_SHAPES:
        return ARGUMENT_SHAPES[op.name]
    if op.pointwise is not None and op.arity == 1:
        return one(any_shape)
    return None


def missing_test_data(table: Any = TABLE) -> list[str]:
    """Operations of the table this file cannot draw arguments or parameters for."""
    out = []
    for name, op in table.items():
        if shape_strategy(op) is None:
            out.append(f"{name!r} (no argument shapes: add a line to ARGUMENT_SHAPES)")
        for p in op.params:
            if p.default is None and p.name not in PARAMETERS.get(name, {}):
                out.append(f"{name!r} (no values for its required parameter {p.name!r}: add "
                           f"PARAMETERS[{name!r}][{p.name!r}])")
    return out


# ------------------------------------------------------------------ argument values
#: Entries of unrestricted arguments keep this far from 0, where relu has its kink (and
#: an integer power's derivative is exactly representable); the finite-difference step,
#: ∛ε·max(1, |x|) ≈ 6e-6, is far smaller.
KINK_MARGIN = 1e-2
BOUND = 2.0

_free = st.floats(KINK_MARGIN, BOUND, allow_subnormal=False).flatmap(
    lambda v: st.sampled_from([v, -v]))
_positive = st.floats(0.5, BOUND, allow_subnormal=False)


def hints(op: Operation, params: dict[str, Any], position: int) -> set[str]:
    """The sample hints of the domain rules that apply to argument ``position``."""
    return {r.sample for r in op.domain
            if r.sample is not None and position in r.on and r.applies(params)}


@st.composite
def argument_value(draw: st.DrawFn, shape: tuple[int, ...], wanted: set[str]) -> np.ndarray:
    if not wanted:
        return draw(hnp.arrays(np.float64, shape, elements=_free))
    if wanted == {"positive"}:
        return draw(hnp.arrays(np.float64, shape, elements=_positive))
    if wanted == {"spread"}:
        # distinct integers times 0.5 plus a jitter below 0.2: any two entries are at least
        # 0.3 apart, so no column or row is nearly constant (σ ≥ 0.15 for two entries)
        n = int(np.prod(shape))
        order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
        jitter = draw(hnp.arrays(np.float64, (n,), elements=st.floats(0.0, 0.2)))
        return ((order - (n - 1) / 2) * 0.5 + jitter).reshape(shape)
    if wanted == {"probability"}:
        # a distribution: positive entries, each column summing to 1 (a vector sums to 1)
        raw = draw(hnp.arrays(np.float64, shape, elements=_positive))
        return raw / raw.sum(axis=0) if raw.ndim else np.ones(shape)
    if wanted == {"invertible"}:
        assert len(shape) == 2 and shape[0] == shape[1], \
            f"an 'invertible' argument needs a square shape, the shape maker gave {shape}"
        n = shape[0]
        # I + E with ‖E‖₂ ≤ ‖E‖_F ≤ 1/2: eigenvalues within 1/2 of 1, condition number ≤ 3,
        # det > 0 (so log|det| = log det)
        E = draw(real_arrays(shape, 0.5 / n))
        return np.eye(n) + E
    pytest.fail(f"no sampler for the domain hint(s) {sorted(wanted)}; teach argument_value")


@st.composite
def instances(draw: st.DrawFn, op: Operation) -> Any:
    """A node applying ``op`` to drawn arguments (leaves, or expressions in brackets)."""
    params = {name: draw(s, label=f"{op.name}.{name}")
              for name, s in PARAMETERS.get(op.name, {}).items()}
    checked = op.check_params(params)
    shapes = draw(shape_strategy(op), label=f"{op.name} shapes")
    args = []
    for i, shape in enumerate(shapes):
        value = draw(argument_value(shape, hints(op, checked, i)), label=f"{op.name} arg {i}")
        name = "ABCDEFGH"[i]
        if draw(st.booleans()):  # an expression argument: written −(−A), bracketed in labels
            args.append(apply("neg", leaf(name, -value)))
        else:
            args.append(leaf(name, value))
    return apply(op, *args, **params)


# ------------------------------------------------------------------ the checks
@lru_cache(maxsize=None)
def latex_ok(latex: str) -> str:
    """check_latex, once per distinct string (labels repeat across examples)."""
    return check_latex(latex)


def dense(m: Any) -> np.ndarray:
    if isinstance(m, Structured) or sp.issparse(m):
        return m.toarray()
    return np.asarray(m, dtype=np.float64)


def recompute(op: Operation, node: Any, position: int) -> Callable[[np.ndarray], np.ndarray]:
    """The operation's forward as a function of argument ``position`` alone."""
    values = [a.value for a in node.args]

    def f(v: np.ndarray) -> np.ndarray:
        return op.forward(*(v if j == position else x for j, x in enumerate(values)),
                          **node.params)
    return f


def check_partial(op: Operation, node: Any, position: int) -> None:
    arg = node.args[position]
    partial = op.partials[position]
    where = f"{op.name}, ∂/∂ argument {position}, at {node.form.text} (argument {arg.shape})"
    built = partial.build(node)
    full = dense(built)
    assert full.shape == (node.size, arg.size), where

    # the literal factor is the derivative: central differences of the forward
    fd = jc.finite_difference_jacobian(recompute(op, node, position), arg.value)
    scale = max(1.0, float(np.abs(fd).max(initial=0.0)))
    np.testing.assert_allclose(full, fd, rtol=1e-6, atol=1e-6 * scale, err_msg=where)

    # the graph hands out the same matrix, labelled
    J = Graph(node).factor(node, position)
    np.testing.assert_array_equal(J.toarray(), full, err_msg=where)

    # its cost is known before it is built
    info = op.factor_info(node, position)
    real = MatrixInfo.of(built)
    assert info.shape == real.shape == full.shape, (where, info, real)
    if info.kind == "dense" and real.sparse:
        assert info.nnz >= real.nnz, (where, info, real)  # a dense estimate is an upper bound
    else:
        assert info.nnz == real.nnz, (where, info, real)
        assert info.sparse == real.sparse, (where, info, real)
        assert info.kind == real.kind, (where, info, real)

    if partial.symmetric:
        np.testing.assert_array_equal(full, full.T, err_msg=where)

    # how it is written: plain text without TeX, and LaTeX that parses
    label = op.label(node, position)
    assert "\\" not in label.text and "$" not in label.text, (where, label)
    latex_ok(label.latex)
    assert J.label == label.text
    equation = partial.equation_of(node)
    assert equation is None or (isinstance(equation, str) and equation), (where, equation)

    # a scalar-valued operation states its gradients, shaped like the argument (eq 1, 12)
    if op.gradients is not None:
        g = np.asarray(op.gradients[position](*(a.value for a in node.args), **node.params))
        assert g.shape == arg.shape, where
        np.testing.assert_allclose(g.reshape(1, -1, order="F"), full, rtol=1e-12,
                                   atol=1e-12 * scale, err_msg=where)


def written_as(e: S.MatExpr, values: dict, expected: np.ndarray, tol: float, where: str) -> None:
    """The expression, as written and simplified, has the value ``expected``; its text is
    plain and its LaTeX compiles."""
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    for written in (e, S.simplify(e)):
        np.testing.assert_allclose(S.evaluate(written, values), expected, rtol=tol,
                                   atol=tol * scale, err_msg=f"{where}: {written.text}")
    assert "\\" not in e.text, where
    latex_ok(e.latex)


def check_rewrite(op: Operation, node: Any, position: int) -> None:
    """The entry's formula rule writes the same matrix as its literal factor, and the
    result's own written form (when the entry gives one) has the node's value."""
    where = f"{op.name}, rewrite of ∂/∂ argument {position}, at {node.form.text}"
    args = tuple(S.symbol(f"a{i}", a.shape) for i, a in enumerate(node.args))
    values = {f"a{i}": a.value for i, a in enumerate(node.args)}
    values["out"] = node.value
    o = Operands(args, S.symbol("out", node.shape), dict(node.params),
                 tuple(a.shape for a in node.args), node.shape)
    rewrite = op.partials[position].rewrite
    factor = None if rewrite is None or rewrite.factor is None else rewrite.factor(o)
    if factor is not None:
        written_as(factor, values, dense(op.partials[position].build(node)), 1e-12, where)
    if rewrite is not None and rewrite.adjoint is not None:
        # the adjoint rule R(G) against vec(G)ᵀ times the literal factor, for a drawn G
        literal = dense(op.partials[position].build(node))
        out_shape = S.matrix_shape(node.shape)
        G = np.random.default_rng(literal.size).normal(size=out_shape)
        values["G"] = G
        R = rewrite.adjoint(S.symbol("G", out_shape), o)
        if R is not None:
            expected = (G.reshape(1, -1, order="F") @ literal).reshape(
                S.matrix_shape(node.args[position].shape), order="F")
            written_as(R, values, expected, 1e-10, where)
    if op.symbolic is not None:
        np.testing.assert_allclose(S.evaluate(op.symbolic(o), values).ravel(),
                                   node.value.ravel(), rtol=1e-12, atol=1e-12, err_msg=where)


def check_operation(op: Operation, node: Any) -> None:
    assert node.op is op and len(node.args) == op.arity == len(op.partials)
    np.testing.assert_array_equal(
        node.value, op.forward(*(a.value for a in node.args), **node.params))
    written = node.form
    assert "\\" not in written.text, written
    latex_ok(written.latex)
    if op.pointwise is not None:  # φ and φ′ of Figure 1 agree with the forward and factor
        h = node.args[0].value
        np.testing.assert_array_equal(op.pointwise.function(h), node.value)
        built = op.partials[0].build(node)
        np.testing.assert_allclose(np.diag(dense(built)),
                                   op.pointwise.derivative(h).reshape(-1, order="F"),
                                   rtol=1e-15, atol=0)
    for position in range(op.arity):
        check_partial(op, node, position)
        check_rewrite(op, node, position)


# ------------------------------------------------------------------ the property
@settings(max_examples=100)
@given(data=st.data())
def test_every_partial_of_every_operation(data):
    """Each example draws one instance of every operation in the table, read now."""
    missing = missing_test_data()
    if missing:
        pytest.fail("operations without test data in tests/test_ops_table.py: "
                    + "; ".join(missing))
    for name, op in TABLE.items():
        node = data.draw(instances(op), label=name)
        check_operation(op, node)


def test_the_table_holds_the_built_in_families():
    assert {op.family for op in TABLE.values()} == {"elementwise", "linear", "matrix",
                                                    "reductions", "losses", "convolution",
                                                    "normalisation", "attention"}
    assert {"matmul", "inv", "det", "logdet", "trace", "sum", "softmax", "hadamard",
            "bias_add", "transpose", "attention"} <= set(TABLE)
    assert all(TABLE[name].name == name for name in TABLE)


#: Partials of built-in entries without a rewriting rule, each with the reason: a formula
#: through them stays in chain form and says so. (None today: every built-in has one.)
NO_RULE: dict[str, str] = {}
#: Operations this module adds itself (below), which may lack rules.
ADDED_HERE = ("softsignx", "frobtwox")


def test_every_built_in_partial_has_a_rewriting_rule():
    # an added operation may lack one (its formulas stay in chain form); a built-in may not,
    # unless it is listed in NO_RULE with its reason
    missing = [f"{name} ∂/∂ argument {i}" for name, op in TABLE.items()
               if name not in ADDED_HERE
               for i, p in enumerate(op.partials) if p.rewrite is None or p.rewrite.factor is None]
    unexplained = [m for m in missing if m not in NO_RULE]
    assert not unexplained, f"built-in partials without a rewriting rule or a reason: {unexplained}"
    stale = [m for m in NO_RULE if m not in missing]
    assert not stale, f"NO_RULE lists partials that have a rule now: {stale}"
    assert all(reason.strip() for reason in NO_RULE.values())


def test_an_operation_added_later_is_covered_or_reported():
    # an elementwise function: its shapes are derived, so the property covers it as is
    extend.elementwise("softsignx", lambda x: x / (1 + np.abs(x)),
                       lambda x: 1 / (1 + np.abs(x)) ** 2)
    # a general operation: nothing says which shapes it takes, so it must be reported
    extend.operation("frobtwox", lambda A: np.asarray(np.sum(A * A)),
                     [lambda A: 2 * A.reshape(1, -1, order="F")],
                     notation=r"\lVert $0\rVert_F^2", shape=lambda s: (), family="reductions")
    try:
        assert "softsignx" in TABLE and "frobtwox" in TABLE
        missing = missing_test_data()
        assert len(missing) == 1 and "'frobtwox'" in missing[0] and "ARGUMENT_SHAPES" in missing[0]
        # and with shapes given, the same checks pass for both
        ARGUMENT_SHAPES["frobtwox"] = one(vector_or_matrix)
        try:
            assert missing_test_data() == []

            @settings(max_examples=20)
            @given(st.data())
            def run(data):
                for name in ("softsignx", "frobtwox"):
                    check_operation(TABLE[name], data.draw(instances(TABLE[name])))
            run()
        finally:
            del ARGUMENT_SHAPES["frobtwox"]
    finally:
        extend.remove("softsignx")
        extend.remove("frobtwox")
    assert missing_test_data() == []


def test_an_added_function_with_an_underscore_in_its_name_is_written_in_valid_latex():
    extend.elementwise("soft_signx", lambda x: x / (1 + np.abs(x)),
                       lambda x: 1 / (1 + np.abs(x)) ** 2)
    try:
        node = apply("soft_signx", leaf("A", np.ones(2)))
        check_latex(node.form.latex)
        check_latex(node.op.label(node, 0).latex)
        assert node.form.text == "soft_signx(A)"
    finally:
        extend.remove("soft_signx")


def test_an_added_operation_with_an_underscore_in_its_name_is_labelled_in_valid_latex():
    # the default label ∂name/∂$0 is a template: its LaTeX and its text form both hold
    extend.operation("frob_twox", lambda A: np.asarray(np.sum(A * A)),
                     [lambda A: 2 * A.reshape(1, -1, order="F")],
                     notation=r"\lVert $0\rVert_F^2", shape=lambda s: (), family="reductions")
    try:
        node = apply("frob_twox", leaf("A", np.ones(2)))
        label = node.op.label(node, 0)
        check_latex(label.latex)
        assert label.text == "∂frob_twox/∂A"
    finally:
        extend.remove("frob_twox")


def test_factor_info_names_the_structure_of_identity_and_diagonal_factors():
    A, B = leaf("A", np.ones((2, 2))), leaf("B", np.ones((2, 2)))
    for node in (apply("add", A, B), apply("tanh", A), apply("hadamard", A, B)):
        info = node.op.factor_info(node, 0)
        assert info.kind == MatrixInfo.of(node.op.partials[0].build(node)).kind, (node, info)


# --------------------------------------------------- labels, equations and errors
def test_factor_labels_and_equations_of_the_lecture_layer():
    x = leaf("x", np.arange(1.0, 5.0))
    W = leaf("W1", np.ones((5, 4)))
    h = apply("matmul", W, x, name="h1")
    z = apply("tanh", h, name="z1", symbol="φ")
    g = Graph(z)
    kron, lin, diag = g.factor(h, 0), g.factor(h, 1), g.factor(z, 0)
    assert (kron.label, kron.equation) == ("(x₁I₅, …, x₄I₅)", "22")
    assert (lin.label, lin.equation) == ("W1", "11")
    assert (diag.label, diag.equation) == ("diag(φ′(h1))", "29")
    assert kron.symbol == "∂h1/∂vec(W1)"


def test_an_expression_argument_is_bracketed_in_a_label():
    A, B = leaf("A", np.ones((2, 3))), leaf("B", np.ones((2, 3)))
    t = apply("transpose", apply("add", A, B))
    assert t.form.text == "(A + B)ᵀ"
    assert TABLE["transpose"].label(t, 0).text == "K₂,₃"
    n = apply("neg", apply("add", A, B))
    assert n.form.text == "−(A + B)" and TABLE["neg"].label(n, 0).text == "−I₆"


def test_matmul_shape_error_names_both_operands():
    with pytest.raises(jc.ShapeError, match=r"W is 3×4 but x is a vector of length 5; inner "
                                            r"sizes 4 ≠ 5"):
        apply("matmul", leaf("W", np.ones((3, 4))), leaf("x", np.ones(5)), name="h")


def test_domain_rules_refuse_what_the_operation_is_not_defined_for():
    with pytest.raises(jc.ShapeError, match="square"):
        apply("inv", leaf("A", np.ones((2, 3))))
    with pytest.raises(jc.SingularMatrixError, match="singular"):
        apply("inv", leaf("A", np.ones((2, 2))))
    with pytest.raises(jc.ShapeError, match="nothing is broadcast"):
        apply("add", leaf("A", np.ones((2, 3))), leaf("B", np.ones(3)))
    with pytest.raises(jc.ShapeError, match="bias"):
        apply("bias_add", leaf("H", np.ones((2, 3))), leaf("b", np.ones(3)))
    with pytest.raises(jc.JacobianCalcError, match="parameter"):
        apply("scale", leaf("A", np.ones(2)))
    with pytest.raises(jc.ChoiceError, match="operation"):
        apply("no_such_operation", leaf("A", np.ones(2)))


# ----------------------------------------- the linear family's public factors (eq 8–22)
sizes = st.integers(1, 12)


@given(sizes.flatmap(lambda d: real_arrays((d,))), sizes)
def test_linear_weight_jacobian_is_x_transposed_kron_identity(x, p):
    K = jc.linear_weight_jacobian(x, p)
    d = x.size
    assert sp.issparse(K) and K.shape == (p, p * d)
    assert K.nnz == p * d  # exactly p·d stored entries, zeros of x included
    blocks = np.hstack([x[j] * np.eye(p) for j in range(d)])  # eq (22): (x₁I_p, …, x_dI_p)
    np.testing.assert_array_equal(K.toarray(), blocks)
    np.testing.assert_array_equal(K.toarray(), np.kron(x[None, :], np.eye(p)))


def test_linear_weight_jacobian_is_the_derivative_of_wx(rng):
    # eq (19)–(22): differentiate y = W x entry by entry of vec(W), column-stacked
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    fd = jc.finite_difference_jacobian(lambda M: M @ x, W)
    np.testing.assert_allclose(jc.linear_weight_jacobian(x, 3).toarray(), fd, rtol=1e-7,
                               atol=1e-9)


def test_linear_weight_jacobian_accepts_a_column_and_a_batch(rng):
    x = rng.normal(size=(4, 1))
    np.testing.assert_array_equal(jc.linear_weight_jacobian(x, 2).toarray(),
                                  np.kron(x.T, np.eye(2)))
    X = rng.normal(size=(4, 3))
    K = jc.linear_weight_jacobian(X, 2)
    assert sp.issparse(K) and K.nnz == 2 * 4 * 3
    np.testing.assert_array_equal(K.toarray(), np.kron(X.T, np.eye(2)))


def test_linear_weight_jacobian_names_bad_input():
    with pytest.raises(jc.ShapeError, match="vector or a matrix"):
        jc.linear_weight_jacobian(np.ones((2, 2, 2)), 2)
    with pytest.raises(jc.JacobianCalcError, match="complex"):
        jc.linear_weight_jacobian(np.array([1j, 2.0]), 2)
    with pytest.raises(jc.ShapeError, match="positive int"):
        jc.linear_weight_jacobian(np.ones(2), 0)
    np.testing.assert_array_equal(jc.linear_weight_jacobian([1, 2], 2).toarray(),
                                  np.kron(np.array([[1.0, 2.0]]), np.eye(2)))


def test_linear_input_jacobian_is_w(rng):
    W, x = rng.normal(size=(3, 5)), rng.normal(size=5)
    fd = jc.finite_difference_jacobian(lambda v: W @ v, x)  # eq (8)–(11)
    np.testing.assert_allclose(jc.linear_input_jacobian(W), fd, rtol=1e-7, atol=1e-9)
