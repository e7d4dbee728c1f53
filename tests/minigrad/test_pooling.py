"""avg_pool2d and global_avg_pool2d: forward against loops, gradients against finite differences."""
import numpy
import pytest

from minigrad import Tensor, backend, gradcheck
from helpers import assert_same_outputs_and_gradients
from minigrad.functional import avg_pool2d, avg_pool2d_simple, global_avg_pool2d
from minigrad.layout import batch_last

# (image (H, W), kernel_size, stride, padding)
# The last three have one output pixel: a window of the whole image, of the whole padded image, and of part of it.
CASES = [((4, 6), 2, None, 0), ((5, 5), 3, 2, 1), ((5, 7), (2, 3), (1, 2), (1, 1)), ((3, 3), 3, None, 0),
         ((2, 2), 4, None, 1), ((4, 4), 3, 2, 0)]


def as_pair(value):
    return value if isinstance(value, tuple) else (value, value)


def reference_avg_pool2d(x, kernel_size, stride, padding):
    """Each window's plain mean, padding zeros included, one output pixel at a time."""
    (kernel_h, kernel_w), (pad_h, pad_w) = as_pair(kernel_size), as_pair(padding)
    stride_h, stride_w = as_pair(kernel_size if stride is None else stride)
    padded = numpy.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    height, width = (padded.shape[2] - kernel_h) // stride_h + 1, (padded.shape[3] - kernel_w) // stride_w + 1
    output = numpy.zeros(x.shape[:2] + (height, width))
    for y in range(height):
        for x_ in range(width):
            window = padded[:, :, y * stride_h:y * stride_h + kernel_h, x_ * stride_w:x_ * stride_w + kernel_w]
            output[:, :, y, x_] = window.mean(axis=(2, 3))
    return output


def make_input(image, seed=0):
    return Tensor(numpy.random.default_rng(seed).standard_normal((2, 3) + image), requires_grad=True)


@pytest.mark.parametrize("image, kernel_size, stride, padding", CASES)
def test_avg_pool2d_matches_loop(image, kernel_size, stride, padding):
    x = make_input(image)
    output = avg_pool2d(x, kernel_size, stride, padding)
    numpy.testing.assert_allclose(output.data, reference_avg_pool2d(x.data, kernel_size, stride, padding), rtol=1e-12)


@pytest.mark.parametrize("image, kernel_size, stride, padding", CASES)
def test_avg_pool2d_gradcheck(image, kernel_size, stride, padding):
    assert gradcheck(lambda x: avg_pool2d(x, kernel_size, stride, padding), [make_input(image)])


@pytest.mark.parametrize("image, kernel_size, stride, padding", CASES)
def test_avg_pool2d_on_batch_last_input(image, kernel_size, stride, padding):
    """Input stored (C, H, W, N), as a convolution leaves it: the same values, against the loop."""
    x = make_input(image)
    stored = Tensor(numpy.ascontiguousarray(batch_last(x.data)), requires_grad=True)  # (C, H, W, N)
    pool = lambda stored: avg_pool2d(stored.transpose(3, 0, 1, 2), kernel_size, stride, padding)  # noqa: E731
    expected = reference_avg_pool2d(x.data, kernel_size, stride, padding)
    numpy.testing.assert_allclose(pool(stored).data, expected, rtol=1e-12)
    assert gradcheck(pool, [stored])


@pytest.mark.parametrize("padding", [0, 1])
def test_a_window_of_the_whole_image_on_the_device(device, padding):
    x = make_input((4 - 2 * padding,) * 2)
    on_device = Tensor(backend.to_device(x.data, device), requires_grad=True)
    output = avg_pool2d(on_device, 4, padding=padding)
    numpy.testing.assert_allclose(backend.to_device(output.data, "cpu"),
                                  reference_avg_pool2d(x.data, 4, None, padding), rtol=1e-12)
    output.backward(output.data * 0 + 1)
    numpy.testing.assert_array_equal(backend.to_device(on_device.grad, "cpu"), numpy.full(x.shape, 1 / 16))


def test_avg_pool2d_matches_torch():
    torch = pytest.importorskip("torch")
    x = make_input((5, 7))
    output = avg_pool2d(x, (2, 3), (1, 2), 1)
    upstream = numpy.random.default_rng(1).standard_normal(output.shape)
    output.backward(upstream)
    reference = torch.tensor(x.data, requires_grad=True)
    expected = torch.nn.functional.avg_pool2d(reference, (2, 3), (1, 2), 1)
    expected.backward(torch.tensor(upstream))
    numpy.testing.assert_allclose(output.data, expected.detach().numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(x.grad, reference.grad.numpy(), rtol=1e-12)


def test_global_avg_pool2d_is_the_mean_over_the_image():
    x = make_input((4, 5))
    output = global_avg_pool2d(x)
    assert output.shape == (2, 3)
    expected = [[x.data[n, c].sum() / 20 for c in range(3)] for n in range(2)]
    numpy.testing.assert_allclose(output.data, expected, rtol=1e-12)
    assert gradcheck(global_avg_pool2d, [x])


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
TIER_CASES = CASES + [((7, 9), 2, 3, 0), ((6, 5), (3, 2), 1, (1, 1))]  # stride > kernel; non-square kernel


@pytest.mark.parametrize("image, kernel_size, stride, padding", TIER_CASES)
def test_avg_pool2d_simple_matches_loop_and_gradcheck(image, kernel_size, stride, padding):
    x = make_input(image)
    output = avg_pool2d_simple(x, kernel_size, stride, padding)
    numpy.testing.assert_allclose(output.data, reference_avg_pool2d(x.data, kernel_size, stride, padding), rtol=1e-12)
    assert gradcheck(lambda x: avg_pool2d_simple(x, kernel_size, stride, padding), [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("image, kernel_size, stride, padding", TIER_CASES)
def test_fast_avg_pool2d_equals_avg_pool2d_simple(image, kernel_size, stride, padding, dtype, device):
    x = numpy.random.default_rng(0).standard_normal((1, 3) + image)  # batch 1
    upstream = numpy.random.default_rng(1).standard_normal(reference_avg_pool2d(x, kernel_size, stride, padding).shape)
    assert_same_outputs_and_gradients(lambda x: avg_pool2d(x, kernel_size, stride, padding),
                                      lambda x: avg_pool2d_simple(x, kernel_size, stride, padding),
                                      [x], upstream, device, dtype)
