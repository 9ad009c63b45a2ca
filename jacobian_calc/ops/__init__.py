"""The one table of operations, one family per module.

:data:`TABLE` maps each operation's name to its :class:`~jacobian_calc.ops.base.Operation`
entry. The families — :mod:`~jacobian_calc.ops.elementwise` (activations, exp, log,
powers, the Hadamard product), :mod:`~jacobian_calc.ops.linear` (products, sums,
transposes, biases), :mod:`~jacobian_calc.ops.matrix` (inverse, determinant, trace),
:mod:`~jacobian_calc.ops.reductions` (sum, softmax), :mod:`~jacobian_calc.ops.losses`,
:mod:`~jacobian_calc.ops.convolution` (conv1d, conv2d, im2col),
:mod:`~jacobian_calc.ops.normalisation` (layer_norm, batch_norm) and
:mod:`~jacobian_calc.ops.attention` (attention) — each list their entries,
and they are added here in that order. Users add entries with
:mod:`jacobian_calc.extend`, through the same :meth:`~jacobian_calc.ops.base.Table.add`.

>>> from jacobian_calc.ops import TABLE
>>> TABLE["inv"].notation.text(**{"0": "X"})
'X⁻¹'
"""

from . import (attention, convolution, elementwise, linear, losses, matrix, normalisation,
               reductions)
from .base import TABLE, role_view

__all__ = ["TABLE", "ACTIVATIONS", "LOSSES"]

for _family in (elementwise, linear, matrix, reductions, losses, convolution, normalisation,
                attention):
    for _op in _family.OPERATIONS:
        TABLE.add(_op)
del _family, _op

#: The activations φ the lecture network accepts, by name (a live view of the table).
ACTIVATIONS = role_view(TABLE, "activation")
#: The losses L the lecture network accepts, by name (a live view of the table).
LOSSES = role_view(TABLE, "loss")
