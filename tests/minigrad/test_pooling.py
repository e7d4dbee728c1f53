"""avg_pool2d and global_avg_pool2d beyond the op table (tests/op_table.py): batch-last input, and the errors."""
import numpy
import pytest
from op_table import avg_pool2d_by_loops

from minigrad import Tensor, backend, gradcheck
from minigrad.functional import avg_pool2d, global_avg_pool2d
from minigrad.layout import batch_last

# (image (H, W), kernel_size, stride, padding)
# The last three have one output pixel: a window of the whole image, of the whole padded image, and of part of it.
CASES = [((4, 6), 2, None, 0), ((5, 5), 3, 2, 1), ((5, 7), (2, 3), (1, 2), (1, 1)), ((3, 3), 3, None, 0),
         ((2, 2), 4, None, 1), ((4, 4), 3, 2, 0)]


def make_input(image, seed=0):
    return Tensor(numpy.random.default_rng(seed).standard_normal((2, 3) + image), requires_grad=True)


@pytest.mark.parametrize("image, kernel_size, stride, padding", CASES)
def test_avg_pool2d_on_batch_last_input(image, kernel_size, stride, padding):
    """Input stored (C, H, W, N), as a convolution leaves it: the same values, against the loop."""
    x = make_input(image)
    stored = Tensor(numpy.ascontiguousarray(batch_last(x.data)), requires_grad=True)  # (C, H, W, N)
    pool = lambda stored: avg_pool2d(stored.transpose(3, 0, 1, 2), kernel_size, stride, padding)  # noqa: E731
    expected = avg_pool2d_by_loops(x.data, kernel_size, stride, padding)
    numpy.testing.assert_allclose(pool(stored).data, expected, rtol=1e-12)
    assert gradcheck(pool, [stored])


@pytest.mark.parametrize("padding", [0, 1])
def test_a_window_of_the_whole_image_on_the_device(device, padding):
    x = make_input((4 - 2 * padding,) * 2)
    on_device = Tensor(backend.to_device(x.data, device), requires_grad=True)
    output = avg_pool2d(on_device, 4, padding=padding)
    numpy.testing.assert_allclose(backend.to_device(output.data, "cpu"),
                                  avg_pool2d_by_loops(x.data, 4, None, padding), rtol=1e-12)
    output.backward(output.data * 0 + 1)
    numpy.testing.assert_array_equal(backend.to_device(on_device.grad, "cpu"), numpy.full(x.shape, 1 / 16))


@pytest.mark.parametrize(
    "function, arguments, message",
    [
        (avg_pool2d, ((2, 3, 4), 2), r"x of shape \(N, C, H, W\), got shape \(2, 3, 4\)"),
        (avg_pool2d, ((1, 1, 4, 4), 2, None, 2), "padding must be between 0 and half the kernel size"),
        (avg_pool2d, ((1, 1, 2, 2), 5, None, 1), "kernel 5x5 is larger than the padded input 4x4"),
        (avg_pool2d, ((1, 1, 4, 4), 2, 0), "kernel_size and stride must be positive"),
        (global_avg_pool2d, ((2, 3),), r"x of shape \(N, C, H, W\), got shape \(2, 3\)"),
    ],
)
def test_bad_input_raises_clear_errors(function, arguments, message):
    with pytest.raises(ValueError, match=message):
        function(Tensor(numpy.zeros(arguments[0])), *arguments[1:])


# avg_pool2d_simple, the plain tier: the loop, finite differences, and the fast avg_pool2d equal to it.
