"""Pictures: the sparsity picture with vec's block boundaries, and Figure 1 for any depth."""


import numpy as np
import pytest
import scipy.sparse as sp

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

import jacobian_calc as jc  # noqa: E402
from jacobian_calc.render import plot as jplot  # noqa: E402
from jacobian_calc.render.plot import (  # noqa: E402
    COLOURS,
    GROUPS,
    block_boundaries,
    network_edges,
    network_nodes,
    plot_network,
    plot_sparsity,
    save_figure,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def boundaries(ax):
    lines = [line for line in ax.lines if line.get_gid() == "block-boundary"]
    vertical = sorted(line.get_xdata()[0] for line in lines
                      if line.get_xdata()[0] == line.get_xdata()[1])
    horizontal = sorted(line.get_ydata()[0] for line in lines
                        if line.get_ydata()[0] == line.get_ydata()[1])
    return vertical, horizontal


def kron_factor(x, p):
    return jc.Jacobian(jc.linear_weight_jacobian(x, p), of="h", wrt="W", of_shape=(p,),
                       wrt_shape=(p, len(x)), label="(x₁I_p, …, x_dI_p)")


# --------------------------------------------------------------------------- sparsity
@pytest.mark.parametrize("p,d", [(3, 4), (5, 2), (2, 7), (4, 1)])
def test_kronecker_factor_has_d_minus_one_block_boundaries(p, d, rng):
    x = rng.normal(size=d) + 3.0  # no zero entries
    ax = plot_sparsity(kron_factor(x, p), blocks=True)
    vertical, horizontal = boundaries(ax)
    assert vertical == [k * p - 0.5 for k in range(1, d)]  # between the p×p blocks x_j I_p
    assert horizontal == []
    # the plotted points are exactly the non-zeros of np.kron(xᵀ, I_p)
    marks = [line for line in ax.lines if line.get_gid() != "block-boundary"]
    assert len(marks) == 1
    cols, rows = marks[0].get_data()
    expected = np.argwhere(np.kron(x[None, :], np.eye(p)))
    assert sorted(zip(np.asarray(rows, int), np.asarray(cols, int))) == \
        sorted(map(tuple, expected))
    assert "∂h/∂vec(W) = (x₁I_p, …, x_dI_p)" in ax.get_title()
    assert f"{p}×{p * d}, {p * d} non-zero" in ax.get_title()


def test_blocks_false_and_explicit_blocks(rng):
    J = kron_factor(rng.normal(size=4), 3)
    assert boundaries(plot_sparsity(J, blocks=False)) == ([], [])
    vertical, horizontal = boundaries(plot_sparsity(J.matrix, blocks=(2, 6)))
    assert vertical == [5.5] and horizontal == [1.5]
    with pytest.raises(jc.JacobianCalcError, match="blocks=True reads the block sizes"):
        plot_sparsity(J.matrix, blocks=True)
    with pytest.raises(jc.JacobianCalcError, match="blocks must be True, False or"):
        plot_sparsity(J, blocks="yes")
    with pytest.raises(jc.JacobianCalcError, match="got list"):
        plot_sparsity([[1, 2]])


def test_matrix_valued_outputs_get_row_boundaries_too(rng):
    # ∂(AB)/∂vec(B) = I_n ⊗ A: rows and columns both split by vec
    A, B = rng.normal(size=(3, 2)), rng.normal(size=(2, 4))
    J = jc.MLP([A, rng.normal(size=(1, 3))]).compose(B[:, 0]).jacobian("h1", "x")
    assert block_boundaries(J) == ([], [])
    from jacobian_calc.engine.graph import Graph, apply, leaf
    g = Graph(apply("matmul", leaf("A", A), leaf("B", B), name="C"))
    JB = g.jacobian("C", "B")
    assert block_boundaries(JB) == ([2.5, 5.5, 8.5], [1.5, 3.5, 5.5])
    vertical, horizontal = boundaries(plot_sparsity(JB))
    assert vertical == [1.5, 3.5, 5.5] and horizontal == [2.5, 5.5, 8.5]


def test_a_big_sparse_factor_is_drawn_without_densifying(monkeypatch):
    x = np.arange(1.0, 401.0)
    J = kron_factor(x, 50)  # 50 × 20000: a dense copy would be 8 MB; 20000 entries stored
    monkeypatch.setattr(sp.csc_array, "toarray", lambda *a, **k: pytest.fail("densified"))
    monkeypatch.setattr(sp.csr_array, "toarray", lambda *a, **k: pytest.fail("densified"))
    ax = plot_sparsity(J)
    assert len(boundaries(ax)[0]) == 399


def test_sparsity_png_is_written(tmp_path, rng):
    ax = plot_sparsity(kron_factor(rng.normal(size=4), 3))
    out = save_figure(ax, tmp_path / "spy.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


# ------------------------------------------------------------------------- Figure 1
def expected_keys(L):
    keys = {"x", "y", "yhat", "f", "dyhat"} | {f"W{k}" for k in range(1, L + 1)} \
        | {f"dW{k}" for k in range(1, L + 1)}
    for k in range(1, L):
        keys |= {f"h{k}", f"z{k}", f"dh{k}", f"dz{k}", f"phi{k}"}
    return keys


def group_of(key):
    """The lecture's colour code, written out independently of the module."""
    if key in ("x", "y") or key.startswith("W"):
        return "known"
    if key in ("yhat", "f") or key[0] in "hz":
        return "forward"
    if key.startswith("dW"):
        return "wanted"
    if key in ("dyhat",) or key.startswith("phi"):
        return "direct"
    return "chain"


def test_the_colour_code_is_the_lectures():
    assert {g: to_hex(c) for g, c in COLOURS.items()} == {
        "known": to_hex("black"), "forward": to_hex("tab:green"), "wanted": to_hex("tab:red"),
        "direct": to_hex("tab:blue"), "chain": to_hex("tab:purple")}


@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_network_drawing_has_every_node_in_its_colour(L):
    ax = plot_network(depth=L)
    texts = {t.get_gid()[5:]: t for t in ax.texts if (t.get_gid() or "").startswith("node-")}
    assert set(texts) == expected_keys(L)
    for key, text in texts.items():
        colour = COLOURS[group_of(key)]
        assert to_hex(text.get_color()) == colour, key
        assert to_hex(text.get_bbox_patch().get_edgecolor()) == colour, key
    # labels as the lecture writes them
    assert texts["yhat"].get_text() == r"$\hat{y}$"
    assert texts[f"dW{L}"].get_text() == rf"$\partial f/\partial W_{{{L}}}$"
    if L > 1:
        assert texts["phi1"].get_text() == r"$\phi'(h_{1})$"
        assert texts[f"dz{L - 1}"].get_text() == rf"$\partial f/\partial z_{{{L - 1}}}$"
    # the legend names each colour group present, in the lecture's words
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    present = ["known", "forward", "wanted", "direct"] + (["chain"] if L > 1 else [])
    assert labels == [GROUPS[g] for g in present]
    assert labels[0].startswith("black: known") and labels[2].startswith("red: wanted")
    handles = ax.get_legend().legend_handles
    assert [to_hex(h.get_edgecolor()) for h in handles] == [COLOURS[g] for g in present]
    # one arrow per edge
    arrows = [t for t in ax.texts if (t.get_gid() or "").startswith("edge-")]
    assert len(arrows) == len(network_edges(L))


@pytest.mark.parametrize("L", [1, 2, 3, 5])
def test_edges_follow_the_forward_pass_and_the_chain_rule(L):
    keys = {n.key for n in network_nodes(L)}
    edges = network_edges(L)
    assert all(a in keys and b in keys for a, b, _ in edges)
    forward = [(a, b) for a, b, k in edges if k == "forward"]
    backward = [(a, b) for a, b, k in edges if k == "backward"]
    # forward: x → … → ŷ → f is one path through every h_k, z_k
    chain = ["x"] + [n for k in range(1, L) for n in (f"h{k}", f"z{k}")] + ["yhat", "f"]
    assert all(step in forward for step in zip(chain, chain[1:]))
    # backward: every ∂f/∂W_k is reached from ∂f/∂ŷ, through purple nodes only
    reach = {"dyhat"}
    for _ in range(len(edges)):
        reach |= {b for a, b in backward if a in reach}
    assert {f"dW{k}" for k in range(1, L + 1)} <= reach
    assert ("yhat", "dyhat", "evaluate") in edges


def test_bad_depth_is_explained():
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(jc.JacobianCalcError, match="depth must be a positive integer"):
            plot_network(depth=bad)


def test_svg_keeps_labels_and_ids(tmp_path):
    out = save_figure(plot_network(depth=3), tmp_path / "fig1.svg")
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and len(svg) > 10_000
    for key in expected_keys(3):
        assert f'id="node-{key}"' in svg
    assert "black: known (x, W_k, y)" in svg
    assert "purple: obtained by the chain rule" in svg
    assert "The lecture network, depth 3" in svg


def test_png_of_figure_one_is_written(tmp_path):
    ax = plot_network(depth=2)
    out = save_figure(ax.figure, tmp_path / "fig1.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_other_extensions_are_refused(tmp_path):
    ax = plot_network(depth=1)
    for name in ("fig.pdf", "fig", "fig.jpeg"):
        with pytest.raises(jc.JacobianCalcError, match=r"must end in \.png or \.svg"):
            save_figure(ax, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_names_the_extra(without_matplotlib):
    with pytest.raises(jplot.MissingExtraError, match=r"'plot' extra: pip install 'jacobian_calc\[plot\]'"):
        plot_network(depth=2)
    assert issubclass(jplot.MissingExtraError, ImportError)


@pytest.mark.parametrize("depth", [3, 8, 12])
def test_no_two_boxes_of_figure_one_overlap_at_any_depth(depth):
    # issue 13: at depth 12 the ∂f/∂h and ∂f/∂z boxes ran into each other
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jacobian_calc.render.plot import network_figsize, plot_network

    fig = Figure(figsize=network_figsize(depth))
    canvas = FigureCanvasAgg(fig)
    ax = plot_network(depth, ax=fig.add_subplot())
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = []
    for t in ax.texts:
        if (t.get_gid() or "").startswith("node-"):
            pad = 0.35 * t.get_fontsize() * fig.dpi / 72  # the box's round pad, in pixels
            boxes.append(t.get_window_extent(renderer).expanded(1, 1).padded(pad))
    assert len(boxes) >= 4 * depth
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), f"two boxes overlap at depth {depth}: {a} and {b}"
