"""A student's hand-derived compact formulas (the correct submission).

The layer is ŷ = σ(W x + b) with the logistic sigmoid σ and the loss f = ½‖ŷ − y‖²; the
classifier is f = −Σᵢ yᵢ log softmax(W x)ᵢ. Shapes: W (p, d), x (d,), b (p,), y (p,).
"""

import numpy as np


def sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


def softmax(h):
    e = np.exp(h - h.max())
    return e / e.sum()


def grad_W_layer(W, b, x, y):
    """∂f/∂W = [σ′(h) ⊙ (ŷ − y)] xᵀ with h = Wx + b (Lemma 2.6: (∂f/∂h) xᵀ)."""
    h = W @ x + b
    s = sigmoid(h)
    return np.outer(s * (1 - s) * (s - y), x)


def grad_b_layer(W, b, x, y):
    """∂f/∂b = σ′(h) ⊙ (ŷ − y): the bias sees ∂f/∂h directly."""
    h = W @ x + b
    s = sigmoid(h)
    return s * (1 - s) * (s - y)


def grad_W_softmax_cross_entropy(W, x, y):
    """∂f/∂W = (softmax(Wx)·Σy − y) xᵀ; (softmax(Wx) − y) xᵀ when y sums to 1."""
    return np.outer(softmax(W @ x) * y.sum() - y, x)


def jacobian_softmax(h):
    """∂softmax(h)/∂h = diag(s) − s sᵀ, a p×p matrix."""
    s = softmax(h)
    return np.diag(s) - np.outer(s, s)
