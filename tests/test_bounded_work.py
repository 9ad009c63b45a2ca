"""Work that is bounded everywhere: the reproductions of issue 9, each refused or done.

Every case here once ran for minutes, ate gigabytes or ended in a raw traceback. The work
bound (jacobian_calc.core.limits) is checked before anything is built; structured factors
keep what used to be gigabytes small. No timing is asserted: the reproductions must end
with the right answer or a clear error, and the estimate must be what was checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.front.cli import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def nested_inverses() -> str:
    # the first expression: 30 inverses around 800 paths from a scalar X
    g = "(" + "+".join(["X"] * 10) + ")"
    m = "(" + "+".join([g] * 10) + ")"
    return "inv(" * 30 + "(" + "+".join([m] * 8) + ")*A" + ")" * 30


def traces_times_a_product() -> str:
    # the second expression: 300 traces of X times the 64×64 product A B
    return ("(" + "+".join("(" + "+".join(["tr(X)"] * 30) + ")" for _ in range(10))
            + ")*(A@B)")


def test_thirty_nested_inverses_over_eight_hundred_paths_finish_small(capsys):
    # once 112 s: every factor was rebuilt once per path. Now each is built once, and the
    # inverses' factors −X⁻ᵀ⊗X⁻¹ stay pairs of 32×32 matrices that compose as such.
    tracemalloc.start()
    code = main(["expr", nested_inverses(), "--wrt", "X", "--shape", "X=scalar",
                 "--shape", "A=32x32"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out = capsys.readouterr().out
    assert code == 0 and out.rstrip().endswith(": ok")
    assert "800 paths lead from X" in out
    assert peak < 200 * 2**20  # the issue asks for under 500 MB


def test_three_hundred_traces_times_a_product_are_refused_up_front(capsys):
    # once a 9.4 GB peak: every term's 4096×1024 product was kept. The estimate counts what
    # the recorded sweep writes and keeps, and refuses before building anything.
    tracemalloc.start()
    code = main(["expr", traces_times_a_product(), "--wrt", "X", "--shape", "X=32x32",
                 "--shape", "A=64x16", "--shape", "B=16x64"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and "nothing was built" in err
    assert re.search(r"would (build and keep [\d,]+ entries|spend [\d,]+ multiply-adds)", err)
    assert "work limit of" in err
    assert peak < 100 * 2**20


def test_the_same_traces_through_the_api_pick_the_cheap_direction():
    # jc.jacobian is not a derivation: it accumulates head to tail when that is cheaper,
    # and X has a quarter of the output's entries.
    rng = np.random.default_rng(0)
    X = jc.var("X", rng.normal(size=(8, 8)))
    A, B = jc.var("A", rng.normal(size=(16, 4))), jc.var("B", rng.normal(size=(4, 16)))
    total = jc.trace(X)
    for _ in range(20):
        total = total + jc.trace(X)
    F = total * (A @ B)
    J = jc.jacobian(F, X)
    expected = 21 * (A.value @ B.value).reshape(-1, 1, order="F") @ np.eye(8).reshape(1, -1,
                                                                                    order="F")
    np.testing.assert_allclose(J.toarray(), expected, rtol=1e-12)


@pytest.mark.parametrize("sizes", [["100000", "100000", "1", "1"], ["60000", "60000"]])
def test_a_lecture_network_over_the_bound_is_refused_before_its_weights_exist(capsys, sizes):
    tracemalloc.start()
    code = main(["lecture", "--sizes", *sizes])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and "nothing was built" in err and "weights and data" in err
    assert peak < 50 * 2**20


def test_a_figure_of_a_huge_factor_is_refused_before_it_is_drawn(capsys, tmp_path):
    code = main(["figure", "--jacobian", "W1", "--sizes", "100000", "100000",
                 "--out", str(tmp_path / "j.png")])
    err = capsys.readouterr().err
    assert code == 2 and "sparsity picture" in err and "nothing was built" in err
    assert list(tmp_path.iterdir()) == []


def test_a_network_of_a_million_weights_verifies_by_random_directions(capsys):
    # issue 9, item 6: per-entry differences only for small parameters; the rest by
    # Gâteaux derivatives in random directions, so this is seconds, not hours.
    code = main(["lecture", "--sizes", "1024", "1024", "1024", "128", "--wrt", "W3"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if re.match(r"W\d\s", line)]
    assert [r.split()[0] for r in rows] == ["W1", "W2", "W3"]
    assert all(r.split()[4] == "—" and r.rstrip().endswith("ok") for r in rows)


def test_two_hundred_layers_of_width_two_end(capsys):
    sizes = ["2"] * 201
    code = main(["lecture", "--sizes", *sizes, "--wrt", "W1", "--directions", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "MISMATCH" not in out
    assert "Derivation of ∂f/∂W1" in out and "not searched (400 factors" in out


def test_zero_jacobians_are_verified_as_ok(capsys):
    # X @ inv(X) is the constant I: its Jacobian is exactly zero, the differences are
    # rounding noise, and a verdict with only a relative tolerance called that a mismatch.
    assert main(["expr", "X @ inv(X)", "--wrt", "X", "--shape", "X=3x3"]) == 0
    assert "MISMATCH" not in capsys.readouterr().out
    assert main(["lecture", "--sizes", *(["1"] * 20)]) == 0
    assert "MISMATCH" not in capsys.readouterr().out


def test_names_that_python_folds_together_are_refused(capsys):
    code = main(["expr", "X + 𝐗", "--wrt", "𝐗", "--shape", "𝐗=2x2", "--shape", "X=2x2"])
    err = capsys.readouterr().err
    assert code == 2 and "the same variable to the parser" in err and "'X'" in err


def test_a_closed_pipe_ends_quietly_with_status_zero():
    done = subprocess.run(f"{sys.executable} -m jacobian_calc lecture | head -2", shell=True,
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stderr == "" and len(done.stdout.splitlines()) == 2
    status = subprocess.run([sys.executable, "-c",
                             "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', "
                             "'jacobian_calc', 'lecture'], stdout=subprocess.PIPE, stderr="
                             "subprocess.PIPE); p.stdout.read(10); p.stdout.close(); "
                             "print(p.wait(), p.stderr.read().decode())"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    code, _, stderr = status.stdout.partition(" ")
    assert code == "0" and "Traceback" not in stderr


def test_an_ascii_terminal_gets_escapes_not_a_traceback():
    done = subprocess.run([sys.executable, "-m", "jacobian_calc", "expr", "sum(X)", "--wrt", "X",
                           "--shape", "X=2x2"], capture_output=True, cwd=ROOT, timeout=120,
                          env={**__import__("os").environ, "PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    assert b"\\u2202sum(X)/\\u2202vec(X)" in done.stdout


def test_figure_output_that_is_a_folder_or_unwritable_is_a_usage_error(capsys, tmp_path):
    folder = tmp_path / "pictures.png"
    folder.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["figure", "--out", str(folder)])
    assert exc.value.code == 2 and "is a folder" in capsys.readouterr().err
    code = main(["figure", "--out", "/proc/figure.png"])  # a folder nobody can write into
    assert code == 2 and "could not write the file" in capsys.readouterr().err


def test_a_five_thousand_digit_shape_is_a_clear_error(capsys):
    code = main(["expr", "sum(X)", "--wrt", "X", "--shape", "X=" + "9" * 5000 + "x2"])
    err = capsys.readouterr().err
    assert code == 2 and "every dimension must be between 1 and 64" in err
    assert "Traceback" not in err and len(err) < 2000


def test_the_api_refuses_what_it_used_to_accept_or_crash_on():
    X = jc.var("X", [1.0])
    with pytest.raises(jc.DomainError, match="not a finite float64 number"):
        (10**400) * X
    with pytest.raises(jc.JacobianCalcError, match="factor 1 is of type ndarray"):
        jc.chain(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(jc.JacobianCalcError, match="complex"):
        jc.Jacobian(np.ones((2, 2)) * 1j, of="y", wrt="x", of_shape=(2,), wrt_shape=(2,))
    with pytest.raises(jc.ShapeError, match="of_shape must be a tuple"):
        jc.Jacobian(np.ones((1, 1)), of="y", wrt="x", of_shape=(-1, -1), wrt_shape=(1,))
    with pytest.raises(jc.WorkLimitError, match="nothing was built"):
        jc.linear_weight_jacobian(np.ones(3), 10**9)


def test_a_constant_power_of_zero_has_a_zero_jacobian_without_warnings():
    import warnings

    X = jc.var("X", np.ones((2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J = jc.jacobian((X - X) ** 0, X)  # 0⁰ = 1 everywhere: a constant
    assert J.shape == (4, 4) and not np.any(J.toarray())
