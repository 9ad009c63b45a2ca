"""The compact formulas of jacobian_calc.lecture.conv_norm against finite differences and loops.

These are the oracles of tests/test_ops_convolution.py and tests/test_ops_normalisation.py;
here they are checked on their own, against central differences of their forward passes
and against the definitions written as plain loops, with nothing of the literal machinery.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.lecture import conv_norm as compact
from jacobian_calc.testing import real_arrays


@st.composite
def convolutions(draw: st.DrawFn) -> tuple:
    s, p = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, min(H + 2 * p, 4))), draw(st.integers(1, min(W + 2 * p, 4)))
    X, K = draw(real_arrays((H, W))), draw(real_arrays((kh, kw)))
    Ho, Wo = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
    return X, K, s, p, draw(real_arrays((Ho, Wo)))


def loops_conv2d(X, K, s, p):
    Xp = np.pad(X, p)
    kh, kw = K.shape
    Ho, Wo = (Xp.shape[0] - kh) // s + 1, (Xp.shape[1] - kw) // s + 1
    return np.array([[np.sum(K * Xp[i * s:i * s + kh, j * s:j * s + kw]) for j in range(Wo)]
                     for i in range(Ho)])


def close(actual, expected, rtol=1e-7):
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


@given(convolutions())
def test_conv2d_forward_is_the_definition_and_backward_its_derivative(problem):
    X, K, s, p, G = problem
    close(compact.conv2d_forward(X, K, s, p), loops_conv2d(X, K, s, p), rtol=1e-13)
    dX, dK = compact.conv2d_backward(X, K, G, s, p)
    assert dX.shape == X.shape and dK.shape == K.shape
    f = lambda x, k: np.sum(G * loops_conv2d(x, k, s, p))  # noqa: E731
    close(dX.reshape(1, -1, order="F"), jc.finite_difference_jacobian(lambda v: f(v, K), X))
    close(dK.reshape(1, -1, order="F"), jc.finite_difference_jacobian(lambda v: f(X, v), K))


@given(convolutions())
def test_col2im_is_the_adjoint_of_the_patch_matrix(problem):
    X, K, s, p, _ = problem
    kh, kw = K.shape
    Xp = np.pad(X, p)
    Ho, Wo = (Xp.shape[0] - kh) // s + 1, (Xp.shape[1] - kw) // s + 1
    # the patch matrix from its definition: column i + Ho·j is vec of the patch (i, j)
    P = np.column_stack([Xp[i * s:i * s + kh, j * s:j * s + kw].reshape(-1, order="F")
                         for j in range(Wo) for i in range(Ho)])
    Pbar = np.cos(np.arange(P.size, dtype=float)).reshape(P.shape)
    # ⟨P(X), P̄⟩ = ⟨X, col2im(P̄)⟩ for every X: P is linear in X
    assert np.isclose(np.sum(P * Pbar), np.sum(X * compact.col2im(Pbar, X.shape, kh, kw, s, p)),
                      rtol=1e-12, atol=1e-12 * max(1.0, np.abs(Pbar).sum() * 2))


@given(st.integers(1, 8).flatmap(lambda n: st.integers(1, n).flatmap(
    lambda m: st.tuples(real_arrays((n,)), real_arrays((m,)), real_arrays((n - m + 1,))))))
def test_conv1d_backward_is_the_derivative(problem):
    x, k, g = problem
    dx, dk = compact.conv1d_backward(x, k, g)
    f = lambda a, b: np.sum(g * compact.conv1d_forward(a, b))  # noqa: E731
    close(dx[None, :], jc.finite_difference_jacobian(lambda v: f(v, k), x))
    close(dk[None, :], jc.finite_difference_jacobian(lambda v: f(x, v), k))
    close(compact.conv1d_forward(x, k),
          [np.dot(k, x[i:i + k.size]) for i in range(x.size - k.size + 1)], rtol=1e-13)


@pytest.mark.parametrize("name", ["layer_norm", "batch_norm"])
@given(st.tuples(st.integers(2, 5), st.integers(2, 5)).flatmap(
    lambda shape: st.tuples(real_arrays(shape), real_arrays(shape))),
       st.floats(0.05, 2.0))
def test_normalisation_backward_is_the_derivative(name, pair, eps):
    X, G = pair
    forward = getattr(compact, f"{name}_forward")
    backward = getattr(compact, f"{name}_backward")
    axis = 0 if name == "layer_norm" else 1
    mean = X.mean(axis=axis, keepdims=True)
    np.testing.assert_allclose(  # the definition: population variance
        forward(X, eps), (X - mean) / np.sqrt(((X - mean) ** 2).mean(axis=axis, keepdims=True)
                                              + eps), rtol=1e-13, atol=1e-13)
    close(backward(X, G, eps).reshape(1, -1, order="F"),
          jc.finite_difference_jacobian(lambda v: np.sum(G * forward(v, eps)), X), rtol=1e-6)


def test_bad_stride_padding_and_gradient_shape_are_named():
    X, K = np.ones((4, 4)), np.ones((2, 2))
    with pytest.raises(jc.DomainError, match="stride must be an int ≥ 1, got 0"):
        compact.conv2d_forward(X, K, stride=0)
    with pytest.raises(jc.DomainError, match="padding must be an int ≥ 0, got -1"):
        compact.conv2d_backward(X, K, np.ones((3, 3)), padding=-1)
    with pytest.raises(jc.ShapeError, match=r"shaped like the output, \(3, 3\); got \(2, 2\)"):
        compact.conv2d_backward(X, K, np.ones((2, 2)))
    with pytest.raises(jc.ShapeError, match="does not fit"):
        compact.conv2d_forward(X, np.ones((5, 1)))
