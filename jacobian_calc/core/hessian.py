r"""The Hessian value: a second-derivative block in the vec convention, as a literal matrix.

For a scalar f and matrices X, Y the block is the Jacobian of the column gradient,

.. math:: H_{XY} = \frac{\partial (\nabla_{\operatorname{vec}(X)} f)}{\partial \operatorname{vec}(Y)},
   \qquad (H_{XY})_{ij} = \frac{\partial^2 f}{\partial \operatorname{vec}(X)_i\,
   \partial \operatorname{vec}(Y)_j},

of shape (size X, size Y), vec stacking columns as everywhere else; H_XX is symmetric
and H_YX = H_XYᵀ. A :class:`Hessian` is a :class:`~jacobian_calc.Jacobian` (of the
gradient, with respect to Y) that writes itself ∂²f/∂vec(X)∂vec(Y), and may carry the
named terms it is the sum of (the Gauss-Newton term and the residual terms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import ChoiceError
from .jacobian import Jacobian, Shape
from .structure import Structured
from .notation import flat_name, latex_name, pretty

__all__ = ["Hessian"]


def _flat(name: str, shape: Shape, latex: bool) -> str:
    return flat_name(name, shape, latex, formed=True)


class Hessian(Jacobian):
    r"""∂²f/∂vec(X)∂vec(Y): a literal (size X × size Y) matrix, with the terms it sums.

    Parameters
    ----------
    matrix : numpy.ndarray, scipy sparse array or structured matrix
    f, x, y : str
        Names (or written forms) of the scalar and of the two variables.
    x_shape, y_shape : tuple of int
    f_latex, x_latex, y_latex : str, optional
        The LaTeX forms (by default from the names).
    terms : mapping of str to matrix, optional
        Named parts whose sum is the matrix (for :meth:`MLP.hessian_terms <jacobian_calc.lecture.hessians.Curvature.hessian_terms>`).
    parts : mapping of str to (slice, shape), optional
        For a Hessian over several stacked variables θ = (vec W1; vec W2; …): where each
        variable's entries sit and its shape (see :meth:`block`).
    label, latex : str, optional
        How the matrix is written.
    """

    __slots__ = ("f", "x", "y", "f_latex", "x_latex", "y_latex", "terms", "parts")

    def __init__(self, matrix: Any, *, f: str, x: str, y: str, x_shape: Shape, y_shape: Shape,
                 f_latex: str | None = None, x_latex: str | None = None,
                 y_latex: str | None = None, terms: Mapping[str, Any] | None = None,
                 parts: Mapping[str, tuple[slice, Shape]] | None = None,
                 label: str | None = None, latex: str | None = None) -> None:
        x_latex = x_latex or latex_name(x)
        y_latex = y_latex or latex_name(y)
        super().__init__(matrix, of=f"∇{x} {f}", wrt=y, of_shape=x_shape, wrt_shape=y_shape,
                         label=label, latex=latex, of_latex=rf"\nabla_{{{x_latex}}} {f_latex or f}",
                         wrt_latex=y_latex)
        self.f, self.x, self.y = f, x, y
        self.f_latex = f_latex or latex_name(f)
        self.x_latex, self.y_latex = x_latex, y_latex
        self.terms = dict(terms or {})
        self.parts = dict(parts or {})

    def block(self, a: str, b: str | None = None) -> Hessian:
        """The block H_ab of a Hessian over stacked variables, e.g. ``H.block("W1", "W2")``.

        Raises
        ------
        ChoiceError
            ``a`` or ``b`` is not one of the stacked variables (``parts``).
        """
        b = a if b is None else b
        for name in (a, b):
            if name not in self.parts:
                raise ChoiceError("block name", name, self.parts)
        (ra, sa), (rb, sb) = self.parts[a], self.parts[b]
        m = self.storage
        if isinstance(m, Structured):
            m = m.materialize()
        sub = m[ra, rb]
        return Hessian(sp.csr_array(sub) if sp.issparse(sub) else np.array(sub), f=self.f, x=a,
                       y=b, x_shape=sa, y_shape=sb, f_latex=self.f_latex)

    @property
    def symbol(self) -> str:
        """``'∂²f/∂vec(W1)∂vec(W2)'`` (``∂²f/∂vec(W1)²`` for a diagonal block)."""
        a, b = _flat(pretty(self.x), self.of_shape, False), _flat(pretty(self.y), self.wrt_shape,
                                                                  False)
        f = _flat(pretty(self.f), (), False)  # an expression in brackets, as ∂(A x)/∂x
        return f"∂²{f}/∂{a}²" if self.x == self.y else f"∂²{f}/∂{a}∂{b}"

    @property
    def latex_symbol(self) -> str:
        a = _flat(self.x_latex, self.of_shape, True)
        b = _flat(self.y_latex, self.wrt_shape, True)
        bottom = rf"\partial {a}^2" if self.x == self.y else rf"\partial {a}\,\partial {b}"
        return rf"\frac{{\partial^2 {_flat(self.f_latex, (), True)}}}{{{bottom}}}"

    def symmetric_error(self) -> float:
        """``max|H − Hᵀ| / max|H|`` for a diagonal block (0 when exactly symmetric)."""
        dense = self.toarray()
        scale = float(np.max(np.abs(dense))) if dense.size else 0.0
        diff = float(np.max(np.abs(dense - dense.T))) if dense.shape[0] == dense.shape[1] \
            else float("inf")
        return diff / scale if scale else diff

    def __repr__(self) -> str:
        kind = "sparse" if self.issparse or sp.issparse(self.storage) else "dense"
        return f"<Hessian {self.symbol} ({self.shape[0]}×{self.shape[1]}, {kind})>"
