"""Memory layout: how the fast ops store a batch of images, and how to see it.

A tensor has a logical shape, (N, C, H, W) for a batch of images, and a
memory order: the order its axes take in memory, from the largest stride to
the smallest. NumPy's default, "batch-first", stores image after image.
The fast conv2d stores its output "batch-last", as (C, H, W, N), and hands
back the transposed view of logical shape (N, C, H, W)::

    batch-first (N, C, H, W)            batch-last (C, H, W, N)
    image 0: c0 [p0 p1 p2 ...]          c0 p0 [n0 n1 n2 ... n_N-1]
             c1 [p0 p1 p2 ...]          c0 p1 [n0 n1 n2 ... n_N-1]
    image 1: c0 [p0 p1 p2 ...]          ...
             ...                        c1 p0 [n0 n1 n2 ... n_N-1]

Batch-last, the N values of one pixel of one channel lie side by side, so a
kernel window's slice copy moves runs of N numbers, and all of one channel's
values form one contiguous row of H*W*N numbers: batch norm's statistics are
row sums. Ops that keep this layout (batch norm, relu, dropout, pooling) pass
it on without a transposing copy. Two words serve throughout:

- ``batch_last(x)``: the view (C, ..., N) of x (N, C, ...); contiguous when x is stored batch-last.
- ``batch_first(a)``: the inverse view, (C, ..., N) -> (N, C, ...).
"""
import numpy

from minigrad.backend import get_array_module


def batch_last(x):
    """The view (C, ..., N) of x (N, C, ...): the batch axis moved to the back."""
    return x.transpose(tuple(range(1, x.ndim)) + (0,))


def batch_first(a):
    """The view (N, C, ...) of a (C, ..., N): the inverse of batch_last."""
    return a.transpose((a.ndim - 1,) + tuple(range(a.ndim - 1)))


def is_batch_last(x):
    """Whether x (N, C, ...) is stored batch-last, i.e. batch_last(x) is C-contiguous."""
    return batch_last(x).flags.c_contiguous


def channel_rows(x):
    """x (N, C) or (N, C, H, W) as rows (C, N) or (C, H*W*N): one contiguous row per channel.

    A free view when x is stored batch-last; one copy for any other layout.
    """
    return get_array_module(x).ascontiguousarray(batch_last(x)).reshape(x.shape[1], -1)


def from_channel_rows(rows, shape):
    """The inverse of channel_rows: rows (C, H*W*N) as a batch-last view of logical shape (N, C, H, W)."""
    return batch_first(rows.reshape(tuple(shape[1:]) + (shape[0],)))


def block_rows(rows, block_bytes=2**19):
    """Slices that cut rows (C, M) into blocks of whole rows of about block_bytes each (at least one row).

    On a GPU one block: there each pass is one kernel launch, and more launches only cost.
    """
    if get_array_module(rows) is not numpy:
        return [slice(None)]
    per_block = max(1, block_bytes // (rows.shape[1] * rows.itemsize))
    return [slice(start, start + per_block) for start in range(0, len(rows), per_block)]


def memory_order(array):
    """The axes of array from the largest stride to the smallest: the order its elements lie in memory."""
    return sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis]))


def copy_images(destination, source, chunk=16):
    """destination[...] = source for (C, H, W, N) arrays, the destination stored batch-last.

    When the source is stored batch-first (the input images), this copy is a
    transposition: each run of N numbers written gathers one number from each
    of N images, far apart in memory. Copying ``chunk`` images at a time keeps
    the memory pages read at once few enough for the CPU's caches to hold. A GPU
    wants the opposite, one kernel launch rather than N / chunk of them.
    """
    source_is_batch_last = source.strides[-1] == source.itemsize
    if source_is_batch_last or get_array_module(source) is not numpy:
        destination[...] = source
        return
    for start in range(0, source.shape[-1], chunk):
        destination[..., start:start + chunk] = source[..., start:start + chunk]


def describe_layout(tensor):
    """A line naming tensor's logical shape and its memory order, e.g. for a conv2d output
    '(8, 16, 32, 32) stored as axes (1, 2, 3, 0): batch-last'."""
    array = getattr(tensor, "data", tensor)
    order = tuple(memory_order(array))
    if order == tuple(range(array.ndim)):
        name = "batch-first (C order)"
    elif array.ndim > 1 and order == tuple(range(1, array.ndim)) + (0,):
        name = "batch-last"
    else:
        name = "another order"
    return f"{tuple(array.shape)} stored as axes {order}: {name}"
