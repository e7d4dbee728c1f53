"""The learning-rate range test: train a copy of the model for a few hundred steps while the
learning rate grows exponentially, and read off where the loss falls fastest before it blows up.

Step k of n uses lr_k = start_lr * (end_lr / start_lr) ** (k / (n - 1)), with the recipe's Adam,
data, augmentation and batches. The loss is smoothed as fastai does, an exponential moving average
with bias correction: avg_k = beta avg_(k-1) + (1 - beta) loss_k, smoothed_k = avg_k / (1 - beta^(k+1)),
beta = 0.98; the sweep stops early once the smoothed loss is not finite or exceeds 4 times its best.

Suggested peak (--max-lr): a tenth of the lr at the smoothed loss's minimum; none when that tenth
lies below start_lr, since then the sweep shows no slope where the loss falls, which is what the
rule reads. At the minimum the loss is about to blow up, so a run that stays there for the whole warm-up
diverges; a tenth of it still lies on the descending slope, where the loss falls fast. The rule
reads one point of the curve, the minimum, which the smoothing makes stable; fastai's other rule,
the steepest slope, reads a derivative of a noisy curve and jumps between runs.

Only a copy of the model trains: the model given and any run directory are left untouched.
"""
import copy
import dataclasses
import math

import numpy

from minigrad import Tensor
from minigrad import functional as F
from minigrad.optim import Adam
from ultimus.data.datasets import prepare_data
from ultimus.data.loaders import augment_epoch, make_train_loader, seed_dropout
from ultimus.diagnostics.figures import plt, save_figure
from ultimus.errors import UsageError
from ultimus.model import UltimusNet
from ultimus.training.config import check_config, check_data_fits
from ultimus.training.train import ready_device

BETA = 0.98  # smoothing of the loss, fastai's
BLOW_UP = 4.0  # stop once the smoothed loss exceeds this many times its best


@dataclasses.dataclass
class LRSweep:
    """One range test: per step taken, its lr, loss and smoothed loss (lists of floats); the
    suggested peak lr (None: the range began too high, see the module); the range asked for (the
    sweep may stop before end_lr)."""

    lrs: list
    losses: list
    smoothed: list
    suggestion: float
    start_lr: float
    end_lr: float

    def lowest(self):
        """(smoothed loss, lr) at the lowest finite smoothed loss."""
        return lowest_finite(self.lrs, self.smoothed)

    def verdict(self):
        """The suggestion in words, or why there is none."""
        if self.suggestion is not None:
            return f"suggested --max-lr {self.suggestion:.3g} (a tenth of the lr of the lowest smoothed loss)"
        return (f"no suggestion: the smoothed loss was lowest at lr {self.lowest()[1]:.3g}, less than ten times "
                f"--start-lr {self.start_lr:.3g}, so the sweep saw no slope where the loss falls; lower --start-lr")


def exponential_lrs(start_lr, end_lr, steps):
    """steps (>= 2) learning rates from start_lr to end_lr, each a constant factor above the last."""
    return (start_lr * (end_lr / start_lr) ** (numpy.arange(steps) / (steps - 1))).tolist()


def lowest_finite(lrs, smoothed):
    """(smoothed loss, lr) at the lowest finite smoothed loss; ValueError when none is finite."""
    finite = [(loss, lr) for lr, loss in zip(lrs, smoothed) if math.isfinite(loss)]
    if not finite:
        raise ValueError("the range test has no finite loss: lower --start-lr")
    return min(finite)


def suggest_lr(lrs, smoothed):
    """A tenth of the lr at the lowest finite smoothed loss; None when that is below lrs[0] (see the module)."""
    tenth = lowest_finite(lrs, smoothed)[1] / 10
    return tenth if tenth >= lrs[0] else None


