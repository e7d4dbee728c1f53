"""Normalization: values standardized to zero mean and unit variance, then scaled and shifted,

    mean = sum(x) / n,   var = sum((x - mean)^2) / n,
    xhat = (x - mean) / sqrt(var + eps),   y = weight xhat + bias,

where the n values that share a mean and a variance are

- batch norm: one channel of x (N, C) or (N, C, H, W), its N (or N*H*W) values across the batch.
  In training the batch's statistics normalize and update the running ones; in eval mode the
  running statistics normalize, and they are constants.
- layer norm: one sample, its values along the last axes, normalized_shape (its features), in
  training and evaluation alike.

Two tiers each: :func:`batch_norm_simple` and :func:`layer_norm_simple` write these lines with
the engine's ops, and autograd derives their backward; :func:`batch_norm` and :func:`layer_norm`
compute the same with the backward derived by hand in :class:`BatchNorm`'s and
:class:`LayerNorm`'s docstrings (the model uses batch_norm). They are tested equal.
"""
import math
import numbers

import numpy

from minigrad.backend import fused_kernel, get_array_module
from minigrad.layout import block_rows, channel_rows, from_channel_rows
from minigrad.tensor import Function, as_tensor


def batch_norm_simple(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """batch_norm as the module docstring's lines, from the engine's ops: autograd derives the backward,
    through xhat, the mean and the variance alike. For reading, and for testing the fast :func:`batch_norm` against."""
    x = as_tensor(x)
    check_batch_norm_arguments("batch_norm_simple", x, running_mean, running_var, weight, bias, training)
    axes, per_channel = (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)  # per_channel: (1, C, 1, 1)
    if training:
        mean, var = moments(x, axes)
        batch_mean, batch_var, count = mean.data.reshape(-1), var.data.reshape(-1), x.size // x.shape[1]
        update_running_statistics(running_mean, running_var, batch_mean, batch_var, count, momentum)
    else:
        mean, var = running_mean.reshape(per_channel), running_var.reshape(per_channel)
    xhat = (x - mean) / (var + eps).sqrt()
    if weight is None:
        return xhat
    return weight.reshape(per_channel) * xhat + bias.reshape(per_channel)


def moments(x, axes):
    """The mean and the (biased) variance of the Tensor x over ``axes``, which are kept with size 1."""
    mean = x.mean(axis=axes, keepdims=True)
    return mean, ((x - mean) ** 2).mean(axis=axes, keepdims=True)


def update_running_statistics(running_mean, running_var, batch_mean, batch_var, count, momentum):
    """running = (1 - momentum) running + momentum batch, in place, as PyTorch does (when there are any).

    The running variance tracks the unbiased batch variance (times count/(count-1)),
    although the batch itself is normalized with the biased one. On a GPU one fused kernel.
    """
    if running_mean is None:
        return
    running_statistics_update(batch_mean, batch_var, momentum, 1 - momentum, count / (count - 1), running_mean.data,
                              running_var.data)


@fused_kernel(
    "T batch_mean, T batch_var, T momentum, T one_minus_momentum, T correction",
    "T running_mean, T running_var",
    """
    running_mean = one_minus_momentum * running_mean + momentum * batch_mean;
    running_var = one_minus_momentum * running_var + momentum * batch_var * correction;
    """,
)
def running_statistics_update(batch_mean, batch_var, momentum, one_minus_momentum, correction, running_mean,
                              running_var):
    """update_running_statistics' arithmetic on arrays (C,), in place on running_mean and running_var: the CPU's,
    and the NumPy twin of the kernel above (seven launches as array operations)."""
    running_mean *= one_minus_momentum
    running_mean += momentum * batch_mean
    running_var *= one_minus_momentum
    running_var += momentum * batch_var * correction


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


def joined(parts):
    """The per-channel vectors of the blocks, (C_block,) each, as one (C,): the one block's own when
    there is one block (always on a GPU, where a concatenation is one more launch)."""
    return parts[0] if len(parts) == 1 else get_array_module(parts[0]).concatenate(parts)


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

    backward_reads_output = False  # True for an op that fuses more after the normalization (see _grad_normalized)

    def __init__(self, running_mean, running_var, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, weight=None, bias=None):
        xp, rows = get_array_module(x), channel_rows(x)
        centered, output = xp.empty_like(rows), xp.empty_like(rows)
        blocks = [self._normalize(rows[block], centered[block], output[block], block, weight, bias)
                  for block in block_rows(rows)]
        mean, var, inv_std = (joined(parts) for parts in zip(*blocks))
        if self.training:
            update_running_statistics(self.running_mean, self.running_var, mean, var, rows.shape[1], self.momentum)
        self.save_for_backward(centered, inv_std, weight, output if self.backward_reads_output else None)
        return from_channel_rows(output, x.shape)

    def _normalize(self, rows, centered, output, block, weight, bias):
        """One block of channel rows: centered = rows - mean, output = weight centered inv_std + bias.
        Returns the block's (mean, var, inv_std)."""
        xp = get_array_module(rows)
        if self.training:
            mean = rows.mean(axis=1)
            xp.subtract(rows, mean[:, None], out=centered)
            sum_squares, count = row_dots(centered, centered), rows.shape[1]
        else:  # the running variance, as the sum of squares of one value
            mean, sum_squares, count = self.running_mean.data[block], self.running_var.data[block], 1
            xp.subtract(rows, mean[:, None], out=centered)
        var, inv_std, scale = (xp.empty_like(sum_squares) for _ in range(3))
        batch_norm_scale(sum_squares, count, 1.0 if weight is None else weight[block], self.eps, var, inv_std, scale)
        self._write_output(centered, scale[:, None], None if bias is None else bias[block, None], block, output)
        return mean, var, inv_std

    def _write_output(self, centered, scale, bias, block, output):
        """output = centered scale + bias for one block of channel rows (scale, bias: columns (C_block, 1))."""
        get_array_module(centered).multiply(centered, scale, out=output)
        if bias is not None:
            output += bias

    def backward(self, grad_output):
        centered, inv_std, weight, output = self.saved
        xp, grad_rows = get_array_module(centered), channel_rows(grad_output)
        grad_x = xp.empty_like(grad_rows)
        blocks = [self._grad_block(grad_rows[block], centered[block], inv_std[block], block, weight,
                                   None if output is None else output[block], grad_x[block])
                  for block in block_rows(grad_rows)]
        grad_weight, grad_bias = (joined(parts) for parts in zip(*blocks))
        grad_x = from_channel_rows(grad_x, grad_output.shape)
        return (grad_x,) if weight is None else (grad_x, grad_weight, grad_bias)

    def _grad_normalized(self, grad_rows, output, scratch):
        """The gradient of the normalized output (centered scale + bias) for one block of channel rows, from that of
        this op's output (the block's, saved when backward_reads_output): the same. An op that fuses more after the
        normalization writes its own into ``scratch``."""
        return grad_rows

    def _grad_block(self, grad_rows, centered, inv_std, block, weight, output, grad_x):
        """One block of channel rows: writes dx into grad_x; returns the block's (dweight, dbias)."""
        grad_rows = self._grad_normalized(grad_rows, output, grad_x)  # may be grad_x itself: read before written
        xp, count = get_array_module(grad_rows), grad_rows.shape[1]
        grad_bias, grad_weight, scale = grad_rows.sum(axis=1), xp.empty_like(inv_std), xp.empty_like(inv_std)
        batch_norm_grad_factors(row_dots(grad_rows, centered), inv_std, 1.0 if weight is None else weight[block],
                                grad_weight, scale)
        if not self.training:
            xp.multiply(grad_rows, scale[:, None], out=grad_x)
        else:
            columns = (scale[:, None], inv_std[:, None], grad_weight[:, None], grad_bias[:, None])
            batch_norm_grad_x(grad_rows, centered, *columns, count, grad_x)
        return grad_weight, grad_bias


@fused_kernel(
    "T sum_squares, T count, T weight, T eps", "T var, T inv_std, T scale",
    "var = sum_squares / count; inv_std = 1 / sqrt(var + eps); scale = weight * inv_std",
)
def batch_norm_scale(sum_squares, count, weight, eps, var, inv_std, scale):
    """Batch norm's per-channel factors, into var, inv_std and scale (C,): var = sum_squares / count, inv_std =
    1 / sqrt(var + eps), scale = weight inv_std (weight: (C,), or 1.0 without one). BatchNorm's on the CPU, and the
    NumPy twin of the kernel above (five launches on (C,) vectors as array operations)."""
    numpy.divide(sum_squares, count, out=var)
    numpy.divide(1, numpy.sqrt(var + eps), out=inv_std)
    numpy.multiply(weight, inv_std, out=scale)


@fused_kernel(
    "T dots, T inv_std, T weight", "T grad_weight, T scale",
    "grad_weight = dots * inv_std; scale = weight * inv_std",
)
def batch_norm_grad_factors(dots, inv_std, weight, grad_weight, scale):
    """Batch norm's per-channel factors of the backward, into grad_weight and scale (C,): dweight = sum(dy centered)
    inv_std (dots: the sums), scale = weight inv_std (weight: (C,), or 1.0). BatchNorm's on the CPU, and the NumPy
    twin of the kernel above."""
    numpy.multiply(dots, inv_std, out=grad_weight)
    numpy.multiply(weight, inv_std, out=scale)


@fused_kernel(
    "T grad_rows, T centered, T scale, T inv_std, T grad_weight, T grad_bias, T count",
    "T grad_x",
    "grad_x = grad_rows * scale - centered * (scale * inv_std * grad_weight / count) - scale * grad_bias / count",
)
def batch_norm_grad_x(grad_rows, centered, scale, inv_std, grad_weight, grad_bias, count, grad_x):
    """Batch norm's dx in training, into grad_x: dx = scale (dy - dbias/n - xhat dweight/n), xhat = centered inv_std.

    grad_rows (dy), centered, grad_x: channel rows (C, M); scale (weight inv_std), inv_std, grad_weight,
    grad_bias: columns (C, 1); count: n. BatchNorm's pass on the CPU, and the NumPy twin of the kernel above, the
    same formula in the same order (as array operations most launches would be on the per-channel columns).
    """
    numpy.multiply(grad_rows, scale, out=grad_x)
    grad_x -= centered * (scale * inv_std * grad_weight / count)
    grad_x -= scale * grad_bias / count


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


# Layer norm: each sample normalized over its last axes.
def layer_norm_simple(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """layer_norm as the module docstring's lines, from the engine's ops: autograd derives the backward.
    For reading, and for testing the fast :func:`layer_norm` against."""
    normalized_shape = check_layer_norm_arguments("layer_norm_simple", x, normalized_shape, weight, bias)
    mean, var = moments(x, tuple(range(x.ndim - len(normalized_shape), x.ndim)))
    xhat = (x - mean) / (var + eps).sqrt()
    return xhat if weight is None else weight * xhat + bias


class LayerNorm(Function):
    """layer_norm_simple's arithmetic on rows (M, D), one sample's D features per row, with the backward by hand.

    It is BatchNorm's derivation with the sums taken along a row instead of a channel: with dxhat = dy weight,
        dx = inv_std (dxhat - mean(dxhat) - xhat mean(dxhat xhat))      (means along the row),
    the direct path, the path through the mean and the one through the variance. dweight = the sum over
    rows of dy xhat, and dbias = the sum over rows of dy.
    """

    def __init__(self, features, eps):
        self.features, self.eps = features, eps

    def forward(self, x, weight=None, bias=None):
        rows = x.reshape(-1, self.features)
        centered = rows - rows.mean(axis=1, keepdims=True)
        inv_std = 1 / get_array_module(x).sqrt((centered * centered).mean(axis=1, keepdims=True) + self.eps)
        xhat = centered * inv_std
        self.save_for_backward(xhat, inv_std, weight)
        output = xhat if weight is None else weight.reshape(-1) * xhat + bias.reshape(-1)
        return output.reshape(x.shape)

    def backward(self, grad_output):
        xhat, inv_std, weight = self.saved
        grad_rows, needs = grad_output.reshape(xhat.shape), self.needs_input_grad
        grad_xhat = grad_rows if weight is None else grad_rows * weight.reshape(-1)
        grad_x = None
        if needs[0]:
            grad_x = inv_std * (grad_xhat - grad_xhat.mean(axis=1, keepdims=True)
                                - xhat * (grad_xhat * xhat).mean(axis=1, keepdims=True))
            grad_x = grad_x.reshape(grad_output.shape)
        if weight is None:
            return (grad_x,)
        grad_weight = (grad_rows * xhat).sum(axis=0).reshape(weight.shape) if needs[1] else None
        grad_bias = grad_rows.sum(axis=0).reshape(weight.shape) if needs[2] else None
        return grad_x, grad_weight, grad_bias


def check_layer_norm_arguments(name, x, normalized_shape, weight, bias):
    """The one check of layer_norm's arguments; returns normalized_shape as a tuple."""
    normalized_shape = shape_tuple(normalized_shape, f"{name}: normalized_shape")
    if len(normalized_shape) > x.ndim or tuple(x.shape[-len(normalized_shape):]) != normalized_shape:
        raise ValueError(f"{name}: x of shape {tuple(x.shape)} does not end in normalized_shape {normalized_shape}")
    for key, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tuple(tensor.shape) != normalized_shape:
            raise ValueError(f"{name}: {key} must have the shape normalized_shape = {normalized_shape}, "
                             f"got {tuple(tensor.shape)}")
    if (weight is None) != (bias is None):
        raise ValueError(f"{name}: give both weight and bias, or neither")
    return normalized_shape


def shape_tuple(value, name):
    """An int or a sequence of positive ints as a non-empty tuple of ints (a shape)."""
    shape = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    if not shape or not all(isinstance(size, numbers.Integral) and size > 0 for size in shape):
        raise ValueError(f"{name} must be a positive int or a non-empty sequence of them, got {value!r}")
    return tuple(int(size) for size in shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization of each sample of x (..., *normalized_shape) over its last axes, as PyTorch's
    F.layer_norm. normalized_shape: an int or a tuple, the trailing axes of x; weight, bias: of that shape,
    or both None (then y = xhat). Returns a Tensor of x's shape."""
    normalized_shape = check_layer_norm_arguments("layer_norm", x, normalized_shape, weight, bias)
    parameters = () if weight is None else (weight, bias)
    return LayerNorm(math.prod(normalized_shape), eps)(x, *parameters)
