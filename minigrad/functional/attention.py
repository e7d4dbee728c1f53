"""Scaled dot-product attention: each query mixes the values, weighted by how well it matches each key,

    P = softmax(scale q k^T) along the keys,   out = P v,

with q (..., T, D), k (..., S, D), v (..., S, Dv) -> out (..., T, Dv): the weights P (..., T, S) of each
query's row sum to 1. scale is 1 / sqrt(D) by default, as in "Attention is all you need" and PyTorch.

Two tiers: :func:`scaled_dot_product_attention_simple` writes the line above with the engine's ops, and
autograd derives the backward through the product, the softmax and the second product;
:func:`scaled_dot_product_attention` computes the same as one op with the backward by hand (see
:class:`ScaledDotProductAttention`), which on a GPU is eight kernels where the composition is
nineteen. They are tested equal.
"""
import math

import numpy

from minigrad.backend import fused_kernel, get_array_module
from minigrad.functional.activation import softmax
from minigrad.functional.arithmetic import scale as scaled
from minigrad.functional.arithmetic import unbroadcast
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
        scores = query @ key.swapaxes(-1, -2)
        weights = get_array_module(scores).empty_like(scores)
        scaled_softmax(scores, self.scale, scores.shape[-1], weights, size=rows_of(scores))
        self.save_for_backward(query, key, value, weights)
        return weights @ value

    def backward(self, grad_output):
        query, key, value, weights = self.saved
        xp, needs = get_array_module(weights), self.needs_input_grad
        grad_weights = grad_output @ value.swapaxes(-1, -2)
        grad_scores = xp.empty_like(weights)
        scaled_softmax_grad(weights, grad_weights, self.scale, weights.shape[-1], grad_scores, size=rows_of(weights))
        grad_query = unbroadcast(grad_scores @ key, query.shape) if needs[0] else None
        grad_key = unbroadcast(grad_scores.swapaxes(-1, -2) @ query, key.shape) if needs[1] else None
        grad_value = unbroadcast(weights.swapaxes(-1, -2) @ grad_output, value.shape) if needs[2] else None
        return grad_query, grad_key, grad_value


def rows_of(array):
    """The number of rows along the last axis of ``array`` (..., W): a row kernel's count of threads."""
    return math.prod(array.shape[:-1])


@fused_kernel(
    "raw T scores, T scale, int32 width", "raw T weights",
    """
    const ptrdiff_t start = i * width;
    T maximum = scores[start];
    for (int j = 1; j < width; ++j) maximum = scores[start + j] > maximum ? scores[start + j] : maximum;
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
    if scale is None:
        return 1 / math.sqrt(query.shape[-1])
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
