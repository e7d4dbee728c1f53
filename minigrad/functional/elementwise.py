"""Elementwise math functions: exp, log, sqrt, clip and where (the activations live in activation.py)."""
from minigrad.backend import get_array_module
from minigrad.functional.arithmetic import unbroadcast
from minigrad.tensor import Function, as_tensor


class Exp(Function):
    """d exp(a) = exp(a) da: the backward reuses the output."""

    def forward(self, a):
        output = get_array_module(a).exp(a)
        self.save_for_backward(output)
        return output

    def backward(self, grad_output):
        (output,) = self.saved
        return (grad_output * output,)


class Log(Function):
    """d log(a) = da / a."""

    def forward(self, a):
        self.save_for_backward(a)
        return get_array_module(a).log(a)

    def backward(self, grad_output):
        (a,) = self.saved
        return (grad_output / a,)


class Sqrt(Function):
    """d sqrt(a) = da / (2 sqrt(a))."""

    def forward(self, a):
        output = get_array_module(a).sqrt(a)
        self.save_for_backward(output)
        return output

    def backward(self, grad_output):
        (output,) = self.saved
        return (grad_output / (2 * output),)


class Clip(Function):
    """Limit a to [low, high]; da = g where low <= a <= high (bounds inclusive), else 0."""

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, a):
        output = get_array_module(a).clip(a, self.low, self.high)
        self.save_for_backward(output == a)
        return output

    def backward(self, grad_output):
        (inside,) = self.saved
        return (grad_output * inside,)


class Where(Function):
    """condition ? a : b, elementwise with broadcasting; the condition is a constant boolean input.

    Backward: da = g where the condition holds, else 0; db = g where it does not, else 0.
    """

    def forward(self, condition, a, b):
        self.shapes = a.shape, b.shape
        self.save_for_backward(condition)
        return get_array_module(a).where(condition, a, b)

    def backward(self, grad_output):
        (condition,), zero = self.saved, grad_output.dtype.type(0)
        xp = get_array_module(grad_output)
        grad_a = grad_b = None
        if self.needs_input_grad[1]:
            grad_a = unbroadcast(xp.where(condition, grad_output, zero), self.shapes[0])
        if self.needs_input_grad[2]:
            grad_b = unbroadcast(xp.where(condition, zero, grad_output), self.shapes[1])
        return None, grad_a, grad_b


def exp(a):
    return Exp()(a)


def log(a):
    return Log()(a)


def sqrt(a):
    return Sqrt()(a)


def clip(a, low=None, high=None):
    if low is None and high is None:
        raise ValueError("clip needs at least one of low and high")
    return Clip(low, high)(a)


def where(condition, a, b):
    """Elementwise ``a`` where ``condition`` holds, else ``b``; condition is a boolean array or Tensor."""
    condition = as_tensor(condition, like=(a, b))
    if condition.dtype != bool:
        raise TypeError(f"where: the condition must be boolean, got {condition.dtype}")
    return Where()(condition, a, b)
