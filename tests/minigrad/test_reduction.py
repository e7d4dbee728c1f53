"""sum, mean, max beyond the op table (tests/op_table.py): max's gradient at ties, and axes out of range."""
import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor


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


@pytest.mark.parametrize("op", [F.sum, F.mean, F.max])
def test_axis_out_of_range(op):
    with pytest.raises(ValueError, match="axis 3 is out of range for a tensor of 3 dimensions"):
        op(Tensor(numpy.ones((2, 3, 4))), axis=3)
    with pytest.raises(ValueError, match="axis -4 is out of range"):
        op(Tensor(numpy.ones((2, 3, 4))), axis=(0, -4))
