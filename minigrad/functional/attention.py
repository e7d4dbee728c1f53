"""Scaled dot-product attention: each query mixes the values, weighted by how well it matches each key,

    P = softmax(scale q k^T) along the keys,   out = P v,

with q (..., T, D), k (..., S, D), v (..., S, Dv) -> out (..., T, Dv): the weights P (..., T, S) of each
query's row sum to 1. scale is 1 / sqrt(D) by default, as in "Attention is all you need" and PyTorch.

Two tiers: :func:`scaled_dot_product_attention_simple` writes the line above with the engine's ops, and
autograd derives the backward through the product, the softmax and the second product;
:func:`scaled_dot_product_attention` computes the same as one op with the backward by hand (see
:class:`ScaledDotProductAttention`), which on a GPU is eight kernels where the composition is
nineteen. They are tested equal.

:func:`projected_attention` is self-attention among the parts of projected vectors: three linear
layers make q, k and v from x, each vector cut into items, and the attention above runs among them.
Its plain twin writes exactly that; the fast op stacks the three weights so that the projections are
one product, and hands their gradients back as parts of one array each.
"""
import math
import numbers

import numpy

from minigrad.backend import fused_kernel, get_array_module, row_maximum, rows_of
from minigrad.functional.activation import softmax
from minigrad.functional.arithmetic import scale as scaled
from minigrad.functional.arithmetic import unbroadcast
from minigrad.functional.linear import linear
from minigrad.functional.shape import swapaxes
from minigrad.tensor import Function, as_tensor


def scaled_dot_product_attention_simple(query, key, value, scale=None):
    """scaled_dot_product_attention as the module docstring's line, from the engine's ops. For reading,
    and for testing the fast :func:`scaled_dot_product_attention` against."""
    scale = check_attention_arguments("scaled_dot_product_attention_simple", query, key, value, scale)
    weights = softmax(scaled(query @ swapaxes(key, -1, -2), scale), axis=-1)
    return weights @ value


class ScaledDotProductAttention(Function):
    """out = P v, P = softmax(S), S = scale q k^T (softmax along the last axis). Backward, from dout:

        dv = P^T dout,   dP = dout v^T,
        dS = P (dP - sum(dP P))          (the softmax's backward, the sum along each row of P),
        dq = scale dS k,   dk = scale dS^T q,
    each summed over the leading axes that broadcasting stretched its input along.
    """

    def __init__(self, scale):
        self.scale = scale

    def forward(self, query, key, value):
        output, weights = attend(query, key, value, self.scale)
        self.save_for_backward(query, key, value, weights)
        return output

    def backward(self, grad_output):
        query, key, value, weights = self.saved
        grads = attend_backward(grad_output, query, key, value, weights, self.scale, self.needs_input_grad)
        return tuple(None if grad is None else unbroadcast(grad, array.shape)
                     for grad, array in zip(grads, (query, key, value)))


def attend(query, key, value, scale):
    """The attention's forward on arrays: (out, P), P the weights (..., T, S) that the backward needs."""
    scores = query @ key.swapaxes(-1, -2)
    weights = get_array_module(scores).empty_like(scores)
    scaled_softmax(scores, scale, scores.shape[-1], weights, size=rows_of(scores))
    return weights @ value, weights


def attend_backward(grad_output, query, key, value, weights, scale, needs=(True, True, True), out=(None, None, None)):
    """The attention's backward on arrays: (dq, dk, dv) from dout, each of the broadcast shape (None where
    ``needs`` says so), written into the arrays of ``out`` where it gives them."""
    xp = get_array_module(weights)
    grad_weights = grad_output @ value.swapaxes(-1, -2)
    grad_scores = xp.empty_like(weights)
    scaled_softmax_grad(weights, grad_weights, scale, weights.shape[-1], grad_scores, size=rows_of(weights))
    products = ((grad_scores, key), (grad_scores.swapaxes(-1, -2), query), (weights.swapaxes(-1, -2), grad_output))
    return tuple(xp.matmul(a, b, out=into) if need else None for (a, b), need, into in zip(products, needs, out))


