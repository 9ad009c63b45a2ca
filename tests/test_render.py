"""Typeset output: every LaTeX string through a real TeX-math parser, Markdown structure, JSON.

The parser is latex2mathml; :func:`jacobian_calc.render.latex.check_latex` adds the checks it
leaves out. The first tests prove the check rejects malformed input — otherwise passing
it would prove nothing.
"""

import json
import shutil
import subprocess
import re
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.render.latex import (
    SMALL_ENTRIES,
    LatexError,
    check_latex,
    latex_dims,
    latex_number,
    matrix_latex,
    scalar_blocks,
)

pytest.importorskip("latex2mathml")


def mlp(sizes, activation="sigmoid", loss="squared_error", seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(b, a)) for a, b in zip(sizes, sizes[1:])]
    x = rng.normal(size=sizes[0])
    if loss == "softmax_cross_entropy":
        y = np.eye(sizes[-1])[0]
    else:
        y = rng.normal(size=sizes[-1])
    return jc.MLP(weights, activation=activation, loss=loss), x, y


def display_math(markdown):
    """Every $$…$$ block and every inline $…$ of a Markdown string."""
    blocks = re.findall(r"\$\$\n?(.*?)\n?\$\$", markdown, flags=re.S)
    rest = re.sub(r"\$\$.*?\$\$", "", markdown, flags=re.S)
    inline = re.findall(r"(?<![\\$])\$([^$]+?)\$", rest)
    return blocks + inline


# ------------------------------------------------------------- the checker itself
@pytest.mark.parametrize("bad", [
    r"\frac{a}{b",                      # unclosed brace
    r"a}",                              # stray closing brace
    r"{a",
    r"\frac{a}",                        # missing denominator
    r"\left( a",                        # \left without \right
    r"a \right)",
    r"\begin{bmatrix} 1 & 2",           # environment not closed
    r"\nosuchcommand x",                # unknown command
    r"x^",                              # script without argument
    r"\operatorname",                   # command without its argument
    r"a & b",                           # alignment tab outside an environment
    r"\begin{bmatrix} 1 & 2 \\ 3 \end{bmatrix}",  # ragged matrix
    r"\begin{aligned} &\left( a && b \right) \end{aligned}",  # \left…\right across cells
    r"\begin{aligned} &\frac{a}{b \\ &c \end{aligned}",
    "",
])
def test_the_checker_rejects_malformed_latex(bad):
    with pytest.raises(LatexError, match="malformed LaTeX"):
        check_latex(bad)


def test_the_checker_accepts_the_lectures_notation():
    for good in [
        r"\frac{\partial \hat{y}}{\partial \operatorname{vec}(W_{1})}",
        r"(q \times q) \cdot (q \times s) \cdot (s \times 1) \cdot (1 \times p) \to q \times p",
        r"\begin{aligned} &a = b && (1 \times 2) \\ &\quad c = \begin{bmatrix} 1 & 2 \\ 3 & 4 "
        r"\end{bmatrix} \end{aligned}",
    ]:
        assert check_latex(good).startswith("<math")
    assert issubclass(LatexError, ValueError)


# ----------------------------------------------------------------- small pieces
def test_numbers_and_dimension_checks():
    assert latex_number(0.0) == "0" and latex_number(3.0) == "3"
    assert latex_number(-1.23456789) == "-1.235"
    assert latex_number(2.5e-9) == r"2.5 \times 10^{-9}"
    assert latex_number(np.inf) == r"\infty" and latex_number(np.nan) == r"\text{nan}"
    tex = latex_dims("(3×3)·(3×2)·(2×1)·(1×5) → 3×5")
    assert tex == (r"(3 \times 3) \cdot (3 \times 2) \cdot (2 \times 1) \cdot (1 \times 5) "
                   r"\to 3 \times 5")
    check_latex(tex)
    check_latex(latex_dims("(2×3)·(5×20) → ✗ 3 ≠ 5"))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_is_valid_latex_with_the_right_value(v):
    tex = latex_number(v)
    check_latex(tex)
    if np.isfinite(v):
        m = re.fullmatch(r"(-?[\d.]+)(?: \\times 10\^\{(-?\d+)\})?", tex)
        assert m, tex
        value = Decimal(m[1]).scaleb(int(m[2] or 0))  # exact: 1.798e308 overflows a float
        assert abs(value - Decimal(v)) <= Decimal("5e-4") * abs(Decimal(v))


