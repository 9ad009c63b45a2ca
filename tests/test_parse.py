"""The safe expression parser: whitelist, positions and reasons, bounds, and fuzzing."""

import ast
import builtins
import contextlib
import keyword

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobian_calc as jc
from jacobian_calc.front import parse as parse_module
from jacobian_calc.core.errors import ExpressionSyntaxError, JacobianCalcError
from jacobian_calc.front.parse import (
    ALLOWED_FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    parse_expression,
    validate,
    variable_names,
)

RNG = np.random.default_rng(7)
VALUES = {
    "A": RNG.normal(size=(3, 4)),
    "X": RNG.normal(size=(4, 5)),
    "B": RNG.normal(size=(5, 3)),
    "S": np.eye(3) + 0.2 * RNG.normal(size=(3, 3)),
    "x": RNG.normal(size=4),
    "y": RNG.normal(size=3),
}


def env():
    return {name: jc.var(name, value) for name, value in VALUES.items()}


# --------------------------------------------------------------- valid expressions
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("text, expected", [
    ("trace(A @ X @ B)", lambda v: np.trace(v["A"] @ v["X"] @ v["B"])),
    ("tr(X.T @ X)", lambda v: np.sum(v["X"] ** 2)),
    ("sum(X ** 2) / 2", lambda v: np.sum(v["X"] ** 2) / 2),
    ("-A @ X + 2 * (A @ X)", lambda v: v["A"] @ v["X"]),
    ("+x * x - x ** 2", lambda v: np.zeros(4)),
    ("logdet(S) - log(det(S))", lambda v: 0.0),
    ("sum(inv(S) @ S)", lambda v: 3.0),
    ("squared_error(sigmoid(A @ x), y)",
     lambda v: 0.5 * np.sum((_sigmoid(v["A"] @ v["x"]) - v["y"]) ** 2)),
    ("softmax(A @ x)", lambda v: np.exp(v["A"] @ v["x"]) / np.exp(v["A"] @ v["x"]).sum()),
    ("((A @ X)\n  .T)", lambda v: (v["A"] @ v["X"]).T),
    ("X ** -2 * X ** 2", lambda v: np.ones((4, 5))),
    ("bias_add(A @ X, y)", lambda v: v["A"] @ v["X"] + v["y"][:, None]),
])
def test_valid_expressions_build_the_same_value_as_numpy(text, expected):
    F = parse_expression(text, env())
    np.testing.assert_allclose(F.value, expected(VALUES), rtol=1e-10, atol=1e-12)


def test_derivatives_of_a_parsed_expression_are_the_expression_apis():
    e = env()
    F = parse_expression("trace(A @ X @ B)", e)
    A, B = VALUES["A"], VALUES["B"]
    np.testing.assert_allclose(jc.grad(F, e["X"]), A.T @ B.T, rtol=1e-12)  # closed form


def test_variable_names_in_order_of_appearance():
    tree = validate("trace(B @ A.T) + sum(A)", ["A", "B"])
    assert variable_names(tree) == ["B", "A"]


