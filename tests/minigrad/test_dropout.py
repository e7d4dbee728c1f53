"""dropout: kept fraction, scaling, identity cases, a fixed-mask gradcheck, the 16-bit draw and its
memory order (the mask follows x's layout)."""
import numpy
import pytest
from helpers import assert_same_outputs_and_gradients

import minigrad
from minigrad import Tensor, backend, gradcheck
from minigrad.functional import dropout, dropout_simple
from minigrad.functional.dropout import Dropout


class RecordingGenerator:
    """A generator with only ``integers`` (as CuPy's, seen by dropout) that records every draw."""

    def __init__(self, seed):
        self.generator, self.draws = numpy.random.default_rng(seed), []

    def integers(self, low, high, size, dtype):
        self.draws.append((low, high, tuple(size), numpy.dtype(dtype)))
        return self.generator.integers(low, high, size, dtype=dtype)


def expected_keep(seed, shape, p):
    """The keep mask dropout draws from a NumPy generator seeded with ``seed``, from its definition:
    16-bit integers cut from the raw 64-bit words (low half first), kept when >= round(p * 65536)."""
    count = int(numpy.prod(shape))
    words = numpy.random.default_rng(seed).bit_generator.random_raw((count + 3) // 4)
    draws = [(int(word) >> shift) & 0xFFFF for word in words for shift in (0, 16, 32, 48)]
    return (numpy.array(draws[:count]) >= round(p * 65536)).reshape(shape)


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
    mask = expected_keep(1, x.shape, 0.3)
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


def test_other_generators_draw_16_bit_integers_once_and_the_tensor_dtype_is_kept():
    generator = RecordingGenerator(0)
    output = dropout(Tensor(numpy.ones((6, 7), dtype=numpy.float32)), 0.5, generator=generator)
    assert generator.draws == [(0, 65536, (6, 7), numpy.dtype(numpy.uint16))]
    assert output.dtype == numpy.float32
    draws = numpy.random.default_rng(0).integers(0, 65536, (6, 7), dtype=numpy.uint16)
    numpy.testing.assert_array_equal(output.data != 0, draws >= 32768)


def test_keep_probability_is_quantized_to_multiples_of_one_65536th():
    """p = 1/65536 drops exactly the draws equal to 0; a smaller p rounds to keeping everything."""
    x = Tensor(numpy.ones(300_000))
    keep = expected_keep(3, x.shape, 1 / 65536)
    numpy.testing.assert_array_equal(dropout(x, 1 / 65536, generator=numpy.random.default_rng(3)).data != 0, keep)
    assert not keep.all()
    output = dropout(x, 1e-6, generator=numpy.random.default_rng(3))
    numpy.testing.assert_array_equal(output.data, x.data * (1 / (1 - 1e-6)))


def test_batch_last_input_gets_a_mask_in_its_own_layout():
    """A (C, H, W, N)-stored x: the draws fill memory in order, so the mask is the draws for the
    (C, H, W, N) shape seen through the same transposed view, and output and gradient keep the layout."""
    stored = numpy.random.default_rng(0).standard_normal((3, 4, 5, 6))  # (C, H, W, N)
    x = Tensor(stored.transpose(3, 0, 1, 2), requires_grad=True)  # logical (N, C, H, W)
    output = dropout(x, 0.4, generator=numpy.random.default_rng(5))
    mask = expected_keep(5, stored.shape, 0.4).transpose(3, 0, 1, 2) / 0.6
    numpy.testing.assert_allclose(output.data, x.data * mask)
    assert output.data.transpose(1, 2, 3, 0).flags.c_contiguous
    upstream = numpy.random.default_rng(6).standard_normal(stored.shape).transpose(3, 0, 1, 2)
    output.backward(upstream)
    numpy.testing.assert_allclose(x.grad, upstream * mask)


def test_default_generator_follows_manual_seed():
    x = Tensor(numpy.ones((20, 30)))
    minigrad.manual_seed(123)
    first = dropout(x, 0.5).data
    minigrad.manual_seed(123)
    numpy.testing.assert_array_equal(dropout(x, 0.5).data, first)
    assert not numpy.array_equal(dropout(x, 0.5).data, first)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None, True])
def test_bad_probability_raises(p):
    with pytest.raises(ValueError, match=r"dropout p must be a probability in \[0, 1\]"):
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
    cupy = backend.array_module("gpu")
    x = Tensor(numpy.random.default_rng(0).standard_normal((4, 5)), requires_grad=True, device="gpu")
    assert gradcheck(lambda x: dropout(x, 0.4, generator=cupy.random.default_rng(7)), [x])


# dropout_simple, the plain tier: its mask by definition, finite differences, and the fast Dropout equal to it
# given the same mask (the two tiers draw their masks differently; the fast mask's statistics are tested above).
def test_dropout_simple_mask_is_random_at_least_p():
    x = Tensor(numpy.random.default_rng(0).standard_normal((30, 20)))
    output = dropout_simple(x, 0.3, generator=numpy.random.default_rng(5))
    keep = numpy.random.default_rng(5).random(x.shape) >= 0.3
    numpy.testing.assert_allclose(output.data, x.data * keep / 0.7, rtol=1e-6)


def test_dropout_simple_gradcheck_with_a_fixed_mask():
    x = Tensor(numpy.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    assert gradcheck(lambda x: dropout_simple(x, 0.4, generator=numpy.random.default_rng(7)), [x])


def test_dropout_simple_identity_and_p_one():
    x = Tensor(numpy.ones((3, 4)), requires_grad=True)
    assert dropout_simple(x, 0.5, training=False) is x and dropout_simple(x, 0.0) is x
    output = dropout_simple(x, 1.0)
    output.backward(numpy.ones((3, 4)))
    assert not output.data.any() and not x.grad.any()


class FixedDraws:
    """A generator whose ``random`` returns the given uniform draws: dropout_simple's mask, chosen by the test."""

    def __init__(self, uniforms):
        self.uniforms = uniforms

    def random(self, shape):
        assert tuple(shape) == self.uniforms.shape
        return self.uniforms


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (6, 11)])
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_fast_dropout_equals_dropout_simple_given_the_same_mask(p, shape, dtype, device):
    rng = numpy.random.default_rng(0)
    x, uniforms, upstream = rng.standard_normal(shape), rng.random(shape), rng.standard_normal(shape)
    uniforms_on_device = Tensor(uniforms, device=device).data
    assert_same_outputs_and_gradients(
        lambda x: Dropout()(x, ((uniforms_on_device >= p) * (1 / (1 - p))).astype(dtype)),
        lambda x: dropout_simple(x, p, generator=FixedDraws(uniforms_on_device)),
        [x], upstream, device, dtype,
    )
