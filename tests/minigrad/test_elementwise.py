"""exp, log, sqrt, clip, where: values, gradients, and the chosen subgradients at the bounds."""
import math

import numpy
import pytest
from helpers import check_elementwise, leaf

import minigrad.functional as F
from minigrad import Tensor, gradcheck

RNG = numpy.random.default_rng(1)


# op, its reference on one number, and inputs inside its domain
UNARY_CASES = {
    "exp": (F.exp, math.exp, lambda: RNG.standard_normal((2, 3))),
    "log": (F.log, math.log, lambda: RNG.uniform(0.2, 3.0, (2, 3))),
    "sqrt": (F.sqrt, math.sqrt, lambda: RNG.uniform(0.2, 3.0, (2, 3))),
}


@pytest.mark.parametrize("name", UNARY_CASES)
def test_unary_values_and_gradients(name, device):
    op, reference, make_input = UNARY_CASES[name]
    check_elementwise(op, reference, make_input(), device)


@pytest.mark.parametrize("name", UNARY_CASES)
def test_unary_ops_keep_float32(name):
    op, _, make_input = UNARY_CASES[name]
    assert op(Tensor(make_input(), dtype="float32")).dtype == numpy.float32


def test_clip_values_and_gradients_away_from_bounds(device):
    array = RNG.uniform(-2.0, 2.0, (3, 4))
    array[numpy.abs(numpy.abs(array) - 1.0) < 0.05] = 0.0  # no element within eps of a bound
    x = leaf(array, device)
    numpy.testing.assert_allclose(F.clip(x, -1.0, 1.0).numpy(), numpy.minimum(numpy.maximum(array, -1.0), 1.0))
    assert gradcheck(lambda x: F.clip(x, -1.0, 1.0), [x])
    assert gradcheck(lambda x: F.clip(x, low=0.5), [x])
    assert gradcheck(lambda x: x.clip(high=0.5), [x])


def test_clip_at_the_bounds_passes_the_gradient():
    x = leaf([-2.0, 0.0, 0.5, 1.0, 3.0])
    F.clip(x, 0.0, 1.0).sum().backward()
    numpy.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip needs at least one of low and high"):
        F.clip(Tensor([1.0]))


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (3, 4)), ((4,), (3, 1)), ((), (3, 4))])
def test_where_values_and_gradients(shape_a, shape_b, device):
    condition = RNG.random((3, 4)) > 0.5
    a_array, b_array = RNG.standard_normal(shape_a), RNG.standard_normal(shape_b)
    a, b = leaf(a_array, device), leaf(b_array, device)
    numpy.testing.assert_array_equal(F.where(condition, a, b).numpy(), numpy.where(condition, a_array, b_array))
    assert gradcheck(lambda a, b: F.where(condition, a, b), [a, b])


def test_where_with_scalar_branch_and_tensor_condition():
    x = leaf([-1.0, 2.0, -3.0])
    condition = Tensor(numpy.array([True, False, True]))
    result = F.where(condition, x, 0.0)
    result.sum().backward()
    numpy.testing.assert_array_equal(result.numpy(), [-1.0, 0.0, -3.0])
    numpy.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])


def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="condition must be boolean, got float64"):
        F.where(numpy.array([1.0, 0.0]), Tensor([1.0, 2.0]), Tensor([3.0, 4.0]))
