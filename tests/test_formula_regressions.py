"""Formulas other tools got wrong, and the classic identities, with their right answers.

SymPy has returned wrong matrix derivatives without a warning: d tr(X²B)/dX, d tr(XA)/dX
given as 3Aᵀ, a sum of traces differentiated to 0. Each case here is checked three ways,
none of which reads the rewriting rules:

* the printed form is the one written below (the issue's examples, the matrix cookbook's
  trace, determinant, inverse and quadratic-form identities);
* on fresh values the formula equals central differences of the function written in
  plain numpy (``jc.finite_difference_jacobian``);
* and equals the textbook closed form, also written in numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import jacobian_calc as jc

pytest.importorskip("latex2mathml")
from jacobian_calc.render import check_latex  # noqa: E402

n = 3
inv, det, tr = np.linalg.inv, np.linalg.det, np.trace


def well_conditioned(rng: np.random.Generator) -> np.ndarray:
    E = rng.standard_normal((n, n))
    return np.eye(n) + 0.5 * E / np.linalg.norm(E, 2)


def draw(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Values of every variable the cases use (X well-conditioned, as inv and det need)."""
    return {"A": rng.standard_normal((n, n)), "B": rng.standard_normal((n, n)),
            "X": well_conditioned(rng), "a": rng.standard_normal(n),
            "b": rng.standard_normal(n), "x": rng.standard_normal(n),
            "R": rng.standard_normal((n, 4)), "C": rng.standard_normal((4, 2)),
            "W": rng.standard_normal((2, n)), "y": rng.standard_normal(2),
            "P": 0.5 + np.abs(rng.standard_normal((n, n)))}


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[dict], tuple[jc.Expr, jc.Expr]]  # variables → (F, X)
    wrt: str
    printed: str
    numpy: Callable[..., np.ndarray]                   # F in plain numpy, of the values
    closed: Callable[..., np.ndarray]                  # the textbook answer, in numpy


