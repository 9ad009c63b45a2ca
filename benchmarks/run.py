"""Speed, memory and exactness of the literal Jacobians against the compact formulas and peers,
and the time to derive a certified formula for lecture-size expressions.

Usage::

    python benchmarks/run.py            # n = 4, 64, 256, 1024, 2048; writes benchmarks/results/
    python benchmarks/run.py --quick    # n = 4, 64: a smoke test (CI), writes nothing
    python benchmarks/run.py --scale    # also explicit gradients at n = 4096 (peak memory)
    python benchmarks/run.py --only conv2d      # one group alone (conv2d or attention; also
                                                # --only-conv2d, --only-attention); writes
                                                # benchmarks/results/conv2d/ or .../attention/

The network is the lecture's three-layer net with d = p = q = n, s = max(2, n // 8),
sigmoid, squared error, float64. For every n the rows of one group are measured side by
side: a warm-up call of each, then ``repeats`` rounds in which every row runs once, in an
order shuffled each round; the table gives the median. Peak memory is measured afterwards
by tracemalloc, one call per row (numpy and scipy allocations are traced; PyTorch and
JAX use their own allocators and show n/a). See ``benchmarks/README.md``.

Second order (issue 10): the full Hessian over (vec W1, vec W2, vec W3) against
``torch.func.hessian`` and ``jax.hessian`` where it fits (n ≤ 64: 8,704 weights at
n = 64), a Hessian-vector product against one compact gradient, and the Gauss-Newton
block of W1 held as its Kronecker factors and multiplied with a vector.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import importlib
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import NamedTuple
from pathlib import Path


def _threads_from_argv(argv: list[str]) -> int:
    """``--threads N`` must act before numpy loads its BLAS, so it is read here first."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return max(1, int(argv[i + 1]))
        if a.startswith("--threads="):
            return max(1, int(a.split("=", 1)[1]))
    return 1


THREADS = _threads_from_argv(sys.argv[1:])
# Every route gets the same number of threads: numpy's BLAS, PyTorch's pool, XLA's pool.
# One by default: on a shared 2-core machine a threaded BLAS that waits for a busy second
# core turns a 0.1 ms matrix-vector product into 8 ms at random, in both routes.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                           + ("true" if THREADS > 1 else "false")
                           + f" intra_op_parallelism_threads={THREADS}").strip()

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the source tree, installed or not

import jacobian_calc as jc  # noqa: E402
from jacobian_calc.core.structure import Kron, Structured, product  # noqa: E402
from jacobian_calc.front.cli import main as cli_main  # noqa: E402
from jacobian_calc.lecture import backprop  # noqa: E402
from jacobian_calc.lecture.attention import attention_jacobians  # noqa: E402
from jacobian_calc.verify.network import verify_network  # noqa: E402

FULL_SIZES = (4, 64, 256, 1024, 2048)
QUICK_SIZES = (4, 64)
SCALE_SIZE = 4096
#: The full Jacobian ∂ŷ/∂vec(W1) is dense s × pd; above this many bytes it is skipped.
FULL_JACOBIAN_LIMIT = 2 << 30
#: The dense Kronecker factor is allocated (to measure it) only up to this many bytes.
DENSE_KRON_LIMIT = 256 << 20
#: The size at which the speed and memory targets are judged; the lecture command runs there.
TARGET_N = 1024
#: Random directions of the Gâteaux check, as ``jacobian-calc lecture`` uses by default.
DIRECTIONS = 8
#: The full Hessian over every weight is dense, P × P for P weights; above this many bytes
#: it is skipped (8,704 weights at n = 64: 578 MiB; 34,816 at n = 128: 9 GiB).
FULL_HESSIAN_LIMIT = 1 << 30
#: With --quick the full Hessian runs only where it is this small (n = 4).
QUICK_HESSIAN_LIMIT = 1 << 20
#: The size at which the full Hessian is judged against the peers (d = p = q = 64, s = 8).
HESSIAN_N = 64
#: The bound on the bytes the Gauss-Newton block of W1 holds, in units of 8·n² (one n × n
#: matrix of float64): its two Kronecker factors A (d × d) and G (p × p) take 2 of them.
GN_HELD_UNITS = 3
#: "Well under a second" (issue 12), made a number: a tenth of one.
FORMULA_SECONDS = 0.1
#: The groups that run alone (``--only NAME``, or ``--only-NAME``), each written by a full
#: run to ``benchmarks/results/NAME/``; a run without ``--only`` ends with all of them.
ALONE = ("conv2d", "attention")


# ------------------------------------------------------------------------ problem
@dataclass
class Problem:
    n: int
    weights: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray
    net: jc.MLP

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        d, p = self.weights[0].shape[1], self.weights[0].shape[0]
        return d, p, self.weights[1].shape[0], self.weights[2].shape[0]


def make_problem(n: int, seed: int = 0) -> Problem:
    d = p = q = n
    s = max(2, n // 8)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(p, d)) / np.sqrt(d), rng.normal(size=(q, p)) / np.sqrt(p),
               rng.normal(size=(s, q)) / np.sqrt(q)]
    x, y = rng.normal(size=d), rng.normal(size=s)
    net = jc.MLP(weights, activation="sigmoid", loss="squared_error")
    return Problem(n, net.weights, x, y, net)  # copies of the net's weights, made once


def sigmoid(h: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-h))


# ---------------------------------------------------------------------- the rows
def compact(pb: Problem) -> dict[str, np.ndarray]:
    return backprop.mlp_gradients(pb.weights, pb.x, pb.y, "sigmoid", "squared_error")


def explicit(pb: Problem) -> dict[str, np.ndarray]:
    return pb.net.gradients(pb.x, pb.y, method="explicit")


def kron_structured(pb: Problem) -> Kron:
    """xᵀ⊗I_p as the graph builds it for ``W1 @ x`` (the first partial of matmul in
    ``ops/linear.py``): ``Kron(x-as-a-1×d-row, p)``, holding a view of x and nothing else."""
    return Kron(pb.x.reshape(pb.x.shape[0], -1).T, pb.sizes[1])


def kron_structured_own(pb: Problem) -> Kron:
    """The same factor with a copy of x of its own: what it holds, counted in full."""
    return Kron(np.array(pb.x).reshape(pb.x.shape[0], -1).T, pb.sizes[1])


def kron_public(pb: Problem) -> sp.sparray:
    """``jc.linear_weight_jacobian(x, p)``: a plain scipy CSR array, from its index pattern."""
    return jc.linear_weight_jacobian(pb.x, pb.sizes[1])


def graph_factor(pb: Problem) -> object:
    """The storage of ∂h1/∂vec(W1) in the graph of the literal route itself."""
    return pb.net.compose(pb.x).factor("h1", 0).storage


def array_bytes(K: object) -> int:
    """Bytes of every array a factor holds (values, indices, pointers, offsets)."""
    if isinstance(K, Structured):
        return int(K.nbytes)  # Kron: its factors (x, 8·d bytes; p is a number)
    if K.format == "coo":  # .row/.col rather than .coords: scipy 1.12 has no .coords
        return K.data.nbytes + K.row.nbytes + K.col.nbytes
    names = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
             "bsr": ("data", "indices", "indptr"), "dia": ("data", "offsets")}
    return sum(getattr(K, a).nbytes for a in names[K.format])


def o_p_allowance(p: int) -> int:
    """The O(p) of "12 B per stored entry + O(p)": a pointer per row (8 B) and 1 KiB of headers."""
    return 8 * (p + 1) + 1024


def scipy_plain(K: object) -> bool:
    """True when K is no subclass of a scipy class, or exactly one of scipy's public arrays."""
    if isinstance(K, Structured):
        return not (sp.issparse(K) or isinstance(K, np.ndarray))
    return type(K) in (sp.csr_array, sp.csc_array, sp.coo_array)


def kron_scipy_csc(pb: Problem) -> sp.sparray:
    return sp.kron(pb.x[None, :], sp.eye_array(pb.sizes[1]), format="csc")


def kron_scipy_default(pb: Problem) -> sp.sparray:
    return sp.kron(pb.x[None, :], sp.eye_array(pb.sizes[1]))


def verification(pb: Problem) -> list:
    """What ``jacobian-calc lecture`` verifies: literal vs compact, Gâteaux, small-parameter FD."""
    return verify_network(pb.net, pb.x, pb.y, directions=DIRECTIONS)


