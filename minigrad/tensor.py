"""Tensor and Function: the recorded graph and reverse-mode differentiation.

A :class:`Function` computes on raw arrays (``forward``) and knows how to turn
the gradient of its output into gradients of its inputs (``backward``). Calling
a Function on Tensors runs ``forward`` and, when gradients are wanted, links the
output Tensor back to the Function (``output.grad_fn``) and the Function to its
input Tensors. ``Tensor.backward`` walks those links from the output back to
the leaves, in reverse topological order, applying the chain rule at each node.
"""
import contextlib

import numpy

from minigrad import backend

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Within this block, ops record no graph (for evaluation and parameter updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


class Function:
    """One differentiable op: subclasses define ``forward`` and ``backward`` on raw arrays.

    ``forward(*arrays) -> array`` computes the output: exactly one array, so
    that a Function stands for its output in the backward walk (an op with two
    results is two Functions). ``backward(grad_output)`` returns one gradient
    (or None) per input, each of that input's shape. Arrays that the backward
    needs are kept with :meth:`save_for_backward`, so that the graph can drop
    them once it has been used. ``needs_input_grad[i]`` tells whether input i
    requires a gradient: a backward returns None for the others, and skips the
    work of computing them.
    """

    # True where backward hands out disjoint parts (views) of arrays it made for them alone, as an op that
    # stacks several weights does with their gradients: a leaf may keep such a part as its gradient uncopied.
    grads_are_own_views = False

    def __call__(self, *inputs):
        tensors = [as_tensor(value, like=inputs) for value in inputs]
        arrays = [tensor.data for tensor in tensors]
        self.needs_input_grad = tuple(_grad_enabled and tensor.requires_grad for tensor in tensors)
        try:
            output = Tensor(self.forward(*arrays))
        except ValueError as error:  # name the op and its operands instead of NumPy's internals
            shapes = ", ".join(str(array.shape) for array in arrays)
            raise ValueError(f"{type(self).__name__} on shapes {shapes}: {error}") from error
        if _grad_enabled and any(tensor.requires_grad for tensor in tensors):
            self.inputs = tensors
            self.freed = False
            output.requires_grad = True
            output.grad_fn = self
        return output

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def release(self):
        """Drop the saved arrays once the graph has been walked, so their memory can be reused."""
        self.saved = None
        self.freed = True

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError


# The backward walk: reverse topological order, the chain rule at each Function.


def _topological_order(root):
    """Functions reachable from ``root``, each after every Function that consumes its output.

    Iterative depth-first search, so a 10,000-op chain needs no deep recursion.
    """
    order, visited = [], set()
    stack = [(root.grad_fn, False)]
    while stack:
        function, inputs_done = stack.pop()
        if inputs_done:
            order.append(function)
            continue
        if id(function) in visited:
            continue
        visited.add(id(function))
        stack.append((function, True))
        for tensor in function.inputs:
            if tensor.grad_fn is not None and id(tensor.grad_fn) not in visited:
                stack.append((tensor.grad_fn, False))
    return reversed(order)


def _accumulate(tensor, grad, held, own_view=False):
    """Leaf gradients add up across backward calls, as in PyTorch, until zero_grad().

    A gradient becomes the leaf's own without a copy when it is a fresh array of the leaf's dtype
    (its ``base`` is None: no view, such as a read-only broadcast, unless ``own_view``: its Function
    made it as a part for this gradient alone) that nothing else holds; ``held`` is the set of ids of
    the arrays the walk has handed out or kept so far, and takes this one. Any other gradient is copied
    into the leaf's dtype, so a float32 parameter always gets a float32 gradient of its own.
    """
    if grad.dtype != tensor.dtype or (grad.base is not None and not own_view) or id(grad) in held:
        grad = grad.astype(tensor.dtype)
    held.add(id(grad))
    tensor.grad = grad if tensor.grad is None else tensor.grad + grad


def _check_walkable(function):
    if function.freed:
        raise RuntimeError(
            f"backward through {type(function).__name__} a second time: the graph was freed after the "
            "first backward; call backward(retain_graph=True) the first time to walk it again"
        )


def _check_input_grads(function, input_grads):
    """A Function's backward must give one gradient (or None) per input, of that input's shape."""
    name = type(function).__name__
    if len(input_grads) != len(function.inputs):
        raise RuntimeError(f"{name}.backward returned {len(input_grads)} gradients for {len(function.inputs)} inputs")
    for index, (tensor, input_grad) in enumerate(zip(function.inputs, input_grads)):
        if input_grad is not None and input_grad.shape != tensor.shape:
            raise RuntimeError(
                f"{name}.backward returned a gradient of shape {input_grad.shape} for input {index} of shape {tensor.shape}"
            )


def _run_backward(root, grad_output, retain_graph):
    """Walk the graph from root back to its leaves, handing each Function the sum of its output's gradients."""
    held = {id(grad_output)}  # the caller's array: a leaf must not share it
    if root.grad_fn is None:
        _accumulate(root, grad_output, held)
        return
    grads = {id(root.grad_fn): grad_output}  # keyed by Function: it has one output (see Function)
    for function in _topological_order(root):
        grad_output = grads.pop(id(function), None)
        if grad_output is None:  # no gradient reached this op (e.g. only through integer inputs)
            continue
        _check_walkable(function)
        input_grads = function.backward(grad_output)
        _check_input_grads(function, input_grads)
        if not retain_graph:
            function.release()
        for tensor, input_grad in zip(function.inputs, input_grads):
            if input_grad is None or not tensor.requires_grad:
                continue
            if tensor.grad_fn is None:
                _accumulate(tensor, input_grad, held, function.grads_are_own_views)
            else:
                key = id(tensor.grad_fn)
                grads[key] = input_grad if key not in grads else grads[key] + input_grad


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    data: the NumPy or CuPy array. grad: an array of the same shape, filled by
    ``backward`` for leaf tensors that require grad; it accumulates until zeroed.
    """

    __array_priority__ = 1000  # numpy_array * tensor must call Tensor.__rmul__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is None and not hasattr(data, "dtype"):
            dtype = _default_dtype(data)  # before any device copy: a CuPy copy of a list is float64
        if device is None:
            self.data = backend.get_array_module(data).asarray(data, dtype=dtype)
        else:
            self.data = backend.array_module(device).asarray(backend.to_device(data, device), dtype=dtype)
        self.grad = None
        self.grad_fn = None
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor is {self.data.dtype}"
                " (convert it first, e.g. Tensor(x, dtype='float32'))"
            )
        self.requires_grad = requires_grad
        return self

    def backward(self, grad_output=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * grad_output into ``leaf.grad`` for every leaf that requires grad.

        grad_output: the upstream gradient, of this tensor's shape; may be omitted
        only for a single-element tensor (then it is 1).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the ops that made it "
                "has requires_grad=True (or it was computed under no_grad())"
            )
        if grad_output is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a grad_output argument works only on a single-element tensor; this "
                    f"one has shape {self.shape}: pass grad_output= of that shape, or reduce it (e.g. .sum())"
                )
            grad_output = self.xp.ones_like(self.data)
        if isinstance(grad_output, Tensor):
            grad_output = grad_output.data
        else:
            grad_output = self.xp.asarray(grad_output, dtype=self.dtype)
        if grad_output.shape != self.shape:
            raise ValueError(f"backward(): grad_output has shape {grad_output.shape} but the tensor has shape {self.shape}")
        _run_backward(self, grad_output, retain_graph)

    @property
    def xp(self):
        return backend.get_array_module(self.data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = f", grad_fn={type(self.grad_fn).__name__}" if self.grad_fn else ""
        grad = grad or (", requires_grad=True" if self.requires_grad else "")
        return f"Tensor({self.data!r}, device='{self.device}'{grad})"

    def item(self):
        return self.data.item()

    def numpy(self):
        """The data as a NumPy array (copied from the GPU when it lives there)."""
        return backend.to_device(self.data, "cpu")

    def detach(self):
        """A new leaf Tensor sharing this one's data, cut off from the graph."""
        return Tensor(self.data)

    def to(self, device):
        """This tensor on ``device`` ('cpu' or 'gpu'); gradients flow back across devices."""
        from minigrad.functional import to_device

        return to_device(self, device)

    def zero_grad(self):
        self.grad = None

    # Operator sugar: each operator is a Function from minigrad.functional (F, imported at the end of this file).
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __pow__(self, exponent):
        return F.pow(self, exponent)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __neg__(self):
        return F.neg(self)

    def __getitem__(self, index):
        return F.getitem(self, index)

    # Comparisons are not differentiable: they return plain boolean arrays.
    def __lt__(self, other):
        return self.data < _data(other)

    def __le__(self, other):
        return self.data <= _data(other)

    def __gt__(self, other):
        return self.data > _data(other)

    def __ge__(self, other):
        return self.data >= _data(other)

    def __eq__(self, other):
        return self.data == _data(other)

    def __ne__(self, other):
        return self.data != _data(other)

    __hash__ = object.__hash__  # __eq__ compares values, yet tensors stay usable as dict keys

    def sum(self, axis=None, keepdims=False):
        return F.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return F.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return F.max(self, axis, keepdims)

    def reshape(self, *shape):
        return F.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes):
        return F.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes or None)

    @property
    def T(self):
        return F.transpose(self)

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def relu(self):
        return F.relu(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def tanh(self):
        return F.tanh(self)

    def softmax(self, axis=-1):
        return F.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return F.log_softmax(self, axis)

    def clip(self, low=None, high=None):
        return F.clip(self, low, high)

    def broadcast_to(self, shape):
        return F.broadcast_to(self, shape)


def _data(value):
    return value.data if isinstance(value, Tensor) else value


# Wrapping values: a Python scalar takes the dtype and device of the tensors beside it.


def _scalar_dtype(value, tensors):
    """The dtype a Python scalar takes in an op with ``tensors``, as in PyTorch.

    That of the first floating tensor; among integer tensors a float scalar
    becomes float32 (so int_tensor * 2.5 is not truncated) and an integer one
    takes the tensors' dtype. A boolean stays boolean (where's condition).
    """
    if isinstance(value, (bool, numpy.bool_)):
        return numpy.bool_
    floating = [tensor.dtype for tensor in tensors if tensor.dtype.kind == "f"]
    if floating:
        return floating[0]
    return _default_dtype(value) or tensors[0].dtype


def as_tensor(value, like=()):
    """Wrap ``value`` in a Tensor; Python scalars take the dtype and device of a Tensor in ``like``.

    Without this, ``x * 2`` on a float32 tensor would promote to float64 and
    ``x + 1`` on a GPU tensor would mix a NumPy array into CuPy.
    """
    if isinstance(value, Tensor):
        return value
    tensors = [item for item in like if isinstance(item, Tensor)]
    if not tensors:
        return Tensor(value)
    if numpy.isscalar(value):  # filled on the device: no host-to-device copy, which would stall a GPU
        return Tensor(tensors[0].xp.full((), value, dtype=_scalar_dtype(value, tensors)))
    return Tensor(value, device=tensors[0].device)


def _default_dtype(value):
    """Python floats become float32, as in PyTorch; integers and booleans keep their kind."""
    kind = numpy.asarray(value).dtype.kind
    return numpy.float32 if kind == "f" else None


# Imported last, on purpose: every op module imports Function and Tensor from this file, so the ops can
# only load once both exist. Tensor's operators look F up when they run, long after this line.
from minigrad import functional as F  # noqa: E402