CASES = [
    # ------------------------------------------------------------------ SymPy's
    Case("tr(X²B) (SymPy: wrong)", lambda v: (jc.trace(v["X"] @ v["X"] @ v["B"]), v["X"]), "X",
         "BᵀXᵀ + XᵀBᵀ", lambda X, B, **_: tr(X @ X @ B), lambda X, B, **_: (X @ B + B @ X).T),
    Case("tr(XA) (SymPy: 3Aᵀ)", lambda v: (jc.trace(v["X"] @ v["A"]), v["X"]), "X",
         "Aᵀ", lambda X, A, **_: tr(X @ A), lambda A, **_: A.T),
    Case("tr(AX) + tr(BX) (SymPy: 0)",
         lambda v: (jc.trace(v["A"] @ v["X"]) + jc.trace(v["B"] @ v["X"]), v["X"]), "X",
         "Aᵀ + Bᵀ", lambda X, A, B, **_: tr(A @ X) + tr(B @ X), lambda A, B, **_: A.T + B.T),
    # ----------------------------------------------------------------- traces
    Case("tr(X)", lambda v: (jc.trace(v["X"]), v["X"]), "X", "I",
         lambda X, **_: tr(X), lambda **_: np.eye(n)),
    Case("tr(AXB), X rectangular", lambda v: (jc.trace(v["W"] @ v["R"] @ v["C"]), v["R"]),
         "R", "WᵀCᵀ", lambda W, R, C, **_: tr(W @ R @ C), lambda W, C, **_: W.T @ C.T),
    Case("tr(AXᵀB)", lambda v: (jc.trace(v["A"] @ v["X"].T @ v["B"]), v["X"]), "X", "BA",
         lambda A, X, B, **_: tr(A @ X.T @ B), lambda A, B, **_: B @ A),
    Case("tr(XᵀA)", lambda v: (jc.trace(v["X"].T @ v["A"]), v["X"]), "X", "A",
         lambda X, A, **_: tr(X.T @ A), lambda A, **_: A),
    Case("tr(XᵀAX)", lambda v: (jc.trace(v["X"].T @ v["A"] @ v["X"]), v["X"]), "X",
         "(A + Aᵀ)X", lambda X, A, **_: tr(X.T @ A @ X), lambda X, A, **_: (A + A.T) @ X),
    Case("tr(XAXᵀ)", lambda v: (jc.trace(v["X"] @ v["A"] @ v["X"].T), v["X"]), "X",
         "X(A + Aᵀ)", lambda X, A, **_: tr(X @ A @ X.T), lambda X, A, **_: X @ (A + A.T)),
    Case("tr(XᵀX)", lambda v: (jc.trace(v["X"].T @ v["X"]), v["X"]), "X", "2X",
         lambda X, **_: tr(X.T @ X), lambda X, **_: 2 * X),
    Case("tr(X²)", lambda v: (jc.trace(v["X"] @ v["X"]), v["X"]), "X", "2Xᵀ",
         lambda X, **_: tr(X @ X), lambda X, **_: 2 * X.T),
    # --------------------------------------------------------------- inverses
    Case("tr(AX⁻¹)", lambda v: (jc.trace(v["A"] @ jc.inv(v["X"])), v["X"]), "X",
         "−X⁻ᵀAᵀX⁻ᵀ", lambda A, X, **_: tr(A @ inv(X)),
         lambda A, X, **_: -inv(X).T @ A.T @ inv(X).T),
    Case("tr(AX⁻¹B)", lambda v: (jc.trace(v["A"] @ jc.inv(v["X"]) @ v["B"]), v["X"]), "X",
         "−X⁻ᵀAᵀBᵀX⁻ᵀ", lambda A, X, B, **_: tr(A @ inv(X) @ B),
         lambda A, X, B, **_: -(inv(X) @ B @ A @ inv(X)).T),
    Case("tr(X⁻¹)", lambda v: (jc.trace(jc.inv(v["X"])), v["X"]), "X", "−X⁻ᵀX⁻ᵀ",
         lambda X, **_: tr(inv(X)), lambda X, **_: -(inv(X) @ inv(X)).T),
    # ------------------------------------------------------------ determinants
    Case("det(X)", lambda v: (jc.det(v["X"]), v["X"]), "X", "det(X)X⁻ᵀ",
         lambda X, **_: det(X), lambda X, **_: det(X) * inv(X).T),
    Case("log|det X|", lambda v: (jc.logdet(v["X"]), v["X"]), "X", "X⁻ᵀ",
         lambda X, **_: np.log(abs(det(X))), lambda X, **_: inv(X).T),
    Case("det(AXB)", lambda v: (jc.det(v["A"] @ v["X"] @ v["B"]), v["X"]), "X",
         "det(AXB)Aᵀ(AXB)⁻ᵀBᵀ", lambda A, X, B, **_: det(A @ X @ B),
         lambda A, X, B, **_: det(A @ X @ B) * inv(X).T),
    Case("log det(X) (through log of det)", lambda v: (jc.log(jc.det(v["X"])), v["X"]), "X",
         "X⁻ᵀ", lambda X, **_: np.log(det(X)), lambda X, **_: inv(X).T),
    Case("log det(RRᵀ) (RRᵀ symmetric)",
         lambda v: (jc.log(jc.det(v["R"] @ v["R"].T)), v["R"]), "R", "2(RRᵀ)⁻¹R",
         lambda R, **_: np.log(det(R @ R.T)), lambda R, **_: 2 * inv(R @ R.T) @ R),
    # ------------------------------------------------- scalars of traces (1×1 ⊙ I₁)
    Case("tr(X)²", lambda v: (jc.trace(v["X"]) ** 2, v["X"]), "X", "2tr(X)I",
         lambda X, **_: tr(X) ** 2, lambda X, **_: 2 * tr(X) * np.eye(n)),
    Case("tr(AX)tr(BX)", lambda v: (jc.trace(v["A"] @ v["X"]) * jc.trace(v["B"] @ v["X"]),
                                    v["X"]), "X", "tr(BX)Aᵀ + tr(AX)Bᵀ",
         lambda A, X, B, **_: tr(A @ X) * tr(B @ X),
         lambda A, X, B, **_: tr(B @ X) * A.T + tr(A @ X) * B.T),
    Case("tr(AX)³", lambda v: (jc.trace(v["A"] @ v["X"]) ** 3, v["X"]), "X", "3tr(AX)²Aᵀ",
         lambda A, X, **_: tr(A @ X) ** 3, lambda A, X, **_: 3 * tr(A @ X) ** 2 * A.T),
    Case("log tr(X)", lambda v: (jc.log(jc.trace(v["X"])), v["X"]), "X", "tr(X)⁻¹I",
         lambda X, **_: np.log(tr(X)), lambda X, **_: np.eye(n) / tr(X)),
    # ------------------------------------------- elementwise derivatives in closed form
    Case("Σ log(P)", lambda v: (jc.sum(jc.log(v["P"])), v["P"]), "P", "1 ⊘ P",
         lambda P, **_: np.sum(np.log(P)), lambda P, **_: 1 / P),
    Case("Σ exp(AX)", lambda v: (jc.sum(jc.exp(v["A"] @ v["X"])), v["X"]), "X", "Aᵀexp(AX)",
         lambda A, X, **_: np.sum(np.exp(A @ X)), lambda A, X, **_: A.T @ np.exp(A @ X)),
    # --------------------------------------------------- linear and quadratic forms
    Case("aᵀXb", lambda v: (v["a"].T @ v["X"] @ v["b"], v["X"]), "X", "abᵀ",
         lambda a, X, b, **_: a @ X @ b, lambda a, b, **_: np.outer(a, b)),
    Case("aᵀXᵀb", lambda v: (v["a"].T @ v["X"].T @ v["b"], v["X"]), "X", "baᵀ",
         lambda a, X, b, **_: a @ X.T @ b, lambda a, b, **_: np.outer(b, a)),
    Case("xᵀAx", lambda v: (v["x"].T @ v["A"] @ v["x"], v["x"]), "x", "(A + Aᵀ)x",
         lambda x, A, **_: x @ A @ x, lambda x, A, **_: (A + A.T) @ x),
    Case("‖AX − B‖²", lambda v: (jc.sum((v["A"] @ v["X"] - v["B"]) ** 2), v["X"]), "X",
         "2Aᵀ(AX − B)", lambda A, X, B, **_: np.sum((A @ X - B) ** 2),
         lambda A, X, B, **_: 2 * A.T @ (A @ X - B)),
    Case("½‖Wx − y‖² (Lemma 2.6)", lambda v: (jc.squared_error(v["W"] @ v["x"], v["y"]),
                                              v["W"]), "W", "(Wx − y)xᵀ",
         lambda W, x, y, **_: 0.5 * np.sum((W @ x - y) ** 2),
         lambda W, x, y, **_: np.outer(W @ x - y, x)),
    # ------------------------------------------------ Jacobians in Kronecker form
    Case("AXB", lambda v: (v["W"] @ v["R"] @ v["C"], v["R"]), "R", "Cᵀ ⊗ W",
         lambda W, R, C, **_: W @ R @ C, lambda W, C, **_: np.kron(C.T, W)),
    Case("X⁻¹", lambda v: (jc.inv(v["X"]), v["X"]), "X", "−X⁻ᵀ ⊗ X⁻¹",
         lambda X, **_: inv(X), lambda X, **_: -np.kron(inv(X).T, inv(X))),
    Case("X²", lambda v: (v["X"] @ v["X"], v["X"]), "X", "I ⊗ X + Xᵀ ⊗ I",
         lambda X, **_: X @ X, lambda X, **_: np.kron(np.eye(n), X) + np.kron(X.T, np.eye(n))),
    Case("Xᵀ", lambda v: (v["R"].T, v["R"]), "R", "K₃,₄",
         lambda R, **_: R.T, lambda **_: jc.commutation_matrix(3, 4).toarray()),
    Case("AX", lambda v: (v["A"] @ v["X"], v["X"]), "X", "I ⊗ A",
         lambda A, X, **_: A @ X, lambda A, **_: np.kron(np.eye(n), A)),
    Case("XB", lambda v: (v["X"] @ v["B"], v["X"]), "X", "Bᵀ ⊗ I",
         lambda X, B, **_: X @ B, lambda B, **_: np.kron(B.T, np.eye(n))),
]


