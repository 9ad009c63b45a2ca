r"""A safe parser for matrix-calculus expressions such as ``"trace(A @ X @ B)"``.

The text is read by :func:`ast.parse` (``mode="eval"``) and every node of the tree is
checked against a whitelist before anything is built; nothing is ever handed to ``eval``,
``exec`` or ``compile``. What is allowed:

* numbers (int or float constants, finite);
* names of declared variables, and calls of whitelisted functions by bare name
  (``trace(X)``, never ``np.trace(X)``) with positional expression arguments; a function
  with parameters (:attr:`Operation.call_params <jacobian_calc.ops.base.Operation.call_params>`)
  takes them after its expressions, by position or by keyword, as numeric constants:
  ``conv2d(X, K, 2, 1)``, ``conv2d(X, K, stride=2)``, ``layer_norm(X, eps=1e-5)``,
  ``softmax(X, axis=1)``;
* the operators ``+ - * / @ **`` and unary ``-``/``+``; a power's exponent must be a
  numeric constant with ``|k| ≤ 64``;
* one attribute: ``.T`` (the transpose).

Everything else — other attributes, subscripts, lambdas, comprehensions, other keywords,
comparisons, strings, dunder names, statements — is refused with an
:class:`ExpressionSyntaxError` that carries the position (line, column and a caret under
the culprit) and the reason. Length (≤ 2000 characters), bracket nesting (≤ 64) and runs
of prefix operators (≤ 64) are checked before :func:`ast.parse` runs, so no input can
exhaust the parser; the depth of the tree (≤ 64) is checked iteratively before the
recursive build.

Examples
--------
>>> validate("trace(A @ X.T) + 2 * sum(X ** 2)", variables=["A", "X"]).body.__class__.__name__
'BinOp'
>>> validate("X.__class__", variables=["X"])
Traceback (most recent call last):
...
jacobian_calc.ExpressionSyntaxError: forbidden construct at line 1, column 2: attribute '.__class__' is not allowed (the only attribute is .T, the transpose)
  X.__class__
   ^^^^^^^^^^
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..core.errors import ExpressionSyntaxError, JacobianCalcError
from ..ops import TABLE
from ..ops.base import LiveView
from .expr import FUNCTIONS

__all__ = [
    "ALLOWED_FUNCTIONS",
    "call_parts",
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "ExpressionSyntaxError",
    "validate",
    "parse_expression",
    "variable_names",
]

#: The longest source accepted, in characters; checked before :func:`ast.parse` runs.
MAX_LENGTH = 2000
#: The deepest nesting accepted (brackets, prefix operators, syntax-tree depth).
MAX_DEPTH = 64
#: The largest absolute value of a constant exponent in ``**``.
MAX_EXPONENT = 64


#: The callable names and their (min, max) argument counts, generated from the table.
ALLOWED_FUNCTIONS: Mapping[str, tuple[int, int]] = LiveView(TABLE.parser_functions,
                                                            "allowed functions")

_BINOPS: Mapping[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.MatMult: ("@", operator.matmul),
    ast.Div: ("/", operator.truediv),
    ast.Pow: ("**", operator.pow),
}
#: How the refused operators are written, for messages.
_OPERATOR_NAMES: Mapping[type, str] = {
    ast.BitXor: "^", ast.BitAnd: "&", ast.BitOr: "|", ast.FloorDiv: "//", ast.Mod: "%",
    ast.LShift: "<<", ast.RShift: ">>",
}
_UNARY: Mapping[type, tuple[str, Callable[[Any], Any]]] = {
    ast.USub: ("-", operator.neg),
    ast.UAdd: ("+", operator.pos),
}

# Why a construct is refused, in words a user understands.
_REASONS: Mapping[str, str] = {
    "Lambda": "lambda expressions are not allowed",
    "ListComp": "comprehensions are not allowed",
    "SetComp": "comprehensions are not allowed",
    "DictComp": "comprehensions are not allowed",
    "GeneratorExp": "generator expressions are not allowed",
    "Subscript": "subscripts (indexing and slicing) are not allowed",
    "Slice": "slices are not allowed",
    "Starred": "starred arguments are not allowed",
    "Compare": "comparisons are not allowed",
    "BoolOp": "boolean operators (and/or) are not allowed",
    "IfExp": "conditional expressions (x if c else y) are not allowed",
    "NamedExpr": "assignment expressions (:=) are not allowed",
    "JoinedStr": "strings are not allowed",
    "FormattedValue": "strings are not allowed",
    "List": "lists are not allowed",
    "Tuple": "tuples are not allowed",
    "Set": "sets are not allowed",
    "Dict": "dictionaries are not allowed",
    "Await": "await is not allowed",
    "Yield": "yield is not allowed",
    "YieldFrom": "yield is not allowed",
}


# -------------------------------------------------------------------- positions
def _lines(source: str) -> list[str]:
    """Lines as Python's tokenizer counts them (str.splitlines also splits at \f, \x1c, …)."""
    return re.split(r"\r\n|\r|\n", source)


