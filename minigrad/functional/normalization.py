"""Batch normalization: each channel normalized to zero mean and unit variance, then scaled and shifted.

For x (N, C) or (N, C, H, W), the statistics of channel c run over its
n = N (or N*H*W) values. With xhat = (x - mean) / sqrt(var + eps) and
y = weight xhat + bias, the backward in training (where mean and var depend on
every x) is, per channel, with dxhat = dy weight:

    dx = (inv_std / n) (n dxhat - sum(dxhat) - xhat sum(dxhat xhat)),

the three terms being the direct path, the path through the mean and the path
through the variance. In eval mode the running statistics are constants and
dx = dxhat inv_std. Always dweight = sum(dy xhat) and dbias = sum(dy).

Two tiers: :func:`batch_norm_simple` writes exactly these lines;
:func:`batch_norm` does the same arithmetic on one row per channel (the
model uses it). They are tested equal.
"""
from minigrad.backend import get_array_module
from minigrad.layout import block_rows, channel_rows, from_channel_rows
from minigrad.tensor import Function, as_tensor


def check_batch_norm_arguments(name, x, running_mean, running_var, weight, bias, training):
    """The one check of batch_norm's arguments."""
    if x.ndim not in (2, 4):
        raise ValueError(f"{name} expects x of shape (N, C) or (N, C, H, W), got shape {tuple(x.shape)}")
    channels = x.shape[1]
    named = {"weight": weight, "bias": bias, "running_mean": running_mean, "running_var": running_var}
    for key, tensor in named.items():
        if tensor is not None and tuple(tensor.shape) != (channels,):
            raise ValueError(f"{name}: x has {channels} channels but {key} has shape {tuple(tensor.shape)}")
    for first, second in (("running_mean", "running_var"), ("weight", "bias")):
        if (named[first] is None) != (named[second] is None):
            raise ValueError(f"{name}: give both {first} and {second}, or neither")
    if not training and running_mean is None:
        raise ValueError(f"{name} in eval mode (training=False) needs running_mean and running_var")
    if training and x.size == channels:
        raise ValueError(f"{name} in training mode needs more than one value per channel to compute a variance, "
                         f"got x of shape {tuple(x.shape)}")


class BatchNormFunction(Function):
    """What both tiers share: the settings, and the update of the running statistics."""

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def update_running_statistics(self, batch_mean, batch_var, count):
        """running = (1 - momentum) running + momentum batch, in place, as PyTorch does (when there are any).

        The running variance tracks the unbiased batch variance (times count/(count-1)),
        although the batch itself is normalized with the biased one.
        """
        if self.running_mean is None:
            return
        self.running_mean.data *= 1 - self.momentum
        self.running_mean.data += self.momentum * batch_mean
        self.running_var.data *= 1 - self.momentum
        self.running_var.data += self.momentum * batch_var * (count / (count - 1))


