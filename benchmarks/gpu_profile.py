"""Where a GPU training step of Ultimus spends its time: the host launching kernels, or the device running them.

    python benchmarks/gpu_profile.py [--batch-size 512 128] [--steps 30]

Needs CuPy and a CUDA device (PyTorch on the GPU is optional, as the reference). It prints:

1. Host syncs: the timed steps (and one augmented batch) run under ``cupyx.allow_synchronize(False)``,
   so any hidden read-back raises and is named here.
2. Per phase (forward, loss, backward, Adam), two times: the host's (Python and launching, the clock
   read without waiting) and the device's. The device's is measured with every kernel of the step
   queued behind a spin kernel that holds the GPU for longer than the host takes to launch them
   all, so CUDA events time the kernels back to back, free of launch gaps: the time a step replayed
   as a CUDA graph could approach. The same for PyTorch eager.
3. ``cupyx.profiler.benchmark``'s CPU and GPU times of a whole step, for comparison.
"""
import argparse
import statistics
import time

import numpy

from minigrad import Tensor, backend
from minigrad import functional as F
from minigrad.optim import Adam
from ultimus.data.loaders import make_train_transform
from ultimus.model import UltimusNet
from ultimus.training.config import TrainConfig

SPIN_SOURCE = r"""
extern "C" __global__ void spin(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) { }
}
"""
SPIN_CYCLES = 300_000_000  # about 0.15 s at the H200's 1.98 GHz: far longer than a step's launches take on the host


def minigrad_phases(images, labels):
    """The step as four phases [(name, function)], sharing their results through ``state``."""
    model = UltimusNet().to("gpu")
    optimizer = Adam(model.parameters(), lr=1e-3)
    state = {}

    def forward():
        state["logits"] = model(Tensor(images))

    def loss():
        state["loss"] = F.cross_entropy(state["logits"], labels)

    def backward():
        optimizer.zero_grad()
        state["loss"].backward()

    return [("forward", forward), ("loss", loss), ("backward", backward), ("Adam", optimizer.step)]


def phase_times(phases, cupy, spin):
    """{phase: (host ms, device ms)} of one step, its kernels queued behind ``spin``."""
    events = [cupy.cuda.Event() for _ in range(len(phases) + 1)]
    spin((1,), (1,), (numpy.int64(SPIN_CYCLES),))
    events[0].record()
    host = []
    started = time.perf_counter()
    for (_, phase), event in zip(phases, events[1:]):
        phase()
        event.record()
        host.append(time.perf_counter())
    events[-1].synchronize()
    host_ms = numpy.diff([started] + host) * 1000
    device_ms = [cupy.cuda.get_elapsed_time(a, b) for a, b in zip(events[:-1], events[1:])]
    return {name: (h, d) for (name, _), h, d in zip(phases, host_ms, device_ms)}


def spin_milliseconds(cupy, spin):
    """How long the spin kernel holds the GPU."""
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    spin((1,), (1,), (numpy.int64(SPIN_CYCLES),))
    end.record()
    end.synchronize()
    return cupy.cuda.get_elapsed_time(start, end)


def median_phase_table(phases, cupy, spin, steps):
    """{phase: (host ms, device ms)}, medians over ``steps``; refuses a measurement whose launches outlast the spin."""
    for _ in range(3):
        for _, phase in phases:
            phase()
    runs = [phase_times(phases, cupy, spin) for _ in range(steps)]
    longest_host = max(sum(h for h, _ in run.values()) for run in runs)
    if longest_host > 0.8 * spin_milliseconds(cupy, spin):
        raise RuntimeError(f"a step took {longest_host:.1f} ms to launch, near the spin's length: raise SPIN_CYCLES")
    return {name: tuple(statistics.median(run[name][i] for run in runs) for i in (0, 1)) for name, _ in phases}


def print_phase_table(title, table):
    print(title)
    print(f"  {'phase':<10} {'host ms':>9} {'device ms':>10}")
    for name, (host, device) in table.items():
        print(f"  {name:<10} {host:9.3f} {device:10.3f}")
    print(f"  {'step':<10} {sum(h for h, _ in table.values()):9.3f} {sum(d for _, d in table.values()):10.3f}")


def check_no_host_sync(phases, cupy, cupyx, batch):
    """Run steps and augmented batches with synchronizing forbidden; say which, if any, synchronized."""
    config = TrainConfig()
    transform = make_train_transform(numpy.zeros(3), numpy.ones(3), config, cupy.random.default_rng(0))
    checks = [("training step", lambda: [phase() for _, phase in phases]), ("augmented batch", lambda: transform(batch))]
    for name, work in checks:
        work()  # the first call's one-off work (statistics copied to the device, kernels compiled) is not per step
        try:
            with cupyx.allow_synchronize(False):
                for _ in range(3):
                    work()
            print(f"  {name}: no host sync")
        except Exception as error:  # the check's own exception type differs between CuPy versions
            print(f"  {name}: SYNCHRONIZED: {type(error).__name__}: {error}")
    cupy.cuda.Device().synchronize()


def torch_device_busy(images, labels, steps):
    """PyTorch eager's step on the GPU: (host ms, device ms), device time measured behind torch.cuda._sleep."""
    import torch
    from torch_ultimus import TorchUltimusNet

    model = TorchUltimusNet().cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.as_tensor(images.get()).cuda(), torch.as_tensor(labels.get()).cuda()

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    for _ in range(3):
        step()
    host, device = [], []
    for _ in range(steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda._sleep(SPIN_CYCLES)
        start.record()
        started = time.perf_counter()
        step()
        host.append((time.perf_counter() - started) * 1000)
        end.record()
        end.synchronize()
        device.append(start.elapsed_time(end))
    return statistics.median(host), statistics.median(device)


def profile(batch_size, steps, cupy, cupyx, spin):
    rng = numpy.random.default_rng(0)
    images = cupy.asarray(rng.standard_normal((batch_size, 3, 32, 32)).astype(numpy.float32))
    labels = cupy.asarray(rng.integers(0, 10, batch_size))
    phases = minigrad_phases(images, labels)
    print(f"== batch {batch_size}")
    uint8_batch = (cupy.asarray(rng.integers(0, 256, (batch_size, 32, 32, 3), dtype=numpy.uint8)), labels)
    check_no_host_sync(phases, cupy, cupyx, uint8_batch)
    print_phase_table(f"minigrad, median of {steps} steps:", median_phase_table(phases, cupy, spin, steps))
    result = cupyx.profiler.benchmark(lambda: [phase() for _, phase in phases], n_repeat=steps, n_warmup=3)
    print(f"cupyx.profiler.benchmark, minigrad step: CPU {numpy.median(result.cpu_times) * 1000:.3f} ms, "
          f"GPU {numpy.median(result.gpu_times) * 1000:.3f} ms")
    try:
        host, device = torch_device_busy(images, labels, steps)
        print(f"PyTorch eager step: host {host:.3f} ms, device {device:.3f} ms")
    except ImportError:
        print("PyTorch not installed: no reference")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, nargs="+", default=[512, 128])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    cupy = backend.require_cupy()
    import cupyx
    import cupyx.profiler

    spin = cupy.RawKernel(SPIN_SOURCE, "spin")
    print(f"{cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CuPy {cupy.__version__}")
    for batch_size in args.batch_size:
        profile(batch_size, args.steps, cupy, cupyx, spin)


if __name__ == "__main__":
    main()