# ----------------------------------------------------------------- refusals
# (text, (line, column), words of the reason)
REFUSED = [
    ("X.__class__", (1, 2), "attribute '.__class__'"),
    ("().__class__.__bases__", (1, 13), "attribute '.__bases__'"),  # outermost first
    ("X.shape", (1, 2), "only attribute is .T"),
    ("__import__('os').system('echo hi')", (1, 1), "bare name"),
    ("__import__('os')", (1, 1), "dunder"),
    ("open('/etc/passwd')", (1, 1), "'open' is not an allowed function"),
    ("eval('1')", (1, 1), "'eval' is not an allowed function"),
    ("np.trace(X)", (1, 1), "bare name"),
    ("(lambda: X)()", (1, 2), "lambda"),
    ("lambda: 1", (1, 1), "lambda"),
    ("[X for X in A]", (1, 1), "comprehensions"),
    ("sum(X for X in A)", (1, 4), "generator"),
    ("X[0]", (1, 1), "subscripts"),
    ("trace(X=A)", (1, 7), "keyword arguments"),
    ("trace(**A)", (1, 9), "keyword arguments"),
    ("trace(*A)", (1, 7), "starred"),
    ("X ** 65", (1, 6), "|k| must be at most 64"),
    ("X ** -100", (1, 6), "|k| must be at most 64"),
    ("X ** A", (1, 6), "numeric constant"),
    ("X ** 1e400", (1, 6), "too large"),
    ("2 ** X", (1, 6), "numeric constant"),
    ("A < X", (1, 1), "comparisons"),
    ("A and X", (1, 1), "boolean"),
    ("not X", (1, 1), "'not'"),
    ("~X", (1, 1), "'~'"),
    ("X // 2", (1, 1), "//"),
    ("X % 2", (1, 1), "%"),
    ("X if A else B", (1, 1), "conditional"),
    ("(Y := X)", (1, 2), ":="),
    ("'abc'", (1, 1), "strings"),
    ("f'{X}'", (1, 1), "strings"),
    ("b'x' * X", (1, 1), "bytes"),
    ("True * X", (1, 1), "booleans"),
    ("1j * X", (1, 1), "complex"),
    ("None", (1, 1), "constant"),
    ("...", (1, 1), "constant"),
    ("[X, A]", (1, 1), "lists"),
    ("(X, A)", (1, 1), "tuples"),
    ("{X: A}", (1, 1), "dictionaries"),
    ("{X}", (1, 1), "sets"),
    ("Y + X", (1, 1), "unknown variable 'Y'; declared variables: A, B, X"),
    ("A @ X @ __builtins__", (1, 9), "dunder"),
    ("trace", (1, 1), "is a function"),
    ("trace(A, X)", (1, 1), "trace takes 1 argument, got 2"),
    ("squared_error(A)", (1, 1), "squared_error takes 2 arguments, got 1"),
    ("(trace(A @ X)\n + B.__dict__)", (2, 5), "attribute '.__dict__'"),
    ("import os", (1, 1), "invalid syntax"),
    ("X = 1", None, ""),
    ("A @ X @", None, ""),
    ("trace(A", None, ""),
    ("", (1, 1), "empty"),
    ("X\x00", (1, 1), "null"),
    ("await X", (1, 1), "await"),
    ("1e999 * X", (1, 1), "too large"),
]


@pytest.mark.parametrize("text, position, reason", REFUSED)
def test_forbidden_constructs_are_refused_with_position_and_reason(text, position, reason):
    with pytest.raises(ExpressionSyntaxError) as info:
        validate(text, ["A", "B", "X"])
    err = info.value
    assert isinstance(err, JacobianCalcError) and isinstance(err, ValueError)
    if position is None:  # a syntax error: where Python's parser puts it
        position = err.position
        assert position[0] == 1 and 1 <= position[1] <= len(text) + 1
    assert err.position == position, str(err)
    assert reason in err.reason
    line, column = position
    message = str(err)
    assert f"line {line}, column {column}" in message
    # the caret line sits under the culprit: the character above the first caret is at
    # ``column`` of the source line (when the line is short enough to be shown whole)
    shown, carets = message.splitlines()[-2:]
    source_line = text.split("\n")[line - 1] if text else ""
    if len(source_line) <= 100 and source_line.isprintable():
        assert shown == "  " + source_line
        assert carets.index("^") - 2 == column - 1


def test_only_the_transpose_attribute_is_allowed():
    assert isinstance(validate("X.T.T + X", ["X"]).body, ast.BinOp)


def test_syntax_error_reports_the_parsers_position():
    with pytest.raises(ExpressionSyntaxError, match="syntax error at line 1, column") as info:
        validate("trace(A @ ) ", ["A"])
    assert info.value.position[0] == 1


def test_unicode_before_the_culprit_keeps_the_caret_aligned():
    with pytest.raises(ExpressionSyntaxError) as info:
        validate("Σ + X.__class__", ["Σ", "X"])
    assert info.value.position == (1, 6)
    shown, carets = str(info.value).splitlines()[-2:]
    assert shown[carets.index("^")] == "."


def test_bad_variable_names_are_refused():
    with pytest.raises(JacobianCalcError, match="identifiers"):
        validate("X", ["__X__"])


# ---------------------------------------------------------------- size bounds
@contextlib.contextmanager
def parser_forbidden():
    """Fail if ast.parse is reached: the size checks must run before it."""
    original = parse_module.ast.parse

    def refuse(*args, **kwargs):
        raise AssertionError("ast.parse was called on an input that should be refused first")

    parse_module.ast.parse = refuse
    try:
        yield
    finally:
        parse_module.ast.parse = original


