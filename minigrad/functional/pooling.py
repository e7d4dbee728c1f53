"""Average pooling over kh x kw windows, and global average pooling over the whole image.

avg_pool2d walks the same kernel windows as conv2d (see conv.py): for each
kernel offset, one strided view of the padded input covers every output pixel,
so the window sums are kh*kw slice additions, and the backward is col2im.
:func:`avg_pool2d_simple` reads it in the plain layout, as the mean of
im2col's columns; :func:`avg_pool2d`, like conv2d, works on the batch-last
view (C, H, W, N) of its input, and its output is stored batch-last.
"""
from minigrad.backend import get_array_module
from minigrad.functional.conv import (
    check_kernel_fits,
    col2im,
    col2im_simple,
    im2col_simple,
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


# The plain tier: the mean of each window is the mean of its im2col column; the backward spreads it with col2im.
class AvgPool2dSimple(Function):
    """y = mean over the kernel offsets of im2col(x): x (N, C, H, W) -> (N, C, H_out, W_out).

    Backward: dX = col2im(dY / (kh kw) repeated for every kernel offset), cut back from the padded image.
    """

    def __init__(self, kernel_size, stride, padding):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        (pad_h, pad_w), xp = self.padding, get_array_module(x)
        padded = xp.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
        self.padded_shape = padded.shape
        output_shape = sliding_output_shape(x.shape[2:], self.kernel_size, self.stride, self.padding)
        return im2col_simple(padded, self.kernel_size, self.stride, output_shape).mean(axis=(2, 3))

    def backward(self, grad_output):
        xp, (pad_h, pad_w), (height, width) = get_array_module(grad_output), self.padding, self.padded_shape[2:]
        share = grad_output[:, :, None, None] / (self.kernel_size[0] * self.kernel_size[1])
        grad_columns = xp.broadcast_to(share, grad_output.shape[:2] + tuple(self.kernel_size) + grad_output.shape[2:])
        grad_padded = col2im_simple(grad_columns, self.padded_shape, self.stride)
        return (grad_padded[:, :, pad_h:height - pad_h, pad_w:width - pad_w],)


def avg_pool2d_simple(x, kernel_size, stride=None, padding=0):
    """avg_pool2d in the plain layout, for reading and for testing the fast :func:`avg_pool2d` against."""
    return AvgPool2dSimple(*check_avg_pool2d_arguments("avg_pool2d_simple", x, kernel_size, stride, padding))(x)


# The fast tier: the kernel windows of the batch-last view, and col2im's tile copies (see conv.py). The model's
# global pool against avg_pool2d_simple's: 3.5 -> 0.45 ms (`python benchmarks/layer_times.py --tier plain`
# against `--tier fast`, batch 512, forward + backward, mean of two runs each on the 2-core CPU).
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
    return AvgPool2d(*check_avg_pool2d_arguments("avg_pool2d", x, kernel_size, stride, padding))(x)


def global_avg_pool2d(x):
    """The mean of each channel over the whole image: x (N, C, H, W) -> (N, C)."""
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d expects x of shape (N, C, H, W), got shape {tuple(x.shape)}")
    return mean(x, axis=(2, 3))
