"""Matrix expressions (jacobian_calc.core.symbolic): written forms, values, every simplifier
rule and every identity of the literal chain, each checked against the numbers it rewrites.

The oracle is numpy: an expression's value is computed by ``evaluate`` before and after a
rewrite, and a rewritten chain vec(R)ᵀ is compared with vec(G)ᵀ·F multiplied out with
the factor F built in numpy (np.kron, np.diag, the permutation K) — independently of
``pull``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacobian_calc import JacobianCalcError, ShapeError
from jacobian_calc.core import symbolic as S
from jacobian_calc.core.notation import Form, Template

pytest.importorskip("latex2mathml")
from jacobian_calc.render import check_latex  # noqa: E402

N = 3


def sym(name: str, shape=(N, N)) -> S.Symbol:
    return S.symbol(name, shape)


A, B, C, X = sym("A"), sym("B"), sym("C"), sym("X")


def values(rng: np.random.Generator, **shapes) -> dict[str, np.ndarray]:
    out = {n: rng.standard_normal(s) for n, s in shapes.items()}
    return out


def square_values(rng: np.random.Generator) -> dict[str, np.ndarray]:
    v = {n: rng.standard_normal((N, N)) for n in "ABCG"}
    E = rng.standard_normal((N, N))
    v["X"] = np.eye(N) + 0.5 * E / np.linalg.norm(E, 2)  # invertible, condition ≤ 3
    return v


def same_value(a: S.MatExpr, b: S.MatExpr, vals: dict, rtol: float = 1e-12) -> None:
    va, vb = S.evaluate(a, vals), S.evaluate(b, vals)
    scale = max(1.0, float(np.max(np.abs(va), initial=0.0)))
    np.testing.assert_allclose(va, vb, rtol=rtol, atol=rtol * scale,
                               err_msg=f"{a.text} ≠ {b.text}")


# ------------------------------------------------------------------ written forms
def dphi(h: S.MatExpr) -> S.Call:
    return S.call("dphi", np.tanh, r"\phi'($0)", h)


@pytest.mark.parametrize("build, text", [
    (lambda: S.product(S.transpose(A), S.transpose(B)), "AᵀBᵀ"),
    (lambda: S.product(S.add(A, S.transpose(A)), X), "(A + Aᵀ)X"),
    (lambda: S.neg(S.product(S.transpose(S.inverse(X)), S.transpose(A),
                             S.transpose(S.inverse(X)))), "−X⁻ᵀAᵀX⁻ᵀ"),
    (lambda: S.kron(S.transpose(B), A), "Bᵀ ⊗ A"),
    (lambda: S.neg(S.kron(S.transpose(S.inverse(X)), S.inverse(X))), "−X⁻ᵀ ⊗ X⁻¹"),
    (lambda: S.add(S.kron(S.identity(N), X), S.kron(S.transpose(X), S.identity(N))),
     "I ⊗ X + Xᵀ ⊗ I"),
    (lambda: S.commutation(3, 4), "K₃,₄"),
    (lambda: S.scalar_times(S.call("det", np.linalg.det, r"\det($0)", X, shape=()),
                            S.transpose(S.inverse(X))), "det(X)X⁻ᵀ"),
    (lambda: S.product(S.hadamard(dphi(sym("h2", (3,))),
                                  S.product(S.transpose(sym("W3", (2, 3))),
                                            S.add(sym("yhat", (2,)), S.neg(sym("y", (2,)))))),
                       S.transpose(sym("z1", (5,)))), "[φ′(h2) ⊙ (W3ᵀ(ŷ − y))] z1ᵀ"),
    (lambda: S.product(sym("W3", (2, 3)), sym("z2", (3,))), "W3 z2"),
    (lambda: S.scaled(2, X), "2X"),
    (lambda: S.scaled(0.5, S.add(A, B)), "0.5(A + B)"),
    (lambda: S.scaled(1 / 3, S.ones(N, N)), "(1/3)𝟏𝟏ᵀ"),     # a simple fraction, exactly
    (lambda: S.add(A, S.scaled(-2 / 7, B)), "A − (2/7)B"),
    (lambda: S.scaled(0.1, A), "0.1A"),                        # a decimal that reads back
    (lambda: S.add(A, S.scaled(-2, B)), "A − 2B"),
    (lambda: S.add(A, S.neg(S.add(B, C))), "A − (B + C)"),
    (lambda: S.product(S.ones(N, 1), S.transpose(S.ones(N, 1))), "𝟏𝟏ᵀ"),
    (lambda: S.ones(N, N), "𝟏𝟏ᵀ"),
    (lambda: S.diag(S.vec(A)), "diag(vec(A))"),
    (lambda: S.trace(S.product(S.transpose(A), B)), "tr(AᵀB)"),
    (lambda: S.unvec(S.vec(A), (N, N)), "unvec(vec(A))"),
    (lambda: S.kron(S.add(A, B), S.product(C, X)), "(A + B) ⊗ CX"),
    (lambda: S.hadamard(S.product(A, B), C), "(AB) ⊙ C"),
])
def test_expressions_are_written_as_on_paper(build, text):
    e = build()
    assert e.text == text and str(e) == text
    check_latex(e.latex)
    assert "\\" not in e.text


def test_latex_of_the_lecture_form():
    e = S.product(S.hadamard(dphi(sym("h2", (3,))), sym("g", (3,))), S.transpose(sym("z1", (5,))))
    assert e.latex == r"\left[\phi'(h_{2}) \odot g\right] z_{1}^\top"


# ------------------------------------------------------------------------- values
def test_evaluate_matches_numpy(rng):
    v = square_values(rng)
    e = S.add(S.product(S.transpose(A), S.inverse(X), B),
              S.scaled(-2.0, S.hadamard(A, C)),
              S.scalar_times(S.trace(A), S.kron(S.identity(1), B)))
    A_, B_, C_, X_ = (v[k] for k in "ABCX")
    want = A_.T @ np.linalg.inv(X_) @ B_ - 2 * A_ * C_ + np.trace(A_) * B_
    np.testing.assert_allclose(S.evaluate(e, v), want, rtol=1e-12)
    K = S.evaluate(S.commutation(2, 3), {})
    M = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(K @ M.reshape(-1, 1, order="F"), M.T.reshape(-1, 1, order="F"))


def test_a_vector_and_a_scalar_are_read_as_the_matrices_they_stand_for():
    x, c = S.symbol("x", (3,)), S.symbol("c", ())
    assert x.shape == (3, 1) and c.shape == (1, 1)
    out = S.evaluate(S.scalar_times(c, S.product(S.transpose(x), x)), {"x": [1.0, 2.0, 2.0],
                                                                       "c": 2.0})
    assert out.shape == (1, 1) and out[0, 0] == 18.0


def test_a_call_gets_its_arguments_in_the_shapes_its_function_takes():
    seen = []

    def f(v):
        seen.append(v.shape)
        return v * 2

    x = S.symbol("x", (3,))
    e = S.call("f", f, "f($0)", x, lib_shapes=[(3,)], shape=(3,))
    np.testing.assert_array_equal(S.evaluate(e, {"x": np.arange(3.0)}), [[0.0], [2.0], [4.0]])
    assert seen == [(3,)]


def test_shared_subexpressions_are_evaluated_once():
    calls = []

    def f(v):
        calls.append(1)
        return v

    inner = S.call("f", f, "f($0)", A)
    S.evaluate(S.add(inner, S.product(inner, inner)), {"A": np.eye(N)})
    assert len(calls) == 1


def test_evaluate_reports_missing_and_misshaped_values():
    with pytest.raises(JacobianCalcError, match="no value for A"):
        S.evaluate(S.product(A, B), {"B": np.eye(N)})
    with pytest.raises(ShapeError, match="the value of A has shape"):
        S.evaluate(A, {"A": np.eye(2)})


@pytest.mark.parametrize("build, match", [
    (lambda: S.product(A, sym("v", (2,))), "does not conform"),
    (lambda: S.add(A, sym("v", (3,))), "adds"),
    (lambda: S.hadamard(A, sym("R", (3, 2))), "equal shapes"),
    (lambda: S.inverse(sym("R", (3, 2))), "square"),
    (lambda: S.trace(sym("R", (3, 2))), "square"),
    (lambda: S.diag(A), "column"),
    (lambda: S.unvec(A, (9, 1)), "column"),
    (lambda: S.scalar_times(A, B), "1×1"),
    (lambda: S.call("f", np.sin, "f($0)", A, lib_shapes=[(2,)]), "takes shape"),
])
def test_shapes_that_do_not_fit_are_refused(build, match):
    with pytest.raises(ShapeError, match=match):
        build()


def test_expressions_are_immutable_and_compared_by_structure():
    e = S.product(A, B)
    with pytest.raises(AttributeError):
        e.shape = (1, 1)  # type: ignore[misc]
    assert e == S.product(sym("A"), sym("B")) and hash(e) == hash(S.product(A, B))
    assert e != S.product(B, A)
    assert len({e, S.product(A, B), S.product(B, A)}) == 2


def test_symbols_and_node_counts():
    e = S.add(S.product(A, X), S.product(S.transpose(A), X))
    assert [s.name for s in S.symbols(e)] == ["A", "X"]
    assert S.count_nodes(e) == 8


# --------------------------------------------------------------- simplifier rules
def _det(x: S.MatExpr) -> S.Call:
    return S.call("det", np.linalg.det, r"\det($0)", x, shape=())


def _kron_pair():
    return S.product(S.kron(S.transpose(B), S.identity(N)), S.kron(S.identity(N), A))


#: One expression per named rule that the rule rewrites (the name must be logged).
RULE_CASES = {
    "(Aᵀ)ᵀ = A": lambda: S.transpose(S.transpose(A)),
    "(AB)ᵀ = BᵀAᵀ": lambda: S.transpose(S.product(A, B)),
    "(A + B)ᵀ = Aᵀ + Bᵀ": lambda: S.transpose(S.add(A, B)),
    "(cA)ᵀ = cAᵀ": lambda: S.transpose(S.scaled(3, A)),
    "(A ⊙ B)ᵀ = Aᵀ ⊙ Bᵀ, (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ": lambda: S.transpose(S.kron(A, B)),
    "a symmetric matrix (I, diag(v), a scalar) is its own transpose":
        lambda: S.transpose(S.diag(S.vec(A))),
    "the transpose of K(m,n) is K(n,m)": lambda: S.transpose(S.commutation(2, 3)),
    "a symmetric S (MMᵀ, S + Sᵀ, …) has S⁻ᵀ = S⁻¹":
        lambda: S.transpose(S.inverse(S.product(X, S.transpose(X)))),
    "(X⁻¹)⁻¹ = X": lambda: S.inverse(S.inverse(X)),
    "(Xᵀ)⁻¹ = X⁻ᵀ": lambda: S.inverse(S.transpose(X)),
    "I⁻¹ = I, (cX)⁻¹ = c⁻¹X⁻¹": lambda: S.inverse(S.scaled(2, X)),
    "0·A = 0": lambda: S.product(A, S.zero(N, N)),
    "scalars move out of products: A(cB) = c(AB)": lambda: S.product(A, S.scaled(2, B)),
    "IA = A": lambda: S.product(S.identity(N), A),
    "XX⁻¹ = I": lambda: S.product(A, X, S.inverse(X)),
    "(A ⊗ B)(C ⊗ D) = AC ⊗ BD": _kron_pair,
    "diag(v)u = v ⊙ u": lambda: S.product(S.diag(S.vec(sym("v", (N,)))), sym("u", (N,))),
    "vec(A)ᵀvec(B) = tr(AᵀB)": lambda: S.product(S.transpose(S.vec(A)), S.vec(B)),
    "distributivity: K(A + B) = KA + KB":
        lambda: S.product(S.kron(A, B), S.add(S.kron(C, X), S.identity(N * N))),
    "A + 0 = A": lambda: S.add(A, S.zero(N, N)),
    "like terms collected: cA + dA = (c + d)A": lambda: S.add(A, S.scaled(2, A)),
    "common factor: AC + BC = (A + B)C":
        lambda: S.add(S.product(A, X), S.product(S.transpose(A), X)),
    "common Kronecker factor: A ⊗ C + B ⊗ C = (A + B) ⊗ C":
        lambda: S.add(S.kron(A, C), S.kron(B, C)),
    "1·A = A, c(dA) = (cd)A": lambda: S.scaled(2, S.scaled(3, A)),
    "𝟏 ⊙ A = A, (cA) ⊙ B = c(A ⊙ B)": lambda: S.hadamard(S.ones(N, N), A),
    "a ⊙ b = ab for 1×1 a, b (s ⊙ I₁ = s)": lambda: S.hadamard(S.trace(A), S.identity(1)),
    "I ⊗ I = I, c ⊗ A = cA, (cA) ⊗ B = c(A ⊗ B)":
        lambda: S.kron(S.identity(2), S.identity(3)),
    "diag(𝟏) = I": lambda: S.diag(S.ones(N, 1)),
    "vec(v) = v, vec(xᵀ) = x": lambda: S.vec(S.transpose(sym("x", (N,)))),
    "unvec(vec(A)) = A": lambda: S.unvec(S.vec(A), (N, N)),
    "tr(s) = s for a scalar s": lambda: S.trace(S.product(S.transpose(sym("x", (N,))),
                                                           sym("y", (N,)))),
}


def test_every_named_rule_has_a_case():
    named = {r.name for r in S.RULES if r.name}
    assert named == set(RULE_CASES), named ^ set(RULE_CASES)


@pytest.mark.parametrize("name", sorted(RULE_CASES))
def test_each_rule_fires_and_keeps_the_value(name, rng):
    before = RULE_CASES[name]()
    log: list[str] = []
    after = S.simplify(before, log)
    assert name in log, (before.text, after.text, log)
    assert after != before
    vals = square_values(rng)
    for extra in ("v", "u", "x", "y"):
        vals[extra] = rng.standard_normal(N)
    same_value(before, after, vals)


@pytest.mark.parametrize("before, after", [
    (lambda: S.add(S.product(A, X), S.product(S.transpose(A), X)), "(A + Aᵀ)X"),
    (lambda: S.add(S.product(X, S.transpose(A)), S.product(X, A)), "X(A + Aᵀ)"),
    (_kron_pair, "Bᵀ ⊗ A"),
    (lambda: S.add(S.kron(S.transpose(X), S.identity(N)), S.kron(S.identity(N), X)),
     "I ⊗ X + Xᵀ ⊗ I"),
    (lambda: S.add(A, S.neg(A)), "0"),
    (lambda: S.add(S.product(A, B), S.product(A, B), S.product(A, B)), "3AB"),
    (lambda: S.transpose(S.product(S.transpose(X), A)), "AᵀX"),
    (lambda: S.neg(S.product(S.transpose(S.inverse(X)), S.identity(N), S.neg(A))), "X⁻ᵀA"),
    # a 1×1 s under ⊙ with I₁ is s: 2(tr(X) ⊙ I)I is 2tr(X)I
    (lambda: S.scaled(2, S.scalar_times(S.hadamard(S.trace(X), S.identity(1)), S.identity(N))),
     "2tr(X)I"),
    # s·s⁻¹ = 1 for a 1×1 s: (det(X)[det(X)⁻¹ ⊙ I])X⁻ᵀ is X⁻ᵀ
    (lambda: S.scalar_times(S.product(_det(X), S.hadamard(S.inverse(_det(X)), S.identity(1))),
                            S.transpose(S.inverse(X))), "X⁻ᵀ"),
    # (XXᵀ)ᵀ = XXᵀ, so (XXᵀ)⁻ᵀ = (XXᵀ)⁻¹, and the equal terms are collected
    (lambda: S.add(S.product(S.inverse(S.product(X, S.transpose(X))), A),
                   S.product(S.transpose(S.inverse(S.product(X, S.transpose(X)))), A)),
     "2(XXᵀ)⁻¹A"),
    (lambda: S.transpose(S.inverse(S.add(A, S.transpose(A)))), "(A + Aᵀ)⁻¹"),
    (lambda: S.transpose(S.inverse(S.product(S.transpose(A), X, A))), "(AᵀXA)⁻ᵀ"),
    (lambda: S.transpose(S.inverse(S.product(S.transpose(A), X, S.transpose(X), A))),
     "(AᵀXXᵀA)⁻¹"),
])
def test_simplified_forms(before, after, rng):
    e = before()
    out = S.simplify(e)
    assert out.text == after
    same_value(e, out, square_values(rng))
    assert S.simplify(out) == out  # a fixed point


# ------------------------------------------------------- random expressions (property)
leaves = st.sampled_from([A, B, C, X, S.identity(N), S.ones(N, N), S.zero(N, N)])


def _grow(children: st.SearchStrategy) -> st.SearchStrategy:
    pair = st.tuples(children, children)
    return st.one_of(
        children.map(S.transpose),
        children.map(S.neg),
        st.tuples(st.sampled_from([2.0, -0.5, 1.0, 0.0]), children).map(lambda t: S.scaled(*t)),
        pair.map(lambda p: S.product(*p)),
        pair.map(lambda p: S.add(*p)),
        pair.map(lambda p: S.hadamard(*p)),
        # inverses of X only: any other expression may be singular
        st.sampled_from([S.inverse(X), S.transpose(S.inverse(X)), S.inverse(S.transpose(X))]),
        pair.map(lambda p: S.scalar_times(S.trace(p[0]), p[1])),
        children.map(lambda e: S.unvec(S.vec(e), (N, N))),
    )


expressions = st.recursive(leaves, _grow, max_leaves=12)


@settings(max_examples=150)
@given(e=expressions, seed=st.integers(0, 2**32 - 1))
def test_simplify_keeps_the_value_of_any_expression(e, seed):
    rng = np.random.default_rng(seed)
    vals = square_values(rng)
    out = S.simplify(e)
    va, vb = S.evaluate(e, vals), S.evaluate(out, vals)
    # products of up to 12 standard-normal factors: compare against their magnitude
    scale = max(1.0, float(np.max(np.abs(va))), float(np.max(np.abs(vb))))
    np.testing.assert_allclose(va, vb, rtol=1e-9, atol=1e-9 * scale,
                               err_msg=f"{e.text} → {out.text}")
    assert S.simplify(out) == out, (e.text, out.text, S.simplify(out).text)


kron_leaves = st.sampled_from([A, B, C, X, S.identity(N)])
krons = st.tuples(kron_leaves, kron_leaves).map(lambda p: S.kron(*p))


def _kron_grow(children: st.SearchStrategy) -> st.SearchStrategy:
    pair = st.tuples(children, children)
    return st.one_of(pair.map(lambda p: S.product(*p)), pair.map(lambda p: S.add(*p)),
                     children.map(S.transpose), children.map(S.neg))


@settings(max_examples=100)
@given(e=st.recursive(krons, _kron_grow, max_leaves=6), seed=st.integers(0, 2**32 - 1))
def test_simplify_keeps_the_value_of_kronecker_expressions(e, seed):
    vals = square_values(np.random.default_rng(seed))
    out = S.simplify(e)
    va, vb = S.evaluate(e, vals), S.evaluate(out, vals)
    scale = max(1.0, float(np.max(np.abs(va))))
    np.testing.assert_allclose(va, vb, rtol=1e-9, atol=1e-9 * scale,
                               err_msg=f"{e.text} → {out.text}")


# ------------------------------------------------- the literal chain, link by link
def vec(M: np.ndarray) -> np.ndarray:
    return M.reshape(-1, 1, order="F")


def check_pull(G: S.MatExpr, F: S.MatExpr, shape, vals: dict, identity: str) -> S.MatExpr:
    log: list[str] = []
    R = S.pull(G, F, shape, log)
    assert R.shape == tuple(shape)
    assert any(identity in entry for entry in log), log
    row = vec(S.evaluate(G, vals)).T @ S.evaluate(F, vals)  # vec(G)ᵀ F, multiplied out
    np.testing.assert_allclose(vec(S.evaluate(R, vals)).T, row, rtol=1e-12, atol=1e-12,
                               err_msg=f"vec({G.text})ᵀ({F.text}) ≠ vec({R.text})ᵀ")
    return S.simplify(R)


def test_pull_kronecker(rng):
    P, Q = sym("P", (4, 2)), sym("Q", (3, 5))
    G = sym("G", (3, 4))
    vals = values(rng, P=(4, 2), Q=(3, 5), G=(3, 4))
    R = check_pull(G, S.kron(P, Q), (5, 2), vals, "vec(G)ᵀ(P ⊗ Q) = vec(QᵀGP)ᵀ")
    assert R.text == "QᵀGP"


def test_pull_lemma_2_6(rng):
    x, g = sym("x", (4,)), sym("g", (3,))
    vals = values(rng, x=(4,), g=(3,))
    R = check_pull(g, S.kron(S.transpose(x), S.identity(3)), (3, 4), vals, "Lemma 2.6")
    assert R.text == "gxᵀ"


def test_pull_diagonal_commutation_and_dense(rng):
    G, V = sym("G", (2, 3)), sym("V", (2, 3))
    vals = values(rng, G=(2, 3), V=(2, 3), W=(2, 4), g=(2,), M=(2, 3))
    R = check_pull(G, S.diag(S.vec(V)), (2, 3), vals, "diag(v)u = v ⊙ u")
    assert R.text == "V ⊙ G"
    R = check_pull(S.transpose(G), S.commutation(2, 3), (2, 3), vals, "vec(G)ᵀK")
    assert R.text == "G"
    R = check_pull(sym("g", (2,)), sym("W", (2, 4)), (4, 1), vals, "gᵀM = (Mᵀg)ᵀ")
    assert R.text == "Wᵀg"


def test_pull_rows_and_columns_of_scalars(rng):
    M, c = sym("M", (2, 3)), sym("c", ())
    vals = values(rng, M=(2, 3), c=(), G=(2, 3))
    R = check_pull(c, S.transpose(S.vec(M)), (2, 3), vals, "g·vec(M)ᵀ = vec(gM)ᵀ")
    assert R.text == "cM"
    R = check_pull(sym("G", (2, 3)), S.vec(M), (1, 1), vals, "vec(G)ᵀvec(A) = tr(GᵀA)")
    assert R.text == "tr(GᵀM)"


def test_pull_sums_products_and_scalars_link_by_link(rng):
    s, g = sym("s", (3,)), sym("g", (3,))
    softmax_factor = S.add(S.diag(s), S.neg(S.product(s, S.transpose(s))))
    vals = values(rng, s=(3,), g=(3,), A=(3, 3), X=(3, 3), G=(3, 3))
    R = check_pull(g, softmax_factor, (3, 1), vals, "diag(v)u = v ⊙ u")
    assert R.text == "s ⊙ g − (gᵀs)s"
    F = S.scaled(-1.0, S.kron(S.transpose(S.inverse(X)), S.inverse(X)))
    vals["X"] = np.eye(3) + 0.2 * vals["X"] / np.linalg.norm(vals["X"], 2)
    R = check_pull(sym("G"), F, (3, 3), vals, "vec(G)ᵀ(P ⊗ Q)")
    assert R.text == "−X⁻ᵀGX⁻ᵀ"


def test_a_factor_no_identity_reads_stays_in_chain_form(rng):
    J = rng.standard_normal((6, 4))
    F = S.Factor(Form("J", "J"), (), lambda: J, (6, 4))
    G = sym("G", (2, 3))
    vals = values(rng, G=(2, 3))
    R = check_pull(G, F, (2, 2), vals, "no identity applies")
    assert R.text == "unvec(Jᵀvec(G))"


def test_a_shape_mismatch_in_the_chain_is_refused():
    with pytest.raises(ShapeError, match="has 9 entries but the factor"):
        S.pull(A, S.identity(4))


def test_template_call_fields():
    e = S.call("power", lambda v: v ** 3, Template("$0^{$p}"), A, fields={"p": Form("3", "3")},
               precedence=S.POSTFIX)
    assert e.text == "A³"
    assert S.call("power", lambda v: v ** 3, Template("$0^{$p}"), S.product(A, B),
                  fields={"p": Form("3", "3")}, precedence=S.POSTFIX).text == "(AB)³"
