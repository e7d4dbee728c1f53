"""The stand-in's device array, and how NumPy computes on its behalf.

A device array holds a NumPy array that only the stand-in's operations touch. Every operation
unwraps its device arguments (refusing NumPy arrays, as CuPy does), lets NumPy compute, wraps the
result back (a scalar becomes a 0-d device array, as in CuPy) and notes a launch in the ledger.
Not launches: views (reshape, transpose, basic indexing, ...) that copy nothing, and allocations
(empty). A result whose shape depends on the data (boolean indexing, nonzero, unique) also notes a
sync, since CuPy must read the count back first.
"""
import dis
import numbers
import operator
import sys

import numpy

from standin_cupy import _ledger as ledger
from standin_cupy._cuda import Device
from standin_cupy._names import check_name

# Operations that return a view of their input when they can; they launch only when they copy.
VIEWS = {
    "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "astype", "atleast_1d", "atleast_2d",
    "atleast_3d", "broadcast_arrays", "broadcast_to", "diagonal", "expand_dims", "flip", "fliplr", "flipud",
    "matrix_transpose", "moveaxis", "ravel", "real", "imag", "reshape", "rollaxis", "squeeze", "swapaxes",
    "transpose", "view", "as_strided", "sliding_window_view", "split", "array_split", "hsplit", "vsplit", "dsplit",
}
ALLOCATIONS = {"empty", "empty_like"}  # memory, no kernel
SHAPE_FROM_DATA = {"argwhere", "compress", "extract", "flatnonzero", "nonzero", "unique"}
HOST_INFORMATION = {  # answers from shapes and dtypes alone: plain Python values, as in CuPy
    "can_cast", "common_type", "isfortran", "iscomplexobj", "isrealobj", "isscalar", "may_share_memory",
    "min_scalar_type", "ndim", "promote_types", "result_type", "shape", "shares_memory", "size",
}
HOST_READS = {"get", "item", "tolist", "tobytes", "dump", "dumps", "tofile"}  # methods that copy to the host
# The bytecode instructions of an explicit bool(a); any other conversion to bool (if a, while a, not a, a and b) is
# a bare truth test.
EXPLICIT_CALLS = ("CALL", "PRECALL")


class ndarray:
    """cupy.ndarray: an array on the (stand-in) device.

    It is not a NumPy array and NumPy cannot see into it: numpy.asarray(a), a NumPy function or ufunc
    given it, iterating it (which CuPy allows), or using it as a truth value in an ``if`` raise
    TypeError. Reading it on the host is explicit and noted as a sync: get(), item(), tolist(),
    float(a), int(a), bool(a), repr. Its other methods are NumPy's, where CuPy has the name.
    """

    __slots__ = ("_array",)
    __array_ufunc__ = None  # NumPy's ufuncs and operators refuse it; Python then tries its reflected operators
    __hash__ = None

    def __init__(self, shape, dtype=float, order="C"):
        self._array = numpy.empty(shape, dtype, order=order)

    # What CuPy computes from the array's metadata, on the host, without a launch.
    shape = property(lambda self: self._array.shape)
    dtype = property(lambda self: self._array.dtype)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    strides = property(lambda self: self._array.strides)
    itemsize = property(lambda self: self._array.itemsize)
    nbytes = property(lambda self: self._array.nbytes)
    flags = property(lambda self: Flags(self._array.flags))
    base = property(lambda self: None if self._array.base is None else from_numpy(self._array.base))
    T = property(lambda self: self.transpose())
    device = property(lambda self: Device())

    def __len__(self):
        return len(self._array)

    def __getattr__(self, name):
        """The methods of cupy.ndarray that NumPy's ndarray shares (sum, astype, reshape, ...), computed by NumPy."""
        if name.startswith("__"):
            raise AttributeError(name)
        check_name("cupy.ndarray", name)
        if name in HOST_READS:
            raise AttributeError(f"the stand-in does not offer cupy.ndarray.{name} yet")
        method = getattr(self._array, name)
        return lambda *args, **kwargs: call_numpy(name, method, (self, *args), kwargs, bound=True)

    # Reading back to the host: explicit, and each one a sync.
    def get(self, stream=None, order="C", out=None, blocking=True):
        """A NumPy copy of the array: a device-to-host copy, which waits for the device."""
        ledger.note("sync", "ndarray.get")
        return numpy.array(self._array, order=order)

    def set(self, array, stream=None):
        """Copy the NumPy array ``array`` into this one: a host-to-device copy."""
        if not isinstance(array, numpy.ndarray):
            raise TypeError(f"ndarray.set takes a NumPy array, got {type(array).__name__}")
        ledger.note("upload", "ndarray.set")
        self._array[...] = array

    def __bool__(self):
        """bool(a) is a sync; a bare truth test (if a, while a, not a, and, or) hides one and is refused."""
        frame = sys._getframe(1)
        if not dis.opname[frame.f_code.co_code[frame.f_lasti]].startswith(EXPLICIT_CALLS):
            raise TypeError("a device array used as a truth value (if, while, not, and, or) reads it back from the "
                            "device unseen: write bool(array) where that sync is meant")
        ledger.note("sync", "bool")
        return bool(self._array)

    def __format__(self, spec):
        ledger.note("sync", "format")
        return format(self._array if self.ndim else self._array.item(), spec)

    # What CuPy refuses, or what the stand-in refuses where CuPy would loop item by item.
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly.")

    def __array_function__(self, function, types, args, kwargs):
        raise TypeError(f"numpy.{function.__name__} was given a device array: call it through the array's module "
                        "(xp = get_array_module(array)), which on the GPU is CuPy")

    def __iter__(self):
        raise TypeError("iterating a device array: CuPy hands out its items one by one, a Python loop over device "
                        "data that the stand-in refuses; index it or use an array operation")

    # Indexing: basic indices give views; index arrays gather (a launch); a boolean mask also syncs.
    def __getitem__(self, index):
        index_arrays = []
        index = unwrap(index, "ndarray.__getitem__", index_arrays)
        result = self._array[index]
        if not isinstance(result, numpy.ndarray):  # one element: CuPy gives a 0-d view, not a scalar
            result = self._array[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        if any(array.dtype == bool for array in index_arrays):
            ledger.note("sync", "ndarray.__getitem__")
        if not numpy.may_share_memory(result, self._array):
            ledger.note("launch", "ndarray.__getitem__")
        return from_numpy(result)

    def __setitem__(self, index, value):
        self._array[unwrap(index, "ndarray.__setitem__")] = unwrap(value, "ndarray.__setitem__")
        ledger.note("launch", "ndarray.__setitem__")

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()


class Flags:
    """ndarray.flags as CuPy has them: c_contiguous, f_contiguous, owndata."""

    def __init__(self, flags):
        self.c_contiguous, self.f_contiguous, self.owndata = flags.c_contiguous, flags.f_contiguous, flags.owndata


def _operator(name, function, reflected=False):
    """The method ``name`` of ndarray: ``function`` of the array and a device array or a scalar."""
    def method(self, other):
        if not isinstance(other, (ndarray, numpy.ndarray, numbers.Number, numpy.generic)):
            return NotImplemented  # a Tensor, a list: Python asks the other operand
        operands = (other, self) if reflected else (self, other)
        return call_numpy(name, function, operands, {})
    method.__name__ = name
    return method


def _in_place(name, function):
    def method(self, other):
        call_numpy(name, function, (self, other), {})
        return self
    method.__name__ = name
    return method


def _unary(name, function):
    def method(self):
        return call_numpy(name, function, (self,), {})
    method.__name__ = name
    return method


def _read_back(name, site, convert):
    """The method ``name``: a host sync, noted as ``site``, that returns ``convert`` of the values."""
    def method(self):
        ledger.note("sync", site)
        return convert(self._array)
    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
              "rshift"):
    _function = getattr(operator, f"{_name}_" if _name in ("and", "or") else _name)
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__", _function))
    setattr(ndarray, f"__r{_name}__", _operator(f"__r{_name}__", _function, reflected=True))
    if _name != "matmul":  # CuPy has no @=
        setattr(ndarray, f"__i{_name}__", _in_place(f"__i{_name}__", getattr(operator, f"i{_name}")))
