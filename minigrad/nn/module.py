"""Module: the container that gives a network its parameters, buffers, sub-modules and modes.

A Module is an object whose attributes include Parameters (learned tensors),
buffers (tensors that are state but not learned, such as BatchNorm's running
statistics) and other Modules. Assigning such an attribute registers it, so
``named_parameters()`` can walk the whole tree and name every tensor by its
dotted path ("features.0.weight"), which is also its key in ``state_dict()``.
"""
import collections

import numpy

from minigrad import backend
from minigrad.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad and that a Module registers automatically when assigned."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)


IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks, key):
        self.hooks, self.key = hooks, key

    def remove(self):
        self.hooks.pop(self.key, None)


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


class Module:
    """Base class of every layer and network: subclasses set attributes in ``__init__`` and define ``forward``."""

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these dictionaries to exist
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "training", True)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs, **kwargs):
        """Run ``forward``, then each forward hook; a hook that returns a value replaces the output."""
        output = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, inputs, output)
            output = output if result is None else result
        return output

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward of this module."""
        key = object()
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    def has_forward_hooks(self):
        """Whether a hook watches this module's forward: a block that fuses its layers' ops into one runs them
        one by one instead, so that every hook sees its layer's output."""
        return bool(self._forward_hooks)

    # Registration: attributes are sorted into the three dictionaries by their type.
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call Module.__init__() in {type(self).__name__}.__init__ before assigning {name!r}")
        if name in self._buffers and _is_buffer_value(value):  # a buffer stays a buffer when reassigned
            self._buffers[name] = value
            return
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self.__dict__.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # called only when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(registry, {}):
                return self.__dict__[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """Register state that is saved in ``state_dict`` and moved by ``to`` but not learned (None allowed)."""
        if not _is_buffer_value(tensor):
            raise TypeError(f"buffer {name!r} must be a Tensor (not a Parameter) or None, got {type(tensor).__name__}")
        for registry in (self.__dict__, self._parameters, self._modules):
            registry.pop(name, None)
        self._buffers[name] = tensor

    # Traversal
    def named_modules(self, prefix="", memo=None):
        """(dotted name, module) for this module (named ``prefix``) and every descendant, parents first, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(_join(prefix, name), memo)

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def _named_tensors(self, *registries):
        """(dotted name, tensor) from the given registries of every module, module by module, each tensor once.

        With both registries this is PyTorch's state_dict order: a module's parameters,
        its buffers, then its children's.
        """
        seen = set()
        for prefix, module in self.named_modules():
            for registry in registries:
                for name, tensor in getattr(module, registry).items():
                    if tensor is not None and id(tensor) not in seen:
                        seen.add(id(tensor))
                        yield _join(prefix, name), tensor

    def named_parameters(self):
        return self._named_tensors("_parameters")

    def parameters(self):
        return (tensor for _, tensor in self.named_parameters())

    def named_buffers(self):
        return self._named_tensors("_buffers")

    def buffers(self):
        return (tensor for _, tensor in self.named_buffers())

    # Modes and devices
    def train(self, mode=True):
        """Set training mode (dropout active, batch statistics) on this module and all descendants."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.grad = None

    def to(self, target):
        """In place, returns self: ``to(device)`` moves every parameter, gradient and buffer to 'cpu' or
        'gpu'; ``to(dtype)`` converts the floating ones to that floating dtype (integer counters stay)."""
        floating_dtype = _floating_dtype(target)
        if floating_dtype is None:
            device = backend.normalize_device(target)
            return self._convert(lambda array: True, lambda array: backend.to_device(array, device))
        return self._convert(lambda array: array.dtype.kind == "f", lambda array: array.astype(floating_dtype))

    def double(self):
        """Parameters and floating buffers in float64, e.g. to gradcheck a layer."""
        return self.to(numpy.float64)

    def float(self):
        return self.to(numpy.float32)

    def _convert(self, applies, convert):
        for tensor in [*self.parameters(), *self.buffers()]:
            if applies(tensor.data):
                tensor.data = convert(tensor.data)
                tensor.grad = None if tensor.grad is None else convert(tensor.grad)
        return self

    # Saving and loading
    def state_dict(self):
        """Dotted name -> raw array of every parameter and buffer, with PyTorch's key names.

        The arrays are the module's own (not copies), as in PyTorch: save them or copy them
        before training on.
        """
        tensors = self._named_tensors("_parameters", "_buffers")
        return collections.OrderedDict((name, tensor.data) for name, tensor in tensors)

    def load_state_dict(self, state, strict=True):
        """Copy the arrays of ``state`` into this module's parameters and buffers, cast to their dtype.

        Nothing is copied unless every shape matches. strict: every key of the module must be in
        ``state`` and no other key may be. Returns (missing_keys, unexpected_keys).
        """
        own = dict(self._named_tensors("_parameters", "_buffers"))
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        arrays = {name: _array_of(state[name]) for name in own if name in state}
        for name, array in arrays.items():
            if tuple(array.shape) != own[name].shape:
                problems.append(
                    f"size mismatch for {name}: the state has shape {tuple(array.shape)}, "
                    f"the module has shape {own[name].shape}"
                )
        if problems:
            raise RuntimeError(f"error loading state_dict into {type(self).__name__}: " + "; ".join(problems))
        for name, array in arrays.items():
            tensor = own[name]
            tensor.data[...] = tensor.xp.asarray(backend.to_device(array, tensor.device), dtype=tensor.dtype)
        return IncompatibleKeys(missing, unexpected)

    # Printing
    def extra_repr(self):
        """The settings shown between the parentheses of this module's repr (layers override it)."""
        return ""

    def __repr__(self):
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("] + ([f"  {self.extra_repr()}"] if self.extra_repr() else [])
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        return "\n".join(lines + [")"])


def _floating_dtype(target):
    """target as a floating NumPy dtype, or None when it names no dtype (then it names a device)."""
    try:
        dtype = numpy.dtype(target)
    except TypeError:
        return None
    if dtype.kind != "f":
        raise ValueError(f"Module.to: only floating dtypes convert a module, got {dtype}")
    return dtype


def _is_buffer_value(value):
    return value is None or (isinstance(value, Tensor) and not isinstance(value, Parameter))


def _array_of(value):
    """The raw array of a state entry: state dicts may hold arrays, Tensors or plain numbers."""
    if isinstance(value, Tensor):
        return value.data
    return value if hasattr(value, "shape") else numpy.asarray(value)


class Sequential(Module):
    """Modules applied one after another; indexable, iterable, and sized like a list.

    Its children are named "0", "1", ..., so parameter names read "features.0.weight".
    """

    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules; argument {index} is a {type(module).__name__}")
            setattr(self, str(index), module)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)
