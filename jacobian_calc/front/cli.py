"""The ``jacobian-calc`` command.

``jacobian-calc lecture`` runs the lecture's network (§3.1) on random data, prints each
requested derivation with its dimension checks, and ends with a verification table:
the literal chain against the compact formulas (26), (32), (38) and against finite
differences. The exit status is 1 when any of them disagree beyond tolerance.
``--format`` chooses plain text (the default), Markdown, LaTeX (display formulas for an
amsmath document) or JSON (the derivations and the verification table as data).

``jacobian-calc figure --out FILE.png|svg`` draws the lecture's Figure 1 for any depth,
or with ``--jacobian W1`` the sparsity picture of that weight's factor (eq 22); it needs
the ``plot`` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from ..ops.activations import ACTIVATIONS
from ..verify.check import finite_difference_jacobian, max_relative_error
from ..core.errors import JacobianCalcError
from ..ops.losses import LOSSES
from ..lecture.mlp import MLP
from ..core.notation import dims, latex_name

__all__ = ["main", "build_parser", "random_problem", "FORMATS"]

LECTURE_SIZES = (4, 5, 3, 2)  # d, p, q, s in the lecture's notation
LITERAL_TOLERANCE = 1e-10
FD_TOLERANCE = 1e-6
#: Output formats of ``jacobian-calc lecture``.
FORMATS = ("text", "markdown", "latex", "json")

MAX_FIGURE_DEPTH = 12


def _seed(text: str) -> int:
    """argparse type of ``--seed``: numpy's generators take non-negative integers only."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _tolerance(text: str) -> float:
    """argparse type of ``--tolerance``: a positive, finite relative error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive, finite number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jacobian-calc",
        description="Derivatives the way the matrix-calculus lecture computes them: literal "
                    "Jacobians in the vec convention, chained tail to head, and checked.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    lecture = sub.add_parser(
        "lecture",
        help="run the lecture's network: derivations, dimension checks, verification",
        description="Run the lecture's network h1 = W1 x, z1 = φ(h1), h2 = W2 z1, z2 = φ(h2), "
                    "ŷ = W3 z2, f = L(y, ŷ) on random data; print the derivation of ∂f/∂W "
                    "step by step (eq 18–38) and verify the literal chain against the compact "
                    "formulas and finite differences. Exit status 1 if they disagree.",
        epilog="example: jacobian-calc lecture --sizes 4 5 3 2 --activation tanh --wrt W1",
    )
    lecture.add_argument(
        "--sizes", type=int, nargs="+", default=list(LECTURE_SIZES), metavar="N",
        help="layer sizes d p q s (default 4 5 3 2); give more or fewer for other depths, "
             "e.g. 4 3 for one layer",
    )
    lecture.add_argument("--activation", default="sigmoid", choices=sorted(ACTIVATIONS),
                         help="the activation φ (default sigmoid)")
    lecture.add_argument("--loss", default="squared_error", choices=sorted(LOSSES),
                         help="the loss L (default squared_error)")
    lecture.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    lecture.add_argument("--wrt", default="all", metavar="W",
                         help="which weight to derive: W1, W2, … or all (default all, "
                              "printed tail to head)")
    lecture.add_argument("--format", default="text", choices=FORMATS,
                         help="text (default), markdown, latex (display formulas for an "
                              "amsmath document) or json (derivations and verification "
                              "table as data)")
    figure = sub.add_parser(
        "figure",
        help="draw the lecture's Figure 1 (or a Jacobian's sparsity) to a PNG or SVG file",
        description="Draw the lecture's Figure 1 for a network of any depth, with its colour "
                    "code: black known, green forward values, red wanted derivatives, blue "
                    "pointwise derivatives obtained directly, purple chain-rule products. "
                    "With --jacobian W_k, draw instead the sparsity of the factor "
                    "∂(W_k z)/∂vec(W_k) = (z₁I, …, z_nI) of eq (22) with its block "
                    "boundaries. Needs matplotlib (the 'plot' extra).",
        epilog="example: jacobian-calc figure --out figure1.svg --depth 4",
    )
    figure.add_argument("--out", required=True, metavar="FILE",
                        help="the file to write; its extension chooses the format: .png or .svg")
    figure.add_argument("--depth", type=int, default=3, metavar="L",
                        help="number of weight matrices in Figure 1 (default 3, the lecture's)")
    figure.add_argument("--jacobian", metavar="W",
                        help="draw the sparsity of this weight's factor instead (W1, W2, …; "
                             "the network is given by --sizes)")
    figure.add_argument("--sizes", type=int, nargs="+", default=list(LECTURE_SIZES),
                        metavar="N", help="layer sizes for --jacobian (default 4 5 3 2)")
    figure.add_argument("--seed", type=_seed, default=0, help="random seed for --jacobian")
    _add_expr_parser(sub)
    return parser


def _add_expr_parser(sub: argparse._SubParsersAction) -> None:
    """The ``expr`` subcommand: any expression, parsed safely (issue 4)."""
    from .calculator import FORMATS
    from .parse import ALLOWED_FUNCTIONS

    expr = sub.add_parser(
        "expr",
        help="differentiate an expression such as \"trace(A @ X @ B)\" on random data",
        description="Parse an expression (operators + - * / @ **, .T, numbers, the declared "
                    "variables and the functions " + ", ".join(ALLOWED_FUNCTIONS) + "; "
                    "read with Python's ast against a whitelist, never evaluated), build it "
                    "on seeded random data, print the literal Jacobian, the derivation and a "
                    "finite-difference verification. Exit status 1 if the verification fails, "
                    "2 for bad input.",
        epilog='example: jacobian-calc expr "trace(A @ X @ B)" --wrt X --shape A=3x4 '
               "--shape X=4x5 --shape B=5x3. An expression that starts with '-' goes last, "
               'after "--": jacobian-calc expr --wrt X --shape X=3x3 -- "-trace(X)"',
    )
    expr.add_argument("expression", help="the expression, e.g. \"trace(A @ X @ B)\"")
    expr.add_argument("--wrt", required=True, metavar="NAME",
                      help="the variable to differentiate by")
    expr.add_argument("--shape", action="append", default=[], metavar="NAME=MxN",
                      help="declare a variable: NAME=MxN (matrix), NAME=N (vector) or "
                           "NAME=scalar; repeat for each variable")
    expr.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    expr.add_argument("--format", dest="expr_format", default="text", choices=FORMATS,
                      help="output format (default text)")
    expr.add_argument("--tolerance", type=_tolerance, default=FD_TOLERANCE,
                      help=f"largest relative error accepted against finite differences "
                           f"(default {FD_TOLERANCE:g})")


def _expr(args: argparse.Namespace) -> int:
    from .calculator import calculate, parse_shape, render

    shapes: dict[str, tuple[int, ...]] = {}
    for spec in args.shape:
        name, shape = parse_shape(spec)
        if name in shapes:
            raise JacobianCalcError(f"--shape {spec!r}: {name} is declared twice")
        shapes[name] = shape
    calc = calculate(args.expression, shapes, args.wrt, seed=args.seed,
                     tolerance=args.tolerance)
    print(render(calc, args.expr_format))
    return 0 if calc.ok else 1


def random_problem(sizes: Sequence[int], loss: str, seed: int
                   ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Weights scaled by 1/√fan-in, a standard normal x, and a target y suited to the loss."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
               for n_in, n_out in zip(sizes, sizes[1:])]
    x = rng.normal(size=sizes[0])
    if loss == "softmax_cross_entropy":
        y = np.zeros(sizes[-1])
        y[rng.integers(sizes[-1])] = 1.0
    else:
        y = rng.normal(size=sizes[-1])
    return weights, x, y


def _finite_difference_gradients(net: MLP, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """∂f/∂W_k by central differences of the loss, one weight at a time."""
    weights = net.weights
    grads = {}
    for k, name in enumerate(net.weight_names):
        def f(W: np.ndarray, k: int = k) -> float:
            trial = list(weights)
            trial[k] = W
            return MLP(trial, net.activation, net.loss).loss_value(x, y)

        row = finite_difference_jacobian(f, weights[k])
        grads[name] = row.reshape(weights[k].shape, order="F")
    return grads


def _verification(net: MLP, x: np.ndarray, y: np.ndarray) -> tuple[list[dict], bool]:
    """One row per weight: the three max relative errors and whether all are in tolerance."""
    literal = net.gradients(x, y, method="explicit")
    compact = net.gradients(x, y, method="backprop")
    numeric = _finite_difference_gradients(net, x, y)
    rows = []
    for name in net.weight_names:
        a = max_relative_error(literal[name], compact[name])
        b = max_relative_error(literal[name], numeric[name])
        c = max_relative_error(compact[name], numeric[name])
        good = a <= LITERAL_TOLERANCE and b <= FD_TOLERANCE and c <= FD_TOLERANCE
        rows.append({"weight": name, "shape": list(literal[name].shape),
                     "literal_vs_compact": float(a), "literal_vs_fd": float(b),
                     "compact_vs_fd": float(c), "ok": bool(good)})
    return rows, all(r["ok"] for r in rows)


def _verify(net: MLP, x: np.ndarray, y: np.ndarray) -> tuple[list[str], bool]:
    rows, ok = _verification(net, x, y)
    header = f"{'weight':<8}{'shape':<8}{'literal vs compact':>20}{'literal vs FD':>16}" \
             f"{'compact vs FD':>16}  result"
    lines = [
        f"Verification: max relative error (tolerance {LITERAL_TOLERANCE:g} between the exact "
        f"routes, {FD_TOLERANCE:g} against finite differences)",
        header,
        "-" * len(header),
    ]
    for r in rows:
        lines.append(f"{r['weight']:<8}{dims(r['shape']):<8}{r['literal_vs_compact']:>20.1e}"
                     f"{r['literal_vs_fd']:>16.1e}{r['compact_vs_fd']:>16.1e}"
                     f"  {'ok' if r['ok'] else 'MISMATCH'}")
    return lines, ok


def _tolerance_text() -> str:
    return (f"max relative error (tolerance {LITERAL_TOLERANCE:g} between the exact routes, "
            f"{FD_TOLERANCE:g} against finite differences)")


def _markdown_table(rows: list[dict]) -> list[str]:
    out = ["| weight | shape | literal vs compact | literal vs FD | compact vs FD | result |",
           "|---|---|---:|---:|---:|---|"]
    out += [f"| {r['weight']} | {dims(r['shape'])} | {r['literal_vs_compact']:.1e} | "
            f"{r['literal_vs_fd']:.1e} | {r['compact_vs_fd']:.1e} | "
            f"{'ok' if r['ok'] else 'MISMATCH'} |" for r in rows]
    return out


def _latex_table(rows: list[dict]) -> str:
    from ..render.latex import latex_dims, latex_number

    head = (r"\text{weight} & \text{shape} & \text{literal vs compact} & "
            r"\text{literal vs FD} & \text{compact vs FD} & \text{result}")
    body = [f"{latex_name(r['weight'])} & {latex_dims(dims(r['shape']))} & "
            f"{latex_number(r['literal_vs_compact'], 2)} & {latex_number(r['literal_vs_fd'], 2)}"
            f" & {latex_number(r['compact_vs_fd'], 2)} & "
            rf"\text{{{'ok' if r['ok'] else 'MISMATCH'}}}" for r in rows]
    return "\\begin{array}{llrrrl}\n" + " \\\\\n".join([head, r"\hline " + body[0], *body[1:]]) \
        + "\n\\end{array}"


def _print_lecture(fmt: str, net: MLP, seed: int, derivations: list, rows: list[dict],
                   ok: bool, args: argparse.Namespace) -> None:
    """Write the derivations and the verification table in the chosen format."""
    if fmt == "json":
        data = {
            "network": {"repr": repr(net), "sizes": list(net.sizes),
                        "activation": net.activation, "loss": net.loss, "seed": seed},
            "derivations": [d.to_dict() for d in derivations],
            "verification": {"literal_tolerance": LITERAL_TOLERANCE,
                             "fd_tolerance": FD_TOLERANCE, "rows": rows, "ok": ok},
        }
        print(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False))
    elif fmt == "markdown":
        print(f"# The lecture network {net!r}, seed {seed}\n")
        for d in derivations:
            print(d.to_markdown())
        print(f"## Verification\n\n{_tolerance_text()}\n")
        print("\n".join(_markdown_table(rows)))
    else:  # latex
        print(f"% jacobian-calc lecture: {net!r}, seed {seed}")
        print("% each formula is a display for an amsmath document; words are in \\text{}")
        for d in derivations:
            print(f"% Derivation of {d.title}\n\\[\n{d.to_latex()}\n\\]")
        print(f"% Verification: {_tolerance_text()}\n\\[\n{_latex_table(rows)}\n\\]")


def _lecture(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    sizes = args.sizes
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        parser.error(f"--sizes needs at least two positive sizes (input and output), got {sizes}")
    weights, x, y = random_problem(sizes, args.loss, args.seed)
    net = MLP(weights, activation=args.activation, loss=args.loss)
    names = list(net.weight_names)
    if args.wrt == "all":
        chosen = names[::-1]
    elif args.wrt in names:
        chosen = [args.wrt]
    else:
        parser.error(f"--wrt must be one of {', '.join(names)} or all, got {args.wrt!r}")
    if args.format != "text":
        rows, ok = _verification(net, x, y)
        derivations = [net.derivation(x, y, wrt=name) for name in chosen]
        _print_lecture(args.format, net, args.seed, derivations, rows, ok, args)
        return 0 if ok else 1
    print(f"The lecture network {net!r}, seed {args.seed}")
    print()
    for name in chosen:
        print(net.derivation(x, y, wrt=name))
        print()
    lines, ok = _verify(net, x, y)
    print("\n".join(lines))
    return 0 if ok else 1


def _figure(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..render import plot

    out = Path(args.out)
    if out.suffix.lower().lstrip(".") not in plot.FIGURE_FORMATS:
        parser.error(f"--out must end in .png or .svg (the format is taken from the "
                     f"extension), got {args.out!r}")
    if not out.parent.is_dir():
        parser.error(f"--out {args.out!r}: the folder {str(out.parent)!r} does not exist")
    plot._matplotlib()  # a missing matplotlib is reported with the extra to install
    from matplotlib.figure import Figure

    if args.jacobian is None:
        if not 1 <= args.depth <= MAX_FIGURE_DEPTH:  # beyond that the labels no longer fit
            parser.error(f"--depth must be between 1 and {MAX_FIGURE_DEPTH}, got {args.depth}")
        fig = Figure(figsize=(max(6.0, 1.5 * (2 * args.depth + 1.5)), 5.0))
        plot.plot_network(args.depth, ax=fig.add_subplot())
    else:
        sizes = args.sizes
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            parser.error(f"--sizes needs at least two positive sizes, got {sizes}")
        weights, x, _ = random_problem(sizes, "squared_error", args.seed)
        net = MLP(weights)
        if args.jacobian not in net.weight_names:
            parser.error(f"--jacobian must be one of {', '.join(net.weight_names)}, "
                         f"got {args.jacobian!r}")
        k = int(args.jacobian[1:])
        graph = net.compose(x)
        J = graph.factor("yhat" if k == net.depth else f"h{k}", 0)
        fig = Figure(figsize=(min(12.0, 2.0 + 0.25 * J.shape[1]),
                              min(8.0, 2.0 + 0.25 * J.shape[0])))
        plot.plot_sparsity(J, ax=fig.add_subplot())
    plot.save_figure(fig, out)
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "figure":
            return _figure(args, parser)
        if args.command == "expr":
            return _expr(args)
        return _lecture(args, parser)
    except (JacobianCalcError, ImportError) as exc:  # ImportError: a missing optional extra
        print(f"jacobian-calc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
