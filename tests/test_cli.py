"""The jacobian-calc command."""

import subprocess
import sys

import numpy as np
import pytest

from jacobian_calc.front import cli


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


@pytest.fixture
def broken_tanh():
    """tanh with φ′ replaced by 1 (as if φ′ were dropped), in the table, then restored."""
    from jacobian_calc.ops import TABLE
    from jacobian_calc.ops.elementwise import TANH, function

    broken = function("tanh", TANH.params[0].default, np.tanh, lambda h: 0 * h + 1,
                      "$fn($0)", "$fn'($0) = 1", roles=TANH.roles, summary="broken")
    TABLE.add(broken, replace=True)
    yield broken
    TABLE.add(TANH, replace=True)


@pytest.mark.parametrize("argv", [
    ["lecture", "--sizes", "3", "2", "--wrt", "W1"],
    ["lecture", "--sizes", "6", "5", "4", "3", "2", "--activation", "softplus",
     "--loss", "softmax_cross_entropy", "--seed", "3"],
])
def test_other_depths_activations_and_losses(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "MISMATCH" not in out


def test_a_one_layer_network_has_no_activation(capsys):
    code, out, _ = run(capsys, "lecture", "--sizes", "3", "2")
    assert code == 0 and "φ =" not in out and "loss = squared_error" in out
    with pytest.raises(SystemExit) as exc:
        cli.main(["lecture", "--sizes", "3", "2", "--activation", "tanh"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: jacobian-calc lecture") and "has none" in err


def test_exit_status_is_one_when_the_routes_disagree(capsys, broken_tanh):
    # Break φ′ (as if it were dropped): the literal chain and FD must now disagree.
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
    assert "at least two sizes" in capsys.readouterr().err


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


# ------------------------------------------------------------ --format and figure
def test_text_is_the_default_format(capsys):
    _, default, _ = run(capsys, "lecture", "--wrt", "W3")
    _, text, _ = run(capsys, "lecture", "--wrt", "W3", "--format", "text")
    assert default == text and "Derivation of ∂f/∂W3" in text


def test_json_format_is_data_equal_to_the_library_numbers(capsys):
    import json

    import jacobian_calc as jc

    code, out, _ = run(capsys, "lecture", "--format", "json", "--seed", "2")
    assert code == 0
    data = json.loads(out)
    weights, x, y = cli.random_problem(cli.LECTURE_SIZES, "squared_error", 2)
    net = jc.MLP(weights)
    compact = net.gradients(x, y, method="backprop")
    assert [d["wrt"] for d in data["derivations"]] == ["W3", "W2", "W1"]
    for d in data["derivations"]:
        np.testing.assert_allclose(np.array(d["gradient"]), compact[d["wrt"]], rtol=1e-12)
    assert data["network"]["sizes"] == list(cli.LECTURE_SIZES)
    assert data["network"]["seed"] == 2 and data["network"]["activation"] == "sigmoid"
    ver = data["verification"]
    assert ver["ok"] is True and [r["weight"] for r in ver["rows"]] == ["W1", "W2", "W3"]
    for r in ver["rows"]:
        assert r["literal_vs_compact"] <= ver["literal_tolerance"]
        assert r["gateaux"]["ok"] and r["finite_differences"]["ok"]
        assert max(r["gateaux"]["relative_error"],
                   r["finite_differences"]["relative_error"]) <= ver["rtol"]
    assert data["derivations"][1]["matrix_form"]["check"] == "(3×3)·(3×2)·(2×1)·(1×5) → 3×5"


@pytest.mark.parametrize("argv,derivations", [
    ([], 3),
    (["--sizes", "3", "2", "--loss", "softmax_cross_entropy"], 1),
    (["--sizes", "5", "4", "4", "3", "2", "--activation", "tanh"], 4),
    (["--wrt", "W2", "--activation", "softplus"], 1),
])
def test_latex_format_is_display_math_that_parses(capsys, argv, derivations):
    import re

    pytest.importorskip("latex2mathml")
    from jacobian_calc.render.latex import check_latex

    code, out, _ = run(capsys, "lecture", "--format", "latex", *argv)
    assert code == 0
    blocks = re.findall(r"^\\\[\n(.*?)\n\\\]$", out, flags=re.S | re.M)
    assert len(blocks) == derivations + 1  # one per derivation, then the table
    for block in blocks:
        check_latex(block)
    # outside the display formulas there are only LaTeX comments
    rest = re.sub(r"^\\\[\n.*?\n\\\]$", "", out, flags=re.S | re.M)
    assert all(line.startswith("%") for line in rest.splitlines() if line.strip())
    assert blocks[-1].startswith("\\begin{array}") and r"\text{ok}" in blocks[-1]
    assert "MISMATCH" not in out


def test_latex_format_has_the_lectures_dimension_check(capsys):
    _, out, _ = run(capsys, "lecture", "--format", "latex", "--wrt", "W2")
    assert (r"(3 \times 3) \cdot (3 \times 2) \cdot (2 \times 1) \cdot (1 \times 5) \to 3 \times 5"
            in out)


def test_markdown_format_has_headings_derivations_and_the_table(capsys):
    code, out, _ = run(capsys, "lecture", "--format", "markdown")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("# The lecture network MLP(4 → 5 → 3 → 2")
    headings = [line for line in lines if line.startswith("### Derivation of")]
    assert headings == ["### Derivation of ∂f/∂W3 — eq (26)",
                        "### Derivation of ∂f/∂W2 — eq (27)–(33)",
                        "### Derivation of ∂f/∂W1 — eq (34)–(38)"]
    assert "## Verification" in lines
    table = lines[lines.index("| weight | shape | literal vs compact | literal vs Gâteaux | "
                              "literal vs FD | result |") + 2:]
    assert [row.split(" | ")[0] for row in table] == ["| W1", "| W2", "| W3"]
    assert all(row.endswith("| ok |") for row in table)
    assert "dimension check, eq (33): (3×3)·(3×2)·(2×1)·(1×5) → 3×5" in lines


def test_non_text_formats_keep_the_exit_status(capsys, broken_tanh):
    for fmt in ("json", "markdown", "latex"):
        code, out, _ = run(capsys, "lecture", "--activation", "tanh", "--format", fmt)
        assert code == 1 and ("MISMATCH" in out or '"ok": false' in out)


@pytest.mark.parametrize("name", ["figure1.png", "figure1.svg"])
def test_figure_writes_png_and_svg(capsys, tmp_path, name):
    pytest.importorskip("matplotlib")
    out = tmp_path / name
    code, stdout, _ = run(capsys, "figure", "--out", str(out), "--depth", "4")
    assert code == 0 and stdout.strip() == f"wrote {out}"
    data = out.read_bytes()
    assert len(data) > 10_000
    if name.endswith(".png"):
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        svg = data.decode()
        assert 'id="node-dW4"' in svg and 'id="node-phi3"' in svg
        assert "The lecture network, depth 4" in svg and "red: wanted derivatives" in svg


def test_figure_of_a_jacobian_draws_its_blocks(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "w2.svg"
    code, _, _ = run(capsys, "figure", "--out", str(out), "--jacobian", "W2")
    assert code == 0
    svg = out.read_text()
    # ∂h2/∂vec(W2) for the lecture sizes is 3×15 with 5 blocks: 4 boundaries
    assert svg.count('id="block-boundary"') == 4
    assert "3×15, 15 non-zero" in svg


def test_figure_refuses_other_extensions_and_bad_choices(capsys, tmp_path):
    for bad in ("fig.pdf", "fig.jpg", "fig"):
        with pytest.raises(SystemExit) as exc:
            cli.main(["figure", "--out", str(tmp_path / bad)])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "--out must end in .png or .svg" in err and bad in err
    with pytest.raises(SystemExit):
        cli.main(["figure", "--out", str(tmp_path / "f.png"), "--jacobian", "W7"])
    assert "--jacobian must be one of W1, W2, W3, got 'W7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["figure", "--out", str(tmp_path / "f.png"), "--depth", "0"])
    assert "--depth: expected a positive size, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["figure"])
    assert "--out" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_figure_without_matplotlib_names_the_plot_extra(capsys, tmp_path, without_matplotlib):
    code, _, err = run(capsys, "figure", "--out", str(tmp_path / "f.png"))
    assert code == 2
    assert "pip install 'jacobian_calc[plot]'" in err
    assert err.startswith("usage: jacobian-calc figure") and "jacobian-calc figure: error:" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["lecture"], ["figure", "--out", "f.png", "--jacobian", "W1"],
                                     ["expr", "sum(X)", "--wrt", "X", "--shape", "X=2"]])
def test_a_negative_seed_is_a_usage_error(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, "--seed", "-1"])
    assert exit_.value.code == 2
    assert "--seed: expected a non-negative integer, got -1" in capsys.readouterr().err


def test_figure_into_a_missing_folder_or_too_deep_is_a_usage_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["figure", "--out", str(tmp_path / "nowhere" / "f.png")])
    assert exit_.value.code == 2 and "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["figure", "--out", str(tmp_path / "f.png"), "--depth", "500"])
    assert exit_.value.code == 2 and "--depth must be between 1 and" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ --order 2
