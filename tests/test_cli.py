"""The jacobian-calc command."""

import subprocess
import sys

import pytest

from jacobian_calc import cli


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lecture_default_prints_derivations_and_a_passing_table(capsys):
    code, out, _ = run(capsys, "lecture")
    assert code == 0
    assert out.index("Derivation of ∂f/∂W3") < out.index("Derivation of ∂f/∂W2") < \
        out.index("Derivation of ∂f/∂W1")  # tail to head
    assert "(3×3)·(3×2)·(2×1)·(1×5) → 3×5" in out
    table = out[out.index("Verification"):].splitlines()
    rows = [line for line in table if line.startswith("W")]
    assert [r.split()[0] for r in rows] == ["W1", "W2", "W3"]
    assert all(r.rstrip().endswith("ok") for r in rows)
    for r in rows:
        errors = [float(v) for v in r.split()[2:5]]
        assert errors[0] <= 1e-10 and max(errors[1:]) <= 1e-6


@pytest.mark.parametrize("argv", [
    ["lecture", "--sizes", "3", "2", "--activation", "tanh", "--wrt", "W1"],
    ["lecture", "--sizes", "6", "5", "4", "3", "2", "--activation", "softplus",
     "--loss", "softmax_cross_entropy", "--seed", "3"],
])
def test_other_depths_activations_and_losses(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "MISMATCH" not in out


def test_exit_status_is_one_when_the_routes_disagree(capsys, monkeypatch):
    # Break φ′ (as if it were dropped): the literal chain and FD must now disagree.
    from jacobian_calc import activations
    broken = activations.Activation(**{**activations.ACTIVATIONS["tanh"].__dict__,
                                       "derivative": lambda h: 0 * h + 1})
    monkeypatch.setitem(activations.ACTIVATIONS, "tanh", broken)
    code, out, _ = run(capsys, "lecture", "--activation", "tanh")
    assert code == 1 and "MISMATCH" in out


def test_bad_arguments_are_explained(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["lecture", "--wrt", "W7"])
    assert exc.value.code == 2
    assert "--wrt must be one of W1, W2, W3 or all, got 'W7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["lecture", "--activation", "gelu"])
    assert "invalid choice: 'gelu'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["lecture", "--sizes", "4"])
    assert "at least two positive sizes" in capsys.readouterr().err


def test_help_describes_the_lecture_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["lecture", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--sizes", "--activation", "--loss", "--seed", "--wrt"):
        assert option in out
    assert cli.main([]) == 2


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "jacobian_calc", "lecture", "--wrt", "W3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Derivation of ∂f/∂W3" in done.stdout and "Verification" in done.stdout