def _printable(text: str) -> str:
    # one visible character per character, so the caret stays aligned
    return "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)


def _caret(source: str, line: int, column: int, width: int = 1) -> str:
    """The source line and a caret line under columns [column, column + width) (1-based)."""
    lines = _lines(source)
    text = _printable(lines[line - 1]) if 1 <= line <= len(lines) else ""
    if len(text) > 100:  # keep a window around the culprit on very long lines
        start = max(0, column - 50)
        text, column = ("…" + text[start:start + 100]), column - start + 1
    width = max(1, min(width, len(text) - column + 1 if text else 1))
    return f"  {text}\n  {' ' * (column - 1)}{'^' * width}"


def _refuse(source: str, line: int, column: int, reason: str, *, width: int = 1,
            kind: str = "forbidden construct") -> ExpressionSyntaxError:
    where = _caret(source, line, column, width)
    message = f"{kind} at line {line}, column {column}: {reason}\n{where}"
    return ExpressionSyntaxError(message, position=(line, column), reason=reason)


def _char_column(source: str, line: int, byte_offset: int) -> int:
    """ast gives UTF-8 byte offsets; carets need character columns (1-based)."""
    lines = _lines(source)
    text = lines[line - 1] if 1 <= line <= len(lines) else ""
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore")) + 1


def _node_refusal(source: str, node: ast.AST, reason: str,
                  kind: str = "forbidden construct") -> ExpressionSyntaxError:
    line = getattr(node, "lineno", 1)
    col = _char_column(source, line, getattr(node, "col_offset", 0))
    width = 1
    if getattr(node, "end_lineno", None) == line and getattr(node, "end_col_offset", None):
        width = max(1, _char_column(source, line, node.end_col_offset) - col)
    return _refuse(source, line, col, reason, width=width, kind=kind)


# ------------------------------------------------------------------ pre-checks
def _precheck(source: object) -> str:
    """Length and bracket nesting, measured on the raw text before the parser sees it.

    Returns the text without its leading blanks: ``" X"`` is the expression ``X`` (Python
    would read the indent as a syntax error), and positions are counted in that text.
    """
    if not isinstance(source, str):
        raise ExpressionSyntaxError(
            f"the expression must be a string, got {type(source).__name__}",
            position=(1, 1), reason="not a string")
    if len(source) > MAX_LENGTH:
        line = source.count("\n", 0, MAX_LENGTH) + 1
        col = MAX_LENGTH - (source.rfind("\n", 0, MAX_LENGTH) + 1) + 1
        raise _refuse(source, line, col,
                      f"the expression is {len(source)} characters long; at most "
                      f"{MAX_LENGTH} are allowed", kind="expression too long")
    if not source.strip():
        raise _refuse(source, 1, 1, "the expression is empty", kind="syntax error")
    depth, run = 0, 0  # bracket depth; prefix operators in a row (-----X nests too)
    for line, text in enumerate(_lines(source), start=1):
        for col, ch in enumerate(text, start=1):
            if ch in "([{":
                depth += 1
                if depth > MAX_DEPTH:
                    raise _refuse(source, line, col,
                                  f"brackets are nested more than {MAX_DEPTH} levels deep",
                                  kind="expression too deep")
            elif ch in ")]}":
                depth = max(0, depth - 1)
            if ch in "+-~":
                run += 1
                if run > MAX_DEPTH:
                    raise _refuse(source, line, col,
                                  f"more than {MAX_DEPTH} operators in a row: the "
                                  f"expression is nested too deeply", kind="expression too deep")
            elif not ch.isspace():
                run = 0
    return source.lstrip(" \t")


