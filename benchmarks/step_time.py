"""Time one full training step (forward, loss, backward, Adam) of Ultimus at batch 512:
minigrad and PyTorch side by side in one process, the median over repeated steps.

    python benchmarks/step_time.py [--device cpu|gpu] [--steps 30] [--batch-size 512]

PyTorch (CPU, with as many threads as cores, or --threads) is optional: without it only minigrad is timed.
Both on one core, to compare the work each does rather than how it spreads it over cores:

    OPENBLAS_NUM_THREADS=1 python benchmarks/step_time.py --threads 1
"""
import argparse
import os
import statistics
import time

import numpy

from minigrad import Tensor, backend
from minigrad import functional as F
from minigrad.optim import Adam
from timing import synchronizer  # this script's folder is on sys.path when it is run
from ultimus.model import UltimusNet


def median_step_seconds(step, steps, warmup=3, synchronize=lambda: None):
    for _ in range(warmup):
        step()
    synchronize()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def minigrad_step(images, labels, device):
    model = UltimusNet().to(device)
    optimizer = Adam(model.parameters(), lr=1e-3)
    images, labels = backend.to_device(images, device), backend.to_device(labels, device)

    def step():
        loss = F.cross_entropy(model(Tensor(images)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def torch_step(images, labels):
    import torch
    from torch_ultimus import TorchUltimusNet

    model = TorchUltimusNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)

    def step():
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch's CPU threads")
    args = parser.parse_args()
    backend.keep_freed_cpu_memory()  # process-wide: PyTorch's steps below get the same allocator
    rng = numpy.random.default_rng(0)
    images = rng.standard_normal((args.batch_size, 3, 32, 32)).astype(numpy.float32)
    labels = rng.integers(0, 10, args.batch_size)
    ours = median_step_seconds(minigrad_step(images, labels, args.device), args.steps,
                               synchronize=synchronizer(args.device))
    print(f"minigrad ({args.device}): {ours * 1000:.1f} ms/step (median of {args.steps}, batch {args.batch_size})")
    try:
        import torch
    except ImportError:
        print("PyTorch not installed: no reference timing")
        return
    torch.set_num_threads(args.threads)
    reference = median_step_seconds(torch_step(images, labels), args.steps)
    print(f"PyTorch {torch.__version__} (cpu, {torch.get_num_threads()} threads): {reference * 1000:.1f} ms/step")
    print(f"ratio minigrad / PyTorch: {ours / reference:.2f}")


if __name__ == "__main__":
    main()
