"""linear beyond the op table (tests/op_table.py): one fused op, a frozen weight, float32, and the errors."""
import numpy
import pytest
from helpers import outputs_and_gradients

from minigrad import Tensor
from minigrad.functional import linear


def make_inputs(x_shape, out_features, with_bias, seed=0):
    rng = numpy.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((out_features, x_shape[-1]))]
    if with_bias:
        arrays.append(rng.standard_normal(out_features))
    return [Tensor(array, requires_grad=True) for array in arrays]


def test_is_one_fused_op():
    output = linear(*make_inputs((4, 3), 2, with_bias=True))
    assert type(output.grad_fn).__name__ == "Linear"
    assert all(tensor.grad_fn is None for tensor in output.grad_fn.inputs)


@pytest.mark.parametrize("with_bias", [True, False])
def test_a_frozen_weight_and_bias_still_pass_the_gradient_to_x(with_bias):
    """Whether x needs a gradient is x's business: a frozen layer must not cut the graph below it."""
    arrays = [tensor.data for tensor in make_inputs((4, 3), 2, with_bias)]
    upstream = numpy.random.default_rng(1).standard_normal((4, 2))
    frozen = [Tensor(array) for array in arrays[1:]]
    _, grad_x = outputs_and_gradients(lambda x: linear(x, *frozen), arrays[:1], upstream)
    _, expected_grad_x, *_ = outputs_and_gradients(linear, arrays, upstream)
    assert grad_x is not None
    numpy.testing.assert_allclose(grad_x, expected_grad_x, rtol=1e-12)


def test_float32_stays_float32():
    x, weight, bias = (Tensor(tensor.data.astype(numpy.float32), requires_grad=True)
                       for tensor in make_inputs((4, 3), 2, with_bias=True))
    output = linear(x, weight, bias)
    output.sum().backward()
    assert output.dtype == x.grad.dtype == weight.grad.dtype == bias.grad.dtype == numpy.float32


@pytest.mark.parametrize(
    "x_shape, weight_shape, bias_shape, message",
    [
        ((4, 3), (2, 5), None, r"x has 3 input features .* weight of shape \(2, 5\) expects 5"),
        ((4, 3), (3,), None, r"weight of shape \(out_features, in_features\), got shape \(3,\)"),
        ((), (2, 3), None, "0-dimensional"),
        ((4, 3), (2, 3), (3,), r"bias must have shape \(out_features,\) = \(2,\), got \(3,\)"),
    ],
)
def test_bad_shapes_raise_clear_errors(x_shape, weight_shape, bias_shape, message):
    bias = None if bias_shape is None else Tensor(numpy.zeros(bias_shape))
    with pytest.raises(ValueError, match=message):
        linear(Tensor(numpy.zeros(x_shape)), Tensor(numpy.zeros(weight_shape)), bias)
