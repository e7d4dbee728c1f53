"""Batch normalization: each channel normalized to zero mean and unit variance, then scaled and shifted."""
from minigrad.backend import get_array_module
from minigrad.tensor import Function, Tensor, as_tensor


def channel_axes(ndim):
    """The axes a per-channel statistic reduces over, for x (N, C) or (N, C, H, W): all but axis 1."""
    return (0,) if ndim == 2 else (0, 2, 3)


def per_channel(values, ndim):
    """A per-channel vector (C,) shaped to broadcast against x: (1, C) or (1, C, 1, 1)."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


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
    """

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, weight, bias):
        xp, axes = get_array_module(x), channel_axes(x.ndim)
        if self.training:
            mean = x.mean(axis=axes)
            centered = x - per_channel(mean, x.ndim)
            var = (centered * centered).mean(axis=axes)
            if self.running_mean is not None:
                count = x.size // x.shape[1]
                update_running_statistics(self.running_mean, self.running_var, mean, var, count, self.momentum)
        else:
            centered = x - per_channel(self.running_mean.data, x.ndim)
            var = self.running_var.data
        inv_std = 1 / xp.sqrt(var + self.eps)
        normalized = centered
        normalized *= per_channel(inv_std, x.ndim)
        self.save_for_backward(normalized, inv_std, weight)
        return normalized * per_channel(weight, x.ndim) + per_channel(bias, x.ndim)

    def backward(self, grad):
        normalized, inv_std, weight = self.saved
        axes, ndim = channel_axes(grad.ndim), grad.ndim
        grad_bias = grad.sum(axis=axes)
        grad_weight = (grad * normalized).sum(axis=axes)
        scale = per_channel(weight * inv_std, ndim)
        if not self.training:
            return grad * scale, grad_weight, grad_bias
        count = grad.size // grad.shape[1]
        grad_x = grad - per_channel(grad_bias / count, ndim)
        grad_x -= normalized * per_channel(grad_weight / count, ndim)
        grad_x *= scale
        return grad_x, grad_weight, grad_bias


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
    if training and x.size // max(channels, 1) <= 1:
        raise ValueError(
            f"batch_norm in training mode needs more than one value per channel to compute a variance, "
            f"got x of shape {tuple(x.shape)}"
        )
    xp = x.xp
    weight = Tensor(xp.ones(channels, dtype=x.dtype)) if weight is None else weight
    bias = Tensor(xp.zeros(channels, dtype=x.dtype)) if bias is None else bias
    return BatchNorm(running_mean, running_var, training, momentum, eps)(x, weight, bias)
