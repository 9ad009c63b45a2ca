r"""Typeset output: Jacobians and derivations as LaTeX, Markdown and JSON.

The renderers write what the lecture writes. A Jacobian symbol is a fraction,
:math:`\frac{\partial \hat y}{\partial \operatorname{vec}(W_1)}`; each literal factor carries
its label (``W_3``, :math:`\operatorname{diag}(\phi'(h_2))`, :math:`(x_1 I_p, \dots, x_d I_p)`)
and the lecture equation it reproduces; every chain ends with its dimension check in the
form of eq (33), :math:`(q \times q) \cdot (q \times s) \cdot (s \times 1) \cdot (1 \times p)
\to q \times p`.

How much of a matrix is shown depends on its size:

* up to :data:`SMALL_ENTRIES` entries: entry by entry, in a ``bmatrix``;
* a diagonal matrix (eq 29): :math:`\operatorname{diag}(d_1, d_2, \dots, d_n)`;
* a matrix of scalar blocks :math:`c_{ij} I_m` — the Kronecker factor
  :math:`x^\top \otimes I_p = (x_1 I_p, \dots, x_d I_p)` of eq (22) — in block form,
  :math:`\begin{bmatrix} x_1 I_p & \cdots & x_d I_p \end{bmatrix}`;
* anything else: its corner entries with :math:`\cdots`, :math:`\vdots`, :math:`\ddots`.

A big matrix is never made dense to be printed: structure is read from the stored entries.

Conventions of the strings returned here:

* ``to_latex`` functions return the LaTeX *body* of a display formula, without ``$$``
  or ``\[ \]``; the ``_repr_latex_`` hooks wrap it in ``$$ … $$`` for Jupyter.
  Derivations are one ``aligned`` environment (amsmath).
* Markdown uses ``$…$`` and ``$$…$$`` for mathematics (as Jupyter and MyST do) and writes
  dimension checks as plain text (``(3×3)·(3×2)·(2×1)·(1×5) → 3×5``).
* ``*_to_dict`` functions return plain ``dict``/``list``/``str``/``float``/``int``/``None``
  values: ``json.dumps`` accepts them as they are. Non-finite numbers become ``None``.

:func:`check_latex` parses a LaTeX string with a real TeX-math parser (``latex2mathml``,
in the ``test`` extra) and adds the checks that parser leaves out (balanced braces,
commands it does not know, fractions without a denominator, ragged matrices), so users
can check their own output the same way the test-suite checks this module's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core.errors import JacobianCalcError, LatexError, MissingExtraError
from ..core.jacobian import Jacobian
from ..core.notation import dims, latex_name
from ..engine.derivation import Derivation, FactorInfo
from ..engine.formulas import Formula
from .text import formula_parts

__all__ = [
    "SMALL_ENTRIES",
    "check_latex",
    "latex_number",
    "latex_dims",
    "words_latex",
    "matrix_latex",
    "scalar_blocks",
    "block_size",
    "jacobian_latex",
    "derivation_title_latex",
    "derivation_latex",
    "formula_latex",
    "steps_latex",
    "compact_latex_lines",
]

#: Matrices with at most this many entries are written entry by entry.
SMALL_ENTRIES = 64
#: Rows or columns (of entries or of blocks) shown before a big matrix is elided.
_SHOWN = 3
_CDOT = r" \cdot "


# ----------------------------------------------------------------------- small pieces
def latex_number(value: float, digits: int = 4) -> str:
    r"""A number as LaTeX, ``digits`` significant digits; powers of ten as ``\times 10^{k}``.

    Examples
    --------
    >>> latex_number(0.123456), latex_number(-2.0), latex_number(1.5e-7)
    ('0.1235', '-2', '1.5 \\times 10^{-7}')
    """
    v = float(value)
    if np.isnan(v):
        return r"\text{nan}"
    if np.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def latex_dims(check: str) -> str:
    r"""A plain-text dimension check (eq 33 form) in LaTeX.

    Examples
    --------
    >>> latex_dims("(3×3)·(3×2)·(2×1)·(1×5) → 3×5")
    '(3 \\times 3) \\cdot (3 \\times 2) \\cdot (2 \\times 1) \\cdot (1 \\times 5) \\to 3 \\times 5'
    """
    out = (check.replace("×", r" \times ").replace("·", r" \cdot ").replace("→", r" \to ")
           .replace("≠", r" \neq ").replace("✗", r"\text{mismatch: }"))
    return re.sub(r" +", " ", out).strip()


# Characters the plain-text notation uses, as math-mode LaTeX: pdflatex cannot typeset
# them inside \text{…}, so a note or a cost line is split into text runs and math symbols.
_MATH_CHARS = {
    "∂": r"\partial", "φ": r"\phi", "σ": r"\sigma", "δ": r"\delta", "ε": r"\varepsilon",
    "λ": r"\lambda", "Σ": r"\Sigma", "∑": r"\sum", "⊙": r"\odot", "⊗": r"\otimes",
    "·": r"\cdot", "×": r"\times", "→": r"\to", "≠": r"\neq", "≤": r"\leq", "≥": r"\geq",
    "−": "-", "…": r"\dots", "‖": r"\|", "⟨": r"\langle", "⟩": r"\rangle", "ŷ": r"\hat{y}",
    "√": r"\surd", "∛": r"\sqrt[3]{}", "⊤": r"\top", "′": "'", "✗": r"\times", "≈": r"\approx",
    "∞": r"\infty", "ᵢ": "_{i}", "ⱼ": "_{j}", "𝟏": r"\mathbf{1}", "ḡ": r"\bar{g}",
    "Ḡ": r"\bar{G}",
}
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
_SUPERSCRIPTS = {"ᵀ": r"\top", "⁻": "-", "¹": "1", "²": "2", "³": "3"}
_TEXT_CHARS = {"–": "--", "—": "---", "§": "Sec. ", "é": "e", "“": "``", "”": "''", "’": "'"}


def words_latex(words: str) -> str:
    r"""Words as LaTeX: ASCII runs inside ``\text{…}``, the notation's symbols in math mode.

    Characters with a meaning in TeX are replaced inside the text runs; ∂, φ, ᵀ,
    subscript digits and the like become ``\partial``, ``\phi``, ``^{\top}``, ``_{1}``, so
    the result is pure ASCII and compiles with pdflatex as well as in MathJax.
    """
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            safe = "".join(run).translate(str.maketrans(
                {"{": "(", "}": ")", "\\": "/", "&": "+", "%": "pct", "#": "no.", "$": "S",
                 "_": " ", "^": " ", "~": " "}))
            out.append(rf"\text{{{safe}}}")
            run.clear()

    i = 0
    while i < len(words):
        ch = words[i]
        if ch.isascii():
            run.append(ch)
        elif ch in _TEXT_CHARS:
            run.append(_TEXT_CHARS[ch])
        elif ch in _SUBSCRIPTS or ch in _SUPERSCRIPTS:
            table, mark = (_SUBSCRIPTS, "_") if ch in _SUBSCRIPTS else (_SUPERSCRIPTS, "^")
            j = i
            while j < len(words) and words[j] in table:
                j += 1
            flush()
            base = "" if out else "{}"
            out.append(f"{base}{mark}{{{''.join(table[c] for c in words[i:j])}}}")
            i = j
            continue
        else:
            flush()
            # An unknown character is spelled out rather than left for TeX to choke on.
            out.append(_MATH_CHARS.get(ch, rf"\text{{U+{ord(ch):04X}}}") + " ")
        i += 1
    flush()
    return "".join(out).strip() or r"\text{}"


def _eqwords_latex(eq: str | None) -> str:
    r"""``"(27)–(33)"`` → ``\text{eq. (27)–(33)}``; a bare number gets parentheses."""
    if not eq:
        return ""
    return words_latex(f"eq. {eq if eq.startswith('(') else f'({eq})'}")


# --------------------------------------------------------------------------- matrices
def _is_diagonal(matrix: Any) -> bool:
    m, n = matrix.shape
    if m != n or m < 2:
        return False
    if sp.issparse(matrix):
        coo = sp.coo_array(matrix)
        off = coo.row != coo.col
        return not np.any(coo.data[off])
    arr = np.asarray(matrix)
    return not np.any(arr - np.diag(np.diag(arr)))


def _diagonal(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.diagonal()).ravel()


def scalar_blocks(matrix: Any, m: int) -> np.ndarray | None:
    r"""``C`` when ``matrix`` equals :math:`C \otimes I_m` (every m×m block is c·I_m), else ``None``.

    This is how the Kronecker factor of eq (22) is recognised from its entries alone,
    without forming a dense copy of a sparse matrix.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> scalar_blocks(sp.kron([[2.0, -1.0, 3.0]], sp.eye(2)), 2)
    array([[ 2., -1.,  3.]])
    >>> scalar_blocks(np.ones((2, 4)), 2) is None
    True
    """
    rows, cols = matrix.shape
    if m < 2 or rows % m or cols % m:
        return None
    if not sp.issparse(matrix):
        # A dense Jacobian is usually dense everywhere: reject it on its first block
        # before building a sparse copy of all of it.
        first = np.asarray(matrix[:m, :m], dtype=np.float64)
        if np.any(first - first[0, 0] * np.eye(m)):
            return None
    coo = sp.coo_array(matrix) if sp.issparse(matrix) else sp.coo_array(np.asarray(matrix))
    keep = coo.data != 0
    r, c, v = coo.row[keep], coo.col[keep], coo.data[keep]
    if np.any(r % m != c % m):
        return None
    coefficients = np.zeros((rows // m, cols // m))
    first = (r % m) == 0
    coefficients[r[first] // m, c[first] // m] = v[first]
    rebuilt = sp.kron(sp.csr_array(coefficients), sp.eye_array(m), format="csr")
    difference = rebuilt - sp.csr_array((v, (r, c)), shape=matrix.shape)
    if difference.count_nonzero():
        return None
    return coefficients


def _elided(n: int) -> list[int | None]:
    """Indices shown along an axis of length n: all, or the first few, ``None`` (dots), the last."""
    if n <= _SHOWN + 1:
        return list(range(n))
    return [*range(_SHOWN), None, n - 1]


#: amsmath's ``bmatrix`` takes at most this many columns (its ``MaxMatrixCols``).
_BMATRIX_COLUMNS = 10


def _bmatrix(cells: Sequence[Sequence[str]]) -> str:
    body = r" \\ ".join(" & ".join(row) for row in cells)
    columns = max((len(row) for row in cells), default=0)
    if columns > _BMATRIX_COLUMNS:  # a wide row (a 1×20 gradient) needs no preamble setting
        return rf"\left[\begin{{array}}{{{'c' * columns}}} {body} \end{{array}}\right]"
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def _corner_grid(matrix: Any, fmt: Any) -> str:
    """A bmatrix of the shown rows and columns, with dots where entries are elided."""
    m, n = matrix.shape
    ri, ci = _elided(m), _elided(n)
    take_r = [i for i in ri if i is not None]
    take_c = [j for j in ci if j is not None]
    if sp.issparse(matrix):
        block = sp.csr_array(matrix)[take_r][:, take_c].toarray()
    else:
        block = np.asarray(matrix)[np.ix_(take_r, take_c)]
    cells = []
    rpos = 0
    for i in ri:
        row = []
        cpos = 0
        for j in ci:
            if i is None and j is None:
                row.append(r"\ddots")
            elif i is None:
                row.append(r"\vdots")
            elif j is None:
                row.append(r"\cdots")
            else:
                row.append(fmt(block[rpos, cpos]))
            if j is not None:
                cpos += 1
        if i is not None:
            rpos += 1
        cells.append(row)
    return _bmatrix(cells)


def matrix_latex(matrix: Any, *, block: int | None = None) -> str:
    r"""The entries of a 2-D matrix in LaTeX, never through a dense copy of a big matrix.

    Parameters
    ----------
    matrix : numpy.ndarray or scipy sparse array, shape (m, n)
    block : int, optional
        Try the block form :math:`C \otimes I_{block}` (eq 22) for a big matrix.

    Returns
    -------
    str
        A ``bmatrix`` of every entry when m·n ≤ :data:`SMALL_ENTRIES`; otherwise
        ``\operatorname{diag}(…)`` for a diagonal matrix, a ``bmatrix`` of blocks
        ``c I_m`` when the matrix has that structure, or the corner entries with dots.

    Examples
    --------
    >>> matrix_latex(np.array([[1.0, 0.5], [0.0, -2.0]]))
    '\\begin{bmatrix} 1 & 0.5 \\\\ 0 & -2 \\end{bmatrix}'
    >>> import scipy.sparse as sp
    >>> matrix_latex(sp.diags_array(np.arange(1.0, 101.0)))
    '\\operatorname{diag}(1, 2, 3, \\dots, 100)'
    """
    if getattr(matrix, "ndim", 2) != 2:
        raise JacobianCalcError(f"matrix_latex needs a 2-D matrix, got shape {np.shape(matrix)}")
    m, n = matrix.shape
    if m * n <= SMALL_ENTRIES:
        arr = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, dtype=float)
        return _bmatrix([[latex_number(v) for v in row] for row in arr])
    if _is_diagonal(matrix):
        d = _diagonal(matrix)
        shown = [latex_number(d[i]) if i is not None else r"\dots" for i in _elided(d.size)]
        return rf"\operatorname{{diag}}({', '.join(shown)})"
    if block is not None:
        coefficients = scalar_blocks(matrix, block)
        if coefficients is not None:
            eye = rf"I_{{{block}}}"
            return _corner_grid(coefficients,
                                lambda v: "0" if v == 0 else rf"{latex_number(v)}\, {eye}")
    return _corner_grid(matrix, latex_number)


# -------------------------------------------------------------------------- Jacobians
def block_size(J: Jacobian) -> int | None:
    """The m of ∂(…)/∂vec(W) for W with m rows: the size of a C ⊗ I_m block, if any."""
    return J.wrt_shape[0] if len(J.wrt_shape) == 2 else None


def jacobian_latex(J: Jacobian) -> str:
    r"""∂a/∂b as a LaTeX formula: symbol, label, entries (or block form), shape, equation.

    Returns the body of a display formula (no ``$$``), e.g. for eq (22) with d = 2:
    ``\frac{\partial h_{1}}{\partial \operatorname{vec}(W_{1})} = \left(x_{1} I_{2}, x_{2}
    I_{2}\right) = \begin{bmatrix} … \end{bmatrix} \qquad (2 \times 4) \quad \text{eq. (22)}``.

    Examples
    --------
    >>> from jacobian_calc import Jacobian
    >>> J = Jacobian(np.eye(2), of="y", wrt="x", of_shape=(2,), wrt_shape=(2,), label="I",
    ...              latex="I")
    >>> J.to_latex()
    '\\frac{\\partial y}{\\partial x} = I = \\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix} \\qquad (2 \\times 2)'
    """
    parts = [J.latex_symbol]
    # A label given only as text is typeset as words rather than guessed at as LaTeX.
    label = J.latex or (words_latex(J.label) if J.label else None)
    if label and label != J.latex_symbol:
        parts.append(label)
    parts.append(matrix_latex(J.matrix, block=block_size(J)))
    tail = rf" \qquad ({latex_dims(dims(J.shape))})"
    if J.equation:
        tail += rf" \quad {_eqwords_latex(J.equation)}"
    return " = ".join(parts) + tail


# ------------------------------------------------------------------------ derivations
def derivation_title_latex(d: Derivation) -> str:
    """∂f/∂W as a fraction: the derivative shaped like its variable (eq 12), no vec."""
    of = d.of_latex or latex_name(d.of)
    wrt = d.wrt_latex or latex_name(d.wrt)
    return rf"\frac{{\partial {of}}}{{\partial {wrt}}}"


def _term_latex(previous: str | None, f: FactorInfo) -> str:
    """``previous · ∂a/∂b, ∂a/∂b = label (eq)`` — or the label alone for the first factor."""
    eq = rf" \quad {_eqwords_latex(f.equation)}" if f.equation else ""
    if previous is None:
        return f"{f.latex}{eq}"
    return rf"{previous} \cdot {f.latex_symbol}, \quad {f.latex_symbol} = {f.latex}{eq}"


def derivation_latex(d: Derivation) -> str:
    r"""The derivation as one amsmath ``aligned`` block (no ``$$``): every step, chain and check.

    Lines, in order: title with the lecture equations; the known quantities and the
    forward pass; each step tail to head with its factor, label, equation and eq (33)
    style dimension check; the chain rule product per path with its check; Lemma 2.6 in
    matrix form with its check; the gradient's value; notes (as text).
    """
    eqs = d.equations
    lines = [rf"&{words_latex('Derivation of ')} {derivation_title_latex(d)}"
             + (rf" \quad {_eqwords_latex(eqs['title'])}" if "title" in eqs else "")]
    if d.setting_latex:
        lines += [f"&{line}" for line in d.setting_latex]
    else:
        lines += [f"&{words_latex(line)}" for line in d.setting]
    for k, step in enumerate(d.steps, 1):
        for j, ((_, prev_tex, f), check) in enumerate(zip(step.terms, step.checks)):
            lead = rf"{words_latex(f'Step {k}: ')} {step.target_latex} = " if j == 0 else r"\quad + "
            lines.append(f"&{lead}{_term_latex(prev_tex, f)} && {latex_dims(check)}")
        value = step.result.matrix
        lines.append(rf"&\quad = {matrix_latex(value, block=block_size(step.result))}")
    for p, check in zip(d.paths, d.path_checks):
        chain = eqs.get("chain")
        lines.append(rf"&{words_latex('Chain rule')}" + (rf" \quad {_eqwords_latex(chain)}" if chain else ""))
        lines.append(rf"&\quad {d.steps[-1].target_latex if d.steps else d.result.latex_symbol}"
                     rf" = {_CDOT.join(f.latex_symbol for f in p)}")
        lines.append(rf"&\quad \phantom{{=}} = {_CDOT.join(f.latex for f in p)}"
                     rf" && {latex_dims(check)}")
    if d.path_count > 1:
        lines.append(rf"&{words_latex(f'the sum of these {d.path_count} paths')}")
    if d.matrix_form is not None:
        mf = d.matrix_form
        lines.append(rf"&{words_latex('Lemma 2.6 in matrix form')}"
                     + (rf" \quad {_eqwords_latex(eqs['matrix'])}" if "matrix" in eqs else ""))
        lines.append(rf"&\quad {derivation_title_latex(d)} = {_CDOT.join(mf.latex_factors)}"
                     rf" && {latex_dims(mf.check)}"
                     + (rf" \quad {_eqwords_latex(eqs['check'])}" if "check" in eqs else ""))
    if d.gradient is not None:
        g = d.gradient
        shown = g if g.ndim == 2 else g.reshape(-1, 1)
        lines.append(rf"&{words_latex('Value')} \quad {derivation_title_latex(d)} = {matrix_latex(shown)}")
    for k, report in enumerate(d.costs, 1):
        which = f", path {k}" if len(d.costs) > 1 else ""
        lines.append(rf"&{words_latex(f'Evaluation order{which}, multiply-adds')}")
        lines += [rf"&\quad {words_latex(line)}" for line in report.lines()]
    lines += [rf"&{words_latex('Note: ' + n)}" for n in d.notes]
    if d.formula is not None:  # the derivation ends in its compact form
        lines += steps_latex(d.formula) + compact_latex_lines(d.formula)
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


# ----------------------------------------------------------------------------- formulas
def _definitions_latex(f: Formula) -> str:
    return r",\ ".join(f"{sym.written.latex} = {d.latex}" for sym, d in f.definitions)


def formula_latex(f: Formula) -> str:
    """The equation as the body of a display formula; with definitions, an ``aligned`` block."""
    if not f.definitions:
        return f.equation.latex
    return ("\\begin{aligned}\n&" + f.equation.latex + " \\\\\n&" + words_latex("where ")
            + " " + _definitions_latex(f) + "\n\\end{aligned}")


def _rules_latex(rules: tuple[str, ...]) -> str:
    return words_latex("by " + "; ".join(rules)) if rules else ""


def steps_latex(f: Formula) -> list[str]:
    """The rewriting steps as lines of an ``aligned`` block (each starting with ``&``)."""
    lines = [f"&{words_latex('From the chain to the formula')}"]
    for k, step in enumerate(f.steps, 1):
        lead = rf"&{words_latex(f'{k}. ')} {step.target.latex}"
        if step.kind == "rewrite":
            lines.append(rf"{lead}: \quad {step.before.latex} = {step.after.latex}")
            source = r"\bar{g}" if step.before.text.startswith("ḡ") else r"\bar{G}"
            with_ = (rf" \quad {words_latex('with')} {source} = {step.source.latex}"
                     if step.source is not None else "")
            lines.append(rf"&\quad {_rules_latex(step.rules)}{with_}")
            lines.append(rf"&\quad = {step.value.latex}")
        else:
            word = words_latex(", the paths summed: ") if step.kind == "collect" else "="
            lines.append(rf"{lead} {word} {step.before.latex}")
            if step.after.text != step.before.text:
                by = rf" \quad {_rules_latex(step.rules)}" if step.rules else ""
                lines.append(rf"&\quad = {step.after.latex}{by}")
    return lines


def compact_latex_lines(f: Formula) -> list[str]:
    """The compact form as lines of an ``aligned`` block."""
    state = formula_parts(f)["state"]
    lines = [rf"&{words_latex(f'Compact form; {state}:')}", rf"&\quad {f.equation.latex}"]
    if f.definitions:
        lines.append(rf"&\quad {words_latex('where ')} {_definitions_latex(f)}")
    return lines



# ---------------------------------------------------------------------------- checking
_ARITY = {"mfrac": 2, "msub": 2, "msup": 2, "msubsup": 3, "munder": 2, "mover": 2,
          "munderover": 3, "mroot": 2}


def _braces_balanced(latex: str) -> str | None:
    """Why the braces of ``latex`` do not balance, or None (escaped ``\\{`` ``\\}`` skipped)."""
    depth = 0
    i = 0
    while i < len(latex):
        ch = latex[i]
        if ch == "\\":
            i += 2  # a command's first character, including \{ \} \\
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return f"unmatched '}}' at position {i}"
        i += 1
    return f"{depth} unclosed '{{'" if depth else None


def _split_top(latex: str, sep: str) -> list[str]:
    """Split at ``sep`` (``\\\\`` or ``&``) outside braces and nested environments."""
    parts, start, depth, i = [], 0, 0, 0
    while i < len(latex):
        if latex.startswith(sep, i) and depth == 0:
            parts.append(latex[start:i])
            i += len(sep)
            start = i
            continue
        if latex.startswith("\\begin{", i):
            depth += 1
        elif latex.startswith("\\end{", i):
            depth -= 1
        ch = latex[i]
        if ch == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        i += 1
    parts.append(latex[start:])
    return parts


def _parse(latex: str, whole: str) -> str:
    """One formula through latex2mathml, with the checks the parser leaves out."""
    from latex2mathml.converter import convert
    import xml.etree.ElementTree as ET

    def fail(why: str) -> LatexError:
        return LatexError(f"malformed LaTeX ({why}): {whole}")

    unbalanced = _braces_balanced(latex)
    if unbalanced:
        raise fail(unbalanced)
    try:
        mathml = convert(latex)
    except Exception as exc:  # the parser raises its own exception types
        raise fail(f"{type(exc).__name__} {exc}".strip()) from None
    try:
        tree = ET.fromstring(mathml)
    except ET.ParseError:  # e.g. a bare '&' outside an environment is copied through raw
        raise fail("no valid MathML; is there an '&' outside a matrix?") from None
    for el in tree.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in _ARITY and len(el) != _ARITY[tag]:
            raise fail(f"<{tag}> with {len(el)} arguments instead of {_ARITY[tag]}")
        if tag in ("mi", "mo") and el.text and el.text.startswith("\\"):
            raise fail(f"unknown command {el.text}")
        if tag in ("mi", "mo") and el.text == "&":
            raise fail("'&' outside a matrix or an aligned environment")
        if tag in ("mi", "mo") and not (el.text or len(el)) and not el.attrib:
            raise fail(f"empty <{tag}>, e.g. a command without its argument")
        if tag == "mtable":
            widths = {len(row) for row in el if row.tag.rsplit("}", 1)[-1] == "mtr"}
            if len(widths) > 1:
                raise fail(f"matrix rows of different lengths {sorted(widths)}")
    return mathml


_ALIGNED = re.compile(r"\s*\\begin\{aligned\}(.*)\\end\{aligned\}\s*", re.S)


def check_latex(latex: str) -> str:
    r"""Parse ``latex`` as TeX mathematics; return its MathML or raise :class:`LatexError`.

    The parser is ``latex2mathml`` (install the ``test`` extra). On its own it accepts
    some malformed input, so the result is also checked: braces must balance, every
    command must be known to the parser, fractions, scripts and accents must have all
    their arguments, ``&`` may appear only in a matrix or an ``aligned`` block, and
    every row of a matrix must have the same number of cells (stricter than TeX, which
    allows short rows), and the text must be ASCII, as pdflatex needs. An ``aligned`` block is checked cell by cell, as TeX typesets
    it: a ``\left(`` in one cell cannot be closed in another.

    Examples
    --------
    >>> check_latex(r"\frac{\partial f}{\partial \operatorname{vec}(W_{1})}").startswith("<math")
    True
    >>> check_latex(r"\frac{a}{b")
    Traceback (most recent call last):
    ...
    jacobian_calc.LatexError: malformed LaTeX (1 unclosed '{'): \frac{a}{b
    """
    try:
        import latex2mathml.converter  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("check_latex needs latex2mathml: pip install "
                                "'jacobian_calc[test]'") from exc
    if not isinstance(latex, str) or not latex.strip():
        raise LatexError(f"malformed LaTeX (empty): {latex!r}")
    foreign = sorted({ch for ch in latex if not ch.isascii()})
    if foreign:  # MathJax would cope, but pdflatex stops at the first one
        raise LatexError(f"non-ASCII characters {''.join(foreign)!r} that pdflatex cannot "
                         f"typeset: {latex}")
    aligned = _ALIGNED.fullmatch(latex)
    if aligned:
        unbalanced = _braces_balanced(latex)
        if unbalanced:
            raise LatexError(f"malformed LaTeX ({unbalanced}): {latex}")
        return "\n".join(_parse(cell, latex) for row in _split_top(aligned[1], "\\\\")
                         for cell in _split_top(row, "&") if cell.strip())
    return _parse(latex, latex)

