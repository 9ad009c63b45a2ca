"""Structured matrices c·I, diag(v), A ⊗ B against their dense forms, and the cost model's rules.

Every structured class is checked against numpy's own dense matrix (``c·eye``,
``np.diag``, ``np.kron``), every operation on it against the same operation on that dense
matrix, :func:`product` and :func:`add` against ``@`` and ``+`` for every pair of storage
kinds, and :func:`product_info` / :func:`sum_info` against what :func:`product` and
:func:`add` really return. The weight factor xᵀ⊗I_p (eq 22) is checked entry by entry and
byte by byte.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jacobian_calc as jc
from jacobian_calc.core.structure import (
    Diagonal,
    Identity,
    Kron,
    MatrixInfo,
    Structured,
    add,
    product,
    product_cost,
    product_info,
    row_kron_eye,
    sum_info,
)
from jacobian_calc.testing import real_arrays

KINDS = ("dense", "csr", "identity", "diagonal", "kron")
BOUND = 2.0  # every drawn entry lies in [−BOUND, BOUND]
sides = st.integers(1, 6)
scales = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)


# ------------------------------------------------------------------------ helpers
def dense(m: object) -> np.ndarray:
    """Every entry of any storage, as an ndarray (the oracle side of each comparison)."""
    if isinstance(m, Structured):
        return m.toarray()
    if sp.issparse(m):
        return m.toarray()
    return np.asarray(m, dtype=np.float64)


def kron_dense(K: Kron) -> np.ndarray:
    """numpy's own Kronecker product of the factors (an int n is I_n)."""
    parts = [np.eye(f) if isinstance(f, int) else f for f in (K.left, K.right)]
    return np.kron(parts[0], parts[1])


def assert_product_close(got: object, A: np.ndarray, B: np.ndarray) -> None:
    """got == A @ B up to rounding: |error| ≤ 1e-12·(|A| @ |B|) + tiny, entry by entry."""
    want = A @ B
    bound = 1e-12 * (np.abs(A) @ np.abs(B)) + 1e-300
    err = np.abs(dense(got) - want)
    assert dense(got).shape == want.shape
    assert np.all(err <= bound), f"max error {err.max():.3e}"


def assert_sum_close(got: object, A: np.ndarray, B: np.ndarray) -> None:
    """got == A + B up to one rounding per entry."""
    want = A + B
    assert dense(got).shape == want.shape
    scale = float((np.abs(A) + np.abs(B)).max(initial=0.0))
    np.testing.assert_allclose(dense(got), want, rtol=1e-15, atol=1e-300 + 1e-15 * scale)


def dims(m: object) -> tuple[int, int]:
    return tuple(int(n) for n in m.shape)  # type: ignore[attr-defined]


def divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def is_dense_storage(m: object) -> bool:
    """Dense as :class:`MatrixInfo` sees it: an ndarray, or a structured matrix with no zeros."""
    return not MatrixInfo.of(m).sparse


@st.composite
def sparse_matrices(draw: st.DrawFn, shape: tuple[int, int]) -> sp.csr_array:
    """A scipy CSR array with a drawn pattern (about half its entries zero)."""
    values = draw(real_arrays(shape, BOUND))
    keep = draw(hnp.arrays(np.bool_, shape))
    return sp.csr_array(np.where(keep, values, 0.0))


