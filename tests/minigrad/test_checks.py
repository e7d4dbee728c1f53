"""The shared argument checks: what they accept, and the message naming what they reject."""
import numpy
import pytest

from minigrad.checks import positive_integer, probability


@pytest.mark.parametrize("value", [1, 7, numpy.int64(3)])
def test_positive_integer_accepts_integers_from_one(value):
    assert positive_integer(value, "count") == value and type(positive_integer(value, "count")) is int


@pytest.mark.parametrize("value", [0, -2, 2.0, 2.5, True, "3", None])
def test_positive_integer_rejects_anything_else_naming_the_argument(value):
    with pytest.raises(ValueError, match=f"count must be a positive integer, got {value!r}"):
        positive_integer(value, "count")


@pytest.mark.parametrize("value", [0, 0.25, 1, numpy.float32(0.5)])
def test_probability_accepts_numbers_in_the_unit_interval(value):
    assert probability(value, "p") is value


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_probability_rejects_anything_else_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got " + repr(value)):
        probability(value, "p")
