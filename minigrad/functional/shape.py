"""Ops that move elements without changing them: reshape, transpose, broadcast, indexing, joining."""
import itertools

from minigrad import backend
from minigrad.backend import get_array_module
from minigrad.functional.arithmetic import unbroadcast
from minigrad.functional.reduction import normalize_axes
from minigrad.tensor import Function, Tensor


class Reshape(Function):
    """The same elements in a new shape; the gradient is reshaped back to the input's shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, a):
        self.input_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, grad_output):
        return (grad_output.reshape(self.input_shape),)


class Transpose(Function):
    """Permute the axes; the gradient is permuted back by the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, a):
        if self.axes is None:
            self.permutation = tuple(reversed(range(a.ndim)))
        elif len(self.axes) != a.ndim or normalize_axes(self.axes, a.ndim) != tuple(range(a.ndim)):
            raise ValueError(f"axes {tuple(self.axes)} are not a permutation of the {a.ndim} axes")
        else:
            self.permutation = tuple(axis % a.ndim for axis in self.axes)
        return a.transpose(self.permutation)

    def backward(self, grad_output):
        inverse = [0] * len(self.permutation)
        for position, axis in enumerate(self.permutation):
            inverse[axis] = position
        return (grad_output.transpose(inverse),)


class BroadcastTo(Function):
    """Stretch a to ``shape``; the gradient is summed back to a's shape (unbroadcast)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, a):
        self.input_shape = a.shape
        return get_array_module(a).broadcast_to(a, self.shape)

    def backward(self, grad_output):
        return (unbroadcast(grad_output, self.input_shape),)


class GetItem(Function):
    """a[index] for any NumPy index; repeated indices accumulate their gradients (scatter-add)."""

    def __init__(self, index):
        self.index = index

    def forward(self, a):
        self.input_shape = a.shape
        return a[self.index]

    def backward(self, grad_output):
        xp = get_array_module(grad_output)
        grad_input = xp.zeros(self.input_shape, dtype=grad_output.dtype)
        if _is_basic_index(self.index):  # a view: no element is picked twice, plain assignment suffices
            grad_input[self.index] = grad_output
        else:  # unbuffered: an element picked k times gets the sum of its k gradients
            xp.add.at(grad_input, self.index, grad_output)
        return (grad_input,)


def _is_basic_index(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(item, (int, slice)) or item is None or item is Ellipsis for item in items)


class Concatenate(Function):
    """Join along an existing axis; the gradient is split back at the same boundaries."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *arrays):
        self.sizes = [array.shape[self.axis] for array in arrays]
        return get_array_module(arrays[0]).concatenate(arrays, axis=self.axis)

    def backward(self, grad_output):
        boundaries = list(itertools.accumulate(self.sizes))[:-1]
        return tuple(get_array_module(grad_output).split(grad_output, boundaries, axis=self.axis))


class Stack(Function):
    """Join along a new axis; the gradient is unstacked along it."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *arrays):
        return get_array_module(arrays[0]).stack(arrays, axis=self.axis)

    def backward(self, grad_output):
        moved = get_array_module(grad_output).moveaxis(grad_output, self.axis, 0)
        return tuple(moved[index] for index in range(len(moved)))


class ToDevice(Function):
    """Copy to another device; the gradient is copied back to where the input lived."""

    def __init__(self, device):
        self.device = backend.normalize_device(device)

    def forward(self, a):
        self.source = backend.device_of(a)
        return backend.to_device(a, self.device)

    def backward(self, grad_output):
        return (backend.to_device(grad_output, self.source),)


def reshape(a, shape):
    return Reshape(shape)(a)


def flatten(a, start_axis=1):
    """Merge the axes from ``start_axis`` on into one: (N, C, H, W) -> (N, C*H*W) by default."""
    return reshape(a, a.shape[:start_axis] + (-1,))


def transpose(a, axes=None):
    """Permute axes (reverse them when ``axes`` is None), like numpy.transpose."""
    return Transpose(axes)(a)


def swapaxes(a, axis1, axis2):
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(a, axes)


def broadcast_to(a, shape):
    return BroadcastTo(shape)(a)


def getitem(a, index):
    """a[index]; index arrays (or integer Tensors) in it are moved to a's device, as CuPy needs."""
    if isinstance(index, tuple):
        return GetItem(tuple(_index_on_device(item, a.device) for item in index))(a)
    return GetItem(_index_on_device(index, a.device))(a)


def concatenate(tensors, axis=0):
    _check_same_ndim("concatenate", tensors)
    return Concatenate(axis)(*tensors)


def stack(tensors, axis=0):
    _check_same_ndim("stack", tensors)
    return Stack(axis)(*tensors)


def to_device(a, device):
    return ToDevice(device)(a)


def _index_on_device(item, device):
    if isinstance(item, Tensor):
        item = item.data
    return backend.to_device(item, device) if hasattr(item, "dtype") else item


def _check_same_ndim(name, tensors):
    if not tensors:
        raise ValueError(f"{name} needs at least one tensor")
    shapes = [tuple(tensor.shape) for tensor in tensors]
    if len({len(shape) for shape in shapes}) != 1:
        raise ValueError(f"{name}: all tensors need the same number of dimensions, got shapes {shapes}")