def test_small_matrices_are_written_entry_by_entry():
    A = np.arange(12.0).reshape(3, 4) - 5.5
    tex = matrix_latex(A)
    check_latex(tex)
    rows = re.fullmatch(r"\\begin\{bmatrix\} (.*) \\end\{bmatrix\}", tex)[1].split(r" \\ ")
    parsed = np.array([[float(c) for c in row.split(" & ")] for row in rows])
    np.testing.assert_array_equal(parsed, A)
    # the same from a sparse array
    assert matrix_latex(sp.csr_array(A)) == tex


def test_big_matrices_are_never_made_dense(monkeypatch):
    n = 3000  # dense would be 72 MB
    D = sp.diags_array(np.arange(1.0, n + 1) / 8, format="csr")
    monkeypatch.setattr(sp.csr_array, "toarray", lambda self, *a, **k: pytest.fail("densified"))
    tex = matrix_latex(D)
    assert tex == r"\operatorname{diag}(0.125, 0.25, 0.375, \dots, 375)"
    check_latex(tex)


def test_scalar_blocks_recover_the_kronecker_coefficients(rng):
    C = rng.normal(size=(2, 5))
    C[0, 1] = 0.0
    K = sp.kron(C, sp.eye(3), format="csr")
    np.testing.assert_array_equal(scalar_blocks(K, 3), C)
    np.testing.assert_array_equal(scalar_blocks(K.toarray(), 3), C)
    broken = K.tolil()
    broken[1, 1] += 1e-3  # one diagonal entry of a block differs
    assert scalar_blocks(broken, 3) is None
    off = K.tolil()
    off[0, 1] = 1.0  # an off-diagonal entry inside a block
    assert scalar_blocks(off, 3) is None
    assert scalar_blocks(K, 2) is None  # wrong block size: 15 columns are not 2-blocks


def test_big_kronecker_factor_in_block_form(rng):
    x = rng.normal(size=30)
    J = jc.Jacobian(jc.linear_weight_jacobian(x, 4), of="h1", wrt="W1", of_shape=(4,),
                    wrt_shape=(4, 30))
    tex = matrix_latex(J.matrix, block=4)
    check_latex(tex)
    cells = re.fullmatch(r"\\begin\{bmatrix\} (.*) \\end\{bmatrix\}", tex)[1].split(" & ")
    assert len(cells) == 5 and cells[3] == r"\cdots"
    for cell, value in zip(cells[:3] + cells[4:], [x[0], x[1], x[2], x[29]]):
        assert cell == rf"{latex_number(value)}\, I_{{4}}"


def test_unstructured_big_matrices_show_their_corners(rng):
    A = rng.normal(size=(20, 30))
    tex = matrix_latex(A)
    check_latex(tex)
    rows = re.fullmatch(r"\\begin\{bmatrix\} (.*) \\end\{bmatrix\}", tex)[1].split(r" \\ ")
    assert len(rows) == 5 and rows[3] == r"\vdots & \vdots & \vdots & \ddots & \vdots"
    first = rows[0].split(" & ")
    assert first[:3] == [latex_number(v) for v in A[0, :3]] and first[3] == r"\cdots"
    assert rows[4].split(" & ")[-1] == latex_number(A[19, 29])


# ---------------------------------------------------------------- Jacobian reprs
def every_factor(net, x, y):
    graph = net.compose(x, y)
    for node in graph.nodes:
        for position in range(len(node.args)):
            yield graph.factor(node, position)


@pytest.mark.parametrize("sizes", [(4, 5, 3, 2), (3, 2), (12, 10, 3), (2, 3, 4, 3, 2)])
@pytest.mark.parametrize("activation,loss", [("sigmoid", "squared_error"),
                                             ("relu", "softmax_cross_entropy")])
