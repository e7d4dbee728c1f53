"""minigrad.layout: batch-last views and their inverses, channel rows, and the layout a reader can print."""
import numpy
import pytest

from minigrad import Tensor
from minigrad.functional import conv2d
from minigrad.layout import batch_first, batch_last, channel_rows, describe_layout, from_channel_rows, is_batch_last


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5)])
def test_batch_last_moves_the_batch_axis_to_the_back_and_batch_first_undoes_it(shape):
    x = numpy.arange(numpy.prod(shape)).reshape(shape)
    assert batch_last(x).shape == shape[1:] + shape[:1]
    assert batch_last(x)[(1,) * (len(shape) - 1) + (0,)] == x[(0,) + (1,) * (len(shape) - 1)]
    numpy.testing.assert_array_equal(batch_first(batch_last(x)), x)


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5)])
def test_channel_rows_hold_each_channel_and_round_trip(shape):
    x = numpy.random.default_rng(0).standard_normal(shape)
    rows = channel_rows(x)
    for channel in range(shape[1]):
        numpy.testing.assert_array_equal(numpy.sort(rows[channel]), numpy.sort(x[:, channel].ravel()))
    numpy.testing.assert_array_equal(from_channel_rows(rows, shape), x)
    assert is_batch_last(from_channel_rows(rows, shape))


def test_describe_layout_tells_batch_first_from_batch_last():
    x = Tensor(numpy.zeros((2, 3, 5, 4), dtype=numpy.float32))
    assert describe_layout(x) == "(2, 3, 5, 4) stored as axes (0, 1, 2, 3): batch-first (C order)"
    output = conv2d(x, Tensor(numpy.zeros((6, 3, 3, 3), dtype=numpy.float32)))
    assert describe_layout(output) == "(2, 6, 3, 2) stored as axes (1, 2, 3, 0): batch-last"
    assert describe_layout(x.data.transpose(0, 2, 1, 3)).endswith("another order")
