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

# The rows the issue asks for, written out here rather than taken from the script.
ROW_NAMES = [
    "explicit-vs-compact checks, sizes 4 5 3 2 (plain loop)",
    "hypothesis examples of literal == compact, sizes 4 5 3 2",
    "compact numpy gradients (floor)",
    "literal explicit gradients",
    "Kronecker factor xᵀ⊗I_p: ours (recycled value buffer)",
    "Kronecker factor xᵀ⊗I_p: ours (pool emptied: a new value array)",
    "Kronecker factor xᵀ⊗I_p: scipy.sparse.kron, format='csc'",
    "Kronecker factor xᵀ⊗I_p: scipy.sparse.kron, default format",
    "Kronecker factor xᵀ⊗I_p: dense ndarray",
    "row gradient × Kronecker factor: ours",
    "row gradient × Kronecker factor: the same factor stored CSC",
    "row gradient × Kronecker factor: the same factor stored CSR",
    "full ∂ŷ/∂vec(W1): ours: net.jacobian(x, of='yhat', wrt='W1')",
    "full ∂ŷ/∂vec(W1): closed form np.kron(xᵀ, W3 D2 W2 D1)",
    "full ∂ŷ/∂vec(W1): torch.func.jacrev",
    "full ∂ŷ/∂vec(W1): jax.jacrev",
]


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
    assert "Targets (issue 5):" in proc.stdout


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
    kron = [r for r in rows if r["name"].startswith("Kronecker factor xᵀ⊗I_p: ours")]
    # 8 bytes of value per stored entry plus the factor's small fixed overhead, traced, and
    # exactly 8 in the arrays it holds; scipy.sparse.kron's CSC holds 16
    assert all(8.0 <= r["extra"]["bytes_per_entry"] < 12.0 for r in kron if r["n"] == 64)
    assert all(r["extra"]["array_bytes_per_entry"] == 8.0 for r in kron)
    csc = [r for r in rows if r["name"].endswith("scipy.sparse.kron, format='csc'")]
    assert all(r["extra"]["array_bytes_per_entry"] > 16.0 for r in csc)
    assert (out / "results.md").read_text(encoding="utf-8").startswith("# Benchmark results")