# The plain tier: the module docstring's formulas, line by line, on x (N, C, ...) broadcast per channel.
class BatchNormSimple(BatchNormFunction):
    """y = weight xhat + bias, xhat = (x - mean) inv_std; backward: the three-term dx of the module docstring."""

    def forward(self, x, weight=None, bias=None):
        axes, per_channel = (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)  # (1, C, 1, 1)
        if self.training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            self.update_running_statistics(mean, var, x.size // x.shape[1])
        else:
            mean, var = self.running_mean.data, self.running_var.data
        inv_std = 1 / get_array_module(x).sqrt(var + self.eps)
        xhat = (x - mean.reshape(per_channel)) * inv_std.reshape(per_channel)
        self.save_for_backward(xhat, inv_std.reshape(per_channel), weight)
        if weight is None:
            return xhat
        return weight.reshape(per_channel) * xhat + bias.reshape(per_channel)

    def backward(self, grad_output):
        xhat, inv_std, weight = self.saved
        axes, count = (0,) + tuple(range(2, xhat.ndim)), xhat.size // xhat.shape[1]
        grad_xhat = grad_output if weight is None else grad_output * weight.reshape(inv_std.shape)
        if self.training:
            grad_x = inv_std / count * (count * grad_xhat - grad_xhat.sum(axis=axes, keepdims=True)
                                        - xhat * (grad_xhat * xhat).sum(axis=axes, keepdims=True))
        else:
            grad_x = grad_xhat * inv_std
        if weight is None:
            return (grad_x,)
        return grad_x, (grad_output * xhat).sum(axis=axes), grad_output.sum(axis=axes)


def batch_norm_simple(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """batch_norm written as the formulas read, for reading and for testing the fast :func:`batch_norm` against."""
    x = as_tensor(x)
    check_batch_norm_arguments("batch_norm_simple", x, running_mean, running_var, weight, bias, training)
    parameters = () if weight is None else (weight, bias)
    return BatchNormSimple(running_mean, running_var, training, momentum, eps)(x, *parameters)


# The fast tier: channel rows. x as rows (C, H*W*N) (see minigrad/layout.py), each per-channel vector a column
# (C, 1): every pass sweeps long contiguous rows, and for batch-last input (a convolution's output) neither the
# rows nor the output cost a copy. xhat is never stored: the backward keeps centered = x - mean and folds
# xhat = centered inv_std into per-channel factors, which saves a pass over the data each way.
# The model's three batch norms against batch_norm_simple's: 35.7 -> 9.7 ms (`python benchmarks/layer_times.py
# --tier plain` against `--tier fast`, batch 512, forward + backward, mean of two runs each on the 2-core CPU).
def row_dots(a, b):
    """The dot product of each row of a with the same row of b: (C, M), (C, M) -> (C,).

    One batched matrix product: faster than (a * b).sum(axis=1), and no (C, M) temporary.
    """
    return (a[:, None, :] @ b[:, :, None])[:, 0, 0]


# BatchNorm's trick: every pass runs over a block of rows of about half a megabyte (block_rows) before the next
# block, so the passes after the first find the block still in the CPU's L2 cache rather than in main memory.
# Forward and backward on the model's three stage shapes at batch 512: 13.9 -> 11.0 ms of CPU time (old and new
# alternated in one process).
class BatchNorm(BatchNormFunction):
    """BatchNormSimple's arithmetic on channel rows. Since sum(dxhat) = weight dbias and
    sum(dxhat xhat) = weight dweight, the three-term dx becomes
        dx = weight inv_std (dy - dbias/n - xhat dweight/n).
    """

    def forward(self, x, weight=None, bias=None):
        xp, rows = get_array_module(x), channel_rows(x)
        centered, output = xp.empty_like(rows), xp.empty_like(rows)
        blocks = [self._normalize(rows[block], centered[block], output[block], block, weight, bias)
                  for block in block_rows(rows)]
        mean, var, inv_std = (xp.concatenate(parts) for parts in zip(*blocks))
        if self.training:
            self.update_running_statistics(mean, var, rows.shape[1])
        self.save_for_backward(centered, inv_std, weight)
        return from_channel_rows(output, x.shape)

    def _normalize(self, rows, centered, output, block, weight, bias):
        """One block of channel rows: centered = rows - mean, output = weight centered inv_std + bias.
        Returns the block's (mean, var, inv_std)."""
        xp, count = get_array_module(rows), rows.shape[1]
        if self.training:
            mean = rows.sum(axis=1) / count
            xp.subtract(rows, mean[:, None], out=centered)
            var = row_dots(centered, centered) / count
        else:
            mean, var = self.running_mean.data[block], self.running_var.data[block]
            xp.subtract(rows, mean[:, None], out=centered)
        inv_std = 1 / xp.sqrt(var + self.eps)
        xp.multiply(centered, (inv_std if weight is None else weight[block] * inv_std)[:, None], out=output)
        if bias is not None:
            output += bias[block, None]
        return mean, var, inv_std

    def backward(self, grad_output):
        centered, inv_std, weight = self.saved
        xp, grad_rows = get_array_module(centered), channel_rows(grad_output)
        grad_x = xp.empty_like(grad_rows)
        blocks = [self._grad_block(grad_rows[block], centered[block], inv_std[block], block, weight, grad_x[block])
                  for block in block_rows(grad_rows)]
        grad_weight, grad_bias = (xp.concatenate(parts) for parts in zip(*blocks))
        grad_x = from_channel_rows(grad_x, grad_output.shape)
        return (grad_x,) if weight is None else (grad_x, grad_weight, grad_bias)

    def _grad_block(self, grad_rows, centered, inv_std, block, weight, grad_x):
        """One block of channel rows: writes dx into grad_x; returns the block's (dweight, dbias)."""
        xp, count = get_array_module(grad_rows), grad_rows.shape[1]
        grad_bias = grad_rows.sum(axis=1)
        grad_weight = row_dots(grad_rows, centered) * inv_std
        scale = inv_std if weight is None else weight[block] * inv_std
        xp.multiply(grad_rows, scale[:, None], out=grad_x)
        if self.training:  # scale (dy - dbias/n - xhat dweight/n), with xhat = centered inv_std
            grad_x -= centered * (scale * inv_std * grad_weight / count)[:, None]
            grad_x -= (scale * grad_bias / count)[:, None]
        return grad_weight, grad_bias


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization of x (N, C) or (N, C, H, W) per channel C, as PyTorch's F.batch_norm.

    running_mean, running_var: (C,) Tensors (buffers) or None. In training the
    batch statistics normalize, and the running ones (if given) are updated in
    place on their ``.data``. In eval mode (training=False) the running
    statistics normalize. weight, bias: (C,), or both None (then y = xhat).
    """
    x = as_tensor(x)
    check_batch_norm_arguments("batch_norm", x, running_mean, running_var, weight, bias, training)
    parameters = () if weight is None else (weight, bias)
    return BatchNorm(running_mean, running_var, training, momentum, eps)(x, *parameters)
