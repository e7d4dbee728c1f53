"""Where arrays live: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every op body is written once against ``xp = get_array_module(x)``, so the same
code runs on either library. This module is the only place that knows CuPy
exists, and it imports CuPy lazily: the CPU path never needs it installed.
"""
import ctypes
import ctypes.util
import functools
import importlib
import math
import os

import numpy

# The one test hook: the module that plays CuPy. The test suite runs the GPU path on machines without a GPU by
# naming its stand-in for CuPy here (``tests/standin_cupy``, README "On a GPU"), in process or, for a command
# line, through this environment variable. Nothing else sets it: in normal use the GPU module is CuPy.
STANDIN_VARIABLE = "MINIGRAD_TEST_STANDIN_CUPY"
GPU_MODULE = os.environ.get(STANDIN_VARIABLE) or "cupy"

_DEVICE_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}
_GPU_INSTALL_HINT = (
    "install CuPy for your CUDA version (for example `pip install -e .[gpu]`, "
    "or `pip install cupy-cuda12x`) on a machine with an NVIDIA GPU"
)


def _import_cupy():
    """The GPU's array module (CuPy, see GPU_MODULE), or None when it is not installed."""
    try:
        return importlib.import_module(GPU_MODULE)
    except ImportError:
        return None


def gpu_available():
    """True when CuPy imports and sees at least one CUDA device."""
    cupy = _import_cupy()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CuPy raises driver-specific errors when no GPU is present
        return False


_cupy_with_a_device = None  # the cupy module once it has found a GPU: no CUDA query on every copy


def require_cupy():
    """Return the cupy module, or explain what is missing and how to get it."""
    global _cupy_with_a_device
    cupy = _import_cupy()
    if cupy is None:
        raise RuntimeError(f"device 'gpu' needs CuPy, which is not installed: {_GPU_INSTALL_HINT}")
    if cupy is not _cupy_with_a_device:
        if not gpu_available():
            raise RuntimeError(
                "device 'gpu' was requested and CuPy is installed, but it finds no CUDA device; "
                "check the NVIDIA driver (`nvidia-smi`) or use device='cpu'"
            )
        _cupy_with_a_device = cupy
    return cupy


def normalize_device(device):
    """Map a user's device string to 'cpu' or 'gpu' ('auto' picks the GPU when present)."""
    if device == "auto":
        return "gpu" if gpu_available() else "cpu"
    if not isinstance(device, str) or device.lower() not in _DEVICE_ALIASES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'gpu' (or 'cuda') or 'auto'")
    return _DEVICE_ALIASES[device.lower()]


def get_array_module(array):
    """numpy or cupy, whichever owns ``array`` (plain Python values count as NumPy)."""
    if type(array).__module__.startswith(GPU_MODULE):
        return _import_cupy()
    return numpy


def array_module(device):
    """The array library of a device: numpy for 'cpu', cupy for 'gpu'."""
    return numpy if normalize_device(device) == "cpu" else require_cupy()


def device_of(array):
    """'gpu' for a CuPy array, 'cpu' for anything else."""
    return "cpu" if get_array_module(array) is numpy else "gpu"


def to_device(array, device):
    """Return ``array`` on ``device``, copying only when it has to cross devices."""
    device = normalize_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    return require_cupy().asarray(array)


_seed = None
_generators = {}  # device -> the generator minigrad's random ops draw from, made on first use


def manual_seed(seed):
    """Seed the random generators of every backend (those already made and those to come)."""
    global _seed
    _seed = seed
    _generators.clear()


def random_generator(device="cpu"):
    """The per-backend random generator that minigrad's random ops draw from.

    NumPy and CuPy generators share the methods used here: ``random``,
    ``integers`` and ``standard_normal``.
    """
    device = normalize_device(device)
    if device not in _generators:
        _generators[device] = array_module(device).random.default_rng(_seed)
    return _generators[device]


def keep_freed_cpu_memory():
    """Ask glibc's allocator to keep freed memory for reuse instead of returning it to the OS.

    A training step allocates and frees the same large temporaries (im2col
    columns, activations) every step. By default glibc serves each from fresh
    mmap'd pages and unmaps them on free, so every step pays the page faults
    again: about a third of a CPU training step on our model. Process-wide, so
    it is for programs (training scripts, benchmarks) to call, never done on
    import. Returns False where the C library is not glibc (macOS, musl).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    trim_threshold, top_pad, mmap_threshold = -1, -2, -3  # glibc's M_* option numbers
    return all((mallopt(mmap_threshold, 2**30), mallopt(trim_threshold, 2**31 - 1), mallopt(top_pad, 2**28)))


FUSED_KERNELS = {}  # kernel name -> FusedKernel: every fused kernel minigrad defines


class FusedKernel:
    """An elementwise GPU kernel beside its NumPy twin, called like the twin (made by :func:`fused_kernel`).

    The twin writes the arithmetic as NumPy operations on its output arguments, in place: it is the
    CPU's code. The kernel is the same arithmetic as one CUDA kernel (CuPy's ElementwiseKernel, built on
    first use), which a GPU runs as one launch where the twin's operations would be several.
    """

    def __init__(self, twin, in_params, out_params, operation):
        functools.update_wrapper(self, twin)
        self.twin, self.name = twin, f"minigrad_{twin.__name__}"
        self.in_params, self.out_params, self.operation = in_params, out_params, operation
        self._kernels = {}  # by array module

    def __call__(self, *arguments, size=None):
        """The twin on NumPy arrays, the kernel on the GPU's (the first argument's array module decides).

        size: the number of threads, given exactly when every array argument is raw (a row kernel: thread i
        loops over row i itself); otherwise one thread per element of the non-raw arrays."""
        xp = get_array_module(arguments[0])
        if xp is numpy:
            return self.twin(*arguments)
        if xp not in self._kernels:
            self._kernels[xp] = xp.ElementwiseKernel(self.in_params, self.out_params, self.operation, self.name)
        return self._kernels[xp](*arguments, size=size)


def rows_of(array):
    """The number of rows along the last axis of ``array`` (..., width): a row kernel's size= (thread i, row i)."""
    return math.prod(array.shape[:-1])


def row_maximum(array):
    """C++ that begins a row kernel over ``array``'s rows of ``width`` elements: ``start``, the offset of
    thread i's row, and ``maximum``, its largest element (a softmax shifts by it so that exp cannot overflow)."""
    return f"""
    const ptrdiff_t start = i * width;
    T maximum = {array}[start];
    for (int j = 1; j < width; ++j) maximum = {array}[start + j] > maximum ? {array}[start + j] : maximum;
    """


def fused_kernel(in_params, out_params, operation):
    """Decorate a NumPy twin with its CUDA kernel, given as CuPy ElementwiseKernel's typed input and output
    parameters (the twin's arguments, in order) and its operation (C++ for one element)."""
    def with_kernel(twin):
        kernel = FusedKernel(twin, in_params, out_params, operation)
        FUSED_KERNELS[kernel.name] = kernel
        return kernel
    return with_kernel
