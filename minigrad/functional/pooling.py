"""Average pooling over kh x kw windows, and global average pooling over the whole image.

avg_pool2d walks the same kernel windows as conv2d (see conv.py): the mean of
each window is the mean of its im2col column. :func:`avg_pool2d_simple` is
exactly that, an :class:`~minigrad.functional.conv.Im2col` op and a mean,
and autograd derives its backward; :func:`avg_pool2d`, like conv2d, works on
the batch-last view (C, H, W, N) of its input, sums each kernel offset's
strided view, and spreads the gradient back by col2im; its output is stored
batch-last. A single window (the global average pool) is one mean over the image
instead, which sums in NumPy's (or CuPy's) reduction order rather than offset by
offset, so the float32 result may differ in its last bits. They are tested equal.
"""
from minigrad.backend import get_array_module
from minigrad.functional.conv import (
    Im2col,
    check_kernel_fits,
    col2im,
    kernel_windows,
    pad_spatial,
    pair,
    sliding_output_shape,
    unpad_spatial,
)
from minigrad.functional.reduction import mean
from minigrad.layout import batch_first, batch_last
from minigrad.tensor import Function


def check_avg_pool2d_arguments(name, x, kernel_size, stride, padding):
    """The one check of average pooling's arguments; returns (kernel_size, stride, padding) as pairs."""
    kernel_size = pair(kernel_size, f"{name}: kernel_size")
    stride = kernel_size if stride is None else pair(stride, f"{name}: stride")
    padding = pair(padding, f"{name}: padding")
    if x.ndim != 4:
        raise ValueError(f"{name} expects x of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if min(kernel_size) < 1 or min(stride) < 1:
        raise ValueError(f"{name}: kernel_size and stride must be positive, got {kernel_size} and {stride}")
    if not all(0 <= pad <= size // 2 for pad, size in zip(padding, kernel_size)):
        raise ValueError(f"{name}: padding must be between 0 and half the kernel size {kernel_size}, got {padding}")
    check_kernel_fits(name, x.shape[2:], kernel_size, padding)
    return kernel_size, stride, padding


def avg_pool2d_simple(x, kernel_size, stride=None, padding=0):
    """avg_pool2d as the mean of each window's im2col column, autograd doing the backward:
    x (N, C, H, W) -> (N, C, H_out, W_out). For reading, and for testing the fast :func:`avg_pool2d` against."""
    kernel_size, stride, padding = check_avg_pool2d_arguments("avg_pool2d_simple", x, kernel_size, stride, padding)
    columns = Im2col(kernel_size, stride, padding)(x)  # (N, C*kh*kw, H_out*W_out)
    output_shape = sliding_output_shape(x.shape[2:], kernel_size, stride, padding)
    windows = columns.reshape((len(x), x.shape[1], kernel_size[0] * kernel_size[1]) + output_shape)
    return windows.mean(axis=2)


# The fast tier: the kernel windows of the batch-last view summed in place, and col2im's tile copies (see conv.py).
class AvgPool2d(Function):
    """Mean of each window of x (N, C, H, W), padding zeros included (PyTorch's count_include_pad=True).

    Backward: every window spreads its output gradient, divided by kh*kw, evenly over its pixels
    (col2im of the gradient repeated for each kernel offset).
    """

    def __init__(self, kernel_size, stride, padding):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        output_shape = sliding_output_shape(x.shape[2:], self.kernel_size, self.stride, self.padding)
        padded = pad_spatial(batch_last(x), self.padding)  # (C, Hp, Wp, N)
        self.padded_shape = padded.shape
        self.whole_image = tuple(self.kernel_size) == padded.shape[1:3]  # one window: the global average pool
        if self.whole_image:  # one reduction
            return batch_first(padded.mean(axis=(1, 2), keepdims=True))
        output = get_array_module(x).zeros((x.shape[1],) + output_shape + (len(x),), dtype=x.dtype)
        for _, _, window in kernel_windows(padded, self.kernel_size, self.stride, output_shape):
            output += window
        output /= self.kernel_size[0] * self.kernel_size[1]
        return batch_first(output)

    def backward(self, grad_output):
        xp = get_array_module(grad_output)
        share = batch_last(grad_output) / (self.kernel_size[0] * self.kernel_size[1])
        if self.whole_image:  # every pixel of the padded image gets its share
            grad_padded = xp.broadcast_to(share, self.padded_shape)
        else:
            grad_columns = xp.broadcast_to(share, tuple(self.kernel_size) + share.shape)  # the same share per offset
            grad_padded = col2im(grad_columns, self.padded_shape, self.stride)
        return (batch_first(unpad_spatial(grad_padded, self.padding)),)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling of x (N, C, H, W) -> (N, C, H_out, W_out), as PyTorch's F.avg_pool2d.

    kernel_size, stride (default: kernel_size) and padding: an int or a pair.
    The zeros of the padding count in each average.
    """
    return AvgPool2d(*check_avg_pool2d_arguments("avg_pool2d", x, kernel_size, stride, padding))(x)


def global_avg_pool2d(x):
    """The mean of each channel over the whole image: x (N, C, H, W) -> (N, C)."""
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d expects x of shape (N, C, H, W), got shape {tuple(x.shape)}")
    return mean(x, axis=(2, 3))