def test_long_input_is_refused_before_parsing():
    text = "+".join(["X"] * 1200)  # 2399 characters
    with parser_forbidden(), pytest.raises(ExpressionSyntaxError, match="too long") as info:
        validate(text, ["X"])
    assert info.value.position == (1, MAX_LENGTH + 1)  # the first character too many
    assert f"at most {MAX_LENGTH}" in info.value.reason


def test_deep_brackets_are_refused_before_parsing_at_the_first_bracket_too_many():
    text = "(" * 100 + "X" + ")" * 100
    with parser_forbidden(), pytest.raises(ExpressionSyntaxError, match="too deep") as info:
        validate(text, ["X"])
    assert info.value.position == (1, MAX_DEPTH + 1)


def test_long_runs_of_prefix_operators_are_refused_before_parsing():
    text = "X + " + "- " * 70 + "X"
    with parser_forbidden(), pytest.raises(ExpressionSyntaxError, match="too deep") as info:
        validate(text, ["X"])
    assert info.value.position == (1, 5 + 2 * 63)  # "+" and 64 "-": the 65th operator
    assert isinstance(validate("X - -X + +X - - - X", ["X"]), ast.Expression)


@pytest.mark.parametrize("make", [
    lambda k: "(" * k + "X" + ")" * k,
    lambda k: "sigmoid(" * k + "X" + ")" * k,
    lambda k: "-" * k + "X",
    lambda k: "X" + ".T" * k,
    lambda k: "+".join(["X"] * (k + 1)),
])
@pytest.mark.parametrize("k", [10, 62, 66, 900])
def test_nesting_is_bounded_whatever_its_form(make, k):
    text = make(k)
    try:
        F = parse_expression(text, {"X": jc.var("X", np.full((2, 2), 0.5))})
    except ExpressionSyntaxError as err:
        assert k > 60 and ("nested" in err.reason or "long" in err.reason)
    else:
        assert k <= 62 and F.shape == (2, 2)


def test_constant_arithmetic_errors_get_a_position():
    e = {"X": jc.var("X", np.ones((2, 2)))}
    for text, reason in [("(10.0 ** 60) ** 60 * X", "too large"), ("0 ** -1 * X", "division"),
                         ("(-8) ** 0.5 * X", "not a real number"), ("1 / X", "not supported")]:
        with pytest.raises(ExpressionSyntaxError) as info:
            parse_expression(text, e)
        assert reason in info.value.reason and info.value.position[0] == 1


def test_shape_mismatch_comes_from_the_expression_layer_naming_both_operands():
    with pytest.raises(jc.ShapeError, match=r"A .*3×4.* X .*4×5|A is 3×4.*X is 4×5"):
        parse_expression("A + X", env())


# ------------------------------------------------------------------------ fuzzing
class Canary:
    """A callable planted in builtins: if any input were evaluated, it would be called."""

    calls = 0

    def __call__(self, *args, **kwargs):
        Canary.calls += 1
        return 0


@contextlib.contextmanager
def no_code_execution():
    """eval/exec forbidden, compile allowed only to an AST; a canary in builtins."""
    saved = {name: getattr(builtins, name) for name in ("eval", "exec", "compile")}

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec was called")

    def ast_only(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError("compile() was asked for code, not an AST")
        return saved["compile"](source, filename, mode, flags, *args, **kwargs)

    builtins.eval = builtins.exec = forbidden
    builtins.compile = ast_only
    builtins.canary = Canary()
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(builtins, name, fn)
        del builtins.canary


FRAGMENTS = (
    ["A", "X", "B", "x", "y", "S", "Y", "canary", "canary()", "__import__", "'os'", "__class__",
     "__builtins__", "__dict__", "__globals__", "__subclasses__()", ".T", ".", "open",
     "exec", "eval", "lambda", ":", ",", "(", ")", "[", "]", "{", "}", "@", "*", "**", "+",
     "-", "/", "//", "%", "~", "=", "==", ":=", "0", "1", "2.5", "1e999", "64", "65", "-1",
     "j", "\n", " ", "\\", "#", "'", '"', "\x00", "é", "Σ", "trace", "sum", "inv", "logdet",
     "sigmoid", "softmax", "squared_error", "tr", "yield", "await", "f'", "*args", "**kw",
     "if", "else", "for", "in", "not", "and", "or"]
    + keyword.kwlist
)

fuzz_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(" ".join),
    st.tuples(st.integers(0, 200), st.sampled_from(["(", "[", "sigmoid(", "-", "f("]),
              st.sampled_from(["X", "canary()", ""])).map(lambda t: t[1] * t[0] + t[2]
                                                          + ")" * t[0]),
    st.integers(1990, 2100).map(lambda n: ("X+" * n)[:n]),
)


