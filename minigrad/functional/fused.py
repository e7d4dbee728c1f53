"""Fused ops: a chain of ops that models run back to back, computed as one op with fewer passes over memory.

batch_norm_relu_dropout(x, ...) = dropout(relu(batch_norm(x, ...)), p), a convolutional stage's tail:

    z = batch_norm(x),   y = max(z, 0) s keep,   s = 1 / (1 - p),   keep = (draw >= round(p 65536)),

Two tiers: :func:`batch_norm_relu_dropout_simple` is the composition of the three fast ops, and
autograd chains their backwards; :func:`batch_norm_relu_dropout` writes y in the same pass over a
block of channel rows that writes z, and draws the same 16-bit integers from the same generator in
the same order, so the two agree to the bit. The fused backward is one pass too (the derivation is
in :class:`BatchNormReLUDropout`), and it keeps y alone instead of ReLU's and dropout's masks. On a
GPU each pass is one kernel (a CuPy ElementwiseKernel), whose NumPy twin is the CPU's code.
"""

import numpy

from minigrad.backend import fused_kernel, random_generator, to_device
from minigrad.checks import probability
from minigrad.functional.activation import relu
from minigrad.functional.dropout import dropout, keep_threshold, uniform_uint16
from minigrad.functional.normalization import BatchNorm, batch_norm, check_batch_norm_arguments
from minigrad.tensor import as_tensor


def batch_norm_relu_dropout_simple(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                                   eps=1e-5, p=0.0, generator=None):
    """dropout(relu(batch_norm(x, ...)), p) as three ops, autograd chaining their backwards. p = 0: no dropout.
    For reading, and for testing the fused :func:`batch_norm_relu_dropout` against."""
    normalized = batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    return dropout(relu(normalized), p, generator=generator)


class BatchNormReLUDropout(BatchNorm):
    """BatchNorm whose pass over each block of channel rows goes on to y = max(z, 0) s keep.

    Backward: y is z s where z > 0 and the element is kept, else 0, so dz = dy s where y > 0, else 0
    (y > 0 exactly there, as s > 0); then batch norm's backward takes dz (see BatchNorm). With
    p = 0 (s = 1, every element kept) it is batch norm followed by relu.
    """

    backward_reads_output = True

    def __init__(self, running_mean, running_var, training, momentum, eps, draws, threshold, dropout_scale):
        super().__init__(running_mean, running_var, training, momentum, eps)
        self.draws, self.threshold, self.dropout_scale = draws, threshold, dropout_scale

    def _write_output(self, centered, scale, bias, block, output):
        draws = self.draws[block] if self.threshold else 0
        batch_norm_relu_dropout_output(centered, scale, 0 if bias is None else bias, draws, self.threshold,
                                       self.dropout_scale, output)

    def _grad_normalized(self, grad_rows, output, scratch):
        relu_dropout_grad(grad_rows, output, self.dropout_scale, scratch)
        return scratch


@fused_kernel(
    "T centered, T scale, T bias, uint16 draws, int32 threshold, T dropout_scale", "T output",
    """
    T z = centered * scale + bias;
    output = (z < 0 ? (T)0 : z) * dropout_scale * (T)(draws >= threshold);
    """,
)
def batch_norm_relu_dropout_output(centered, scale, bias, draws, threshold, dropout_scale, output):
    """output = max(centered scale + bias, 0) dropout_scale (draws >= threshold), in that order of rounding.

    centered, draws, output: channel rows (C, M); scale, bias: columns (C, 1). threshold 0 keeps every
    element (draws may then be 0). The CPU's pass, and the NumPy twin of the kernel above, whose
    ``z < 0 ? 0 : z`` keeps a nan as NumPy's maximum does.
    """
    numpy.multiply(centered, scale, out=output)
    output += bias
    numpy.maximum(output, 0, out=output)
    if dropout_scale != 1:
        output *= dropout_scale
    if threshold:
        output *= draws >= threshold


@fused_kernel(
    "T grad, T output, T dropout_scale", "T grad_normalized",
    "grad_normalized = grad * dropout_scale * (T)(output > 0)",
)
def relu_dropout_grad(grad, output, dropout_scale, grad_normalized):
    """grad_normalized = grad dropout_scale (output > 0): the gradient reaching batch norm's z from that of y.
    All channel rows (C, M). The CPU's pass, and the NumPy twin of the kernel above."""
    numpy.multiply(grad, dropout_scale, out=grad_normalized)
    grad_normalized *= output > 0


def batch_norm_relu_dropout(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                            eps=1e-5, p=0.0, generator=None):
    """dropout(relu(batch_norm(x, ...)), p) as one op: x (N, C) or (N, C, H, W) -> the same shape, stored batch-last.

    The arguments are batch_norm's (``training`` chooses the batch's statistics or the running ones), then
    dropout's: p, the probability of dropping an element (0 for none, as in evaluation), and ``generator``
    (see F.dropout), from which the mask is drawn as F.dropout draws it.
    """
    x = as_tensor(x)
    check_batch_norm_arguments("batch_norm_relu_dropout", x, running_mean, running_var, weight, bias, training)
    probability(p, "batch_norm_relu_dropout p")
    draws, threshold = 0, 0
    if 0 < p < 1:
        generator = random_generator(x.device) if generator is None else generator
        draws = to_device(uniform_uint16(generator, (x.shape[1], x.size // x.shape[1])), x.device)
        threshold = keep_threshold(p)
    dropout_scale = x.dtype.type(1 / (1 - p) if p < 1 else 0)
    parameters = () if weight is None else (weight, bias)
    return BatchNormReLUDropout(running_mean, running_var, training, momentum, eps, draws, threshold,
                                dropout_scale)(x, *parameters)
