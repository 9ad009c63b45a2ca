"""The autograder example passes for the right student, fails for the wrong one with each
mistake named, and its README's snippets run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs the example's own pytest in a subprocess

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "autograder"
TESTS = ["test_gradient_of_the_layer_with_respect_to_W",
         "test_gradient_of_the_layer_with_respect_to_b",
         "test_gradient_of_softmax_cross_entropy_with_respect_to_W",
         "test_jacobian_of_softmax",
         "test_layer_gradient_against_finite_differences"]


def copy(tmp_path: Path) -> Path:
    # A copy, so the run writes nothing into the repository and proves the folder is
    # self-contained (its own pytest.ini); the package comes from this checkout.
    work = tmp_path / "autograder"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    return work


def grade(student: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), STUDENT_MODULE=student,
               AUTOGRADER_PROFILE="quick")
    return subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:randomly",
                           "-W", "ignore::DeprecationWarning"],
                          cwd=copy(tmp_path), env=env, capture_output=True, text=True,
                          timeout=300)


def failure(out: str, test: str) -> str:
    """The report of one failed test: from its header to the next one."""
    start = out.index(f"_ {test} _")
    rest = out[start + len(test) + 3:]
    end = re.search(r"\n_{3,} \w+ _{3,}\n|\n=+ short test summary", rest)
    return rest[: end.start() if end else None]


def test_the_right_student_passes_every_test(tmp_path):
    run = grade("student", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for name in TESTS:
        assert f"PASSED test_student.py::{name}" in run.stdout
    assert "5 passed" in run.stdout


def test_the_wrong_student_fails_every_test_with_the_mistake_named(tmp_path):
    run = grade("student_wrong", tmp_path)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    out = run.stdout
    for name in TESTS:
        assert f"FAILED test_student.py::{name}" in out
    # each formula's own mistake, named by the diagnosis
    named = {
        "test_gradient_of_the_layer_with_respect_to_W": ["Verdict: wrong (missing_factor)",
                                                         "Missing φ′ factor", "σ′"],
        "test_gradient_of_the_layer_with_respect_to_b": ["Verdict: wrong (sign)"],
        "test_gradient_of_softmax_cross_entropy_with_respect_to_W": [
            "Verdict: wrong (transposed)", "it is Gᵀ, shaped like Wᵀ"],
        "test_jacobian_of_softmax": ["Verdict: wrong (the −s sᵀ term is missing)",
                                     "A known mistake"],
    }
    for test, words in named.items():
        report = failure(out, test)
        for word in words:
            assert word in report, (test, word, report[-2000:])
        # the diagnosis' worst direction, as the assertions report it
        if "transposed" not in words[0]:  # Wᵀ has another shape: no direction to compare
            assert "Worst direction: #" in report and "Gâteaux derivative" in report
    # each report is the test's own (the sign test's says nothing of σ′)
    assert "missing_factor" not in failure(out, "test_gradient_of_the_layer_with_respect_to_b")
    # the finite-difference oracle's report: worst direction, both values, error, tolerance
    report = failure(out, "test_layer_gradient_against_finite_differences")
    for field in ("gradient check failed", "worst direction",
                  "Gâteaux derivative (f(X + tV) − f(X − tV))/2t", "⟨grad_f(X), V⟩_F",
                  "relative error", "tolerance", "rtol="):
        assert field in report


def test_the_readme_snippets_run_in_the_example_folder(tmp_path):
    work = copy(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (work / "README.md").read_text(encoding="utf-8"),
                        re.S)
    assert len(blocks) == 2
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(work)]))
    run = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Sign: your answer is the negative of the true derivative." in run.stdout


@pytest.mark.parametrize("name", ["README.md", "test_student.py", "student.py",
                                  "student_wrong.py", "pytest.ini"])
def test_the_example_ships_its_files(name):
    assert (EXAMPLE / name).stat().st_size > 0