def test_every_primitive_jacobian_renders_as_valid_latex(sizes, activation, loss):
    net, x, y = mlp(sizes, activation, loss)
    kinds = set()
    for J in every_factor(net, x, y):
        tex = J.to_latex()
        check_latex(tex)
        check_latex(J._repr_latex_().strip("$"))
        assert J._repr_latex_() == f"$${tex}$$"
        assert tex.startswith(J.latex_symbol + " = ")
        if J.latex:
            assert J.latex in tex  # the factor's label, e.g. diag(φ′(h1))
        assert latex_dims(f"{J.shape[0]}×{J.shape[1]}") in tex
        if J.equation:
            assert f"eq. ({J.equation})" in tex
            kinds.add(J.equation)
        for block in display_math(J._repr_markdown_()):
            check_latex(block)
    assert {"11", "22"} <= kinds and ("29" in kinds or len(sizes) == 2)
    # and the composite Jacobians (dense, not labelled) too
    for of, wrt in [("yhat", "W1"), ("yhat", "x"), ("f", "W1")]:
        check_latex(net.jacobian(x, y, of=of, wrt=wrt).to_latex())


def test_the_lectures_symbols_and_block_forms(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights)
    graph = net.compose(x, y)
    kron = graph.factor("h1", 0)
    tex = kron.to_latex()
    assert tex.startswith(r"\frac{\partial h_{1}}{\partial \operatorname{vec}(W_{1})} = "
                          r"\left(x_{1}\:I_{5}, \dots, x_{4}\:I_{5}\right) = ")
    # 5×20 = 100 entries: block form with the numbers of x, not 100 entries
    expected = " & ".join(rf"{latex_number(v)}\, I_{{5}}" for v in x)
    assert rf"\begin{{bmatrix}} {expected} \end{{bmatrix}}" in tex
    assert r"(5 \times 20)" in tex and r"\text{eq. (22)}" in tex
    big = jc.MLP([np.ones((9, 9)), np.ones((2, 9))], activation="tanh").compose(np.ones(9))
    diag = big.factor("z1", 0)  # 81 entries: diag(…) form
    tex = diag.to_latex()
    assert tex.startswith(r"\frac{\partial z_{1}}{\partial h_{1}} = "
                          r"\operatorname{diag}(\phi'(h_{1})) = \operatorname{diag}(")
    assert latex_number(1 - np.tanh(9.0) ** 2) in tex
    yhat = net.jacobian(x, of="yhat", wrt="W1")
    assert yhat.latex_symbol == r"\frac{\partial \hat{y}}{\partial \operatorname{vec}(W_{1})}"


def test_jacobian_markdown_names_shape_storage_and_equation(lecture):
    weights, x, y = lecture
    J = jc.MLP(weights).compose(x, y).factor("h2", 0)
    md = J._repr_markdown_()
    head = md.splitlines()[0]
    assert head == ("**∂h2/∂vec(W2)** = (z1₁I₃, …, z1₅I₃) — 3×15, sparse Kronecker product, "
                    "15 entries kept as its factors (40 bytes), eq (22)")
    assert display_math(md) == [J.to_latex()]


def test_jacobian_to_dict_round_trips_through_json(lecture):
    weights, x, y = lecture
    J = jc.MLP(weights).compose(x, y).factor("h1", 0)
    data = json.loads(json.dumps(J.to_dict()))
    assert data["symbol"] == "∂h1/∂vec(W1)" and data["shape"] == [5, 20]
    assert data["sparse"] is True and data["nnz"] == 20 and data["equation"] == "22"
    np.testing.assert_array_equal(np.array(data["entries"]), np.kron(x[None, :], np.eye(5)))


# ------------------------------------------------------------------- derivations
DERIVATION_CASES = [
    ((4, 5, 3, 2), "sigmoid", "squared_error", ["W1", "W2", "W3", "h1", "z2"]),
    ((3, 2), "tanh", "squared_error", ["W1"]),
    ((4, 3, 2), "relu", "softmax_cross_entropy", ["W1", "W2"]),
    ((5, 4, 3, 3, 2), "softplus", "softmax_cross_entropy", ["W1", "W2", "W3", "W4"]),
    ((9, 8, 7), "identity", "squared_error", ["W1", "W2"]),  # big enough to elide values
]


@pytest.mark.parametrize("sizes,activation,loss,wrts", DERIVATION_CASES)
def test_every_derivation_renders_as_valid_latex_and_markdown(sizes, activation, loss, wrts):
    net, x, y = mlp(sizes, activation, loss)
    for wrt in wrts:
        d = net.derivation(x, y, wrt=wrt)
        tex = d.to_latex()
        check_latex(tex)
        assert tex.startswith("\\begin{aligned}\n") and tex.endswith("\n\\end{aligned}")
        for check in d.path_checks:
            assert latex_dims(check) in tex
        if d.matrix_form is not None:
            assert latex_dims(d.matrix_form.check) in tex
        md = d._repr_markdown_()
        assert md == d.to_markdown()
        maths = display_math(md)
        assert len(maths) >= len(d.steps)
        for block in maths:
            check_latex(block)


