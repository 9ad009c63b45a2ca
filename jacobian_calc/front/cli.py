"""The ``jacobian-calc`` command.

``jacobian-calc lecture`` runs the lecture's network (§3.1) on random data, prints each
requested derivation with its dimension checks, and ends with a verification table: the
literal chain against the compact formulas (26), (32), (38), against Gâteaux derivatives
in random directions (eq 15) and, for parameters of at most 2,000 entries, against finite
differences entry by entry. The exit status is 1 when any of them disagree beyond
tolerance, 2 for bad input, 0 otherwise. ``--format`` chooses plain text (the default),
Markdown, LaTeX (display formulas for an amsmath document) or JSON.

``jacobian-calc expr`` differentiates any expression of declared variables (see
:mod:`jacobian_calc.front.calculator`); ``jacobian-calc grade`` grades a claimed
derivative of one — correct (exit status 0), or wrong with the mistake named (1), see
:mod:`jacobian_calc.front.grade`; ``jacobian-calc figure`` draws the lecture's Figure 1 or
a weight's Kronecker factor (the ``plot`` extra, matplotlib).

Every command is held to the same work bound as the calculator, checked before anything
is built; output cut short by a closed pipe (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.errors import JacobianCalcError, UsageError
from ..core.limits import check_work, work_limit
from ..core.notation import dims
from ..lecture.mlp import MLP
from ..ops import ACTIVATIONS, LOSSES
from ..ops.domain import hint
from ..render import FORMATS, render
from ..render.report import Heading, Lines, Report, Table
from ..verify.compare import ATOL, ENTRY_LIMIT, RTOL
from ..verify.network import LITERAL_TOLERANCE, ParameterCheck, verify_network
from .calculator import MAX_ENTRIES, MAX_SIDE, WORK_ENTRIES, WORK_OPERATIONS, \
    calculate, parse_shape, render_calculation
from .grade import GRADER_FUNCTIONS, LAYOUTS, MISTAKES, diagnose, render_diagnosis
from .grade import RTOL as GRADE_RTOL
from .parse import ALLOWED_FUNCTIONS, MAX_DEPTH, MAX_LENGTH
from .second_order import second_order_report

__all__ = ["main", "build_parser", "random_problem"]

LECTURE_SIZES = (4, 5, 3, 2)  # d, p, q, s in the lecture's notation
MAX_FIGURE_DEPTH = 12


def _non_negative(text: str) -> int:
    """argparse type of ``--seed`` and ``--max-values``: a non-negative integer."""
    try:
        value = int(text) if len(text) <= 20 else None
    except ValueError:
        value = None
    if value is None or value < 0:
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {shown}")
    return value


def _directions(text: str) -> int:
    value = _non_negative(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected between 1 and 1000 directions, got {value}")
    return value


def _positive_float(text: str) -> float:
    """argparse type of ``--tolerance`` and ``--atol``: a positive, finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text[:30]!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive, finite number, got {text[:30]}")
    return value


def _size(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {value}")
    return value


def _check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--directions", type=_directions, default=8, metavar="K",
                        help="random directions of the Gâteaux check, eq (15) (default 8)")
    parser.add_argument("--max-values", type=_non_negative, default=None, metavar="N",
                        help="print a step's value when it has at most N entries "
                             "(default 60)")


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
                    "formulas, Gâteaux derivatives in random directions and (for weights of "
                    f"at most {ENTRY_LIMIT:,} entries) finite differences. Exit status 1 if "
                    "they disagree, 2 for bad input.",
        epilog="example: jacobian-calc lecture --sizes 4 5 3 2 --activation tanh --wrt W1",
    )
    lecture.add_argument(
        "--sizes", type=_size, nargs="+", default=None, metavar="N",
        help="layer sizes d p q s (default 4 5 3 2); give more or fewer for other depths, "
             "e.g. 4 3 for one layer",
    )
    lecture.add_argument("--activation", default=None, choices=sorted(ACTIVATIONS),
                         help="the activation φ (default sigmoid; a network of one layer has "
                              "none)")
    lecture.add_argument("--loss", default="squared_error", choices=sorted(LOSSES),
                         help="the loss L (default squared_error)")
    lecture.add_argument("--seed", type=_non_negative, default=0, help="random seed (default 0)")
    lecture.add_argument("--wrt", default="all", metavar="W",
                         help="which weight to derive: W1, W2, … or all (default all, "
                              "printed tail to head); with --order 2 also a pair W1,W2 "
                              "(a cross-layer Hessian block)")
    lecture.add_argument("--order", type=int, default=1, choices=(1, 2),
                         help="1 (default): the gradients, eq (18)–(38); 2: the Hessian "
                              "blocks, each term Tᵢᵀ S Tⱼ with its Kronecker factors, checked "
                              "against the compact R-operator and differences of the gradient")
    lecture.add_argument("--format", default="text", choices=FORMATS,
                         help="text (default), markdown, latex (display formulas for an "
                              "amsmath document) or json (derivations and verification "
                              "table as data)")
    _check_options(lecture)
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
    figure.add_argument("--depth", type=_size, default=None, metavar="L",
                        help="number of weight matrices in Figure 1 (default 3, the lecture's; "
                             f"at most {MAX_FIGURE_DEPTH}); not with --jacobian")
    figure.add_argument("--jacobian", metavar="W",
                        help="draw the sparsity of this weight's factor instead (W1, W2, …; "
                             "the network is given by --sizes)")
    figure.add_argument("--sizes", type=_size, nargs="+", default=None, metavar="N",
                        help="layer sizes for --jacobian (default 4 5 3 2); only with --jacobian")
    figure.add_argument("--seed", type=_non_negative, default=None,
                        help="random seed for --jacobian (default 0)")
    expr = _add_expr_parser(sub)
    grade = _add_grade_parser(sub)
    commands = {"lecture": lecture, "figure": figure, "expr": expr, "grade": grade}
    parser.commands = commands  # type: ignore[attr-defined]
    return parser


