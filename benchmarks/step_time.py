"""Time one full training step (forward, loss, backward, Adam) of Ultimus: minigrad and PyTorch
side by side in one process, on the same device, the median over repeated steps.

    python benchmarks/step_time.py [--device cpu|gpu] [--steps 30] [--rounds 3] [--batch-size 512 128]

The contenders take turns, one round of --steps steps each, --rounds times, so a machine that
drifts (a neighbour, the clock) slows them alike; each median is over all its rounds' steps.
PyTorch is optional: without it only minigrad is timed. On the CPU it runs with as many threads as
cores (or --threads); both on one core, to compare the work each does rather than how it spreads
it over cores:

    OPENBLAS_NUM_THREADS=1 python benchmarks/step_time.py --threads 1

On the GPU (--device gpu) the reference is PyTorch on the same GPU, eager and with its whole step
captured as a CUDA graph and replayed (torch.cuda.graphs): the lower bound a step reaches once
the host no longer launches its kernels one by one.
"""
import argparse
import os
import statistics
import time

import numpy
from timing import synchronizer  # this script's folder is on sys.path when it is run

from minigrad import Tensor, backend
from minigrad import functional as F
from minigrad.optim import Adam
from ultimus.model import UltimusNet


def step_seconds(step, steps, synchronize=lambda: None):
    """The wall time of each of ``steps`` calls of ``step``, each waited for on its device."""
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - started)
    return times


def median_step_seconds(step, steps, warmup=3, synchronize=lambda: None):
    for _ in range(warmup):
        step()
    synchronize()
    return statistics.median(step_seconds(step, steps, synchronize))


def interleaved_medians(contenders, steps, rounds, warmup=3):
    """{name: median seconds per step} of ``contenders`` {name: (step, synchronize)}, timed in turns."""
    for step, synchronize in contenders.values():
        for _ in range(warmup):
            step()
        synchronize()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (step, synchronize) in contenders.items():
            times[name] += step_seconds(step, steps, synchronize)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


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


def torch_step(images, labels, device, graphed=False):
    """PyTorch's step on ``device`` ('cpu' or 'gpu'); ``graphed``: captured once as a CUDA graph, then replayed."""
    import torch
    from torch_ultimus import TorchUltimusNet

    where = "cuda" if device == "gpu" else "cpu"
    model = TorchUltimusNet().to(where)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=graphed)
    images, labels = torch.from_numpy(images).to(where), torch.from_numpy(labels).to(where)

    def forward_backward_update():
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    def step():
        optimizer.zero_grad()
        forward_backward_update()
    return capture_cuda_graph(step, forward_backward_update, optimizer) if graphed else step


def capture_cuda_graph(step, forward_backward_update, optimizer, warmup=3):
    """The replay of one captured step, in the pattern of PyTorch's CUDA-graph notes: warm up on a
    side stream, then capture with the gradients unset, so that each replay's backward writes them afresh."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        forward_backward_update()
    return graph.replay


def contenders(images, labels, device, threads):
    """{name: (step, synchronize)}: minigrad, and PyTorch's forms on the same device when it is installed."""
    found = {f"minigrad ({device})": (minigrad_step(images, labels, device), synchronizer(device))}
    try:
        import torch
    except ImportError:
        print("PyTorch not installed: no reference timing")
        return found
    if device == "cpu":
        torch.set_num_threads(threads)
        found[f"PyTorch {torch.__version__} (cpu, {torch.get_num_threads()} threads)"] = (
            torch_step(images, labels, device), lambda: None)
    else:
        found[f"PyTorch {torch.__version__} (gpu, eager)"] = (torch_step(images, labels, device), torch.cuda.synchronize)
        found[f"PyTorch {torch.__version__} (gpu, CUDA graph)"] = (
            torch_step(images, labels, device, graphed=True), torch.cuda.synchronize)
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[512, 128])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch's CPU threads")
    args = parser.parse_args()
    device = backend.normalize_device(args.device)
    backend.keep_freed_cpu_memory()  # process-wide: PyTorch's steps below get the same allocator
    for batch_size in args.batch_size:
        rng = numpy.random.default_rng(0)
        images = rng.standard_normal((batch_size, 3, 32, 32)).astype(numpy.float32)
        labels = rng.integers(0, 10, batch_size)
        medians = interleaved_medians(contenders(images, labels, device, args.threads), args.steps, args.rounds)
        print(f"batch {batch_size}, median of {args.rounds} rounds x {args.steps} steps:")
        ours = next(iter(medians.values()))
        for name, seconds in medians.items():
            print(f"  {name}: {seconds * 1000:.2f} ms/step  (minigrad / this: {ours / seconds:.2f})")


if __name__ == "__main__":
    main()
