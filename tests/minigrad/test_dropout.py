"""dropout: kept fraction, scaling, identity cases, a fixed-mask gradcheck, the dtype of the random draw."""
import numpy
import pytest

import minigrad
from minigrad import Tensor, backend, gradcheck
from minigrad.functional import dropout


class RecordingGenerator:
    """A NumPy generator that remembers the dtype and size of every draw."""

    def __init__(self, seed):
        self.generator, self.draws = numpy.random.default_rng(seed), []

    def random(self, size, dtype):
        self.draws.append((tuple(size), numpy.dtype(dtype)))
        return self.generator.random(size, dtype=dtype)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_kept_fraction_and_scaling(p):
    x = Tensor(numpy.full((1000, 1000), 3.0, dtype=numpy.float32))
    output = dropout(x, p, generator=numpy.random.default_rng(0)).data
    kept = output != 0
    # the kept fraction is a mean of 10^6 Bernoulli(1 - p) draws: 5 standard deviations of slack
    assert abs(kept.mean() - (1 - p)) < 5 * numpy.sqrt(p * (1 - p) / kept.size)
    numpy.testing.assert_allclose(output[kept], numpy.float32(3.0 / (1 - p)), rtol=1e-6)


def test_backward_is_grad_times_mask_over_keep_probability():
    x = Tensor(numpy.random.default_rng(0).standard_normal((50, 40)), requires_grad=True)
    output = dropout(x, 0.3, generator=numpy.random.default_rng(1))
    upstream = numpy.random.default_rng(2).standard_normal(x.shape)
    output.backward(upstream)
    mask = numpy.random.default_rng(1).random(x.shape) >= 0.3  # the same draws as inside dropout
    numpy.testing.assert_allclose(x.grad, upstream * mask / 0.7)
    numpy.testing.assert_allclose(output.data, x.data * mask / 0.7)


def test_gradcheck_with_a_fixed_mask():
    x = Tensor(numpy.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    assert gradcheck(lambda x: dropout(x, 0.4, generator=numpy.random.default_rng(7)), [x])


def test_identity_when_not_training_or_p_is_zero():
    x = Tensor(numpy.ones((3, 4)), requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x


def test_p_one_gives_zeros_and_zero_gradient():
    x = Tensor(numpy.ones((3, 4)), requires_grad=True)
    output = dropout(x, 1.0)
    output.sum().backward()
    numpy.testing.assert_array_equal(output.data, 0)
    numpy.testing.assert_array_equal(x.grad, 0)


def test_mask_is_drawn_once_in_the_tensor_dtype():
    generator = RecordingGenerator(0)
    output = dropout(Tensor(numpy.ones((6, 7), dtype=numpy.float32)), 0.5, generator=generator)
    assert generator.draws == [((6, 7), numpy.dtype(numpy.float32))]
    assert output.dtype == numpy.float32


def test_default_generator_follows_manual_seed():
    x = Tensor(numpy.ones((20, 30)))
    minigrad.manual_seed(123)
    first = dropout(x, 0.5).data
    minigrad.manual_seed(123)
    numpy.testing.assert_array_equal(dropout(x, 0.5).data, first)
    assert not numpy.array_equal(dropout(x, 0.5).data, first)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None, True])
def test_bad_probability_raises(p):
    with pytest.raises(ValueError, match=r"dropout probability p must be a number in \[0, 1\]"):
        dropout(Tensor(numpy.ones(3)), p)


@pytest.mark.gpu
def test_gpu_kept_fraction_scaling_and_backward():
    x = Tensor(numpy.full((1000, 1000), 2.0, dtype=numpy.float32), requires_grad=True, device="gpu")
    output = dropout(x, 0.25)
    output.sum().backward()
    assert output.device == "gpu" and output.dtype == numpy.float32 and backend.device_of(x.grad) == "gpu"
    values, grad = output.numpy(), backend.to_device(x.grad, "cpu")
    kept = values != 0
    assert abs(kept.mean() - 0.75) < 5 * numpy.sqrt(0.25 * 0.75 / kept.size)
    numpy.testing.assert_allclose(values[kept], 2.0 / 0.75, rtol=1e-6)
    numpy.testing.assert_allclose(grad, kept / numpy.float32(0.75), rtol=1e-6)


@pytest.mark.gpu
def test_gpu_gradcheck_with_a_fixed_mask():
    cupy = pytest.importorskip("cupy")
    x = Tensor(numpy.random.default_rng(0).standard_normal((4, 5)), requires_grad=True, device="gpu")
    assert gradcheck(lambda x: dropout(x, 0.4, generator=cupy.random.default_rng(7)), [x])
