r"""Pictures: the sparsity of a literal Jacobian, and the lecture's Figure 1 for any depth.

Requires the ``plot`` extra (matplotlib), imported only when a function here is called::

    pip install 'jacobian_calc[plot]'

* :func:`plot_sparsity` draws where a Jacobian's non-zero entries are and marks the block
  boundaries that vec (eq 16) puts there: ∂(…)/∂vec(W) for W with m rows splits its
  columns into blocks of m, one per column of W — so the factor
  :math:`(x_1 I_p, \dots, x_d I_p)` of eq (22) shows d diagonal p×p blocks side by side.
* :func:`plot_network` draws the network of §3.1 for any depth L with the colour code of
  the lecture's Figure 1: black for the known quantities (x, W_k, y), green for the
  values of the forward pass (h_k, z_k, ŷ, f), red for the wanted derivatives ∂f/∂W_k,
  blue for the pointwise derivatives obtained directly (φ′(h_k), ∂f/∂ŷ: a derivative
  function evaluated at a forward value) and purple for those obtained through the chain
  rule (∂f/∂z_k, ∂f/∂h_k).
* :func:`save_figure` writes a PNG or SVG (SVG keeps its text as text).

Both plotting functions draw into ``ax`` when given, otherwise into a new
``matplotlib.pyplot`` figure, and return the Axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core.errors import JacobianCalcError, MissingExtraError
from ..core.jacobian import Jacobian
from ..core.notation import dims, flat_name, pretty

__all__ = [
    "MissingExtraError",
    "require_matplotlib",
    "network_figsize",
    "COLOURS",
    "GROUPS",
    "FigureNode",
    "network_nodes",
    "network_edges",
    "block_boundaries",
    "plot_sparsity",
    "plot_network",
    "save_figure",
    "FIGURE_FORMATS",
]

#: File formats :func:`save_figure` (and ``jacobian-calc figure``) write.
FIGURE_FORMATS = ("png", "svg")

#: Figure 1's colour code, group → colour.
COLOURS = {
    "known": "#000000",     # black
    "forward": "#2ca02c",   # green
    "wanted": "#d62728",    # red
    "direct": "#1f77b4",    # blue
    "chain": "#9467bd",     # purple
}

#: Group → legend text.
GROUPS = {
    "known": "black: known (x, W_k, y)",
    "forward": "green: computed in the forward pass (h_k, z_k, ŷ, f)",
    "wanted": "red: wanted derivatives (∂f/∂W_k)",
    "direct": "blue: pointwise derivatives obtained directly (φ′(h_k), ∂f/∂ŷ)",
    "chain": "purple: obtained by the chain rule (∂f/∂z_k, ∂f/∂h_k)",
}


def require_matplotlib() -> Any:
    """matplotlib, or :class:`~jacobian_calc.MissingExtraError` naming the extra to install."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingExtraError(
            "jacobian_calc.plot needs matplotlib, which is not installed; install the "
            "'plot' extra: pip install 'jacobian_calc[plot]'"
        ) from exc
    return matplotlib


def _new_axes(figsize: tuple[float, float]) -> Any:
    require_matplotlib()
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


# ------------------------------------------------------------------------- sparsity
def block_boundaries(J: Jacobian) -> tuple[list[float], list[float]]:
    """Where vec puts block boundaries in ∂a/∂b: (row positions, column positions).

    A matrix variable of shape (m, n) is flattened column by column (eq 16), so its
    n columns become n consecutive runs of m rows (for ``a``) or columns (for ``b``).
    Positions are between cells, in the coordinates of :meth:`matplotlib.axes.Axes.spy`
    (cell i is centred on i, so a boundary after k cells is at k − 0.5).

    Examples
    --------
    >>> from jacobian_calc import linear_weight_jacobian
    >>> J = Jacobian(linear_weight_jacobian(np.ones(4), 3), of="y", wrt="W", of_shape=(3,),
    ...              wrt_shape=(3, 4))
    >>> block_boundaries(J)
    ([], [2.5, 5.5, 8.5])
    """
    def cuts(shape: tuple[int, ...]) -> list[float]:
        if len(shape) != 2 or shape[1] < 2:
            return []
        m, n = shape
        return [k * m - 0.5 for k in range(1, n)]

    return cuts(J.of_shape), cuts(J.wrt_shape)