def _add_expr_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The ``expr`` subcommand: any expression, parsed safely."""
    expr = sub.add_parser(
        "expr",
        help="differentiate an expression such as \"trace(A @ X @ B)\" on random data",
        description="Parse an expression (operators + - * / @ **, .T, numbers, the declared "
                    "variables and the functions " + ", ".join(ALLOWED_FUNCTIONS) + "; "
                    "read with Python's ast against a whitelist, never evaluated), build it "
                    "on seeded random data, print the literal Jacobian, the derivation and a "
                    "numerical verification. Limits: every dimension at most "
                    f"{MAX_SIDE}, every variable at most {MAX_ENTRIES} entries, the text at "
                    f"most {MAX_LENGTH} characters and {MAX_DEPTH} levels deep, and the "
                    f"derivation at most {WORK_ENTRIES:,} entries built and kept and "
                    f"{WORK_OPERATIONS:,} multiply-adds (refused before anything is built). "
                    "Exit status 1 if the verification fails, 2 for bad input.",
        epilog='example: jacobian-calc expr "trace(A @ X @ B)" --wrt X --shape A=3x4 '
               "--shape X=4x5 --shape B=5x3. An expression may start with '-': "
               'jacobian-calc expr "-trace(X)" --wrt X --shape X=3x3',
    )
    _add_expression_arguments(expr, "the expression, e.g. \"trace(A @ X @ B)\"",
                              "the variable to differentiate by")
    expr.add_argument("--format", dest="expr_format", default="text", choices=FORMATS,
                      help="output format (default text)")
    expr.add_argument("--tolerance", type=_positive_float, default=RTOL, metavar="RTOL",
                      help=f"relative tolerance of the verification (default {RTOL:g})")
    expr.add_argument("--atol", type=_positive_float, default=ATOL,
                      help=f"absolute tolerance of the verification (default {ATOL:g}): "
                           "what lets an exactly-zero Jacobian pass")
    _check_options(expr)
    return expr


def _add_expression_arguments(parser: argparse.ArgumentParser, expression_help: str,
                              wrt_help: str) -> None:
    """What ``expr`` and ``grade`` both read: the expression, --wrt, --shape and --seed."""
    parser.add_argument("expression", help=expression_help)
    parser.add_argument("--wrt", required=True, metavar="NAME", help=wrt_help)
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=MxN",
                        help="declare a variable: NAME=MxN (matrix), NAME=N (vector) or "
                             "NAME=scalar; repeat for each variable")
    parser.add_argument("--seed", type=_non_negative, default=0, help="random seed (default 0)")


def _add_grade_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The ``grade`` subcommand: a claimed derivative against the literal one."""
    grade = sub.add_parser(
        "grade",
        help="grade a claimed derivative of an expression: correct, or the mistake named",
        description="Compare a claimed gradient or Jacobian (--claim, an expression of the "
                    "same variables; besides the functions of 'expr' it may use "
                    + ", ".join(GRADER_FUNCTIONS) + ") with the literal derivative of the "
                    "expression by --wrt on a few seeded random instances. The verdict is "
                    "'correct', or 'wrong' with the mistake it matches: "
                    + ", ".join(MISTAKES) + " — or, matching none, the worst direction. "
                    "Texts are read with Python's ast against a whitelist, never evaluated. "
                    "Exit status 0 correct, 1 wrong, 2 for input that cannot be read (syntax, "
                    "unknown names, shapes that do not fit).",
        epilog='example: jacobian-calc grade "trace(A @ X @ B)" --wrt X --claim "A.T @ B.T" '
               "--shape A=3x4 --shape X=4x5 --shape B=5x3. A Jacobian is claimed as a "
               'matrix: jacobian-calc grade "A @ X @ B" --wrt X --claim "kron(B.T, A)" ...',
    )
    _add_expression_arguments(grade, "the expression F, e.g. \"trace(A @ X @ B)\"",
                              "the variable X to differentiate by")
    grade.add_argument("--claim", required=True, metavar="EXPR",
                       help="the claimed derivative: for a scalar F the gradient (shaped like "
                            "X unless --layout says otherwise), else the Jacobian "
                            "∂vec(F)/∂vec(X), size(F)×size(X)")
    grade.add_argument("--layout", default="matrix", choices=LAYOUTS,
                       help="how the gradient of a scalar is asked for: matrix (shaped like "
                            "X, eq 12; the default), row (eq 1) or column (eq 6)")
    grade.add_argument("--instances", type=_instances, default=3, metavar="K",
                       help="random instances a match must hold on (default 3)")
    grade.add_argument("--tolerance", type=_positive_float, default=GRADE_RTOL, metavar="RTOL",
                       help=f"relative tolerance of a match (default {GRADE_RTOL:g}: equality "
                            "to rounding)")
    grade.add_argument("--directions", type=_directions, default=8, metavar="K",
                       help="random directions of the worst-direction report (default 8)")
    grade.add_argument("--format", dest="grade_format", default="text", choices=FORMATS,
                       help="output format (default text)")
    return grade


