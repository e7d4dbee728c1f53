"""softmax and log_softmax: values from the definition, gradients, and stability for logits around +-1e3."""
import math

import numpy
import pytest

import minigrad.functional as F
from minigrad import Tensor, gradcheck
from helpers import leaf

RNG = numpy.random.default_rng(4)
OPS = {"softmax": F.softmax, "log_softmax": F.log_softmax}


def softmax_by_loops(array, axis, log):
    """exp(x_i) / sum_j exp(x_j) along ``axis``, one slice at a time with math.exp (values must be moderate)."""
    moved = numpy.moveaxis(array, axis, -1)
    out = numpy.zeros_like(moved)
    for index in numpy.ndindex(*moved.shape[:-1]):
        total = sum(math.exp(value) for value in moved[index])
        out[index] = [value - math.log(total) if log else math.exp(value) / total for value in moved[index]]
    return numpy.moveaxis(out, -1, axis)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_values_and_gradients(name, axis, device):
    array = RNG.standard_normal((2, 3, 4))
    x = leaf(array, device)
    expected = softmax_by_loops(array, axis, log=name == "log_softmax")
    numpy.testing.assert_allclose(OPS[name](x, axis).numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda x: OPS[name](x, axis), [x])


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
