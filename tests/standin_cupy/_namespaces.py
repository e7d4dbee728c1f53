"""The stand-in's namespaces: cupy itself, cupy.random, cupy.lib.stride_tricks, cupy.linalg, cupy.cuda.

A namespace offers a name only when CuPy has it (_names.py). Its own entries come first (the
device array, copies between host and device, random generators, ElementwiseKernel); any other
name is NumPy's object of that name: ufuncs and functions wrapped to compute on device arrays,
types and constants (float32, nan, newaxis) as they are, since CuPy shares them with NumPy.
"""
import sys
import types

import numpy

from standin_cupy import _cuda as cuda
from standin_cupy import _ledger as ledger
from standin_cupy._arrays import call_numpy, from_numpy, ndarray, unwrap
from standin_cupy._names import check_name
from standin_cupy._twins import twin_of

_MISSING = object()


class Namespace:
    """The CuPy namespace ``prefix`` ("cupy.linalg"), served from its own entries, else from NumPy's ``module``."""

    def __init__(self, prefix, module, own=()):
        self._prefix, self._module = prefix, module
        self.__dict__.update(own)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        check_name(self._prefix, name)
        value = getattr(self._module, name, _MISSING)
        if value is _MISSING or isinstance(value, types.ModuleType):
            raise AttributeError(f"the stand-in does not offer {self._prefix}.{name} yet (CuPy has it): add it to "
                                 "tests/standin_cupy")
        if isinstance(value, numpy.ufunc):
            value = ufunc(value)
        elif callable(value) and not isinstance(value, type):
            value = device_function(name, value)
        setattr(self, name, value)  # found once: later look-ups are plain attribute reads
        return value


def device_function(name, function):
    """CuPy's ``name``: NumPy's ``function`` on device arrays (see _arrays.call_numpy)."""
    def call(*args, **kwargs):
        return call_numpy(name, function, args, kwargs)
    call.__name__ = call.__qualname__ = name
    return call


class ufunc:
    """cupy.ufunc: NumPy's ufunc on device arrays; its methods (reduce, at, ...) too."""

    def __init__(self, numpy_ufunc):
        self._ufunc = numpy_ufunc
        self.__name__ = numpy_ufunc.__name__

    def __call__(self, *args, **kwargs):
        return call_numpy(self.__name__, self._ufunc, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        check_name("cupy.ufunc", name)
        value = getattr(self._ufunc, name)
        return device_function(f"{self.__name__}.{name}", value) if callable(value) else value


class Generator:
    """cupy.random.Generator: draws made by a NumPy Generator of the same seed, one launch each."""

    def __init__(self, numpy_generator):
        self._generator = numpy_generator

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        check_name("cupy.random.Generator", name)
        return device_function(f"random.{name}", getattr(self._generator, name))


def default_rng(seed=None):
    return Generator(numpy.random.default_rng(seed))


class ElementwiseKernel:
    """cupy.ElementwiseKernel, run by its NumPy twin (_twins.py) as one launch.

    Called with every input and output, as minigrad calls its kernels; the outputs are written in place.
    A kernel whose arrays are all raw (indexed by the kernel itself) is given its loop's size.
    """

    def __init__(self, in_params, out_params, operation, name="kernel", **options):
        self.in_params, self.out_params, self.operation, self.name = in_params, out_params, operation, name
        self.nin, self.nout = len(in_params.split(",")), len(out_params.split(","))
        self._raw = [param.split()[0] == "raw" for param in f"{in_params},{out_params}".split(",")]
        self._twin = twin_of(name)

    def __call__(self, *args, size=None):
        if len(args) != self.nin + self.nout:
            raise TypeError(f"kernel {self.name} takes {self.nin} inputs and {self.nout} outputs, got {len(args)} arguments")
        sized_by_arrays = any(isinstance(arg, ndarray) and not raw for arg, raw in zip(args, self._raw))
        if sized_by_arrays == (size is not None):  # CuPy's rule: the non-raw arrays set the loop's size, else size=
            raise ValueError(f"kernel {self.name}: size= is needed exactly when no array argument is non-raw")
        self._twin(*unwrap(args, self.name))
        ledger.note("launch", self.name)
        outputs = args[self.nin:]
        return outputs[0] if self.nout == 1 else outputs


def _holds_device_array(value):
    return isinstance(value, ndarray) or (isinstance(value, (tuple, list)) and any(map(_holds_device_array, value)))


def asarray(a, dtype=None, order=None, *, blocking=False):
    """A device array of ``a``: ``a`` itself when it is one (of that dtype), else a host-to-device copy."""
    if _holds_device_array(a):
        return call_numpy("asarray", numpy.asarray, (a,), {"dtype": dtype, "order": order})
    return _upload("asarray", a, dtype, order or "K")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """A new device array of ``obj``: a device copy, or a host-to-device copy."""
    if _holds_device_array(obj):
        return call_numpy("array", numpy.array, (obj,), {"dtype": dtype, "copy": copy, "order": order, "ndmin": ndmin})
    return _upload("array", obj, dtype, order, ndmin)


def _upload(name, host_value, dtype, order, ndmin=0):
    ledger.note("upload", name)
    return from_numpy(numpy.array(host_value, dtype=dtype, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A NumPy array of ``a``: a device-to-host copy (a sync) when ``a`` is a device array."""
    return a.get(order=order) if isinstance(a, ndarray) else numpy.asarray(a, order=order)


def get_array_module(*args):
    """This module when any argument is a device array, else numpy."""
    return sys.modules["standin_cupy"] if any(isinstance(arg, ndarray) for arg in args) else numpy


def namespaces():
    """The stand-in's cupy namespace, with cupy.random, cupy.lib.stride_tricks, cupy.linalg and cupy.cuda in it."""
    random = Namespace("cupy.random", numpy.random, {"default_rng": default_rng, "Generator": Generator})
    stride_tricks = Namespace("cupy.lib.stride_tricks", numpy.lib.stride_tricks)
    lib = Namespace("cupy.lib", numpy.lib, {"stride_tricks": stride_tricks})
    linalg = Namespace("cupy.linalg", numpy.linalg)
    runtime = Namespace("cupy.cuda.runtime", None, {"getDeviceCount": cuda.getDeviceCount})
    cuda_namespace = Namespace("cupy.cuda", None, {"Device": cuda.Device, "runtime": runtime})
    own = {"ndarray": ndarray, "ufunc": ufunc, "asarray": asarray, "array": array, "asnumpy": asnumpy,
           "get_array_module": get_array_module, "ElementwiseKernel": ElementwiseKernel, "random": random,
           "lib": lib, "linalg": linalg, "cuda": cuda_namespace}
    return Namespace("cupy", numpy, own)