@st.composite
def krons(draw: st.DrawFn, rows: int | None = None, cols: int | None = None,
          meet: Kron | None = None) -> Kron:
    """A ⊗ B with ``rows`` rows and ``cols`` columns when given; each factor dense or I_n.

    With ``meet`` (a Kronecker product to multiply on the left), the row split is often
    chosen to match its column split, so the mixed-product rule applies.
    """
    if rows is None:
        rows = draw(sides)
    options = divisors(rows)
    if meet is not None:
        (_, ac), (_, bc) = ((f, f) if isinstance(f, int) else f.shape
                            for f in (meet.left, meet.right))
        if ac * bc == rows and draw(st.booleans()):
            options = [bc]
    br = draw(st.sampled_from(options))
    ar = rows // br
    if cols is None:
        left_identity, right_identity = draw(st.booleans()), draw(st.booleans())
        ac = ar if left_identity else draw(st.integers(1, 3))
        bc = br if right_identity else draw(st.integers(1, 3))
    else:
        bc = draw(st.sampled_from(divisors(cols)))
        ac = cols // bc
        left_identity = ac == ar and draw(st.booleans())
        right_identity = bc == br and draw(st.booleans())
    left = ar if left_identity else draw(real_arrays((ar, ac), BOUND))
    right = br if right_identity else draw(real_arrays((br, bc), BOUND))
    return Kron(left, right)


@st.composite
def matrices(draw: st.DrawFn, kind: str, rows: int | None = None, cols: int | None = None,
             meet: object = None) -> object:
    """A matrix of one storage kind; identities and diagonals are square."""
    if rows is None:
        rows = draw(sides)
    if kind in ("identity", "diagonal"):
        assert cols in (None, rows)
        if kind == "identity":
            return Identity(rows, draw(scales))
        return Diagonal(draw(real_arrays((rows,), BOUND)))
    if kind == "kron":
        return draw(krons(rows, cols, meet if isinstance(meet, Kron) else None))
    if cols is None:
        cols = draw(sides)
    if kind == "dense":
        return draw(real_arrays((rows, cols), BOUND))
    return draw(sparse_matrices((rows, cols)))


@st.composite
def products(draw: st.DrawFn) -> tuple[object, object]:
    """Two matrices of any two kinds whose product is defined: a is m×k, b is k×n."""
    ka, kb = draw(st.sampled_from(KINDS)), draw(st.sampled_from(KINDS))
    a = draw(matrices(ka))
    b = draw(matrices(kb, rows=dims(a)[1], meet=a))
    return a, b


@st.composite
def sums(draw: st.DrawFn) -> tuple[object, object]:
    """Two matrices of any two kinds and the same shape."""
    ka, kb = draw(st.sampled_from(KINDS)), draw(st.sampled_from(KINDS))
    rows = draw(sides)
    square = {"identity", "diagonal"} & {ka, kb}
    cols = rows if square else draw(sides)
    return draw(matrices(ka, rows, cols)), draw(matrices(kb, rows, cols))


structured = st.one_of(
    st.builds(Identity, sides, scales),
    sides.flatmap(lambda n: real_arrays((n,), BOUND)).map(Diagonal),
    krons(),
    st.builds(lambda K, c: K.scaled(c), krons(), scales),  # c·(I_n ⊗ I_m) keeps c apart
)


# ------------------------------------------------------- each class is its dense form
@given(sides, scales)
def test_identity_is_c_times_eye(n, c):
    M = Identity(n, c)
    np.testing.assert_array_equal(M.toarray(), c * np.eye(n))
    assert M.shape == (n, n) and M.nnz == n and M.nbytes == 8 and M.symmetric
    assert not M.dense or n == 1  # n > 1: structural zeros off the diagonal


@given(sides.flatmap(lambda n: real_arrays((n,), BOUND)))
def test_diagonal_is_np_diag(v):
    M = Diagonal(v)
    np.testing.assert_array_equal(M.toarray(), np.diag(v))
    assert M.shape == (v.size, v.size) and M.nnz == v.size and M.nbytes == 8 * v.size
    assert M.symmetric and (not M.dense or v.size == 1)


def test_a_matrix_argument_of_diagonal_is_read_by_vec():
    V = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(Diagonal(V).values, [1.0, 3.0, 2.0, 4.0])  # column stacking