def test_lecture_order_2_derives_and_verifies_every_block(capsys):
    code, out, _ = run(capsys, "lecture", "--order", "2", "--activation", "tanh")
    assert code == 0
    titles = [line for line in out.splitlines() if line.startswith("Second-order derivation")]
    assert len(titles) == 6  # the blocks k ≤ l of three weights
    assert titles[0].startswith("Second-order derivation of ∂²f/∂vec(W3)²  (6×6)")
    assert "(5×5)⊗(3×3) → 15×15" in out  # the Gauss-Newton block of W2: (z1 z1ᵀ) ⊗ (B2ᵀ B2)
    table = out[out.index("Verification"):].splitlines()[4:]
    assert len(table) == 6 and all(line.rstrip().endswith("ok") for line in table)


def test_lecture_order_2_names_the_vanishing_relu_terms_and_one_block(capsys):
    code, out, _ = run(capsys, "lecture", "--order", "2", "--activation", "relu",
                       "--wrt", "W1,W2")
    assert code == 0
    assert out.count("Second-order derivation") == 1
    assert "vanishes: ReLU is piecewise linear" in out
    assert "the bilinear term of h2 = W2 z1" in out


def test_lecture_order_2_json_and_latex(capsys):
    import json
    import re

    code, out, _ = run(capsys, "lecture", "--order", "2", "--format", "json", "--wrt", "W2")
    assert code == 0
    data = json.loads(out)
    assert data["network"]["order"] == 2 and data["verification"]["ok"] is True
    assert [t["name"] for t in data["derivations"][0]["terms"]] == ["activation_2",
                                                                    "gauss_newton"]
    pytest.importorskip("latex2mathml")
    from jacobian_calc.render.latex import check_latex

    code, out, _ = run(capsys, "lecture", "--order", "2", "--format", "latex", "--wrt", "W2")
    assert code == 0
    for block in re.findall(r"^\\\[\n(.*?)\n\\\]$", out, flags=re.S | re.M):
        check_latex(block)
    rest = re.sub(r"^\\\[\n.*?\n\\\]$", "", out, flags=re.S | re.M)
    assert all(line.startswith("%") for line in rest.splitlines() if line.strip())


@pytest.mark.parametrize("argv,message", [
    (["--order", "2", "--wrt", "W1,W5"], "--wrt must be all, one of W1, W2, W3, or two of them"),
    (["--order", "3"], "invalid choice: 3"),
])
def test_lecture_order_2_usage_errors_are_explained(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["lecture", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_lecture_order_2_over_the_work_bound_is_refused_up_front(capsys):
    code, out, err = run(capsys, "lecture", "--order", "2", "--sizes", "300", "300", "300", "2")
    assert code == 2 and out == ""
    assert "Hessian" in err and "nothing was built" in err
