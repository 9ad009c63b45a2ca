"""A student's submission with the mistakes teachers see every year (deliberately wrong)."""

import numpy as np


def sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


def softmax(h):
    e = np.exp(h - h.max())
    return e / e.sum()


def grad_W_layer(W, b, x, y):
    """Forgot the activation's derivative σ′(h) (the diag(φ′(h)) factor of eq 29)."""
    s = sigmoid(W @ x + b)
    return np.outer(s - y, x)


def grad_b_layer(W, b, x, y):
    """Off by sign: (y − ŷ) instead of (ŷ − y)."""
    h = W @ x + b
    s = sigmoid(h)
    return s * (1 - s) * (y - s)


def grad_W_softmax_cross_entropy(W, x, y):
    """Transposed: x (s − y)ᵀ has the shape of Wᵀ, not of W."""
    return np.outer(x, softmax(W @ x) - y)


def jacobian_softmax(h):
    """Missing the −s sᵀ term: only the diagonal."""
    return np.diag(softmax(h))
