"""cross_entropy beyond the op table (tests/op_table.py): the gradient's closed form, stability, and bad targets."""
import math

import numpy
import pytest
from helpers import leaf
from op_table import cross_entropy_by_loops

import minigrad.functional as F
from minigrad import Tensor, gradcheck

RNG = numpy.random.default_rng(5)
REDUCTIONS = ["mean", "sum", "none"]


def test_gradient_is_softmax_minus_one_hot_over_n():
    logits, target = RNG.standard_normal((3, 4)), numpy.array([3, 0, 0])
    x = leaf(logits)
    F.cross_entropy(x, target).backward()
    probabilities = numpy.exp(logits) / numpy.exp(logits).sum(axis=1, keepdims=True)
    numpy.testing.assert_allclose(x.grad, (probabilities - numpy.eye(4)[target]) / 3, rtol=1e-12)


def test_huge_logits_equal_shifted_logits():
    """Shifting a row's logits changes nothing, also for rows of one batch 2e3 apart (each row is
    shifted by its own maximum: the batch's would leave the low row exp(-2e3) = 0 and log(0))."""
    logits, target = RNG.standard_normal((3, 4)), numpy.array([1, 3, 0])
    results = []
    for shift in (0.0, 1e3, -1e3, [[1e3], [-1e3], [0.0]]):
        x = leaf(logits + shift)
        loss = F.cross_entropy(x, target, label_smoothing=0.1)
        loss.backward()
        assert math.isfinite(loss.item()) and numpy.all(numpy.isfinite(x.grad))
        results.append((loss.item(), x.grad))
    for loss, grad in results[1:]:
        numpy.testing.assert_allclose(loss, results[0][0], rtol=1e-9)
        numpy.testing.assert_allclose(grad, results[0][1], rtol=1e-9, atol=1e-15)


def test_confident_wrong_answer_costs_the_logit_gap():
    # -log softmax([1e3, -1e3])[1] = 2e3 exactly, where a naive exp would overflow
    loss = F.cross_entropy(leaf([[1e3, -1e3]]), numpy.array([1]))
    numpy.testing.assert_allclose(loss.item(), 2e3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_at_large_offsets(reduction, device):
    x = leaf(RNG.standard_normal((3, 4)) + 1e3, device)
    target = numpy.array([0, 2, 3])
    assert gradcheck(lambda x: F.cross_entropy(x, target, label_smoothing=0.1, reduction=reduction), [x], eps=1e-4)


def test_target_may_be_an_integer_tensor():
    logits = RNG.standard_normal((2, 3))
    target = numpy.array([2, 1])
    expected = cross_entropy_by_loops(logits, target, 0.0, "mean")
    numpy.testing.assert_allclose(F.cross_entropy(Tensor(logits, dtype="float64"), Tensor(target)).item(), expected)


LOGITS = Tensor(numpy.zeros((2, 3)))


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ((LOGITS, [0, 3]), ValueError, r"target values must lie in \[0, 3\), got min 0, max 3"),
        ((LOGITS, [-1, 0]), ValueError, r"target values must lie in \[0, 3\), got min -1"),
        ((LOGITS, numpy.array([0.0, 1.0])), TypeError, "target must hold integer class indices, got dtype float64"),
        ((LOGITS, [0, 1, 2]), ValueError, r"target shape \(3,\) does not match logits \(2, 3\); expected \(2,\)"),
        ((LOGITS, [[0], [1]]), ValueError, r"target shape \(2, 1\) does not match"),
        ((Tensor(numpy.zeros(3)), [0]), ValueError, r"expects logits of shape \(N, C\), got \(3,\)"),
    ],
)
def test_bad_targets_and_logits(arguments, error, message):
    with pytest.raises(error, match=message):
        F.cross_entropy(*arguments)


def test_bad_options():
    with pytest.raises(ValueError, match="reduction must be one of .*got 'avg'"):
        F.cross_entropy(LOGITS, [0, 1], reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(LOGITS, [0, 1], label_smoothing=1.5)


# cross_entropy_simple, the plain tier: composed of log_softmax and indexing; the fused op equals it.
