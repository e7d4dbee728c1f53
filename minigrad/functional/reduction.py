"""Reductions over axes: sum, mean and max, with ``keepdims`` and negative axes."""
import math

from minigrad.backend import get_array_module
from minigrad.tensor import Function


def normalize_axes(axis, ndim):
    """``axis`` (None, an int or a tuple, negatives allowed) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for value in axes:
        if not -ndim <= value < ndim:
            raise ValueError(f"axis {value} is out of range for a tensor of {ndim} dimensions")
    return tuple(sorted(value % ndim for value in axes))


def expand_reduced(grad, input_shape, axes):
    """Give a reduced gradient back its reduced axes (size 1) so it broadcasts against the input."""
    kept_shape = tuple(1 if axis in axes else size for axis, size in enumerate(input_shape))
    return grad.reshape(kept_shape)


class Sum(Function):
    """d sum(a)/da_i = 1: every element contributes once to its sum, so g is copied back along the axes."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.axes, self.shape = normalize_axes(self.axis, a.ndim), a.shape
        return a.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad_output):
        xp = get_array_module(grad_output)
        return (xp.broadcast_to(expand_reduced(grad_output, self.shape, self.axes), self.shape),)


class Mean(Sum):
    """The sum divided by the count n of reduced elements: the gradient is grad / n."""

    def forward(self, a):
        self.axes, self.shape = normalize_axes(self.axis, a.ndim), a.shape
        return a.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad_output):
        count = math.prod(self.shape[axis] for axis in self.axes)
        return super().backward(grad_output / count)


class Max(Function):
    """The largest element along the axes; ties share the gradient equally (as PyTorch's amax does)."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.axes = normalize_axes(self.axis, a.ndim)
        output = a.max(axis=self.axes, keepdims=True)
        self.save_for_backward(a == output)
        return output if self.keepdims else output.reshape(
            tuple(size for axis, size in enumerate(a.shape) if axis not in self.axes))

    def backward(self, grad_output):
        (is_max,) = self.saved
        grad_output = expand_reduced(grad_output, is_max.shape, self.axes)
        ties = is_max.sum(axis=self.axes, keepdims=True)
        return (grad_output * is_max / ties.astype(grad_output.dtype),)


def sum(a, axis=None, keepdims=False):
    return Sum(axis, keepdims)(a)


def mean(a, axis=None, keepdims=False):
    return Mean(axis, keepdims)(a)


def max(a, axis=None, keepdims=False):
    return Max(axis, keepdims)(a)
