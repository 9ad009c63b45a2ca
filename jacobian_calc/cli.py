"""The ``jacobian-calc`` command.

``jacobian-calc lecture`` runs the lecture's network (§3.1) on random data, prints each
requested derivation with its dimension checks, and ends with a verification table:
the literal chain against the compact formulas (26), (32), (38) and against finite
differences. The exit status is 1 when any of them disagree beyond tolerance.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from .activations import ACTIVATIONS
from .check import finite_difference_jacobian, max_relative_error
from .errors import JacobianCalcError
from .losses import LOSSES
from .mlp import MLP
from .notation import dims

__all__ = ["main", "build_parser", "random_problem"]

LECTURE_SIZES = (4, 5, 3, 2)  # d, p, q, s in the lecture's notation
LITERAL_TOLERANCE = 1e-10
FD_TOLERANCE = 1e-6


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
    lecture.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    lecture.add_argument("--wrt", default="all", metavar="W",
                         help="which weight to derive: W1, W2, … or all (default all, "
                              "printed tail to head)")
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
    expr.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    expr.add_argument("--format", dest="expr_format", default="text", choices=FORMATS,
                      help="output format (default text)")
    expr.add_argument("--tolerance", type=float, default=FD_TOLERANCE,
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


def _verify(net: MLP, x: np.ndarray, y: np.ndarray) -> tuple[list[str], bool]:
    literal = net.gradients(x, y, method="explicit")
    compact = net.gradients(x, y, method="backprop")
    numeric = _finite_difference_gradients(net, x, y)
    header = f"{'weight':<8}{'shape':<8}{'literal vs compact':>20}{'literal vs FD':>16}" \
             f"{'compact vs FD':>16}  result"
    lines = [
        f"Verification: max relative error (tolerance {LITERAL_TOLERANCE:g} between the exact "
        f"routes, {FD_TOLERANCE:g} against finite differences)",
        header,
        "-" * len(header),
    ]
    ok = True
    for name in net.weight_names:
        a = max_relative_error(literal[name], compact[name])
        b = max_relative_error(literal[name], numeric[name])
        c = max_relative_error(compact[name], numeric[name])
        good = a <= LITERAL_TOLERANCE and b <= FD_TOLERANCE and c <= FD_TOLERANCE
        ok &= good
        lines.append(f"{name:<8}{dims(literal[name].shape):<8}{a:>20.1e}{b:>16.1e}{c:>16.1e}"
                     f"  {'ok' if good else 'MISMATCH'}")
    return lines, ok


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
    print(f"The lecture network {net!r}, seed {args.seed}")
    print()
    for name in chosen:
        print(net.derivation(x, y, wrt=name))
        print()
    lines, ok = _verify(net, x, y)
    print("\n".join(lines))
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "expr":
            return _expr(args)
        return _lecture(args, parser)
    except JacobianCalcError as exc:
        print(f"jacobian-calc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
