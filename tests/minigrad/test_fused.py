"""batch_norm_relu_dropout: equal to its plain twin, the three ops in a row, to the bit (values, gradients and
running statistics, with the same generator), and its backward checked against finite differences."""
import numpy
import pytest

from minigrad import Tensor, backend, gradcheck
from minigrad.functional import batch_norm_relu_dropout, batch_norm_relu_dropout_simple


def arguments(device, channels, affine, dtype="float32"):
    """Fresh running statistics, and weight and bias (or None), on ``device``."""
    rng = numpy.random.default_rng(1)
    running = [Tensor(rng.standard_normal(channels), dtype=dtype, device=device),
               Tensor(rng.uniform(0.5, 2.0, channels), dtype=dtype, device=device)]
    affine_parameters = [Tensor(rng.standard_normal(channels), dtype=dtype, device=device, requires_grad=True)
                         for _ in range(2)] if affine else [None, None]
    return running + affine_parameters


def run(op, x, device, affine, training, p):
    """{name: array} of op's output, the gradients of x, weight and bias, and the running statistics after one step."""
    x = Tensor(x, device=device, requires_grad=True)
    running_mean, running_var, weight, bias = arguments(device, x.shape[1], affine)
    generator = backend.array_module(device).random.default_rng(5)
    output = op(x, running_mean, running_var, weight, bias, training=training, p=p, generator=generator)
    output.backward(Tensor(numpy.random.default_rng(2).standard_normal(x.shape), dtype="float32", device=device))
    results = {"output": output.data, "dx": x.grad, "running_mean": running_mean.data, "running_var": running_var.data}
    if affine:
        results |= {"dweight": weight.grad, "dbias": bias.grad}
    return {name: backend.to_device(array, "cpu") for name, array in results.items()}


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(16, 4, 6, 6), (9, 3)])
@pytest.mark.parametrize("batch_last", [True, False])
def test_equal_to_its_plain_twin_to_the_bit(device, shape, batch_last, affine, training, p):
    x = numpy.random.default_rng(0).standard_normal(shape).astype(numpy.float32)
    if batch_last:  # a convolution's output
        x = numpy.ascontiguousarray(numpy.moveaxis(x, 0, -1)).transpose((x.ndim - 1,) + tuple(range(x.ndim - 1)))
    fused, composed = (run(op, x, device, affine, training, p)
                       for op in (batch_norm_relu_dropout, batch_norm_relu_dropout_simple))
    for name, expected in composed.items():
        assert numpy.array_equal(fused[name], expected), name


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_with_a_fixed_mask(training):
    x = Tensor(numpy.random.default_rng(0).standard_normal((4, 3, 2, 2)), requires_grad=True)
    running_mean, running_var, weight, bias = arguments("cpu", 3, affine=True, dtype="float64")

    def op(x, weight, bias):
        return batch_norm_relu_dropout(x, running_mean, running_var, weight, bias, training=training, momentum=0.0,
                                       p=0.3, generator=numpy.random.default_rng(7))
    assert gradcheck(op, [x, weight, bias])
