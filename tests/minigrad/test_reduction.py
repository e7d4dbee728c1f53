"""sum, mean, max over every kind of axis argument; max's gradient at ties."""
import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor, gradcheck

RNG = numpy.random.default_rng(2)
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


def distinct_values(*shape):
    """Values at least 0.1 apart, so finite differences never create or break a tie in max."""
    return RNG.permutation(numpy.prod(shape)).reshape(shape) * 0.1 + RNG.uniform(0, 0.01, shape)


def reduce_by_loops(function, array, axis, keepdims):
    """Apply ``function`` to the list of elements sharing each kept index: the definition of a reduction."""
    axes = tuple(range(array.ndim)) if axis is None else tuple(a % array.ndim for a in numpy.atleast_1d(axis))
    kept_shape = tuple(1 if a in axes else size for a, size in enumerate(array.shape))
    out = numpy.zeros(kept_shape)
    for index in numpy.ndindex(*kept_shape):
        selection = tuple(slice(None) if a in axes else i for a, i in enumerate(index))
        out[index] = function(list(array[selection].ravel()))
    return out if keepdims else out.reshape(tuple(s for a, s in enumerate(array.shape) if a not in axes))


REDUCTIONS = {"sum": (F.sum, sum), "mean": (F.mean, lambda values: sum(values) / len(values)), "max": (F.max, max)}


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_values_and_gradients(name, axis, keepdims, device):
    op, reference = REDUCTIONS[name]
    array = distinct_values(2, 3, 4)
    x = leaf(array, device)
    output = op(x, axis, keepdims)
    expected = reduce_by_loops(reference, array, axis, keepdims)
    assert output.shape == expected.shape
    numpy.testing.assert_allclose(output.numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda x: op(x, axis, keepdims), [x])


def test_tensor_methods_call_the_reductions():
    array = distinct_values(2, 3)
    x = Tensor(array)
    numpy.testing.assert_allclose(x.sum(axis=1).numpy(), array.sum(axis=1))
    numpy.testing.assert_allclose(x.mean(axis=0, keepdims=True).numpy(), array.mean(axis=0, keepdims=True))
    numpy.testing.assert_allclose(x.max().numpy(), array.max())


def test_max_splits_the_gradient_equally_between_ties():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [5.0, 0.0, 1.0]])
    F.max(x, axis=1).backward(numpy.array([1.0, 3.0, 2.0]))
    numpy.testing.assert_allclose(x.grad, [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0], [2.0, 0.0, 0.0]])


def test_max_ties_match_torch_amax():
    torch = pytest.importorskip("torch")
    array = numpy.array([[[1.0, 4.0], [4.0, 2.0]], [[3.0, 3.0], [3.0, 3.0]]])
    upstream = numpy.array([2.0, -1.0])
    x = leaf(array)
    F.max(x, axis=(1, 2)).backward(upstream)
    reference = torch.tensor(array, requires_grad=True)
    torch.amax(reference, dim=(1, 2)).backward(torch.tensor(upstream))
    numpy.testing.assert_allclose(x.grad, reference.grad.numpy())


def test_mean_of_float32_stays_float32():
    assert F.mean(Tensor(numpy.ones((2, 3), dtype=numpy.float32)), axis=0).dtype == numpy.float32


@pytest.mark.parametrize("op", [F.sum, F.mean, F.max])
def test_axis_out_of_range(op):
    with pytest.raises(ValueError, match="axis 3 is out of range for a tensor of 3 dimensions"):
        op(Tensor(numpy.ones((2, 3, 4))), axis=3)
    with pytest.raises(ValueError, match="axis -4 is out of range"):
        op(Tensor(numpy.ones((2, 3, 4))), axis=(0, -4))