def build(case: Case, values: dict[str, np.ndarray]) -> jc.Formula:
    env = {name: jc.var(name, value) for name, value in values.items()}
    F, X = case.build(env)
    return jc.formula(F, X)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_right_answer(case: Case, rng):
    f = build(case, draw(rng))
    assert str(f) == case.printed
    assert f.certified and f.complete
    check_latex(f.latex)
    fresh = draw(rng)                       # values the formula has not seen
    got = f.evaluate({k: fresh[k] for k in f.variables})
    x0 = fresh[case.wrt]

    def F_of(v: np.ndarray) -> np.ndarray:
        return np.asarray(case.numpy(**{**fresh, case.wrt: v}), dtype=float)

    fd = jc.finite_difference_jacobian(F_of, x0)
    closed = np.asarray(case.closed(**fresh), dtype=float)
    scale = max(1.0, float(np.abs(closed).max()))
    if f.kind == "gradient":
        assert got.shape == x0.shape
        fd = fd.reshape(x0.shape, order="F")       # the row unvec'd (eq 25)
    np.testing.assert_allclose(got, closed, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7 * scale)


def test_the_sympy_answers_are_not_reproduced(rng):
    """The wrong answers are far from the right ones on these values (not a vacuous check)."""
    v = draw(rng)
    by_name = {c.name: c for c in CASES}
    f = build(by_name["tr(XA) (SymPy: 3Aᵀ)"], v)
    assert not np.allclose(f.evaluate({"A": v["A"]}), 3 * v["A"].T)
    g = build(by_name["tr(AX) + tr(BX) (SymPy: 0)"], v)
    assert np.abs(g.evaluate({"A": v["A"], "B": v["B"]})).max() > 0.1
    h = build(by_name["tr(X²B) (SymPy: wrong)"], v)
    wrong = 2 * v["X"].T @ v["B"].T   # treating X² like a scalar square
    assert not np.allclose(h.evaluate({"X": v["X"], "B": v["B"]}), wrong)
