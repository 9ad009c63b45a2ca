"""The lecture network's parameters, checked once for every route that takes them.

The literal network (:class:`~jacobian_calc.MLP`) and the compact formulas
(:mod:`~jacobian_calc.lecture.curvature`) read the same weights and biases; both check
them here, so a bias of the wrong length gets the same message whichever route is asked.
This is input checking only: nothing here differentiates anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.errors import JacobianCalcError, ShapeError
from ..core.notation import dims
from ..core.validation import as_real_array

__all__ = ["check_biases"]


def check_biases(biases: Sequence[object], mats: Sequence[np.ndarray]
                 ) -> tuple[tuple[np.ndarray, ...], tuple[tuple[int, ...], ...]]:
    """``[b1, …, bL]`` checked against the weights: read-only vectors and the shapes given.

    Each b_k must have shape (n_k,) or (n_k, 1), one entry per row of W_k.

    Returns
    -------
    vectors : tuple of ndarray
        b_k as 1-D read-only float64 arrays.
    shapes : tuple of tuple of int
        The shapes as given (a (p, 1) bias keeps its gradient (p, 1)).

    Raises
    ------
    JacobianCalcError
        ``biases`` is not a list.
    ShapeError
        The wrong number of biases, or a bias of the wrong shape.
    """
    if isinstance(biases, np.ndarray) or not isinstance(biases, Sequence):
        raise JacobianCalcError(f"biases must be a list [b1, …, bL] of vectors, got "
                                f"{type(biases).__name__}")
    if len(biases) != len(mats):
        raise ShapeError(f"biases has {len(biases)} entries but there are {len(mats)} "
                         f"weight matrices; give one bias per layer [b1, …, b{len(mats)}]")
    vectors, shapes = [], []
    for k, (b, W) in enumerate(zip(biases, mats), 1):
        arr = as_real_array(b, f"b{k}", ndim=(1, 2))
        if arr.shape not in ((W.shape[0],), (W.shape[0], 1)):
            raise ShapeError(
                f"b{k} must have shape ({W.shape[0]},) or ({W.shape[0]}, 1), one entry per "
                f"row of W{k} ({dims(W.shape)}), got shape {arr.shape}"
            )
        shapes.append(arr.shape)
        vec_b = arr.reshape(-1)
        vec_b.flags.writeable = False
        vectors.append(vec_b)
    return tuple(vectors), tuple(shapes)
