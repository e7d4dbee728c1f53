"""Count the kernel launches of one training step of Ultimus on the GPU path, op by op, without a GPU.

    python benchmarks/gpu_launches.py [--batch-size 512]

The step is a run's own (ultimus.training.train.run_epoch on the run's model, Adam, One Cycle and augmented
loader), on the stand-in for CuPy (tests/standin_cupy), which counts every array operation that
runs a kernel. The table gives, per Function, its calls and the launches of its forward and
backward; then the launches outside Functions, by the function that made them (the data and its
augmentation, gradient accumulation, Adam, the loop's sums); then the step's total, its host
syncs and its host-to-device copies. On a GPU each launch costs about 5-10 microseconds of CPU
time before any arithmetic, and this model's arithmetic is small: the count bounds the GPU step.
"""
import argparse
import collections
import contextlib
import dataclasses
import io
import os
import sys
import tempfile

import numpy

from minigrad import backend
from minigrad.tensor import Function
from ultimus.data.datasets import RunData
from ultimus.data.loaders import augment_epoch, seed_dropout
from ultimus.training.config import TrainConfig
from ultimus.training.train import prepare_run, run_epoch

STANDIN = "standin_cupy"
TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
MEASURED_STEP = 1  # step 0 makes Adam's state and reads back; the steps after it are alike until the 10th


def random_run_data(images, seed=0):
    """RunData of ``images`` random training images (and as many eval images) of 10 classes."""
    generator = numpy.random.default_rng(seed)
    pixels = generator.integers(0, 256, size=(2, images, 32, 32, 3), dtype=numpy.uint8)
    labels = generator.integers(0, 10, size=(2, images))
    return RunData(pixels[0], labels[0], pixels[1], labels[1], [f"class {label}" for label in range(10)], "test")


class CountedLoader:
    """``loader``, noting the stand-in's events of each step: ``steps[i]`` holds those from asking
    for batch i (its gathering and augmentation) until asking for the next (the step itself)."""

    def __init__(self, loader, ledger):
        self.loader, self.ledger, self.steps = loader, ledger, []

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        batches = iter(self.loader)
        for _ in range(len(self.loader)):
            with self.ledger.recording() as events:
                yield next(batches)
            self.steps.append(events)


def step_events(batch_size, steps, progress=False, seed=1):
    """The events of each of ``steps`` training steps of a fresh run at ``batch_size``, on the GPU path.

    The stand-in must be minigrad's GPU module (backend.GPU_MODULE).
    """
    from standin_cupy import _ledger as ledger

    config = TrainConfig(batch_size=batch_size, epochs=1, seed=seed, progress=progress, device="gpu")
    data, mean, std = random_run_data(batch_size * steps), numpy.full(3, 0.45), numpy.full(3, 0.25)
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):  # not the model summary
        run = prepare_run(data, mean, std, dataclasses.replace(config, out=out), "gpu")
    augment_epoch(run.train_loader, mean, std, config, 1, "gpu")
    seed_dropout(config, 1)
    loader = CountedLoader(run.train_loader, ledger)
    run_epoch(run.model, loader, run.optimizer, run.scheduler, progress=progress, flow=run.gradient_flow)
    return loader.steps


def label_functions(ledger):
    """A profile function (sys.setprofile) that sets ``ledger.label`` to 'Name.forward' or 'Name.backward'
    while a Function's forward or backward runs (the outermost one; None outside them), and notes a
    'call' event each time a Function's forward starts."""
    running = []

    def profile(frame, event, argument):
        if event == "call" and not running and frame.f_code.co_name in ("forward", "backward") \
                and isinstance(frame.f_locals.get("self"), Function):
            running.append(frame)
            name = type(frame.f_locals["self"]).__name__
            ledger.label = f"{name}.{frame.f_code.co_name}"
            if frame.f_code.co_name == "forward":
                ledger.note("call", name)
        elif event == "return" and running and frame is running[0]:
            running.clear()
            ledger.label = None
    return profile


def launch_table(events):
    """The per-op table of one step's events (launches labelled by label_functions), as lines of text."""
    calls = collections.Counter(event.name for event in events if event.kind == "call")
    launches, outside = collections.Counter(), collections.Counter()
    for event in events:
        if event.kind == "launch" and event.label is None:
            location, _, function = event.site.partition(" ")
            outside[f"{location.rsplit(':', 1)[0]} {function}"] += 1
        elif event.kind == "launch":
            launches[event.label] += 1
    total = {name: launches[f"{name}.forward"] + launches[f"{name}.backward"] for name in calls}
    lines = [f"{'Function':<24}{'calls':>7}{'forward':>9}{'backward':>10}"]
    for name in sorted(calls, key=lambda name: (-total[name], name)):
        lines.append(f"{name:<24}{calls[name]:>7}{launches[f'{name}.forward']:>9}{launches[f'{name}.backward']:>10}")
    lines += ["", f"{'outside Functions':<60}{'launches':>9}"]
    lines += [f"{site:<60}{count:>9}" for site, count in outside.most_common()]
    lines += ["", f"per step: {events.count('launch')} launches ({sum(launches.values())} in Functions, "
                  f"{sum(outside.values())} outside), {events.count('sync')} host syncs, "
                  f"{events.count('upload')} host-to-device copies"]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    sys.path.insert(0, TESTS)
    backend.GPU_MODULE = STANDIN  # minigrad's test hook: the stand-in plays CuPy
    from standin_cupy import _ledger as ledger

    sys.setprofile(label_functions(ledger))
    try:
        steps = step_events(args.batch_size, MEASURED_STEP + 2)
    finally:
        sys.setprofile(None)
    print(f"step {MEASURED_STEP} of a run of Ultimus at batch {args.batch_size}, on the stand-in for CuPy\n")
    print("\n".join(launch_table(steps[MEASURED_STEP])))


if __name__ == "__main__":
    main()
