"""Batch normalization: each channel normalized to zero mean and unit variance, then scaled and shifted."""
from minigrad.backend import get_array_module
from minigrad.tensor import Function, Tensor, as_tensor


def channels_first_axes(ndim):
    """The axis order that moves the channel axis of (N, C, ...) to the front and the batch axis
    to the back: (1, 2, ..., ndim - 1, 0)."""
    return (1,) + tuple(range(2, ndim)) + (0,)


def channel_rows(x):
    """x (N, C) or (N, C, H, W) as rows (C, N) or (C, H*W*N): one contiguous row per channel.

    A free view when x is stored batch-last, as conv2d's output is (see conv.py);
    one copy for any other layout.
    """
    return get_array_module(x).ascontiguousarray(x.transpose(channels_first_axes(x.ndim))).reshape(x.shape[1], -1)


def from_channel_rows(rows, shape):
    """The inverse of channel_rows: rows (C, H*W*N) as a batch-last view of the given shape (N, C, H, W)."""
    ndim = len(shape)
    channels_first = rows.reshape(tuple(shape[axis] for axis in channels_first_axes(ndim)))  # (C, H, W, N)
    return channels_first.transpose((ndim - 1,) + tuple(range(ndim - 1)))  # the batch axis back to the front


def row_dots(a, b):
    """The dot product of each row of a with the same row of b: (C, M), (C, M) -> (C,).

    One batched matrix product: faster than (a * b).sum(axis=1), and no (C, M) temporary.
    """
    return (a[:, None, :] @ b[:, :, None])[:, 0, 0]


def update_running_statistics(running_mean, running_var, batch_mean, batch_var, count, momentum):
    """running = (1 - momentum) running + momentum batch, in place, as PyTorch does.

    The running variance tracks the unbiased batch variance (times count/(count-1)),
    although the batch itself is normalized with the biased one.
    """
    running_mean.data *= 1 - momentum
    running_mean.data += momentum * batch_mean
    running_var.data *= 1 - momentum
    running_var.data += momentum * batch_var * (count / (count - 1))


class BatchNorm(Function):
    """y = xhat weight + bias, xhat = (x - mean) / sqrt(var + eps), statistics per channel over n values.

    In training, mean and var are the batch's own (var biased), so every x moves
    them, and the backward goes through them. With dxhat = dy weight:
        dx = (1/n) inv_std (n dxhat - sum(dxhat) - xhat sum(dxhat xhat)),
    and since sum(dxhat) = weight dbias and sum(dxhat xhat) = weight dweight,
        dx = weight inv_std (dy - dbias/n - xhat dweight/n).
    In eval mode the running statistics are constants: dx = weight inv_std dy.
    Always dweight = sum(dy xhat) and dbias = sum(dy), summed per channel.

    The arithmetic runs on x as channel rows (C, H*W*N), each per-channel vector
    broadcast as a column (C, 1): every pass sweeps long contiguous rows, and
    for batch-last input (a convolution's output) neither the rows nor the
    output cost a copy. xhat itself is never stored: the backward keeps
    centered = x - mean and folds xhat = centered inv_std into per-channel
    factors, which saves a pass over the data each way.
    """

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, weight, bias):
        xp, rows = get_array_module(x), channel_rows(x)
        count = rows.shape[1]
        if self.training:
            mean = rows.sum(axis=1) / count
            centered = rows - mean[:, None]
            var = row_dots(centered, centered) / count
            if self.running_mean is not None:
                update_running_statistics(self.running_mean, self.running_var, mean, var, count, self.momentum)
        else:
            centered = rows - self.running_mean.data[:, None]
            var = self.running_var.data
        inv_std = 1 / xp.sqrt(var + self.eps)
        self.save_for_backward(centered, inv_std, weight)
        output = centered * (weight * inv_std)[:, None]
        output += bias[:, None]
        return from_channel_rows(output, x.shape)

    def backward(self, grad):
        centered, inv_std, weight = self.saved
        grad_rows = channel_rows(grad)
        count = grad_rows.shape[1]
        grad_bias = grad_rows.sum(axis=1)
        grad_weight = row_dots(grad_rows, centered) * inv_std
        scale = weight * inv_std
        grad_x = grad_rows * scale[:, None]
        if self.training:  # scale (dy - dbias/n - xhat dweight/n), with xhat = centered inv_std
            grad_x -= centered * (scale * inv_std * grad_weight / count)[:, None]
            grad_x -= (scale * grad_bias / count)[:, None]
        return from_channel_rows(grad_x, grad.shape), grad_weight, grad_bias


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization of x (N, C) or (N, C, H, W) per channel C, as PyTorch's F.batch_norm.

    running_mean, running_var: (C,) Tensors (buffers) or None. In training the
    batch statistics normalize, and the running ones (if given) are updated in
    place on their ``.data``. In eval mode (training=False) the running
    statistics normalize. weight, bias: (C,) or None (then 1 and 0).
    """
    x = as_tensor(x)
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm expects x of shape (N, C) or (N, C, H, W), got shape {tuple(x.shape)}")
    channels = x.shape[1]
    named = {"weight": weight, "bias": bias, "running_mean": running_mean, "running_var": running_var}
    for name, tensor in named.items():
        if tensor is not None and tuple(tensor.shape) != (channels,):
            raise ValueError(f"batch_norm: x has {channels} channels but {name} has shape {tuple(tensor.shape)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm in eval mode (training=False) needs running_mean and running_var")
    if training and x.size == channels:
        raise ValueError(
            f"batch_norm in training mode needs more than one value per channel to compute a variance, "
            f"got x of shape {tuple(x.shape)}"
        )
    xp = x.xp
    weight = Tensor(xp.ones(channels, dtype=x.dtype)) if weight is None else weight
    bias = Tensor(xp.zeros(channels, dtype=x.dtype)) if bias is None else bias
    return BatchNorm(running_mean, running_var, training, momentum, eps)(x, weight, bias)
