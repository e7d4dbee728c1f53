"""softmax and log_softmax along an axis, computed stably by shifting by the maximum first."""
from minigrad.backend import get_array_module
from minigrad.tensor import Function


def log_softmax_array(a, axis):
    """log softmax of a raw array: (a - max) - log(sum(exp(a - max))), finite even for |a| ~ 1e3."""
    xp = get_array_module(a)
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


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