def check_range(start_lr, end_lr, steps):
    """Raise UsageError unless 0 < start_lr < end_lr (finite) and steps is an integer >= 2."""
    if not (math.isfinite(start_lr) and math.isfinite(end_lr) and 0 < start_lr < end_lr):
        raise UsageError(f"--start-lr and --end-lr must be finite with 0 < start < end, got {start_lr!r} and {end_lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise UsageError(f"--steps must be an integer >= 2, got {steps!r}")


def _batches(loader):
    """The loader's batches, pass after pass."""
    while True:
        yield from loader


def lr_sweep(model, loader, start_lr=1e-6, end_lr=1.0, steps=300, beta=BETA, blow_up=BLOW_UP):
    """Train a deep copy of ``model`` (N, 3, H, W) -> logits with Adam for up to ``steps`` batches
    of ``loader`` (images, labels), the lr of step k exponential from start_lr to end_lr; an LRSweep.

    Each loss is read back as it comes (one host sync per step): the next step depends on it.
    """
    check_range(start_lr, end_lr, steps)
    model = copy.deepcopy(model).train()
    optimizer = Adam(model.parameters(), lr=start_lr)
    lrs, losses, smoothed, average, best = [], [], [], 0.0, math.inf
    for lr, (images, labels) in zip(exponential_lrs(start_lr, end_lr, steps), _batches(loader)):
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(model(Tensor(images)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lrs.append(lr)
        losses.append(float(loss.data))
        average = beta * average + (1 - beta) * losses[-1]
        smoothed.append(average / (1 - beta ** len(losses)))
        if not math.isfinite(smoothed[-1]) or smoothed[-1] > blow_up * best:
            break
        best = min(best, smoothed[-1])
    return LRSweep(lrs, losses, smoothed, suggest_lr(lrs, smoothed), start_lr, end_lr)


def lr_range_test(config, start_lr=1e-6, end_lr=1.0, steps=300):
    """The range test of ``config``'s recipe (a TrainConfig: data, limit, batch size, seed, device,
    model settings) on a fresh model with the first epoch's augmentation; every setting is checked
    before the data is read. Returns an LRSweep."""
    check_config(config)
    check_range(start_lr, end_lr, steps)
    device = ready_device(config)
    data, mean, std = prepare_data(config)
    check_data_fits(config, len(data.train_labels))
    loader = make_train_loader(data, config, device)  # before the model: see ultimus.training.train.prepare_run
    augment_epoch(loader, mean, std, config, 1, device)
    model = UltimusNet.for_run(config, len(data.classes)).to(device)
    seed_dropout(config, 1)
    with numpy.errstate(over="ignore", invalid="ignore"):  # the sweep is meant to end in a blow-up
        return lr_sweep(model, loader, start_lr, end_lr, steps)


def figure_lr_sweep(sweep):
    """Loss against lr (log x): each step's loss faint, the smoothed loss bold, the suggestion marked
    or, when there is none, the reason in the title. Every step is a dot, so that a sweep that blew up
    within a few steps still shows them."""
    figure, axis = plt.subplots(figsize=(7, 4.5), layout="constrained")
    axis.plot(sweep.lrs, sweep.losses, color="0.75", linewidth=0.8, label="loss of each step")
    axis.plot(sweep.lrs, sweep.smoothed, color="C0", linewidth=2, marker=".", label=f"smoothed (EMA, beta {BETA})")
    if sweep.suggestion is not None:
        axis.axvline(sweep.suggestion, color="C3", linestyle="--", label=f"suggested --max-lr {sweep.suggestion:.3g}")
    finite = [loss for loss in sweep.smoothed if math.isfinite(loss)]
    margin = 0.1 * abs(min(finite))
    axis.set_ylim(min(finite) - margin, min(max(finite), BLOW_UP * min(finite)) + margin)
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("training loss")
    title = f"LR range test: {len(sweep.lrs)} steps from {sweep.start_lr:g} toward {sweep.end_lr:g}"
    if sweep.suggestion is None:
        title += "\nno suggestion: the loss was lowest within ten times the start; lower --start-lr"
    axis.set_title(title)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend()
    return figure


def save_lr_sweep(sweep, path):
    """Write :func:`figure_lr_sweep` to ``path`` as a PNG; returns the (closed) figure."""
    return save_figure(figure_lr_sweep(sweep), path)
