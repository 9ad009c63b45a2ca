"""jacobian_calc: derivatives built the way a matrix-calculus lecture builds them.

Every Jacobian is a literal 2-D matrix in the vec convention (column stacking), the
structured factors — (x₁I_p, …, x_dI_p) = xᵀ⊗I_p and diag(φ′(h)) — are scipy sparse,
and the lecture's back-propagation is reproduced as a chain of row-gradient products,
checked against the compact formulas and finite differences.

>>> import numpy as np, jacobian_calc as jc
>>> jc.vec(np.array([[1, 2], [3, 4]])).ravel()
array([1., 3., 2., 4.])
"""

from .ops.activations import ACTIVATIONS
from .verify.check import (
    finite_difference_jacobian,
    frobenius_inner,
    frobenius_norm,
    gateaux_derivative,
    max_relative_error,
)
from .engine.cost import MatrixInfo, cost_report, optimal_order
from .engine.derivation import Derivation
from .core.errors import (
    ChainError,
    DenseLimitError,
    ChoiceError,
    DomainError,
    ExpressionSyntaxError,
    JacobianCalcError,
    ShapeError,
    SingularMatrixError,
)
from .core.jacobian import Jacobian, chain, get_dense_limit, set_dense_limit
from .ops.losses import LOSSES
from .lecture.mlp import MLP
from .ops.primitives import (
    activation_jacobian,
    linear_input_jacobian,
    linear_weight_jacobian,
    loss_gradient,
)
from .core.vec import commutation_matrix, unvec, vec
from .core.layout import from_tensor_jacobian, to_tensor_jacobian
from .front.expr import (
    FUNCTIONS,
    Expr,
    bias_add,
    det,
    exp,
    inv,
    log,
    logdet,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    softplus,
    squared_error,
    sum,
    tanh,
    trace,
    var,
)

# ``jacobian`` and ``derivation`` are also the names of submodules; importing a submodule
# binds its name on the package, so the functions are bound last, after every import.
from .front.expr import derivation, grad, jacobian  # noqa: E402
from .front.expr import __all__ as _EXPR_ALL  # noqa: E402

__version__ = "0.1.0"

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
    # the lecture network
    "MLP",
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
    "JacobianCalcError",
    "ShapeError",
    "ChainError",
    "ChoiceError",
    "DenseLimitError",
    "SingularMatrixError",
    "DomainError",
    "ExpressionSyntaxError",
    # expressions (issue 4): Expr, var, jacobian, grad, derivation and the functions,
    # as listed in jacobian_calc.expr.__all__
    *_EXPR_ALL,
    # tensor layouts (JAX/PyTorch)
    "from_tensor_jacobian",
    "to_tensor_jacobian",
]
