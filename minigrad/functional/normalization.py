"""Batch normalization: each channel normalized to zero mean and unit variance, then scaled and shifted.

For x (N, C) or (N, C, H, W), the statistics of channel c run over its
n = N (or N*H*W) values:

    mean = sum(x) / n,   var = sum((x - mean)^2) / n,
    xhat = (x - mean) / sqrt(var + eps),   y = weight xhat + bias.

In training the batch's mean and var normalize (and update the running
statistics); in eval mode the running statistics do, and they are constants.

Two tiers: :func:`batch_norm_simple` writes these lines with the engine's
ops, and autograd derives its backward; :func:`batch_norm` computes the same
on one row per channel, with the backward derived by hand in :class:`BatchNorm`'s
docstring (the model uses it). They are tested equal.
"""
from minigrad.backend import get_array_module
from minigrad.layout import block_rows, channel_rows, from_channel_rows
from minigrad.tensor import Function, as_tensor


def batch_norm_simple(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """batch_norm as the module docstring's lines, from the engine's ops: autograd derives the backward,
    through xhat, the mean and the variance alike. For reading, and for testing the fast :func:`batch_norm` against."""
    x = as_tensor(x)
    check_batch_norm_arguments("batch_norm_simple", x, running_mean, running_var, weight, bias, training)
    axes, per_channel = (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)  # per_channel: (1, C, 1, 1)
    if training:
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        batch_mean, batch_var, count = mean.data.reshape(-1), var.data.reshape(-1), x.size // x.shape[1]
        update_running_statistics(running_mean, running_var, batch_mean, batch_var, count, momentum)
    else:
        mean, var = running_mean.reshape(per_channel), running_var.reshape(per_channel)
    xhat = (x - mean) / (var + eps).sqrt()
    if weight is None:
        return xhat
    return weight.reshape(per_channel) * xhat + bias.reshape(per_channel)


def update_running_statistics(running_mean, running_var, batch_mean, batch_var, count, momentum):
    """running = (1 - momentum) running + momentum batch, in place, as PyTorch does (when there are any).

    The running variance tracks the unbiased batch variance (times count/(count-1)),
    although the batch itself is normalized with the biased one.
    """
    if running_mean is None:
        return
    running_mean.data *= 1 - momentum
    running_mean.data += momentum * batch_mean
    running_var.data *= 1 - momentum
    running_var.data += momentum * batch_var * (count / (count - 1))


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


# The fast tier: channel rows. x as rows (C, H*W*N) (see minigrad/layout.py), each per-channel vector a column
# (C, 1): every pass sweeps long contiguous rows, and for batch-last input (a convolution's output) neither the
# rows nor the output cost a copy. xhat is never stored: the backward keeps centered = x - mean and folds
# xhat = centered inv_std into per-channel factors, which saves a pass over the data each way.
def row_dots(a, b):
    """The dot product of each row of a with the same row of b: (C, M), (C, M) -> (C,).

    One batched matrix product: faster than (a * b).sum(axis=1), and no (C, M) temporary.
    """
    return (a[:, None, :] @ b[:, :, None])[:, 0, 0]


# BatchNorm's trick: every pass runs over a block of rows of about half a megabyte (block_rows) before the next
# block, so the passes after the first find the block still in the CPU's L2 cache rather than in main memory.
class BatchNorm(Function):
    """batch_norm_simple's arithmetic on channel rows, with the backward by hand. Per channel, x reaches y
    directly and through var and mean; with dxhat = dy weight, inv_std = 1 / sqrt(var + eps), sums over n:

        dvar  = sum(dxhat (x - mean)) (-1/2) inv_std^3
        dmean = -inv_std sum(dxhat)          (var's own term, dvar (-2/n) sum(x - mean), is 0)
        dx    = dxhat inv_std + dvar 2 (x - mean) / n + dmean / n
              = (inv_std / n) (n dxhat - sum(dxhat) - xhat sum(dxhat xhat))

    dweight = sum(dy xhat) and dbias = sum(dy), so sum(dxhat) = weight dbias and sum(dxhat xhat) =
    weight dweight: dx = weight inv_std (dy - dbias/n - xhat dweight/n). In eval mode dx = dxhat inv_std.
    """

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, weight=None, bias=None):
        xp, rows = get_array_module(x), channel_rows(x)
        centered, output = xp.empty_like(rows), xp.empty_like(rows)
        blocks = [self._normalize(rows[block], centered[block], output[block], block, weight, bias)
                  for block in block_rows(rows)]
        mean, var, inv_std = (xp.concatenate(parts) for parts in zip(*blocks))
        if self.training:
            update_running_statistics(self.running_mean, self.running_var, mean, var, rows.shape[1], self.momentum)
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
