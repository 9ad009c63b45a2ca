"""The one hook between values and their printed forms.

Values (a :class:`~jacobian_calc.Jacobian`, a derivation record, …) know nothing of how
they are printed: their ``__str__``, ``_repr_latex_``, ``to_markdown`` and the like call
:func:`show`, and the render layer (:mod:`jacobian_calc.render`), which sits above every
value, registers the function that does the work when it is imported. Importing
``jacobian_calc`` imports the render layer, so the hook is always set.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["show", "register_renderer"]

_renderer: Callable[[object, str], object] | None = None


def register_renderer(renderer: Callable[[object, str], object]) -> None:
    """Install ``renderer(value, format)``; the render layer calls this once at import."""
    global _renderer
    _renderer = renderer


def show(value: object, fmt: str) -> object:
    """``value`` in the output format ``fmt`` (``"text"``, ``"latex"``, ``"markdown"``, ``"dict"``…)."""
    if _renderer is None:  # pragma: no cover - jacobian_calc/__init__ imports the renderers
        raise RuntimeError("no renderer is registered: import jacobian_calc first")
    return _renderer(value, fmt)