@settings(max_examples=400)
@given(fuzz_text)
def test_fuzz_no_input_escapes_our_error_or_runs_code(text):
    before = Canary.calls
    with no_code_execution():
        try:
            F = parse_expression(text, env())
        except JacobianCalcError as err:
            if isinstance(err, ExpressionSyntaxError):
                line, column = err.position
                assert line >= 1 and column >= 1 and err.reason
                assert f"line {line}, column {column}" in str(err)
        else:
            assert isinstance(F, (jc.Expr, float))
    assert Canary.calls == before


# Grammar-generated valid expressions over 3×3 matrices, each built together with its
# value in plain numpy (an oracle that shares nothing with the parser or the expression API).
M = {"A": RNG.normal(size=(3, 3)), "B": RNG.normal(size=(3, 3)), "X": RNG.normal(size=(3, 3))}
LEAVES = st.sampled_from([(n, M[n]) for n in M])


def _extend(children):
    two = st.tuples(children, children)
    return st.one_of(
        two.map(lambda p: (f"({p[0][0]} + {p[1][0]})", p[0][1] + p[1][1])),
        two.map(lambda p: (f"({p[0][0]} - {p[1][0]})", p[0][1] - p[1][1])),
        two.map(lambda p: (f"({p[0][0]} @ {p[1][0]})", p[0][1] @ p[1][1])),
        two.map(lambda p: (f"({p[0][0]} * {p[1][0]})", p[0][1] * p[1][1])),
        children.map(lambda c: (f"{c[0]}.T", c[1].T)),
        children.map(lambda c: (f"-{c[0]}", -c[1])),
        children.map(lambda c: (f"(0.5 * {c[0]})", 0.5 * c[1])),
        children.map(lambda c: (f"({c[0]} / 4)", c[1] / 4)),
        children.map(lambda c: (f"(({c[0]}) ** 2)", c[1] ** 2)),
        children.map(lambda c: (f"tanh({c[0]})", np.tanh(c[1]))),
        children.map(lambda c: (f"sigmoid({c[0]})", _sigmoid(c[1]))),
    )


grammar = st.recursive(LEAVES, _extend, max_leaves=12).flatmap(
    lambda e: st.sampled_from([e, (f"trace({e[0]})", np.trace(e[1])),
                               (f"sum({e[0]})", np.sum(e[1]))]))


@settings(max_examples=300)
@given(grammar)
def test_fuzz_grammar_expressions_parse_and_match_numpy(pair):
    text, expected = pair
    with np.errstate(all="ignore"), no_code_execution():
        try:
            F = parse_expression(text, {n: jc.var(n, v) for n, v in M.items()})
        except jc.core.errors.DomainError:  # an overflow to ±inf in a huge product
            assert not np.all(np.isfinite(expected)) or np.abs(expected).max() > 1e300
            return
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(F.value, expected, rtol=1e-9, atol=1e-9 * scale)


def test_allowed_functions_are_all_in_the_expression_api():
    from jacobian_calc.front.expr import FUNCTIONS

    assert set(ALLOWED_FUNCTIONS) <= set(FUNCTIONS)


# ---------------------------------------------------- rules stated, now each with a test
@pytest.mark.parametrize("name", ["__x", "x__", "__x__"])
def test_names_with_double_underscores_on_either_side_are_refused(name):
    # the module says "dunder names" are refused: a leading or a trailing __ is enough
    with pytest.raises(ExpressionSyntaxError, match="dunder names") as info:
        validate(f"{name} + X", ["X"])
    assert info.value.position == (1, 1)
    with pytest.raises(jc.JacobianCalcError, match="without leading or trailing double"):
        validate("X", ["X", name])