@fused_kernel(
    "raw T scores, T scale, int32 width", "raw T weights",
    row_maximum("scores") + """
    T total = 0;
    for (int j = 0; j < width; ++j) {
        weights[start + j] = exp((scores[start + j] - maximum) * scale);
        total += weights[start + j];
    }
    for (int j = 0; j < width; ++j) weights[start + j] /= total;
    """,
)
def scaled_softmax(scores, scale, width, weights):
    """weights = softmax(scale scores) along the last axis, of width ``width``: exp(scale (s - max)) over its
    row's sum, shifted by each row's maximum so that none overflows (scale > 0). The CPU's passes, and the
    NumPy twin of the kernel above, in which thread i does row i."""
    numpy.subtract(scores, scores.max(axis=-1, keepdims=True), out=weights)
    weights *= scale
    numpy.exp(weights, out=weights)
    weights /= weights.sum(axis=-1, keepdims=True)


@fused_kernel(
    "raw T weights, raw T grad_weights, T scale, int32 width", "raw T grad_scores",
    """
    const ptrdiff_t start = i * width;
    T row_sum = 0;
    for (int j = 0; j < width; ++j) row_sum += grad_weights[start + j] * weights[start + j];
    for (int j = 0; j < width; ++j) {
        grad_scores[start + j] = (grad_weights[start + j] - row_sum) * weights[start + j] * scale;
    }
    """,
)
def scaled_softmax_grad(weights, grad_weights, scale, width, grad_scores):
    """grad_scores = scale P (dP - sum(dP P)), the sum along each row: the gradient of the scores q k^T from
    that of the weights P (..., T, width). The CPU's passes, and the NumPy twin of the kernel above, in which
    thread i does row i."""
    row_sums = grad_weights[..., None, :] @ weights[..., :, None]  # (..., T, 1, 1)
    numpy.subtract(grad_weights, row_sums[..., 0], out=grad_scores)
    grad_scores *= weights
    grad_scores *= scale


def check_attention_arguments(name, query, key, value, scale):
    """The one check of the attention's arguments; returns the scale (1 / sqrt(D) when None)."""
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(f"{name} expects query (..., T, D), key (..., S, D) and value (..., S, Dv), "
                         f"got shapes {tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{name}: query and key need the same feature size D, got shapes {tuple(query.shape)} "
                         f"and {tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{name}: key and value need one row per key, got shapes {tuple(key.shape)} "
                         f"and {tuple(value.shape)}")
    return checked_scale(name, scale, query.shape[-1])


def checked_scale(name, scale, features):
    """scale as a float: 1 / sqrt(features) when None, else a positive number."""
    if scale is None:
        return 1 / math.sqrt(features)
    if not scale > 0:
        raise ValueError(f"{name}: scale must be positive, got {scale!r}")
    return float(scale)


def scaled_dot_product_attention(query, key, value, scale=None):
    """softmax(scale query key^T) value, as PyTorch's F.scaled_dot_product_attention without masks or dropout.

    query (..., T, D), key (..., S, D), value (..., S, Dv) -> (..., T, Dv); the leading axes broadcast.
    scale: a positive float, 1 / sqrt(D) by default.
    """
    query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
    scale = check_attention_arguments("scaled_dot_product_attention", query, key, value, scale)
    return ScaledDotProductAttention(scale)(query, key, value)


# Self-attention among the parts of projected vectors: the three projections as one product.


