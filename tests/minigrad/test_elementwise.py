"""exp, log, sqrt, relu, leaky_relu, sigmoid, tanh, clip, where: values, gradients, and the chosen subgradients at kinks."""
import math
import warnings

import numpy
import pytest

import minigrad.functional as F
from minigrad import Tensor, gradcheck, nn
from helpers import leaf

RNG = numpy.random.default_rng(1)


def away_from_zero(*shape):
    """|x| in [0.1, 2]: finite differences with eps = 1e-6 never cross a kink at 0."""
    return RNG.uniform(0.1, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)


def elementwise(function, array):
    """Apply a scalar math function element by element: the slow, obviously correct reference."""
    return numpy.vectorize(function)(array)


# op, its reference on one number, and inputs inside its domain and away from its kinks
UNARY_CASES = {
    "exp": (F.exp, math.exp, lambda: RNG.standard_normal((2, 3))),
    "log": (F.log, math.log, lambda: RNG.uniform(0.2, 3.0, (2, 3))),
    "sqrt": (F.sqrt, math.sqrt, lambda: RNG.uniform(0.2, 3.0, (2, 3))),
    "relu": (F.relu, lambda v: max(v, 0.0), lambda: away_from_zero(2, 3)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda v: v if v > 0 else 0.2 * v, lambda: away_from_zero(2, 3)),
    "sigmoid": (F.sigmoid, lambda v: 1 / (1 + math.exp(-v)), lambda: 3 * RNG.standard_normal((2, 3))),
    "tanh": (F.tanh, math.tanh, lambda: RNG.standard_normal((2, 3))),
}


@pytest.mark.parametrize("name", UNARY_CASES)
def test_unary_values_and_gradients(name, device):
    op, reference, make_input = UNARY_CASES[name]
    array = make_input()
    x = leaf(array, device)
    numpy.testing.assert_allclose(op(x).numpy(), elementwise(reference, array), rtol=1e-12)
    assert gradcheck(op, [x])


@pytest.mark.parametrize("name", UNARY_CASES)
def test_unary_ops_keep_float32(name):
    op, _, make_input = UNARY_CASES[name]
    assert op(Tensor(make_input(), dtype="float32")).dtype == numpy.float32


def test_relu_keeps_a_batch_last_layout():
    """On a transposed view (a batch-last activation) relu's output and gradient keep that layout."""
    stored = away_from_zero(3, 4, 5, 6)  # (C, H, W, N) in memory
    x = leaf(stored).transpose(3, 0, 1, 2)
    output = F.relu(x)
    output.backward(numpy.ones(output.shape))
    numpy.testing.assert_array_equal(output.data, numpy.maximum(stored, 0).transpose(3, 0, 1, 2))
    assert output.data.transpose(1, 2, 3, 0).flags.c_contiguous


def test_relu_subgradient_at_zero_is_zero():
    x = leaf([-1.0, 0.0, 2.0])
    F.relu(x).sum().backward()
    numpy.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_relu_of_infinities():
    numpy.testing.assert_array_equal(F.relu(Tensor([-numpy.inf, numpy.inf])).numpy(), [0.0, numpy.inf])


def test_sigmoid_is_finite_and_precise_at_extremes():
    values = numpy.array([-1000.0, -30.0, 30.0, 1000.0])
    x = leaf(values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        output = F.sigmoid(x)
        output.sum().backward()
    expected = [0.0, 1 / (1 + math.exp(30)), 1 / (1 + math.exp(-30)), 1.0]
    numpy.testing.assert_allclose(output.numpy(), expected, rtol=1e-14)
    assert numpy.all(numpy.isfinite(x.grad))
    numpy.testing.assert_allclose(x.grad[1], math.exp(-30) / (1 + math.exp(-30)) ** 2, rtol=1e-12)


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


def test_leaky_relu_layer_and_default_slope():
    x = Tensor([-2.0, 0.0, 3.0])
    numpy.testing.assert_allclose(nn.LeakyReLU()(x).numpy(), [-0.02, 0.0, 3.0], rtol=1e-6)
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