def _instances(text: str) -> int:
    value = _non_negative(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected between 1 and 100 instances, got {value}")
    return value


def _expression_first(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``expr "-trace(X)" …``: a leading minus makes an expression, not an option.

    argparse reads any word starting with '-' as an option; the one word after ``expr``
    (or ``grade``) that is neither an option of the command nor its value is moved
    behind ``--``, and an option's value that starts with '-' (``--claim "-A.T"``) is
    joined to it (``--claim=-A.T``).
    """
    if not argv or argv[0] not in _OPTIONS:
        return argv
    options = set(_OPTIONS[argv[0]])
    takes_value = {s for s in options if s not in ("-h", "--help")}
    out, moved, expect_value = [argv[0]], None, False
    for word in argv[1:]:
        if word == "--":
            return argv
        if expect_value:
            if word.startswith("-"):
                out[-1] = f"{out[-1]}={word}"
            else:
                out.append(word)
            expect_value = False
            continue
        name = word.split("=", 1)[0]
        if word.startswith("-") and name not in options and moved is None:
            moved = word
            continue
        out.append(word)
        expect_value = name in takes_value and "=" not in word
    return out + (["--", moved] if moved is not None else [])


#: The options of ``expr`` and ``grade``; each takes a value, except the help.
_OPTIONS = {
    "expr": ("-h", "--help", "--wrt", "--shape", "--seed", "--format", "--tolerance", "--atol",
             "--directions", "--max-values"),
    "grade": ("-h", "--help", "--wrt", "--claim", "--shape", "--layout", "--seed",
              "--instances", "--tolerance", "--directions", "--format"),
}


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    return parser.commands[command]  # type: ignore[attr-defined]


def _shapes(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, shape = parse_shape(spec)
        if name in shapes:
            raise JacobianCalcError(f"--shape {spec!r}: {name} is declared twice")
        shapes[name] = shape
    return shapes


def _grade(args: argparse.Namespace) -> int:
    shapes = _shapes(args.shape)
    if args.wrt not in shapes:
        raise JacobianCalcError(f"--wrt {args.wrt!r} is not a declared variable; declared "
                                f"with --shape: {', '.join(shapes) or '(none)'}")
    d = diagnose(args.claim, args.expression, wrt=args.wrt, shapes=shapes, layout=args.layout,
                 instances=args.instances, seed=args.seed, rtol=args.tolerance,
                 directions=args.directions)
    print(render_diagnosis(d, args.grade_format))
    return 0 if d.correct else 1


def _expr(args: argparse.Namespace) -> int:
    shapes = _shapes(args.shape)
    calc = calculate(args.expression, shapes, args.wrt, seed=args.seed, rtol=args.tolerance,
                     atol=args.atol, directions=args.directions, max_values=args.max_values)
    print(render_calculation(calc, args.expr_format))
    return 0 if calc.ok else 1


def random_problem(sizes: Sequence[int], loss: str, seed: int
                   ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Weights scaled by 1/√fan-in, a standard normal x, and a target y suited to the loss.

    The sizes are checked against the work bound first: nothing is drawn for a network
    whose weights alone would be over it.
    """
    entries = sum(a * b for a, b in zip(sizes, sizes[1:])) + sizes[0] + sizes[-1]
    check_work(entries, entries, f"a network of sizes {' '.join(map(str, sizes))} "
                                 f"({entries:,} weights and data)")
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)
               for n_in, n_out in zip(sizes, sizes[1:])]
    x = rng.normal(size=sizes[0])
    if hint(LOSSES[loss], 1) == "probability":  # a distribution: one class, one-hot
        y = np.zeros(sizes[-1])
        y[rng.integers(sizes[-1])] = 1.0
    else:
        y = rng.normal(size=sizes[-1])
    return weights, x, y


