"""2-D convolution by im2col: one matrix product instead of a loop over pixels.

Picture a kh x kw kernel sliding over a zero-padded image. Each output pixel
sees one kh x kw patch of every input channel, its receptive field. Unroll
every receptive field into a column of length C_in*kh*kw and line the columns
up side by side, one per output pixel: the column matrix. The convolution is
then a single matrix product that BLAS (or cuBLAS) runs at full speed::

    x (N, C_in, H, W) --pad, im2col--> columns (N, C_in*kh*kw, H_out*W_out)
    weight rows (C_out, C_in*kh*kw) @ columns -> (N, C_out, H_out*W_out) = y (N, C_out, H_out, W_out)

The backward pass runs the picture in reverse: dW = dY columns^T, and the
gradient of the columns, W^T dY, goes back to the image by col2im, which adds
each column entry to the pixel it was copied from. Where receptive fields
overlap, a pixel was copied into several columns, and its gradients add.

No loop over images or pixels is needed. For one kernel offset (i, j), the
entries that the offset contributes to all columns form one strided slice of
the padded image, ``padded[..., i::stride_h, j::stride_w]`` cut to
H_out x W_out. So im2col is kh*kw slice copies and col2im kh*kw slice
additions.

The module holds two tiers: :func:`conv2d_simple` is the picture itself, an
:class:`Im2col` op and a matrix product, and autograd derives its backward
(col2im, im2col's adjoint, is the one backward it writes by hand);
:func:`conv2d` is the same arithmetic arranged for speed, with the backward
above written out (the model uses it). They are tested equal.
"""
import functools
import math
import numbers

import numpy

from minigrad.backend import get_array_module
from minigrad.layout import batch_first, batch_last, copy_images
from minigrad.tensor import Function


# The plain tier: im2col as a loop over the kernel offsets, col2im as its adjoint, and a matrix product.
def im2col_simple(padded, kernel_size, stride, output_shape):
    """padded (N, C, Hp, Wp) -> columns (N, C, kh, kw, H_out, W_out), one slice copy per kernel offset.

    columns[n, c, i, j, y, x] = padded[n, c, y * stride_h + i, x * stride_w + j].
    """
    (kernel_h, kernel_w), (stride_h, stride_w), (height, width) = kernel_size, stride, output_shape
    columns = get_array_module(padded).zeros(padded.shape[:2] + (kernel_h, kernel_w) + (height, width), padded.dtype)
    for i in range(kernel_h):
        for j in range(kernel_w):
            columns[:, :, i, j] = padded[:, :, i:i + stride_h * height:stride_h, j:j + stride_w * width:stride_w]
    return columns


def col2im_simple(columns, padded_shape, stride):
    """The adjoint of im2col_simple: every column entry is added (+=) back onto the pixel it came from."""
    (kernel_h, kernel_w), (height, width), (stride_h, stride_w) = columns.shape[2:4], columns.shape[4:], stride
    image = get_array_module(columns).zeros(padded_shape, columns.dtype)
    for i in range(kernel_h):
        for j in range(kernel_w):
            image[:, :, i:i + stride_h * height:stride_h, j:j + stride_w * width:stride_w] += columns[:, :, i, j]
    return image


class Im2col(Function):
    """Every receptive field of the zero-padded x (N, C, H, W) as a column: (N, C*kh*kw, H_out*W_out).

    Each column entry is a copy of one pixel, so its gradient goes back onto that
    pixel: dx = col2im(dcolumns), the entries of overlapping fields adding up,
    then cut back from the padded image.
    """

    def __init__(self, kernel_size, stride, padding):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        pad_h, pad_w = self.padding
        padded = get_array_module(x).pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
        self.padded_shape = padded.shape
        self.output_shape = sliding_output_shape(x.shape[2:], self.kernel_size, self.stride, self.padding)
        columns = im2col_simple(padded, self.kernel_size, self.stride, self.output_shape)
        return columns.reshape(len(x), -1, self.output_shape[0] * self.output_shape[1])

    def backward(self, grad_output):
        (pad_h, pad_w), (height, width) = self.padding, self.padded_shape[2:]
        grad_columns = grad_output.reshape(self.padded_shape[:2] + self.kernel_size + self.output_shape)
        grad_padded = col2im_simple(grad_columns, self.padded_shape, self.stride)
        return (grad_padded[:, :, pad_h:height - pad_h, pad_w:width - pad_w],)


def conv2d_simple(x, weight, bias=None, stride=1, padding=0):
    """conv2d as the picture above: y = weight rows @ im2col(x) + bias, autograd doing the backward.

    x (N, C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) or None -> (N, C_out, H_out, W_out).
    For reading, and for testing the fast :func:`conv2d` against.
    """
    stride, padding = check_conv2d_arguments("conv2d_simple", x, weight, bias, stride, padding)
    out_channels, kernel_size = weight.shape[0], tuple(weight.shape[2:])
    columns = Im2col(kernel_size, stride, padding)(x)  # (N, C_in*kh*kw, H_out*W_out)
    output = weight.reshape(out_channels, -1) @ columns  # (N, C_out, H_out*W_out)
    if bias is not None:
        output = output + bias.reshape(out_channels, 1)
    return output.reshape((len(x), out_channels) + sliding_output_shape(x.shape[2:], kernel_size, stride, padding))