@given(krons())
def test_kron_is_np_kron(K):
    np.testing.assert_array_equal(K.toarray(), kron_dense(K))
    assert K.shape == kron_dense(K).shape
    stored = [f if isinstance(f, int) else f.size for f in (K.left, K.right)]  # I_n stores n
    assert K.nnz == stored[0] * stored[1]
    assert K.nbytes == sum(f.nbytes for f in (K.left, K.right) if isinstance(f, np.ndarray))
    if any(isinstance(f, int) and f > 1 for f in (K.left, K.right)):
        assert not K.dense  # I_n ⊗ B, A ⊗ I_n: structural zeros
    if not any(isinstance(f, int) for f in (K.left, K.right)):
        assert K.dense  # two matrices: every entry a product a_ij·b_kl, none structurally 0


@given(structured)
def test_sparse_and_materialized_forms_have_the_same_entries(M):
    full = M.toarray()
    S = M.tosparse()
    assert sp.issparse(S) and isinstance(S, sp.sparray) and S.shape == M.shape
    assert S.nnz == M.nnz  # the structural pattern, zeros among the values included
    np.testing.assert_array_equal(S.toarray(), full)
    out = M.materialize()
    np.testing.assert_array_equal(dense(out), full)
    assert isinstance(out, np.ndarray) == M.dense
    if M.dense:  # no structural zeros: every entry is stored
        assert M.nnz == M.shape[0] * M.shape[1]


