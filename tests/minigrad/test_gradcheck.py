"""gradcheck must catch wrong backwards, including one that a plain sum of the outputs would hide, and name the op at fault."""
import re

import numpy
import pytest
from helpers import leaf

import minigrad
import minigrad.functional as F
from minigrad import Function, GradcheckError, Tensor, gradcheck, nn
from minigrad.gradcheck import numerical_gradient
from minigrad.graph import ops_in_forward_order

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
    with pytest.raises(GradcheckError, match=r"is wrong for:\n  input 1 \(shape \(4,\)\)"):
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


def test_a_gradient_off_by_a_constant_factor_is_named_as_such():
    with pytest.raises(GradcheckError, match=r"analytic = numeric x 2\b") as error:
        gradcheck(DoubledSquare(), [leaf(RNG.uniform(0.5, 1.0, (2, 3)))])
    assert "\n" not in str(error.value)  # one op, one input: the op is the culprit, already named


def test_an_error_that_is_no_factor_reports_none():
    with pytest.raises(GradcheckError) as error:
        gradcheck(lambda a: OneBadElement()(a), [leaf(RNG.standard_normal((2, 4)))])
    assert "analytic = numeric x" not in str(error.value)


# Culprit finding: bugs planted in the ops of a small network
def small_network():
    """Conv2d, BatchNorm2d, ReLU, AvgPool2d, Flatten, Linear in float64: six ops, one per module."""
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 2))
    for tensor in [*model.parameters(), *model.buffers()]:
        tensor.data = tensor.data.astype(numpy.float64)
    return model


def check_network(model):
    x = leaf(numpy.random.default_rng(1).standard_normal((2, 2, 4, 4)))
    return gradcheck(lambda x, *parameters: model(x), [x, *model.parameters()], params=model)


def plant_scaled_backward(monkeypatch, position, factor):
    """Scale every gradient that the backward of the class of the small network's op at ``position`` returns."""
    op_class = type(ops_in_forward_order(small_network()(leaf(numpy.ones((1, 2, 4, 4)))))[position])
    backward = op_class.backward

    def scaled(self, grad):
        return tuple(None if input_grad is None else factor * input_grad for input_grad in backward(self, grad))

    monkeypatch.setattr(op_class, "backward", scaled)


def test_a_correct_network_passes_with_its_parameters_named():
    assert check_network(small_network())


def culprit_line(op, position):
    return (f"gradcheck: the backward of {op} is wrong (op {position} of 6 in forward order, "
            "checked alone in float64 on the inputs it recorded)")


@pytest.mark.parametrize("position, culprit", [
    (0, "Conv2d of module 0"), (1, "BatchNorm of module 1"), (2, "ReLU of module 2"), (5, "Linear of module 5"),
], ids=["start", "middle-batchnorm", "middle-relu", "end"])
def test_the_report_leads_with_the_broken_op(monkeypatch, position, culprit):
    model = small_network()
    plant_scaled_backward(monkeypatch, position, 0.25)
    with pytest.raises(GradcheckError) as error:
        check_network(model)
    assert str(error.value).splitlines()[0] == culprit_line(culprit, position + 1)
    assert str(error.value).count("gradcheck: the backward of") == 1


def test_every_failing_input_is_reported_with_its_name_and_factor(monkeypatch):
    model = small_network()
    plant_scaled_backward(monkeypatch, 5, 0.25)
    with pytest.raises(GradcheckError) as error:
        check_network(model)
    culprit, whole = str(error.value).split("so the gradient of the whole function (its output made by Linear) is wrong for:")
    assert re.findall(r"^  (input \d(?: '[\w.]+')?)", culprit, re.MULTILINE) == ["input 0", "input 1 '5.weight'", "input 2 '5.bias'"]
    # The input and every parameter get their gradient through the broken Linear (BatchNorm cancels the conv's bias).
    for name in ("input 0 (shape (2, 2, 4, 4))", "input 1 '0.weight'", "input 3 '1.weight'", "input 4 '1.bias'", "input 5 '5.weight'", "input 6 '5.bias'"):
        assert re.search(f"^  {re.escape(name)}.*; analytic = numeric x 0.25$", whole, re.MULTILINE), name


def test_checking_each_op_leaves_the_running_statistics_to_the_network(monkeypatch):
    clean = small_network()
    check_network(clean)
    broken = small_network()
    plant_scaled_backward(monkeypatch, 1, 0.25)
    with pytest.raises(GradcheckError, match="BatchNorm of module 1"):
        check_network(broken)
    # Both networks ran the same forward passes of the whole; re-running the BatchNorm op alone must add none.
    numpy.testing.assert_array_equal(broken[1].running_mean.data, clean[1].running_mean.data)
    numpy.testing.assert_array_equal(broken[1].running_var.data, clean[1].running_var.data)


def test_ops_that_each_pass_point_outside_them():
    # the product's second factor is x's value without its graph: d/dx misses a term, though Exp and Mul are right
    with pytest.raises(GradcheckError, match="each of its 2 ops passes on its own"):
        gradcheck(lambda x: F.exp(x) * Tensor(x.data), [leaf(RNG.standard_normal(3))])


def test_two_broken_ops_are_both_named_in_forward_order(monkeypatch):
    plant_scaled_backward(monkeypatch, 5, 0.25)
    plant_scaled_backward(monkeypatch, 1, -1.0)
    with pytest.raises(GradcheckError) as error:
        check_network(small_network())
    lines = str(error.value).splitlines()
    named = [line for line in lines if line.startswith("gradcheck: the backward of")]
    assert named == [culprit_line("BatchNorm of module 1", 2), culprit_line("Linear of module 5", 6)]
    assert lines[0] == named[0] and lines[1].endswith("analytic = numeric x -1")
    assert lines[lines.index(named[1]) + 1].endswith("analytic = numeric x 0.25")
