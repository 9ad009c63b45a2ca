r"""Convolution as deep-learning libraries define it: cross-correlation, one channel.

``conv2d(X, K, stride=s, padding=p)`` of an H×W image X and a kh×kw kernel K is

.. math::

    Y_{ij} = \sum_{a=0}^{k_h-1} \sum_{b=0}^{k_w-1} K_{ab}\, X^{(p)}_{is+a,\; js+b},
    \qquad 0 \le i < H_o = \left\lfloor \frac{H + 2p - k_h}{s} \right\rfloor + 1,

(likewise for j < W_o), where :math:`X^{(p)}` is X with p zeros added on every side; the
kernel is not flipped, and the output size is PyTorch's. ``conv1d(x, k)`` is the same for
vectors, without stride or padding. ``im2col(X, kh, kw, stride=s, padding=p)`` is the
patch matrix

.. math::

    P_{a + k_h b,\; i + H_o j} = X^{(p)}_{is+a,\; js+b},
    \qquad \operatorname{vec}(Y)^\top = \operatorname{vec}(K)^\top P,

one column per output position (column-stacking order, i fastest), one row per kernel
entry (the order of vec(K)). Its layout makes a multi-channel convolution one matrix
product: with C input channels X₁ … X_C stacked as :math:`P = [P_1; \dots; P_C]`
(C·kh·kw rows) and the kernels of output channel o as the row
:math:`(\operatorname{vec}(K_{o1})^\top, \dots, \operatorname{vec}(K_{oC})^\top)` of a
matrix W, the row o of W P is vec(Y_o)ᵀ.

The literal factors, each built from its index pattern:

* ∂vec(Y)/∂vec(X): (Ho·Wo)×(H·W), sparse, written T(K). Row i + Ho·j holds K_ab in column
  r + H·c for r = is + a − p, c = js + b − p: kh·kw entries a row (fewer where a tap falls
  on the padding). For stride 1 and no padding it is block Toeplitz with Toeplitz blocks;
  for a separable kernel K = u vᵀ it is the Kronecker product T(v) ⊗ T(u) of the two 1-D
  convolution matrices (column stacking puts the width factor on the left).
* ∂vec(Y)/∂vec(K) = Pᵀ = im2col(X)ᵀ, dense: every output reads every kernel entry.
* ∂vec(P)/∂vec(X): a 0/1 selection matrix, one entry a row (none on the padding).

conv2d is bilinear, so its only second derivative is the mixed one,
∂²(ā·vec Y)/∂vec(X)∂vec(K), whose entry (r + H·c, a + kh·b) is Ā_ij for the output (i, j)
that reads X_rc through K_ab; im2col is linear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.lib.stride_tricks import sliding_window_view

from ..core.errors import DomainError, JacobianCalcError, ShapeError
from ..core.limits import check_work
from ..core.notation import Form, Template, operator_name
from ..core.structure import MatrixInfo
from ..core.validation import index_dtype
from . import domain
from .base import ATOM, LINEAR, NodeLike, Operation, Param, Partial, Rule

__all__ = ["OPERATIONS", "Geometry", "geometry", "conv2d_forward", "im2col_forward",
           "conv2d_input_jacobian", "conv2d_kernel_jacobian", "im2col_jacobian",
           "conv2d_mixed_second"]


# ----------------------------------------------------------------------- geometry
class Geometry(NamedTuple):
    """The sizes of one convolution: image H×W, kernel kh×kw, stride, padding, output Ho×Wo."""

    H: int
    W: int
    kh: int
    kw: int
    stride: int
    padding: int
    Ho: int
    Wo: int

    @property
    def taps(self) -> int:
        """kh·kw: the entries of the kernel, the most any row of ∂vec(Y)/∂vec(X) holds."""
        return self.kh * self.kw

    @property
    def outputs(self) -> int:
        """Ho·Wo."""
        return self.Ho * self.Wo


def geometry(image_shape: Sequence[int], kernel_shape: Sequence[int], stride: int = 1,
             padding: int = 0) -> Geometry:
    """The geometry of a convolution, with PyTorch's output size ⌊(H + 2p − kh)/s⌋ + 1.

    Parameters
    ----------
    image_shape : (int, int)
        H, W.
    kernel_shape : (int, int)
        kh, kw.
    stride : int, ≥ 1
    padding : int, ≥ 0

    Raises
    ------
    ShapeError
        The kernel does not fit inside the padded image.
    DomainError, JacobianCalcError
        A stride below 1, a padding below 0, or either not an int.

    Examples
    --------
    >>> geometry((5, 7), (3, 3), stride=2, padding=1)[-2:]
    (3, 4)
    """
    H, W = (int(n) for n in image_shape)
    kh, kw = (int(n) for n in kernel_shape)
    s = _count("convolution", "stride", 1)(stride)
    p = _count("convolution", "padding", 0)(padding)
    if kh > H + 2 * p or kw > W + 2 * p:
        raise ShapeError(f"a {kh}×{kw} kernel does not fit inside a {H}×{W} image"
                         + (f" ({H + 2 * p}×{W + 2 * p} with padding {p})" if p else ""))
    return Geometry(H, W, kh, kw, s, p, (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1)


def _padded(X: np.ndarray, p: int) -> np.ndarray:
    return np.pad(X, p) if p else X


def _pattern(g: Geometry) -> tuple[np.ndarray, np.ndarray | None]:
    """Where each kernel tap of each output reads the image, in vec(X) order.

    Returns ``(positions, valid)``, both of shape (Ho·Wo, kh·kw): row i + Ho·j is output
    (i, j) (vec(Y) order), column a + kh·b is tap (a, b) (vec(K) order, which lists one
    output's taps in increasing vec(X) order), and positions[i + Ho·j, a + kh·b] = r + H·c
    with r = i·s + a − p, c = j·s + b − p. ``valid`` marks the taps that fall on the image
    rather than on the padding (``None`` without padding: all of them).
    """
    dt = index_dtype(max(g.H * g.W, g.outputs * g.taps) + 1)
    r = g.stride * np.arange(g.Ho, dtype=dt) - g.padding  # row of tap a = 0, per output row
    c = g.stride * np.arange(g.Wo, dtype=dt) - g.padding
    base = ((g.H * c)[:, None] + r[None, :]).reshape(-1)  # [j, i] → i + Ho·j
    positions = np.empty((g.outputs, g.taps), dtype=dt)
    # one long column per tap: numpy's loops run fast along the outputs, not along 9 taps
    for b in range(g.kw):
        for a in range(g.kh):
            np.add(base, a + g.H * b, out=positions[:, a + g.kh * b])
    if g.padding == 0:
        return positions, None
    on_r = (r[:, None] + np.arange(g.kh) >= 0) & (r[:, None] + np.arange(g.kh) < g.H)
    on_c = (c[:, None] + np.arange(g.kw) >= 0) & (c[:, None] + np.arange(g.kw) < g.W)
    valid = (on_c[:, None, :, None] & on_r[None, :, None, :]).reshape(g.outputs, g.taps)
    return positions, valid


def _nnz(g: Geometry) -> int:
    """Taps that fall on the image: the product of the row and column counts (the pattern is separable)."""
    if g.padding == 0:
        return g.outputs * g.taps

    def count(n: int, k: int, out: int) -> int:
        t = g.stride * np.arange(out)[:, None] + np.arange(k) - g.padding
        return int(np.count_nonzero((t >= 0) & (t < n)))

    return count(g.H, g.kh, g.Ho) * count(g.W, g.kw, g.Wo)


def _rows(valid: np.ndarray, taps: int, dt: type) -> np.ndarray:
    """indptr of a CSR matrix whose row k holds the valid taps of row k of the pattern."""
    counts = valid.reshape(-1, taps).sum(axis=1, dtype=dt)
    indptr = np.zeros(counts.size + 1, dtype=dt)
    np.cumsum(counts, out=indptr[1:])
    return indptr


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
         shape: tuple[int, int]) -> sp.csr_array:
    out = sp.csr_array((data, indices, indptr), shape=shape, copy=False)
    out.has_sorted_indices = True  # the pattern lists each row's columns in increasing order
    return out


# ------------------------------------------------------------- forward and factors
def conv2d_forward(X: np.ndarray, K: np.ndarray, stride: int = 1,
                   padding: int = 0) -> np.ndarray:
    """Y = conv2d(X, K): shape (Ho, Wo), a sum of kh·kw strided slices of the padded image.

    Examples
    --------
    >>> conv2d_forward(np.arange(9.0).reshape(3, 3), np.array([[1.0, 0.0], [0.0, -1.0]]))
    array([[-4., -4.],
           [-4., -4.]])
    """
    g = geometry(X.shape, K.shape, stride, padding)
    Xp = _padded(np.asarray(X, dtype=np.float64), g.padding)
    s = g.stride
    Y = np.zeros((g.Ho, g.Wo))
    term = np.empty_like(Y)  # one buffer for every tap: no fresh output-sized array each time
    for a in range(g.kh):
        for b in range(g.kw):
            np.multiply(Xp[a:a + s * (g.Ho - 1) + 1:s, b:b + s * (g.Wo - 1) + 1:s], K[a, b],
                        out=term)
            Y += term
    return Y


def _windows(X: np.ndarray, g: Geometry) -> np.ndarray:
    """V[i, j, a, b] = X⁽ᵖ⁾[i·s + a, j·s + b], shape (Ho, Wo, kh, kw): a view, nothing copied."""
    Xp = _padded(np.asarray(X, dtype=np.float64), g.padding)
    return sliding_window_view(Xp, (g.kh, g.kw))[::g.stride, ::g.stride]


def im2col_forward(X: np.ndarray, kh: int, kw: int, stride: int = 1,
                   padding: int = 0) -> np.ndarray:
    """The patch matrix P, shape (kh·kw, Ho·Wo): P[a + kh·b, i + Ho·j] = X⁽ᵖ⁾[i·s + a, j·s + b].

    Column i + Ho·j is vec of the patch under output (i, j), so that
    vec(conv2d(X, K))ᵀ = vec(K)ᵀ P.

    Examples
    --------
    >>> im2col_forward(np.arange(6.0).reshape(2, 3), 2, 2)
    array([[0., 1.],
           [3., 4.],
           [1., 2.],
           [4., 5.]])
    """
    g = geometry(X.shape, (kh, kw), stride, padding)
    # axes (b, a, j, i): C-order flattening gives rows a + kh·b and columns i + Ho·j
    return _windows(X, g).transpose(3, 2, 1, 0).reshape(g.taps, g.outputs)


def conv2d_input_jacobian(K: np.ndarray, image_shape: Sequence[int], stride: int = 1,
                          padding: int = 0) -> sp.csr_array:
    r"""∂vec(conv2d(X, K))/∂vec(X), shape (Ho·Wo, H·W): sparse, built from its index pattern.

    Row i + Ho·j holds K_ab at column r + H·c, r = i·s + a − p, c = j·s + b − p, for the
    taps that fall on the image: kh·kw entries a row without padding. It depends on X's
    shape only (the convolution is linear in X). Never formed dense: 12 bytes a stored
    entry plus 4 a row.

    Parameters
    ----------
    K : ndarray, shape (kh, kw)
    image_shape : (int, int)
    stride, padding : int

    Returns
    -------
    scipy.sparse.csr_array

    Examples
    --------
    A 2-tap kernel on a 3×1 image: each row is the kernel, shifted by one.

    >>> conv2d_input_jacobian(np.array([[1.0], [2.0]]), (3, 1)).toarray()
    array([[1., 2., 0.],
           [0., 1., 2.]])
    """
    g = geometry(image_shape, K.shape, stride, padding)
    nnz = _nnz(g)
    check_work(2 * nnz + g.outputs + 1, nnz,
               f"∂vec(conv2d)/∂vec(X), {g.outputs}×{g.H * g.W} with {nnz:,} entries,")
    positions, valid = _pattern(g)
    # vec(K): the taps in the pattern's order, the same for every output
    taps = np.asarray(K, dtype=np.float64).reshape(-1, order="F")
    if valid is None:
        dt = positions.dtype
        return _csr(np.tile(taps, g.outputs), positions.reshape(-1),
                    np.arange(0, nnz + 1, g.taps, dtype=dt), (g.outputs, g.H * g.W))
    data = np.broadcast_to(taps, positions.shape)
    return _csr(data[valid], positions[valid], _rows(valid, g.taps, positions.dtype),
                (g.outputs, g.H * g.W))


def conv2d_kernel_jacobian(X: np.ndarray, kernel_shape: Sequence[int], stride: int = 1,
                           padding: int = 0) -> np.ndarray:
    """∂vec(conv2d(X, K))/∂vec(K) = im2col(X)ᵀ, shape (Ho·Wo, kh·kw), dense.

    Row i + Ho·j is the patch under output (i, j), in the order of vec(K). Dense because
    every output reads every kernel entry (zeros of the padding included, as values).

    Examples
    --------
    >>> conv2d_kernel_jacobian(np.array([[1.0], [2.0], [3.0]]), (2, 1))
    array([[1., 2.],
           [2., 3.]])
    """
    g = geometry(X.shape, kernel_shape, stride, padding)
    check_work(g.outputs * g.taps, g.outputs * g.taps,
               f"∂vec(conv2d)/∂vec(K), {g.outputs}×{g.taps} dense,")
    # axes (j, i, b, a): rows i + Ho·j, columns a + kh·b
    return _windows(X, g).transpose(1, 0, 3, 2).reshape(g.outputs, g.taps)


def im2col_jacobian(image_shape: Sequence[int], kh: int, kw: int, stride: int = 1,
                    padding: int = 0) -> sp.csr_array:
    """∂vec(im2col(X, kh, kw))/∂vec(X), shape (kh·kw·Ho·Wo, H·W): a 0/1 selection matrix.

    Row (a + kh·b) + kh·kw·(i + Ho·j) has a single 1, at column r + H·c of the entry it
    copies (none when it copies padding).

    Examples
    --------
    >>> im2col_jacobian((3, 1), 2, 1).toarray()
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    g = geometry(image_shape, (kh, kw), stride, padding)
    nnz = _nnz(g)
    check_work(2 * nnz + g.outputs * g.taps + 1, nnz,
               f"∂vec(im2col)/∂vec(X), {g.outputs * g.taps}×{g.H * g.W},")
    positions, valid = _pattern(g)
    dt = positions.dtype
    rows = g.outputs * g.taps
    if valid is None:
        return _csr(np.ones(nnz), positions.reshape(-1), np.arange(nnz + 1, dtype=dt),
                    (rows, g.H * g.W))
    return _csr(np.ones(nnz), positions[valid], _rows(valid, 1, dt), (rows, g.H * g.W))


def conv2d_mixed_second(adjoint: np.ndarray, image_shape: Sequence[int],
                        kernel_shape: Sequence[int], stride: int = 1,
                        padding: int = 0) -> sp.csr_array:
    r"""∂²(ā·vec Y)/∂vec(X)∂vec(K) for Y = conv2d(X, K): shape (H·W, kh·kw), sparse.

    :math:`\bar a \cdot \operatorname{vec}(Y) = \sum_{ijab} \bar A_{ij} K_{ab}
    X^{(p)}_{is+a,\,js+b}`, so entry (r + H·c, a + kh·b) is Ā_ij for the one output (i, j)
    whose tap (a, b) reads X_rc (there is at most one: i = (r + p − a)/s).

    Examples
    --------
    >>> conv2d_mixed_second(np.array([1.0, 2.0]), (3, 1), (2, 1)).toarray()
    array([[1., 0.],
           [2., 1.],
           [0., 2.]])
    """
    g = geometry(image_shape, kernel_shape, stride, padding)
    positions, valid = _pattern(g)
    a_bar = np.asarray(adjoint, dtype=np.float64).reshape(-1)  # vec(Ā): one value an output
    data = np.broadcast_to(a_bar[:, None], positions.shape)
    cols = np.broadcast_to(np.arange(g.taps), positions.shape)  # tap a + kh·b
    if valid is not None:
        data, rows, cols = data[valid], positions[valid], cols[valid]
    else:
        data, rows, cols = data.reshape(-1), positions.reshape(-1), cols.reshape(-1)
    return sp.csr_array(sp.coo_array((data, (rows, cols)), shape=(g.H * g.W, g.taps)))


# ------------------------------------------------------------------ parameters
def _count(op: str, name: str, least: int) -> Callable[[object], int]:
    """A parameter that is an integer ≥ ``least`` (a stride, a padding, a kernel size)."""
    def check(value: object) -> int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            hint = " (a float; pass an int)" if isinstance(value, (float, np.floating)) else ""
            raise JacobianCalcError(f"{op}: {name} must be an int ≥ {least}, got "
                                    f"{value!r}{hint}")
        if value < least:
            raise DomainError(f"{op}: {name} must be ≥ {least}, got {int(value)}")
        return int(value)
    return check


def _options(node: NodeLike) -> Form:
    """The parameters that differ from their defaults, as they are written in a call."""
    parts = [(name, node.params[name]) for name in ("stride", "padding")
             if node.params[name] != (1 if name == "stride" else 0)]
    return Form("".join(f", {n}={v}" for n, v in parts),
                "".join(rf", \mathrm{{{n}}}={v}" for n, v in parts))


def _name(arg: NodeLike) -> str:
    return arg.form.text


def _fits(op: str, kernel: Callable[[Sequence[NodeLike], Mapping[str, Any]], tuple[int, int]],
          kernel_name: Callable[[Sequence[NodeLike]], str]) -> Rule:
    """The kernel fits inside the padded image, and the output is within the work bound."""
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        image = args[0]
        kh, kw = kernel(args, params)
        H, W = image.value.shape
        p = params.get("padding", 0)
        if kh > H + 2 * p or kw > W + 2 * p:
            padded = f" ({H + 2 * p}×{W + 2 * p} with padding {p})" if p else ""
            raise ShapeError(f"{where}: the kernel {kernel_name(args)} is {kh}×{kw} but the "
                             f"image {_name(image)} is {H}×{W}{padded}; the kernel must fit "
                             f"inside the padded image")
        g = geometry((H, W), (kh, kw), params.get("stride", 1), p)
        # the padded copy and the output are made before any rule of the engine sees them
        check_work((H + 2 * p) * (W + 2 * p) + g.outputs * g.taps, g.outputs * g.taps,
                   f"{where}, a {g.Ho}×{g.Wo} output of a {H + 2 * p}×{W + 2 * p} padded image,")
    return Rule(check)


_STRIDE = Param("stride", _count("conv2d", "stride", 1), 1)
_PADDING = Param("padding", _count("conv2d", "padding", 0), 0)


def _geometry_of(node: NodeLike) -> Geometry:
    X = node.args[0].value
    if node.op.name == "im2col":  # type: ignore[union-attr]
        kernel = (node.params["kh"], node.params["kw"])
    else:
        kernel = node.args[1].value.shape
    return geometry(X.shape, kernel, node.params.get("stride", 1), node.params.get("padding", 0))


def _sparse_info(rows: int, cols: int, nnz: int) -> MatrixInfo:
    return MatrixInfo(rows, cols, nnz, True)


# ----------------------------------------------------------------------- conv2d
def _conv2d_input(node: NodeLike) -> sp.csr_array:
    X, K = node.args
    return conv2d_input_jacobian(K.value, X.value.shape, node.params["stride"],
                                 node.params["padding"])


def _conv2d_kernel(node: NodeLike) -> np.ndarray:
    X, K = node.args
    return conv2d_kernel_jacobian(X.value, K.value.shape, node.params["stride"],
                                  node.params["padding"])


def _conv2d_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Any]:
    # bilinear: ∂²/∂X² = 0 and ∂²/∂K² = 0; only the mixed block is left
    X, K = node.args
    return {(0, 1): conv2d_mixed_second(adjoint, X.value.shape, K.value.shape,
                                        node.params["stride"], node.params["padding"])}


