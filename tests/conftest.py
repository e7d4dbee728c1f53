"""Shared fixtures: `gpu`-marked tests run on the real GPU when CuPy sees one, else on the stand-in for CuPy."""
import os

import pytest
from hypothesis import HealthCheck, settings

from minigrad import backend

STANDIN = "standin_cupy"  # tests/standin_cupy, importable through `pythonpath = tests` in setup.cfg
REAL_GPU = backend.gpu_available()

# Random inputs (tests/minigrad/test_op_table.py): in CI (the CI variable set) the same examples at every run, so
# that a run is reproducible; elsewhere fresh ones, and more of them. The `device` fixture is a parameter, the same
# for every example of a test, hence the function-scoped fixture check is off.
QUIET = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, max_examples=8, database=None, print_blob=True, **QUIET)
settings.register_profile("dev", max_examples=25, **QUIET)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def gpu_module(request, monkeypatch):
    """A `gpu`-marked test without a real GPU runs on the stand-in (minigrad's test hook, backend.GPU_MODULE)."""
    if "gpu" in request.keywords and not REAL_GPU:
        use_standin(monkeypatch)


@pytest.fixture
def standin(monkeypatch):
    """The stand-in as minigrad's GPU module even where a real GPU is present: for what only it counts."""
    use_standin(monkeypatch)


def use_standin(monkeypatch):
    """Make the stand-in minigrad's GPU module for the rest of the test (whether or not a real GPU is present),
    with random generators of its own."""
    monkeypatch.setattr(backend, "GPU_MODULE", STANDIN)
    monkeypatch.setattr(backend, "_generators", {})


@pytest.fixture(params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def device(request):
    """Runs a test once on the CPU and once on the GPU (the stand-in without a real one)."""
    return request.param
