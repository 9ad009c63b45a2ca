r"""Linear and structural operations: products, sums, scalings, transposes, biases.

Their factors are the classic vec identities, kept by their structure:

* ``A @ B``: :math:`B^\top \otimes I_m` with respect to A — for a vector the lecture's
  :math:`(x_1 I_p, \dots, x_d I_p)` (eq 22) — and :math:`I_n \otimes A` with respect to B,
  which is A itself for a vector (eq 11);
* a sum or difference: ±I; a scaling c·X: c·I; a scalar expression times X: vec(X) and c·I;
* ``Xᵀ``: the commutation matrix :math:`K_{mn}` with :math:`K \operatorname{vec}(X) =
  \operatorname{vec}(X^\top)`;
* a bias added to every column: :math:`\mathbf 1_n \otimes I_p`.

The same factors, written as matrix expressions (:class:`~jacobian_calc.ops.base.Rewrite`),
are what formulas are rewritten from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..core import symbolic as S
from ..core.errors import JacobianCalcError, ShapeError
from ..core.notation import Form, Template, component, dims, subscript
from ..core.structure import Identity, Kron, MatrixInfo, row_kron_eye
from ..core.limits import check_work
from ..core.validation import as_real_array, positive_int
from ..core.vec import commutation_matrix
from . import domain
from .base import ATOM, LINEAR, POSTFIX, PRODUCT, SUM, UNARY, NodeLike, Operands, Operation, \
    Param, Partial, Rewrite, Rule, dense_info, identity_info, identity_partial, kron_partial

__all__ = ["OPERATIONS", "linear_weight_jacobian", "linear_input_jacobian"]


def _name(arg: NodeLike) -> str:
    return arg.form.text


# ----------------------------------------------------------------------------- matmul
def _matmul_check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
    a, b = args
    if a.value.ndim != 2:
        hint = " (use its transpose .T for a row)" if a.value.ndim == 1 else ""
        raise ShapeError(f"{where}: the left factor {_name(a)} must be a matrix, but it is "
                         f"{domain.size_text(a.value.shape)}{hint}")
    if b.value.ndim == 0:
        raise ShapeError(f"{where}: the right factor {_name(b)} must be a vector or a matrix, "
                         f"but it is a scalar (use * for a product with a number)")
    if a.value.shape[1] != b.value.shape[0]:
        raise ShapeError(f"{where}: {_name(a)} is {domain.size_text(a.value.shape)} but "
                         f"{_name(b)} is {domain.size_text(b.value.shape)}; inner sizes "
                         f"{a.value.shape[1]} ≠ {b.value.shape[0]}")


def _component(arg: NodeLike, i: int) -> Form:
    """Entry i of a vector argument: x₁ for a name, (W x)₁ for an expression."""
    name = getattr(arg, "name", None)
    if name:
        return Form(component(name, i), component(name, i, latex=True))
    return Form(f"({arg.form.text}){subscript(i)}", rf"\left({arg.form.latex}\right)_{{{i}}}")


_KRON_TEMPLATES = {
    "matrix": Template(r"$1^\top\otimes I_{$m}"),
    1: Template(r"$x1\:I_{$m}"),
    2: Template(r"\left($x1\:I_{$m}, $xd\:I_{$m}\right)"),
    3: Template(r"\left($x1\:I_{$m}, \dots, $xd\:I_{$m}\right)"),
}


def _weight_label(node: NodeLike) -> dict[str, object]:
    a, b = node.args
    m = node.value.shape[0]
    if b.value.ndim == 2:
        return {"kron": _KRON_TEMPLATES["matrix"].form(**{"1": b.form, "m": m})}
    d = b.value.shape[0]
    template = _KRON_TEMPLATES[min(d, 3)]
    return {"kron": template.form(x1=_component(b, 1), xd=_component(b, d), m=m)}


_INPUT_LABELS = {1: Template("$0"), 2: Template(r"I_{$n}\otimes $0")}


def _input_label(node: NodeLike) -> dict[str, object]:
    a, b = node.args
    fields: dict[str, object] = {"0": a.form}
    if b.value.ndim == 2:
        fields["n"] = b.value.shape[1]
    return {"input": _INPUT_LABELS[b.value.ndim].form(**fields)}


def _columns(b: np.ndarray) -> np.ndarray:
    return b.reshape(b.shape[0], -1)


def _matmul_second(node: NodeLike, adjoint: np.ndarray) -> dict[tuple[int, int], Any]:
    r"""∂²(ā·vec(AB))/∂vec(A)∂vec(B): the bilinear term tr(Āᵀ dA dB), Ā = unvec(ā).

    Entry (i + m·l, l + k·j) is Ā_ij: for a vector B = b that is :math:`I_k \otimes \bar a`,
    kept as a Kronecker product; for a matrix B a sparse matrix of m·k·n entries.
    """
    a, b = node.args
    m, k = a.value.shape
    if b.value.ndim == 1:
        return {(0, 1): Kron(k, adjoint.reshape(m, 1))}
    n = b.value.shape[1]
    A_bar = adjoint.reshape(m, n, order="F")
    i, l, j = np.meshgrid(np.arange(m), np.arange(k), np.arange(n), indexing="ij")
    S = sp.csr_array((A_bar[i, j].ravel(), ((i + m * l).ravel(), (l + k * j).ravel())),
                     shape=(m * k, k * n))
    return {(0, 1): S}


def _weight_factor(o: Operands) -> S.MatExpr:
    # vec(AB) = (Bᵀ ⊗ I_m) vec(A); for a vector b this is (x₁I, …, x_dI) = bᵀ ⊗ I (eq 22)
    a, b = o.args
    return S.kron(S.transpose(b), S.identity(a.shape[0]))


def _input_factor(o: Operands) -> S.MatExpr:
    # vec(AB) = (I_n ⊗ A) vec(B); for a vector b the factor is A itself (eq 11)
    a, b = o.args
    return a if len(o.shapes[1]) == 1 else S.kron(S.identity(b.shape[1]), a)


MATMUL = Operation(
    name="matmul", family="linear", arity=2,
    forward=lambda a, b: a @ b,
    partials=(
        kron_partial(lambda node: (_columns(node.args[1].value).T, node.value.shape[0]),
                     "$kron", fields=_weight_label,
                     equation=lambda node: "22" if node.args[1].value.ndim == 1 else None,
                     rewrite=Rewrite(factor=_weight_factor)),
        Partial(
            # eq (11): ∂(Wx)/∂x is W itself, dense; for a matrix right factor I_n ⊗ A
            build=lambda node: node.args[0].value if node.args[1].value.ndim == 1
            else Kron(node.args[1].value.shape[1], node.args[0].value),
            label=Template("$input"), fields=_input_label,
            info=lambda node: dense_info(*node.args[0].value.shape)
            if node.args[1].value.ndim == 1
            else MatrixInfo.of(Kron(node.args[1].value.shape[1], node.args[0].value)),
            equation=lambda node: "11" if node.args[1].value.ndim == 1 else None,
            rewrite=Rewrite(factor=_input_factor)),
    ),
    notation=Template("$0 $1"), precedence=PRODUCT,
    shape=lambda shapes, params: (shapes[0][0],) + shapes[1][1:],
    domain=(Rule(_matmul_check),), spelling=None, second=_matmul_second,
    symbolic=lambda o: S.product(*o.args),
    summary="A @ B: the matrix product (a vector on the right is a column)")


# ------------------------------------------------------------------ sums and scalings
ADD = Operation(
    name="add", family="linear", arity=2, forward=lambda a, b: a + b,
    partials=(identity_partial(), identity_partial()),
    notation=Template("$0 + $1"), precedence=SUM, domain=(domain.same_shape("+"),),
    spelling=None, summary="A + B, of equal shapes", second=LINEAR,
    symbolic=lambda o: S.add(*o.args))

SUB = Operation(
    name="sub", family="linear", arity=2, forward=lambda a, b: a - b,
    partials=(identity_partial(), identity_partial(-1.0, label="-I_{$n}")),
    notation=Template("$0 - $1"), precedence=SUM, domain=(domain.same_shape("−"),),
    spelling=None, summary="A − B, of equal shapes", second=LINEAR,
    symbolic=lambda o: S.add(o.args[0], S.neg(o.args[1])))

NEG = Operation(
    name="neg", family="linear", arity=1, forward=lambda a: -a,
    partials=(identity_partial(-1.0, label="-I_{$n}"),),
    notation=Template("-$0"), precedence=UNARY, spelling=None, summary="−A", second=LINEAR,
    symbolic=lambda o: S.neg(o.args[0]))


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(float(value)):
        raise JacobianCalcError(f"a scaling factor must be a finite real number, got {value!r}")
    return float(value)


def _scale_fields(node: NodeLike) -> dict[str, object]:
    c = node.params["c"]
    return {"c": int(c) if c == int(c) else c}


SCALE = Operation(
    name="scale", family="linear", arity=1, forward=lambda a, c: c * a,
    partials=(identity_partial(
        lambda node: node.params["c"], label=r"$c\,I_{$n}",
        rewrite=Rewrite(factor=lambda o: S.scaled(o.params["c"], S.identity(o.out.shape[0]
                                                                             * o.out.shape[1])))),),
    notation=Template(r"$c\,$0"), precedence=PRODUCT, params=(Param("c", _number),),
    fields=_scale_fields, spelling=None, summary="c·A for a number c", second=LINEAR,
    symbolic=lambda o: S.scaled(o.params["c"], o.args[0]))


def _scalar_mul_check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
    c = args[0]
    if c.value.ndim != 0:
        raise ShapeError(f"{where}: the factor {_name(c)} must be a scalar, but it is "
                         f"{domain.size_text(c.value.shape)}")


SCALAR_MUL = Operation(
    name="scalar_mul", family="linear", arity=2, forward=lambda c, a: c * a,
    partials=(
        # ∂vec(cA)/∂c = vec(A): a dense column
        Partial(build=lambda node: node.args[1].value.reshape(-1, 1, order="F"),
                label=Template(r"\operatorname{vec}($1)"),
                rewrite=Rewrite(factor=lambda o: S.vec(o.args[1]))),
        identity_partial(lambda node: float(node.args[0].value), label=r"$0\,I_{$n}",
                         rewrite=Rewrite(factor=lambda o: S.scalar_times(
                             o.args[0], S.identity(o.out.shape[0] * o.out.shape[1])))),
    ),
    notation=Template(r"$0\,$1"), precedence=PRODUCT,
    shape=lambda shapes, params: shapes[1], domain=(Rule(_scalar_mul_check),),
    spelling=None, summary="c * A for a scalar expression c",
    symbolic=lambda o: S.scalar_times(o.args[0], o.args[1]),
    # ∂²(ā·vec(cA))/∂c∂vec(A) = ā, a row
    second=lambda node, adjoint: {(0, 1): adjoint.reshape(1, -1)})


# ----------------------------------------------------------------------- transposes
def _transpose_factor(node: NodeLike) -> Any:
    a = node.args[0].value
    if a.ndim == 1:
        return Identity(a.size)  # vec of a column and of its row are the same list
    return commutation_matrix(*a.shape)


def _transpose_info(node: NodeLike) -> MatrixInfo:
    n = node.value.size
    if node.args[0].value.ndim == 1:
        return identity_info(n)  # built as Identity: multiplied as a scaling
    return MatrixInfo(n, n, n, True, n)  # K_mn, a permutation: one entry a row


def _transpose_fields(node: NodeLike) -> dict[str, object]:
    a = node.args[0].value
    if a.ndim == 1:
        return {"perm": Template("I_{$n}").form(n=a.size)}
    return {"perm": Template("K_{$m,$n}").form(m=a.shape[0], n=a.shape[1])}


def _transpose_rewrite(o: Operands) -> S.MatExpr:
    # K vec(X) = vec(Xᵀ); a vector and the row it becomes have the same vec
    a = o.args[0]
    if len(o.shapes[0]) == 1:
        return S.identity(a.shape[0])
    return S.commutation(*a.shape)


TRANSPOSE = Operation(
    name="transpose", family="linear", arity=1,
    # A vector is a column, so its transpose is a 1×n row (a matrix).
    forward=lambda a: a[None, :].copy() if a.ndim == 1 else a.T.copy(),
    partials=(Partial(build=_transpose_factor, label=Template("$perm"), fields=_transpose_fields,
                      info=_transpose_info, rewrite=Rewrite(factor=_transpose_rewrite)),),
    notation=Template(r"$0^\top"), precedence=POSTFIX,
    shape=lambda shapes, params: (1, shapes[0][0]) if len(shapes[0]) == 1 else shapes[0][::-1],
    domain=(domain.rank(0, (1, 2)),), spelling=None, second=LINEAR,
    symbolic=lambda o: S.transpose(o.args[0]),
    summary="A.T: the transpose; a vector (a column) becomes a 1×n row")

# A vector is a column (the ML layout, eq 6): reading an n-vector as the n×1 matrix it
# stands for changes no entry of vec, so the factor is the identity.
COLUMN = Operation(
    name="column", family="linear", arity=1, forward=lambda a: a.reshape(-1, 1),
    partials=(identity_partial(),), notation=Template("$0"), precedence=ATOM,
    shape=lambda shapes, params: (shapes[0][0], 1), domain=(domain.rank(0, (1,)),),
    spelling=None, summary="a vector read as the n×1 matrix it stands for", second=LINEAR,
    symbolic=lambda o: o.args[0])


# ----------------------------------------------------------------------------- biases
def _bias_check(args: Sequence[NodeLike], params: Mapping[str, Any], where: str) -> None:
    h, b = args
    if b.value.ndim != 1 or h.value.ndim not in (1, 2) or h.value.shape[0] != b.value.shape[0]:
        raise ShapeError(f"{where}: the bias {_name(b)} must be a vector with one entry per row "
                         f"of {_name(h)}; {_name(h)} is {domain.size_text(h.value.shape)} but "
                         f"{_name(b)} is {domain.size_text(b.value.shape)}")


def _batch(node: NodeLike) -> int:
    return 1 if node.value.ndim == 1 else node.value.shape[1]


def _bias_fields(node: NodeLike) -> dict[str, object]:
    n, p = _batch(node), node.args[1].value.size
    if n == 1:
        return {"ones": Template("I_{$p}").form(p=p)}
    return {"ones": Template(r"\mathbf{1}_{$n}\otimes I_{$p}").form(n=n, p=p)}


def _bias_rewrite(o: Operands) -> S.MatExpr:
    # vec(b 𝟏ₙᵀ) = (𝟏ₙ ⊗ I_p) vec(b): b added to each of the n columns
    h, b = o.args
    if len(o.shapes[0]) == 1:
        return S.identity(b.shape[0])
    return S.kron(S.ones(h.shape[1], 1), S.identity(b.shape[0]))


def _bias_symbolic(o: Operands) -> S.MatExpr:
    h, b = o.args
    if len(o.shapes[0]) == 1:
        return S.add(h, b)
    return S.add(h, S.product(b, S.ones(1, h.shape[1])))


BIAS_ADD = Operation(
    name="bias_add", family="linear", arity=2,
    forward=lambda h, b: h + (b if h.ndim == 1 else b[:, None]),  # b added to every column
    partials=(identity_partial(),
              kron_partial(lambda node: (np.ones((_batch(node), 1)), node.args[1].value.size),
                           "$ones", fields=_bias_fields, rewrite=Rewrite(factor=_bias_rewrite))),
    notation=Template("$0 + $1"), precedence=SUM, domain=(Rule(_bias_check),), second=LINEAR,
    symbolic=_bias_symbolic,
    summary="h + b: the vector b (p,) added to every column of h (p,) or (p, n)")

#: The entries of this family, in the order they are listed.
OPERATIONS = (MATMUL, ADD, SUB, NEG, SCALE, SCALAR_MUL, TRANSPOSE, COLUMN, BIAS_ADD)


# ------------------------------------------------------- the same factors, one at a time
def linear_weight_jacobian(x: object, p: int) -> sp.csr_array:
    r"""∂(Wx)/∂vec(W) for W with ``p`` rows: :math:`(x_1 I_p, \dots, x_d I_p) = x^\top \otimes I_p` (eq 22).

    Built directly from its index pattern (never through a dense matrix or
    ``scipy.sparse.kron``), with exactly ``p*d`` stored entries, zeros of ``x`` included.

    Parameters
    ----------
    x : array_like, shape (d,) or (d, 1); or (d, n) for a batch of n columns
    p : int
        Rows of W.

    Returns
    -------
    scipy.sparse.csr_array, shape (p, p*d)
        12 bytes per stored entry plus O(p), every array writable and the caller's own. The
        column indices depend only on (p, d): for a large factor they are written once per
        shape and mapped copy-on-write (:mod:`jacobian_calc.core.patterns`), so factors of
        one shape share those pages until one of them is changed. For a batch,
        :math:`X^\top \otimes I_p`, shape (p*n, p*d). (Inside a chain the engine keeps
        this factor as x itself, see :class:`~jacobian_calc.core.structure.Kron`.)

    Examples
    --------
    >>> linear_weight_jacobian([1.0, 2.0], 2).toarray()
    array([[1., 0., 2., 0.],
           [0., 1., 0., 2.]])
    """
    p = positive_int(p, "p")
    arr = as_real_array(x, "x", ndim=(1, 2))
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    columns = 1 if arr.ndim == 1 else arr.shape[1]
    entries = p * arr.shape[0] * columns
    check_work(2 * entries, entries, f"the {dims((p * columns, p * arr.shape[0]))} factor "
                                     f"xᵀ⊗I_{p}")
    if arr.ndim == 1:
        return row_kron_eye(arr, p)
    return Kron(arr.T, p).tosparse()


def linear_input_jacobian(W: object) -> np.ndarray:
    """∂(Wx)/∂x = W (eq 11), dense: shape (p, d).

    Examples
    --------
    >>> linear_input_jacobian([[1, 2], [3, 4]])
    array([[1., 2.],
           [3., 4.]])
    """
    return as_real_array(W, "W", ndim=(2,))