def _tolerance_text(directions: int) -> str:
    return (f"literal vs compact: max relative error, tolerance {LITERAL_TOLERANCE:g}; against "
            f"the numbers (Gâteaux derivatives in {directions} random directions, and finite "
            f"differences entry by entry for parameters of at most {ENTRY_LIMIT:,} entries): "
            f"error ≤ atol {ATOL:g} + rtol {RTOL:g} · scale")


def _verification_table(rows: list[ParameterCheck]) -> Table:
    body = []
    for r in rows:
        body.append([r.name, dims(r.shape), r.literal_vs_compact, r.directions.relative,
                     "—" if r.entries is None else r.entries.relative,
                     "ok" if r.ok else "MISMATCH"])
    return Table(["weight", "shape", "literal vs compact", "literal vs Gâteaux",
                  "literal vs FD", "result"], body,
                 kinds=["name", "dims", "number", "number", "number", "text"])


def _row_data(r: ParameterCheck) -> dict:
    def comparison(c) -> dict | None:
        if c is None:
            return None
        return {"method": c.method, "error": c.error, "scale": c.scale,
                "relative_error": c.relative, "ok": c.ok}
    return {"weight": r.name, "shape": list(r.shape), "literal_vs_compact": r.literal_vs_compact,
            "gateaux": comparison(r.directions), "finite_differences": comparison(r.entries),
            "ok": r.ok}


def lecture_report(net: MLP, seed: int, derivations: list, rows: list[ParameterCheck],
                   directions: int, max_values: int | None) -> Report:
    """The lecture's derivations and verification table as one report, for every format."""
    ok = all(r.ok for r in rows)
    blocks: list = [Heading(f"The lecture network {net!r}, seed {seed}"), ""]
    for d in derivations:
        blocks += [d, ""]
    blocks += [Heading("Verification", 2), Lines.of(_tolerance_text(directions)),
               _verification_table(rows)]
    data = {
        "network": {"repr": repr(net), "sizes": list(net.sizes), "activation": net.activation,
                    "loss": net.loss, "seed": seed},
        "derivations": [d.to_dict() for d in derivations],
        "verification": {"literal_tolerance": LITERAL_TOLERANCE, "rtol": RTOL, "atol": ATOL,
                         "directions": directions, "entry_limit": ENTRY_LIMIT,
                         "rows": [_row_data(r) for r in rows], "ok": ok},
    }
    return Report(blocks, data, max_values)


def _lecture(args: argparse.Namespace) -> int:
    sizes = list(args.sizes) if args.sizes is not None else list(LECTURE_SIZES)
    if len(sizes) < 2:
        raise UsageError(f"--sizes needs at least two sizes (input and output), got {sizes}")
    if len(sizes) == 2 and args.activation is not None:
        raise UsageError("--activation applies between layers, and a network of one layer "
                          f"(--sizes {sizes[0]} {sizes[1]}) has none; leave it out")
    activation = args.activation or "sigmoid"
    weights, x, y = random_problem(sizes, args.loss, args.seed)
    net = MLP(weights, activation=activation, loss=args.loss)
    if args.order == 2:
        report, ok = second_order_report(net, x, y, args.wrt, seed=args.seed,
                                         directions=args.directions, max_values=args.max_values)
        print(render(report, args.format))
        return 0 if ok else 1
    names = list(net.weight_names)
    if args.wrt == "all":
        chosen = names[::-1]
    elif args.wrt in names:
        chosen = [args.wrt]
    else:
        raise UsageError(f"--wrt must be one of {', '.join(names)} or all, got {args.wrt!r}")
    derivations = [net.derivation(x, y, wrt=name, max_values=args.max_values)
                   for name in chosen]
    rows = verify_network(net, x, y, directions=args.directions, seed=args.seed)
    print(render(lecture_report(net, args.seed, derivations, rows, args.directions,
                                args.max_values), args.format))
    return 0 if all(r.ok for r in rows) else 1


