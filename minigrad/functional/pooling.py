"""Average pooling over kh x kw windows, and global average pooling over the whole image.

avg_pool2d walks the same kernel windows as conv2d (see conv.py): for each
kernel offset, one strided view of the padded input covers every output pixel,
so the window sums are kh*kw slice additions, and the backward is col2im.
Like conv2d, it works on the batch-last view (C, H, W, N) of its input, and its
output is stored batch-last.
"""
from minigrad.backend import get_array_module
from minigrad.functional.conv import (
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
        output = get_array_module(x).zeros((x.shape[1],) + output_shape + (len(x),), dtype=x.dtype)
        for _, _, window in kernel_windows(padded, self.kernel_size, self.stride, output_shape):
            output += window
        output /= self.kernel_size[0] * self.kernel_size[1]
        return batch_first(output)

    def backward(self, grad_output):
        xp = get_array_module(grad_output)
        share = batch_last(grad_output) / (self.kernel_size[0] * self.kernel_size[1])
        grad_columns = xp.broadcast_to(share, tuple(self.kernel_size) + share.shape)  # the same share for every offset
        return (batch_first(unpad_spatial(col2im(grad_columns, self.padded_shape, self.stride), self.padding)),)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling of x (N, C, H, W) -> (N, C, H_out, W_out), as PyTorch's F.avg_pool2d.

    kernel_size, stride (default: kernel_size) and padding: an int or a pair.
    The zeros of the padding count in each average.
    """
    kernel_size = pair(kernel_size, "avg_pool2d: kernel_size")
    stride = kernel_size if stride is None else pair(stride, "avg_pool2d: stride")
    padding = pair(padding, "avg_pool2d: padding")
    if x.ndim != 4:
        raise ValueError(f"avg_pool2d expects x of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if min(kernel_size) < 1 or min(stride) < 1:
        raise ValueError(f"avg_pool2d: kernel_size and stride must be positive, got {kernel_size} and {stride}")
    if not all(0 <= pad <= size // 2 for pad, size in zip(padding, kernel_size)):
        raise ValueError(f"avg_pool2d: padding must be between 0 and half the kernel size {kernel_size}, got {padding}")
    check_kernel_fits("avg_pool2d", x.shape[2:], kernel_size, padding)
    return AvgPool2d(kernel_size, stride, padding)(x)


def global_avg_pool2d(x):
    """The mean of each channel over the whole image: x (N, C, H, W) -> (N, C)."""
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d expects x of shape (N, C, H, W), got shape {tuple(x.shape)}")
    return mean(x, axis=(2, 3))