ndarray.__divmod__, ndarray.__rdivmod__ = _operator("__divmod__", divmod), _operator("__rdivmod__", divmod, True)
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__", getattr(operator, _name)))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", _unary(f"__{_name}__", getattr(operator, _name)))
for _name, _site, _convert in (("item", "ndarray.item", lambda array: array.item()),
                               ("tolist", "ndarray.tolist", lambda array: array.tolist()), ("__float__", "float", float),
                               ("__int__", "int", int), ("__complex__", "complex", complex),
                               ("__repr__", "repr", repr), ("__str__", "str", str)):
    setattr(ndarray, _name, _read_back(_name, _site, _convert))


def from_numpy(array):
    """A device array holding ``array`` (no copy, nothing noted)."""
    device_array = object.__new__(ndarray)
    device_array._array = array
    return device_array


def unwrap(value, name, given=None):
    """``value`` with every device array replaced by its NumPy array (the device arrays appended to
    ``given``), through tuples, lists and dicts. A NumPy array is refused, as CuPy refuses host arrays."""
    if isinstance(value, ndarray):
        if given is not None:
            given.append(value)
        return value._array
    if isinstance(value, numpy.ndarray):
        raise TypeError(f"{name} was given a NumPy array where CuPy takes device arrays; copy it to the device "
                        "first (cupy.asarray)")
    if isinstance(value, (tuple, list)):
        return type(value)(unwrap(item, name, given) for item in value)
    if isinstance(value, dict):
        return {key: unwrap(item, name, given) for key, item in value.items()}
    return value


def wrap(value, given):
    """NumPy's result on the device: arrays and scalars as device arrays, through tuples and lists.
    An array of one of the ``given`` device arrays comes back as that very device array (out=, in place)."""
    if isinstance(value, numpy.ndarray):
        for array in given:
            if array._array is value:
                return array
        return from_numpy(value)
    if isinstance(value, (numpy.generic, bool, numbers.Number)):
        return from_numpy(numpy.asarray(value))
    if isinstance(value, (tuple, list)):
        return type(value)(wrap(item, given) for item in value)
    return value


def call_numpy(name, function, args, kwargs, bound=False):
    """``function`` (NumPy's) on the NumPy arrays inside ``args`` and ``kwargs``, its result on the
    device, and the launch (or sync) noted as the module docstring says. ``bound``: args[0] is the
    array whose method ``function`` is, already bound to its NumPy array."""
    given = []
    unwrapped_args = unwrap(args, name, given)
    result = function(*(unwrapped_args[1:] if bound else unwrapped_args), **unwrap(kwargs, name, given))
    if name in HOST_INFORMATION:
        return result
    if name in SHAPE_FROM_DATA:
        ledger.note("sync", name)
    if name not in ALLOCATIONS and not (name in VIEWS and _is_view(result, given)):
        ledger.note("launch", name)
    return wrap(result, given)


def _is_view(result, given):
    """Whether the (first) array of ``result`` shares memory with one of the ``given`` device arrays."""
    first = result[0] if isinstance(result, (tuple, list)) else result
    return isinstance(first, numpy.ndarray) and any(numpy.may_share_memory(first, array._array) for array in given)
