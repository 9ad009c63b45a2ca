"""The shared validators of core/validation.py: sizes, shapes, index types, steps."""

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.core.validation import index_dtype, positive_finite, positive_int, shape_tuple


@pytest.mark.parametrize("value", [1, 7, 2**70, np.int8(3), np.uint64(5), np.int64(2**40)])
def test_positive_int_returns_a_python_int(value):
    out = positive_int(value, "n")
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize("value, message", [
    (0, r"n must be a positive int, got 0$"),
    (-3, r"n must be a positive int, got -3$"),
    (np.int64(-1), r"n must be a positive int, got np\.int64\(-1\)$"),
    (True, r"n must be a positive int, got True \(type bool\)"),
    (np.True_, r"n must be a positive int, got np\.True_ \(type bool\)"),
    (2.0, r"n must be a positive int, got 2\.0 \(type float\)"),
    (float("nan"), r"got nan \(type float\)"),
    (float("inf"), r"got inf \(type float\)"),
    ("3", r"got '3' \(type str\)"),
    (None, r"got None \(type NoneType\)"),
    (np.array(3), r"got array\(3\) \(type ndarray\)"),
    (3 + 0j, r"got \(3\+0j\) \(type complex\)"),
])
def test_positive_int_refuses_everything_else_and_names_the_argument(value, message):
    with pytest.raises(jc.ShapeError, match=message):
        positive_int(value, "n")


@pytest.mark.parametrize("value, kwargs, expected", [
    ((2, 3), {}, (2, 3)),
    ([5], {}, (5,)),
    (5, {}, (5,)),
    (np.array([2, 3], dtype=np.int16), {}, (2, 3)),
    ((), dict(min_ndim=0), ()),
    ((2, 3, 4), dict(max_ndim=3), (2, 3, 4)),
    (range(2, 4), {}, (2, 3)),
])
def test_shape_tuple_accepts_sequences_of_positive_ints(value, kwargs, expected):
    out = shape_tuple(value, "shape", **kwargs)
    assert out == expected and all(type(n) is int for n in out)


@pytest.mark.parametrize("value, kwargs, message", [
    ((2, 0), {}, r"shape must be a tuple of 1 or 2 positive ints, got \(2, 0\): "
                 r"entry 1 is 0, not positive"),
    ((2, 3, 4), dict(min_ndim=0), r"shape must be a tuple of at most 2 positive ints, got "
                                   r"\(2, 3, 4\) \(3 entries\)"),
    ((2, 3, 4, 5), dict(max_ndim=3), r"a tuple of 1 to 3 positive ints, got \(2, 3, 4, 5\)"),
    ((5,), dict(min_ndim=2, max_ndim=2), r"a tuple of 2 positive ints, got \(5,\) \(1 entry\)"),
    ("23", {}, r"got '23' \(type str\)"),
    ({2, 3}, {}, r"got \{2, 3\} \(type set\)"),
    (np.array([[2, 3]]), {}, r"got array\(\[\[2, 3\]\]\) \(type ndarray\)"),
    (np.array(4), {}, r"got array\(4\) \(type ndarray\)"),
    ((2, [3]), {}, r"entry 1 is \[3\] \(type list\)"),
])
def test_shape_tuple_names_what_is_wrong(value, kwargs, message):
    with pytest.raises(jc.ShapeError, match=message):
        shape_tuple(value, "shape", **kwargs)


def test_shape_tuple_shows_a_long_shape_abridged():
    with pytest.raises(jc.ShapeError, match=r"got \(1, 2, 3, .*\.\.\. \(999 entries\)") as info:
        shape_tuple(tuple(range(1, 1000)), "shape")
    assert len(str(info.value)) < 200


def test_index_dtype_switches_to_int64_where_int32_ends():
    limit = np.iinfo(np.int32).max
    assert index_dtype(0) is np.int32
    assert index_dtype(limit - 1) is np.int32
    assert index_dtype(limit) is np.int64
    assert index_dtype(2**62) is np.int64
    with pytest.raises(jc.ShapeError, match=r"index 2\*\*63|9223372036854775808"):
        index_dtype(2**63)


@pytest.mark.parametrize("value", [1e-300, 0.5, 3, np.float32(0.25), np.int64(2)])
def test_positive_finite_returns_a_float(value):
    out = positive_finite(value, "step")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value, message", [
    (0.0, r"step must be a positive finite number, got 0\.0$"),
    (-1e-3, r"got -0\.001$"),
    (float("nan"), r"got nan$"),
    (float("inf"), r"got inf$"),
    (np.float64("-inf"), r"got np\.float64\(-inf\)$"),
    (True, r"got True \(type bool\)"),
    ("0.1", r"got '0\.1' \(type str\)"),
    (1e-3 + 0j, r"got \(0\.001\+0j\) \(type complex\)"),
    (np.array([0.1]), r"got array\(\[0\.1\]\) \(type ndarray\)"),
    (None, r"got None \(type NoneType\)"),
])
def test_positive_finite_refuses_everything_else(value, message):
    with pytest.raises(jc.JacobianCalcError, match=message):
        positive_finite(value, "step")


def test_as_real_array_takes_any_rank_when_ndim_is_none():
    from jacobian_calc.core.validation import as_real_array

    assert as_real_array(np.ones((1, 2, 1, 3)), "T", ndim=None).shape == (1, 2, 1, 3)
    assert as_real_array(7, "c", ndim=None).shape == ()
    with pytest.raises(jc.ShapeError, match="T is empty"):
        as_real_array(np.ones((2, 0, 3)), "T", ndim=None)


@pytest.mark.parametrize("value, message", [
    # an int beyond 64 bits makes an object array; the element's type says why
    ([1, 2**70], r"x must hold real numbers, got an array of dtype object "
                 r"\(e\.g\. 1180591620717411303424 of type int\)"),
    ([None, 1.0], r"dtype object \(e\.g\. None of type NoneType\)"),
    # a long element is abridged rather than printed whole
    (["a" * 10_000], r"dtype <U10000 \(e\.g\. np\.str_\('aaaa.*\.\.\. of type str_\)"),
])
def test_as_real_array_names_the_element_it_could_not_read(value, message):
    from jacobian_calc.core.validation import as_real_array

    with pytest.raises(jc.JacobianCalcError, match=message) as info:
        as_real_array(value, "x")
    assert len(str(info.value)) < 200


def test_a_masked_array_is_refused_rather_than_unmasked():
    # np.array drops the mask: vec and frobenius_norm used the hidden 2.0 as a number
    masked = np.ma.array([1.0, 2.0], mask=[False, True])
    with pytest.raises(jc.JacobianCalcError, match=r"A is a masked array \(1 of 2 entries "
                                                   r"masked\); fill it first, e\.g\. "
                                                   r"A\.filled\(0\.0\)"):
        jc.vec(masked)
    with pytest.raises(jc.JacobianCalcError, match="masked array"):
        jc.frobenius_norm(masked)
    # with nothing masked there is nothing hidden
    assert jc.vec(np.ma.array([1.0, 2.0], mask=[False, False])).ravel().tolist() == [1.0, 2.0]
