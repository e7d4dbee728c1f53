"""Elementwise functions: exp, log, sqrt, the activations relu/sigmoid/tanh, clip and where."""
from minigrad.backend import get_array_module
from minigrad.functional.arithmetic import unbroadcast
from minigrad.tensor import Function, as_tensor


class Exp(Function):
    """d exp(a) = exp(a) da: the backward reuses the output."""

    def forward(self, a):
        output = get_array_module(a).exp(a)
        self.save_for_backward(output)
        return output

    def backward(self, grad):
        (output,) = self.saved
        return (grad * output,)


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return get_array_module(a).log(a)

    def backward(self, grad):
        (a,) = self.saved
        return (grad / a,)


class Sqrt(Function):
    """d sqrt(a) = da / (2 sqrt(a))."""

    def forward(self, a):
        output = get_array_module(a).sqrt(a)
        self.save_for_backward(output)
        return output

    def backward(self, grad):
        (output,) = self.saved
        return (grad / (2 * output),)


class ReLU(Function):
    """max(a, 0); at the kink a = 0 the chosen subgradient is 0, as in PyTorch."""

    def forward(self, a):
        self.save_for_backward(a > 0)
        return get_array_module(a).maximum(a, 0)  # not a * (a > 0), which makes relu(-inf) = nan

    def backward(self, grad):
        (positive,) = self.saved
        return (grad * positive,)


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

    def backward(self, grad):
        (output,) = self.saved
        return (grad * output * (1 - output),)


class Tanh(Function):
    """d tanh(a) = (1 - tanh(a)^2) da."""

    def forward(self, a):
        output = get_array_module(a).tanh(a)
        self.save_for_backward(output)
        return output

    def backward(self, grad):
        (output,) = self.saved
        return (grad * (1 - output * output),)


class Clip(Function):
    """Limit a to [low, high]; the gradient passes only where a was inside (bounds inclusive)."""

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, a):
        output = get_array_module(a).clip(a, self.low, self.high)
        self.save_for_backward(output == a)
        return output

    def backward(self, grad):
        (inside,) = self.saved
        return (grad * inside,)


class Where(Function):
    """condition ? a : b, elementwise with broadcasting; the condition is a constant boolean array."""

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return get_array_module(a).where(self.condition, a, b)

    def backward(self, grad):
        zero = grad.dtype.type(0)
        xp = get_array_module(grad)
        return (
            unbroadcast(xp.where(self.condition, grad, zero), self.shapes[0]),
            unbroadcast(xp.where(self.condition, zero, grad), self.shapes[1]),
        )


def exp(a):
    return Exp()(a)


def log(a):
    return Log()(a)


def sqrt(a):
    return Sqrt()(a)


def relu(a):
    return ReLU()(a)


def sigmoid(a):
    return Sigmoid()(a)


def tanh(a):
    return Tanh()(a)


def clip(a, low=None, high=None):
    if low is None and high is None:
        raise ValueError("clip needs at least one of low and high")
    return Clip(low, high)(a)


def where(condition, a, b):
    """Elementwise ``a`` where ``condition`` holds, else ``b``; condition is a boolean array or Tensor."""
    condition = as_tensor(condition, like=(a, b)).data
    if condition.dtype != bool:
        raise TypeError(f"where: the condition must be boolean, got {condition.dtype}")
    return Where(condition)(a, b)
