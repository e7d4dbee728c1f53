"""2-D convolution by im2col: one matrix product instead of a loop over pixels.

Picture a kh x kw kernel sliding over a zero-padded image. Each output pixel
sees one kh x kw patch of every input channel, its receptive field. Unroll
every receptive field into a column of length kh*kw*C_in and line the columns
up side by side, one per output pixel of every image: the column matrix, of
shape (kh*kw*C_in, H_out*W_out*N). The convolution is then a single matrix
product that BLAS (or cuBLAS) runs at full speed::

    x (N, C_in, H, W), stored as (C_in, H, W, N)
        --pad, im2col-->  columns (kh*kw*C_in, H_out*W_out*N)
    weight rows (C_out, kh*kw*C_in) @ columns  ->  (C_out, H_out*W_out*N)
        = y (N, C_out, H_out, W_out), stored as (C_out, H_out, W_out, N)

The backward pass runs the picture in reverse: dW = dY_rows @ columns^T, and
the gradient of the columns, W^T @ dY_rows, goes back to the image by col2im,
which adds each column entry to the pixel it was copied from. Where receptive
fields overlap, a pixel was copied into several columns, and its gradients add.

No loop over images or pixels is needed. For one kernel offset (i, j), the
entries that the offset contributes to all columns form one strided slice of
the padded image, ``padded[:, i::stride_h, j::stride_w, :]`` cut to
H_out x W_out. So im2col is kh*kw slice copies and col2im kh*kw slice
additions; this is why the column rows are ordered (i, j, c), and why the
weight is permuted to that order. The same body runs on CuPy, where each slice
copy is one GPU kernel.

Memory layout: "batch last". The images are handled as (C, H, W, N) arrays,
the layout of cuda-convnet, while the tensors keep their logical shape
(N, C, H, W) as a transposed view. Every slice copy above then moves runs of N
contiguous numbers (a whole batch of one pixel) instead of runs of W_out, and
the product's rows (C_out, H_out*W_out*N) are already the output in this
layout: no copy brings the batch axis back to the front. A convolution's
output feeds the next one (through batch_norm, relu and dropout, which keep
the layout) without any transposing copy.
"""
import numbers

import numpy

from minigrad.backend import get_array_module
from minigrad.tensor import Function


def pair(value, name):
    """An int or a pair of ints as a pair (for the height and the width)."""
    if isinstance(value, numbers.Integral):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, numbers.Integral) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def sliding_output_shape(image_shape, kernel_size, stride, padding):
    """(H_out, W_out): how many kernel positions fit along each axis of the padded (H, W) image."""
    return tuple(
        (size + 2 * pad - kernel) // step + 1
        for size, kernel, step, pad in zip(image_shape, kernel_size, stride, padding)
    )


def check_kernel_fits(op_name, image_shape, kernel_size, padding):
    """Raise ValueError unless the kernel fits inside the padded (H, W) image."""
    padded_shape = tuple(size + 2 * pad for size, pad in zip(image_shape, padding))
    if any(kernel > size for kernel, size in zip(kernel_size, padded_shape)):
        raise ValueError(
            f"{op_name}: kernel {kernel_size[0]}x{kernel_size[1]} is larger than the padded input "
            f"{padded_shape[0]}x{padded_shape[1]} (input {image_shape[0]}x{image_shape[1]}, padding {tuple(padding)})"
        )


def batch_last(x):
    """The view (C, H, W, N) of x (N, C, H, W): contiguous when x is stored batch-last."""
    return x.transpose(1, 2, 3, 0)


def batch_first(images):
    """The view (N, C, H, W) of images (C, H, W, N): the logical shape of a batch-last array."""
    return images.transpose(3, 0, 1, 2)


def pad_spatial(images, padding):
    """images (C, H, W, N) with ``padding`` = (pad_h, pad_w) zeros around H and W: (C, Hp, Wp, N).

    A new contiguous array, or images itself when there is no padding.
    """
    pad_h, pad_w = padding
    if pad_h == pad_w == 0:
        return images
    channels, height, width, batch = images.shape
    padded_shape = (channels, height + 2 * pad_h, width + 2 * pad_w, batch)
    padded = get_array_module(images).zeros(padded_shape, dtype=images.dtype)
    copy_images(padded[:, pad_h:pad_h + height, pad_w:pad_w + width], images)
    return padded


