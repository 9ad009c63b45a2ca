"""How names, shapes and chains are written: the lecture's notation as plain text.

One place decides how ``yhat`` is shown (``ŷ``), how a matrix variable appears in a
Jacobian (``vec(W1)``) and how a dimension check is spelled, in the form of the
lecture's eq (33): ``(3×3)·(3×2)·(2×1)·(1×5) → 3×5``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "pretty",
    "latex_name",
    "dims",
    "chain_dims",
    "flat_name",
    "derivative_symbol",
    "subscript",
    "component",
]

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_DISPLAY = {"yhat": "ŷ"}
_LATEX = {"yhat": r"\hat{y}"}


def subscript(text: object) -> str:
    """Digits of ``text`` as Unicode subscripts: ``subscript(12) == '₁₂'``."""
    return str(text).translate(_SUBSCRIPT)


def pretty(name: str) -> str:
    """The display form of a node name (``'yhat'`` → ``'ŷ'``; others unchanged)."""
    return _DISPLAY.get(name, name)


def latex_name(name: str) -> str:
    r"""The LaTeX form of a node name: ``'W3'`` → ``'W_{3}'``, ``'yhat'`` → ``'\hat{y}'``."""
    if name in _LATEX:
        return _LATEX[name]
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    if stem and digits:
        return f"{_latex_stem(stem)}_{{{digits}}}"
    return _latex_stem(name)


def _latex_stem(stem: str) -> str:
    if len(stem) == 1:
        return stem
    return r"\mathrm{" + stem.replace("_", r"\_") + "}"


def flat_name(name: str, shape: tuple[int, ...], latex: bool = False) -> str:
    """How a variable appears in a Jacobian: matrices are flattened with vec (eq 16)."""
    shown = latex_name(name) if latex else pretty(name)
    if len(shape) == 2:
        return rf"\operatorname{{vec}}({shown})" if latex else f"vec({shown})"
    return shown


def derivative_symbol(
    of: str,
    wrt: str,
    of_shape: tuple[int, ...],
    wrt_shape: tuple[int, ...],
    latex: bool = False,
) -> str:
    """``∂ŷ/∂vec(W1)``: the symbol of the Jacobian of ``of`` with respect to ``wrt``."""
    a = flat_name(of, of_shape, latex)
    b = flat_name(wrt, wrt_shape, latex)
    if latex:
        return rf"\frac{{\partial {a}}}{{\partial {b}}}"
    return f"∂{a}/∂{b}"


def dims(shape: Sequence[int]) -> str:
    """``(3, 5)`` → ``'3×5'``."""
    return "×".join(str(int(n)) for n in shape)


def chain_dims(shapes: Sequence[Sequence[int]]) -> str:
    """A dimension check in the lecture's eq (33) form.

    Consecutive inner sizes that do not meet are marked with ``✗`` and the arrow then
    points at ``?`` instead of a result shape.

    Examples
    --------
    >>> chain_dims([(3, 3), (3, 2), (2, 1), (1, 5)])
    '(3×3)·(3×2)·(2×1)·(1×5) → 3×5'
    >>> chain_dims([(2, 3), (5, 20)])
    '(2×3)·(5×20) → ✗ 3 ≠ 5'
    """
    parts = "·".join(f"({dims(s)})" for s in shapes)
    for left, right in zip(shapes, shapes[1:]):
        if left[1] != right[0]:
            return f"{parts} → ✗ {left[1]} ≠ {right[0]}"
    return f"{parts} → {shapes[0][0]}×{shapes[-1][1]}"


def component(name: str, index: int | str, latex: bool = False) -> str:
    r"""Entry ``index`` of a vector: ``component('x', 1) == 'x₁'``; LaTeX ``x_{1}``, ``z_{1,3}``."""
    if not latex:
        return f"{pretty(name)}{subscript(index)}"
    if name in _LATEX:
        return f"{_LATEX[name]}_{{{index}}}"
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    if stem and digits:
        return f"{_latex_stem(stem)}_{{{digits},{index}}}"
    return f"{_latex_stem(name)}_{{{index}}}"