def _explicit_cuts(size: int, block: int | None) -> list[float]:
    if not block or block >= size:
        return []
    return [k * block - 0.5 for k in range(1, -(-size // block))]


def plot_sparsity(J: Jacobian | np.ndarray | Any, ax: Any = None,
                  blocks: bool | tuple[int | None, int | None] = True,
                  markersize: float | None = None, color: str = "#1f77b4") -> Any:
    r"""A spy picture of a Jacobian, with the block boundaries of vec marked.

    Parameters
    ----------
    J : Jacobian, or a 2-D ndarray / scipy sparse array
        A sparse matrix is drawn from its stored entries, never made dense.
    ax : matplotlib Axes, optional
    blocks : bool or (int, int)
        ``True``: the boundaries of :func:`block_boundaries` (for a Jacobian), drawn as
        dashed lines with gid ``"block-boundary"``; ``False``: none; ``(r, c)``: blocks of
        r rows and c columns (``None`` for no boundaries along an axis).
    markersize : float, optional
        Size of the square marking a non-zero entry; by default it shrinks with the
        matrix.
    color : str
        Colour of the entries.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    The factor (x₁I₃, …, x₄I₃) of eq (22): 12 entries and 3 boundaries between 4 blocks.

    >>> from matplotlib.figure import Figure
    >>> from jacobian_calc import linear_weight_jacobian
    >>> J = Jacobian(linear_weight_jacobian([1.0, 2.0, 3.0, 4.0], 3), of="y", wrt="W",
    ...              of_shape=(3,), wrt_shape=(3, 4), label="(x₁I₃, …, x₄I₃)")
    >>> ax = plot_sparsity(J, ax=Figure().add_subplot())
    >>> len([line for line in ax.lines if line.get_gid() == "block-boundary"])
    3
    """
    require_matplotlib()
    if isinstance(J, Jacobian):
        matrix, title = J.matrix, f"{J.symbol}" + (f" = {J.label}" if J.label else "")
        xlabel = f"columns: entries of {flat_name(J.wrt, J.wrt_shape)}"
        ylabel = f"rows: entries of {flat_name(J.of, J.of_shape)}"
        if len(J.wrt_shape) == 2:
            xlabel += f", blocks of {J.wrt_shape[0]} = the columns of {pretty(J.wrt)}"
    elif sp.issparse(J) or isinstance(J, np.ndarray):
        matrix, title, xlabel, ylabel = J, "", "columns", "rows"
    else:
        raise JacobianCalcError(
            f"plot_sparsity draws a Jacobian, an ndarray or a scipy sparse array, got "
            f"{type(J).__name__}")
    if matrix.ndim != 2:
        raise JacobianCalcError(f"plot_sparsity needs a 2-D matrix, got shape {matrix.shape}")
    m, n = matrix.shape
    if blocks is True:
        if not isinstance(J, Jacobian):
            raise JacobianCalcError(
                "blocks=True reads the block sizes from a Jacobian's shapes; for a bare "
                "matrix pass blocks=(rows, columns) or blocks=False")
        rows, cols = block_boundaries(J)
    elif blocks is False or blocks is None:
        rows, cols = [], []
    elif isinstance(blocks, Sequence) and len(blocks) == 2:
        rows, cols = _explicit_cuts(m, blocks[0]), _explicit_cuts(n, blocks[1])
    else:
        raise JacobianCalcError(f"blocks must be True, False or (rows, columns), got {blocks!r}")

    if ax is None:
        ax = _new_axes((min(12.0, 2.0 + 0.25 * n), min(8.0, 1.5 + 0.25 * m)))
    if markersize is None:
        markersize = float(np.clip(200.0 / max(m, n, 1), 0.5, 12.0))
    ax.spy(matrix, markersize=markersize, marker="s", color=color, aspect="auto")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(m - 0.5, -0.5)
    for x in cols:
        ax.axvline(x, color="#7f7f7f", linestyle="--", linewidth=0.8, gid="block-boundary")
    for y in rows:
        ax.axhline(y, color="#7f7f7f", linestyle="--", linewidth=0.8, gid="block-boundary")
    nnz = int(matrix.count_nonzero()) if sp.issparse(matrix) else int(np.count_nonzero(matrix))
    ax.set_title(f"{title}\n{dims((m, n))}, {nnz} non-zero" if title else
                 f"{dims((m, n))}, {nnz} non-zero", fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    return ax


# ------------------------------------------------------------------------- Figure 1
@dataclass(frozen=True)
class FigureNode:
    """One quantity of Figure 1: key (``"h1"``, ``"dW1"``), mathtext label, group, position."""

    key: str
    label: str
    group: str
    xy: tuple[float, float]


def _check_depth(depth: object) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise JacobianCalcError(f"depth must be a positive integer (the number of weight "
                                f"matrices L), got {depth!r}")
    return int(depth)


def network_nodes(depth: int = 3) -> list[FigureNode]:
    r"""The quantities of Figure 1 for a network of ``depth`` weights, with their colour group.

    The forward pass runs left to right on the middle row, the weights and the target
    sit above it, the chain of gradients runs right to left below it, and the bottom row
    holds φ′(h_k) and the wanted ∂f/∂W_k.

    Examples
    --------
    >>> [(n.key, n.group) for n in network_nodes(1)]  # doctest: +NORMALIZE_WHITESPACE
    [('x', 'known'), ('W1', 'known'), ('y', 'known'), ('yhat', 'forward'), ('f', 'forward'),
     ('dyhat', 'direct'), ('dW1', 'wanted')]
    """
    L = _check_depth(depth)
    top, middle, low, bottom = 2.0, 1.0, 0.0, -1.0
    nodes = [FigureNode("x", "$x$", "known", (0.0, middle))]
    nodes += [FigureNode(f"W{k}", f"$W_{{{k}}}$", "known", (2 * k - 1.5, top))
              for k in range(1, L + 1)]
    nodes.append(FigureNode("y", "$y$", "known", (2 * L - 0.5, top)))
    for k in range(1, L):
        nodes.append(FigureNode(f"h{k}", f"$h_{{{k}}}$", "forward", (2 * k - 1.0, middle)))
        nodes.append(FigureNode(f"z{k}", f"$z_{{{k}}}$", "forward", (2 * k, middle)))
    nodes.append(FigureNode("yhat", r"$\hat{y}$", "forward", (2 * L - 1.0, middle)))
    nodes.append(FigureNode("f", "$f$", "forward", (2 * L, middle)))
    nodes.append(FigureNode("dyhat", r"$\partial f/\partial \hat{y}$", "direct",
                            (2 * L - 1.0, low)))
    for k in range(L - 1, 0, -1):
        nodes.append(FigureNode(f"dz{k}", rf"$\partial f/\partial z_{{{k}}}$", "chain",
                                (2 * k, low)))
        nodes.append(FigureNode(f"dh{k}", rf"$\partial f/\partial h_{{{k}}}$", "chain",
                                (2 * k - 1.0, low)))
        nodes.append(FigureNode(f"phi{k}", rf"$\phi'(h_{{{k}}})$", "direct",
                                (2 * k - 0.5, bottom)))
    nodes += [FigureNode(f"dW{k}", rf"$\partial f/\partial W_{{{k}}}$", "wanted",
                         (2 * k - 1.5, bottom)) for k in range(L, 0, -1)]
    return nodes


def network_edges(depth: int = 3) -> list[tuple[str, str, str]]:
    """Arrows of Figure 1 as ``(from, to, kind)``; kind is forward, backward or evaluate.

    * forward: an argument feeds a computed value (x → h1, W1 → h1, h1 → z1, …, y → f);
    * evaluate: a forward value is plugged into a derivative function (h_k → φ′(h_k),
      ŷ → ∂f/∂ŷ);
    * backward: a gradient is formed from another by the chain rule (∂f/∂ŷ → ∂f/∂z_{L−1},
      φ′(h_k) → ∂f/∂h_k, ∂f/∂h_k → ∂f/∂W_k, …), tail to head.

    Examples
    --------
    >>> [e for e in network_edges(1) if e[2] == "backward"]
    [('dyhat', 'dW1', 'backward')]
    """
    L = _check_depth(depth)
    value = {k: f"h{k}" for k in range(1, L)} | {L: "yhat"}
    grad = {k: f"dh{k}" for k in range(1, L)} | {L: "dyhat"}
    edges = []
    for k in range(1, L + 1):
        below = "x" if k == 1 else f"z{k - 1}"
        edges += [(below, value[k], "forward"), (f"W{k}", value[k], "forward")]
        if k < L:
            edges.append((f"h{k}", f"z{k}", "forward"))
    edges += [("yhat", "f", "forward"), ("y", "f", "forward"), ("yhat", "dyhat", "evaluate")]
    for k in range(L - 1, 0, -1):
        edges += [(grad[k + 1], f"dz{k}", "backward"), (f"dz{k}", f"dh{k}", "backward"),
                  (f"h{k}", f"phi{k}", "evaluate"), (f"phi{k}", f"dh{k}", "backward")]
    edges += [(grad[k], f"dW{k}", "backward") for k in range(L, 0, -1)]
    return edges


_EDGE_STYLE = {
    "forward": {"color": "#7f7f7f", "linestyle": "-"},
    "evaluate": {"color": COLOURS["direct"], "linestyle": ":"},
    "backward": {"color": COLOURS["chain"], "linestyle": "--"},
}


def plot_network(depth: int = 3, ax: Any = None, *, legend: bool = True,
                 title: str | None = None) -> Any:
    r"""The lecture's Figure 1 for a network of ``depth`` weight matrices (§3.1).

    Every quantity of :func:`network_nodes` is a labelled box in its group's colour
    (:data:`COLOURS`; the text artist has gid ``"node-<key>"``), the arrows of
    :func:`network_edges` connect them (gid ``"edge-<kind>"``), and the legend spells out
    the colour code (:data:`GROUPS`).

    Parameters
    ----------
    depth : int
        L ≥ 1; the lecture's network has L = 3.
    ax : matplotlib Axes, optional
    legend : bool
    title : str, optional
        Default: ``"The lecture network, depth L (Figure 1's colours)"``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = plot_network(2, ax=Figure().add_subplot())
    >>> sorted(t.get_text() for t in ax.texts if t.get_gid() in ("node-dh1", "node-phi1"))
    ['$\\partial f/\\partial h_{1}$', "$\\phi'(h_{1})$"]
    """
    L = _check_depth(depth)
    require_matplotlib()
    from matplotlib.patches import Patch

    nodes = network_nodes(L)
    where = {n.key: n.xy for n in nodes}
    if ax is None:
        ax = _new_axes(network_figsize(L))
    for start, end, kind in network_edges(L):
        style = _EDGE_STYLE[kind]
        (x0, y0), (x1, y1) = where[start], where[end]
        # h_k → φ′(h_k) would cut through the box of ∂f/∂h_k: bend it around.
        bend = -0.4 if kind == "evaluate" and x0 != x1 else 0.0
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), gid=f"edge-{kind}",
                    arrowprops={"arrowstyle": "-|>", "shrinkA": 15, "shrinkB": 15,
                                "linewidth": 1.0, "connectionstyle": f"arc3,rad={bend}",
                                **style})
    for n in nodes:
        colour = COLOURS[n.group]
        ax.text(*n.xy, n.label, ha="center", va="center", color=colour, fontsize=11,
                gid=f"node-{n.key}", zorder=3,
                bbox={"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": colour,
                      "linewidth": 1.4})
    groups = [g for g in COLOURS if any(n.group == g for n in nodes)]
    if legend:
        handles = [Patch(facecolor="white", edgecolor=COLOURS[g], linewidth=1.5,
                         label=GROUPS[g]) for g in groups]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=1, fontsize=8, frameon=False)
    ax.set_xlim(-1.0, 2 * L + 0.6)
    ax.set_ylim(-1.5, 2.5)
    ax.set_axis_off()
    ax.set_title(title if title is not None else
                 f"The lecture network, depth {L} (Figure 1's colours)", fontsize=11)
    return ax


def network_figsize(depth: int) -> tuple[float, float]:
    """A figure size for :func:`plot_network` that keeps its labels readable at any depth.

    The figure grows with the network: 1.5 inches for each of the 2L + 1.5 columns of
    boxes, so the labels keep their size and never overlap (depth 12: 38 inches, 5,700
    pixels at 150 dpi — scroll it, or zoom out).
    """
    L = _check_depth(depth)
    return (max(6.0, 1.5 * (2 * L + 1.5)), 5.0)


# --------------------------------------------------------------------------- saving
def save_figure(figure: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Write a figure (or the figure of an Axes) as PNG or SVG, chosen by the extension.

    SVG output keeps its text as ``<text>`` elements (``svg.fonttype = "none"``) so the
    labels stay searchable; the element ids are the artists' gids.

    Raises
    ------
    JacobianCalcError
        The extension is not one of :data:`FIGURE_FORMATS`.
    """
    matplotlib = require_matplotlib()
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise JacobianCalcError(
            f"cannot write {str(path)!r}: the file name must end in "
            f"{' or '.join('.' + f for f in FIGURE_FORMATS)}, got "
            f"{path.suffix or 'no extension'!r}")
    fig = figure.get_figure() if hasattr(figure, "get_figure") and not hasattr(
        figure, "savefig") else figure
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight")
    return path
