"""The autograder example passes for the right student and fails for the wrong one."""

import os
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
         "test_layer_gradient_equals_the_literal_chain"]


def grade(student: str, tmp_path: Path) -> subprocess.CompletedProcess:
    # A copy, so the run writes nothing into the repository and proves the folder is
    # self-contained (its own pytest.ini); the package comes from this checkout.
    work = tmp_path / "autograder"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), STUDENT_MODULE=student,
               AUTOGRADER_PROFILE="quick")
    return subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:randomly",
                           "-W", "ignore::DeprecationWarning"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)


def test_the_right_student_passes_every_test(tmp_path):
    run = grade("student", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for name in TESTS:
        assert f"PASSED test_student.py::{name}" in run.stdout
    assert "5 passed" in run.stdout


def test_the_wrong_student_fails_every_test_with_a_report(tmp_path):
    run = grade("student_wrong", tmp_path)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    for name in TESTS:
        assert f"FAILED test_student.py::{name}" in run.stdout
    out = run.stdout
    # the helpers' report: worst direction, both values, relative error, tolerance
    for field in ("worst direction", "Gâteaux derivative (f(X + tV) − f(X − tV))/2t",
                  "⟨grad_f(X), V⟩_F", "relative error", "tolerance", "rtol="):
        assert field in out
    assert "it looks transposed" in out  # the transposed outer product has Wᵀ's shape
    assert "Jacobian check failed" in out  # the softmax Jacobian without −ssᵀ


@pytest.mark.parametrize("name", ["README.md", "test_student.py", "student.py",
                                  "student_wrong.py", "pytest.ini"])
def test_the_example_ships_its_files(name):
    assert (EXAMPLE / name).stat().st_size > 0