def _kernel_size(node: NodeLike) -> dict[str, object]:
    # a field of the kernel's factor only: the result's own notation is also written in
    # the messages of the domain rules, before the kernel is known to be a matrix
    kh, kw = node.args[1].value.shape
    return {"kh": kh, "kw": kw}


def _conv2d_shape(shapes: tuple[tuple[int, ...], ...], params: Mapping[str, Any]
                  ) -> tuple[int, int]:
    g = geometry(shapes[0], shapes[1], params["stride"], params["padding"])
    return (g.Ho, g.Wo)


CONV2D = Operation(
    name="conv2d", family="convolution", arity=2,
    forward=conv2d_forward,
    partials=(
        Partial(build=_conv2d_input, label=Template(r"\operatorname{toeplitz}($1$opts)"),
                info=lambda node: _sparse_info(node.value.size, node.args[0].value.size,
                                               _nnz(_geometry_of(node)))),
        Partial(build=_conv2d_kernel,
                label=Template(operator_name("im2col") + r"($0, $kh, $kw$opts)^\top"),
                fields=_kernel_size),
    ),
    notation=Template(operator_name("conv2d") + "($0, $1$opts)"), precedence=ATOM,
    shape=_conv2d_shape, fields=lambda node: {"opts": _options(node)},
    domain=(domain.rank(0, (2,), "image"), domain.rank(1, (2,), "kernel"),
            _fits("conv2d", lambda args, params: args[1].value.shape,
                  lambda args: _name(args[1]))),
    params=(_STRIDE, _PADDING), call_params=("stride", "padding"),
    second=_conv2d_second,
    summary="conv2d(X, K, stride=1, padding=0): 2-D cross-correlation of an H×W image with a "
            "kh×kw kernel (no flip, one channel), output ⌊(H + 2p − kh)/s⌋ + 1 rows and "
            "likewise columns")


