"""What the timing benchmarks share: waiting for the device before the clock is read."""
from minigrad import backend


def synchronizer(device):
    """A function that returns once ``device`` has finished its queued work: the GPU runs kernels
    asynchronously, so a clock read without it would time the queueing only; the CPU has nothing to wait for."""
    if backend.normalize_device(device) == "gpu":
        return backend.require_cupy().cuda.Device().synchronize
    return lambda: None