def copy_images(destination, source, chunk=16):
    """destination[...] = source for (C, H, W, N) arrays, the destination stored batch-last.

    When the source is stored batch-first (the input images), this copy is a
    transposition: each run of N numbers written gathers one number from each
    of N images, far apart in memory. Copying ``chunk`` images at a time keeps
    the memory pages read at once few, about 2.5 times faster on a CPU. A GPU
    wants the opposite, one kernel launch rather than N / chunk of them.
    """
    batch_last = source.strides[-1] == source.itemsize
    if batch_last or get_array_module(source) is not numpy:
        destination[...] = source
        return
    for start in range(0, source.shape[-1], chunk):
        destination[..., start:start + chunk] = source[..., start:start + chunk]


def unpad_spatial(padded, padding):
    """The inverse of pad_spatial: a view of the inside of padded (C, H + 2 pad_h, W + 2 pad_w, N)."""
    pad_h, pad_w = padding
    height, width = padded.shape[1:3]
    return padded[:, pad_h:height - pad_h, pad_w:width - pad_w]


def kernel_windows(padded, kernel_size, stride, output_shape):
    """For each kernel offset (i, j), yield (i, j, window), the view of padded (C, Hp, Wp, N)
    that this offset of the kernel covers as it visits every output pixel: (C, H_out, W_out, N).

    window[c, y, x, n] = padded[c, y * stride_h + i, x * stride_w + j, n].
    """
    (stride_h, stride_w), (height, width) = stride, output_shape
    for i in range(kernel_size[0]):
        for j in range(kernel_size[1]):
            yield i, j, padded[:, i:i + stride_h * height:stride_h, j:j + stride_w * width:stride_w]


def im2col(padded, kernel_size, stride, output_shape):
    """Unroll receptive fields: padded (C, Hp, Wp, N) -> columns (kh, kw, C, H_out, W_out, N)."""
    xp = get_array_module(padded)
    channels, batch = padded.shape[0], padded.shape[-1]
    columns_shape = tuple(kernel_size) + (channels,) + tuple(output_shape) + (batch,)
    columns = xp.empty(columns_shape, dtype=padded.dtype)
    for i, j, window in kernel_windows(padded, kernel_size, stride, output_shape):
        columns[i, j] = window
    return columns


def col2im(columns, padded_shape, stride):
    """The adjoint of im2col: columns (kh, kw, C, H_out, W_out, N) -> image (padded_shape).

    Every column entry is added to the pixel im2col copied it from, so pixels
    shared by overlapping receptive fields receive the sum of their gradients.

    The windows of the first stride_h x stride_w kernel offsets (i < stride_h,
    j < stride_w) tile the image's top-left (stride_h H_out) x (stride_w W_out)
    block exactly, one window per pixel, and every other window adds onto pixels
    of a tile that comes before it. So the tiles are copied rather than added,
    and only the rest of the image needs zeros first: no zero fill and no read
    of most of the image (a third faster).
    """
    (stride_h, stride_w), kernel_size, output_shape = stride, columns.shape[:2], columns.shape[3:5]
    image = get_array_module(columns).empty(padded_shape, dtype=columns.dtype)
    zero_outside_tiles(image, kernel_size, stride, output_shape)
    for i, j, window in kernel_windows(image, kernel_size, stride, output_shape):
        if i < stride_h and j < stride_w:
            window[...] = columns[i, j]
        else:
            window += columns[i, j]
    return image


def zero_outside_tiles(image, kernel_size, stride, output_shape):
    """Set to zero the pixels of image (C, Hp, Wp, N) that col2im's tile windows will not write.

    The tiles cover the top-left block (stride_h H_out) x (stride_w W_out) only
    when the kernel is at least as large as the stride; otherwise gaps remain
    between them, and the whole image starts at zero.
    """
    if any(kernel < step for kernel, step in zip(kernel_size, stride)):
        image[...] = 0
        return
    tiled_height, tiled_width = (step * size for step, size in zip(stride, output_shape))
    image[:, tiled_height:] = 0
    image[:, :tiled_height, tiled_width:] = 0