def _parse(source: str) -> ast.Expression:
    try:
        # "1x" is read as 1 followed by x with a SyntaxWarning; the whitelist refuses such
        # text anyway, so the warning would only be noise (or, under -W error, a crash).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = exc.offset or 1
        reason = exc.msg or "invalid syntax"
        if reason == "invalid syntax":
            reason = "invalid syntax (only expressions with + - * / @ ** .T, numbers, " \
                     "declared variables and whitelisted functions are accepted)"
        raise _refuse(source, line, col, reason, kind="syntax error") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        # null bytes (ValueError on 3.11) and anything that overwhelms the parser
        raise _refuse(source, 1, 1, f"the parser refused the text: {exc}",
                      kind="syntax error") from None


def _check_depth(source: str, tree: ast.Expression) -> None:
    """Tree depth, measured iteratively (a chain like ``-----x`` has no brackets)."""
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _node_refusal(source, node,
                                f"the expression is nested more than {MAX_DEPTH} levels deep")
        # a Name's Load context is bookkeeping, not a level of the expression
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                     if not isinstance(child, ast.expr_context))


# ------------------------------------------------------------------ validation
def _is_dunder(name: str) -> bool:
    return name.startswith("__") or name.endswith("__")


def _number(source: str, node: ast.AST) -> float | None:
    """The value of a numeric constant, optionally signed; None if ``node`` is not one."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            return sign * float(node.value)
        except OverflowError:
            return math.inf
    return None


class _Validator:
    def __init__(self, source: str, variables: Collection[str],
                 functions: Mapping[str, tuple[int, int]]) -> None:
        self.source = source
        self.variables = tuple(variables)
        self.functions = functions

    def refuse(self, node: ast.AST, reason: str, kind: str = "forbidden construct"
               ) -> ExpressionSyntaxError:
        return _node_refusal(self.source, node, reason, kind)

    def declared(self) -> str:
        return ", ".join(sorted(self.variables)) or "(none)"

    def visit(self, node: ast.AST) -> None:
        """Check every node, outermost first and then left to right; raise at the first refusal."""
        # An explicit worklist: the depth is already bounded, but there is no reason to
        # recurse where a loop does.
        stack = [node]
        while stack:
            stack.extend(reversed(self.check(stack.pop())))

    def check(self, node: ast.AST) -> list[ast.AST]:
        kind = type(node).__name__
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                hint = (" — did you mean ** for a power? ^ is exclusive or in Python"
                        if isinstance(node.op, ast.BitXor) else "")
                raise self.refuse(node, f"the operator {_OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)} "
                                        f"is not allowed (allowed: + - * / @ **){hint}")
            if isinstance(node.op, ast.Pow):
                k = _number(self.source, node.right)
                if k is None:
                    raise self.refuse(node.right, "the exponent of ** must be a numeric "
                                                  "constant")
                if not (math.isfinite(k) and abs(k) <= MAX_EXPONENT):
                    raise self.refuse(node.right, f"the exponent {k:g} is too large: |k| must be "
                                                  f"at most {MAX_EXPONENT}")
                return [node.left]
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                what = "not" if isinstance(node.op, ast.Not) else "~"
                raise self.refuse(node, f"the unary operator '{what}' is not allowed "
                                        f"(allowed: - and +)")
            return [node.operand]
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                what = {str: "strings", bytes: "bytes", bool: "booleans (True/False)",
                        complex: "complex numbers"}.get(type(node.value), "this constant")
                raise self.refuse(node, f"{what} are not allowed; constants must be real "
                                        f"numbers")
            value = _number(self.source, node)
            if value is None or not math.isfinite(value) or abs(value) > 1e300:
                raise self.refuse(node, "the number is too large (or not finite)")
            return []
        if isinstance(node, ast.Name):
            name = node.id
            if _is_dunder(name):
                raise self.refuse(node, f"dunder names such as {name!r} are not allowed")
            if name in self.functions and name not in self.variables:
                raise self.refuse(node, f"{name!r} is a function; call it, e.g. {name}(X)")
            if name not in self.variables:
                raise self.refuse(node, f"unknown variable {name!r}; declared variables: "
                                        f"{self.declared()}", kind="unknown name")
            return []
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                why = (f"attribute '.{node.attr}' is not allowed (the only attribute is .T, "
                       f"the transpose)")
                raise self._attr_refusal(node, why)
            return [node.value]
        if isinstance(node, ast.Call):
            return self.check_call(node)
        raise self.refuse(node, _REASONS.get(kind, f"{kind} is not allowed"))

    def _attr_refusal(self, node: ast.Attribute, why: str) -> ExpressionSyntaxError:
        # point at ".attr", not at the whole "value.attr"
        line = getattr(node, "end_lineno", node.lineno) or node.lineno
        end = _char_column(self.source, line, node.end_col_offset or 0)
        width = len(node.attr) + 1
        return _refuse(self.source, line, max(1, end - width), why, width=width)

    def check_call(self, node: ast.Call) -> list[ast.AST]:
        func = node.func
        if not isinstance(func, ast.Name):
            if not isinstance(func, ast.Attribute):
                self.check(func)  # say what it is, e.g. a lambda, when that is refused
            if isinstance(func, ast.Attribute):
                raise self.refuse(func, "only whitelisted functions called by bare name are "
                                        f"allowed, not '{ast.unparse(func)}(…)'; allowed: "
                                        f"{', '.join(self.functions)}")
            raise self.refuse(func, "only whitelisted functions called by bare name are allowed")
        name = func.id
        if _is_dunder(name):
            raise self.refuse(func, f"dunder names such as {name!r} are not allowed")
        if name not in self.functions:
            raise self.refuse(func, f"{name!r} is not an allowed function; allowed: "
                                    f"{', '.join(self.functions)}")
        params = _call_params(name)
        for kw in node.keywords:
            if kw.arg is None:
                raise self.refuse(kw.value, f"keyword arguments are not allowed in {name}(…)")
            if kw.arg not in params:
                accepted = (f"; {name} takes the parameter(s) {', '.join(params)}" if params
                            else "")
                raise self.refuse(kw, f"keyword arguments are not allowed in {name}(…) "
                                      f"except its parameters: {kw.arg!r} is not one"
                                      f"{accepted}" if params else
                                      f"keyword arguments are not allowed in {name}(…)")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse(arg, "starred arguments are not allowed")
        low, high = self.functions[name]
        if not low <= len(node.args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise self.refuse(node, f"{name} takes {want} argument{'s' if high > 1 else ''}, "
                                    f"got {len(node.args)}")
        if not params:
            return list(node.args)
        # after the expressions come the parameters: numbers, each given once
        given = list(zip(params, node.args[low:])) + [(k.arg, k.value) for k in node.keywords]
        seen: set[str] = set()
        for param, value in given:
            if param in seen:
                raise self.refuse(value, f"{name}(…) got the parameter {param!r} twice")
            seen.add(param)
            if _number(self.source, value) is None:
                raise self.refuse(value, f"the parameter {param!r} of {name}(…) must be a "
                                         f"number")
        return list(node.args[:low])


def _call_params(name: str) -> tuple[str, ...]:
    """The parameters a call of ``name`` may give after its expressions (none for others)."""
    op = TABLE.functions().get(name)
    return op.call_params if op is not None and op.parser else ()


def _parameter(node: ast.AST) -> int | float:
    """A validated numeric constant, optionally signed, keeping an int an int (a stride)."""
    sign = 1
    while isinstance(node, ast.UnaryOp):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    value = node.value  # type: ignore[attr-defined]
    return sign * value


def call_parts(node: ast.Call) -> tuple[list[ast.AST], dict[str, int | float]]:
    """A validated call's expression arguments, and its parameters by name.

    Parameters follow the expressions, by position in the order of the operation's
    :attr:`~jacobian_calc.ops.base.Operation.call_params` or by keyword; their values are
    numbers (an int stays an int).

    Examples
    --------
    >>> call = validate("conv2d(X, K, 2, padding=1)", ["X", "K"]).body
    >>> exprs, params = call_parts(call)
    >>> [e.id for e in exprs], params
    (['X', 'K'], {'stride': 2, 'padding': 1})
    """
    name = node.func.id  # type: ignore[attr-defined]
    names = _call_params(name)
    if not names:
        return list(node.args), {}
    arity = TABLE.functions()[name].arity
    params = {param: _parameter(a) for param, a in zip(names, node.args[arity:])}
    params.update({k.arg: _parameter(k.value) for k in node.keywords if k.arg})
    return list(node.args[:arity]), params


def validate(source: str, variables: Collection[str],
             functions: Mapping[str, tuple[int, int]] | None = None) -> ast.Expression:
    """Parse ``source`` and check it against the whitelist; return the checked tree.

    Parameters
    ----------
    source : str
        One expression, at most :data:`MAX_LENGTH` characters.
    variables : collection of str
        The declared variable names.
    functions : mapping, optional
        Allowed function names and their (min, max) argument counts; by default
        :data:`ALLOWED_FUNCTIONS`.

    Returns
    -------
    ast.Expression

    Raises
    ------
    ExpressionSyntaxError
        With ``.position`` = (line, column), 1-based, and ``.reason``.
    """
    functions = dict(ALLOWED_FUNCTIONS) if functions is None else functions
    for name in variables:
        if not isinstance(name, str) or not name.isidentifier() or _is_dunder(name):
            raise JacobianCalcError(f"variable names must be identifiers without leading or "
                                    f"trailing double underscores, got {name!r}")
    text = _precheck(source)
    tree = _parse(text)
    _check_depth(text, tree)
    _Validator(text, variables, functions).visit(tree.body)
    return tree


def variable_names(tree: ast.Expression) -> list[str]:
    """The variable names a validated tree uses, in order of first appearance."""
    seen: dict[str, None] = {}
    stack = [tree.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            seen.setdefault(node.id, None)
        stack.extend(reversed([c for c in ast.iter_child_nodes(node)
                               if not (isinstance(node, ast.Call) and c is node.func)]))
    return list(seen)


# -------------------------------------------------------------------- building
class _Builder:
    def __init__(self, source: str, env: Mapping[str, Any],
                 functions: Mapping[str, Callable[..., Any]]) -> None:
        self.source, self.env, self.functions = source, env, functions

    def build(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return self.env[node.id]
        if isinstance(node, ast.Attribute):  # validated: .T only
            return self.guard(node, "transpose", lambda: self.build(node.value).T)
        if isinstance(node, ast.UnaryOp):
            symbol, op = _UNARY[type(node.op)]
            operand = self.build(node.operand)
            return self.guard(node, f"unary {symbol}", lambda: op(operand))
        if isinstance(node, ast.BinOp):
            symbol, op = _BINOPS[type(node.op)]
            left = self.build(node.left)
            right = float(_number(self.source, node.right)) if isinstance(node.op, ast.Pow) \
                else self.build(node.right)
            if isinstance(node.op, ast.Div) and getattr(right, "ndim", 0) != 0:
                raise _node_refusal(
                    self.source, node, "the operation / is not supported here: only a number "
                    "or a scalar expression can be a divisor (for entrywise division write "
                    "A * B**-1, for a matrix inverse A @ inv(B))", "invalid expression")
            return self.guard(node, symbol, lambda: op(left, right))
        if isinstance(node, ast.Call):
            name = node.func.id  # validated: a bare whitelisted name
            if name not in self.functions:
                raise _node_refusal(self.source, node.func,
                                    f"{name!r} is not available in this build")
            exprs, params = call_parts(node)
            args = [self.build(a) for a in exprs]
            return self.guard(node, f"{name}(…)",
                              lambda: self.functions[name](*args, **params))
        raise _node_refusal(self.source, node, f"{type(node).__name__} is not allowed")

    def guard(self, node: ast.AST, what: str, thunk: Callable[[], Any]) -> Any:
        """Run one operation; our own errors pass through, Python's get a position."""
        kind = "invalid expression"
        try:
            out = thunk()
        except JacobianCalcError:
            raise
        except ZeroDivisionError:
            raise _node_refusal(self.source, node, "division by zero", kind) from None
        except OverflowError:
            raise _node_refusal(self.source, node, "the number is too large", kind) from None
        except (TypeError, AttributeError) as exc:
            raise _node_refusal(self.source, node,
                                f"the operation {what} is not supported here ({exc})",
                                kind) from None
        if isinstance(out, complex):  # (-8) ** 0.5 in plain Python arithmetic
            raise _node_refusal(self.source, node, "this constant is not a real number", kind)
        return out


def parse_expression(source: str, env: Mapping[str, Any],
                     functions: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    """Validate ``source`` and build it from the values in ``env`` (name → expression).

    Parameters
    ----------
    source : str
    env : mapping of str to Expr
        The declared variables, e.g. ``{"X": jc.var("X", X_value)}``.
    functions : mapping of str to callable, optional
        By default the expression API's functions of the same names.

    Returns
    -------
    Expr

    Raises
    ------
    ExpressionSyntaxError
        The text is malformed or uses a construct outside the whitelist.
    ShapeError, SingularMatrixError, ...
        From the expression layer, when the operands do not fit.
    """
    if functions is None:
        functions = _default_functions()
    tree = validate(source, list(env))
    return _Builder(_precheck(source), env, functions).build(tree.body)


def _default_functions() -> dict[str, Callable[..., Any]]:
    return {name: FUNCTIONS[name] for name in ALLOWED_FUNCTIONS}
