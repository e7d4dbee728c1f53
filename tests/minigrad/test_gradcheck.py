"""gradcheck must catch wrong backwards, including one that a plain sum of the outputs would hide."""
import numpy
import pytest

import minigrad.functional as F
from minigrad import Function, GradcheckError, Tensor, gradcheck
from minigrad.gradcheck import numerical_gradient
from helpers import leaf

RNG = numpy.random.default_rng(6)


class DoubledSquare(Function):
    """a^2 with a backward off by a factor of two."""

    def forward(self, a):
        self.save_for_backward(a)
        return a * a

    def backward(self, grad):
        (a,) = self.saved
        return (4 * a * grad,)


class SignFlippedProduct(Function):
    """a * b whose gradient for b has the wrong sign (and is right for a)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad):
        a, b = self.saved
        return grad * b, -grad * a


class SlightlyOffSquare(DoubledSquare):
    """a^2 whose backward is 0.1% too large: a bug float64 differences must see."""

    def backward(self, grad):
        (a,) = self.saved
        return (2.002 * a * grad,)


class FrozenSoftmax(Function):
    """softmax along the last axis whose backward claims a zero gradient.

    Its outputs always sum to one, so d(sum of outputs)/da really is zero: only a
    random upstream gradient shows that this backward is wrong.
    """

    def forward(self, a):
        exponentials = numpy.exp(a - a.max(axis=-1, keepdims=True))
        return exponentials / exponentials.sum(axis=-1, keepdims=True)

    def backward(self, grad):
        return (numpy.zeros(grad.shape),)


class OneBadElement(Function):
    """The identity, whose backward is wrong at a single position."""

    def forward(self, a):
        return a.copy()

    def backward(self, grad):
        wrong = grad.copy()
        wrong[1, 2] += 5.0
        return (wrong,)


def test_correct_gradients_pass():
    assert gradcheck(lambda a, b: F.tanh(a @ b).sum(axis=0), [leaf(RNG.standard_normal((3, 4))), leaf(RNG.standard_normal((4, 2)))])


def test_wrong_factor_is_caught_and_reported():
    with pytest.raises(GradcheckError, match=r"gradcheck of DoubledSquare failed for input 0 \(shape \(2, 3\)\): at index \(\d, \d\) analytic .* vs numeric .*relative error 0.5 "):
        gradcheck(DoubledSquare(), [leaf(RNG.uniform(0.5, 1.0, (2, 3)))])


def test_float64_tolerances_catch_a_backward_off_by_a_tenth_of_a_percent():
    """Pins the float64 tolerances (rtol 1e-5): loosened a hundredfold they would let this pass."""
    with pytest.raises(GradcheckError, match=r"SlightlyOffSquare failed .*relative error 0.000999 "):
        gradcheck(SlightlyOffSquare(), [leaf(RNG.uniform(0.5, 1.0, (2, 3)))])


def test_wrong_sign_is_caught_in_the_right_input():
    a, b = leaf(RNG.uniform(0.5, 1.0, 4)), leaf(RNG.uniform(0.5, 1.0, 4))
    with pytest.raises(GradcheckError, match="SignFlippedProduct failed for input 1 .*relative error 2"):
        gradcheck(lambda a, b: SignFlippedProduct()(a, b), [a, b])


def test_error_names_the_worst_element():
    with pytest.raises(GradcheckError, match=r"at index \(1, 2\) analytic .* vs numeric "):
        gradcheck(lambda a: OneBadElement()(a), [leaf(RNG.standard_normal((2, 4)))])


def test_wrong_backward_hidden_by_a_plain_sum_is_caught():
    x = leaf(RNG.standard_normal((2, 3)))
    # The check a plain sum would do: numeric gradient of sum(outputs) is zero, like the wrong backward.
    ones = numpy.ones((2, 3))
    every_element = numpy.arange(x.size)
    numpy.testing.assert_allclose(numerical_gradient(lambda a: FrozenSoftmax()(a), [x], x, ones, 1e-6, every_element), 0.0, atol=1e-8)
    with pytest.raises(GradcheckError, match="gradcheck of FrozenSoftmax failed for input 0"):
        gradcheck(lambda a: FrozenSoftmax()(a), [x])


def test_skips_inputs_that_do_not_require_grad_and_counts_their_position():
    constant = Tensor(RNG.uniform(0.5, 1.0, 4), dtype="float64")
    x = leaf(RNG.uniform(0.5, 1.0, 4))
    assert gradcheck(lambda c, a: F.mul(c, a), [constant, x])
    with pytest.raises(GradcheckError, match="failed for input 1"):
        gradcheck(lambda c, a: SignFlippedProduct()(a, c) * 0 + DoubledSquare()(a), [constant, x])


def test_inputs_are_left_unchanged():
    array = RNG.standard_normal((3, 3))
    x = leaf(array.copy())
    gradcheck(F.exp, [x])
    numpy.testing.assert_array_equal(x.data, array)


def test_float32_inputs_use_looser_tolerances():
    assert gradcheck(F.sigmoid, [Tensor(RNG.standard_normal(5), requires_grad=True, dtype="float32")])


def test_no_input_requiring_grad():
    with pytest.raises(ValueError, match="gradcheck: no input has requires_grad=True"):
        gradcheck(F.exp, [Tensor(numpy.ones(2), dtype="float64")])


def test_non_contiguous_input():
    x = Tensor(numpy.ones((3, 2)), dtype="float64").T.detach().requires_grad_()
    with pytest.raises(ValueError, match="inputs must be C-contiguous"):
        gradcheck(F.exp, [x])


def test_sampled_check_still_catches_a_wrong_element_it_samples():
    x = leaf(RNG.standard_normal((2, 4)))
    with pytest.raises(GradcheckError, match=r"at index \(1, 2\)"):
        gradcheck(lambda a: OneBadElement()(a), [x], samples=8)
    assert gradcheck(lambda a: a * a, [x], samples=3)