def _figure(args: argparse.Namespace) -> int:
    from ..render import plot

    out = Path(args.out)
    if out.suffix.lower().lstrip(".") not in plot.FIGURE_FORMATS:
        raise UsageError(f"--out must end in .png or .svg (the format is taken from the "
                          f"extension), got {args.out!r}")
    if out.is_dir():
        raise UsageError(f"--out {args.out!r} is a folder; name the file to write")
    if not out.parent.is_dir():
        raise UsageError(f"--out {args.out!r}: the folder {str(out.parent)!r} does not exist")
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"--out {args.out!r}: cannot write there (permission denied)")
    if args.jacobian is None:
        for option, value in (("--sizes", args.sizes), ("--seed", args.seed)):
            if value is not None:
                raise UsageError(f"{option} only applies with --jacobian (it sets the network "
                                  f"whose factor is drawn); Figure 1 takes --depth")
    elif args.depth is not None:
        raise UsageError("--depth draws Figure 1; with --jacobian the network is given by "
                          "--sizes")
    plot.require_matplotlib()  # a missing matplotlib is reported with the extra to install
    from matplotlib.figure import Figure

    if args.jacobian is None:
        depth = 3 if args.depth is None else args.depth
        if depth > MAX_FIGURE_DEPTH:  # beyond that the labels no longer fit
            raise UsageError(f"--depth must be between 1 and {MAX_FIGURE_DEPTH}, got {depth}")
        fig = Figure(figsize=plot.network_figsize(depth))
        plot.plot_network(depth, ax=fig.add_subplot())
    else:
        sizes = list(args.sizes) if args.sizes is not None else list(LECTURE_SIZES)
        if len(sizes) < 2:
            raise UsageError(f"--sizes needs at least two sizes, got {sizes}")
        names = [f"W{k}" for k in range(1, len(sizes))]
        if args.jacobian not in names:
            raise UsageError(f"--jacobian must be one of {', '.join(names)}, got "
                              f"{args.jacobian!r}")
        k = int(args.jacobian[1:])
        # The factor has n_k × n_k·n_{k−1} entries drawn one by one: that is the work.
        drawn = sizes[k] * sizes[k] * sizes[k - 1]
        check_work(drawn, drawn, f"the sparsity picture of ∂h{k}/∂vec({args.jacobian}) "
                                 f"({sizes[k]}×{sizes[k] * sizes[k - 1]})")
        weights, x, _ = random_problem(sizes, "squared_error", args.seed or 0)
        net = MLP(weights)
        graph = net.compose(x)
        J = graph.factor("yhat" if k == net.depth else f"h{k}", 0)
        fig = Figure(figsize=(min(12.0, 2.0 + 0.25 * J.shape[1]),
                              min(8.0, 2.0 + 0.25 * J.shape[0])))
        plot.plot_sparsity(J, ax=fig.add_subplot())
    try:
        plot.save_figure(fig, out)
    except OSError as exc:
        raise JacobianCalcError(f"--out {args.out!r}: could not write the file "
                                f"({exc.strerror or exc})") from None
    print(f"wrote {out}")
    return 0


def _quiet_stdout() -> None:
    """After a closed pipe, send the rest of the output nowhere (no second error at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass


def _unicode_safe_streams() -> None:
    """An ASCII terminal (``PYTHONIOENCODING=ascii``) gets escapes, not a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "∂ŷ⊗ᵀ₁".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 verification failed or a wrong
    claim, 2 bad input)."""
    _unicode_safe_streams()
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_expression_first(words, parser))
    if args.command is None:
        parser.print_help()
        return 2
    command = _subparser(parser, args.command)
    try:
        with work_limit(WORK_ENTRIES, WORK_OPERATIONS):
            if args.command == "figure":
                return _figure(args)
            if args.command == "expr":
                return _expr(args)
            if args.command == "grade":
                return _grade(args)
            return _lecture(args)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except UsageError as exc:
        command.error(str(exc))  # the subcommand's usage line, then exit status 2
    except (JacobianCalcError, ImportError, MemoryError) as exc:  # ImportError: an extra
        if isinstance(exc, MemoryError):
            exc = JacobianCalcError("out of memory; use smaller sizes")  # type: ignore[assignment]
        command.print_usage(sys.stderr)
        print(f"jacobian-calc {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
