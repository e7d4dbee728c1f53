"""Shared fixtures: the GPU marker skips visibly when CuPy or a CUDA device is missing."""
import pytest

from minigrad import backend


def pytest_collection_modifyitems(config, items):
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason="no GPU: CuPy is not installed or sees no CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def device(request):
    """Runs a test once on the CPU and once on the GPU (skipped without one)."""
    return request.param
