"""jc.formula: closed forms rewritten from the literal chain, certified, printed, evaluated.

The oracles are independent of the rewriting: the literal Jacobian (jc.jacobian, jc.grad),
central differences of each expression's value computed from its text alone
(jacobian_calc.front.calculator.evaluate, the operations' forward functions), and for the
lecture network the hand-written compact formulas of lecture/backprop.py.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc import CertificateError, JacobianCalcError, ShapeError, WorkLimitError, \
    extend
from jacobian_calc.engine import formulas as engine
from jacobian_calc.engine.graph import Graph
from jacobian_calc.front.calculator import evaluate as evaluate_text
from jacobian_calc.front.parse import parse_expression, validate
from jacobian_calc.lecture import backprop
from jacobian_calc.testing import mlp_problems

pytest.importorskip("latex2mathml")
from jacobian_calc.render import check_latex  # noqa: E402


def well_conditioned(rng: np.random.Generator, n: int) -> np.ndarray:
    E = rng.standard_normal((n, n))
    return np.eye(n) + 0.5 * E / np.linalg.norm(E, 2)


@pytest.fixture
def AXB(rng):
    A = jc.var("A", rng.normal(size=(3, 4)))
    X = jc.var("X", rng.normal(size=(4, 5)))
    B = jc.var("B", rng.normal(size=(5, 3)))
    return A, X, B


# ---------------------------------------------------------------------- the value
def test_a_gradient_formula_has_the_layout_of_grad(AXB, rng):
    A, X, B = AXB
    F = jc.trace(A @ X @ B)
    f = jc.formula(F, X)
    assert isinstance(f, jc.Formula) and f.kind == "gradient"
    assert str(f) == f.text == "AᵀBᵀ" and f.variables == ("A", "B")
    values = {"A": A.value, "B": B.value}
    np.testing.assert_allclose(f.evaluate(values), jc.grad(F, X), rtol=1e-13)
    # on values it has not seen, against the textbook closed form
    A2, B2 = rng.normal(size=(3, 4)), rng.normal(size=(5, 3))
    np.testing.assert_allclose(f.evaluate({"A": A2, "B": B2}), A2.T @ B2.T, rtol=1e-13)
    # values of the composition's other variables are accepted and ignored
    np.testing.assert_array_equal(f.evaluate({"A": A2, "B": B2, "X": X.value}),
                                  f.evaluate({"A": A2, "B": B2}))


def test_a_jacobian_formula_has_the_layout_of_jacobian(AXB):
    A, X, B = AXB
    F = A @ X @ B
    f = jc.formula(F, X)
    assert f.kind == "jacobian" and str(f) == "Bᵀ ⊗ A"
    got = f.evaluate({"A": A.value, "B": B.value})
    assert got.shape == (9, 20)
    np.testing.assert_allclose(got, jc.jacobian(F, X).toarray(), rtol=1e-13)
    np.testing.assert_allclose(got, np.kron(B.value.T, A.value), rtol=1e-13)


@pytest.mark.parametrize("shape", [(), (3,), (1, 1), (3, 1)])
def test_gradients_with_respect_to_scalars_and_vectors_keep_the_variable_shape(shape, rng):
    x = jc.var("x", rng.normal(size=shape))
    A = jc.var("A", rng.normal(size=(2,) + ((shape[0],) if len(shape) else (1,))[:1]))
    F = jc.sum(jc.tanh(A @ x)) if len(shape) else jc.sum(jc.tanh(x * A))
    f = jc.formula(F, x)
    values = {n: v.value for n, v in (("x", x), ("A", A)) if n in f.variables}
    out = f.evaluate(values)
    assert out.shape == shape
    np.testing.assert_allclose(out, jc.grad(F, x), rtol=1e-12)


def test_the_derivative_of_a_variable_by_itself_and_by_an_unrelated_one(rng):
    X = jc.var("X", rng.normal(size=(2, 3)))
    Y = jc.var("Y", rng.normal(size=(2, 3)))
    f = jc.formula(X, X)
    assert f.text == "I" and np.array_equal(f.evaluate({}), np.eye(6))
    g = jc.formula(jc.sum(Y) + jc.sum(X), Y)  # a constant gradient: no variables needed
    assert g.text == "𝟏𝟏ᵀ" and g.variables == ()
    np.testing.assert_array_equal(g.evaluate({}), np.ones((2, 3)))
    h = jc.formula(jc.sum(Y), jc.var("Z", np.ones(2)))
    assert h.text == "0" and any("does not depend" in n for n in h.notes)


def test_evaluate_refuses_what_it_cannot_use(AXB):
    A, X, B = AXB
    f = jc.formula(jc.trace(A @ X @ B), X)
    with pytest.raises(JacobianCalcError, match="needs values for B"):
        f.evaluate({"A": A.value})
    with pytest.raises(JacobianCalcError, match="'Q' is not a variable of tr"):
        f.evaluate({"A": A.value, "B": B.value, "Q": 1.0})
    with pytest.raises(ShapeError, match="the value of A has shape \\(4, 3\\)"):
        f.evaluate({"A": A.value.T, "B": B.value})
    with pytest.raises(JacobianCalcError, match="a mapping"):
        f.evaluate([A.value, B.value])  # type: ignore[arg-type]


def test_named_results_stay_names_and_are_computed_from_the_variables(rng):
    W = jc.var("W", rng.normal(size=(3, 4)))
    x = jc.var("x", rng.normal(size=4))
    h = (W @ x).named("h")
    F = jc.sum(jc.tanh(h))
    f = jc.formula(F, W)
    assert f.text == "tanh′(h)xᵀ"
    assert [(s.text, d.text) for s, d in f.definitions] == [("h", "Wx")]
    assert f.variables == ("W", "x")
    W2, x2 = rng.normal(size=(3, 4)), rng.normal(size=4)
    np.testing.assert_allclose(f.evaluate({"W": W2, "x": x2}),
                               np.outer(1 - np.tanh(W2 @ x2) ** 2, x2), rtol=1e-13)
    with pytest.raises(JacobianCalcError, match="'h' is an intermediate result"):
        f.evaluate({"W": W2, "x": x2, "h": W2 @ x2})


# -------------------------------------------------------------------- the rewrites
def test_each_rewrite_is_a_step_that_names_its_identity(AXB):
    A, X, B = AXB
    f = jc.formula(jc.trace(A @ X @ B), X)
    assert [s.kind for s in f.steps] == ["rewrite"] * 3
    last = f.steps[-1]
    assert last.target.text == "∂tr(A X B)/∂X"          # the user's sub-expressions
    assert last.before.text == "vec(Ḡ)ᵀ(I ⊗ A)" and last.after.text == "vec(AᵀḠ)ᵀ"
    assert last.source.text == "∂tr(A X B)/∂(A X)" and last.value.text == "AᵀBᵀ"
    assert any("vec(AXB) = (Bᵀ ⊗ A)vec(X)" in r for r in last.rules)
    first = f.steps[0]
    assert first.before.text == "ḡ·vec(I)ᵀ" and first.value.text == "I"


def test_paths_into_one_node_are_summed_and_collected(rng):
    A = jc.var("A", rng.normal(size=(3, 3)))
    X = jc.var("X", rng.normal(size=(3, 3)))
    f = jc.formula(jc.trace(X.T @ A @ X), X)
    collect = [s for s in f.steps if s.kind == "collect"]
    assert len(collect) == 1
    assert collect[0].before.text == "AX + AᵀX" and collect[0].value.text == "(A + Aᵀ)X"
    assert collect[0].rules == ("common factor: AC + BC = (A + B)C",)
    assert str(f) == "(A + Aᵀ)X"


def test_a_matrix_function_is_rewritten_head_to_tail_in_kronecker_form(AXB):
    A, X, B = AXB
    f = jc.formula(A @ X @ B, X)
    assert [s.kind for s in f.steps] == ["chain", "chain"]
    assert f.steps[0].target.text == "∂vec(A X)/∂vec(X)" and f.steps[0].value.text == "I ⊗ A"
    assert f.steps[1].before.text == "(Bᵀ ⊗ I)(I ⊗ A)"
    assert "(A ⊗ B)(C ⊗ D) = AC ⊗ BD" in f.steps[1].rules


def test_the_lecture_network_gives_eq_26_32_38(lecture):
    weights, x, y = lecture
    net = jc.MLP(weights, activation="sigmoid", loss="squared_error")
    forms = {w: net.formula(x, y, wrt=w) for w in ("W3", "W2", "W1")}
    assert str(forms["W3"]) == "(ŷ − y)z2ᵀ"                                     # eq (26)
    assert str(forms["W2"]) == "[φ′(h2) ⊙ (W3ᵀ(ŷ − y))] z1ᵀ"                      # eq (32)
    assert str(forms["W1"]) == "[φ′(h1) ⊙ (W2ᵀ[φ′(h2) ⊙ (W3ᵀ(ŷ − y))])] xᵀ"      # eq (38)
    assert forms["W2"].latex == (r"\left[\phi'(h_{2}) \odot \left(W_{3}^\top \left(\hat{y} - y"
                                 r"\right)\right)\right] z_{1}^\top")
    assert [s.text for s, _ in forms["W2"].definitions] == ["h1", "z1", "h2", "z2", "ŷ"]
    assert forms["W2"].variables == ("W1", "x", "W2", "W3", "y")
    compact = backprop.mlp_gradients(weights, x, y, "sigmoid", "squared_error")
    values = {"W1": weights[0], "W2": weights[1], "W3": weights[2], "x": x, "y": y}
    for w, f in forms.items():
        check_latex(f.latex)
        np.testing.assert_allclose(f.evaluate(values), compact[w], rtol=1e-12)
    # the rewrites are the lecture's: eq (31) → (32) is a diagonal times a column
    rules = [r for s in forms["W2"].steps for r in s.rules]
    assert any("diag(v)u = v ⊙ u" in r for r in rules) and any("Lemma 2.6" in r for r in rules)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(problem=mlp_problems(max_depth=4, max_size=6), seed=st.integers(0, 2**32 - 1))
def test_the_rewritten_formulas_equal_the_hand_written_ones_on_random_networks(problem, seed):
    """Derived from the operations' factors alone, compared with backprop.py's formulas."""
    net = problem.network()
    rng = np.random.default_rng(seed)
    # fresh values of every variable: the formula has seen none of them
    weights = [rng.uniform(-2, 2, size=W.shape) / np.sqrt(W.shape[1]) for W in problem.weights]
    x = rng.uniform(-2, 2, size=problem.x.shape)
    y = problem.y if problem.loss == "softmax_cross_entropy" else rng.uniform(-2, 2, y_shape(problem))
    compact = backprop.mlp_gradients(weights, x, y, problem.activation, problem.loss)
    values = {f"W{k}": W for k, W in enumerate(weights, 1)} | {"x": x, "y": y}
    for name in net.weight_names:
        f = net.formula(problem.x, problem.y, wrt=name)
        assert f.certified
        got = f.evaluate({k: values[k] for k in f.variables})
        scale = max(1.0, float(np.abs(compact[name]).max()))
        np.testing.assert_allclose(got, compact[name], rtol=1e-10, atol=1e-10 * scale,
                                   err_msg=f"{name}: {f.text}")


def y_shape(problem) -> tuple[int, ...]:
    return np.shape(problem.y)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softplus", "identity"])
@pytest.mark.parametrize("loss", ["squared_error", "softmax_cross_entropy"])
def test_batches_and_biases(activation, loss, rng):
    sizes = (3, 4, 2)
    weights = [rng.normal(size=(m, n)) for n, m in zip(sizes, sizes[1:])]
    biases = [rng.normal(size=m) for m in sizes[1:]]
    X = rng.normal(size=(3, 5)) + 0.1  # relu: no pre-activation exactly at the kink
    Y = rng.dirichlet(np.ones(2), size=5).T if loss != "squared_error" else rng.normal(size=(2, 5))
    net = jc.MLP(weights, activation=activation, loss=loss, biases=biases)
    compact = backprop.mlp_gradients(weights, X, Y, activation, loss, biases)
    values = {"W1": weights[0], "W2": weights[1], "b1": biases[0], "b2": biases[1], "x": X,
              "y": Y}
    for name in net.parameter_names:
        f = net.formula(X, Y, wrt=name)
        np.testing.assert_allclose(f.evaluate({k: values[k] for k in f.variables}),
                                   compact[name], rtol=1e-10, atol=1e-12)
    assert str(net.formula(X, Y, wrt="b2")).endswith("𝟏")   # a bias sums over the columns


# ------------------------------------------------------------------- certificates
def test_a_formula_is_certified_on_fresh_instances_drawn_in_its_domain(rng):
    X = jc.var("X", well_conditioned(rng, 3))
    P = jc.var("P", rng.uniform(0.5, 2.0, size=(3, 3)))
    f = jc.formula(jc.logdet(X) + jc.sum(jc.log(P) * jc.inv(X)), X)
    cert = f.certificate
    assert f.certified and cert.ok and len(cert.instances) == engine.INSTANCES
    assert {i.how for i in cert.instances} == {"fresh random instance"}
    assert cert.worst < 1e-12 and "3 fresh random instances" in cert.describe()
    # how the instances were drawn: positive under log, well-conditioned under inv
    graph = Graph(P.node, X.node)
    for seed in range(5):
        v = engine.fresh_values(Graph(jc.log(P).node, jc.inv(X).node),
                                np.random.default_rng(seed))
        assert v["P"].min() >= 0.5 and np.linalg.cond(v["X"]) <= 3 + 1e-9
    assert set(engine.fresh_values(graph, rng)) == {"P", "X"}


def test_where_random_values_leave_the_domain_the_given_point_is_perturbed():
    x = jc.var("x", np.full(4, 10.0))
    c = jc.var("c", np.ones(4))
    f = jc.formula(jc.sum(jc.log(x - c * 3.0)), x)  # x − 3c > 0 is rare for x, c in [0.5, 2]
    assert f.certified
    assert {i.how for i in f.certificate.instances} == {"instance near the given values"}
    assert str(f) == "1 ⊘ (x − 3c)"


def wrong_rule(factor: float):
    return extend.Rewrite(factor=lambda o: extend.symbolic.scaled(
        factor, extend.symbolic.transpose(extend.symbolic.vec(o.args[0]))))


def test_a_wrong_rule_is_a_bug_report_never_an_answer(rng):
    extend.operation("frobw", lambda M: np.asarray(np.sum(M * M)),
                     [lambda M: 2 * M.reshape(1, -1, order="F")],
                     notation=r"\operatorname{frobw}($0)", shape=lambda s: (),
                     family="reductions", rewrites=[wrong_rule(3.0)])  # should be 2
    try:
        A = jc.var("A", rng.normal(size=(3, 3)))
        X = jc.var("X", rng.normal(size=(3, 2)))
        F = jc.frobw(A @ X)
        with pytest.raises(CertificateError) as info:
            jc.formula(F, X)
        message = str(info.value)
        assert "3AᵀAX" in message and "disagrees with the literal Jacobian" in message
        assert "bug in a rewriting rule" in message and "please report it" in message
        with pytest.raises(CertificateError):
            jc.derivation(F, X)
        # the literal Jacobian does not read the rule
        np.testing.assert_allclose(jc.grad(F, X), 2 * A.value.T @ A.value @ X.value)
    finally:
        extend.remove("frobw")


def test_a_wrong_kronecker_rule_is_caught_in_a_matrix_formula(rng):
    extend.operation("lmul", lambda M: 2.0 * M, [lambda M: 2.0 * np.eye(M.size)],
                     notation=r"\operatorname{lmul}($0)", family="linear",
                     rewrites=[extend.Rewrite(factor=lambda o: extend.symbolic.kron(
                         extend.symbolic.identity(o.args[0].shape[1]),
                         extend.symbolic.scaled(-2.0, extend.symbolic.identity(o.args[0].shape[0]))))])
    try:
        X = jc.var("X", rng.normal(size=(2, 3)))
        with pytest.raises(CertificateError, match="disagrees"):
            jc.formula(jc.lmul(X), X)
    finally:
        extend.remove("lmul")


def test_an_operation_without_a_rule_stays_in_chain_form_and_says_so(rng):
    extend.operation("rowsum", lambda M: M.sum(axis=1),
                     [lambda M: np.kron(np.ones((1, M.shape[1])), np.eye(M.shape[0]))],
                     notation=r"\operatorname{rowsum}($0)", shape=lambda s: (s[0],),
                     family="reductions")
    try:
        A = jc.var("A", rng.normal(size=(2, 3)))
        X = jc.var("X", rng.normal(size=(3, 4)))
        g = jc.formula(jc.sum(jc.rowsum(A @ X)), X)
        assert not g.complete and g.certified and "unvec(" in g.text
        assert any("no rewriting rule" in n and "rowsum" in n for n in g.notes)
        assert "partly in chain form" in repr(g) and "partly in chain form" in g.to_text()
        # the factor is built from its argument A X, so the formula reads X too
        assert g.variables == ("A", "X")
        np.testing.assert_allclose(g.evaluate({"A": A.value, "X": X.value}),
                                   A.value.T @ np.ones((2, 4)))
        J = jc.formula(jc.rowsum(A @ X), X)
        assert not J.complete and J.text == "(∂rowsum/∂(A X))(I ⊗ A)"
        np.testing.assert_allclose(J.evaluate({"A": A.value, "X": X.value}),
                                   jc.jacobian(jc.rowsum(A @ X), X).toarray())
    finally:
        extend.remove("rowsum")


def rowsum_with(adjoint) -> None:
    """rowsum(M) = M𝟏, whose row times factor is vec(G)ᵀ(𝟏ᵀ ⊗ I) = vec(G𝟏ᵀ)ᵀ."""
    extend.operation("rowsum", lambda M: M.sum(axis=1),
                     [lambda M: np.kron(np.ones((1, M.shape[1])), np.eye(M.shape[0]))],
                     notation=r"\operatorname{rowsum}($0)", shape=lambda s: (s[0],),
                     family="reductions",
                     rewrites=[extend.Rewrite(adjoint=adjoint, identity="vec(G)ᵀ(𝟏ᵀ ⊗ I) = "
                                                                        "vec(G𝟏ᵀ)ᵀ")])


def test_an_adjoint_rule_rewrites_the_row_directly(rng):
    S = extend.symbolic
    rowsum_with(lambda G, o: S.product(G, S.ones(1, o.args[0].shape[1])))
    try:
        A = jc.var("A", rng.normal(size=(2, 3)))
        X = jc.var("X", rng.normal(size=(3, 4)))
        f = jc.formula(jc.sum(jc.tanh(jc.rowsum(A @ X))), X)
        assert f.complete and f.certified and str(f) == "Aᵀtanh′(rowsum(AX))𝟏ᵀ"
        step = next(s for s in f.steps if s.target.text.endswith("/∂(A X)"))
        assert step.rules == ("vec(G)ᵀ(𝟏ᵀ ⊗ I) = vec(G𝟏ᵀ)ᵀ",)
        assert step.before.text == "vec(Ḡ)ᵀ(∂rowsum/∂(A X))" and step.after.text == "vec(Ḡ𝟏ᵀ)ᵀ"
        # a matrix F needs the factor itself: without one, the chain form, said so
        J = jc.formula(jc.rowsum(A @ X), X)
        assert not J.complete and any("no rewriting rule" in n for n in J.notes)
    finally:
        extend.remove("rowsum")


def test_a_wrong_or_misshaped_adjoint_rule_is_caught(rng):
    S = extend.symbolic
    A = jc.var("A", rng.normal(size=(2, 3)))
    X = jc.var("X", rng.normal(size=(3, 4)))
    rowsum_with(lambda G, o: S.scaled(2, S.product(G, S.ones(1, o.args[0].shape[1]))))
    try:
        with pytest.raises(CertificateError, match="disagrees"):
            jc.formula(jc.sum(jc.rowsum(A @ X)), X)
    finally:
        extend.remove("rowsum")
    rowsum_with(lambda G, o: G)  # shaped like the result, not like the argument
    try:
        with pytest.raises(JacobianCalcError, match="the adjoint rule of 'rowsum'"):
            jc.formula(jc.sum(jc.rowsum(A @ X)), X)
    finally:
        extend.remove("rowsum")


def test_an_added_elementwise_function_gets_its_rule(rng):
    extend.elementwise("cube", lambda v: v ** 3, lambda v: 3 * v ** 2)
    try:
        W = jc.var("W", rng.normal(size=(2, 3)))
        x = jc.var("x", rng.normal(size=3))
        f = jc.formula(jc.sum(jc.cube(W @ x)), W)
        assert f.complete and str(f) == "cube′(Wx)xᵀ"
    finally:
        extend.remove("cube")


def test_extend_checks_the_rewrites_it_is_given():
    with pytest.raises(JacobianCalcError, match="one per argument"):
        extend.operation("bad", lambda M: M, [lambda M: np.eye(M.size)], notation="b($0)",
                         rewrites=[None, None])
    with pytest.raises(JacobianCalcError, match="must be an extend.Rewrite"):
        extend.operation("bad", lambda M: M, [lambda M: np.eye(M.size)], notation="b($0)",
                         rewrites=["I"])  # type: ignore[list-item]
    assert "bad" not in jc.FUNCTIONS


def test_paths_that_collect_stay_small_and_those_that_do_not_are_refused(rng):
    X = jc.var("X", np.eye(2) + 0.1 * rng.normal(size=(2, 2)))
    A = jc.var("A", 0.5 * rng.normal(size=(2, 2)))
    Y = X
    for _ in range(7):
        Y = Y @ Y                    # X¹²⁸: 2⁷ paths, all alike
    f = jc.formula(jc.trace(Y), X)
    assert f.text == "128" + "Xᵀ" * 127
    Y = X
    for _ in range(6):
        Y = Y @ A @ Y                # 2⁶ paths of 127 factors, no two alike
    with pytest.raises(WorkLimitError, match="grows beyond 4,000 terms"):
        jc.formula(jc.trace(Y), X)
    d = jc.derivation(jc.trace(Y), X)
    assert d.formula is None and any("no compact form" in n for n in d.notes)
    assert "Compact form" not in d.to_text()


# ------------------------------------------------------------------ printed forms
def test_a_derivation_ends_in_its_compact_form_in_every_format(rng):
    A = jc.var("A", rng.normal(size=(3, 3)))
    X = jc.var("X", rng.normal(size=(3, 3)))
    d = jc.derivation(jc.trace(X.T @ A @ X), X)
    assert str(d.formula) == "(A + Aᵀ)X"
    text = d.to_text()
    tail = text.split("From the chain to the formula", 1)[1]
    assert "vec(Ḡ)ᵀK₃,₃ = vec(Ḡᵀ)ᵀ" in tail and "AX + AᵀX" in tail
    assert text.rstrip().endswith("∂tr(Xᵀ A X)/∂X = (A + Aᵀ)X")
    md = d.to_markdown()
    assert md.rstrip().endswith("= \\left(A + A^\\top\\right) X\n$$")
    for block in re.findall(r"\$\$(.*?)\$\$", md, flags=re.S) + re.findall(r"\$([^$\n]+)\$", md):
        check_latex(block)
    latex = d.to_latex()
    check_latex(latex)
    assert latex.rstrip().endswith(r"\left(A + A^\top\right) X" + "\n\\end{aligned}")
    data = json.loads(json.dumps(d.to_dict()))
    assert data["formula"]["text"] == "(A + Aᵀ)X" and data["formula"]["certified"] is True
    assert [s["kind"] for s in data["formula"]["steps"]][-1] == "collect"


def test_a_formula_prints_its_equation_definitions_and_certificate(lecture):
    weights, x, y = lecture
    f = jc.MLP(weights).formula(x, y, wrt="W2")
    text = f.to_text()
    assert text.splitlines()[0] == "∂f/∂W2 = [φ′(h2) ⊙ (W3ᵀ(ŷ − y))] z1ᵀ"
    assert "where h1 = W1 x, z1 = φ(h1), h2 = W2 z1, z2 = φ(h2), ŷ = W3 z2" in text
    assert "certified: equal to the literal Jacobian on 3 fresh random instances" in text
    assert repr(f).startswith("<Formula ∂f/∂W2 = [φ′(h2)") and repr(f).endswith("(certified)>")
    check_latex(f.to_latex())
    assert f.to_latex().startswith("\\begin{aligned}\n&\\frac{\\partial f}{\\partial W_{2}}")
    data = f.to_dict()
    assert data["equation"]["text"] == text.splitlines()[0]
    assert [d["name"] for d in data["definitions"]] == ["h1", "z1", "h2", "z2", "yhat"]
    json.dumps(data, allow_nan=False)


# ------------------------------------------------- random compositions (property)
N = 2
MATRIX_LEAVES = ("A", "B", "X")


@st.composite
def matrix_text(draw, depth: int) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(MATRIX_LEAVES + ("inv(X)",)))
    a = draw(matrix_text(depth - 1))
    form = draw(st.sampled_from(["@", "+", "-", ".T", "2*", "*", "sigmoid", "tanh", "**2",
                                 "outer", "scalar"]))
    if form in ("@", "+", "-", "*"):
        return f"({a} {form} {draw(matrix_text(depth - 1))})"
    if form == ".T":
        return f"({a}).T"
    if form == "2*":
        return f"(2 * {a})"
    if form == "**2":
        return f"({a} ** 2)"
    if form == "outer":
        v = draw(vector_text(depth - 1))
        return f"({v} @ ({v}).T)"
    if form == "scalar":
        return f"({draw(scalar_text(depth - 1))} * {a})"
    return f"{form}({a})"


@st.composite
def vector_text(draw, depth: int) -> str:
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return "x"
    form = draw(st.sampled_from(["matvec", "sigmoid", "+", "*", "softmax"]))
    v = draw(vector_text(depth - 1))
    if form == "matvec":
        return f"({draw(matrix_text(depth - 1))} @ {v})"
    if form in ("+", "*"):
        return f"({v} {form} {draw(vector_text(depth - 1))})"
    return f"{form}({v})"


@st.composite
def scalar_text(draw, depth: int) -> str:
    form = draw(st.sampled_from(["trace", "sum", "sumv", "det", "logdet", "squared"]))
    if form in ("det", "logdet"):
        return f"{form}(X)"
    if form == "sumv":
        return f"sum({draw(vector_text(depth))})"
    if form == "squared":
        return f"squared_error({draw(vector_text(depth))}, {draw(vector_text(depth))})"
    return f"{form}({draw(matrix_text(depth))})"


def _values(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"A": rng.normal(size=(N, N)), "B": rng.normal(size=(N, N)),
            "X": well_conditioned(rng, N), "x": rng.normal(size=N)}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_formula_equals_the_literal_jacobian_and_finite_differences_on_fresh_values(data, seed):
    kind = data.draw(st.sampled_from(["scalar", "matrix", "vector"]), label="kind")
    text = data.draw({"scalar": scalar_text(3), "matrix": matrix_text(2),
                      "vector": vector_text(2)}[kind], label="F")
    names = sorted({n for n in ("A", "B", "X", "x") if re.search(rf"\b{n}\b", text)})
    wrt = data.draw(st.sampled_from(names), label="wrt")
    rng = np.random.default_rng(seed)
    built = _values(rng)
    env = {n: jc.var(n, v) for n, v in built.items()}
    F = parse_expression(text, env)
    f = jc.formula(F, env[wrt])
    assert f.certified
    # fresh values, drawn here: X stays well-conditioned, everything else normal
    fresh = _values(rng)
    got = f.evaluate({k: fresh[k] for k in f.variables})
    tree = validate(text, list(fresh))

    def value_at(v: np.ndarray) -> np.ndarray:
        return evaluate_text(tree, {**fresh, wrt: v})

    fd = jc.finite_difference_jacobian(value_at, fresh[wrt])
    rebuilt = parse_expression(text, {n: jc.var(n, v) for n, v in fresh.items()})
    literal = jc.jacobian(rebuilt, rebuilt_var(rebuilt, wrt)).toarray()
    flat = got.reshape(1, -1, order="F") if f.kind == "gradient" else got
    scale = max(1.0, float(np.abs(literal).max(initial=0.0)))
    np.testing.assert_allclose(flat, literal, rtol=1e-9, atol=1e-9 * scale,
                               err_msg=f"{text} by {wrt}: {f.text}")
    np.testing.assert_allclose(flat, fd, rtol=1e-5, atol=1e-5 * scale,
                               err_msg=f"{text} by {wrt}: {f.text}")


def rebuilt_var(F: jc.Expr, name: str) -> jc.Expr:
    """The variable called ``name`` in the composition of F (the one F was built from)."""
    from jacobian_calc.front.expr import Expr

    for node in Graph(F.node).nodes:
        if node.op is None and node.name == name:
            return Expr(node)
    raise AssertionError(f"{name} is not in {F.text}")  # pragma: no cover