# The arguments, checked once by each tier's wrapper (and by pooling's).
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


def check_conv2d_arguments(name, x, weight, bias, stride, padding):
    """The one check of a convolution's arguments; returns (stride, padding) as pairs."""
    stride, padding = pair(stride, f"{name}: stride"), pair(padding, f"{name}: padding")
    if min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: stride must be positive and padding non-negative, got stride={stride}, padding={padding}")
    if x.ndim != 4:
        raise ValueError(f"{name} expects x of shape (N, C_in, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{name} expects weight of shape (C_out, C_in, kh, kw), got shape {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"{name}: x has {x.shape[1]} channels but weight of shape {tuple(weight.shape)} "
                         f"expects {weight.shape[1]} input channels")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"{name}: bias must have shape (C_out,) = ({weight.shape[0]},), got {tuple(bias.shape)}")
    check_kernel_fits(name, x.shape[2:], weight.shape[2:], padding)
    return stride, padding


def conv_arguments(x, weight, bias):
    """The Function's inputs: a missing bias is left out, not replaced by zeros."""
    return (x, weight) if bias is None else (x, weight, bias)


# The fast tier: the same im2col on batch-last arrays (C, H, W, N) (see minigrad/layout.py), so that every slice
# copy moves runs of a whole batch and the product's rows are already the output; the column rows are ordered
# (i, j, c), and the weight is permuted to match. Batch norm, relu and dropout keep the layout, so no activation
# is transposed between the layers.
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
    """Unroll receptive fields: padded (C, Hp, Wp, N) -> columns (kh, kw, C, H_out, W_out, N).

    On the CPU one slice copy per kernel offset; on a GPU one gather (see window_rows).
    """
    xp = get_array_module(padded)
    channels, batch = padded.shape[0], padded.shape[-1]
    columns_shape = tuple(kernel_size) + (channels,) + tuple(output_shape) + (batch,)
    if xp is not numpy:
        rows = device_table(xp, window_rows, padded.shape[:3], tuple(kernel_size), stride, tuple(output_shape))
        return padded.reshape(-1, batch).take(rows, axis=0).reshape(columns_shape)
    columns = xp.empty(columns_shape, dtype=padded.dtype)
    for i, j, window in kernel_windows(padded, kernel_size, stride, output_shape):
        columns[i, j] = window
    return columns


