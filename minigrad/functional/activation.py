"""Activations: the elementwise relu, leaky_relu, sigmoid, tanh and gelu, and softmax and log_softmax along
an axis (computed stably by shifting by the maximum first)."""
import math
import numbers

import numpy

from minigrad.backend import fused_kernel, get_array_module, row_maximum, rows_of
from minigrad.tensor import Function


class ReLU(Function):
    """max(a, 0); da = g where a > 0, else 0 (at the kink a = 0 the subgradient 0, as in PyTorch)."""

    def forward(self, a):
        self.save_for_backward(a > 0)
        return get_array_module(a).maximum(a, 0)  # not a * (a > 0), which makes relu(-inf) = nan

    def backward(self, grad_output):
        (positive,) = self.saved
        return (grad_output * positive,)


class Sigmoid(Function):
    """s = 1 / (1 + exp(-a)); ds = s (1 - s) da.

    Computed from e = exp(-|a|), which never overflows: s = 1 / (1 + e) for a >= 0
    and e / (1 + e) for a < 0, so that tiny outputs keep their relative precision.
    """

    def forward(self, a):
        xp = get_array_module(a)
        e = xp.exp(-xp.abs(a))
        output = xp.where(a >= 0, 1, e) / (1 + e)
        self.save_for_backward(output)
        return output

    def backward(self, grad_output):
        (output,) = self.saved
        return (grad_output * output * (1 - output),)


class Tanh(Function):
    """d tanh(a) = (1 - tanh(a)^2) da."""

    def forward(self, a):
        output = get_array_module(a).tanh(a)
        self.save_for_backward(output)
        return output

    def backward(self, grad_output):
        (output,) = self.saved
        return (grad_output * (1 - output * output),)


class LeakyReLU(Function):
    """a where a > 0, else slope a; backward: da = g where a > 0, else slope g."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, a):
        positive = a > 0
        self.save_for_backward(positive)
        return get_array_module(a).where(positive, a, a * a.dtype.type(self.slope))

    def backward(self, grad_output):
        (positive,) = self.saved
        slope = grad_output.dtype.type(self.slope)
        return (get_array_module(grad_output).where(positive, grad_output, grad_output * slope),)


def log_softmax_array(a, axis):
    """log softmax of a raw array along ``axis``: (a - max) - log(sum(exp(a - max))), finite even for |a| ~ 1e3.
    One kernel on a GPU (:func:`log_softmax_rows`, on a view whose last axis is ``axis``)."""
    xp = get_array_module(a)
    rows = xp.moveaxis(a, axis, -1)
    output = xp.empty_like(rows)
    log_softmax_rows(rows, rows.shape[-1], output, size=rows_of(rows))
    return xp.moveaxis(output, -1, axis)


@fused_kernel(
    "raw T a, int32 width", "raw T output",
    row_maximum("a") + """
    T total = 0;
    for (int j = 0; j < width; ++j) total += exp(a[start + j] - maximum);
    const T log_total = log(total);
    for (int j = 0; j < width; ++j) output[start + j] = (a[start + j] - maximum) - log_total;
    """,
)
def log_softmax_rows(a, width, output):
    """output = log softmax of ``a`` along its last axis, of width ``width``. The CPU's passes, and the NumPy
    twin of the kernel above, in which thread i does row i."""
    numpy.subtract(a, a.max(axis=-1, keepdims=True), out=output)
    output -= numpy.log(numpy.exp(output).sum(axis=-1, keepdims=True))


class Softmax(Function):
    """y = exp(a) / sum(exp(a)); backward: da = y * (g - sum(g * y)) along the axis."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, a):
        xp = get_array_module(a)
        exponentials = xp.exp(a - a.max(axis=self.axis, keepdims=True))
        output = exponentials / exponentials.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(output)
        return output

    def backward(self, grad_output):
        (output,) = self.saved
        return (output * (grad_output - (grad_output * output).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """y = a - logsumexp(a); backward: da = g - softmax(a) * sum(g) along the axis."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, a):
        output = log_softmax_array(a, self.axis)
        self.save_for_backward(output)
        return output

    def backward(self, grad_output):
        (output,) = self.saved
        softmax = get_array_module(output).exp(output)
        return (grad_output - softmax * grad_output.sum(axis=self.axis, keepdims=True),)


def softmax(a, axis=-1):
    return Softmax(axis)(a)


def log_softmax(a, axis=-1):
    return LogSoftmax(axis)(a)


def relu(a):
    return ReLU()(a)


def sigmoid(a):
    return Sigmoid()(a)


def tanh(a):
    return Tanh()(a)


def leaky_relu(a, negative_slope=0.01):
    """a for a > 0, negative_slope * a otherwise (PyTorch's F.leaky_relu)."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope must be a real number, got {negative_slope!r}")
    return LeakyReLU(negative_slope)(a)


# GELU, a smooth relu: a times the chance that a standard normal variable is below a, in its tanh form.
GELU_SCALE, GELU_CUBIC = math.sqrt(2 / math.pi), 0.044715


def gelu_simple(a):
    """gelu as its formula reads, from the engine's ops: autograd derives the backward."""
    return 0.5 * a * (1 + tanh(GELU_SCALE * (a + GELU_CUBIC * a**3)))


class GELU(Function):
    """y = a/2 (1 + t), t = tanh(u), u = sqrt(2/pi) (a + 0.044715 a^3). By the product and chain rules,
    with dt/du = 1 - t^2 and du/da = sqrt(2/pi) (1 + 3 * 0.044715 a^2):
        da = g ((1 + t)/2 + a/2 (1 - t^2) du/da).
    """

    def forward(self, a):
        t = get_array_module(a).tanh(GELU_SCALE * (a + GELU_CUBIC * a**3))
        self.save_for_backward(a, t)
        return 0.5 * a * (1 + t)

    def backward(self, grad_output):
        a, t = self.saved
        inner_slope = GELU_SCALE * (1 + 3 * GELU_CUBIC * a * a)
        return (grad_output * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * inner_slope),)


def gelu(a):
    """GELU (Hendrycks and Gimpel) in its tanh form, a/2 (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3))), as
    PyTorch's F.gelu(a, approximate="tanh"): the exact a Phi(a) needs erf, which NumPy does not have."""
    return GELU()(a)