def projected_attention_simple(x, query_weight, query_bias, key_weight, key_bias, value_weight, value_bias, items,
                               scale=None):
    """projected_attention from the engine's ops: three linear layers, each output cut into ``items`` rows,
    and attention among them. For reading, and for testing the fast :func:`projected_attention` against."""
    scale = check_projection_arguments("projected_attention_simple", x, query_weight, query_bias, key_weight,
                                       key_bias, value_weight, value_bias, items, scale)
    parts = x.shape[:-1] + (items, query_weight.shape[0] // items)
    query, key, value = (linear(x, weight, bias).reshape(*parts) for weight, bias in
                         ((query_weight, query_bias), (key_weight, key_bias), (value_weight, value_bias)))
    return scaled_dot_product_attention_simple(query, key, value, scale)


class ProjectedAttention(Function):
    """q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv, each (M, items * D) cut into (M, items, D);
    out = softmax(scale q k^T) v. The three weights are stacked into one W (3 items D, F), so the projections
    are one product. Backward: dq, dk, dv from the attention's backward, side by side as dQKV (M, 3 items D);
    dx = dQKV W, dW = dQKV^T x, db = the sum of dQKV over the rows, cut back into the three weights and biases.
    """

    grads_are_own_views = True  # the weights' and the biases' gradients are parts of one fresh array each

    def __init__(self, items, scale):
        self.items, self.scale = items, scale

    def forward(self, x, query_weight, query_bias, key_weight, key_bias, value_weight, value_bias):
        xp, rows = get_array_module(x), x.reshape(-1, x.shape[-1])
        weight = xp.concatenate((query_weight, key_weight, value_weight))
        product, size = rows @ weight.T, len(query_weight)
        projected = xp.empty((3, len(rows), size), dtype=product.dtype)  # q, k and v, each contiguous
        biases = xp.stack((query_bias, key_bias, value_bias))[:, None]
        xp.add(product.reshape(len(rows), 3, size).transpose(1, 0, 2), biases, out=projected)
        parts = projected.reshape(3, len(rows), self.items, size // self.items)
        query, key, value = parts[0], parts[1], parts[2]
        output, weights = attend(query, key, value, self.scale)
        self.input_shape = x.shape
        self.save_for_backward(rows, weight, query, key, value, weights)
        return output.reshape(x.shape[:-1] + output.shape[-2:])

    def backward(self, grad_output):
        rows, weight, query, key, value, weights = self.saved
        xp, needs = get_array_module(rows), self.needs_input_grad
        grad_parts = xp.empty((3,) + query.shape, dtype=query.dtype)
        attend_backward(grad_output.reshape(query.shape), query, key, value, weights, self.scale,
                        out=(grad_parts[0], grad_parts[1], grad_parts[2]))
        grad_projected = grad_parts.reshape(3, len(rows), -1).transpose(1, 0, 2).reshape(len(rows), -1)  # a copy
        grad_x = (grad_projected @ weight).reshape(self.input_shape) if needs[0] else None
        grad_weight = grad_projected.T @ rows if any(needs[1::2]) else None
        grad_bias = grad_projected.sum(axis=0) if any(needs[2::2]) else None
        size, grads = grad_projected.shape[1] // 3, [grad_x]
        for part in range(3):
            cut = slice(part * size, (part + 1) * size)
            grads += [grad_weight[cut] if needs[1 + 2 * part] else None, grad_bias[cut] if needs[2 + 2 * part] else None]
        return tuple(grads)


def check_projection_arguments(name, x, query_weight, query_bias, key_weight, key_bias, value_weight, value_bias,
                               items, scale):
    """The one check of projected_attention's arguments; returns the scale (1 / sqrt(D) when None)."""
    weights, biases = (query_weight, key_weight, value_weight), (query_bias, key_bias, value_bias)
    if x.ndim == 0 or any(weight.ndim != 2 or weight.shape != query_weight.shape for weight in weights):
        raise ValueError(f"{name} expects x (..., F) and three weights (E, F) of one shape, got shapes "
                         f"{tuple(x.shape)}, {', '.join(str(tuple(weight.shape)) for weight in weights)}")
    size, features = query_weight.shape
    if features != x.shape[-1]:
        raise ValueError(f"{name}: x has {x.shape[-1]} features (the last axis of its shape {tuple(x.shape)}) "
                         f"but the weights of shape {(size, features)} expect {features}")
    if any(bias is None or tuple(bias.shape) != (size,) for bias in biases):
        raise ValueError(f"{name}: the three biases must have shape ({size},), got "
                         f"{', '.join('None' if bias is None else str(tuple(bias.shape)) for bias in biases)}")
    if not (isinstance(items, numbers.Integral) and items > 0 and size % items == 0):
        raise ValueError(f"{name}: items must be a positive whole divisor of the projections' size {size}, "
                         f"got {items!r}")
    return checked_scale(name, scale, size // items)


def projected_attention(x, query_weight, query_bias, key_weight, key_bias, value_weight, value_bias, items,
                        scale=None):
    """Self-attention among the ``items`` parts of each vector's projections, as one op.

    x (..., F); each weight (E, F) and bias (E,), with E = items * D: q = x Wq^T + bq cut into (..., items, D),
    k and v likewise; returns scaled_dot_product_attention(q, k, v, scale) (..., items, D). It is the input
    projection of PyTorch's nn.MultiheadAttention (in_proj_weight stacks the three weights the same way)
    followed by one head's attention, with the parts of a vector as the sequence. scale: 1 / sqrt(D) by default.
    """
    inputs = [None if value is None else as_tensor(value) for value in
              (x, query_weight, query_bias, key_weight, key_bias, value_weight, value_bias)]
    scale = check_projection_arguments("projected_attention", *inputs, items, scale)
    return ProjectedAttention(items, scale)(*inputs)
