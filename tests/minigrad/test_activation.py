"""The activations beyond the op table (tests/op_table.py): the chosen subgradients at kinks, infinities and
extremes, layouts, the layers, the errors; softmax and log_softmax's default axis and their stability for logits
around +-1e3."""
import math
import warnings

import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor, gradcheck, nn

RNG = numpy.random.default_rng(4)


def away_from_zero(*shape):
    """|x| in [0.1, 2]: finite differences with eps = 1e-6 never cross a kink at 0."""
    return RNG.uniform(0.1, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)


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


def test_leaky_relu_layer_and_default_slope():
    x = Tensor([-2.0, 0.0, 3.0])
    numpy.testing.assert_allclose(nn.LeakyReLU()(x).numpy(), [-0.02, 0.0, 3.0], rtol=1e-6)
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"


def test_leaky_relu_checks_its_slope():
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a real number, got '0.2'"):
        F.leaky_relu(Tensor([1.0]), "0.2")


def test_gelu_layer():
    x = Tensor(RNG.standard_normal((2, 3)), dtype="float32")
    numpy.testing.assert_array_equal(nn.GELU()(x).numpy(), F.gelu(x).numpy())
    assert repr(nn.GELU()) == "GELU()" and not list(nn.GELU().parameters())


# softmax and log_softmax along an axis
OPS = {"softmax": F.softmax, "log_softmax": F.log_softmax}


def test_softmax_sums_to_one_and_methods_default_to_last_axis():
    x = Tensor(RNG.standard_normal((3, 5)), dtype="float64")
    numpy.testing.assert_allclose(x.softmax().numpy().sum(axis=-1), numpy.ones(3))
    numpy.testing.assert_allclose(x.log_softmax().numpy(), numpy.log(x.softmax().numpy()))


@pytest.mark.parametrize("name", OPS)
def test_huge_logits_equal_shifted_logits(name):
    """Adding a constant to every logit of a row changes nothing, even when it takes them to +-1e3,
    and even when the rows of one batch lie 2e3 apart (each row is shifted by its own maximum)."""
    moderate = RNG.standard_normal((3, 4))
    upstream = RNG.standard_normal((3, 4))
    results = []
    for shift in (0.0, 1e3, -1e3, [[1e3], [-1e3], [0.0]]):
        x = leaf(moderate + shift)
        output = OPS[name](x, -1)
        output.backward(upstream)
        assert numpy.all(numpy.isfinite(output.numpy())) and numpy.all(numpy.isfinite(x.grad))
        results.append((output.numpy(), x.grad))
    for output, grad in results[1:]:
        numpy.testing.assert_allclose(output, results[0][0], rtol=1e-9, atol=1e-12)
        numpy.testing.assert_allclose(grad, results[0][1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", OPS)
def test_gradcheck_at_large_offsets(name, device):
    # At |x| ~ 1e3 a float64 step of 1e-6 keeps ~10 digits of the difference; a larger step keeps more.
    x = leaf(RNG.standard_normal((3, 4)) + 1e3, device)
    assert gradcheck(lambda x: OPS[name](x, -1), [x], eps=1e-4)


def test_spread_of_two_thousand_gives_exact_zero_and_one():
    x = leaf([[1e3, -1e3, 0.0]])
    numpy.testing.assert_array_equal(F.softmax(x).numpy(), [[1.0, 0.0, 0.0]])
    numpy.testing.assert_allclose(F.log_softmax(x).numpy(), [[0.0, -2e3, -1e3]])
