"""Batch normalization: each channel normalized to zero mean and unit variance, then scaled and shifted."""
from minigrad.backend import get_array_module
from minigrad.tensor import Function, Tensor, as_tensor


def as_rows(array):
    """(N, C) or (N, C, H, W) -> rows (N, C*H*W): channel c owns the columns [c*H*W, (c+1)*H*W)."""
    return array.reshape(len(array), -1)


def channel_sum(rows, channels):
    """Per-channel sum of rows (N, C*H*W) -> (C,)."""
    return rows.sum(axis=0).reshape(channels, -1).sum(axis=1)


def channel_row(values, row_length):
    """A per-channel vector (C,) repeated H*W times into one row (C*H*W,) that broadcasts against rows."""
    return get_array_module(values).repeat(values, row_length // len(values))


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

    The arithmetic runs on x as rows (N, C*H*W), with every per-channel vector
    repeated into a row of the same length: each pass then sweeps long contiguous
    rows, several times faster in NumPy than broadcasting (1, C, 1, 1) against
    small images.
    """

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, weight, bias):
        xp, rows, channels = get_array_module(x), as_rows(x), x.shape[1]
        row_length, count = rows.shape[1], x.size // channels
        if self.training:
            mean = channel_sum(rows, channels) / count
            centered = rows - channel_row(mean, row_length)
            var = channel_sum(centered * centered, channels) / count
            if self.running_mean is not None:
                update_running_statistics(self.running_mean, self.running_var, mean, var, count, self.momentum)
        else:
            centered = rows - channel_row(self.running_mean.data, row_length)
            var = self.running_var.data
        inv_std = 1 / xp.sqrt(var + self.eps)
        normalized = centered  # normalized in place: centered is a temporary of our own
        normalized *= channel_row(inv_std, row_length)
        self.save_for_backward(normalized, inv_std, weight)
        output = normalized * channel_row(weight, row_length)
        output += channel_row(bias, row_length)
        return output.reshape(x.shape)

    def backward(self, grad):
        normalized, inv_std, weight = self.saved
        grad_rows, channels = as_rows(grad), grad.shape[1]
        row_length, count = grad_rows.shape[1], grad.size // channels
        grad_bias = channel_sum(grad_rows, channels)
        grad_weight = channel_sum(grad_rows * normalized, channels)
        scale = channel_row(weight * inv_std, row_length)
        if not self.training:
            return (grad_rows * scale).reshape(grad.shape), grad_weight, grad_bias
        grad_x = grad_rows - channel_row(grad_bias / count, row_length)
        grad_x -= normalized * channel_row(grad_weight / count, row_length)
        grad_x *= scale
        return grad_x.reshape(grad.shape), grad_weight, grad_bias


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