def test_the_depth_limit_accepts_exactly_the_limit_and_refuses_one_more():
    # brackets: MAX_DEPTH levels pass, MAX_DEPTH + 1 do not
    at_limit = "(" * MAX_DEPTH + "X" + ")" * MAX_DEPTH
    assert isinstance(validate(at_limit, ["X"]), ast.Expression)
    with pytest.raises(ExpressionSyntaxError, match="too deep"):
        validate("(" + at_limit + ")", ["X"])
    # the syntax tree: a chain of transposes X.T.T… is MAX_DEPTH nodes deep at MAX_DEPTH − 1
    # transposes (the name is the deepest node)
    assert isinstance(validate("X" + ".T" * (MAX_DEPTH - 1), ["X"]), ast.Expression)
    with pytest.raises(ExpressionSyntaxError, match="nested more than"):
        validate("X" + ".T" * MAX_DEPTH, ["X"])


def test_a_caret_gets_a_hint_and_a_leading_blank_is_not_an_indent():
    with pytest.raises(ExpressionSyntaxError, match=r"did you mean \*\* for a power"):
        validate("sum(X^2)", ["X"])
    tree = validate("   sum(X ** 2)", ["X"])  # Python alone says "unexpected indent"
    assert isinstance(tree, ast.Expression)
    F = parse_expression("  sum(X)", {"X": jc.var("X", np.ones((2, 2)))})
    assert float(F.value) == 4.0
    with pytest.raises(ExpressionSyntaxError) as info:
        validate("  X.foo", ["X"])  # positions count from the first non-blank character
    assert info.value.position == (1, 2)


# ------------------------------------------------------ parameters after the expressions
# (text, (line, column), words of the reason) for calls of functions with parameters
REFUSED_PARAMETERS = [
    ("conv2d(X, A, foo=1)", (1, 14), "'foo' is not one; conv2d takes the parameter(s) stride, "
                                     "padding"),
    ("conv2d(X, A, stride=A)", (1, 21), "the parameter 'stride' of conv2d(…) must be a number"),
    ("conv2d(X, A, A)", (1, 14), "the parameter 'stride' of conv2d(…) must be a number"),
    ("conv2d(X, A, 2, stride=2)", (1, 24), "got the parameter 'stride' twice"),
    ("conv2d(X, A, 1, 0, 3)", (1, 1), "conv2d takes 2 to 4 arguments, got 5"),
    ("conv2d(X, A, stride='2')", (1, 21), "must be a number"),
    ("layer_norm(X, eps=True)", (1, 19), "must be a number"),
    ("im2col(X, 2, kw=2, **A)", (1, 22), "keyword arguments are not allowed"),
    ("trace(X, eps=1)", (1, 10), "keyword arguments are not allowed in trace(…)"),
]


@pytest.mark.parametrize("text, position, reason", REFUSED_PARAMETERS)
def test_parameters_are_numbers_given_once(text, position, reason):
    with pytest.raises(ExpressionSyntaxError) as info:
        validate(text, ["A", "X"])
    assert info.value.position == position, str(info.value)
    assert reason in str(info.value)


def test_parameters_by_position_and_by_keyword_build_the_same_call():
    e = {"X": jc.var("X", RNG.normal(size=(6, 5))), "K": jc.var("K", RNG.normal(size=(2, 3)))}
    expected = jc.conv2d(e["X"], e["K"], stride=2, padding=1)
    for text in ("conv2d(X, K, 2, 1)", "conv2d(X, K, padding=1, stride=2)",
                 "conv2d(X, K, 2, padding=1)", "conv2d(X, K, +2, padding=--1)"):
        F = parse_expression(text, e)
        assert F.text == expected.text
        np.testing.assert_array_equal(F.value, expected.value)
    # an int stays an int (a stride of 2.0 is refused, as jc.conv2d refuses it)
    assert parse_module.call_parts(validate("im2col(X, 2, 3, stride=2)", ["X"]).body)[1] == \
        {"kh": 2, "kw": 3, "stride": 2}
    with pytest.raises(JacobianCalcError, match=r"stride must be an int ≥ 1, got 2.0"):
        parse_expression("conv2d(X, K, 2.0)", e)
    assert ALLOWED_FUNCTIONS["conv2d"] == (2, 4) and ALLOWED_FUNCTIONS["trace"] == (1, 1)