def test_w2_latex_is_typeset_as_the_lecture(lecture):
    weights, x, y = lecture
    tex = jc.MLP(weights).derivation(x, y, wrt="W2").to_latex()
    # eq (31) with its factors, and the dimension check of eq (33)
    assert (r"\frac{\partial f}{\partial W_{2}} = \operatorname{diag}(\phi'(h_{2})) \cdot "
            r"W_{3}^\top \cdot \frac{\partial f}{\partial \hat{y}} \cdot z_{1}^\top") in tex
    assert (r"(3 \times 3) \cdot (3 \times 2) \cdot (2 \times 1) \cdot (1 \times 5) \to 3 \times 5"
            r" \quad \text{eq. (33)}") in tex
    assert r"\text{eq. (27)--(33)}" in tex and r"\text{eq. (22)}" in tex
    assert r"h_{2} = W_{2} z_{1} \in \mathbb{R}^{3}" in tex  # the forward pass, §3.1


def test_w1_latex_reuses_the_gradient_of_h2(lecture):
    weights, x, y = lecture
    d = jc.MLP(weights).derivation(x, y, wrt="W1")
    assert d.matrix_form.latex_factors[2] == r"\frac{\partial f}{\partial h_{2}}"  # eq (37)
    assert (r"\frac{\partial f}{\partial W_{1}} = \operatorname{diag}(\phi'(h_{1})) \cdot "
            r"W_{2}^\top \cdot \frac{\partial f}{\partial h_{2}} \cdot x^\top") in d.to_latex()


def test_markdown_structure(lecture):
    weights, x, y = lecture
    d = jc.MLP(weights).derivation(x, y, wrt="W2")
    md = d.to_markdown()
    lines = md.splitlines()
    assert lines[0] == "### Derivation of ∂f/∂W2 — eq (27)–(33)"
    assert "- forward: h1 = W1 x (5), z1 = φ(h1) (5), h2 = W2 z1 (3), z2 = φ(h2) (3), " \
           "ŷ = W3 z2 (2), f = ½‖ŷ − y‖² (scalar)" in lines
    header = lines.index("| step | quantity | = | factor | eq | dimensions |")
    table = lines[header + 2: header + 2 + len(d.steps)]
    assert [row.split(" | ")[0] for row in table] == ["| 1", "| 2", "| 3", "| 4"]
    assert [row.split(" | ")[-1] for row in table] == [
        "1×2 |", "(1×2)·(2×3) → 1×3 |", "(1×3)·(3×3) → 1×3 |", "(1×3)·(3×15) → 1×15 |"]
    assert "dimension check: (1×2)·(2×3)·(3×3)·(3×15) → 1×15" in lines
    assert "dimension check, eq (33): (3×3)·(3×2)·(2×1)·(1×5) → 3×5" in lines
    assert "**Lemma 2.6 in matrix form, eq (30)–(31)**" in lines
    assert any(line.startswith("> compact form, eq (32)") for line in lines)


def test_several_paths_in_markdown_and_latex():
    from jacobian_calc.engine.derivation import derive
    from jacobian_calc.engine.graph import Graph, apply, leaf
    X = leaf("X", np.array([[1.0, 2.0], [3.0, 4.0]]))
    d = derive(Graph(apply("matmul", X, X, name="Y")), "Y", "X")
    md, tex = d.to_markdown(), d.to_latex()
    assert "is the sum of these 2 paths" in md and md.count("**Chain rule") == 2
    assert tex.count(r"\text{Chain rule}") == 2 and r"\quad + " in tex
    check_latex(tex)
    for block in display_math(md):
        check_latex(block)


