"""Smoke test of the benchmark: it runs, prints every row, and every route stays exact.

No timing is asserted (CI machines are shared); the quick run only has to finish and
agree with the compact formulas, scipy.sparse.kron and the closed form to 1e-12.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs benchmarks/run.py in a subprocess

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "run.py"

# The rows the issues ask for, written out here rather than taken from the script.
ROW_NAMES = [
    "explicit-vs-compact checks, sizes 4 5 3 2 (plain loop)",
    "hypothesis examples of literal == compact, sizes 4 5 3 2",
    "compact numpy gradients (floor)",
    "literal explicit gradients",
    "Kronecker factor xᵀ⊗I_p: ours, structured Kron(xᵀ, p) as the graph builds it",
    "Kronecker factor xᵀ⊗I_p: ours, public jc.linear_weight_jacobian (scipy CSR)",
    "Kronecker factor xᵀ⊗I_p: scipy.sparse.kron, format='csc'",
    "Kronecker factor xᵀ⊗I_p: scipy.sparse.kron, default format",
    "Kronecker factor xᵀ⊗I_p: dense ndarray",
    "row gradient × Kronecker factor: ours (structured Kron)",
    "row gradient × Kronecker factor: the same factor stored CSC",
    "row gradient × Kronecker factor: the same factor stored CSR",
    "lecture verification: verify_network(net, x, y, directions=8)",
    "lecture command: jacobian-calc lecture --sizes 64 64 64 8",
    "full ∂ŷ/∂vec(W1): ours: net.jacobian(x, of='yhat', wrt='W1')",
    "full ∂ŷ/∂vec(W1): closed form np.kron(xᵀ, W3 D2 W2 D1)",
    "full ∂ŷ/∂vec(W1): torch.func.jacrev",
    "full ∂ŷ/∂vec(W1): jax.jacrev",
    # issue 10: second order
    "full Hessian over (vec W1, vec W2, vec W3): ours: net.hessian(x, y)",
    "full Hessian over (vec W1, vec W2, vec W3): torch.func.hessian",
    "full Hessian over (vec W1, vec W2, vec W3): jax.hessian",
    "Hessian-vector product: ours: net.hvp(x, y, V)",
    "Hessian-vector product: compact R-operator in numpy (Pearlmutter; the reference)",
    "Hessian-vector product: torch.func.jvp(grad)",
    "Hessian-vector product: jax.jvp(grad)",
    "Gauss-Newton block of W1: ours, net.gauss_newton(x, y, wrt='W1')",
    "Gauss-Newton block of W1 × vector: ours: H.storage @ vec(V)",
    "Gauss-Newton block of W1 × vector: numpy: vec(G V Aᵀ)",
    "Gauss-Newton block of W1: dense",
    "formula: tr(A X B)",
    "formula: X⁻¹, Kronecker form",
    "formula: lecture network 4 5 3 2, ∂f/∂W2",
    # issue 11: conv2d
    "conv2d: the convolution itself, the entry's forward",
    "conv2d ∂vec(Y)/∂vec(X): ours, jc.jacobian (sparse CSR from its index pattern)",
    "conv2d ∂vec(Y)/∂vec(K): ours, jc.jacobian (dense im2col(X)ᵀ)",
    "conv2d ∂vec(Y)/∂vec(X): torch.func.jacrev",
    "conv2d ∂vec(Y)/∂vec(K): torch.func.jacrev",
    "conv2d ∂vec(Y)/∂vec(K): torch.func.jacfwd",
    # issue 11: attention
    "attention ∂vec(O)/∂vec(Q), ∂vec(O)/∂vec(K), ∂vec(O)/∂vec(V): ours, jc.jacobian of "
    "jc.attention (the entry's literal partials)",
    "attention ∂vec(O)/∂vec(Q), ∂vec(O)/∂vec(K), ∂vec(O)/∂vec(V): compact backward formulas, "
    "one VJP per output entry",
    "attention ∂vec(O)/∂vec(Q), ∂vec(O)/∂vec(K), ∂vec(O)/∂vec(V): torch.func.jacrev",
]
TARGETS = "Targets (issues 5, 9, 10, 11 and 12):"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--checks", "20", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,  # a hang guard, not a timing
    )
    return proc, out


def test_quick_benchmark_exits_cleanly(quick_run):
    proc, _ = quick_run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_quick_benchmark_prints_every_row_for_each_size(quick_run):
    proc, _ = quick_run
    lines = proc.stdout.splitlines()
    for name in ROW_NAMES:
        assert any(name in line for line in lines), f"row {name!r} missing"
    for n in (4, 64):
        rows = [line for line in lines if line.startswith(f"| {n} | ")]
        assert any("literal explicit gradients" in line for line in rows)
        assert any("Kronecker factor" in line for line in rows)
        assert any("lecture verification" in line for line in rows)
    assert TARGETS in proc.stdout
    # every target is listed with its verdict, measured or not
    targets = [line for line in proc.stdout.split(TARGETS, 1)[1]
               .splitlines() if line.startswith("- ")]
    assert len(targets) >= 20
    for what in ("full Hessian at n = 64", "no slower than torch.func.hessian",
                 "no slower than jax.hessian", "Hessian-vector product ≤ 4× one compact gradient",
                 "Gauss-Newton block of W1 held as its Kronecker factors",
                 "Gauss-Newton block of W1 times a vector without forming it"):
        assert any(what in line for line in targets), what
    for line in targets:
        assert any(v in line for v in ("**met**", "**MISSED**", "**not measured**")), line


def test_quick_benchmark_results_are_exact(quick_run):
    _, out = quick_run
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["machine"]["numpy"] and data["machine"]["cores"] >= 1
    rows = data["rows"]
    explicit = [r for r in rows if r["name"] == "literal explicit gradients"]
    assert {r["n"] for r in explicit} == {4, 64}
    for r in explicit:
        assert r["exactness"] is not None and r["exactness"] <= 1e-12
        assert r["seconds"] > 0 and r["peak_bytes"] > 0
    errs = [r["exactness"] for r in rows if r["exactness"] is not None]
    assert len(errs) >= 10 and max(errs) <= 1e-12
    by_name = {(r["name"], r["n"]): r for r in rows}
    kron = "Kronecker factor xᵀ⊗I_p: "
    for n in (4, 64):
        p = d = n
        structured = by_name[(kron + "ours, structured Kron(xᵀ, p) as the graph builds it", n)]
        public = by_name[(kron + "ours, public jc.linear_weight_jacobian (scipy CSR)", n)]
        csc = by_name[(kron + "scipy.sparse.kron, format='csc'", n)]
        # the structured factor is the graph's own, holds x (8·d bytes) and is no scipy class
        assert structured["extra"]["graph_builds_this"] is True
        assert structured["extra"]["array_bytes"] == 8 * d
        assert structured["extra"]["type"] == "Kron"
        # the public one is a plain CSR array: 8 B value + 4 B index per entry, 4 B per row
        assert public["extra"]["type"] == "csr_array"
        assert public["extra"]["array_bytes"] == 12 * p * d + 4 * (p + 1)
        assert csc["extra"]["array_bytes"] >= 16 * p * d
        for r in (structured, public):
            assert r["extra"]["no_scipy_subclass"] is True
            assert r["extra"]["stored_entries"] == p * d
            assert r["exactness"] == 0.0  # the same matrix as scipy.sparse.kron, exactly
    # traced bytes of one factor built on its own: its arrays plus a fixed object overhead
    public64 = by_name[(kron + "ours, public jc.linear_weight_jacobian (scipy CSR)", 64)]
    assert 12.0 <= public64["extra"]["bytes_per_entry"] < 13.0
    rowprod = [r for r in rows if r["name"].startswith("row gradient × Kronecker factor")]
    assert len(rowprod) == 6 and all(r["exactness"] <= 1e-15 for r in rowprod)
    verify = [r for r in rows if r["name"].startswith("lecture verification")]
    assert {r["n"] for r in verify} == {4, 64}
    assert all(r["extra"]["ok"] is True and r["exactness"] <= 1e-12 for r in verify)
    command = [r for r in rows if r["name"].startswith("lecture command")]
    assert len(command) == 1 and command[0]["extra"]["exit_status"] == 0
    assert len(data["targets"]) >= 20
    # attention at 64 tokens of width 64: every route agrees with the compact formulas
    attention = [r for r in rows if r["group"] == "attention"]
    assert {r["n"] for r in attention} == {64}
    timed = [r for r in attention if r["seconds"] is not None]
    assert len(timed) >= 2 and all(r["exactness"] <= 1e-12 for r in timed)
    assert all(r["extra"]["tokens"] == r["extra"]["width"] == 64 for r in timed)
    assert any(t["target"].startswith("attention's three Jacobians at 64 tokens of width 64")
               for t in data["targets"])
    assert (out / "results.md").read_text(encoding="utf-8").startswith("# Benchmark results")
    # issue 12: formulas of lecture-size expressions, certified, timed with and without
    # their certificate, and equal to the literal (or compact) result
    formulas = [r for r in rows if r["group"] == "formulas"]
    assert len(formulas) == 10
    for r in formulas:
        assert r["extra"]["certified"] is True and 0 < r["extra"]["rewriting_s"] <= r["seconds"]
        assert r["exactness"] is not None and r["exactness"] <= 1e-12
    by_formula = {r["name"]: r["extra"]["formula"] for r in formulas}
    assert by_formula["formula: lecture network 4 5 3 2, ∂f/∂W2"] == "[φ′(h2) ⊙ (W3ᵀ(ŷ − y))] z1ᵀ"
    assert by_formula["formula: A X B, Kronecker form"] == "Bᵀ ⊗ A"
    target = [t for t in data["targets"] if "issue 12" in t["target"]]
    assert len(target) == 1 and target[0]["met"] in (True, False)  # timing is not asserted


def test_quick_benchmark_second_order_rows(quick_run):
    _, out = quick_run
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    by_name = {(r["name"], r["n"]): r for r in data["rows"]}
    full = "full Hessian over (vec W1, vec W2, vec W3): "
    # the full Hessian runs at n = 4 with --quick (40 weights); at n = 64 it is skipped
    ours = by_name[(full + "ours: net.hessian(x, y)", 4)]
    assert ours["extra"]["weights"] == 4 * 4 + 4 * 4 + 2 * 4 and ours["seconds"] > 0
    for peer in ("torch.func.hessian", "jax.hessian"):
        row = by_name.get((full + peer, 4))
        assert row is not None
        if row["seconds"] is not None:  # installed: exact against ours, through the converter
            assert row["exactness"] <= 1e-12
        else:
            assert row["note"] == "n/a: not installed"
    skipped = by_name[(full + "all routes", 64)]
    assert "8,704 × 8,704" in skipped["note"] and "--quick" in skipped["note"]
    for n in (4, 64):
        p = d = n
        hvp = by_name[("Hessian-vector product: ours: net.hvp(x, y, V)", n)]
        ref = by_name[("Hessian-vector product: compact R-operator in numpy (Pearlmutter; the "
                       "reference)", n)]
        assert hvp["exactness"] <= 1e-12 and ref["exactness"] == 0.0
        assert hvp["reference"] == "compact gradient alongside"
        assert hvp["extra"]["compact_alongside_s"] > 0
        gn = by_name[("Gauss-Newton block of W1: ours, net.gauss_newton(x, y, wrt='W1')", n)]
        # kept as its two factors: A = x xᵀ (d × d) and G (p × p), never the (pd)² block
        assert gn["extra"]["type"] == "Kron"
        assert gn["extra"]["array_bytes"] == 8 * (d * d + p * p)
        assert gn["extra"]["dense_bytes"] == 8 * (p * d) ** 2
        assert gn["exactness"] <= 1e-12
        product = by_name[("Gauss-Newton block of W1 × vector: ours: H.storage @ vec(V)", n)]
        assert product["exactness"] <= 1e-12 and product["seconds"] > 0
        dense = by_name[("Gauss-Newton block of W1: dense", n)]
        assert dense["seconds"] is None and dense["extra"]["dense_bytes"] == 8 * (p * d) ** 2


def test_quick_benchmark_conv2d_rows_are_sparse_exact_and_judged(quick_run):
    proc, out = quick_run
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    conv = [r for r in data["rows"] if r["group"] == "conv2d"]
    assert {r["n"] for r in conv} == {64, 256}  # fixed sizes, whatever --sizes says
    for n in (64, 256):
        ours = next(r for r in conv if r["n"] == n and "∂vec(X): ours" in r["name"])
        forward = next(r for r in conv if r["n"] == n and "convolution itself" in r["name"])
        # 9 entries in every row of the (n − 2)² × n² factor, built sparse, gᵀJ exact
        assert ours["extra"]["sparse"] is True and ours["extra"]["entries_per_row"] == [9, 9]
        assert ours["extra"]["nnz"] == 9 * (n - 2) ** 2
        assert ours["extra"]["dense_bytes"] == 8 * (n - 2) ** 2 * n * n
        assert ours["exactness"] <= 1e-12 and forward["exactness"] <= 1e-12
        assert ours["reference"] == "forward" and ours["ratio_reference"] > 0
        assert ours["peak_bytes"] > ours["extra"]["array_bytes"] > 12 * 9 * (n - 2) ** 2
        for r in conv:
            if r["n"] == n and "torch" in r["name"]:  # measured and exact, or says why not
                assert (r["exactness"] is not None and r["exactness"] <= 1e-12) \
                    or r["note"].startswith("n/a"), r
    big = [r for r in conv if r["n"] == 256 and "∂vec(X): torch.func.jacrev" in r["name"]]
    # never attempted at 256: its dense result would be 31.5 GiB (or torch is not installed)
    assert big and big[0]["seconds"] is None and big[0]["note"].startswith("n/a")
    targets = [t for t in data["targets"] if t["target"].startswith("conv2d ∂vec(Y)/∂vec(X)")]
    assert len(targets) == 2 and all(t["met"] is not None for t in targets)
    assert "< 20× the forward" in targets[0]["target"] and "< 100 MB" in targets[1]["target"]


@pytest.mark.parametrize("spelling", [["--only", "attention"], ["--only-attention"],
                                      ["--only", "conv2d"], ["--only-conv2d"]])
def test_one_group_runs_alone_under_either_spelling(spelling, tmp_path):
    group = spelling[-1].removeprefix("--only-")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *spelling, "--quick", "--no-peers", "--repeats", "1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,  # a hang guard, not a timing
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["rows"] and {r["group"] for r in data["rows"]} == {group}
    assert data["command"].endswith(" ".join(spelling + ["--quick", "--no-peers", "--repeats",
                                                         "1", "--out", str(tmp_path)]))


def test_an_unknown_group_is_refused_with_the_choices():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--only", "lstm"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "invalid choice: 'lstm' (choose from" in proc.stderr
    assert "conv2d" in proc.stderr and "attention" in proc.stderr
