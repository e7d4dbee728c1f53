"""clip and where beyond the op table (tests/op_table.py): the chosen subgradients at clip's bounds, where's
scalar branches and conditions, and the errors."""
import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor


def test_clip_at_the_bounds_passes_the_gradient():
    x = leaf([-2.0, 0.0, 0.5, 1.0, 3.0])
    F.clip(x, 0.0, 1.0).sum().backward()
    numpy.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip needs at least one of low and high"):
        F.clip(Tensor([1.0]))


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


@pytest.mark.parametrize("condition", [True, numpy.bool_(False)])
def test_where_with_a_boolean_scalar_condition(condition):
    """A regression: a scalar condition took the branches' float dtype and where raised."""
    a, b = leaf([1.0, 2.0]), leaf(3.0)
    numpy.testing.assert_array_equal(F.where(condition, a, b).numpy(), [1.0, 2.0] if condition else [3.0, 3.0])
