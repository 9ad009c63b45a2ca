"""The exception family of jacobian_calc: every error the package raises for bad input.

Every class here subclasses :class:`JacobianCalcError`, which subclasses
:class:`ValueError`, so ``except ValueError`` catches all of them. Messages say what was
expected and what arrived. The classes are exported at the top level
(``jacobian_calc.ShapeError``) and report that as their module.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "JacobianCalcError",
    "ShapeError",
    "ChainError",
    "ChoiceError",
    "SingularMatrixError",
    "DomainError",
    "ExpressionSyntaxError",
    "DenseLimitError",
    "WorkLimitError",
    "LatexError",
    "MissingExtraError",
    "UsageError",
    "CertificateError",
]


class JacobianCalcError(ValueError):
    """Base class of every error jacobian_calc raises for bad input."""


class ShapeError(JacobianCalcError):
    """Arrays whose shapes or sizes do not fit together."""


class ChainError(ShapeError):
    """Two Jacobians that do not meet in a chain-rule product (names or sizes)."""


class ChoiceError(JacobianCalcError):
    """A name that is not one of the valid choices (activation, loss, node, ...)."""

    def __init__(self, what: str, got: object, choices: Iterable[str]) -> None:
        self.what = what
        self.got = got
        self.choices = tuple(choices)
        listed = ", ".join(repr(c) for c in self.choices)
        shown = repr(got)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"unknown {what} {shown}; valid choices are: {listed}")


class SingularMatrixError(JacobianCalcError):
    """A matrix that must be inverted (inv, logdet, the derivative of det) is singular."""


class DomainError(JacobianCalcError):
    """A function evaluated outside its domain (log of a non-positive entry, …)."""


class ExpressionSyntaxError(JacobianCalcError):
    """An expression text that is malformed or uses a construct outside the whitelist.

    Attributes
    ----------
    position : tuple of int
        (line, column) of the culprit, both 1-based.
    reason : str
        Why it was refused, without the position.
    """

    def __init__(self, message: str, *, position: tuple[int, int], reason: str) -> None:
        super().__init__(message)
        self.position = position
        self.reason = reason


class DenseLimitError(JacobianCalcError):
    """A dense copy of a Jacobian would exceed the configured memory limit."""


class WorkLimitError(JacobianCalcError):
    """A computation whose estimated work exceeds the configured bound; refused before it starts."""


class LatexError(JacobianCalcError):
    """A LaTeX string that a TeX-math parser rejects (see :func:`jacobian_calc.render.check_latex`)."""


class MissingExtraError(JacobianCalcError, ImportError):
    """An optional dependency (an extra such as ``plot``) is not installed.

    Also an :class:`ImportError`, so code that guards optional imports catches it.
    """


class UsageError(JacobianCalcError):
    """Command-line options that do not go together (reported with the command's usage)."""


class CertificateError(JacobianCalcError):
    """A formula that disagrees with the literal Jacobian on the values it was checked on.

    Raised instead of returning the formula: it is a bug in a rewriting rule (of the
    library, or of an operation added with :mod:`jacobian_calc.extend`), never an answer.
    The literal Jacobian (:func:`jacobian_calc.jacobian`) does not depend on the rules.
    """


for _cls in (JacobianCalcError, ShapeError, ChainError, ChoiceError, SingularMatrixError,
             DomainError, ExpressionSyntaxError, DenseLimitError, WorkLimitError, LatexError,
             MissingExtraError, UsageError, CertificateError):
    _cls.__module__ = "jacobian_calc"
del _cls
