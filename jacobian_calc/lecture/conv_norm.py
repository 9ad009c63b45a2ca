r"""Compact forward and backward formulas of convolution and normalisation layers.

This module is the independent side of the checks of :mod:`jacobian_calc.ops.convolution`
and :mod:`jacobian_calc.ops.normalisation`: it shares no code with them (no Jacobian, no
index pattern, no sparse matrix, no graph) and computes gradients the way deep-learning
frameworks write their backward passes, from the gradient G = ∂f/∂Y of a scalar f with
respect to the layer's output, shaped like Y.

**Convolution** (cross-correlation, stride s, padding p). With :math:`G^{(s)}` the output
gradient dilated by the stride (s − 1 zeros between neighbours),

.. math::

    \frac{\partial f}{\partial K} = X^{(p)} \star G^{(s)} \ \text{(valid)}, \qquad
    \frac{\partial f}{\partial X^{(p)}} = G^{(s)} \star \operatorname{rot180}(K)
    \ \text{(full)},

where ⋆ is cross-correlation: the kernel's gradient correlates the padded input with the
output gradient, the input's correlates the zero-bordered output gradient with the
flipped kernel (a "transposed convolution"), and the padding is then cut off again.
:func:`col2im` is the adjoint of im2col: it adds every patch's gradient back onto the
image positions it was copied from.

**Normalisation.** For one group x̂ = (x − μ)/σ of N entries (a column for layer_norm, a
row for batch_norm) and its output gradient g,

.. math::

    \frac{\partial f}{\partial x} = \frac{1}{\sigma}\left(g - \bar g\,\mathbf 1 -
    \overline{g \odot \hat x}\; \hat x\right),

bars denoting means over the group (Ioffe and Szegedy's batch-norm backward pass, which is
layer norm's too, along the other axis).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.errors import DomainError, ShapeError

__all__ = ["conv1d_forward", "conv1d_backward", "conv2d_forward", "conv2d_backward",
           "col2im", "layer_norm_forward", "layer_norm_backward", "batch_norm_forward",
           "batch_norm_backward"]


# -------------------------------------------------------------------- convolution
def _correlate_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid 2-D cross-correlation: out[i, j] = Σ_ab kernel[a, b] image[i + a, j + b]."""
    windows = sliding_window_view(image, kernel.shape)
    return np.einsum("ijab,ab->ij", windows, kernel)


