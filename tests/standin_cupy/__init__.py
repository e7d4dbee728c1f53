"""A strict stand-in for CuPy, so that the GPU path of minigrad and ultimus runs and is checked without a GPU.

minigrad reaches it through its one test hook, ``minigrad.backend.GPU_MODULE`` (the module that
plays CuPy): ``backend.GPU_MODULE = "standin_cupy"`` in a test, or for a command line the
environment variable that sets it, with this folder's parent on the path::

    MINIGRAD_TEST_STANDIN_CUPY=standin_cupy PYTHONPATH=tests python examples/train_cifar.py --device gpu ...

It does not take the name ``cupy``, so it coexists with a real CuPy. It behaves like CuPy where bugs hide:

- Its arrays (``_arrays.ndarray``) are not NumPy arrays: numpy.asarray(a), a NumPy function or ufunc
  given one, iterating one, or a bare truth test (``if a:``) raise TypeError; its operations refuse
  NumPy arrays. Reductions and integer indexing give 0-d device arrays, not Python scalars.
- It offers only the names CuPy has (``cupy_names.txt``, listed from CuPy itself by
  ``list_cupy_names.py``): ``xp.errstate`` is an AttributeError here as on a GPU.
- ElementwiseKernel runs the kernel's NumPy twin (``_twins.py``, from ``minigrad.backend.fused_kernel``) as one launch.
- It counts (``_ledger``): every array operation that runs a kernel is a launch; get(), item(),
  tolist(), float(), int(), bool() and repr of device data are host syncs; copies from the host are
  uploads; each with its call site. ``with _ledger.recording() as events:`` collects them.

NumPy computes everything, so results equal the CPU's where the code is the same. What only a real
GPU shows: whether real kernels compile, the numerical differences of its reductions and atomics,
memory use, speed, and CuPy's own random streams (the stand-in draws from NumPy's generators).
"""
from standin_cupy import _namespaces

_cupy = _namespaces.namespaces()


def __getattr__(name):
    return getattr(_cupy, name)
