"""Device names, array modules, moving arrays, the GPU's absence explained, and seeded random generators."""
import types

import numpy
import pytest

from minigrad import Tensor, backend


@pytest.mark.parametrize("name, expected", [("cpu", "cpu"), ("CPU", "cpu"), ("gpu", "gpu"), ("cuda", "gpu"), ("CUDA", "gpu")])
def test_normalize_device_aliases(name, expected):
    assert backend.normalize_device(name) == expected


@pytest.mark.parametrize("has_gpu, expected", [(False, "cpu"), (True, "gpu")])
def test_auto_picks_the_gpu_when_present(monkeypatch, has_gpu, expected):
    monkeypatch.setattr(backend, "gpu_available", lambda: has_gpu)
    assert backend.normalize_device("auto") == expected


@pytest.mark.parametrize("name", ["tpu", "cuda:0", "", None, 0])
def test_normalize_device_rejects_unknown_names(name):
    with pytest.raises(ValueError, match=f"unknown device {name!r}: expected 'cpu', 'gpu'"):
        backend.normalize_device(name)


def test_cpu_arrays_stay_put():
    array = numpy.arange(3.0)
    assert backend.to_device(array, "cpu") is array
    assert backend.get_array_module(array) is numpy
    assert backend.get_array_module(2.0) is numpy
    assert backend.device_of(array) == "cpu"
    assert backend.array_module("cpu") is numpy


def without_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", lambda: None)


def test_gpu_without_cupy_says_what_to_install(monkeypatch):
    without_cupy(monkeypatch)
    assert not backend.gpu_available()
    assert backend.normalize_device("auto") == "cpu"
    for ask_for_gpu in (lambda: backend.array_module("gpu"), lambda: backend.to_device(numpy.ones(2), "gpu"),
                        lambda: Tensor([1.0], device="cuda"), lambda: Tensor([1.0]).to("gpu")):
        with pytest.raises(RuntimeError, match="needs CuPy, which is not installed: install CuPy .*pip install"):
            ask_for_gpu()


def test_cupy_without_a_device_says_so(monkeypatch):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice")

    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setattr(backend, "_import_cupy", lambda: fake_cupy)
    assert not backend.gpu_available()
    with pytest.raises(RuntimeError, match="CuPy is installed, but it finds no CUDA device"):
        backend.array_module("gpu")


def draws(device):
    generator = backend.random_generator(device)
    return [
        backend.to_device(generator.random(4, dtype=numpy.float32), "cpu"),
        backend.to_device(generator.integers(0, 100, 5), "cpu"),
        backend.to_device(generator.standard_normal(3, dtype=numpy.float64), "cpu"),
    ]


@pytest.mark.parametrize("device", ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_random_generator_is_reproducible_after_manual_seed(device):
    backend.manual_seed(123)
    first = draws(device)
    second = draws(device)  # the generator moves on between calls
    backend.manual_seed(123)
    assert all(numpy.array_equal(a, b) for a, b in zip(draws(device), first))
    assert not numpy.array_equal(first[0], second[0])
    backend.manual_seed(124)
    assert not numpy.array_equal(draws(device)[0], first[0])
    assert first[0].dtype == numpy.float32 and first[2].dtype == numpy.float64


@pytest.mark.gpu
def test_arrays_move_between_devices():
    cupy = backend.array_module("gpu")
    array = numpy.arange(6.0).reshape(2, 3)
    on_gpu = backend.to_device(array, "cuda")
    assert isinstance(on_gpu, cupy.ndarray) and backend.device_of(on_gpu) == "gpu"
    assert backend.get_array_module(on_gpu) is cupy
    assert backend.to_device(on_gpu, "gpu") is on_gpu
    numpy.testing.assert_array_equal(backend.to_device(on_gpu, "cpu"), array)
    assert backend.gpu_available() and backend.normalize_device("auto") == "gpu"


def test_keep_freed_cpu_memory_takes_effect_on_glibc():
    import platform

    expected = platform.libc_ver()[0] == "glibc"
    assert backend.keep_freed_cpu_memory() is expected
