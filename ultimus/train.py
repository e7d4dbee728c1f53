"""Training Ultimus on CIFAR-10 with the assignment's recipe: Adam, One Cycle (0.001 -> 0.01 at
epoch 5 -> anneal), 24 epochs, batch 512, random crop + CoarseDropout augmentation.

``train(config)`` tells the whole story: prepare (check the config, load the data, build the model,
optimizer and schedule, or restore them from a checkpoint), train epoch by epoch, finish (figures).
It runs in a locked run directory (see ``ultimus.run_directory``) and leaves there: history.json/.csv
(see ``ultimus.history``), summary.txt, checkpoint.npz, the figures of ``ultimus.figures``,
attention.png and gradient_flow.png (``ultimus.attention``, ``ultimus.gradient_flow``) and
report.md (``ultimus.report``).
A non-finite training loss stops the run.
"""
import contextlib
import dataclasses
import math
import os
import time

import numpy
from tqdm import tqdm

from minigrad import Tensor, backend, no_grad
from minigrad.atomic import atomic_write
from minigrad.data import DataLoader
from minigrad import functional as F
from minigrad.nn import summary
from minigrad.optim import Adam
from minigrad.optim.lr_scheduler import OneCycleLR
from ultimus import figures
from ultimus.attention import save_attention, summarize_attention
from ultimus.checkpoints import choose_run, save_checkpoint
from ultimus.config import check_data_fits
from ultimus.datasets import balanced_subset, prepare_data
from ultimus.gradient_flow import GradientFlow, merge_records, save_gradient_flow
from ultimus.history import EpochRecord, History, write_history
from ultimus.loaders import augment_epoch, make_eval_loader, make_train_loader, make_train_transform, seed_dropout
from ultimus.model import UltimusNet
from ultimus.report import write_report
from ultimus.run_directory import RunDirectory


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns: the History, which split it evaluated on, its last eval accuracy, the run directory."""

    history: History
    eval_split: str
    eval_accuracy: float
    out: str


@dataclasses.dataclass
class Run:
    """Everything a run trains with, built or restored by :func:`prepare_run`."""

    model: UltimusNet
    optimizer: Adam
    scheduler: OneCycleLR
    train_loader: DataLoader
    eval_loader: DataLoader
    history: History
    gradient_flow: GradientFlow = None  # None: the run records no gradient flow


def train(config):
    """Run the whole job described by ``config``, or continue the run named by ``config.resume``.

    Every setting is checked before any work, the data before the run directory is made.
    """
    checkpoint, config = choose_run(config)
    device = set_up_device(config)
    data, mean, std = prepare_data(config)
    check_data_fits(config, len(data.train_labels))
    # A diverging loss is reported by the loop itself; NumPy's overflow warnings would only repeat it.
    with RunDirectory(config.out, overwrite=config.overwrite and checkpoint is None), \
            numpy.errstate(over="ignore", invalid="ignore"):
        run = prepare_run(data, mean, std, config, device, checkpoint)
        predictions = train_epochs(run, data, mean, std, config, device)
        save_attention_figure(run, data, config)
        save_figures(data, mean, std, predictions, config, run.history)
    return TrainResult(run.history, data.eval_split, run.history.records[-1].eval_accuracy, config.out)


def set_up_device(config):
    """The device the run uses, announced with the run directory; seeds the global generator."""
    print(f"run directory: {config.out}", flush=True)
    device = backend.normalize_device(config.device)
    if config.device == "auto":
        print(f"device: {device} (chosen by --device auto)", flush=True)
    if device == "cpu":
        backend.keep_freed_cpu_memory()
    backend.manual_seed(config.seed)
    return device


def prepare_run(data, mean, std, config, device, checkpoint=None):
    """The model, optimizer, schedule, loaders and history of a new run, or of ``checkpoint``'s;
    writes summary.txt."""
    # The eval loader draws its unused shuffling seed from the global generator: make it before the model.
    train_loader, eval_loader = make_train_loader(data, config, device), make_eval_loader(data, mean, std, config, device)
    model = UltimusNet(num_classes=len(data.classes), dropout=config.dropout, scaling=config.scaling,
                       variant=config.variant).to(device)
    with atomic_write(os.path.join(config.out, "summary.txt"), "w") as handle:
        handle.write(summary(model, (3, 32, 32), device=device) + "\n")
    optimizer = Adam(model.parameters(), lr=config.max_lr / config.div_factor)
    scheduler = OneCycleLR(optimizer, **config.one_cycle_options(len(train_loader)))
    flow = GradientFlow(model, config.gradient_flow_every) if config.gradient_flow_every else None
    run = Run(model, optimizer, scheduler, train_loader, eval_loader, History(data.eval_split), flow)
    if checkpoint is not None:
        for part in ("model", "optimizer", "scheduler", "train_loader"):
            getattr(run, part).load_state_dict(checkpoint[part])
        run.history = checkpoint["history"]
        print(f"resuming {config.out} after epoch {checkpoint['epoch']} of {config.epochs}", flush=True)
    return run


def train_epochs(run, data, mean, std, config, device):
    """Train the epochs left, saving history and checkpoint after each; returns the last eval's
    predictions (None when no epoch ran). A diverged epoch keeps the files of the last finished
    one, draws their figures and raises RuntimeError."""
    predictions = None
    for epoch in range(len(run.history.records) + 1, config.epochs + 1):
        augment_epoch(run.train_loader, mean, std, config, epoch, device)
        seed_dropout(config, epoch)
        try:
            record, predictions = train_one_epoch(run, epoch, config)
        except Diverged as diverged:
            raise RuntimeError(f"training diverged at epoch {epoch}, {diverged}; "
                               f"{_what_is_kept(data, mean, std, predictions, config, run.history)}") from None
        run.history.records.append(record)
        if run.gradient_flow is not None:
            run.history.gradient_flow = merge_records(run.history.gradient_flow, run.gradient_flow.take_records())
        write_history(run.history, config.out)
        save_checkpoint(run.model, run.optimizer, run.scheduler, run.train_loader, config, run.history)
        print(f"epoch {epoch:2d}  train loss {record.train_loss:.4f} acc {record.train_accuracy:.4f}  "
              f"{run.history.eval_split} loss {record.eval_loss:.4f} acc {record.eval_accuracy:.4f}  "
              f"lr {record.lr:.5f}  {record.seconds:.1f}s", flush=True)
    return predictions


def train_one_epoch(run, epoch, config):
    """One epoch of training, then one evaluation: its EpochRecord and the eval predictions."""
    started, lr = time.perf_counter(), run.scheduler.get_last_lr()[0]
    name = f"epoch {epoch}/{config.epochs}"
    train_loss, train_accuracy, _ = run_epoch(
        run.model, run.train_loader, run.optimizer, run.scheduler, f"{name} train", config.progress,
        run.gradient_flow, first_step=(epoch - 1) * len(run.train_loader))
    eval_loss, eval_accuracy, predictions = run_epoch(
        run.model, run.eval_loader, description=f"{name} {run.history.eval_split}", progress=config.progress)
    record = EpochRecord(epoch, train_loss, train_accuracy, eval_loss, eval_accuracy, lr, time.perf_counter() - started)
    return record, predictions


class Diverged(FloatingPointError):
    """The training loss became non-finite at ``step`` (1-based, within the epoch), which used ``lr``."""

    def __init__(self, step, steps, lr, loss):
        super().__init__(f"step {step} of {steps}: the training loss is {loss} (lr {lr:.4g})")
        self.step, self.lr, self.loss = step, lr, loss


def _stop_if_diverged(loss_sum, recent, steps):
    """Raise Diverged at the first non-finite loss of ``recent`` [(step, loss, lr)] once their sum
    ``loss_sum`` is not finite (a sum of finite losses that overflows names its last step)."""
    if math.isfinite(loss_sum):
        return
    step, loss, lr = next((entry for entry in recent if not math.isfinite(float(entry[1]))), recent[-1])
    raise Diverged(step + 1, steps, lr, float(loss))


def run_epoch(model, loader, optimizer=None, scheduler=None, description="", progress=True, flow=None, first_step=0):
    """One pass over ``loader``; trains when an optimizer is given, else evaluates in eval mode; the
    model's mode is restored afterwards. A :class:`GradientFlow` ``flow`` sees each optimizer step,
    numbered from ``first_step`` (the steps of the run's earlier epochs). Returns (loss, accuracy, predictions), predictions (on the
    CPU) only when evaluating, None when training.

    Sums stay on the device and are read back at the end (and every 10 steps for the progress bar),
    not once per batch; that is when training checks its losses and raises :class:`Diverged` at the
    first non-finite one.
    """
    training = optimizer is not None
    was_training = model.training
    model.train(training)
    total_loss, correct, seen, predictions = 0.0, 0, 0, []
    recent = []  # (step, loss, lr) since the last read-back, each loss still on the device
    bar = tqdm(loader, desc=description, leave=False, disable=not progress, dynamic_ncols=True)
    for step, (images, labels) in enumerate(bar):
        with contextlib.nullcontext() if training else no_grad():
            logits = model(Tensor(images))
            loss = F.cross_entropy(logits, labels)
        if training:
            lr = scheduler.get_last_lr()[0]  # the lr of this step: after the last one the schedule reads past its end
            optimizer.zero_grad()
            loss.backward()
            if flow is None:
                optimizer.step()
            else:
                flow.before_step(first_step + step)
                optimizer.step()
                flow.after_step(first_step + step)
            scheduler.step()
            recent.append((step, loss.data, lr))
        predicted = logits.data.argmax(axis=1)
        if not training:
            predictions.append(predicted)
        total_loss = total_loss + loss.data * len(labels)
        correct = correct + (predicted == labels).sum()
        seen += len(labels)
        if step == len(loader) - 1 or (progress and step % 10 == 0):  # the only read-backs from the device
            loss_sum = float(total_loss)
            if training:
                _stop_if_diverged(loss_sum, recent, len(loader))
                recent = []
            if progress:
                postfix = {"loss": f"{loss_sum / seen:.4f}", "acc": f"{float(correct) / seen:.3f}"}
                if training:
                    postfix["lr"] = f"{lr:.5f}"
                bar.set_postfix(postfix)
    model.train(was_training)
    if training:
        return float(total_loss) / seen, float(correct) / seen, None
    xp = backend.get_array_module(predictions[0])
    return float(total_loss) / seen, float(correct) / seen, backend.to_device(xp.concatenate(predictions), "cpu")


def _what_is_kept(data, mean, std, predictions, config, history):
    """After a divergence: draw the figures of the finished epochs, and say what is left on disk."""
    if not history.records:
        return "no epoch finished, so there is nothing to keep"
    save_figures(data, mean, std, predictions, config, history, note=f"Diverged after epoch {history.records[-1].epoch}.")
    return f"the checkpoint, history and figures of epoch {history.records[-1].epoch} are kept in {config.out}"


def save_attention_figure(run, data, config, shown=4):
    """attention.png: the attention maps of the trained model over the eval split (one more pass
    over it), with ``shown`` single images of different classes."""
    singles = balanced_subset(data.eval_labels, min(shown, len(data.eval_labels)), seed=0)
    summary = summarize_attention(run.model, run.eval_loader, len(data.classes), singles)
    save_attention(summary, data.eval_images[singles], data.classes, os.path.join(config.out, "attention.png"))


def save_figures(data, mean, std, predictions, config, history, note=None):
    """The figures of the finished epochs: augmented samples, curves, the gradient flow when
    recorded and, when there are ``predictions``, the misclassified eval images and the confusion
    matrix; then report.md, with ``note`` first. The attention maps need a model that has not
    diverged: see :func:`save_attention_figure`."""
    out = config.out
    shown = balanced_subset(data.train_labels, min(32, len(data.train_labels)), seed=0)  # the archive is ordered by class
    augment = make_train_transform(mean, std, config, numpy.random.default_rng(config.seed))
    samples, labels = augment((data.train_images[shown], data.train_labels[shown]))
    figures.save_sample_grid(samples, labels, data.classes, os.path.join(out, "augmented_samples.png"), mean=mean, std=std)
    figures.save_history_curves(history, os.path.join(out, "curves.png"))
    if history.gradient_flow and history.gradient_flow["steps"]:  # a resumed older run may have none
        save_gradient_flow(history.gradient_flow, os.path.join(out, "gradient_flow.png"))
    if predictions is not None:  # None: a resumed run that diverged before evaluating anything
        save_evaluation_figures(data, predictions, out)
    write_report(out, config, history, data.eval_labels, predictions, data.classes, note)


def save_evaluation_figures(data, predictions, out):
    """misclassified.png and confusion_matrix.png of ``predictions`` (N,) over the eval split."""
    # The archive is ordered by class: shuffle, so that the first misclassified images span the classes.
    order = numpy.random.default_rng(0).permutation(len(data.eval_labels))
    figures.save_misclassified(data.eval_images[order], data.eval_labels[order], predictions[order], data.classes,
                               os.path.join(out, "misclassified.png"))
    figures.save_confusion_matrix(data.eval_labels, predictions, data.classes, os.path.join(out, "confusion_matrix.png"))
