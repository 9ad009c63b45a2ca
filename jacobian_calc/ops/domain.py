"""The domain rules operations declare: one validator per condition, one message each.

Every rule is checked before an operation computes anything. Its message names the
expression in the user's notation (``inv(A X)``, not an internal name), the argument and
its shape or the offending values, and what was expected. The ``sample`` hint of a rule
tells the calculator how to draw random data that satisfies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..core.errors import DomainError, ShapeError, SingularMatrixError
from ..core.notation import dims
from .base import NodeLike, Operation, Rule

__all__ = ["SINGULAR_CONDITION", "size_text", "rank", "square", "invertible", "positive",
           "same_shape", "nonnegative_for", "nonzero_for", "check_invertible", "prefers",
           "hint", "draw"]

#: Matrices with a larger 2-norm condition number are treated as singular.
SINGULAR_CONDITION = 1e12


def size_text(shape: tuple[int, ...]) -> str:
    """``()`` → 'a scalar', ``(5,)`` → 'a vector of length 5', ``(3, 4)`` → '3×4'."""
    if shape == ():
        return "a scalar"
    if len(shape) == 1:
        return f"a vector of length {shape[0]}"
    return dims(shape)


def _name(arg: NodeLike) -> str:
    return arg.form.text


_RANK_WORDS = {0: "a scalar", 1: "a vector", 2: "a matrix"}


def rank(position: int, allowed: tuple[int, ...], role: str = "") -> Rule:
    """Argument ``position`` must have one of the ``allowed`` numbers of dimensions."""
    wanted = " or ".join(_RANK_WORDS[n] for n in allowed)

    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        a = args[position]
        if a.value.ndim not in allowed:
            what = f"the {role} " if role else ""
            raise ShapeError(f"{where}: {what}{_name(a)} must be {wanted}, but it is "
                             f"{size_text(a.value.shape)}")
    return Rule(check)


def square(position: int = 0) -> Rule:
    """Argument ``position`` must be a square matrix."""
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        a = args[position]
        if a.value.ndim != 2 or a.value.shape[0] != a.value.shape[1]:
            raise ShapeError(f"{where}: {_name(a)} must be a square matrix, but it is "
                             f"{size_text(a.value.shape)}")
    return Rule(check)


def check_invertible(X: np.ndarray, where: str, name: str) -> None:
    """Raise :class:`~jacobian_calc.SingularMatrixError` when ``X`` is singular to working precision."""
    cond = float(np.linalg.cond(X)) if np.all(np.isfinite(X)) else float("inf")
    if not np.isfinite(cond) or cond > SINGULAR_CONDITION:
        raise SingularMatrixError(
            f"{where}: {name} is singular (condition number {cond:.3g}, above "
            f"{SINGULAR_CONDITION:.0e})")


def invertible(position: int = 0) -> Rule:
    """Argument ``position`` must be invertible (condition number at most 1e12)."""
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        check_invertible(args[position].value, where, _name(args[position]))
    return Rule(check, sample="invertible", on=(position,))


def _entries(k: int) -> str:
    return f"{k} entry" if k == 1 else f"{k} entries"


def positive(position: int = 0) -> Rule:
    """Every entry of argument ``position`` must be > 0 (log)."""
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        a = args[position]
        bad = int(np.sum(a.value <= 0))
        if bad:
            raise DomainError(f"{where}: {_name(a)} has {bad} non-positive "
                              f"{'entry' if bad == 1 else 'entries'}; every entry must be > 0")
    return Rule(check, sample="positive", on=(position,))


def nonnegative_for(when: Callable[[Mapping[str, Any]], bool], why: str,
                    position: int = 0) -> Rule:
    """No entry of argument ``position`` may be negative, when ``when(params)`` holds."""
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        a = args[position]
        bad = int(np.sum(a.value < 0))
        if bad:
            raise DomainError(f"{where}: {why} needs non-negative entries, but {_name(a)} has "
                              f"{bad} negative {'entry' if bad == 1 else 'entries'}")
    return Rule(check, sample="positive", on=(position,), when=when)


def nonzero_for(when: Callable[[Mapping[str, Any]], bool], why: str,
                position: int = 0) -> Rule:
    """No entry of argument ``position`` may be zero, when ``when(params)`` holds."""
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        a = args[position]
        bad = int(np.sum(a.value == 0))
        if bad:
            raise DomainError(f"{where}: {why} is not defined at 0, and {_name(a)} has "
                              f"{_entries(bad)} equal to 0")
    return Rule(check, sample="positive", on=(position,), when=when)


def same_shape(symbol: str, hint: str = "") -> Rule:
    """The two arguments must have the same shape: nothing is broadcast."""
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        a, b = args[0], args[1]
        if a.value.shape != b.value.shape:
            raise ShapeError(f"{where}: {_name(a)} is {size_text(a.value.shape)} but {_name(b)} "
                             f"is {size_text(b.value.shape)}; {symbol} needs equal shapes, "
                             f"nothing is broadcast{hint}")
    return Rule(check)


def prefers(sample: str, position: int = 0) -> Rule:
    """No condition, only a hint: random data for argument ``position`` should be ``sample``.

    det is defined everywhere, but its derivative is best shown on a well-conditioned
    matrix: ``prefers("invertible")`` asks the calculator for one without refusing others.
    """
    def check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
        return None
    return Rule(check, sample=sample, on=(position,))


def hint(op: Operation, position: int, params: Mapping[str, Any] | None = None) -> str | None:
    """The ``sample`` hint an operation's domain gives argument ``position``, or ``None``.

    The first rule that names the argument and applies: a rule that holds only for some
    parameters (a power's exponent) counts only when ``params`` are given.

    Examples
    --------
    >>> from jacobian_calc.ops import TABLE
    >>> hint(TABLE["softmax_cross_entropy"], 1), hint(TABLE["det"], 0)
    ('probability', 'invertible')
    """
    for rule in op.domain:
        if rule.sample is not None and position in rule.on \
                and (rule.when is None or (params is not None and rule.applies(params))):
            return rule.sample
    return None


def draw(shape: tuple[int, ...], hint: str | None, rng: np.random.Generator) -> np.ndarray:
    """Random data of ``shape`` that satisfies a rule's ``sample`` hint.

    ``"positive"``: entries uniform in [0.5, 2]. ``"invertible"`` (a square matrix): I + E
    with ‖E‖₂ = ½, so the condition number is at most 3 and the determinant positive.
    ``"probability"``: positive entries, each column divided by its sum (a vector sums to
    1). Anything else, or a hint that does not fit the shape: standard normal.

    Returns
    -------
    numpy.ndarray, float64, of ``shape``
    """
    if hint == "probability" and len(shape) in (1, 2):
        value = rng.uniform(0.5, 2.0, size=shape)
        value = value / value.sum(axis=0)
    elif hint == "positive":
        value = rng.uniform(0.5, 2.0, size=shape)
    elif hint == "invertible" and len(shape) == 2 and shape[0] == shape[1]:
        E = rng.standard_normal(shape)
        norm = np.linalg.norm(E, 2)
        value = np.eye(shape[0]) + (0.5 / norm) * E if norm > 0 else np.eye(shape[0])
    else:
        value = rng.standard_normal(shape)
    return np.asarray(value, dtype=np.float64)
