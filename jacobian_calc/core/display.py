"""The one hook between values and their printed forms.

Values (a :class:`~jacobian_calc.Jacobian`, a derivation record, …) know nothing of how
they are printed: their ``__str__``, ``_repr_latex_``, ``to_markdown`` and the like call
:func:`show`, and the render layer (:mod:`jacobian_calc.render`), which sits above every
value, registers the function that does the work when it is imported. Importing
``jacobian_calc`` imports the render layer, so the hook is always set.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["show", "register_renderer", "Printable"]

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


class Printable:
    """What every printable value has: its text, LaTeX, Markdown and data forms, all through :func:`show`.

    The forms are written by the render layer; a value only names the format it wants.
    In Jupyter, ``_repr_markdown_`` and ``_repr_latex_`` hand the value over the same way.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return str(show(self, "text"))

    def to_text(self) -> str:
        """Plain text, as ``print`` shows it."""
        return str(show(self, "text"))

    def to_latex(self) -> str:
        r"""The LaTeX body of a display formula (no ``$$``)."""
        return str(show(self, "latex"))

    def to_markdown(self) -> str:
        """Markdown with the mathematics in ``$…$`` and ``$$…$$``."""
        return str(show(self, "markdown"))

    def to_dict(self) -> dict:
        """JSON-serialisable data (plain dicts, lists, strings and numbers)."""
        return show(self, "dict")  # type: ignore[return-value]

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_latex_(self) -> str:
        return f"$${self.to_latex()}$$"
