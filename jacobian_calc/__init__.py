"""jacobian_calc: derivatives built the way a matrix-calculus lecture builds them.

Every Jacobian is a literal 2-D matrix in the vec convention (column stacking), the
structured factors — (x₁I_p, …, x_dI_p) = xᵀ⊗I_p and diag(φ′(h)) — are kept by their
structure, and the lecture's back-propagation is reproduced as a chain of row-gradient
products, checked against the compact formulas and finite differences.

The package is layered, bottom to top: ``core`` (the literal values), ``ops`` (the one
table of operations), ``engine`` (graph, derivation, cost model), ``render`` (every
printed form), ``lecture`` (the network and its compact formulas), ``verify`` (finite
differences and Gâteaux checks) and ``front`` (expressions, parser, calculator, command
line). :mod:`jacobian_calc.extend` adds operations; :mod:`jacobian_calc.testing` holds
the property-test tools.

The expression functions (``jc.trace``, ``jc.sigmoid``, …) are generated from the
operations table, so an operation added with :mod:`jacobian_calc.extend` is available as
``jc.<name>`` too. ``from jacobian_calc import *`` leaves out the ones named like a
Python builtin or a :mod:`math` function (``sum``, ``exp``, ``log``, ``tanh``): use
``jc.sum`` and the like.

>>> import numpy as np, jacobian_calc as jc
>>> jc.vec(np.array([[1, 2], [3, 4]])).ravel()
array([1., 3., 2., 4.])
"""

import builtins as _builtins
import math as _math

from . import render as _render  # installs the printed forms of every value  # noqa: F401
from .core.errors import (
    CertificateError,
    ChainError,
    ChoiceError,
    DenseLimitError,
    DomainError,
    ExpressionSyntaxError,
    JacobianCalcError,
    LatexError,
    MissingExtraError,
    ShapeError,
    SingularMatrixError,
    WorkLimitError,
)
from .core.jacobian import Jacobian
from .core.layout import from_tensor_hessian, from_tensor_jacobian, to_tensor_hessian, \
    to_tensor_jacobian
from .core.limits import get_dense_limit, get_work_limit, set_dense_limit, set_work_limit, \
    work_limit
from .core.vec import commutation_matrix, unvec, vec
from .engine.cost import MatrixInfo, chain, cost_report, optimal_order
from .engine.derivation import Derivation
from .engine.formulas import Formula
from .core.hessian import Hessian
from .front.expr import FUNCTIONS, Expr, derivation, formula, grad, hessian, hvp, jacobian, var
from .lecture.mlp import MLP
from .lecture.rnn import RNN
from .ops import ACTIVATIONS, LOSSES
from .ops.elementwise import activation_jacobian
from .ops.linear import linear_input_jacobian, linear_weight_jacobian
from .ops.losses import loss_gradient
from .verify.check import (
    finite_difference_jacobian,
    frobenius_inner,
    frobenius_norm,
    gateaux_derivative,
    max_relative_error,
)

__version__ = "0.1.0"

#: Function names a star-import would use to shadow Python's own (``sum``) or
#: :mod:`math`'s (``exp``, ``log``): reachable as ``jc.sum``, never star-imported.
_SHADOWING = frozenset(dir(_builtins)) | frozenset(dir(_math))

__all__ = [
    # the vec algebra (eq 16)
    "vec",
    "unvec",
    "commutation_matrix",
    # literal Jacobians
    "Jacobian",
    "chain",
    "linear_weight_jacobian",
    "linear_input_jacobian",
    "activation_jacobian",
    "loss_gradient",
    "ACTIVATIONS",
    "LOSSES",
    # the lecture network, and a recurrent one
    "MLP",
    "RNN",
    "Derivation",
    # checks (eq 13–15)
    "frobenius_inner",
    "frobenius_norm",
    "gateaux_derivative",
    "finite_difference_jacobian",
    "max_relative_error",
    # evaluation order of a chain (cost model, matrix-chain DP)
    "MatrixInfo",
    "optimal_order",
    "cost_report",
    # settings and errors
    "set_dense_limit",
    "get_dense_limit",
    "set_work_limit",
    "get_work_limit",
    "work_limit",
    "JacobianCalcError",
    "ShapeError",
    "ChainError",
    "ChoiceError",
    "DenseLimitError",
    "WorkLimitError",
    "SingularMatrixError",
    "DomainError",
    "ExpressionSyntaxError",
    "LatexError",
    "MissingExtraError",
    "CertificateError",
    # expressions
    "Expr",
    "var",
    "jacobian",
    "grad",
    "hessian",
    "hvp",
    "Hessian",
    "derivation",
    "formula",
    "Formula",
    "FUNCTIONS",
    # the functions of the operations table, except those that would shadow a builtin
    *(name for name in FUNCTIONS if name not in _SHADOWING),
    # tensor layouts (JAX/PyTorch)
    "from_tensor_jacobian",
    "to_tensor_jacobian",
    "from_tensor_hessian",
    "to_tensor_hessian",
]


def __getattr__(name: str) -> object:
    """``jc.<function>`` for every function of the operations table (added ones included)."""
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    raise AttributeError(f"module 'jacobian_calc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(FUNCTIONS) | {"__version__"})