class Conv2d(Function):
    """Cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, kh, kw), plus bias (C_out,).

    Backward, with dY_rows = dY as (C_out, H_out*W_out*N): dW = dY_rows columns^T,
    db = sum of dY over N, H_out, W_out, and dX = col2im(W_rows^T dY_rows).
    The output is stored batch-last (see the module docstring).
    """

    def __init__(self, stride, padding):
        self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        out_channels, kernel_size = weight.shape[0], weight.shape[2:]
        output_shape = sliding_output_shape(x.shape[2:], kernel_size, self.stride, self.padding)
        padded = pad_spatial(batch_last(x), self.padding)  # (C_in, Hp, Wp, N)
        columns = im2col(padded, kernel_size, self.stride, output_shape)
        self.columns_shape, self.padded_shape, self.has_bias = columns.shape, padded.shape, bias is not None
        columns = columns.reshape(-1, output_shape[0] * output_shape[1] * len(x))
        weight_rows = weight.transpose(0, 2, 3, 1).reshape(out_channels, -1)  # rows ordered (i, j, c) like the columns
        self.save_for_backward(columns, weight_rows)
        output_rows = weight_rows @ columns
        if bias is not None:
            output_rows += bias[:, None]
        return batch_first(output_rows.reshape((out_channels,) + output_shape + (len(x),)))

    def backward(self, grad):
        columns, weight_rows = self.saved
        xp = get_array_module(grad)
        out_channels, (kernel_h, kernel_w, in_channels) = len(weight_rows), self.columns_shape[:3]
        grad_rows = batch_last(grad).reshape(out_channels, -1)  # a free view when grad is stored batch-last
        # dW^T = columns dY_rows^T: BLAS runs this orientation of the long, thin product faster
        grad_weight = (columns @ grad_rows.T).reshape(kernel_h, kernel_w, in_channels, out_channels)
        grads = (self._grad_input(grad_rows, weight_rows), xp.ascontiguousarray(grad_weight.transpose(3, 2, 0, 1)))
        return (grads + (grad_rows.sum(axis=1),)) if self.has_bias else grads

    def _grad_input(self, grad_rows, weight_rows):
        if not self.inputs[0].requires_grad:  # e.g. the input images: skip the costliest part of the backward
            return None
        grad_columns = (weight_rows.T @ grad_rows).reshape(self.columns_shape)
        grad_padded = col2im(grad_columns, self.padded_shape, self.stride)
        return batch_first(unpad_spatial(grad_padded, self.padding))


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in PyTorch) of x (N, C_in, H, W).

    weight: (C_out, C_in, kh, kw); bias: (C_out,) or None; stride and padding:
    an int or a pair (height, width). Returns (N, C_out, H_out, W_out) with
    H_out = (H + 2 pad_h - kh) // stride_h + 1, and likewise W_out.
    """
    stride, padding = pair(stride, "conv2d: stride"), pair(padding, "conv2d: padding")
    if min(stride) < 1 or min(padding) < 0:
        raise ValueError(
            f"conv2d: stride must be positive and padding non-negative, got stride={stride}, padding={padding}"
        )
    if x.ndim != 4:
        raise ValueError(f"conv2d expects x of shape (N, C_in, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d expects weight of shape (C_out, C_in, kh, kw), got shape {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d: x has {x.shape[1]} channels but weight of shape {tuple(weight.shape)} expects "
            f"{weight.shape[1]} input channels"
        )
    check_kernel_fits("conv2d", x.shape[2:], weight.shape[2:], padding)
    if bias is None:
        return Conv2d(stride, padding)(x, weight)
    if tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"conv2d: bias must have shape (C_out,) = ({weight.shape[0]},), got {tuple(bias.shape)}")
    return Conv2d(stride, padding)(x, weight, bias)
