"""``jacobian-calc lecture --order 2``: the Hessian blocks of the lecture network, derived and checked.

Which blocks: ``--wrt all`` gives every block H_{W_k W_l} with k ≤ l, tail to head;
``--wrt W2`` the diagonal block of W2; ``--wrt W1,W2`` one cross-layer block. Each is
printed as a second-order derivation (every term Tᵢᵀ S Tⱼ with its factors, their shapes
and storage, the Kronecker checks, the terms that vanish and why) and verified against the
compact R-operator and differences of the compact gradient
(:func:`jacobian_calc.verify.second.verify_hessian`).
"""

from __future__ import annotations

from typing import Any

from ..core.errors import UsageError
from ..core.notation import dims
from ..lecture.mlp import MLP
from ..render.report import Heading, Lines, Report, Table
from ..render.second import second_report, second_to_dict
from ..verify.compare import ATOL, ENTRY_LIMIT, RTOL
from ..verify.second import COMPACT_TOLERANCE, SYMMETRY_TOLERANCE, BlockCheck, verify_hessian

__all__ = ["blocks_for", "second_order_report"]


def blocks_for(net: MLP, wrt: str) -> list[tuple[str, str]]:
    """The blocks ``--wrt`` names: ``all``, one weight, or two weights joined by a comma."""
    names = list(net.weight_names)
    if wrt == "all":
        return [(names[k], names[l]) for k in range(len(names) - 1, -1, -1)
                for l in range(len(names) - 1, k - 1, -1)]
    parts = wrt.split(",")
    if len(parts) > 2 or not all(p.strip() in names for p in parts):
        raise UsageError(f"--wrt must be all, one of {', '.join(names)}, or two of them joined "
                         f"by a comma (W1,W2) for a cross-layer block; got {wrt!r}")
    a, b = (parts[0].strip(), parts[-1].strip())
    return [(a, b)]


def _table(rows: list[BlockCheck]) -> Table:
    body = [[r.name, dims(r.shape), r.literal_vs_compact, r.directions.relative,
             "—" if r.entries is None else r.entries.relative,
             "—" if r.asymmetry is None else r.asymmetry, "ok" if r.ok else "MISMATCH"]
            for r in rows]
    return Table(["block", "shape", "literal vs compact", "literal vs Gâteaux", "literal vs FD",
                  "asymmetry", "result"], body,
                 kinds=["text", "dims", "number", "number", "number", "number", "text"])


def _row_data(r: BlockCheck) -> dict[str, Any]:
    def comparison(c: Any) -> dict | None:
        if c is None:
            return None
        return {"method": c.method, "error": c.error, "scale": c.scale,
                "relative_error": c.relative, "ok": c.ok}
    return {"block": [r.x, r.y], "shape": list(r.shape),
            "literal_vs_compact": r.literal_vs_compact, "gateaux": comparison(r.directions),
            "finite_differences": comparison(r.entries), "asymmetry": r.asymmetry, "ok": r.ok}


def second_order_report(net: MLP, x: Any, y: Any, wrt: str, *, seed: int, directions: int,
                        max_values: int | None) -> tuple[Report, bool]:
    """The derivations and the verification of the blocks ``wrt`` names, and whether all agree."""
    blocks = blocks_for(net, wrt)
    derivations = [net.derivation(x, y, wrt=pair, order=2, max_values=max_values)
                   for pair in blocks]
    rows = verify_hessian(net, x, y, blocks, directions=directions, seed=seed)
    ok = all(r.ok for r in rows)
    out: list[Any] = [Heading(f"The lecture network {net!r}, seed {seed}: second order"), ""]
    for d in derivations:
        out += second_report(d, level=2).blocks + [""]
    out += [
        Heading("Verification", 2),
        Lines.of(f"literal H_XY·v vs the compact R-operator (H v)_X: max relative error, "
                 f"tolerance {COMPACT_TOLERANCE:g}; against differences of the compact "
                 f"gradient ∇_X f along v ({directions} random directions, and column by "
                 f"column while Y has at most {ENTRY_LIMIT:,} entries): error ≤ atol {ATOL:g} "
                 f"+ rtol {RTOL:g} · scale; a diagonal block symmetric to "
                 f"{SYMMETRY_TOLERANCE:g}"),
        _table(rows),
    ]
    data = {
        "network": {"repr": repr(net), "sizes": list(net.sizes), "activation": net.activation,
                    "loss": net.loss, "seed": seed, "order": 2},
        "derivations": [second_to_dict(d) for d in derivations],
        "verification": {"compact_tolerance": COMPACT_TOLERANCE, "rtol": RTOL, "atol": ATOL,
                         "directions": directions, "entry_limit": ENTRY_LIMIT,
                         "rows": [_row_data(r) for r in rows], "ok": ok},
    }
    return Report(out, data, max_values), ok
