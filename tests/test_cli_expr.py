"""``jacobian-calc expr``: the expression calculator on the command line."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jacobian_calc.front import calculator
from jacobian_calc.front.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRACE = ["expr", "trace(A @ X @ B)", "--wrt", "X", "--shape", "A=3x4", "--shape", "X=4x5",
         "--shape", "B=5x3"]


def run_json(capsys, argv):
    status = main(argv + ["--format", "json"])
    out = capsys.readouterr().out
    return status, json.loads(out)


def test_the_issue_example_prints_formula_jacobian_derivation_and_verification(capsys):
    assert main(TRACE) == 0
    out = capsys.readouterr().out
    # the answer a student writes comes first, certified
    assert out.startswith("Formula: ∂tr(A X B)/∂X = AᵀBᵀ\n")
    assert "certified: equal to the literal Jacobian on 3 fresh random instances" in \
        out.split("Expression:", 1)[0]
    assert "Literal Jacobian:\n∂tr(A X B)/∂vec(X)  (1×20, dense)" in out
    # the derivation ends in the compact form, written with the user's sub-expressions
    rewrites = out.split("From the chain to the formula", 1)[1].split("Verification", 1)[0]
    assert "∂tr(A X B)/∂(A X):  vec(Ḡ)ᵀ(Bᵀ ⊗ I) = vec(ḠBᵀ)ᵀ" in rewrites
    assert rewrites.rstrip().endswith("∂tr(A X B)/∂X = AᵀBᵀ")
    assert "u1" not in out and "u2" not in out
    assert "dimension check: (1×9)·(9×15)·(15×20) → 1×20" in out  # the derivation
    assert "Verification, Gâteaux derivatives (central differences) in 8 random directions" in out
    assert "Verification, central differences, all 20 entries" in out
    assert out.rstrip().endswith(": ok")


def test_json_gradient_matches_the_closed_form(capsys):
    status, doc = run_json(capsys, TRACE + ["--seed", "3"])
    assert status == 0 and doc["verification"]["ok"] is True
    assert list(doc)[0] == "formula"                      # the first result
    assert doc["formula"]["text"] == "AᵀBᵀ" and doc["formula"]["certified"] is True
    assert doc["formula"]["variables"] == ["A", "B"] and doc["formula"]["kind"] == "gradient"
    A, B = (np.array(doc["variables"][n]["value"]) for n in ("A", "B"))
    assert np.array(doc["variables"]["X"]["value"]).shape == (4, 5)
    expected = A.T @ B.T  # ∂tr(AXB)/∂X, eq (12)
    np.testing.assert_allclose(doc["gradient"], expected, rtol=1e-12)
    J = np.array(doc["jacobian"]["entries"])
    np.testing.assert_allclose(J, expected.reshape(1, -1, order="F"), rtol=1e-12)  # vec row
    assert doc["jacobian"]["shape"] == [1, 20]
    assert doc["derivation"]["dimension_checks"]
    assert doc["verification"]["max_relative_error"] < 1e-6


def test_json_jacobian_of_AXB_is_the_kronecker_product(capsys):
    status, doc = run_json(capsys, ["expr", "A @ X @ B", "--wrt", "X", "--shape", "A=2x3",
                                    "--shape", "X=3x4", "--shape", "B=4x2", "--seed", "5"])
    A, B = (np.array(doc["variables"][n]["value"]) for n in ("A", "B"))
    assert status == 0
    np.testing.assert_allclose(doc["jacobian"]["entries"], np.kron(B.T, A), rtol=1e-12)
    assert doc["formula"]["text"] == "Bᵀ ⊗ A" and doc["formula"]["kind"] == "jacobian"


def test_seed_changes_the_data_and_is_reproducible(capsys):
    _, a = run_json(capsys, TRACE + ["--seed", "1"])
    _, b = run_json(capsys, TRACE + ["--seed", "1"])
    _, c = run_json(capsys, TRACE + ["--seed", "2"])
    assert a["variables"] == b["variables"] and a["variables"] != c["variables"]


def test_matrices_under_inv_and_logdet_are_made_well_conditioned(capsys):
    status, doc = run_json(capsys, ["expr", "logdet(X) + sum(inv(X @ Y))", "--wrt", "X",
                                    "--shape", "X=6x6", "--shape", "Y=6x6", "--seed", "11"])
    assert status == 0
    for name in ("X", "Y"):
        M = np.array(doc["variables"][name]["value"])
        assert np.linalg.cond(M) <= 3.0 + 1e-9 and np.linalg.det(M) > 0


def test_variables_under_log_and_roots_are_positive(capsys):
    status, doc = run_json(capsys, ["expr", "sum(log(x) + y ** 0.5)", "--wrt", "x",
                                    "--shape", "x=5", "--shape", "y=5"])
    assert status == 0
    assert min(doc["variables"]["x"]["value"]) > 0 and min(doc["variables"]["y"]["value"]) > 0


@pytest.mark.parametrize("text, shapes, wrt", [
    ("squared_error(sigmoid(W @ x), y)", ["W=3x4", "x=4", "y=3"], "W"),
    ("softmax_cross_entropy(W @ x, y)", ["W=3x4", "x=4", "y=3"], "W"),
    ("X @ inv(X) + X.T", ["X=3x3"], "X"),
    ("softmax(W @ x)", ["W=3x4", "x=4"], "x"),
    ("det(X) * 2 - tr(X @ X) / 3", ["X=3x3"], "X"),
    ("c * sum(tanh(x))", ["x=4", "c=scalar"], "c"),
])
def test_assorted_expressions_verify(capsys, text, shapes, wrt):
    assert_verifies(capsys, text, shapes, wrt)


def assert_verifies(capsys, text, shapes, wrt):
    """`jacobian-calc expr TEXT --wrt WRT --shape …` exits 0 with a small relative error."""
    argv = ["expr", text, "--wrt", wrt]
    for s in shapes:
        argv += ["--shape", s]
    status, doc = run_json(capsys, argv)
    assert status == 0, doc["verification"]
    assert doc["verification"]["max_relative_error"] < 1e-6


def test_a_wrong_literal_jacobian_fails_verification_with_status_1(capsys, monkeypatch):
    import dataclasses

    from jacobian_calc.front import calculator

    real = calculator.derivation

    def planted(F, X, **kwargs):  # a sign error in the literal machinery's accumulated result
        d = real(F, X, **kwargs)
        J = d.result
        wrong = type(J)(-J.toarray(), of=J.of, wrt=J.wrt, of_shape=J.of_shape,
                        wrt_shape=J.wrt_shape)
        return dataclasses.replace(d, result=wrong)

    monkeypatch.setattr(calculator, "derivation", planted)
    assert main(TRACE) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_tolerance_options_are_applied(capsys):
    # finite differences are never exact: with both tolerances tiny the verdict fails
    assert main(TRACE + ["--tolerance", "1e-300", "--atol", "1e-300"]) == 1
    out = capsys.readouterr().out
    assert "(atol 1e-300 + rtol 1e-300 · scale" in out and out.rstrip().endswith("MISMATCH")


@pytest.mark.parametrize("fmt, marks", [
    ("markdown", ["**Steps, tail to head**", "dimension check: (1×9)·(9×15)·(15×20) → 1×20",
                  "**From the chain to the formula**"]),
    ("latex", ["\\begin{aligned}", "(1 \\times 9) \\cdot (9 \\times 15)",
               "\\text{From the chain to the formula}"]),
])
def test_markdown_and_latex_typeset_the_formula_first_then_the_derivation(capsys, fmt, marks):
    assert main(TRACE + ["--format", fmt]) == 0
    out = capsys.readouterr().out
    assert all(mark in out for mark in marks)
    formula = r"\frac{\partial \operatorname{tr}(A X B)}{\partial X} = A^\top B^\top"
    displays = re.findall(r"\$\$\n(.*?)\n\$\$" if fmt == "markdown" else r"\\\[\n(.*?)\n\\\]",
                          out, flags=re.S)
    assert displays[0] == formula                          # the first display
    if fmt == "markdown":
        assert out.startswith("**Formula** — the gradient, shaped like X (4×5; eq 12)")
    else:  # everything but the displays is a TeX comment
        assert out.startswith("% Formula: ∂tr(A X B)/∂X = AᵀBᵀ\n")
        outside = re.sub(r"\\\[.*?\\\]", "", out, flags=re.S)
        assert all(line.startswith("%") for line in outside.splitlines() if line.strip())


# ------------------------------------------------------------------- bad input
MALICIOUS = [
    "__import__('os').system('touch PWNED')",
    "().__class__.__base__.__subclasses__()",
    "open('PWNED', 'w')",
    "X.__class__",
    "(lambda: __import__('os'))()",
    "[c for c in ().__class__.__bases__]",
    "X[0]",
    "exec('import os')",
    "eval('1')",
    "trace(X, key=1)",
    "X ** 1000000",
    "X ** X",
    "__builtins__",
    "globals()",
    "import os",
    "X; import os",
    "(" * 100 + "X" + ")" * 100,
    "X" + "+X" * 1500,
    "np.trace(X)",
    "X.T.__dict__",
    "'X'",
    "X if X else X",
]


@pytest.mark.parametrize("text", MALICIOUS)
def test_malicious_input_is_refused_with_position_and_status_2(capsys, text, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = main(["expr", text, "--wrt", "X", "--shape", "X=2x2"])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "jacobian-calc expr: error:" in captured.err
    assert "at line 1, column" in captured.err and "^" in captured.err
    assert not (tmp_path / "PWNED").exists()


def test_undeclared_variable_lists_the_declared_ones(capsys):
    assert main(["expr", "A @ Y", "--wrt", "A", "--shape", "A=2x2", "--shape", "B=2x2"]) == 2
    err = capsys.readouterr().err
    assert "unknown variable 'Y'; declared variables: A, B" in err
    assert "line 1, column 5" in err


@pytest.mark.parametrize("spec", ["X=3by4", "X=3x", "X=", "X", "3=4", "X=0x2", "X=100x100",
                                  "lambda=3", "X=40x40"])
def test_malformed_shape_gives_the_expected_form(capsys, spec):
    assert main(["expr", "sum(X)", "--wrt", "X", "--shape", spec]) == 2
    err = capsys.readouterr().err
    assert "--shape" in err
    assert "expected NAME=MxN" in err or "between 1 and" in err or "at most" in err


def test_shape_spec_parser_accepts_the_documented_forms():
    assert calculator.parse_shape("A=3x4") == ("A", (3, 4))
    assert calculator.parse_shape("A = 3 × 4") == ("A", (3, 4))
    assert calculator.parse_shape("v=7") == ("v", (7,))
    assert calculator.parse_shape("c=scalar") == ("c", ())


def test_other_bad_input(capsys):
    cases = [
        (["expr", "sum(X)", "--wrt", "Z", "--shape", "X=2"], "--wrt 'Z' is not a declared"),
        (["expr", "sum(X)", "--wrt", "X", "--shape", "X=2", "--shape", "X=3"], "declared twice"),
        (["expr", "A @ X", "--wrt", "X", "--shape", "A=2x3", "--shape", "X=2x2"],
         "A is 2×3 but X is 2×2"),  # names both operands and their shapes
        (["expr", "2 * 3", "--wrt", "X", "--shape", "X=2"], "constant"),
        (["expr", "inv(X)", "--wrt", "X", "--shape", "X=2x3"], "square"),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        assert words in capsys.readouterr().err, argv


def test_singular_matrix_is_reported_as_such(capsys):
    # X - X is exactly zero whatever the random data: inv of it is singular
    assert main(["expr", "sum(inv(X - X))", "--wrt", "X", "--shape", "X=3x3"]) == 2
    assert "singular" in capsys.readouterr().err.lower()


def test_help_lists_the_functions_and_the_shape_form(capsys):
    with pytest.raises(SystemExit) as info:
        main(["expr", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "logdet" in out and "NAME=MxN" in out and "--wrt" in out


def test_the_installed_command_runs_as_a_module():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    good = subprocess.run([sys.executable, "-m", "jacobian_calc", *TRACE],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert good.returncode == 0 and good.stdout.rstrip().endswith(": ok")
    bad = subprocess.run([sys.executable, "-m", "jacobian_calc", "expr",
                          "__import__('os').getcwd()", "--wrt", "X", "--shape", "X=2"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "line 1, column 1" in bad.stderr and bad.stdout == ""


# ---------------------------------------------------------------- fuzzing the CLI
import contextlib
import io

from hypothesis import given, settings
from hypothesis import strategies as st

PIECES = ["A", "X", "x", "@", "*", "+", "-", "/", "**", "2", "0.5", "-1", "(", ")", ".T", ",",
          "trace(", "sum(", "inv(", "logdet(", "det(", "log(", "exp(", "relu(", "softmax(",
          "squared_error(", "tr(", "__class__", ".", "[", "]", "lambda", ":", "'", "import",
          "open(", "__import__(", "=", "\n", " "]


@settings(max_examples=150)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=14).map("".join))
def test_fuzz_the_command_never_crashes(text):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        # options first, then "--": a text starting with "-" is not taken for an option
        status = main(["expr", "--wrt", "X", "--shape", "A=2x2", "--shape", "X=2x2",
                       "--shape", "x=2", "--", text])
    assert status in (0, 1, 2)
    if status == 2:
        assert "jacobian-calc expr: error:" in err.getvalue() and out.getvalue() == ""
        assert "Traceback" not in err.getvalue()
    else:
        assert "Verification, " in out.getvalue()


def test_the_data_notes_say_how_special_variables_were_drawn(capsys):
    assert main(["expr", "logdet(X) + sum(log(y))", "--wrt", "X", "--shape", "X=3x3",
                 "--shape", "y=2"]) == 0
    out = capsys.readouterr().out
    assert "X: I + E with ‖E‖₂ = ½" in out and "y: entries uniform in [0.5, 2]" in out


def test_the_variable_itself_has_the_identity_jacobian(capsys):
    status, doc = run_json(capsys, ["expr", "X", "--wrt", "X", "--shape", "X=2x3"])
    assert status == 0 and doc["derivation"] is None
    assert doc["formula"]["text"] == "I" and doc["formula"]["certified"] is True
    np.testing.assert_array_equal(doc["jacobian"]["entries"], np.eye(6))
    assert main(["expr", "X", "--wrt", "X", "--shape", "X=2x3"]) == 0
    assert "No chain to derive" in capsys.readouterr().out


def test_an_expression_starting_with_a_minus_sign_after_double_dash(capsys):
    assert main(["expr", "--wrt", "X", "--shape", "X=2x2", "--", "-trace(X)"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(": ok")


def _balanced_product(leaves):
    if len(leaves) == 1:
        return leaves[0]
    half = len(leaves) // 2
    return f"({_balanced_product(leaves[:half])}@{_balanced_product(leaves[half:])})"


def test_a_short_text_asking_for_huge_factors_is_refused_before_any_is_built(capsys):
    # 20 alternations of softplus and inv of a 32×32 X fit in 300 characters, but a
    # Kronecker factor −X⁻ᵀ⊗X⁻¹ times a diagonal diag(σ(·)) has no structure left: every
    # step of the derivation keeps a dense 1024×1024 Jacobian, some 40 million entries
    # in all, above the calculator's bound, so it is refused up front.
    text = "softplus(inv(" * 20 + "X" + "))" * 20
    code = main(["expr", text, "--wrt", "X", "--shape", "X=32x32"])
    err = capsys.readouterr().err
    assert code == 2
    assert "work limit of 32,000,000 entries" in err and "nothing was built" in err
    estimate = int(re.search(r"keep ([\d,]+) entries", err).group(1).replace(",", ""))
    assert estimate >= 39 * 1024**2  # at least the dense products, one per inv


def test_the_inverses_that_once_built_gigabytes_now_stay_kronecker_products(capsys):
    # 222 inverses of a 32×32 X in under 2000 characters: each factor −X⁻ᵀ⊗X⁻¹ is kept as
    # its two 32×32 factors, and the products of Kronecker factors compose by the mixed
    # product rule, so the whole derivation stays small and verifies.
    text = _balanced_product(["inv(X)"] * 222)
    assert len(text) < 2000
    assert main(["expr", text, "--wrt", "X", "--shape", "X=32x32"]) == 0
    out = capsys.readouterr().out
    assert "222 paths lead from X" in out and out.rstrip().endswith(": ok")


def test_an_overflowing_factor_is_a_domain_error_not_a_mismatch(capsys):
    code = main(["expr", "inv(1e-300*X)", "--wrt", "X", "--shape", "X=3x3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "is not finite at this point" in err and "MISMATCH" not in err


@pytest.mark.parametrize("bad", ["nan", "-1", "0", "inf", "tiny"])
def test_a_tolerance_that_cannot_be_met_or_failed_is_a_usage_error(capsys, bad):
    with pytest.raises(SystemExit) as exit_:
        main(["expr", "sum(X)", "--wrt", "X", "--shape", "X=2", f"--tolerance={bad}"])
    assert exit_.value.code == 2
    assert "--tolerance: expected a positive" in capsys.readouterr().err


def test_an_expression_starting_with_a_minus_sign_needs_no_double_dash(capsys):
    # issue 13: argparse took "-trace(X)" for an option
    assert main(["expr", "-trace(X)", "--wrt", "X", "--shape", "X=3x3"]) == 0
    out = capsys.readouterr().out
    assert "read as −tr(X)" in out
    assert main(["expr", "--wrt", "X", "-trace(X)", "--shape", "X=3x3"]) == 0
    assert "read as −tr(X)" in capsys.readouterr().out


def test_max_values_sets_how_many_values_a_step_prints(capsys):
    argv = ["expr", "A @ X", "--wrt", "X", "--shape", "A=4x4", "--shape", "X=4x4"]
    assert main(argv) == 0
    assert "values, more than 60 to print" in capsys.readouterr().out  # 16×16 = 256 values
    assert main(argv + ["--max-values", "300"]) == 0
    out = capsys.readouterr().out
    assert "more than" not in out and out.count("[") > 16


def test_expr_help_states_the_limits(capsys):
    with pytest.raises(SystemExit):
        main(["expr", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "every dimension at most 64" in out and "every variable at most 1024 entries" in out
    assert "32,000,000 entries" in out


def test_a_formula_too_large_to_write_is_said_to_be_missing_and_the_rest_still_runs():
    text = "X"
    for _ in range(6):
        text = f"({text} @ A @ {text})"      # 2⁶ paths of 127 factors, no two alike
    calc = calculator.calculate(f"trace({text})", {"X": (2, 2), "A": (2, 2)}, "X")
    assert calc.ok and calc.formula is None
    out = calculator.render_calculation(calc, "text")
    assert out.startswith("Formula: none (it would be too large to write; see the notes)")
    assert "Note: no compact form: the formula of" in out
    doc = json.loads(calculator.render_calculation(calc, "json"))
    assert doc["formula"] is None and doc["verification"]["ok"] is True


@pytest.mark.parametrize("text, shapes, wrt", [
    ("sum(tanh(conv2d(X, K, stride=2, padding=1)))", ["X=6x5", "K=3x2"], "K"),
    ("conv2d(X, K, 2)", ["X=6x5", "K=3x2"], "X"),
    ("conv1d(x, k)", ["x=7", "k=3"], "k"),
    ("W @ im2col(X, 2, 2, padding=1)", ["W=3x4", "X=4x4"], "X"),
    ("layer_norm(W @ x, eps=1e-5)", ["W=4x3", "x=3x5"], "W"),
    ("sum(batch_norm(X) ** 3)", ["X=3x4"], "X"),
])
def test_layers_with_parameters_verify_on_the_command_line(capsys, text, shapes, wrt):
    assert_verifies(capsys, text, shapes, wrt)


def test_a_bad_layer_parameter_is_a_clear_error_on_the_command_line(capsys):
    assert main(["expr", "conv2d(X, K, stride=0)", "--wrt", "X", "--shape", "X=4x4",
                 "--shape", "K=2x2"]) == 2
    assert "stride must be ≥ 1, got 0" in capsys.readouterr().err
    assert main(["expr", "conv2d(X, K)", "--wrt", "X", "--shape", "X=2x2",
                 "--shape", "K=3x3"]) == 2
    assert "the kernel must fit inside the padded image" in capsys.readouterr().err