# col2im's trick: copy the tiles that no two windows share instead of adding onto zeros (fewer passes over the image).
def col2im(columns, padded_shape, stride):
    """The adjoint of im2col: columns (kh, kw, C, H_out, W_out, N) -> image (padded_shape).

    The windows of the first stride_h x stride_w kernel offsets (i < stride_h,
    j < stride_w) tile the image's top-left (stride_h H_out) x (stride_w W_out)
    block exactly, one window per pixel, and every other window adds onto pixels
    of a tile that comes before it. So the tiles are copied rather than added,
    and only the rest of the image needs zeros first: no zero fill and no read
    of most of the image.
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


# On a GPU every launch costs the same few microseconds, so im2col and col2im gather through a table of row
# numbers instead of looping over the kernel offsets: with the padded images as rows (C*Hp*Wp, N) and the columns
# as rows (kh*kw*C*H_out*W_out, N), each a run of N values, both are one gather of whole rows.
def window_rows(padded_shape, kernel_size, stride, output_shape):
    """The row of the padded images (C, Hp, Wp) that each row (i, j, c, y, x) of the columns copies:
    (c, y stride_h + i, x stride_w + j), as one flat row number each: (kh*kw*C*H_out*W_out,)."""
    channels, padded_h, padded_w = padded_shape
    i, j, c, y, x = numpy.ix_(range(kernel_size[0]), range(kernel_size[1]), range(channels), range(output_shape[0]),
                              range(output_shape[1]))
    return ((c * padded_h + y * stride[0] + i) * padded_w + x * stride[1] + j).reshape(-1)


def pixel_sources(padded_shape, kernel_size, stride, output_shape, padding):
    """The inverse of window_rows for the pixels inside the padding: for each row (c, h, w) of the image (C, H, W),
    the rows of the columns copied from it, (C*H*W, K), K the most of any pixel. A pixel copied fewer times is
    filled up with kh*kw*C*H_out*W_out, the number of a zero row that col2im puts after the columns."""
    copied_from = window_rows(padded_shape, kernel_size, stride, output_shape)
    order = numpy.argsort(copied_from, kind="stable")
    counts = numpy.bincount(copied_from, minlength=numpy.prod(padded_shape))
    slots = numpy.arange(len(order)) - (numpy.cumsum(counts) - counts)[copied_from[order]]
    sources = numpy.full((len(counts), counts.max()), len(copied_from))
    sources[copied_from[order], slots] = order
    inside = sources.reshape(tuple(padded_shape) + (-1,))[:, padding[0]:padded_shape[1] - padding[0],
                                                          padding[1]:padded_shape[2] - padding[1]]
    return inside.reshape(-1, sources.shape[1])


@functools.cache
def device_table(xp, table, *shapes):
    """table(*shapes), a NumPy array of row numbers, copied to the device once per shape."""
    return xp.asarray(table(*shapes))


class Conv2d(Function):
    """conv2d_simple's arithmetic on batch-last arrays: one product (C_out, kh*kw*C_in) @ (kh*kw*C_in, H_out*W_out*N).

    Backward of the product Y_rows = W_rows columns + b, with dY_rows = dY as (C_out, H_out*W_out*N):
    dW_rows = dY_rows columns^T, db = the row sums of dY_rows, dcolumns = W_rows^T dY_rows, and
    dX = col2im(dcolumns), im2col's adjoint. The output is stored batch-last.
    """

    def __init__(self, stride, padding):
        self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        out_channels, kernel_size = weight.shape[0], weight.shape[2:]
        output_shape = sliding_output_shape(x.shape[2:], kernel_size, self.stride, self.padding)
        padded = pad_spatial(batch_last(x), self.padding)  # (C_in, Hp, Wp, N)
        columns = im2col(padded, kernel_size, self.stride, output_shape)
        self.columns_shape, self.padded_shape = columns.shape, padded.shape
        columns = columns.reshape(-1, output_shape[0] * output_shape[1] * len(x))
        weight_rows = weight.transpose(0, 2, 3, 1).reshape(out_channels, -1)  # rows ordered (i, j, c) like the columns
        self.save_for_backward(columns, weight_rows)
        output_rows = weight_rows @ columns
        if bias is not None:
            output_rows += bias[:, None]
        return batch_first(output_rows.reshape((out_channels,) + output_shape + (len(x),)))

    def backward(self, grad_output):
        columns, weight_rows = self.saved
        grad_rows = batch_last(grad_output).reshape(len(weight_rows), -1)  # a free view when stored batch-last
        needs = self.needs_input_grad
        grad_x = self._grad_input(grad_rows, weight_rows) if needs[0] else None
        grad_weight = self._grad_weight(grad_rows, columns) if needs[1] else None
        if len(needs) == 2:  # no bias
            return grad_x, grad_weight
        return grad_x, grad_weight, grad_rows.sum(axis=1) if needs[2] else None

    def _grad_weight(self, grad_rows, columns):
        """dW (C_out, C_in, kh, kw), computed as dW^T = columns dY_rows^T: BLAS runs this orientation of the
        long, thin product faster."""
        kernel_h, kernel_w, in_channels = self.columns_shape[:3]
        grad_weight = (columns @ grad_rows.T).reshape(kernel_h, kernel_w, in_channels, len(grad_rows))
        return get_array_module(columns).ascontiguousarray(grad_weight.transpose(3, 2, 0, 1))

    def _grad_input(self, grad_rows, weight_rows):
        """dX = col2im(W_rows^T dY_rows), cut back from the padded image: (N, C_in, H, W), stored batch-last."""
        xp = get_array_module(grad_rows)
        if xp is not numpy:
            return batch_first(self._grad_input_by_gather(grad_rows, weight_rows))
        grad_columns = (weight_rows.T @ grad_rows).reshape(self.columns_shape)
        grad_padded = col2im(grad_columns, self.padded_shape, self.stride)
        return batch_first(unpad_spatial(grad_padded, self.padding))

    def _grad_input_by_gather(self, grad_rows, weight_rows):
        """col2im on a GPU: each pixel inside the padding sums the rows of dcolumns copied from it (pixel_sources),
        a gather and a sum: (C_in, H, W, N). dcolumns is written above a zero row that fills up the sums."""
        xp, (channels, padded_h, padded_w, batch) = get_array_module(grad_rows), self.padded_shape
        kernel_size, output_shape = self.columns_shape[:2], self.columns_shape[3:5]
        grad_columns = xp.empty((math.prod(self.columns_shape[:5]) + 1, batch), dtype=grad_rows.dtype)
        grad_columns[-1] = 0
        xp.matmul(weight_rows.T, grad_rows, out=grad_columns[:-1].reshape(len(weight_rows.T), -1))
        sources = device_table(xp, pixel_sources, (channels, padded_h, padded_w), kernel_size, self.stride,
                               output_shape, self.padding)
        image_shape = (channels, padded_h - 2 * self.padding[0], padded_w - 2 * self.padding[1], batch)
        return grad_columns.take(sources, axis=0).sum(axis=1).reshape(image_shape)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in PyTorch) of x (N, C_in, H, W).

    weight: (C_out, C_in, kh, kw); bias: (C_out,) or None; stride and padding:
    an int or a pair (height, width). Returns (N, C_out, H_out, W_out) with
    H_out = (H + 2 pad_h - kh) // stride_h + 1, and likewise W_out.
    """
    stride, padding = check_conv2d_arguments("conv2d", x, weight, bias, stride, padding)
    return Conv2d(stride, padding)(*conv_arguments(x, weight, bias))