def test_derivation_json_round_trip_equals_the_library_numbers(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights)
    d = net.derivation(x, y, wrt="W2")
    data = json.loads(json.dumps(d.to_dict()))
    compact = net.gradients(x, y, method="backprop")["W2"]
    np.testing.assert_allclose(np.array(data["gradient"]), compact, rtol=1e-12)
    assert data["gradient_shape"] == [3, 5]
    np.testing.assert_allclose(np.array(data["result"]["entries"]), jc.vec(compact).T,
                               rtol=1e-12)
    # the first step is the loss row ŷ − y, the running products end at vec(∂f/∂W2)ᵀ
    np.testing.assert_allclose(data["steps"][0]["value"], [net.predict(x) - y], rtol=1e-14)
    np.testing.assert_allclose(data["steps"][-1]["value"], jc.vec(compact).T, rtol=1e-12)
    assert [s["target"] for s in data["steps"]] == [s.target for s in d.steps]
    path = data["paths"][0]
    assert [f["label"] for f in path["factors"]] == ["(ŷ − y)ᵀ", "W3", "diag(φ′(h2))",
                                                     "(z1₁I₃, …, z1₅I₃)"]
    assert [f["shape"] for f in path["factors"]] == [[1, 2], [2, 3], [3, 3], [3, 15]]
    assert path["check"] == "(1×2)·(2×3)·(3×3)·(3×15) → 1×15"
    assert data["matrix_form"]["check"] == "(3×3)·(3×2)·(2×1)·(1×5) → 3×5"
    assert data["equations"]["check"] == "(33)" and data["wrt"] == "W2"


def test_json_of_a_vector_gradient_and_non_finite_values():
    from jacobian_calc.render.data import json_values
    assert json_values(np.array([1.0, np.nan, np.inf])) == [1.0, None, None]
    assert json.loads(json.dumps(json_values(np.array([[np.nan]])), allow_nan=False)) == [[None]]
    net, x, y = mlp((3, 4, 2))
    data = json.loads(json.dumps(net.derivation(x, y, wrt="h1").to_dict()))
    np.testing.assert_allclose(data["gradient"],
                               net.jacobian(x, y, of="f", wrt="h1").toarray()[0], rtol=1e-12)
    assert data["matrix_form"] is None and data["gradient_shape"] == [4]


def test_small_entries_threshold_is_the_documented_one():
    assert SMALL_ENTRIES == 64
    assert r"\begin{bmatrix}" in matrix_latex(np.ones((8, 8)))
    assert r"\cdots" in matrix_latex(np.ones((5, 13)))  # 65 entries


# ------------------------------------------------------------------ property tests
@given(st.integers(1, 4), st.integers(2, 5), st.integers(1, 6), st.data())
def test_scalar_blocks_recover_any_kronecker_pattern(r, m, n, data):
    C = np.array(data.draw(st.lists(st.lists(st.sampled_from([0.0, 1.0, -2.5, 0.125, 3e-7]),
                                             min_size=n, max_size=n), min_size=r, max_size=r)))
    K = sp.kron(C, sp.eye(m), format="csr")
    np.testing.assert_array_equal(scalar_blocks(K, m), C)
    np.testing.assert_array_equal(scalar_blocks(K.toarray(), m), C)
    # breaking one entry of a block that is not all zero destroys the structure
    if np.any(C):
        i, j = np.argwhere(C)[data.draw(st.integers(0, np.count_nonzero(C) - 1))]
        lil = K.tolil()
        lil[i * m + m - 1, j * m + m - 1] += 1.0
        assert scalar_blocks(lil, m) is None


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,4}", fullmatch=True)


@settings(max_examples=60)
@given(names=st.lists(NAMES, min_size=6, max_size=6, unique=True),
       m=st.integers(1, 9), k=st.integers(1, 9),
       activation=st.sampled_from(sorted(jc.ACTIVATIONS)),
       loss=st.sampled_from(sorted(jc.LOSSES)), wrt=st.integers(0, 2),
       seed=st.integers(0, 2**16))
def test_any_composition_renders_valid_latex_and_exact_json(names, m, k, activation, loss,
                                                            wrt, seed):
    from jacobian_calc.engine.derivation import derive
    from jacobian_calc.engine.graph import Graph, apply, leaf
    rng = np.random.default_rng(seed)
    A, b, h, z, f, t = names
    WA = leaf(A, rng.normal(size=(m, k)), "weight")
    hb = apply("matmul", WA, leaf(b, rng.normal(size=k), "input"), name=h)
    hz = apply(activation, hb, name=z)
    graph = Graph(apply(loss, hz, leaf(t, np.eye(m)[0], "target"), name=f))
    d = derive(graph, f, (A, b, h)[wrt])
    check_latex(d.to_latex())
    for block in display_math(d.to_markdown()):
        check_latex(block)
    data = json.loads(json.dumps(d.to_dict()))
    np.testing.assert_array_equal(np.array(data["result"]["entries"]), d.result.toarray())
    np.testing.assert_array_equal(np.array(data["gradient"]), d.gradient)
    for node in (hb, hz):
        for position in range(len(node.args)):
            check_latex(graph.factor(node, position).to_latex())


