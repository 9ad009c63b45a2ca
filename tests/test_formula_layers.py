"""Formulas through the layers' entries: convolution, normalisation, softmax, attention.

Each entry's rules write its gradient in closed form (the correlation of the input with the
output gradient for a kernel, the transposed convolution for an image, col2im for im2col,
the normalisations' backward pass) and its Jacobian as a written factor. The oracles are
independent of the rules: central differences of the expression's value computed from its
text alone (the calculator's evaluate, the entries' forward functions), the literal
Jacobian, and the compact backward passes of ``lecture/conv_norm.py``, which share no code
with the entries.
"""

from __future__ import annotations

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.front.calculator import evaluate as evaluate_text
from jacobian_calc.front.parse import parse_expression, validate
from jacobian_calc.lecture import conv_norm

pytest.importorskip("latex2mathml")
from jacobian_calc.render import check_latex  # noqa: E402

#: (expression, shapes, wrt, what the formula must show): every rule of the five entries,
#: with and without stride and padding, as a gradient and as a Jacobian.
CASES = [
    ("sum(tanh(conv2d(X, K, stride=2, padding=1)))", {"X": (6, 5), "K": (3, 2)}, "K",
     "corr(X, "),
    ("sum(tanh(conv2d(X, K, stride=2, padding=1)))", {"X": (6, 5), "K": (3, 2)}, "X",
     "conv2dᵀ("),
    ("sum(conv2d(X, K) ** 2)", {"X": (5, 4), "K": (2, 2)}, "K", "corr(X, "),
    ("sum(conv2d(X, K) ** 2)", {"X": (5, 4), "K": (2, 2)}, "X", "conv2dᵀ("),
    ("conv2d(X, K, padding=1)", {"X": (4, 3), "K": (2, 2)}, "X", "toeplitz(K, padding=1)"),
    ("conv2d(X, K, stride=2)", {"X": (5, 5), "K": (3, 2)}, "K", "im2col(X, 3, 2, stride=2)ᵀ"),
    ("sum(softplus(conv1d(x, k)))", {"x": (7,), "k": (3,)}, "k", "corr(x, "),
    ("sum(softplus(conv1d(x, k)))", {"x": (7,), "k": (3,)}, "x", "conv1dᵀ("),
    ("conv1d(x, k)", {"x": (6,), "k": (2,)}, "k", "hankel(x)"),
    ("sum(tanh(W @ im2col(X, 2, 2, padding=1)))", {"W": (3, 4), "X": (4, 4)}, "X", "col2im("),
    ("im2col(X, 2, 3, stride=2)", {"X": (5, 5)}, "X", "gather(X, 2, 3, stride=2)"),
    ("sum(layer_norm(W @ x, eps=1e-5) ** 3)", {"W": (4, 3), "x": (3, 5)}, "W", "σ(Wx, eps=1e-05)"),
    ("sum(tanh(layer_norm(v)))", {"v": (5,)}, "v", "σ(v)"),
    ("layer_norm(X)", {"X": (3, 4)}, "X", "σ(X)"),
    ("sum(batch_norm(X) ** 3)", {"X": (3, 4)}, "X", "σ(X)"),
    ("batch_norm(X, eps=0.1)", {"X": (3, 4)}, "X", "σ(X, eps=0.1)"),
    ("sum(C * softmax(W @ x))", {"C": (4, 5), "W": (4, 3), "x": (3, 5)}, "W",
     "[softmax(Wx) ⊙ (C − 𝟏𝟏ᵀ[C ⊙ softmax(Wx)])] xᵀ"),
    ("softmax(X)", {"X": (3, 4)}, "X", "diag(vec(softmax(X)))(I ⊗ 𝟏𝟏ᵀ)"),
    ("softmax(X, axis=1)", {"X": (3, 4)}, "X", "(𝟏𝟏ᵀ ⊗ I)"),
    ("sum(D * softmax(X, axis=1))", {"D": (3, 4), "X": (3, 4)}, "X",
     "softmax(X, axis=1) ⊙ (D − [D ⊙ softmax(X, axis=1)] 𝟏𝟏ᵀ)"),
    ("sum(C * attention(Q, K, V))", {"C": (2, 4), "Q": (3, 4), "K": (3, 5), "V": (2, 5)}, "Q",
     "(1/√3)K[softmax((1/√3)KᵀQ) ⊙ (VᵀC − 𝟏𝟏ᵀ[(VᵀC) ⊙ softmax((1/√3)KᵀQ)])]"),
    ("sum(C * attention(Q, K, V))", {"C": (2, 4), "Q": (3, 4), "K": (3, 5), "V": (2, 5)}, "K",
     "(1/√3)Q[softmax((1/√3)KᵀQ)ᵀ ⊙ "),
    ("sum(C * attention(Q, K, V))", {"C": (2, 4), "Q": (3, 4), "K": (3, 5), "V": (2, 5)}, "V",
     "C softmax((1/√3)KᵀQ)ᵀ"),
    ("attention(Q, K, V)", {"Q": (2, 3), "K": (2, 4), "V": (3, 4)}, "Q", "(I ⊗ V)("),
    ("attention(Q, K, V)", {"Q": (2, 3), "K": (2, 4), "V": (3, 4)}, "K", "(Qᵀ ⊗ I)K₂,₄"),
    ("attention(Q, K, V)", {"Q": (2, 3), "K": (2, 4), "V": (3, 4)}, "V",
     "softmax((1/√2)KᵀQ)ᵀ ⊗ I"),
]


