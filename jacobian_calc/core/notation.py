"""How names, shapes and chains are written: the lecture's notation as plain text.

One place decides how ``yhat`` is shown (``ŷ``), how a matrix variable appears in a
Jacobian (``vec(W1)``) and how a dimension check is spelled, in the form of the
lecture's eq (33): ``(3×3)·(3×2)·(2×1)·(1×5) → 3×5``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "pretty",
    "latex_name",
    "operator_name",
    "dims",
    "chain_dims",
    "flat_name",
    "derivative_symbol",
    "subscript",
    "component",
    "Form",
    "form",
    "Template",
]

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_DISPLAY = {"yhat": "ŷ"}
_LATEX = {"yhat": r"\hat{y}"}


def subscript(text: object) -> str:
    """Digits of ``text`` as Unicode subscripts: ``subscript(12) == '₁₂'``."""
    return str(text).translate(_SUBSCRIPT)


def pretty(name: str) -> str:
    """The display form of a node name (``'yhat'`` → ``'ŷ'``, ``'yhat3'`` → ``'ŷ3'``; others unchanged)."""
    stem = name.rstrip("0123456789")
    if stem in _DISPLAY and stem != name:  # a numbered one, one per time step
        return _DISPLAY[stem] + name[len(stem):]
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
    if stem in _LATEX:  # yhat3 → \hat{y}_{3}
        return _LATEX[stem]
    if len(stem) == 1:
        return stem
    return r"\mathrm{" + _escape(stem) + "}"


_SPECIAL = re.compile(r"([#$%&_{}])")


def _escape(text: str) -> str:
    """``text`` with the characters TeX reads as markup escaped (``_`` is a subscript)."""
    return _SPECIAL.sub(r"\\\1", text)


def operator_name(name: str) -> str:
    r"""How a function's name is written in LaTeX: ``'relu'`` → ``'\operatorname{relu}'``.

    A name of letters only is an ``\operatorname``. Any other (``'soft_sign'``, ``'log2'``)
    is ``\mathop{\mathrm{soft\_sign}}``, the same upright operator with its ``_`` escaped:
    unescaped it would be a subscript, and latex2mathml (the checker of
    :func:`~jacobian_calc.render.check_latex`) reads ``\operatorname`` of letters only.
    """
    if name.isascii() and name.isalpha():
        return rf"\operatorname{{{name}}}"
    return rf"\mathop{{\mathrm{{{_escape(name)}}}}}"


def _bracketed(shown: str, latex: bool) -> str:
    """An expression in parentheses when it has an operator outside brackets (``A x + b``),
    so ∂ and / bind to all of it; a name or a call such as ``tr(A X)`` is left as it is."""
    depth = 0
    plain = shown.replace(r"\left(", "(").replace(r"\right)", ")")
    for ch in plain:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in " +−-·⊙⊗/":
            return rf"\left({shown}\right)" if latex else f"({shown})"
    return shown


def flat_name(name: str, shape: tuple[int, ...], latex: bool = False, *,
              formed: bool = False) -> str:
    """How a variable appears in a Jacobian: matrices are flattened with vec (eq 16).

    ``formed=True`` takes ``name`` as already written (an expression's text or LaTeX).
    """
    shown = name if formed else (latex_name(name) if latex else pretty(name))
    if len(shape) == 2:
        return rf"\operatorname{{vec}}({shown})" if latex else f"vec({shown})"
    return _bracketed(shown, latex)


def derivative_symbol(
    of: str,
    wrt: str,
    of_shape: tuple[int, ...],
    wrt_shape: tuple[int, ...],
    latex: bool = False,
    *,
    formed: bool = False,
) -> str:
    """``∂ŷ/∂vec(W1)``: the symbol of the Jacobian of ``of`` with respect to ``wrt``.

    ``formed=True`` takes ``of`` and ``wrt`` as already written (LaTeX of expressions).
    """
    a = flat_name(of, of_shape, latex, formed=formed)
    b = flat_name(wrt, wrt_shape, latex, formed=formed)
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


# ============================================================== notation templates
class Form(NamedTuple):
    """One piece of notation in both forms: plain text (Unicode) and LaTeX."""

    text: str
    latex: str


def form(value: object) -> Form:
    """A field value as a :class:`Form`: a Form as it is, a number or a name in both forms."""
    if isinstance(value, Form):
        return value
    if isinstance(value, bool):
        raise TypeError("a notation field cannot be a bool")
    if isinstance(value, (int, np.integer)):
        return Form(str(int(value)), str(int(value)))
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):g}"
        return Form(text.replace("-", "−"), text)
    if isinstance(value, str):
        return Form(pretty(value), latex_name(value))
    raise TypeError(f"a notation field must be a Form, a number or a name, got {value!r}")


_FIELD = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9]+)")
_CONTROL = re.compile(r"\\([A-Za-z]+|.)")

#: Control words written as one character (or nothing) in the text form.
_WORDS = {
    "otimes": "⊗", "odot": "⊙", "oslash": "⊘", "cdot": "·", "times": "×", "phi": "φ", "sigma": "σ",
    "partial": "∂", "sum": "Σ", "lVert": "‖", "rVert": "‖", "lvert": "|", "rvert": "|",
    "dots": "…", "ldots": "…", "cdots": "…", "exp": "exp", "log": "log", "det": "det",
    "tanh": "tanh", "max": "max", "min": "min", "textstyle": "", "displaystyle": "",
    "left": "", "right": "", "top": "ᵀ", "infty": "∞", "delta": "δ", "varepsilon": "ε",
    "epsilon": "ε", "lambda": "λ", "mu": "μ", "quad": " ", "qquad": " ", "to": "→",
    "neq": "≠", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "circ": "∘", "Sigma": "Σ",
}
#: Control symbols (a backslash and one non-letter).
_SYMBOLS = {",": "·", ":": "", " ": " ", ";": " ", "!": "", "{": "{", "}": "}", "|": "‖",
            "\\": " ", "_": "_", "#": "#", "%": "%", "&": "&"}
#: Commands with one argument, and how the text form writes it.
_ONE_ARG = {
    "operatorname": lambda a: a, "mathop": lambda a: a, "mathrm": lambda a: a, "text": lambda a: a,
    "mathbf": lambda a: a, "boldsymbol": lambda a: a, "hat": lambda a: a + "\u0302",
    "sqrt": lambda a: f"√({a})" if len(a) > 1 else f"√{a}",
}
_SUPER = str.maketrans("0123456789-−+()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻⁺⁽⁾")
_SUB = str.maketrans("0123456789,ijknmt", "₀₁₂₃₄₅₆₇₈₉,ᵢⱼₖₙₘₜ")
_PLACEHOLDER = "\ue000"


def _script(content: str, table: dict, mark: str) -> str:
    if content == "ᵀ" or content == "":
        return content
    if content in ("−ᵀ", "-ᵀ"):
        return "⁻ᵀ" if mark == "^" else "_−ᵀ"
    if all(ord(c) in table for c in content):
        return content.translate(table)
    return f"{mark}{content}" if len(content) == 1 else f"{mark}({content})"


class Template:
    r"""A notation template written once, in a small subset of LaTeX, for text and LaTeX output.

    ``$0``, ``$1``, … stand for the arguments and ``$name`` for named fields; everything
    else is LaTeX. :meth:`latex` substitutes the fields' LaTeX forms; :meth:`text` turns
    the LaTeX into plain Unicode (``\operatorname{diag}`` → diag, ``^\top`` → ᵀ,
    ``_{12}`` → ₁₂, ``\otimes`` → ⊗, ``-`` → −, ``\,`` → ·, while the medium space ``\:``
    separates in LaTeX only: ``x_{1}\:I_{5}`` is ``x₁I₅``) with the fields' text forms.
    So every operation states its notation in one place and both outputs agree.

    Examples
    --------
    >>> t = Template(r"\operatorname{diag}($fn'($0))")
    >>> t.text(fn=Form("φ", r"\phi"), **{"0": "h2"})
    'diag(φ′(h2))'
    >>> t.latex(fn=Form("φ", r"\phi"), **{"0": "h2"})
    "\\operatorname{diag}(\\phi'(h_{2}))"
    >>> Template(r"I_{$n}\otimes $0^{-\top}").text(n=3, **{"0": "X"})
    'I₃⊗X⁻ᵀ'
    """

    __slots__ = ("source", "fields")

    def __init__(self, source: str) -> None:
        self.source = source
        self.fields = tuple(dict.fromkeys(m.group(1) for m in _FIELD.finditer(source)))
        # Fail now, at definition time, on LaTeX the text converter does not know.
        self.text(**{f: Form("a", "a") for f in self.fields})

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def _values(self, fields: dict[str, object]) -> dict[str, Form]:
        missing = [f for f in self.fields if f not in fields]
        if missing:
            raise KeyError(f"template {self.source!r} needs the field(s) {', '.join(missing)}")
        return {name: form(fields[name]) for name in self.fields}

    def latex(self, **fields: object) -> str:
        """The LaTeX form, fields substituted (a space keeps a control word apart from a letter)."""
        values = self._values(fields)

        def sub(m: re.Match) -> str:
            return values[m.group(1)].latex

        out = []
        pos = 0
        for m in _FIELD.finditer(self.source):
            before = self.source[pos:m.start()]
            out.append(before)
            value = sub(m)
            if re.search(r"\\[A-Za-z]+$", before) and value[:1].isalpha():
                out.append(" ")
            out.append(value)
            pos = m.end()
        out.append(self.source[pos:])
        return "".join(out)

    def text(self, **fields: object) -> str:
        """The plain-text form, fields substituted."""
        values = self._values(fields)
        atoms: list[str] = []

        def placeholder(m: re.Match) -> str:
            atoms.append(values[m.group(1)].text)
            return _PLACEHOLDER + chr(0xE100 + len(atoms) - 1)

        marked = _FIELD.sub(placeholder, self.source)
        text, end = _to_text(marked, 0, atoms, self.source)
        return text

    def form(self, **fields: object) -> Form:
        """Both forms at once."""
        return Form(self.text(**fields), self.latex(**fields))


def _group(source: str, i: int, atoms: list[str], whole: str) -> tuple[str, int]:
    """The text of one argument at ``source[i]``: a {group}, a command or one character."""
    while i < len(source) and source[i] == " ":
        i += 1
    if i >= len(source):
        raise ValueError(f"template {whole!r}: an argument is missing at its end")
    if source[i] == "{":
        return _to_text(source, i + 1, atoms, whole, closing="}")
    if source[i] == "\\":
        return _to_text(source, i, atoms, whole, single=True)
    if source[i] == _PLACEHOLDER:
        return atoms[ord(source[i + 1]) - 0xE100], i + 2
    return ("−" if source[i] == "-" else source[i]), i + 1


def _to_text(source: str, i: int, atoms: list[str], whole: str, closing: str | None = None,
             single: bool = False) -> tuple[str, int]:
    out: list[str] = []
    while i < len(source):
        ch = source[i]
        if closing is not None and ch == closing:
            return "".join(out), i + 1
        if ch == _PLACEHOLDER:
            out.append(atoms[ord(source[i + 1]) - 0xE100])
            i += 2
        elif ch == "\\":
            m = _CONTROL.match(source, i)
            if m is None:
                raise ValueError(f"template {whole!r}: a lone backslash at its end")
            name = m.group(1)
            i = m.end()
            spaced = False
            before = m.start() > 0 and source[m.start() - 1] == " "
            if name.isalpha():
                while i < len(source) and source[i] == " ":  # a space after a word is not output
                    i, spaced = i + 1, True
            if name in _WORDS:
                word = _WORDS[name]
                # … unless the word is a function name ("log softmax", not "logsoftmax") or
                # an operator spaced on both sides in the template ("A ⊙ B", but "Bᵀ⊗I₃")
                keep = spaced and (word.isalpha() or before)
                out.append(word + " " if keep else word)
            elif name in _SYMBOLS:
                out.append(_SYMBOLS[name])
            elif name in _ONE_ARG:
                arg, i = _group(source, i, atoms, whole)
                out.append(_ONE_ARG[name](arg))
            elif name in ("frac", "tfrac", "dfrac"):
                top, i = _group(source, i, atoms, whole)
                bottom, i = _group(source, i, atoms, whole)
                out.append("½" if (top, bottom) == ("1", "2") else
                           f"{_paren(top)}/{_paren(bottom)}")
            else:
                raise ValueError(f"template {whole!r}: \\{name} has no text form")
        elif ch in "^_":
            content, i = _group(source, i + 1, atoms, whole)
            out.append(_script(content, _SUPER if ch == "^" else _SUB, ch))
        elif ch == "{":
            inner, i = _to_text(source, i + 1, atoms, whole, closing="}")
            out.append(inner)
        elif ch == "}":
            raise ValueError(f"template {whole!r}: an unmatched '}}'")
        elif ch == "-":
            out.append("−")
            i += 1
        elif ch == "'":
            out.append("′")
            i += 1
        else:
            out.append(ch)
            i += 1
        if single:
            return "".join(out), i
    if closing is not None:
        raise ValueError(f"template {whole!r}: an unclosed '{{'")
    return "".join(out), i


def _paren(text: str) -> str:
    return text if len(text) <= 1 or text.isalnum() else f"({text})"