def test_identity_zero_and_matrix_product_factors_render():
    from jacobian_calc.engine.graph import Graph, apply, leaf
    I = jc.Jacobian.identity("h", (70,))  # 4900 entries: diag(1, 1, 1, …, 1)
    tex = I.to_latex()
    assert tex == (r"\frac{\partial h}{\partial h} = I_{70} = \operatorname{diag}(1, 1, 1, \dots, 1)"
                   r" \qquad (70 \times 70)")
    check_latex(tex)
    Z = jc.Jacobian.zeros("f", "W", (), (3, 30))
    check_latex(Z.to_latex())
    assert Z.to_latex().startswith(r"\frac{\partial f}{\partial \operatorname{vec}(W)} = 0 = ")
    A, B = leaf("A", np.arange(6.0).reshape(3, 2)), leaf("B", np.ones((2, 40)))
    g = Graph(apply("matmul", A, B, name="C"))
    left, right = g.factor("C", 0), g.factor("C", 1)
    assert left.latex == r"B^\top\otimes I_{3}" and right.latex == r"I_{40}\otimes A"
    for J in (left, right):
        check_latex(J.to_latex())
    # ∂vec(C)/∂vec(A) = Bᵀ ⊗ I_3 is 120×6: shown as blocks of I_3, all ones here
    assert r"1\, I_{3}" in left.to_latex()


def test_every_format_reports_the_evaluation_order(rng):
    W = [rng.normal(size=s) for s in [(5, 4), (3, 5), (2, 3)]]
    d = jc.MLP(W).derivation(rng.normal(size=4), rng.normal(size=2), wrt="W1")
    (cost,) = d.to_dict()["costs"]
    # A scalar loss: tail to head keeps one row, so it is the cheapest order and beats
    # head to tail; the shapes (1×2)(2×3)(3×3)(3×5)(5×5)(5×20) give the reverse count.
    assert cost["reverse"] == 2 * 3 + 3 + 3 * 5 + 5 + 5 * 4
    assert cost["winner"] == "reverse" and cost["optimal"] == cost["reverse"] < cost["forward"]
    for text in (d.to_markdown(), d.to_latex()):
        assert f"{cost['reverse']} multiply-adds" in text
        assert f"{cost['forward']} multiply-adds" in text
    check_latex(d.to_latex())


def test_json_path_values_sum_to_the_result(rng):
    X = jc.var("X", rng.normal(size=(3, 3)))
    A = jc.var("A", rng.normal(size=(3, 3)))
    d = jc.derivation(jc.trace(A @ X @ X), X)
    data = json.loads(json.dumps(d.to_dict()))
    values = [np.asarray(p["value"]) for p in data["paths"]]
    assert len(values) == 2
    np.testing.assert_allclose(sum(values).reshape(1, -1), d.result.toarray(), rtol=1e-12)
    # and the closed form d tr(AXX)/dX = (XA + AX)ᵀ… as a row in vec order
    closed = (X.value @ A.value + A.value @ X.value).T
    np.testing.assert_allclose(d.result.toarray(), jc.vec(closed).T, rtol=1e-10)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs a TeX installation")
@pytest.mark.parametrize("argv", [
    ["lecture", "--format", "latex"],
    ["lecture", "--sizes", "2", "6", "5", "4", "3", "--activation", "relu", "--format", "latex"],
    ["expr", "logdet(X) + trace(inv(X) @ A) + sum(softmax(X @ A) * X)", "--wrt", "X",
     "--shape", "A=3x3", "--shape", "X=3x3", "--format", "latex"],
])
def test_cli_latex_compiles_with_pdflatex(argv, capsys, tmp_path):
    # latex2mathml is lenient where TeX is not (wide matrices, Unicode in \text{}):
    # where a real TeX is installed, the promised amsmath document is built for real.
    from jacobian_calc.front import cli

    cli.main(argv)
    body = capsys.readouterr().out
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n"
                   f"\\begin{{document}}\n{body}\n\\end{{document}}\n", encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