def _check(stride: object, padding: object) -> None:
    for name, value, least in (("stride", stride, 1), ("padding", padding, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise DomainError(f"{name} must be an int ≥ {least}, got {value!r}")


def _dilate(G: np.ndarray, s: int) -> np.ndarray:
    """G with s − 1 zeros between neighbouring entries (the stride undone)."""
    if s == 1:
        return G
    out = np.zeros((s * (G.shape[0] - 1) + 1, s * (G.shape[1] - 1) + 1))
    out[::s, ::s] = G
    return out


def conv2d_forward(X: np.ndarray, K: np.ndarray, stride: int = 1,
                   padding: int = 0) -> np.ndarray:
    """Y_ij = Σ_ab K_ab X⁽ᵖ⁾[i·s + a, j·s + b], output ⌊(H + 2p − kh)/s⌋ + 1 rows (and columns).

    Examples
    --------
    >>> conv2d_forward(np.ones((4, 4)), np.ones((2, 2)), stride=2)
    array([[4., 4.],
           [4., 4.]])
    """
    _check(stride, padding)
    X, K = np.asarray(X, dtype=np.float64), np.asarray(K, dtype=np.float64)
    Xp = np.pad(X, padding)
    if K.shape[0] > Xp.shape[0] or K.shape[1] > Xp.shape[1]:
        raise ShapeError(f"a {K.shape[0]}×{K.shape[1]} kernel does not fit inside the "
                         f"{Xp.shape[0]}×{Xp.shape[1]} padded image")
    return _correlate_valid(Xp, K)[::stride, ::stride]


def conv2d_backward(X: np.ndarray, K: np.ndarray, G: np.ndarray, stride: int = 1,
                    padding: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """∂f/∂X and ∂f/∂K of Y = conv2d(X, K), from G = ∂f/∂Y, by correlations with G.

    Parameters
    ----------
    X : ndarray, shape (H, W)
    K : ndarray, shape (kh, kw)
    G : ndarray, shaped like the output (Ho, Wo)
    stride, padding : int

    Returns
    -------
    (ndarray, ndarray)
        Shaped like X and like K.

    Examples
    --------
    f = sum(Y): each kernel entry's gradient is the sum of the entries it meets.

    >>> dX, dK = conv2d_backward(np.arange(9.0).reshape(3, 3), np.ones((2, 2)), np.ones((2, 2)))
    >>> dK
    array([[ 8., 12.],
           [20., 24.]])
    >>> dX
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    _check(stride, padding)
    X, K, G = (np.asarray(a, dtype=np.float64) for a in (X, K, G))
    kh, kw = K.shape
    H, W = X.shape
    expected = ((H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1)
    if G.shape != expected:
        raise ShapeError(f"the output gradient G must be shaped like the output, {expected}; "
                         f"got {G.shape}")
    Gs = _dilate(G, stride)
    # rows and columns of the padded image that some output reads (a stride may skip the last)
    rows, cols = Gs.shape[0] + kh - 1, Gs.shape[1] + kw - 1
    Xp = np.pad(X, padding)
    dK = _correlate_valid(Xp[:rows, :cols], Gs)
    # full correlation with the flipped kernel: border G with kh − 1 (kw − 1) zeros first
    bordered = np.pad(Gs, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    dXp = np.zeros_like(Xp)
    dXp[:rows, :cols] = _correlate_valid(bordered, K[::-1, ::-1])
    return dXp[padding:padding + H, padding:padding + W], dK


def conv1d_forward(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """y_i = Σ_a k_a x_(i+a), i < n − m + 1 (numpy's ``correlate``, mode "valid").

    Examples
    --------
    >>> conv1d_forward(np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0]))
    array([-1., -1.])
    """
    return np.correlate(np.asarray(x, dtype=np.float64), np.asarray(k, dtype=np.float64),
                        mode="valid")


def conv1d_backward(x: np.ndarray, k: np.ndarray, g: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """∂f/∂x = g ∗ k (full convolution) and ∂f/∂k = x ⋆ g (valid correlation).

    Examples
    --------
    >>> conv1d_backward(np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0]), np.array([1.0, 0.0]))
    (array([ 1., -1.,  0.]), array([1., 2.]))
    """
    x, k, g = (np.asarray(a, dtype=np.float64) for a in (x, k, g))
    return np.convolve(g, k, mode="full"), np.correlate(x, g, mode="valid")


def col2im(Pbar: np.ndarray, image_shape: tuple[int, int], kh: int, kw: int, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """The adjoint of im2col: ∂f/∂X from ∂f/∂P, each patch's gradient added back where it was read.

    Parameters
    ----------
    Pbar : ndarray, shape (kh·kw, Ho·Wo)
        ∂f/∂P; row a + kh·b, column i + Ho·j (im2col's layout).
    image_shape : (int, int)

    Returns
    -------
    ndarray, shape image_shape

    Examples
    --------
    >>> col2im(np.ones((4, 4)), (3, 3), 2, 2)  # how many patches read each pixel
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    _check(stride, padding)
    H, W = image_shape
    Ho = (H + 2 * padding - kh) // stride + 1
    Wo = (W + 2 * padding - kw) // stride + 1
    # Pbar[a + kh·b, i + Ho·j] as an array indexed [b, a, j, i]
    patches = np.asarray(Pbar, dtype=np.float64).reshape(kw, kh, Wo, Ho)
    out = np.zeros((H + 2 * padding, W + 2 * padding))
    for a in range(kh):
        for b in range(kw):
            out[a:a + stride * (Ho - 1) + 1:stride,
                b:b + stride * (Wo - 1) + 1:stride] += patches[b, a].T
    return out[padding:padding + H, padding:padding + W]


# ------------------------------------------------------------------ normalisation
def _forward(X: np.ndarray, eps: float, axis: int) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=axis, keepdims=True)
    var = ((X - mean) ** 2).mean(axis=axis, keepdims=True)
    std = np.sqrt(var + eps)
    return (X - mean) / std, std


def _backward(X: np.ndarray, G: np.ndarray, eps: float, axis: int) -> np.ndarray:
    xhat, std = _forward(X, eps, axis)
    return (G - G.mean(axis=axis, keepdims=True)
            - xhat * (G * xhat).mean(axis=axis, keepdims=True)) / std


def layer_norm_forward(X: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Each column (a vector: itself) minus its mean, over √(population variance + eps).

    Examples
    --------
    >>> layer_norm_forward(np.array([[1.0, 2.0], [3.0, 6.0]]))
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    return _forward(np.asarray(X, dtype=np.float64), eps, 0)[0]


def layer_norm_backward(X: np.ndarray, G: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """∂f/∂X of layer_norm, column by column, from G = ∂f/∂(layer_norm(X)).

    Examples
    --------
    A gradient along the output itself is lost when eps = 0 (a scaling changes nothing):

    >>> X = np.array([[1.0], [3.0]])
    >>> layer_norm_backward(X, layer_norm_forward(X))
    array([[0.],
           [0.]])
    """
    return _backward(np.asarray(X, dtype=np.float64), np.asarray(G, dtype=np.float64), eps, 0)


def batch_norm_forward(X: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Each row minus its mean over the columns (the batch), over √(population variance + eps).

    Examples
    --------
    >>> batch_norm_forward(np.array([[1.0, 3.0], [2.0, 6.0]]))
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    return _forward(np.asarray(X, dtype=np.float64), eps, 1)[0]


def batch_norm_backward(X: np.ndarray, G: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """∂f/∂X of batch_norm, row by row, from G = ∂f/∂(batch_norm(X)).

    Examples
    --------
    >>> batch_norm_backward(np.array([[1.0, 3.0]]), np.array([[1.0, 1.0]]))  # a shift is lost
    array([[0., 0.]])
    """
    return _backward(np.asarray(X, dtype=np.float64), np.asarray(G, dtype=np.float64), eps, 1)
