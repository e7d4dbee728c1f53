"""The stand-in for CuPy (tests/standin_cupy) is as strict as its docstring says, and counts what it says."""
import inspect

import numpy
import pytest
import standin_cupy as cupy
from standin_cupy import _arrays, _cuda, _namespaces
from standin_cupy import _ledger as ledger
from standin_cupy._names import cupy_names


@pytest.fixture
def array():
    return cupy.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize("use", [
    lambda a: numpy.asarray(a),
    lambda a: numpy.array(a),
    lambda a: a.__array__(),
    lambda a: numpy.pad(a, 1),
    lambda a: numpy.exp(a),
    lambda a: numpy.ones(3) + a,
    lambda a: list(a),
    lambda a: [row for row in a],  # noqa: C416  (iterating is what is refused)
])
def test_numpy_cannot_see_into_a_device_array(array, use):
    with pytest.raises(TypeError):
        use(array)


def test_a_bare_truth_test_is_refused_and_bool_is_a_sync(array):
    with pytest.raises(TypeError, match="truth value"):
        if array.sum():
            pass
    with pytest.raises(TypeError, match="truth value"):
        assert not array.max() > 9
    with ledger.recording() as events:
        assert bool(array.sum()) is True
    assert [(event.kind, event.name) for event in events if event.kind == "sync"] == [("sync", "bool")]


@pytest.mark.parametrize("use", [
    lambda a: a + numpy.ones(3),
    lambda a: cupy.maximum(a, numpy.zeros(3)),
    lambda a: a.__setitem__(0, numpy.ones(3)),
    lambda a: a[numpy.array([0, 1])],
    lambda a: cupy.concatenate([a, numpy.ones((1, 3))]),
])
def test_numpy_arrays_are_refused_in_its_operations(array, use):
    with pytest.raises(TypeError, match="NumPy array"):
        use(array)


def test_reductions_and_integer_indexing_give_0d_device_arrays(array):
    for result in (array.sum(), array.max(), cupy.mean(array), array[1, 2], array[0][1], array.argmax()):
        assert isinstance(result, cupy.ndarray) and result.shape == ()
    assert array[1, 2].get() == 5.0


def test_base_is_none_for_a_fresh_array_and_an_array_for_a_view(array):
    assert (array * 2).base is None
    assert isinstance(array[1:].base, _arrays.ndarray)


def test_only_names_that_cupy_has():
    with pytest.raises(AttributeError, match="cupy has no attribute 'errstate'"):
        cupy.errstate
    with pytest.raises(AttributeError, match="cupy.ndarray has no attribute 'ptp_'"):
        cupy.zeros(2).ptp_
    _, names = cupy_names()
    root = _namespaces.namespaces()
    served = {"cupy": root, "cupy.random": root.random, "cupy.lib": root.lib, "cupy.cuda": root.cuda,
              "cupy.cuda.runtime": root.cuda.runtime, "cupy.ndarray": _arrays.ndarray, "cupy.ufunc": _namespaces.ufunc,
              "cupy.random.Generator": _namespaces.Generator, "cupy.cuda.Device": _cuda.Device,
              "cupy.ElementwiseKernel": _namespaces.ElementwiseKernel, "cupy.ndarray.flags": _arrays.Flags}
    for prefix, namespace in served.items():
        offered = [name for name in vars(namespace) if not name.startswith("_")]
        if inspect.isclass(namespace):  # its special methods too; __getattr__ serves only names CuPy has
            offered += [name for name, value in vars(namespace).items()
                        if name.startswith("__") and callable(value) and name != "__getattr__"]
        assert not [name for name in offered if f"{prefix}.{name}" not in names], prefix


def test_launches_syncs_and_uploads_are_counted_with_their_call_site(array):
    with ledger.recording() as events:
        doubled = array * 2  # a launch
        element = doubled.reshape(3, 2).T[1, 2]  # views: no launch
        doubled.T.reshape(6)  # a copy: a launch
        float(element), int(element), element.item(), element.tolist(), element.get(), repr(element)  # six syncs
        cupy.asarray(numpy.ones(2))  # an upload
        doubled[doubled > 4]  # a comparison, and a gather whose size needs a sync
    assert events.count("launch") == 4 and events.count("sync") == 7 and events.count("upload") == 1
    assert events.sites("sync")[0].startswith("tests/test_standin_cupy.py:")
    assert events.sites("sync")[0].endswith(" test_launches_syncs_and_uploads_are_counted_with_their_call_site")


def test_an_elementwise_kernel_runs_its_numpy_twin_as_one_launch(monkeypatch):
    monkeypatch.setattr(_namespaces, "twin_of", lambda name: lambda x, y: numpy.multiply(x, 2, out=y))
    kernel = cupy.ElementwiseKernel("T x", "T y", "y = 2 * x", "double")
    x, y = cupy.arange(3.0), cupy.zeros(3)
    with ledger.recording() as events:
        assert kernel(x, y) is y
    assert [(event.kind, event.name) for event in events] == [("launch", "double")]
    numpy.testing.assert_array_equal(y.get(), [0.0, 2.0, 4.0])


def test_a_kernel_takes_size_exactly_when_its_arrays_are_all_raw(monkeypatch):
    monkeypatch.setattr(_namespaces, "twin_of", lambda name: lambda x, y: numpy.multiply(x, 2, out=y))
    raw = cupy.ElementwiseKernel("raw T x", "raw T y", "y[i] = 2 * x[i]", "raw_double")
    elementwise = cupy.ElementwiseKernel("T x", "T y", "y = 2 * x", "double")
    x, y = cupy.arange(3.0), cupy.zeros(3)
    raw(x, y, size=3)
    elementwise(x, y, size=None)
    numpy.testing.assert_array_equal(y.get(), [0.0, 2.0, 4.0])
    for kernel, size in ((raw, None), (elementwise, 3)):
        with pytest.raises(ValueError, match="size= is needed exactly when no array argument is non-raw"):
            kernel(x, y, size=size)


def test_a_kernel_without_a_twin_is_refused():
    with pytest.raises(NotImplementedError, match="no NumPy twin for the kernel 'new_kernel'"):
        cupy.ElementwiseKernel("T x", "T y", "y = x", "new_kernel")