def draw(shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {n: rng.normal(size=s) for n, s in shapes.items()}


@pytest.mark.parametrize("text, shapes, wrt, shows", CASES,
                         ids=[f"{c[0]} by {c[2]}" for c in CASES])
def test_a_layer_formula_is_closed_certified_and_equals_finite_differences(text, shapes, wrt,
                                                                           shows, rng):
    env = {n: jc.var(n, v) for n, v in draw(shapes, rng).items()}
    f = jc.formula(parse_expression(text, env), env[wrt])
    assert f.certified and f.complete and not f.notes, (f.text, f.notes)
    assert shows in f.text, f.text
    assert "\\" not in f.text and "u1" not in f.text
    check_latex(f.latex)
    # fresh values, the formula against central differences of the text's value
    fresh = draw(shapes, rng)
    got = f.evaluate({k: fresh[k] for k in f.variables})
    tree = validate(text, list(fresh))
    fd = jc.finite_difference_jacobian(lambda v: evaluate_text(tree, {**fresh, wrt: v}),
                                       fresh[wrt])
    flat = got.reshape(1, -1, order="F") if f.kind == "gradient" else got
    assert flat.shape == fd.shape
    scale = max(1.0, float(np.abs(fd).max()))
    np.testing.assert_allclose(flat, fd, rtol=1e-5, atol=1e-6 * scale, err_msg=f.text)


def test_each_gradient_rule_is_a_named_step_of_the_derivation(rng):
    X = jc.var("X", rng.normal(size=(5, 4)))
    K = jc.var("K", rng.normal(size=(2, 3)))
    f = jc.formula(jc.sum(jc.conv2d(X, K, stride=2) ** 2), K)
    identities = [i for step in f.steps for i in step.rules]
    assert any("correlated with the output gradient" in i for i in identities), identities
    g = jc.formula(jc.sum(jc.layer_norm(X) ** 2), X)
    assert any("backward pass" in i for step in g.steps for i in step.rules)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_conv2d_gradients_equal_the_compact_backward_pass(stride, padding, rng):
    """f = ⟨C, conv2d(X, K)⟩: the output gradient is C, and conv_norm's correlations give
    ∂f/∂X and ∂f/∂K without any of the entry's code."""
    X = jc.var("X", rng.normal(size=(7, 6)))
    K = jc.var("K", rng.normal(size=(3, 2)))
    Y = jc.conv2d(X, K, stride=stride, padding=padding)
    C = jc.var("C", rng.normal(size=Y.shape))
    F = jc.sum(C * Y)
    fX, fK = jc.formula(F, X), jc.formula(F, K)
    X2, K2 = rng.normal(size=(7, 6)), rng.normal(size=(3, 2))
    C2 = rng.normal(size=Y.shape)
    dX, dK = conv_norm.conv2d_backward(X2, K2, C2, stride, padding)
    values = {"X": X2, "K": K2, "C": C2}
    np.testing.assert_allclose(fX.evaluate({k: values[k] for k in fX.variables}), dX,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fK.evaluate({k: values[k] for k in fK.variables}), dK,
                               rtol=1e-12, atol=1e-12)
    assert fX.text == f"conv2dᵀ(C, K{_opts(stride, padding)})", fX.text
    assert fK.text == f"corr(X, C{_opts(stride, padding)})", fK.text


def _opts(stride: int, padding: int) -> str:
    return (f", stride={stride}" if stride != 1 else "") + (f", padding={padding}" if padding
                                                           else "")


def test_conv1d_and_im2col_gradients_equal_the_compact_backward_pass(rng):
    x, k = jc.var("x", rng.normal(size=8)), jc.var("k", rng.normal(size=3))
    c = jc.var("c", rng.normal(size=6))
    F = jc.sum(c * jc.conv1d(x, k))
    x2, k2, c2 = rng.normal(size=8), rng.normal(size=3), rng.normal(size=6)
    dx, dk = conv_norm.conv1d_backward(x2, k2, c2)
    values = {"x": x2, "k": k2, "c": c2}
    for wrt, expected in ((x, dx), (k, dk)):
        f = jc.formula(F, wrt)
        np.testing.assert_allclose(f.evaluate({n: values[n] for n in f.variables}), expected,
                                   rtol=1e-12, atol=1e-12)
    X = jc.var("X", rng.normal(size=(5, 6)))
    P = jc.im2col(X, 2, 3, stride=2, padding=1)
    Pbar = jc.var("Pbar", rng.normal(size=P.shape))
    f = jc.formula(jc.sum(Pbar * P), X)
    assert f.text == "col2im(Pbar, 2, 3, stride=2, padding=1)"
    Pbar2 = rng.normal(size=P.shape)
    np.testing.assert_allclose(f.evaluate({"Pbar": Pbar2}),
                               conv_norm.col2im(Pbar2, (5, 6), 2, 3, 2, 1), rtol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_normalisation_gradients_equal_the_compact_backward_pass(eps, rng):
    X = jc.var("X", rng.normal(size=(4, 5)))
    C = jc.var("C", rng.normal(size=(4, 5)))
    X2, C2 = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    for layer, backward in ((jc.layer_norm, conv_norm.layer_norm_backward),
                            (jc.batch_norm, conv_norm.batch_norm_backward)):
        f = jc.formula(jc.sum(C * layer(X, eps=eps)), X)
        assert f.complete and "σ(X" in f.text
        np.testing.assert_allclose(f.evaluate({"X": X2, "C": C2}), backward(X2, C2, eps),
                                   rtol=1e-10, atol=1e-12)


def test_expr_on_the_command_line_prints_a_layer_formula_first(capsys):
    from jacobian_calc.front.cli import main

    status = main(["expr", "sum(tanh(conv2d(X, K, stride=2, padding=1)))", "--wrt", "K",
                   "--shape", "X=6x5", "--shape", "K=3x2"])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("Formula: ∂sum(tanh(conv2d(X, K, stride=2, padding=1)))/∂K = "
                          "corr(X, tanh′(conv2d(X, K, stride=2, padding=1)), stride=2, "
                          "padding=1)\n"), out[:300]
    assert "no rewriting rule" not in out


def test_attention_gradients_equal_the_compact_backward_pass(rng):
    """f = ⟨C, attention(Q, K, V)⟩: lecture/attention.py's vector-Jacobian product, which
    shares no code with the entry, gives ∂f/∂Q, ∂f/∂K, ∂f/∂V."""
    from jacobian_calc.lecture import attention

    shapes = {"Q": (3, 4), "K": (3, 5), "V": (2, 5), "C": (2, 4)}
    env = {n: jc.var(n, v) for n, v in draw(shapes, rng).items()}
    F = jc.sum(env["C"] * jc.attention(env["Q"], env["K"], env["V"]))
    fresh = draw(shapes, rng)
    expected = dict(zip("QKV", attention.attention_vjp(fresh["Q"], fresh["K"], fresh["V"],
                                                      fresh["C"])))
    for name in "QKV":
        f = jc.formula(F, env[name])
        assert f.complete and f.certified
        np.testing.assert_allclose(f.evaluate({k: fresh[k] for k in f.variables}),
                                   expected[name], rtol=1e-10, atol=1e-12, err_msg=f.text)