@given(structured)
def test_info_of_a_structured_matrix_describes_it(M):
    info = MatrixInfo.of(M)
    assert info.shape == M.shape and info.nnz == M.nnz
    assert info.sparse == (not M.dense)
    assert info.kind == type(M).__name__.lower()
    assert info.held == max(1, M.nbytes // 8)


def test_kron_rejects_a_bad_factor():
    with pytest.raises(jc.ShapeError, match="positive size"):
        Kron(0, 2)
    with pytest.raises(jc.ShapeError, match="must be a matrix"):
        Kron(np.ones(3), 2)


# --------------------------------------------------------- operations on one matrix
@given(structured, st.sampled_from([1, 2, 3, 17]), st.randoms(use_true_random=False))
def test_rmatmul_and_matmul_equal_dense_products(M, r, random):
    # 17 columns: Kron.matmul's wide path (one product by B per row of A)
    rng = np.random.default_rng(random.getrandbits(32))
    full = M.toarray()
    G = rng.uniform(-BOUND, BOUND, size=(r, M.shape[0]))
    V = rng.uniform(-BOUND, BOUND, size=(M.shape[1], r))
    assert_product_close(M.rmatmul(G), G, full)
    assert_product_close(M.matmul(V), full, V)
    # the operators: 2-D and 1-D operands on either side
    assert_product_close(G @ M, G, full)
    assert_product_close(M @ V, full, V)
    g, v = G[0], V[:, 0]
    assert (g @ M).shape == (M.shape[1],) and (M @ v).shape == (M.shape[0],)
    assert_product_close((g @ M)[None, :], g[None, :], full)
    assert_product_close((M @ v)[:, None], full, v[:, None])


@given(krons(), st.randoms(use_true_random=False))
def test_kron_apply_is_the_vec_identity(K, random):
    # (A ⊗ B) vec(X) = vec(B X Aᵀ): X in its own shape, or any array of its size read by vec
    rng = np.random.default_rng(random.getrandbits(32))
    (_, ac), (_, bc) = [(f, f) if isinstance(f, int) else f.shape for f in (K.left, K.right)]
    X = rng.uniform(-BOUND, BOUND, size=(bc, ac))
    full = kron_dense(K)
    vec_x = X.reshape(-1, 1, order="F")
    got = K.apply(X)
    assert got.shape == (K.right if isinstance(K.right, int) else K.right.shape[0],
                         K.left if isinstance(K.left, int) else K.left.shape[0])
    assert_product_close(got.reshape(-1, 1, order="F"), full, vec_x)
    assert_product_close(K.apply(vec_x[:, 0]).reshape(-1, 1, order="F"), full, vec_x)
    with pytest.raises(jc.ShapeError, match="needs"):
        K.apply(np.ones(X.size + 1))


@given(structured)
def test_a_row_of_the_wrong_length_is_refused(M):
    with pytest.raises(jc.ShapeError):
        np.ones((1, M.shape[0] + 1)) @ M
    with pytest.raises(jc.ShapeError):
        M @ np.ones((M.shape[1] + 1, 1))


@given(structured, scales)
def test_transpose_and_scaled_equal_their_dense_forms(M, c):
    full = M.toarray()
    T = M.transpose()
    assert type(T) is type(M)
    np.testing.assert_array_equal(T.toarray(), full.T)
    np.testing.assert_array_equal(M.T.toarray(), full.T)
    if M.symmetric:
        np.testing.assert_array_equal(full, full.T)
    S = M.scaled(c)
    assert type(S) is type(M) and S.shape == M.shape
    # (c·a)·b and c·(a·b) round differently only where they underflow
    np.testing.assert_allclose(S.toarray(), c * full, rtol=1e-15, atol=1e-300)
    assert (S.nnz, S.dense) == (M.nnz, M.dense)  # "with the same structure"


@st.composite
def kron_pairs(draw: st.DrawFn) -> tuple[Kron, Kron]:
    a = draw(krons())
    return a, draw(krons(rows=a.shape[1], meet=a))


def _factor_shape(f: np.ndarray | int) -> tuple[int, int]:
    return (f, f) if isinstance(f, int) else f.shape


@given(kron_pairs())
def test_compose_is_the_mixed_product_rule(pair):
    a, b = pair
    (_, ac), (_, bc) = _factor_shape(a.left), _factor_shape(a.right)
    (cr, _), (dr, _) = _factor_shape(b.left), _factor_shape(b.right)
    composed = a.compose(b)
    if ac == cr and bc == dr:  # (A ⊗ B)(C ⊗ D) = AC ⊗ BD
        assert isinstance(composed, Kron)
        assert_product_close(composed, a.toarray(), b.toarray())
    else:
        assert composed is None


def test_compose_is_used_often_enough_to_be_tested():
    # the strategy above must reach both branches; a direct witness of each
    a = Kron(np.ones((2, 3)), 2)
    assert isinstance(a.compose(Kron(np.ones((3, 1)), 2)), Kron)
    assert a.compose(Kron(np.ones((2, 1)), 3)) is None


# ----------------------------------------------------- products and sums, every pair
@given(products())
def test_product_equals_the_dense_product_for_every_pair_of_kinds(pair):
    a, b = pair
    out = product(a, b)
    assert_product_close(out, dense(a), dense(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        # dense whenever one side is: an ndarray, or M(aᵀ ⊗ B) = aᵀ ⊗ MB kept structured
        # (two matrix factors, no structural zero)
        assert isinstance(out, np.ndarray) or (isinstance(out, Kron) and out.dense)
    assert isinstance(out, (np.ndarray, Structured)) or isinstance(out, sp.sparray)


@given(products())
def test_product_keeping_kronecker_products_equals_the_dense_product(pair):
    a, b = pair
    assert_product_close(product(a, b, keep_kron=True), dense(a), dense(b))


@given(kron_pairs())
def test_kept_kronecker_products_equal_the_dense_product(pair):
    a, b = pair
    assert_product_close(product(a, b, keep_kron=True), a.toarray(), b.toarray())


def test_second_order_terms_through_a_row_or_column_factor_stay_kronecker_products():
    # (I_d ⊗ g)(xᵀ ⊗ B) = xᵀ ⊗ (I_d ⊗ g)B and (a ⊗ B)(I_n ⊗ gᵀ) = a ⊗ B(I_n ⊗ gᵀ): the
    # cross terms of a Hessian, whose factors do not compose by the mixed-product rule.
    rng = np.random.default_rng(7)
    d, p, q = 4, 3, 5
    g, x, a = rng.standard_normal((p, 1)), rng.standard_normal((1, q)), rng.standard_normal((2, 1))
    B = rng.standard_normal((d, 6))
    for left, right in ((Kron(d, g), Kron(x, B)), (Kron(a, B.T), Kron(d, g.T))):
        assert left.compose(right) is None
        kept = product(left, right, keep_kron=True)
        assert isinstance(kept, Kron)
        assert_product_close(kept, left.toarray(), right.toarray())
        assert_product_close(product(left, right), left.toarray(), right.toarray())


@given(products())
def test_product_info_and_cost_describe_what_product_returns(pair):
    a, b = pair
    ia, ib = MatrixInfo.of(a), MatrixInfo.of(b)
    info = product_info(ia, ib)
    cost = product_cost(ia, ib)
    out = product(a, b)
    assert info.shape == (ia.rows, ib.cols) == dims(out)
    assert isinstance(cost, int) and cost >= 0
    assert info.sparse == (not is_dense_storage(out)), (
        f"product_info says sparse={info.sparse} ({info.kind}) for {ia} @ {ib}, but product "
        f"returned {type(out).__name__} {MatrixInfo.of(out)}")
    real = MatrixInfo.of(out)
    assert info.kind == real.kind, (ia, ib, info, real)
    if isinstance(out, Structured):  # its whole description, known before it is built
        assert info == real, (ia, ib, info, real)


@given(sums())
def test_add_equals_the_dense_sum_for_every_pair_of_kinds(pair):
    a, b = pair
    out = add(a, b)
    assert_sum_close(out, dense(a), dense(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(out, np.ndarray)


@given(sums())
def test_sum_info_describes_what_add_returns(pair):
    a, b = pair
    info = sum_info(MatrixInfo.of(a), MatrixInfo.of(b))
    out = add(a, b)
    assert info.shape == dims(out)
    assert info.sparse == (not is_dense_storage(out)), (
        f"sum_info says sparse={info.sparse} for {MatrixInfo.of(a)} + {MatrixInfo.of(b)}, but "
        f"add returned {type(out).__name__} {MatrixInfo.of(out)}")
    assert info.kind == MatrixInfo.of(out).kind


def test_mismatched_shapes_are_refused_by_the_cost_model():
    with pytest.raises(jc.ShapeError, match="3 columns meet 2 rows"):
        product_info(MatrixInfo(2, 3, 6, False), MatrixInfo(2, 2, 4, False))


# ------------------------------------------------------------- xᵀ ⊗ I_p (eq 22)
@given(sides.flatmap(lambda d: real_arrays((d,), BOUND)), st.integers(1, 12))
def test_row_kron_eye_is_x_transposed_kron_identity_stored_entry_by_entry(x, p):
    K = row_kron_eye(x, p)
    d = x.size
    assert isinstance(K, sp.csr_array) and K.shape == (p, p * d)
    np.testing.assert_array_equal(K.toarray(), np.kron(x[None, :], np.eye(p)))
    # eq (22) block by block: (x₁I_p, …, x_dI_p)
    np.testing.assert_array_equal(K.toarray(), np.hstack([x[j] * np.eye(p) for j in range(d)]))
    assert K.nnz == p * d  # zeros of x are stored: the pattern never depends on the values
    assert K.has_sorted_indices and K.has_canonical_format
    # 12 bytes per stored entry (8 data + 4 int32 index) plus indptr's p + 1
    assert K.data.dtype == np.float64 and K.indices.dtype == np.int32
    assert K.indptr.dtype == np.int32 and K.indptr.size == p + 1
    assert K.data.nbytes + K.indices.nbytes == 12 * p * d
    assert K.data.nbytes + K.indices.nbytes + K.indptr.nbytes == 12 * p * d + 4 * (p + 1)


def test_row_kron_eye_stores_zeros_of_x():
    K = row_kron_eye(np.array([0.0, 1.0, 0.0]), 2)
    assert K.nnz == 6 and K.count_nonzero() == 2


@given(sides.flatmap(lambda d: real_arrays((d,), BOUND)), st.integers(1, 6))
def test_kron_of_a_row_and_an_identity_is_written_out_as_row_kron_eye(x, p):
    K = Kron(x[None, :], p)
    S = K.tosparse()
    np.testing.assert_array_equal(S.toarray(), np.kron(x[None, :], np.eye(p)))
    assert S.nnz == K.nnz == p * x.size
    np.testing.assert_array_equal(S.indices, row_kron_eye(x, p).indices)


@given(sides.flatmap(lambda d: real_arrays((d,), BOUND)), st.integers(1, 8),
       st.integers(1, 4), st.randoms(use_true_random=False))
def test_linear_weight_jacobian_products_on_either_side_equal_the_dense_products(x, p, r, random):
    # ported from the old KronEyeArray tests: the CSR factor multiplies like np.kron(xᵀ, I_p)
    K = jc.linear_weight_jacobian(x, p)
    full = np.kron(x[None, :], np.eye(p))
    rng = np.random.default_rng(random.getrandbits(32))
    g, G = rng.normal(size=p), rng.normal(size=(r, p))
    v, V = rng.normal(size=p * x.size), rng.normal(size=(p * x.size, r))
    assert_product_close((g @ K)[None, :], g[None, :], full)
    assert_product_close(G @ K, G, full)
    assert_product_close((K @ v)[:, None], full, v[:, None])
    assert_product_close(K @ V, full, V)
    assert_product_close((K.T @ g)[:, None], full.T, g[:, None])  # x ⊗ g, eq (23)
    S = sp.csr_array(np.where(rng.random((r, p)) < 0.5, G, 0.0))
    assert_product_close((S @ K).toarray(), S.toarray(), full)


# ------------------------------------ discrepancies once found, kept as regression tests
def _described(a: object, b: object) -> tuple[bool, bool]:
    """(what product_info says about sparse-ness, what product returns)."""
    info = product_info(MatrixInfo.of(a), MatrixInfo.of(b))
    return info.sparse, not is_dense_storage(product(a, b))


def test_product_info_of_kron_products_that_do_not_compose():
    a, b = Kron(2, np.ones((1, 1))), Kron(np.ones((1, 1)), 2)  # I₂ split 2·1, then 1·2
    assert a.compose(b) is None
    said, got = _described(a, b)
    assert said == got


def test_product_info_of_composed_krons_that_lose_their_identities():
    a, b = Kron(np.ones((2, 2)), 3), Kron(2, np.ones((3, 1)))
    assert isinstance(a.compose(b), Kron)
    said, got = _described(a, b)
    assert said == got


def test_product_info_of_a_diagonal_and_a_kron():
    said, got = _described(Diagonal(np.ones(3)), Kron(3, np.ones((1, 1))))
    assert said == got


def test_product_info_of_a_large_sparse_times_a_dense_structured_factor():
    a = sp.csr_array(np.ones((9, 1)))
    said, got = _described(a, Kron(np.ones((1, 1)), np.ones((1, 1))))
    assert said == got


def test_scaling_a_kron_of_two_identities_keeps_its_structure():
    K = Kron(2, 1)
    S = K.scaled(3.0)
    np.testing.assert_array_equal(S.toarray(), 3.0 * np.eye(2))
    assert S.nnz == K.nnz
    # both factors stay identities (the split too): c is kept apart, 8 bytes
    S = Kron(2, 3).scaled(-2.0)
    assert (S.left, S.right, S.scale, S.nnz, S.nbytes) == (2, 3, -2.0, 6, 8)
    np.testing.assert_array_equal(S.tosparse().toarray(), -2.0 * np.eye(6))
    np.testing.assert_array_equal(S.T.toarray(), -2.0 * np.eye(6))
    composed = S.compose(Kron(np.ones((2, 1)), 3))  # c·(I ⊗ I)(A ⊗ I) = cA ⊗ I
    assert composed.scale == 1.0 and isinstance(composed.right, int)
    np.testing.assert_array_equal(composed.toarray(), -2.0 * np.kron(np.ones((2, 1)), np.eye(3)))


def test_kron_tosparse_stores_nnz_entries():
    K = Kron(np.array([[1.0, 0.0]]), np.array([[2.0], [0.0]]))
    assert K.tosparse().nnz == K.nnz