# ----------------------------------------------------------------------- conv1d
def _conv1d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    return conv2d_forward(x[:, None], k[:, None]).reshape(-1)


def _conv1d_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Any]:
    x, k = node.args
    return {(0, 1): conv2d_mixed_second(adjoint, (x.value.size, 1), (k.value.size, 1))}


def _conv1d_fits(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
    x, k = args
    if k.value.size > x.value.size:
        raise ShapeError(f"{where}: the kernel {_name(k)} has {k.value.size} entries but the "
                         f"signal {_name(x)} has {x.value.size}; the kernel must fit inside "
                         f"the signal")


CONV1D = Operation(
    name="conv1d", family="convolution", arity=2,
    forward=_conv1d,
    partials=(
        Partial(build=lambda node: conv2d_input_jacobian(node.args[1].value[:, None],
                                                         (node.args[0].value.size, 1)),
                label=Template(r"\operatorname{toeplitz}($1)"),
                info=lambda node: _sparse_info(node.value.size, node.args[0].value.size,
                                               node.value.size * node.args[1].value.size)),
        # J[i, a] = x[i + a]: a Hankel matrix, dense
        Partial(build=lambda node: conv2d_kernel_jacobian(node.args[0].value[:, None],
                                                          (node.args[1].value.size, 1)),
                label=Template(r"\operatorname{hankel}($0)")),
    ),
    notation=Template(operator_name("conv1d") + "($0, $1)"), precedence=ATOM,
    shape=lambda shapes, params: (shapes[0][0] - shapes[1][0] + 1,),
    domain=(domain.rank(0, (1,), "signal"), domain.rank(1, (1,), "kernel"),
            Rule(_conv1d_fits)),
    second=_conv1d_second,
    summary="conv1d(x, k): 1-D cross-correlation y_i = Σ_a k_a x_(i+a) of a vector with a "
            "kernel, 'valid' (n − m + 1 outputs, no flip)")


# ----------------------------------------------------------------------- im2col
def _im2col_fields(node: NodeLike) -> dict[str, object]:
    fields: dict[str, object] = {"opts": _options(node)}
    # the catalogue writes the entry without a node: kh and kw then appear by name
    fields.update({k: node.params[k] for k in ("kh", "kw") if k in node.params})
    return fields


def _im2col_shape(shapes: tuple[tuple[int, ...], ...], params: Mapping[str, Any]
                  ) -> tuple[int, int]:
    g = geometry(shapes[0], (params["kh"], params["kw"]), params["stride"], params["padding"])
    return (g.taps, g.outputs)


def _im2col_info(node: NodeLike) -> MatrixInfo:
    g = _geometry_of(node)
    return _sparse_info(node.value.size, node.args[0].value.size, _nnz(g))


IM2COL = Operation(
    name="im2col", family="convolution", arity=1,
    forward=im2col_forward,
    partials=(Partial(build=lambda node: im2col_jacobian(
                          node.args[0].value.shape, node.params["kh"], node.params["kw"],
                          node.params["stride"], node.params["padding"]),
                      label=Template(r"\operatorname{gather}($0, $kh, $kw$opts)"),
                      info=_im2col_info),),
    notation=Template(operator_name("im2col") + "($0, $kh, $kw$opts)"), precedence=ATOM,
    shape=_im2col_shape, fields=_im2col_fields,
    domain=(domain.rank(0, (2,), "image"),
            _fits("im2col", lambda args, params: (params["kh"], params["kw"]),
                  lambda args: "window")),
    params=(Param("kh", _count("im2col", "kh", 1)), Param("kw", _count("im2col", "kw", 1)),
            Param("stride", _count("im2col", "stride", 1), 1),
            Param("padding", _count("im2col", "padding", 0), 0)),
    call_params=("kh", "kw", "stride", "padding"), second=LINEAR,
    summary="im2col(X, kh, kw, stride=1, padding=0): the patch matrix P, (kh·kw)×(Ho·Wo), "
            "column i + Ho·j the patch under output (i, j) in vec order, so that "
            "vec(conv2d(X, K))ᵀ = vec(K)ᵀ P")

#: The entries of this family, in the order they are listed.
OPERATIONS = (CONV1D, CONV2D, IM2COL)