def lecture_command_args(n: int) -> list[str]:
    return ["lecture", "--sizes", str(n), str(n), str(n), str(max(2, n // 8))]


def lecture_command(n: int) -> int:
    """The whole ``jacobian-calc lecture`` command, in-process, its output sent to a null sink."""
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
        return cli_main(lecture_command_args(n))


def full_ours(pb: Problem) -> np.ndarray:
    return pb.net.jacobian(pb.x, of="yhat", wrt="W1").matrix


#: A diagnostic row of the full-Jacobian group (no target): the same literal factors in
#: another order, to show what the order chosen by the cost model costs.
DIAGNOSTIC = "diagnostic: the same literal factors in the order ((W3·D2·W2·D1)·K)"


def full_row_block_first(pb: Problem) -> np.ndarray:
    """The graph's factors of ∂ŷ/∂vec(W1), multiplied head first, the Kron factor last.

    ``structure.product`` on the factors' storages: W3·diag(φ′(h2))·W2·diag(φ′(h1)) is an
    s × p dense block, and that block times Kron(xᵀ, p) is ``Kron.rmatmul``, one pass.
    """
    graph = pb.net.compose(pb.x)
    path = graph.edge_paths("yhat", "W1", limit=1)[0]
    factors = [graph.factor(node, position).storage for node, position in reversed(path)]
    block = factors[0]
    for f in factors[1:-1]:
        block = product(block, f)
    return product(block, factors[-1])


def full_closed_form(pb: Problem) -> np.ndarray:
    """np.kron(xᵀ, M) with M = W3 D2 W2 D1: the closed form of ∂ŷ/∂vec(W1), in numpy."""
    W1, W2, W3 = pb.weights
    z1 = sigmoid(W1 @ pb.x)
    z2 = sigmoid(W2 @ z1)
    M = ((W3 * (z2 * (1 - z2))) @ W2) * (z1 * (1 - z1))  # W3 D2 W2 D1, diagonals as scalings
    return np.kron(pb.x[None, :], M)


def _torch_row() -> Callable[[Problem], Callable[[], object]] | None:
    try:
        torch = importlib.import_module("torch")
        func = importlib.import_module("torch.func")
    except ImportError:
        return None
    torch.set_num_threads(THREADS)

    def prepare(pb: Problem) -> Callable[[], object]:
        W1, W2, W3 = (torch.from_numpy(np.array(W)) for W in pb.weights)
        xt = torch.from_numpy(pb.x.copy())

        def f(W: object) -> object:
            return W3 @ torch.sigmoid(W2 @ torch.sigmoid(W @ xt))

        jac = func.jacrev(f)
        return lambda: jac(W1)

    return prepare


def _jax_row() -> Callable[[Problem], Callable[[], object]] | None:
    try:
        jax = importlib.import_module("jax")
        jnp = importlib.import_module("jax.numpy")
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def prepare(pb: Problem) -> Callable[[], object]:
        W1, W2, W3 = (jnp.asarray(np.array(W)) for W in pb.weights)
        xj = jnp.asarray(pb.x)

        def f(W: object) -> object:
            return W3 @ jax.nn.sigmoid(W2 @ jax.nn.sigmoid(W @ xj))

        jac = jax.jit(jax.jacrev(f))  # compiled once, in the warm-up call
        return lambda: jac(W1).block_until_ready()

    return prepare


# ------------------------------------------------------------------ second order
def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return z * (1 - z)


def full_hessian_ours(pb: Problem) -> jc.Hessian:
    """The Hessian over θ = (vec W1; vec W2; vec W3), dense P × P (``MLP.hessian``)."""
    return pb.net.hessian(pb.x, pb.y)


def hvp_ours(pb: Problem, V: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return pb.net.hvp(pb.x, pb.y, V)


def hvp_compact(pb: Problem, V: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """H v by Pearlmutter's R-operator on the compact formulas, in numpy (sigmoid, ½‖ŷ − y‖²).

    The forward pass and the back-propagation of (26), (32), (38), each differentiated
    along the direction V: R(·) = d/dt (·)(W + tV) at t = 0. Written independently of the
    literal machinery (it uses nothing of the package).
    """
    W1, W2, W3 = pb.weights
    V1, V2, V3 = V["W1"], V["W2"], V["W3"]
    x = pb.x
    z1 = sigmoid(W1 @ x)
    z2 = sigmoid(W2 @ z1)
    r = W3 @ z2 - pb.y  # ∂f/∂ŷ
    d1, d2 = sigmoid_prime(z1), sigmoid_prime(z2)  # φ′(h)
    dd1, dd2 = d1 * (1 - 2 * z1), d2 * (1 - 2 * z2)  # φ″(h)
    # forward, along V
    Rh1 = V1 @ x
    Rz1 = d1 * Rh1
    Rh2 = V2 @ z1 + W2 @ Rz1
    Rz2 = d2 * Rh2
    Rr = V3 @ z2 + W3 @ Rz2  # R(∂f/∂ŷ) = H_L R(ŷ), H_L = I
    # backward, and its R
    a2 = W3.T @ r
    delta2 = d2 * a2
    R_delta2 = dd2 * Rh2 * a2 + d2 * (V3.T @ r + W3.T @ Rr)
    a1 = W2.T @ delta2
    R_delta1 = dd1 * Rh1 * a1 + d1 * (V2.T @ delta2 + W2.T @ R_delta2)
    return {"W1": np.outer(R_delta1, x),
            "W2": np.outer(R_delta2, z1) + np.outer(delta2, Rz1),
            "W3": np.outer(Rr, z2) + np.outer(r, Rz2)}


def closed_form_jacobian_block(pb: Problem) -> np.ndarray:
    """M = ∂ŷ/∂h1 = W3 D2 W2 D1 (s × p), in numpy."""
    W1, W2, W3 = pb.weights
    z1 = sigmoid(W1 @ pb.x)
    z2 = sigmoid(W2 @ z1)
    return ((W3 * sigmoid_prime(z2)) @ W2) * sigmoid_prime(z1)


def gauss_newton_ours(pb: Problem) -> jc.Hessian:
    """The Gauss-Newton block of W1 for one example, kept as Kron(A, G) (``MLP.gauss_newton``)."""
    return pb.net.gauss_newton(pb.x, pb.y, wrt="W1")


def _second_peers(torch: object | None, jax: object | None) -> dict[str, Callable | None]:
    """Prepare functions of the peers' full Hessian and Hessian-vector product (None: absent)."""
    out: dict[str, Callable | None] = {"torch.func.hessian": None, "jax.hessian": None,
                                       "torch.func.jvp(grad)": None, "jax.jvp(grad)": None}
    if torch is not None:
        func = importlib.import_module("torch.func")

        def torch_f(pb: Problem) -> tuple[Callable, list]:
            xt, yt = torch.from_numpy(pb.x.copy()), torch.from_numpy(pb.y.copy())

            def f(W1: object, W2: object, W3: object) -> object:
                r = W3 @ torch.sigmoid(W2 @ torch.sigmoid(W1 @ xt)) - yt
                return 0.5 * (r * r).sum()

            return f, [torch.from_numpy(np.array(W)) for W in pb.weights]

        def torch_hessian(pb: Problem) -> Callable[[], object]:
            f, Ws = torch_f(pb)
            hess = func.hessian(f, argnums=(0, 1, 2))  # blocks [i][j]: Wi.shape + Wj.shape
            return lambda: hess(*Ws)

        def torch_hvp(pb: Problem, V: dict[str, np.ndarray]) -> Callable[[], object]:
            f, Ws = torch_f(pb)
            g = func.grad(f, argnums=(0, 1, 2))
            Vs = tuple(torch.from_numpy(np.array(V[k])) for k in ("W1", "W2", "W3"))
            return lambda: func.jvp(g, tuple(Ws), Vs)[1]  # forward over reverse

        out["torch.func.hessian"], out["torch.func.jvp(grad)"] = torch_hessian, torch_hvp
    if jax is not None:
        jnp = importlib.import_module("jax.numpy")

        def jax_f(pb: Problem) -> tuple[Callable, list]:
            xj, yj = jnp.asarray(pb.x), jnp.asarray(pb.y)

            def f(W1: object, W2: object, W3: object) -> object:
                r = W3 @ jax.nn.sigmoid(W2 @ jax.nn.sigmoid(W1 @ xj)) - yj
                return 0.5 * jnp.sum(r * r)

            return f, [jnp.asarray(np.array(W)) for W in pb.weights]

        def jax_hessian(pb: Problem) -> Callable[[], object]:
            f, Ws = jax_f(pb)
            hess = jax.jit(jax.hessian(f, argnums=(0, 1, 2)))  # compiled in the warm-up
            return lambda: jax.block_until_ready(hess(*Ws))

        def jax_hvp(pb: Problem, V: dict[str, np.ndarray]) -> Callable[[], object]:
            f, Ws = jax_f(pb)
            g = jax.grad(f, argnums=(0, 1, 2))
            Vs = tuple(jnp.asarray(np.array(V[k])) for k in ("W1", "W2", "W3"))
            hvp = jax.jit(lambda W, T: jax.jvp(g, W, T)[1])
            return lambda: jax.block_until_ready(hvp(tuple(Ws), Vs))

        out["jax.hessian"], out["jax.jvp(grad)"] = jax_hessian, jax_hvp
    return out


def second_order_peers() -> dict[str, Callable | None]:
    """The peers of the second-order rows, with the threads setting of the first-order ones."""
    try:
        torch = importlib.import_module("torch")
        torch.set_num_threads(THREADS)
    except ImportError:
        torch = None
    try:
        jax = importlib.import_module("jax")
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    return _second_peers(torch, jax)


def hessian_peer_err(blocks: object, H: jc.Hessian, shapes: list[tuple[int, int]]) -> float:
    """A peer's nested tensor-layout blocks [i][j] (Wi.shape + Wj.shape) against our P × P
    Hessian, each block read into the vec layout by ``jc.from_tensor_hessian``."""
    starts = np.cumsum([0] + [a * b for a, b in shapes])
    diff = scale = 0.0
    for i, si in enumerate(shapes):
        for j, sj in enumerate(shapes):
            theirs = jc.from_tensor_hessian(np.asarray(blocks[i][j]), si, sj).toarray()
            ours = H.storage[starts[i]:starts[i + 1], starts[j]:starts[j + 1]]
            diff = max(diff, float(np.max(np.abs(theirs - ours))))
            scale = max(scale, float(np.max(np.abs(theirs))), float(np.max(np.abs(ours))))
    return diff / scale if scale else diff


def _version(name: str) -> str | None:
    try:
        return importlib.import_module(name).__version__
    except ImportError:
        return None


# ------------------------------------------------------------------ measurement
@dataclass
class Row:
    group: str
    name: str
    n: int
    seconds: float | None = None
    samples: int = 0
    loops: int = 1
    peak_bytes: int | None = None
    ratio_compact: float | None = None
    reference: str | None = None
    ratio_reference: float | None = None
    exactness: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def _loops_for(fn: Callable[[], object], target: float = 1e-2) -> int:
    """How many calls make one timing sample last about ``target`` seconds.

    Calibrated on the fastest of three calls, as ``timeit``'s autorange calibrates on a
    loop: a single call may be the one that pays for fresh pages (after another row has
    freed its memory to the operating system), and would leave a millisecond row with one
    call per sample, so that every sample measured the page faults instead of the work.
    """
    once = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        once = min(once, time.perf_counter() - t0)
    return max(1, min(1000, int(target / max(once, 1e-7))))


class Timing(NamedTuple):
    """One row's samples: median seconds per call, their number, calls per sample, quartiles."""

    median: float
    samples: int
    loops: int
    q1: float
    q3: float


def _quartiles(v: list[float]) -> tuple[float, float]:
    if len(v) < 2:
        return v[0], v[0]
    q = statistics.quantiles(v, n=4)
    return q[0], q[2]


def with_spread(row: Row, timing: Timing) -> Row:
    """Record the interquartile range of the row's samples with it (in ``extra``)."""
    row.extra["quartiles_s"] = [timing.q1, timing.q3]
    return row


def measure(rows: dict[str, Callable[[], object]], repeats: int) -> dict[str, Timing]:
    """Median seconds per call of each row, measured interleaved (shuffled each round).

    The order is a fresh (seeded) permutation every round rather than a rotation: with a
    rotation each row always follows the same other row, and a call that needs 1 GiB of
    fresh pages is fast right after one that has just freed 1 GiB and slow after one whose
    allocator keeps its memory, which made the full-Jacobian ratio depend on list order.
    """
    names = list(rows)
    for name in names:  # warm-up: imports, JIT, caches, first-touch pages
        rows[name]()
    loops = {name: _loops_for(rows[name]) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(len(names) * 1000 + repeats)
    gc.collect()
    gc.disable()  # as timeit does: no collection pauses inside a sample
    try:
        for r in range(repeats):
            for name in order.sample(names, len(names)):
                fn, k = rows[name], loops[name]
                t0 = time.perf_counter()
                for _ in range(k):
                    fn()
                samples[name].append((time.perf_counter() - t0) / k)
    finally:
        gc.enable()
    return {name: Timing(statistics.median(v), len(v), loops[name], *_quartiles(v))
            for name, v in samples.items()}


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes traced by tracemalloc during one call (result kept until the end)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak


def retained_bytes(fn: Callable[[], object]) -> int:
    """Bytes still allocated after one call while its result is alive."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        after, _ = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return after - before


def rel_err(a: object, b: object) -> float:
    """max|a − b| / max(max|a|, max|b|), computed in row blocks (no full-size temporaries)."""
    a, b = (m.tosparse() if isinstance(m, Structured) else m for m in (a, b))
    if sp.issparse(a) and sp.issparse(b):  # never densify a p × pd factor
        if a.shape != b.shape:
            raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
        diff = float(abs(sp.csr_array(a) - sp.csr_array(b)).max())
        scale = max(float(abs(a).max()), float(abs(b).max()))
        return diff / scale if scale else diff
    A = a.toarray() if sp.issparse(a) else np.asarray(a)
    B = b.toarray() if sp.issparse(b) else np.asarray(b)
    if A.shape != B.shape:
        raise ValueError(f"shapes differ: {A.shape} vs {B.shape}")
    A2, B2 = A.reshape(A.shape[0], -1), B.reshape(B.shape[0], -1)
    diff = scale = 0.0
    for i in range(A2.shape[0]):
        diff = max(diff, float(np.max(np.abs(A2[i] - B2[i]))))
        scale = max(scale, float(np.max(np.abs(A2[i]))), float(np.max(np.abs(B2[i]))))
    return diff / scale if scale else diff


def gradients_err(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(rel_err(a[k], b[k]) for k in b)


def peer_err(tensor: object, ours: np.ndarray, s: int, p: int, d: int) -> float:
    """Compare a peer's (s, p, d) row-major Jacobian with our (s, p·d) vec layout."""
    T = np.asarray(tensor)
    ours3 = ours.reshape(s, p, d, order="F")  # column i + p·l of ours is W1[i, l]
    return rel_err(T, ours3)


# ------------------------------------------------------------------------ groups
def run_size(n: int, repeats: int, peers: dict[str, Callable | None], log: Callable,
             command_n: int | None = None) -> list[Row]:
    pb = make_problem(n)
    d, p, q, s = pb.sizes
    rows: list[Row] = []

    # ---- gradients: the compact floor and the literal route
    timed = measure({"compact": lambda: compact(pb), "explicit": lambda: explicit(pb)}, repeats)
    floor = timed["compact"][0]
    exact = gradients_err(explicit(pb), compact(pb))
    for name, label, fn in (("compact", "compact numpy gradients (floor)", compact),
                            ("explicit", "literal explicit gradients", explicit)):
        tm = timed[name]
        t, k, loops = tm[:3]
        rows.append(with_spread(Row("gradients", label, n, t, k, loops,
                                    peak_memory(lambda f=fn: f(pb)), t / floor, "compact",
                                    t / floor, 0.0 if name == "compact" else exact), tm))
    log(f"n={n}: gradients done")

    # ---- the Kronecker factor xᵀ⊗I_p (p × pd): built alone, as the graph and the API build it
    kron_rows = {"ours, structured Kron(xᵀ, p) as the graph builds it":
                 lambda: kron_structured(pb),
                 "ours, public jc.linear_weight_jacobian (scipy CSR)": lambda: kron_public(pb),
                 "scipy.sparse.kron, format='csc'": lambda: kron_scipy_csc(pb),
                 "scipy.sparse.kron, default format": lambda: kron_scipy_default(pb)}
    # What one factor holds: built on its own, from values of its own (the structured one
    # gets a copy of x, so the 8·d bytes of its values are counted, not shared with the node).
    held_fn = dict(zip(kron_rows, (lambda: kron_structured_own(pb), lambda: kron_public(pb),
                                   lambda: kron_scipy_csc(pb), lambda: kron_scipy_default(pb))))
    timed = measure(kron_rows, repeats)
    fastest_scipy = min(timed["scipy.sparse.kron, format='csc'"][0],
                        timed["scipy.sparse.kron, default format"][0])
    reference = kron_scipy_csc(pb)
    nnz = p * d
    in_graph = graph_factor(pb)
    for name, fn in kron_rows.items():
        tm = timed[name]
        t, k, loops = tm[:3]
        mine = name.startswith("ours")
        held = retained_bytes(held_fn[name])
        built = fn()
        arrays = array_bytes(built)
        kind = type(built).__name__
        note = (f"{held / nnz:.4g} B per stored entry held ({held:,} B traced); "
                f"{arrays / nnz:.4g} B in its arrays ({arrays:,} B); {kind}")
        row = Row("kron", f"Kronecker factor xᵀ⊗I_p: {name}", n, t, k, loops, peak_memory(fn),
                  t / floor, "fastest scipy.sparse.kron" if mine else None,
                  t / fastest_scipy if mine else None, rel_err(built, reference), note)
        row.extra.update(bytes_per_entry=held / nnz, array_bytes_per_entry=arrays / nnz,
                         held_bytes=held, array_bytes=arrays, stored_entries=nnz, p=p,
                         allowance_bytes=o_p_allowance(p), type=kind,
                         no_scipy_subclass=scipy_plain(built))
        if mine:
            row.extra["speedup"] = fastest_scipy / t
        if isinstance(built, Kron):
            # The factor the literal route multiplies: the graph's own storage of ∂h1/∂vec(W1).
            same = (type(in_graph) is Kron and in_graph.right == built.right
                    and np.array_equal(in_graph.left, built.left))
            row.extra["graph_builds_this"] = bool(same)
            row.note += ("; the graph's ∂h1/∂vec(W1) is this Kron" if same else
                         f"; the graph's ∂h1/∂vec(W1) is a {type(in_graph).__name__}, not this")
        del built
        rows.append(with_spread(row, tm))
    del in_graph
    dense_bytes = 8 * p * (p * d)
    if dense_bytes <= DENSE_KRON_LIMIT:
        held = retained_bytes(lambda: kron_structured(pb).toarray())
        how = "allocated and measured"
    else:
        held, how = dense_bytes, "computed as 8·p·pd (too large to allocate)"
    row = Row("kron", "Kronecker factor xᵀ⊗I_p: dense ndarray", n,
              note=f"{held / nnz:.0f} B per nonzero entry ({how}); {held / 2**20:.1f} MiB")
    row.extra["bytes_per_entry"] = held / nnz
    rows.append(row)
    # ---- a row gradient times the factor, by how the factor is stored
    K = kron_structured(pb)
    stored = {"ours (structured Kron)": K,
              "the same factor stored CSC": K.tosparse().tocsc(),
              "the same factor stored CSR": K.tosparse()}
    holds = {"ours (structured Kron)": "x itself, 8·d B: one outer product g xᵀ (Lemma 2.6)",
             "the same factor stored CSC": "16 B per entry: a gather per column",
             "the same factor stored CSR": "12 B per entry + O(p): a scattered write"}
    g = np.random.default_rng(n).normal(size=(1, p))
    timed = measure({name: (lambda M=M: g @ M) for name, M in stored.items()}, repeats)
    ours_t = timed["ours (structured Kron)"][0]
    expected = (g.reshape(p, 1) * pb.x[None, :]).reshape(1, -1, order="F")  # vec(g xᵀ)ᵀ
    for name, M in stored.items():
        tm = timed[name]
        t, k, loops = tm[:3]
        rows.append(Row("rowprod", f"row gradient × Kronecker factor: {name}", n, t, k, loops,
                        peak_memory(lambda M=M: g @ M), t / floor, "ours", t / ours_t,
                        rel_err(g @ M, expected), holds[name]))
        with_spread(rows[-1], tm)
    del K, stored
    log(f"n={n}: Kronecker factor done")

    # ---- the lecture command's verification, against the compact gradients side by side
    timed = measure({"compact": lambda: compact(pb), "verify": lambda: verification(pb)},
                    repeats)
    checks = verification(pb)
    unit = timed["compact"][0]
    tm = timed["verify"]
    t, k, loops = tm[:3]
    ok = all(c.ok for c in checks)
    fd = [c.name for c in checks if c.entries is not None]
    row = Row("verify", f"lecture verification: verify_network(net, x, y, directions={DIRECTIONS})",
              n, t, k, loops, peak_memory(lambda: verification(pb)), t / floor,
              "compact alongside", t / unit, max(c.literal_vs_compact for c in checks),
              f"verdict {'ok' if ok else 'MISMATCH'} for {len(checks)} parameters; "
              f"entry-by-entry FD for {', '.join(fd) if fd else 'none'} (≤ 2,000 entries); "
              f"compact gradients alongside {_fmt_time(unit)}")
    row.extra.update(ok=ok, compact_alongside_s=unit)
    rows.append(with_spread(row, tm))
    if n == command_n:
        args = lecture_command_args(n)
        # About a second a call: fewer rounds; exit status 0 means every check passed.
        timed = measure({"cli": lambda: lecture_command(n)}, min(repeats, 5))
        status = lecture_command(n)
        tm = timed["cli"]
        t, k, loops = tm[:3]
        row = Row("verify", "lecture command: jacobian-calc " + " ".join(args), n, t, k, loops,
                  None, t / floor, "compact", t / floor, None,
                  f"in-process (front.cli.main), stdout to a null sink; exit status {status} "
                  f"({'verified' if status == 0 else 'NOT verified'})")
        row.extra.update(exit_status=status, ok=status == 0)
        rows.append(with_spread(row, tm))
    log(f"n={n}: verification done")

    # ---- the full Jacobian ∂ŷ/∂vec(W1), s × pd, dense
    full_bytes = 8 * s * p * d
    if full_bytes > FULL_JACOBIAN_LIMIT:
        rows.append(Row("full", "full ∂ŷ/∂vec(W1): all routes", n,
                        note=f"skipped: the dense s×pd result alone is {full_bytes / 2**30:.0f} GiB"))
        return rows
    full_rows: dict[str, Callable[[], object]] = {
        "ours: net.jacobian(x, of='yhat', wrt='W1')": lambda: full_ours(pb),
        "closed form np.kron(xᵀ, W3 D2 W2 D1)": lambda: full_closed_form(pb),
        DIAGNOSTIC: lambda: full_row_block_first(pb),
    }
    for peer, prepare in peers.items():
        if prepare is not None:
            full_rows[peer] = prepare(pb)
    # Each 1 GiB result at n = 1024 is fresh memory from the OS, whose page faults vary by
    # ±50 % from call to call for every route alike: as many rounds as anywhere else.
    timed = measure(full_rows, repeats)
    closed = full_closed_form(pb)
    closed_t = timed["closed form np.kron(xᵀ, W3 D2 W2 D1)"][0]
    for name, fn in full_rows.items():
        tm = timed[name]
        t, k, loops = tm[:3]
        out = fn()
        if name.startswith("ours") or name == DIAGNOSTIC:
            err, peak = rel_err(out, closed), peak_memory(fn)
        elif name.startswith("closed"):
            err, peak = 0.0, peak_memory(fn)
        else:
            err, peak = peer_err(out, closed, s, p, d), None
        del out
        rows.append(Row("full", f"full ∂ŷ/∂vec(W1): {name}", n, t, k, loops, peak, t / floor,
                        "closed form", t / closed_t, err,
                        ("not a target: compose, then the factors multiplied head first, "
                         "Kron last, whatever order the cost model picks" if name == DIAGNOSTIC
                         else "")
                        if peak is not None else "memory: own allocator, not traced"))
        with_spread(rows[-1], tm)
    for peer, prepare in peers.items():
        if prepare is None:
            rows.append(Row("full", f"full ∂ŷ/∂vec(W1): {peer}", n, note="n/a: not installed"))
    log(f"n={n}: full Jacobian done")
    return rows


def run_second_order(n: int, repeats: int, peers: dict[str, Callable | None], log: Callable,
                     hessian_limit: int = FULL_HESSIAN_LIMIT) -> list[Row]:
    """Issue 10: the full Hessian (where it fits), a Hessian-vector product, and the
    Gauss-Newton block of W1 as its Kronecker factors, each group measured side by side."""
    pb = make_problem(n)
    d, p, q, s = pb.sizes
    rows: list[Row] = []

    # ---- the full Hessian over (vec W1, vec W2, vec W3): dense P × P
    P = sum(W.size for W in pb.weights)
    full_bytes = 8 * P * P
    hessian_peers = {k: peers.get(k) for k in ("torch.func.hessian", "jax.hessian")}
    if full_bytes > hessian_limit:
        why = ("over the --quick limit" if hessian_limit < FULL_HESSIAN_LIMIT
               and full_bytes <= FULL_HESSIAN_LIMIT else f"over {_fmt_bytes(hessian_limit)}")
        rows.append(Row("hessian", "full Hessian over (vec W1, vec W2, vec W3): all routes", n,
                        note=f"skipped: the dense {P:,} × {P:,} result alone is "
                             f"{_fmt_bytes(full_bytes)}, {why}"))
    else:
        routes: dict[str, Callable[[], object]] = {"ours: net.hessian(x, y)":
                                                   lambda: full_hessian_ours(pb)}
        for peer, prepare in hessian_peers.items():
            if prepare is not None:
                routes[peer] = prepare(pb)
        timed = measure(routes, repeats)
        ours_t = timed["ours: net.hessian(x, y)"][0]
        H = full_hessian_ours(pb)
        shapes = [W.shape for W in pb.weights]
        errs = {peer: hessian_peer_err(routes[peer](), H, shapes)
                for peer in routes if not peer.startswith("ours")}
        for name, fn in routes.items():
            tm = timed[name]
            t, k, loops = tm[:3]
            mine = name.startswith("ours")
            row = Row("hessian", f"full Hessian over (vec W1, vec W2, vec W3): {name}", n, t, k,
                      loops, peak_memory(fn) if mine else None, None, "ours", t / ours_t,
                      max(errs.values()) if mine and errs else errs.get(name),
                      (f"{P:,} weights, {_fmt_bytes(full_bytes)} dense; "
                       + ("exact against every peer installed (their blocks read by "
                          "jc.from_tensor_hessian)" if errs else "no peer installed to compare")
                       if mine else "blocks [i][j] of Wi.shape + Wj.shape, read by "
                                    "jc.from_tensor_hessian; memory: own allocator, not traced"))
            row.extra["weights"] = P
            rows.append(with_spread(row, tm))
        del H
    for peer, prepare in hessian_peers.items():
        if prepare is None and full_bytes <= hessian_limit:
            rows.append(Row("hessian", f"full Hessian over (vec W1, vec W2, vec W3): {peer}", n,
                            note="n/a: not installed"))
    log(f"n={n}: full Hessian done")

    # ---- a Hessian-vector product, against one compact gradient measured alongside
    rng = np.random.default_rng(n + 1)
    V = {name: rng.normal(size=W.shape) for name, W in zip(("W1", "W2", "W3"), pb.weights)}
    hvp_rows: dict[str, Callable[[], object]] = {
        "compact gradient (the unit)": lambda: compact(pb),
        "ours: net.hvp(x, y, V)": lambda: hvp_ours(pb, V),
        "compact R-operator in numpy (Pearlmutter; the reference)": lambda: hvp_compact(pb, V),
    }
    hvp_peers = {k: peers.get(k) for k in ("torch.func.jvp(grad)", "jax.jvp(grad)")}
    for peer, prepare in hvp_peers.items():
        if prepare is not None:
            hvp_rows[peer] = prepare(pb, V)
    timed = measure(hvp_rows, repeats)
    unit = timed["compact gradient (the unit)"][0]
    reference = hvp_compact(pb, V)
    for name, fn in hvp_rows.items():
        if name.startswith("compact gradient"):
            continue
        tm = timed[name]
        t, k, loops = tm[:3]
        out = fn()
        if not isinstance(out, dict):  # a peer's tuple (W1, W2, W3)
            out = {key: np.asarray(v) for key, v in zip(("W1", "W2", "W3"), out)}
        mine = not any(name.startswith(peer) for peer in hvp_peers)
        row = Row("hvp", f"Hessian-vector product: {name}", n, t, k, loops,
                  peak_memory(fn) if mine else None, t / unit, "compact gradient alongside",
                  t / unit, gradients_err(out, reference),
                  f"compact gradient alongside {_fmt_time(unit)}"
                  + ("" if mine else "; forward over reverse; memory: own allocator, not traced"))
        row.extra["compact_alongside_s"] = unit
        rows.append(with_spread(row, tm))
    for peer, prepare in hvp_peers.items():
        if prepare is None:
            rows.append(Row("hvp", f"Hessian-vector product: {peer}", n, note="n/a: not installed"))
    log(f"n={n}: Hessian-vector product done")

    # ---- the Gauss-Newton block of W1, (x xᵀ) ⊗ (Mᵀ M), held as its two factors
    GN = gauss_newton_ours(pb)
    K = GN.storage
    M = closed_form_jacobian_block(pb)
    A_ref, G_ref = np.outer(pb.x, pb.x), M.T @ M  # H_L = I for ½‖ŷ − y‖²
    Vd = rng.normal(size=(p, d))
    v = Vd.reshape(-1, order="F")  # vec(V)
    expected = (G_ref @ Vd @ A_ref.T).reshape(-1, order="F")  # (A ⊗ G) vec(V) = vec(G V Aᵀ)
    timed = measure({"build": lambda: gauss_newton_ours(pb), "compact": lambda: compact(pb)},
                    repeats)
    unit = timed["compact"][0]
    tm = timed["build"]
    t, k, loops = tm[:3]
    held = retained_bytes(lambda: gauss_newton_ours(pb))
    arrays = int(K.nbytes) if isinstance(K, Structured) else int(getattr(K, "nbytes", 0))
    unit_bytes = 8 * max(d, p) ** 2
    dense_block = 8 * (p * d) ** 2
    kind = type(K).__name__
    factors = (" ⊗ ".join("×".join(map(str, f.shape)) if isinstance(f, np.ndarray) else f"I{f}"
                          for f in (K.left, K.right)) if isinstance(K, Kron) else kind)
    row = Row("gauss_newton", "Gauss-Newton block of W1: ours, net.gauss_newton(x, y, wrt='W1')",
              n, t, k, loops, peak_memory(lambda: gauss_newton_ours(pb)), t / unit,
              "compact gradient alongside", t / unit, rel_err(K @ v, expected),
              f"stored as {kind} ({factors}): {arrays:,} B in its arrays "
              f"({arrays / unit_bytes:.3g}·8n²), {held:,} B traced after the call; the dense "
              f"{p * d:,} × {p * d:,} block would be {_fmt_bytes(dense_block)}")
    row.extra.update(type=kind, array_bytes=arrays, held_bytes=held, dense_bytes=dense_block,
                     unit_bytes=unit_bytes, compact_alongside_s=unit, factors=factors)
    rows.append(with_spread(row, tm))
    products = {"ours: H.storage @ vec(V)": lambda storage=K: storage @ v,
                "numpy: vec(G V Aᵀ) with G = MᵀM, A = x xᵀ from the closed form":
                lambda: (G_ref @ Vd @ A_ref.T).reshape(-1, order="F")}
    timed = measure(products, repeats)
    ref_t = timed[list(products)[1]][0]
    for name, fn in products.items():
        tm = timed[name]
        t, k, loops = tm[:3]
        mine = name.startswith("ours")
        row = Row("gauss_newton", f"Gauss-Newton block of W1 × vector: {name}", n, t, k, loops,
                  peak_memory(fn), None, "numpy vec(G V Aᵀ)", t / ref_t,
                  rel_err(fn(), expected) if mine else 0.0,
                  "through the factors, (A ⊗ G) vec(V) = vec(G V Aᵀ); the block is never formed"
                  if mine else "the same two n × n products, from factors computed independently")
        row.extra["unit_bytes"] = unit_bytes
        rows.append(with_spread(row, tm))
    rows.append(Row("gauss_newton", "Gauss-Newton block of W1: dense", n,
                    note=f"{p * d:,} × {p * d:,}: {_fmt_bytes(dense_block)} "
                         f"(8·(pd)², computed, not allocated)"))
    rows[-1].extra["dense_bytes"] = dense_block
    del GN, K
    log(f"n={n}: Gauss-Newton block done")
    return rows


def run_lecture_checks(count: int) -> list[Row]:
    """Lecture sizes (4 5 3 2): ``count`` explicit-vs-compact checks, plain and under hypothesis."""
    rows = []
    rng = np.random.default_rng(1)
    worst = 0.0
    t0 = time.perf_counter()
    for _ in range(count):
        weights = [rng.normal(size=(5, 4)), rng.normal(size=(3, 5)), rng.normal(size=(2, 3))]
        net = jc.MLP(weights, activation="sigmoid")
        x, y = rng.normal(size=4), rng.normal(size=2)
        worst = max(worst, gradients_err(net.gradients(x, y, method="explicit"),
                                         net.gradients(x, y, method="backprop")))
    elapsed = time.perf_counter() - t0
    rows.append(Row("lecture", f"{count:,} explicit-vs-compact checks, sizes 4 5 3 2 (plain loop)",
                    4, elapsed, 1, count, exactness=worst, note=f"{elapsed / count * 1e3:.2f} ms each"))
    try:
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        from jacobian_calc.testing import real_arrays
    except ImportError:
        rows.append(Row("lecture", f"{count:,} hypothesis examples", 4, note="n/a: hypothesis not installed"))
        return rows
    errs: list[float] = []

    @settings(max_examples=count, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(real_arrays((5, 4)), real_arrays((3, 5)), real_arrays((2, 3)), real_arrays((4,)),
           real_arrays((2,)), st.sampled_from(sorted(jc.ACTIVATIONS)))
    def prop(W1, W2, W3, x, y, act):
        net = jc.MLP([W1, W2, W3], activation=act)
        err = gradients_err(net.gradients(x, y, method="explicit"),
                            net.gradients(x, y, method="backprop"))
        errs.append(err)
        assert err <= 1e-12

    @settings(max_examples=count, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, 2**63 - 1), st.sampled_from(sorted(jc.ACTIVATIONS)),
           st.sampled_from(sorted(jc.LOSSES)))
    def prop_seeded(seed, act, loss):
        r = np.random.default_rng(seed)
        weights = [r.uniform(-2, 2, size=(5, 4)), r.uniform(-2, 2, size=(3, 5)),
                   r.uniform(-2, 2, size=(2, 3))]
        x, y = r.uniform(-2, 2, size=4), r.uniform(-2, 2, size=2)
        if loss == "softmax_cross_entropy":
            y = np.abs(y) / np.abs(y).sum()
        net = jc.MLP(weights, activation=act, loss=loss)
        err = gradients_err(net.gradients(x, y, method="explicit"),
                            net.gradients(x, y, method="backprop"))
        errs.append(err)
        assert err <= 1e-12

    for fn, what in ((prop_seeded, "numpy values from a hypothesis-drawn seed"),
                     (prop, "every entry drawn by hypothesis (real_arrays)")):
        errs.clear()
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        rows.append(Row("lecture", f"{count:,} hypothesis examples of literal == compact, "
                        f"sizes 4 5 3 2: {what}", 4, elapsed, 1, len(errs),
                        exactness=max(errs) if errs else None,
                        note=f"{len(errs)} examples, {elapsed / max(len(errs), 1) * 1e3:.2f} ms each"))
    return rows


#: Lecture-size expressions whose formulas are derived (issue 12): name → (F, X) builder.
def formula_cases() -> dict[str, Callable[[], tuple[object, object]]]:
    rng = np.random.default_rng(12)
    A, B = jc.var("A", rng.normal(size=(4, 4))), jc.var("B", rng.normal(size=(4, 4)))
    E = rng.normal(size=(4, 4))
    X = jc.var("X", np.eye(4) + 0.5 * E / np.linalg.norm(E, 2))
    net = jc.MLP([rng.normal(size=(5, 4)), rng.normal(size=(3, 5)), rng.normal(size=(2, 3))])
    x, y = rng.normal(size=4), rng.normal(size=2)
    cases: dict[str, Callable[[], tuple[object, object]]] = {
        "tr(A X B)": lambda: (jc.trace(A @ X @ B), X),
        "tr(Xᵀ A X)": lambda: (jc.trace(X.T @ A @ X), X),
        "tr(A X⁻¹)": lambda: (jc.trace(A @ jc.inv(X)), X),
        "det(X)": lambda: (jc.det(X), X),
        "A X B, Kronecker form": lambda: (A @ X @ B, X),
        "X⁻¹, Kronecker form": lambda: (jc.inv(X), X),
        "X X, Kronecker form": lambda: (X @ X, X),
    }
    for w in ("W3", "W2", "W1"):
        cases[f"lecture network 4 5 3 2, ∂f/∂{w}"] = (
            lambda w=w: (net, (x, y, w)))
    return cases


def run_formulas(repeats: int, log: Callable) -> list[Row]:
    """Formulas of lecture-size expressions: derivation with its certificate, and alone.

    ``jc.formula`` (``MLP.formula`` for the lecture network) rewrites the literal chain and
    certifies the result on three fresh random instances; the rewriting alone is
    ``engine.formulas.derive_formula(..., certify=False)``. Exactness: the formula at the
    expression's own values against the literal Jacobian (and, for the network, against
    the compact gradients of ``lecture.backprop``).
    """
    from jacobian_calc.engine.formulas import derive_formula
    from jacobian_calc.engine.graph import Graph

    rows: list[Row] = []
    for name, build in formula_cases().items():
        F, X = build()
        if isinstance(F, jc.MLP):
            net, (x, y, w) = F, X
            graph = net.compose(x, y)
            full: Callable[[], object] = lambda net=net, x=x, y=y, w=w: net.formula(x, y, wrt=w)
            alone: Callable[[], object] = (lambda g=graph, w=w:
                                           derive_formula(g, "f", w, certify=False))
            f = full()
            values = {"x": x, "y": y} | {f"W{k}": W for k, W in enumerate(net.weights, 1)}
            literal = net.gradients(x, y, method="backprop")[w]
        else:
            full = lambda F=F, X=X: jc.formula(F, X)
            alone = (lambda F=F, X=X:
                     derive_formula(Graph(F.node, X.node), F.node, X.node, certify=False))
            f = full()
            values = {n: v for n, v in
                      ((leaf.name, leaf.value) for leaf in Graph(F.node).nodes if leaf.is_leaf)}
            J = jc.jacobian(F, X)
            literal = J.matrix_gradient() if f.kind == "gradient" else J.toarray()
        timed = measure({"full": full, "alone": alone}, repeats)
        tm = timed["full"]
        t, k, loops = tm[:3]
        got = f.evaluate({v: values[v] for v in f.variables})
        row = Row("formulas", f"formula: {name}", 4, t, k, loops, peak_memory(full), None,
                  None, None, rel_err(got, literal),
                  f"{f.text}; rewriting alone {_fmt_time(timed['alone'][0])}, the rest is the "
                  f"certificate ({len(f.certificate.instances)} fresh instances)")
        row.extra.update(formula=f.text, rewriting_s=timed["alone"][0],
                         certified=bool(f.certified), steps=len(f.steps))
        rows.append(with_spread(row, tm))
    log("formulas done")
    return rows


# ---------------------------------------------------------------- attention (issue 11)
#: Attention's benchmark: n tokens of width d (Q, K, V all d × n, columns as tokens).
ATTENTION_TOKENS = ATTENTION_WIDTH = 64
ATTENTION = "attention ∂vec(O)/∂vec(Q), ∂vec(O)/∂vec(K), ∂vec(O)/∂vec(V)"


def attention_problem(n: int = ATTENTION_TOKENS, d: int = ATTENTION_WIDTH, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=(d, n)) for _ in range(3))  # type: ignore[return-value]


def attention_ours(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> list:
    """The three literal Jacobians of ``jc.attention``, each in the storage the entry builds."""
    Qe, Ke, Ve = jc.var("Q", Q), jc.var("K", K), jc.var("V", V)
    O = jc.attention(Qe, Ke, Ve)
    return [jc.jacobian(O, X) for X in (Qe, Ke, Ve)]


def _attention_peers(Q: np.ndarray, K: np.ndarray, V: np.ndarray, wanted: bool
                     ) -> dict[str, Callable[[], object] | None]:
    """torch.func.jacrev and jax.jacrev of the same column form, all three arguments at once."""
    out: dict[str, Callable[[], object] | None] = {}
    if not wanted:
        return out
    d = Q.shape[0]
    try:
        torch = importlib.import_module("torch")
        func = importlib.import_module("torch.func")
        torch.set_num_threads(THREADS)
        args = tuple(torch.from_numpy(M.copy()) for M in (Q, K, V))

        def f_torch(Qt: object, Kt: object, Vt: object) -> object:
            return Vt @ torch.softmax(Kt.T @ Qt / np.sqrt(d), dim=0)

        jac_t = func.jacrev(f_torch, argnums=(0, 1, 2))
        out["torch.func.jacrev"] = lambda: jac_t(*args)
    except ImportError:
        out["torch.func.jacrev"] = None
    try:
        jax = importlib.import_module("jax")
        jnp = importlib.import_module("jax.numpy")
        jax.config.update("jax_enable_x64", True)
        jargs = tuple(jnp.asarray(M) for M in (Q, K, V))

        def f_jax(Qj: object, Kj: object, Vj: object) -> object:
            return Vj @ jax.nn.softmax(Kj.T @ Qj / np.sqrt(d), axis=0)

        jac_j = jax.jit(jax.jacrev(f_jax, argnums=(0, 1, 2)))  # compiled in the warm-up

        def run_jax() -> object:
            res = jac_j(*jargs)
            for r in res:
                r.block_until_ready()
            return res

        out["jax.jacrev"] = run_jax
    except ImportError:
        out["jax.jacrev"] = None
    return out


def attention_err(ours: list, reference: list) -> float:
    """Worst relative error of three Jacobians against three in the vec layout."""
    return max(rel_err(a.storage if hasattr(a, "storage") else a, b)
               for a, b in zip(ours, reference))


def tensors_to_vec(tensors: tuple, e: int, n: int) -> list[np.ndarray]:
    """A peer's (e, n) + X.shape row-major tensors as our (e·n, size X) vec-layout matrices:
    entry (a + e·j, c + r·l) of ours is T[a, j, c, l] for X of r rows."""
    out = []
    for T in tensors:
        A = np.asarray(T)
        r, cols = A.shape[2], A.shape[3]
        out.append(A.transpose(1, 0, 3, 2).reshape(e * n, r * cols))
    return out


def run_attention(repeats: int, peers: bool, log: Callable) -> list[Row]:
    """Attention's three Jacobians at 64 tokens of width 64, ours against the compact formulas
    and the peers' jacrev; every route checked against the compact backward formulas."""
    Q, K, V = attention_problem()
    d, n = Q.shape
    e = V.shape[0]
    compact = attention_jacobians(Q, K, V)  # e·n backward passes, the reference values
    routes: dict[str, Callable[[], object]] = {"ours": lambda: attention_ours(Q, K, V),
                                               "compact": lambda: attention_jacobians(Q, K, V)}
    absent = []
    for name, fn in _attention_peers(Q, K, V, peers).items():
        if fn is None:
            absent.append(name)
        else:
            routes[name] = fn
    timed = measure(routes, repeats)
    reference = timed.get("torch.func.jacrev")
    rows: list[Row] = []
    notes = {
        "ours": (f"jc.jacobian of jc.attention: ∂/∂Q block diagonal ({n} blocks of {e}×{d}, "
                 f"sparse), ∂/∂K dense, ∂/∂V Pᵀ⊗I_{e} kept as a Kron; forward pass included"),
        "compact": (f"lecture.attention.attention_jacobians: the compact backward formulas, one "
                    f"VJP per output entry ({e * n:,} of them), dense"),
        "torch.func.jacrev": "eager PyTorch, float64, argnums=(0, 1, 2); three dense 4-D tensors",
        "jax.jacrev": "jax.jit(jax.jacrev(f, argnums=(0, 1, 2))), x64, compiled in the warm-up",
    }
    labels = {"ours": "ours, jc.jacobian of jc.attention (the entry's literal partials)",
              "compact": "compact backward formulas, one VJP per output entry",
              "torch.func.jacrev": "torch.func.jacrev", "jax.jacrev": "jax.jacrev"}
    for name, tm in timed.items():
        t, k, loops = tm[:3]
        result = routes[name]()
        if name == "ours":
            err, peak = attention_err(result, compact), peak_memory(routes[name])
        elif name == "compact":
            err, peak = 0.0, peak_memory(routes[name])
        else:
            err, peak = attention_err(tensors_to_vec(result, e, n), compact), None
        del result
        row = Row("attention", f"{ATTENTION}: {labels[name]}", n, t, k, loops, peak, None,
                  "torch.func.jacrev" if reference else None,
                  t / reference[0] if reference else None, err,
                  notes[name] + ("" if peak is not None else "; memory: own allocator, "
                                 "not traced"))
        row.extra.update(tokens=n, width=d)
        rows.append(with_spread(row, tm))
    for name in absent:
        rows.append(Row("attention", f"{ATTENTION}: {labels[name]}", n,
                        note="n/a: not installed"))
    log(f"attention at {n} tokens of width {d} done")
    return rows


def attention_targets(rows: list[Row]) -> list[tuple[str, bool | None, str]]:
    """Issue 11's attention row: ours against torch.func.jacrev at 64 tokens of width 64."""
    what = (f"attention's three Jacobians at {ATTENTION_TOKENS} tokens of width "
            f"{ATTENTION_WIDTH} no slower than torch.func.jacrev")
    ours = _find(rows, ATTENTION_TOKENS, f"{ATTENTION}: ours")
    peer = _find(rows, ATTENTION_TOKENS, f"{ATTENTION}: torch.func.jacrev")
    if ours is None or ours.seconds is None:
        return [(what, None, "not run")]
    if peer is None or peer.seconds is None:
        return [(what, None, "torch not installed")]
    return [(what, ours.seconds <= peer.seconds,
             f"ours {_fmt_time(ours.seconds)}, torch.func.jacrev {_fmt_time(peer.seconds)} "
             f"({ours.seconds / peer.seconds:.2f}×; {peer.seconds / ours.seconds:.1f}× faster)")]


def run_scale(n: int, log: Callable) -> list[Row]:
    """Explicit gradients at a large n, with their peak memory against the compact route."""
    pb = make_problem(n)
    rows = []
    results = {name: fn(pb) for name, fn in (("compact", compact), ("explicit", explicit))}
    timed = measure({"compact": lambda: compact(pb), "explicit": lambda: explicit(pb)}, 3)
    for name, fn in (("compact", compact), ("explicit", explicit)):
        tm = timed[name]
        t, k, loops = tm[:3]
        peak = peak_memory(lambda f=fn: f(pb))
        rows.append(with_spread(Row("scale", f"scale: {name} gradients", n, t, k, loops, peak),
                                tm))
    floor = rows[0].seconds
    for r in rows:
        r.ratio_compact = r.seconds / floor
        r.reference, r.ratio_reference = "compact", r.seconds / floor
    rows[1].exactness = gradients_err(results["explicit"], results["compact"])
    rows[0].exactness = 0.0
    weights = sum(W.nbytes for W in pb.weights)
    rows[1].note = (f"peak {rows[1].peak_bytes / rows[0].peak_bytes:.2f}× the compact route's; "
                    f"the weights themselves hold {_fmt_bytes(weights)}")
    log(f"n={n}: scale done")
    return rows


# ------------------------------------------------------------- conv2d (issue 11)
#: The image sides of the conv2d group (a 3×3 kernel); the targets are judged at the larger.
CONV_SIZES = (64, 256)
CONV_TARGET_N = 256
CONV_KERNEL = (3, 3)
#: A peer's dense Jacobian (or the cotangents jacrev batches) above this is not attempted.
CONV_PEER_LIMIT = 1 << 30


def _torch_conv() -> object | None:
    """torch with torch.func, one thread per route as for the other peers; None if absent."""
    try:
        torch = importlib.import_module("torch")
        importlib.import_module("torch.func")
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


def run_conv2d(repeats: int, use_peers: bool, log: Callable) -> list[Row]:
    """The literal Jacobians of conv2d against the convolution itself and torch.func.

    For each image side n: the entry's forward (the reference), ∂vec(Y)/∂vec(X) as
    ``jc.jacobian`` builds it (sparse, 9 entries a row), ∂vec(Y)/∂vec(K) (dense
    im2col(X)ᵀ), and the peers ``torch.func.jacrev`` (dense; skipped where its result or
    the cotangents it batches would exceed 1 GiB) and, for the 9 kernel columns,
    ``torch.func.jacfwd``.
    """
    from jacobian_calc.lecture import conv_norm
    from jacobian_calc.ops.convolution import conv2d_forward

    torch = _torch_conv() if use_peers else None
    rows: list[Row] = []
    for n in CONV_SIZES:
        rng = np.random.default_rng(n)
        X, K = rng.normal(size=(n, n)), rng.normal(size=CONV_KERNEL)
        Xv, Kv = jc.var("X", X), jc.var("K", K)
        Y = jc.conv2d(Xv, Kv)
        out = Y.size
        G = rng.normal(size=Y.shape)  # a row gradient: gᵀJ against the compact backward
        dX, dK = conv_norm.conv2d_backward(X, K, G)
        g = G.reshape(-1, order="F")
        timed_rows: dict[str, Callable[[], object]] = {
            "forward": lambda X=X, K=K: conv2d_forward(X, K),
            "input": lambda Y=Y, Xv=Xv: jc.jacobian(Y, Xv),
            "kernel": lambda Y=Y, Kv=Kv: jc.jacobian(Y, Kv),
        }
        dense_bytes = 8 * out * X.size
        batched_bytes = 8 * out * X.size  # jacrev batches one cotangent per output row
        if torch is not None:
            from torch.func import jacfwd, jacrev
            from torch.nn.functional import conv2d as tconv

            Xt, Kt = torch.from_numpy(X), torch.from_numpy(K)

            def f(x, k):  # noqa: ANN001 — a torch function of the two tensors
                return tconv(x[None, None], k[None, None])[0, 0]

            if max(dense_bytes, batched_bytes) <= CONV_PEER_LIMIT:
                timed_rows["torch input"] = lambda f=f, Xt=Xt, Kt=Kt: jacrev(f, argnums=0)(Xt, Kt)
                timed_rows["torch kernel"] = lambda f=f, Xt=Xt, Kt=Kt: jacrev(f, argnums=1)(Xt, Kt)
            timed_rows["torch kernel fwd"] = lambda f=f, Xt=Xt, Kt=Kt: jacfwd(f, argnums=1)(Xt, Kt)
        timed = measure(timed_rows, repeats)
        t_fwd = timed["forward"].median

        def row(key: str, name: str, peak: int | None, err: float | None, note: str,
                **extra: object) -> Row:
            tm = timed[key]
            r = Row("conv2d", name, n, tm.median, tm.samples, tm.loops, peak, None,
                    "forward", tm.median / t_fwd, err, note)
            r.extra.update(extra)
            return with_spread(r, tm)

        rows.append(row("forward", "conv2d: the convolution itself, the entry's forward "
                        "(9 strided slices of the image)", peak_memory(timed_rows["forward"]),
                        rel_err(timed_rows["forward"](), conv_norm.conv2d_forward(X, K)),
                        "reference of this group"))
        JX = timed_rows["input"]()
        S = JX.storage
        per_row = np.diff(S.indptr)
        held = array_bytes(S)
        rows.append(row("input", "conv2d ∂vec(Y)/∂vec(X): ours, jc.jacobian (sparse CSR "
                        "from its index pattern)", peak_memory(timed_rows["input"]),
                        rel_err(g @ S, dX.reshape(-1, order="F")),
                        f"{S.shape[0]:,} × {S.shape[1]:,}, {S.nnz:,} stored entries "
                        f"({per_row.min()}–{per_row.max()} a row), {_fmt_bytes(held)} in its "
                        f"arrays; a dense copy would be {_fmt_bytes(dense_bytes)}; error: gᵀJ "
                        f"against the compact backward pass",
                        nnz=int(S.nnz), entries_per_row=[int(per_row.min()), int(per_row.max())],
                        array_bytes=held, dense_bytes=dense_bytes, sparse=bool(sp.issparse(S))))
        JK = timed_rows["kernel"]()
        rows.append(row("kernel", "conv2d ∂vec(Y)/∂vec(K): ours, jc.jacobian (dense "
                        "im2col(X)ᵀ)", peak_memory(timed_rows["kernel"]),
                        rel_err(g @ JK.storage, dK.reshape(-1, order="F")),
                        f"{JK.shape[0]:,} × {JK.shape[1]}; error: gᵀJ against the compact "
                        f"backward pass"))
        peer_note = "memory: own allocator, not traced"
        if torch is None:
            for what in ("∂vec(Y)/∂vec(X): torch.func.jacrev", "∂vec(Y)/∂vec(K): torch.func.jacrev",
                         "∂vec(Y)/∂vec(K): torch.func.jacfwd"):
                rows.append(Row("conv2d", f"conv2d {what}", n, note="n/a: not installed"
                                if use_peers else "n/a: --no-peers"))
            log(f"conv2d n={n} done")
            continue
        if "torch input" in timed_rows:
            TX = timed_rows["torch input"]()
            TK = timed_rows["torch kernel"]()
            ours_dense = JX.toarray(max_bytes=CONV_PEER_LIMIT)
            rows.append(row("torch input", "conv2d ∂vec(Y)/∂vec(X): torch.func.jacrev", None,
                            rel_err(jc.from_tensor_jacobian(TX, Y.shape, X.shape).matrix,
                                    ours_dense),
                            f"dense {_fmt_bytes(dense_bytes)}; {peer_note}; error against ours"))
            rows.append(row("torch kernel", "conv2d ∂vec(Y)/∂vec(K): torch.func.jacrev", None,
                            rel_err(jc.from_tensor_jacobian(TK, Y.shape, K.shape).matrix,
                                    JK.storage),
                            f"{peer_note}; error against ours"))
        else:
            rows.append(Row("conv2d", "conv2d ∂vec(Y)/∂vec(X): torch.func.jacrev", n,
                            note=f"n/a: its dense result, {out:,} × {X.size:,}, would be "
                                 f"{_fmt_bytes(dense_bytes)}"))
            rows.append(Row("conv2d", "conv2d ∂vec(Y)/∂vec(K): torch.func.jacrev", n,
                            note=f"n/a: it batches {out:,} cotangents of the "
                                 f"{n}×{n} input, {_fmt_bytes(batched_bytes)}"))
        TKf = timed_rows["torch kernel fwd"]()
        rows.append(row("torch kernel fwd", "conv2d ∂vec(Y)/∂vec(K): torch.func.jacfwd", None,
                        rel_err(jc.from_tensor_jacobian(TKf, Y.shape, K.shape).matrix,
                                JK.storage),
                        f"9 tangents; {peer_note}; error against ours"))
        log(f"conv2d n={n} done")
    return rows


def conv2d_targets(rows: list[Row]) -> list[tuple[str, bool | None, str]]:
    """Issue 11, item 7: ∂vec(conv2d)/∂vec(X) at 256×256 with a 3×3 kernel, sparse and fast."""
    n = CONV_TARGET_N
    r = _find(rows, n, "conv2d ∂vec(Y)/∂vec(X): ours")
    f = _find(rows, n, "conv2d: the convolution itself")
    what = (f"conv2d ∂vec(Y)/∂vec(X) at {n}×{n}, 3×3 kernel ({(n - 2) ** 2:,} × {n * n:,}, "
            f"9 entries a row)")
    if r is None or f is None:
        return [(f"{what} built sparse in < 20× the forward (issue 11)", None, "not run"),
                (f"{what} built in < 100 MB (issue 11)", None, "not run")]
    sparse = r.extra.get("sparse", False) and r.extra.get("entries_per_row") == [9, 9]
    return [(f"{what} built sparse in < 20× the forward (issue 11)",
             sparse and r.ratio_reference < 20,
             f"{r.ratio_reference:.2f}× ({_fmt_time(r.seconds)} against "
             f"{_fmt_time(f.seconds)}); {'sparse, 9 entries a row' if sparse else 'NOT sparse'}"),
            (f"{what} built in < 100 MB (issue 11)", r.peak_bytes < 100 * 2**20,
             f"peak {_fmt_bytes(r.peak_bytes)} traced (arrays {_fmt_bytes(r.extra['array_bytes'])}; "
             f"dense would be {_fmt_bytes(r.extra['dense_bytes'])})")]


# --------------------------------------------------------------------- reporting
def machine_info() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, object] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": _version("torch"),
        "jax": _version("jax"),
        "platform": platform.platform(),
        "threads_per_route": THREADS,
    }
    try:
        info["load_average_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def _fmt_bytes(b: int | None) -> str:
    if b is None:
        return "n/a"
    if b < 1 << 20:
        return f"{b / 1024:.1f} KiB"
    if b < 1 << 30:
        return f"{b / 2**20:.1f} MiB"
    return f"{b / 2**30:.2f} GiB"


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def _fmt_err(e: float | None) -> str:
    return "—" if e is None else f"{e:.1e}"


def _fmt_quartiles(r: Row) -> str:
    q = r.extra.get("quartiles_s")
    return "—" if not q or r.samples < 2 else f"{_fmt_time(q[0])} – {_fmt_time(q[1])}"


def table(rows: list[Row]) -> str:
    head = ("| n | row | median | quartiles | × compact | × reference | peak memory "
            "| max rel. error | note |\n"
            "|---:|---|---:|---:|---:|---:|---:|---:|---|")
    lines = [head]
    for r in rows:
        ref = "—" if r.ratio_reference is None else f"{r.ratio_reference:.2f}× {r.reference}"
        lines.append(f"| {r.n} | {r.name} | {_fmt_time(r.seconds)} | {_fmt_quartiles(r)} "
                     f"| {_fmt_ratio(r.ratio_compact)} | {ref} | {_fmt_bytes(r.peak_bytes)} "
                     f"| {_fmt_err(r.exactness)} | {r.note} |")
    return "\n".join(lines)


def _find(rows: list[Row], n: int, start: str) -> Row | None:
    return next((r for r in rows if r.n == n and r.name.startswith(start)), None)


KRON_OURS = (("structured Kron (the factor the literal route builds)",
              "Kronecker factor xᵀ⊗I_p: ours, structured Kron"),
             ("public jc.linear_weight_jacobian (scipy CSR)",
              "Kronecker factor xᵀ⊗I_p: ours, public jc.linear_weight_jacobian"))


def targets(rows: list[Row]) -> list[tuple[str, bool | None, str]]:
    """Each target of issues 5, 9, 10, 11 and 12 with whether this run met it (None: not measured)."""
    out: list[tuple[str, bool | None, str]] = []
    N = TARGET_N
    for n in (N, 2 * N):
        r = _find(rows, n, "literal explicit")
        out.append((f"explicit gradients ≤ 2.0× compact at n = {n}",
                    None if r is None else r.ratio_compact <= 2.0,
                    "not run" if r is None else f"{r.ratio_compact:.2f}×"))
    for what, start in KRON_OURS:
        r = _find(rows, N, start)
        if r is None:
            out.append((f"Kronecker factor, {what}: ≥ 10× faster than scipy.sparse.kron at "
                        f"n = {N}", None, "not run"))
            out.append((f"Kronecker factor, {what}: ≤ 12 B per stored entry + O(p)", None,
                        "not run"))
            continue
        out.append((f"Kronecker factor, {what}: ≥ 10× faster than scipy.sparse.kron at n = {N} "
                    f"(against the faster of format='csc' and the default)",
                    r.extra["speedup"] >= 10,
                    f"{r.extra['speedup']:.1f}× ({_fmt_time(r.seconds)})"))
        # Judged on the larger of the traced bytes and the arrays' nbytes, O(p) taken off.
        held = max(r.extra["held_bytes"], r.extra["array_bytes"])
        judged = max(0, held - r.extra["allowance_bytes"]) / r.extra["stored_entries"]
        out.append((f"Kronecker factor, {what}: ≤ 12 B per stored entry + O(p) at n = {N}",
                    judged <= 12,
                    f"{r.extra['bytes_per_entry']:.4g} B/entry traced, "
                    f"{r.extra['array_bytes_per_entry']:.4g} B/entry in its arrays; "
                    f"{judged:.4g} B/entry after an O(p) allowance of "
                    f"{r.extra['allowance_bytes']:,} B (8·(p + 1) + 1 KiB)"))
    plain = [r for r in rows if r.name.startswith("Kronecker factor xᵀ⊗I_p: ours")]
    out.append(("Kronecker factor without subclassing scipy: the structured one is a plain "
                "object, the public one exactly scipy.sparse.csr_array",
                all(r.extra["no_scipy_subclass"] for r in plain) if plain else None,
                ", ".join(sorted({r.extra["type"] for r in plain})) or "not run"))
    graph = [r for r in plain if "graph_builds_this" in r.extra]
    out.append(("the structured Kron measured is the literal route's own factor "
                "(graph storage of ∂h1/∂vec(W1))",
                all(r.extra["graph_builds_this"] for r in graph) if graph else None,
                f"checked at n = {', '.join(str(r.n) for r in graph)}" if graph else "not run"))
    ours = _find(rows, N, "full ∂ŷ/∂vec(W1): ours")
    if ours is None or ours.seconds is None:
        out.append((f"full ∂ŷ/∂vec(W1) ≤ 1.2× closed form at n = {N}", None, "not run"))
    else:
        out.append((f"full ∂ŷ/∂vec(W1) ≤ 1.2× closed form at n = {N}",
                    ours.ratio_reference <= 1.2, f"{ours.ratio_reference:.2f}×"))
        for peer in ("torch.func.jacrev", "jax.jacrev"):
            pr = _find(rows, N, f"full ∂ŷ/∂vec(W1): {peer}")
            if pr is None or pr.seconds is None:
                out.append((f"full ∂ŷ/∂vec(W1) no slower than {peer} at n = {N}", None,
                            "peer not installed"))
            else:
                out.append((f"full ∂ŷ/∂vec(W1) no slower than {peer} at n = {N}",
                            ours.seconds <= pr.seconds,
                            f"ours {_fmt_time(ours.seconds)}, {peer} {_fmt_time(pr.seconds)} "
                            f"({ours.seconds / pr.seconds:.2f}×)"))
    e, cpt = _find(rows, N, "literal explicit"), _find(rows, N, "compact numpy")
    if e is None or cpt is None:
        out.append((f"explicit peak memory ≤ 3× compact at n = {N}", None, "not run"))
    else:
        ratio = e.peak_bytes / cpt.peak_bytes
        out.append((f"explicit peak memory ≤ 3× compact at n = {N}", ratio <= 3,
                    f"{ratio:.2f}× ({_fmt_bytes(e.peak_bytes)} vs {_fmt_bytes(cpt.peak_bytes)})"))
    # Both hypothesis variants, judged on the slower (the one drawing every entry).
    hyp = [r for r in rows if "hypothesis examples of literal == compact" in r.name
           and r.loops >= 1000 and r.seconds is not None]  # loops: examples run
    worst_h = max(hyp, key=lambda r: r.seconds / r.loops, default=None)
    out.append(("1,000 hypothesis examples (lecture sizes) in < 10 s (the slower variant)",
                None if worst_h is None else worst_h.seconds / worst_h.loops * 1000 < 10,
                "not run" if worst_h is None else
                f"{_fmt_time(worst_h.seconds / worst_h.loops * 1000)} per 1,000 examples"))
    forms = [r for r in rows if r.group == "formulas" and r.seconds is not None]
    slowest = max(forms, key=lambda r: r.seconds, default=None)
    out.append((f"a formula for any lecture-size expression in well under a second (issue 12: "
                f"the slowest, certificate included, < {FORMULA_SECONDS:g} s)",
                None if slowest is None else
                slowest.seconds < FORMULA_SECONDS and all(r.extra["certified"] for r in forms),
                "not run" if slowest is None else
                f"slowest {_fmt_time(slowest.seconds)} ({slowest.name.split(': ', 1)[1]}); "
                f"all {len(forms)} certified"))
    errs = [r.exactness for r in rows if r.exactness is not None]
    out.append(("literal == compact (and every other route) to 1e-12 relative",
                max(errs) <= 1e-12 if errs else None, f"worst {max(errs):.1e}" if errs else ""))
    sc = [r for r in rows if r.group == "scale"]
    if len(sc) == 2:
        out.append((f"explicit gradients at n = {sc[1].n} run within memory (--scale)",
                    sc[1].exactness is not None and sc[1].exactness <= 1e-12,
                    f"ran, exact to {sc[1].exactness:.1e}; {_fmt_time(sc[1].seconds)} "
                    f"({sc[1].ratio_compact:.2f}× compact); peak {_fmt_bytes(sc[1].peak_bytes)}, "
                    f"{sc[1].peak_bytes / sc[0].peak_bytes:.2f}× the compact route's"))
    else:
        out.append(("explicit gradients at n = 4096 run within memory (--scale)", None,
                    "not run (without --scale)"))
    v = _find(rows, N, "lecture verification")
    out.append((f"the lecture command's verification ≤ 30× one compact gradient at n = {N} "
                f"(verify_network, {DIRECTIONS} directions)",
                None if v is None else v.ratio_reference <= 30 and v.extra["ok"],
                "not run" if v is None else
                f"{v.ratio_reference:.1f}× ({_fmt_time(v.seconds)} against "
                f"{_fmt_time(v.extra['compact_alongside_s'])}); verdict "
                f"{'ok' if v.extra['ok'] else 'MISMATCH'}"))
    c = _find(rows, N, "lecture command")
    out.append((f"`jacobian-calc lecture --sizes {N} {N} {N} {N // 8}` verifies in seconds "
                f"(exit status 0 in < 10 s)",
                None if c is None else c.extra["ok"] and c.seconds < 10,
                "not run" if c is None else
                f"{_fmt_time(c.seconds)}, exit status {c.extra['exit_status']}"))
    out += second_order_targets(rows)
    out += conv2d_targets(rows)
    out += attention_targets(rows)
    return out


def second_order_targets(rows: list[Row]) -> list[tuple[str, bool | None, str]]:
    """The targets of issue 10 (second order) with whether this run met them."""
    out: list[tuple[str, bool | None, str]] = []
    n, N = HESSIAN_N, TARGET_N
    full = "full Hessian over (vec W1, vec W2, vec W3): "
    ours = _find(rows, n, full + "ours")
    what = f"full Hessian at n = {n} (d = p = q = {n}, s = {max(2, n // 8)})"
    if ours is not None:
        what = f"full Hessian at n = {n} ({ours.extra['weights']:,} weights)"
    for peer in ("torch.func.hessian", "jax.hessian"):
        target = f"{what}, MLP.hessian(x, y), no slower than {peer}"
        pr = _find(rows, n, full + peer)
        if ours is None or ours.seconds is None:
            out.append((target, None, "not run"))
        elif pr is None or pr.seconds is None:
            out.append((target, None, "peer not installed"))
        else:
            out.append((target, ours.seconds <= pr.seconds,
                        f"ours {_fmt_time(ours.seconds)}, {peer} {_fmt_time(pr.seconds)} "
                        f"({ours.seconds / pr.seconds:.2f}×)"))
    h = _find(rows, N, "Hessian-vector product: ours")
    out.append((f"Hessian-vector product ≤ 4× one compact gradient at n = {N} "
                f"(net.hvp against mlp_gradients measured alongside)",
                None if h is None else h.ratio_reference <= 4,
                "not run" if h is None else
                f"{h.ratio_reference:.2f}× ({_fmt_time(h.seconds)} against "
                f"{_fmt_time(h.extra['compact_alongside_s'])})"))
    g = _find(rows, N, "Gauss-Newton block of W1: ours")
    target = (f"Gauss-Newton block of W1 held as its Kronecker factors at n = {N}: "
              f"≤ {GN_HELD_UNITS}·8·n² B (O(n²); the two n × n factors take 2·8·n², the dense "
              f"block 8·n⁴)")
    if g is None:
        out.append((target, None, "not run"))
    else:
        held = max(g.extra["held_bytes"], g.extra["array_bytes"])
        out.append((target, g.extra["type"] == "Kron" and held <= GN_HELD_UNITS * g.extra[
            "unit_bytes"], f"{g.extra['type']} ({g.extra['factors']}): {held:,} B = "
                           f"{held / g.extra['unit_bytes']:.3g}·8n² (traced after the call "
                           f"{g.extra['held_bytes']:,} B, arrays {g.extra['array_bytes']:,} B); "
                           f"dense {_fmt_bytes(g.extra['dense_bytes'])}"))
    m = _find(rows, N, "Gauss-Newton block of W1 × vector: ours")
    target = (f"Gauss-Newton block of W1 times a vector without forming it at n = {N}: exact "
              f"to 1e-12 against vec(G V Aᵀ), peak ≤ {GN_HELD_UNITS}·8·n² B")
    if m is None:
        out.append((target, None, "not run"))
    else:
        out.append((target, m.exactness <= 1e-12 and m.peak_bytes <= GN_HELD_UNITS * m.extra[
            "unit_bytes"], f"{_fmt_time(m.seconds)} ({m.ratio_reference:.2f}× the numpy "
                           f"formula), error {m.exactness:.1e}, peak {_fmt_bytes(m.peak_bytes)} "
                           f"= {m.peak_bytes / m.extra['unit_bytes']:.3g}·8n²"))
    return out


def report(rows: list[Row], info: dict, command: str) -> str:
    lines = [f"Command: `{command}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if v is not None), "",
             table(rows), "", "Targets (issues 5, 9, 10, 11 and 12):", ""]
    for what, ok, detail in targets(rows):
        mark = "not measured" if ok is None else ("met" if ok else "MISSED")
        lines.append(f"- {what}: **{mark}** — {detail}")
    return "\n".join(lines)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line read: ``--only NAME`` and ``--only-NAME`` both set ``only``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="n = 4, 64 only, the full Hessian at n = 4 only (a smoke test)")
    ap.add_argument("--scale", action="store_true",
                    help=f"also run explicit gradients at n = {SCALE_SIZE} and print peak memory")
    ap.add_argument("--sizes", type=int, nargs="+", help="override the sizes n")
    ap.add_argument("--repeats", type=int, help="timed rounds per group (default 15; quick 5)")
    ap.add_argument("--checks", type=int, help="lecture-size checks (default 1000; quick 100)")
    ap.add_argument("--out", type=Path,
                    help="directory for results.md/.json (default benchmarks/results/ for a "
                         "full run; --quick writes only when --out is given)")
    ap.add_argument("--no-peers", action="store_true", help="skip torch and jax")
    ap.add_argument("--only", choices=ALONE, default=None,
                    help="run only this group (issue 11); a full run of it writes "
                         "benchmarks/results/<group>/")
    for group in ALONE:
        ap.add_argument(f"--only-{group}", dest="only", action="store_const", const=group,
                        help=f"the same as --only {group}")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for numpy's BLAS, PyTorch and XLA alike (default 1)")
    return ap.parse_args(argv)


def results_dir(only: str | None) -> Path:
    """Where a full run writes: ``benchmarks/results/``, or its group's directory."""
    return ROOT / "benchmarks" / "results" / (only or "")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)

    sizes = tuple(args.sizes) if args.sizes else (QUICK_SIZES if args.quick else FULL_SIZES)
    repeats = args.repeats or (5 if args.quick else 15)
    checks = args.checks or (100 if args.quick else 1000)
    peers = {} if args.no_peers else {"torch.func.jacrev": _torch_row(), "jax.jacrev": _jax_row()}
    peers2 = {} if args.no_peers else second_order_peers()
    hessian_limit = QUICK_HESSIAN_LIMIT if args.quick else FULL_HESSIAN_LIMIT
    command = "python benchmarks/run.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    info = machine_info()
    # Freeze what the imports (numpy, scipy, torch, jax, hypothesis) created, so that a
    # collection scans only the objects made by the benchmark (0.2 s each otherwise).
    gc.collect()
    gc.freeze()

    def log(msg: str) -> None:
        print(f"# {msg}", file=sys.stderr, flush=True)

    # The lecture command runs once per run, at n = 1024 when measured (else the largest n).
    command_n = TARGET_N if TARGET_N in sizes else max(sizes)
    rows: list[Row] = []
    if args.only is not None:
        sizes, checks = (), 0
    else:
        rows += run_lecture_checks(checks)
        rows += run_formulas(repeats, log)
    for n in sizes:
        rows += run_size(n, repeats, peers, log, command_n)
        rows += run_second_order(n, repeats, peers2, log, hessian_limit)
    if args.scale and args.only is None:
        rows += run_scale(SCALE_SIZE, log)
    if args.only in (None, "conv2d"):
        rows += run_conv2d(repeats, not args.no_peers, log)
    if args.only in (None, "attention"):
        # Seconds a call for the compact route and the peers: fewer rounds than the other groups
        rows += run_attention(min(repeats, 3 if args.quick else 7), not args.no_peers, log)
    try:
        info["load_average_end"] = os.getloadavg()
    except OSError:
        pass
    text = report(rows, info, command)
    print(text)
    out = args.out if args.out is not None else (None if args.quick else results_dir(args.only))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text("# Benchmark results\n\n" + text + "\n", encoding="utf-8")
        payload = {"command": command, "machine": info, "rows": [asdict(r) for r in rows],
                   "targets": [{"target": t, "met": ok, "detail": d} for t, ok, d in targets(rows)]}
        (out / "results.json").write_text(json.dumps(payload, indent=2, default=float) + "\n",
                                          encoding="utf-8")
        print(f"\nwritten: {out / 'results.md'}, {out / 'results.json'}")
    errs = [r.exactness for r in rows if r.exactness is not None]
    if errs and max(errs) > 1e-12:
        print(f"NOT EXACT: worst relative error {max(errs):.1e} > 1e-12", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
