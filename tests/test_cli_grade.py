"""``jacobian-calc grade``: exit status 0 correct, 1 wrong with the mistake named, 2 unreadable."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jacobian_calc.front.cli import main
from jacobian_calc.render.latex import check_latex

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ["--shape", "A=3x4", "--shape", "X=4x5", "--shape", "B=5x3"]
TRACE = ["grade", "trace(A @ X @ B)", "--wrt", "X"]


def grade(capsys, claim, *extra, expression=None):
    argv = ["grade", expression or "trace(A @ X @ B)", "--wrt", "X", "--claim", claim,
            *SHAPES, *extra]
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_issue_example_is_correct_with_status_0(capsys):
    status, out, err = grade(capsys, "A.T @ B.T")
    assert status == 0 and err == ""
    assert "Verdict: correct" in out
    assert "Question: ∂tr(A X B)/∂X" in out and "Claimed answer: A.T @ B.T  (4×5)" in out


@pytest.mark.parametrize("claim, mistake, words", [
    ("B @ A", "transposed", "the transpose of the gradient"),
    ("-A.T @ B.T", "sign", "the negative of the true derivative"),   # a claim starting with -
    ("2 * A.T @ B.T", "factor", "2 × the true derivative"),
    ("vec(A.T @ B.T)", "layout", "the column vec(G)"),
])
def test_a_wrong_claim_names_the_mistake_with_status_1(capsys, claim, mistake, words):
    status, out, err = grade(capsys, claim)
    assert status == 1 and err == ""
    assert f"Verdict: wrong ({mistake})" in out and words in out


def test_a_wrong_claim_without_a_name_shows_the_worst_direction(capsys):
    status, out, _ = grade(capsys, "A.T @ B.T + 0.1 * A.T @ A @ A.T @ B.T")
    assert status == 1 and "Verdict: wrong\n" in out
    assert "matches none of the common mistakes" in out
    assert "Worst direction: #" in out and "Gâteaux derivative (f(X + tV) − f(X − tV))/2t" in out
    assert "Worst entry: X[" in out


def test_json_parses_and_carries_the_verdict(capsys):
    status, out, _ = grade(capsys, "B @ A", "--format", "json", "--seed", "4")
    doc = json.loads(out)
    assert status == 1 and doc["verdict"] == "wrong" and doc["mistake"] == "transposed"
    assert doc["seed"] == 4 and doc["expected_shape"] == [4, 5] and doc["claimed_shape"] == [5, 4]
    assert doc["variables"] == {"A": [3, 4], "X": [4, 5], "B": [5, 3]}
    assert [m["mistake"] for m in doc["matches"]] == ["transposed"]
    status, out, _ = grade(capsys, "A.T @ B.T", "--format", "json")
    assert status == 0 and json.loads(out)["verdict"] == "correct"


def test_json_of_a_jacobian_names_the_swapped_kronecker_factors(capsys):
    status = main(["grade", "A @ X @ B", "--wrt", "X", "--claim", "kron(A, B.T)",
                   "--shape", "A=2x3", "--shape", "X=3x4", "--shape", "B=4x2",
                   "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert status == 1 and doc["mistake"] == "kronecker_swapped" and doc["kind"] == "jacobian"
    # the worst direction is there, with numbers that differ beyond its tolerance
    w = doc["worst_direction"]
    assert w["relative_error"] > 1e-3 and len(w["numeric"]) == len(w["claimed"]) == 4


@pytest.mark.parametrize("claim", ["A.T @ B.T", "B @ A", "A.T @ B.T + 0.1"])
def test_latex_is_comments_and_displays_that_parse(capsys, claim):
    status, out, _ = grade(capsys, claim, "--format", "latex")
    assert status in (0, 1)
    displays = re.findall(r"\\\[\n(.*?)\n\\\]", out, re.S)
    assert displays
    for display in displays:
        check_latex(display)
    outside = re.sub(r"\\\[.*?\\\]", "", out, flags=re.S)
    assert all(line.startswith("%") for line in outside.splitlines() if line.strip())


def test_markdown_has_the_tables(capsys):
    status, out, _ = grade(capsys, "B @ A", "--format", "markdown")
    assert status == 1
    assert "| question | claimed answer | verdict |" in out
    assert "| mistake | reading | factor | relative difference | result |" in out


def test_layout_instances_and_tolerance_are_applied(capsys):
    status, out, _ = grade(capsys, "vec(A.T @ B.T)", "--layout", "column", "--instances", "5")
    assert status == 0 and "Checked on 5 random instances" in out
    status, out, _ = grade(capsys, "vec(A.T @ B.T)", "--layout", "row")
    assert status == 1 and "Verdict: wrong (layout)" in out
    status, out, _ = grade(capsys, "1.001 * A.T @ B.T", "--tolerance", "0.005")
    assert status == 0 and "rtol 0.005" in out


def test_an_expression_and_a_claim_may_start_with_a_minus_sign(capsys):
    status = main(["grade", "-trace(A @ X @ B)", "--wrt", "X", "--claim", "-A.T", *SHAPES])
    out = capsys.readouterr().out
    assert status == 1 and "Claimed answer: -A.T" in out and "Question: ∂(−tr(A X B))/∂X" in out
    status = main(["grade", "-trace(A @ X @ B)", "--wrt", "X", "--claim=-A.T @ B.T", *SHAPES])
    assert status == 0
    capsys.readouterr()


def test_the_lecture_network_gradient_without_phi_prime(capsys):
    z1 = "sigmoid(W1 @ x)"
    z2 = f"sigmoid(W2 @ {z1})"
    argv = ["grade", "squared_error(W3 @ sigmoid(W2 @ sigmoid(W1 @ x)), y)", "--wrt", "W2",
            "--shape", "W1=5x4", "--shape", "W2=3x5", "--shape", "W3=2x3", "--shape", "x=4",
            "--shape", "y=2", "--claim"]
    assert main(argv + [f"((W3.T @ (W3 @ {z2} - y)) * {z2} * (1 - {z2})) @ {z1}.T"]) == 0
    capsys.readouterr()
    assert main(argv + [f"(W3.T @ (W3 @ {z2} - y)) @ {z1}.T"]) == 1
    out = capsys.readouterr().out
    assert "Verdict: wrong (missing_factor)" in out and "Missing φ′ factor" in out


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, words", [
    (TRACE + ["--claim", "A.T @ Y", *SHAPES], "the claimed answer: unknown name at line 1, "
                                              "column 7: unknown variable 'Y'"),
    (TRACE + ["--claim", "A.T @ B", *SHAPES], "the claimed answer: A.T @ B: the operands do "
                                              "not fit (4×3 and 5×3)"),
    (TRACE + ["--claim", "A.T @@ B.T", *SHAPES], "the claimed answer: syntax error"),
    (TRACE + ["--claim", "np.trace(X)", *SHAPES], "only whitelisted functions"),
    (TRACE + ["--claim", "eye(2.5)", *SHAPES], "eye(n) takes a whole number"),
    (["grade", "trace(A @ X", "--wrt", "X", "--claim", "A", *SHAPES],
     "the expression: syntax error"),
    (["grade", "trace(A @ B)", "--wrt", "X", "--claim", "A", *SHAPES],
     "the expression: A B: A is 3×4 but B is 5×3"),
    (["grade", "trace(A @ Z)", "--wrt", "X", "--claim", "A", *SHAPES],
     "unknown variable 'Z'; declared variables: A, B, X"),
    (TRACE[:2] + ["--wrt", "Z", "--claim", "A", *SHAPES], "--wrt 'Z' is not a declared variable"),
    (TRACE + ["--claim", "A", "--shape", "X=3by4"], "malformed --shape"),
    (TRACE + ["--claim", "A", *SHAPES, "--shape", "A=2x2"], "declared twice"),
    (["grade", "A @ X", "--wrt", "X", "--claim", "A", "--shape", "A=2x2", "--shape", "X=2x2",
      "--layout", "row"], "layout='row' applies to the gradient of a scalar"),
    (TRACE + ["--claim", "A", *SHAPES, "--tolerance", "0.5"], "rtol must be a number in (0, 0.01)"),
])
def test_unreadable_input_is_status_2_with_the_usage_line(capsys, argv, words):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: jacobian-calc grade")
    assert "jacobian-calc grade: error: " in captured.err and words in captured.err


@pytest.mark.parametrize("argv", [
    TRACE + ["--claim", "A", *SHAPES, "--layout", "diagonal"],
    TRACE + ["--claim", "A", *SHAPES, "--instances", "0"],
    TRACE + [*SHAPES],  # no --claim
])
def test_bad_options_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: jacobian-calc grade" in capsys.readouterr().err


def test_help_names_the_mistakes_and_the_claim_functions(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["grade", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for word in ("kronecker_swapped", "row_stacked_vec", "missing_factor", "kron, eye, diag",
                 "Exit status 0 correct, 1 wrong, 2"):
        assert word in out


@pytest.mark.slow
def test_the_installed_command_grades_and_writes_ascii_when_asked():
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="ascii")
    run = subprocess.run([sys.executable, "-m", "jacobian_calc", "grade", "trace(A @ X @ B)",
                          "--wrt", "X", "--claim", "B @ A", *SHAPES],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "Verdict: wrong (transposed)" in run.stdout and "\\u2202" in run.stdout
    assert "Traceback" not in run.stderr


def test_a_closed_pipe_ends_quietly(monkeypatch):
    # the output cut short (| head): the command ends with status 0, as the others do
    import builtins

    def broken(*args, **kwargs):
        raise BrokenPipeError

    monkeypatch.setattr(builtins, "print", broken)
    assert main(TRACE + ["--claim", "B @ A", *SHAPES]) == 0


def test_the_grade_agrees_with_the_api(capsys):
    from jacobian_calc.testing import diagnose

    status, out, _ = grade(capsys, "B @ A", "--format", "json", "--seed", "2")
    d = diagnose("B @ A", "trace(A @ X @ B)", wrt="X",
                 shapes={"A": (3, 4), "X": (4, 5), "B": (5, 3)}, seed=2)
    assert status == 1 and json.loads(out) == json.loads(d.to_json())
