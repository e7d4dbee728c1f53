"""Training Ultimus on CIFAR-10 with the assignment's recipe: Adam, One Cycle (0.001 -> 0.01 at
epoch 5 -> anneal), 24 epochs, batch 512, random crop + CoarseDropout augmentation.

`train(config)` checks the config, loads the data, then runs the whole job in a locked run
directory (see ``ultimus.run_directory``) and leaves there: history.json/.csv, summary.txt,
checkpoint.npz and the figures of ``ultimus.plots``. A non-finite training loss stops the run.
"""
import contextlib
import csv
import dataclasses
import json
import math
import os
import time
import zipfile
import zlib

import numpy
from tqdm import tqdm

from minigrad import Tensor, backend, no_grad, serialization
from minigrad.atomic import atomic_write
from minigrad import functional as F
from minigrad.data import ArrayDataset, DataLoader
from minigrad.nn import summary
from minigrad.optim import Adam
from minigrad.optim.lr_scheduler import OneCycleLR
from ultimus import plots
from ultimus.config import CLASS_COUNT, RESUME_OVERRIDES, TrainConfig, UsageError, check_config, check_data_fits
from ultimus.data import balanced_subset, channel_mean_std, load_cifar10
from ultimus.model import PARALLEL_LISTS_KEY, UltimusNet
from ultimus.run_directory import RunDirectory, check_run_directory, fresh_run_directory
from ultimus.transforms import CoarseDropout, Compose, HorizontalFlip, Normalize, RandomCrop, to_float_nchw


def checkpoint_path(run):
    """The checkpoint of ``run``: a run directory or the checkpoint file itself."""
    return os.path.join(run, "checkpoint.npz") if os.path.isdir(run) else run


def config_from_checkpoint(checkpoint, **overrides):
    """The TrainConfig a checkpoint was trained with (keys this version lacks are dropped), with ``overrides``."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{key: value for key, value in checkpoint["config"].items() if key in fields})
    return dataclasses.replace(config, **overrides)


def make_train_transform(mean, std, config, generator):
    """uint8 (N, 32, 32, 3) -> augmented, normalized float32 (N, 3, 32, 32).

    Normalizing first makes 0 the dataset mean, so the crop's padding and the
    CoarseDropout hole are both filled with the mean colour.
    """
    steps = [Normalize(mean, std), RandomCrop(32, padding=4, fill=0.0, generator=generator)]
    if config.horizontal_flip:
        steps.append(HorizontalFlip(generator=generator))
    steps.append(CoarseDropout(max_holes=1, hole_height=8, hole_width=8, fill=0.0, p=config.coarse_dropout_p, generator=generator))
    augment = Compose(steps)
    return lambda batch: (augment(to_float_nchw(batch[0])), batch[1])


def make_test_transform(mean, std):
    normalize = Normalize(mean, std)
    return lambda batch: (normalize(to_float_nchw(batch[0])), batch[1])


VALIDATION_SEED = 0  # one fixed validation split, whatever the run's seed, so that runs compare on the same images


def hold_out_validation(data, count):
    """CIFAR-10 whose training split loses ``count`` class-balanced images and whose test split
    *is* those images, so everything downstream evaluates on them and never sees the test set.

    Recipe choices are made on this split; the test set is kept for the final report.
    """
    if not 0 < count < len(data.train_labels):
        raise UsageError(f"validation must hold out between 1 and {len(data.train_labels) - 1} training images, got {count}")
    held_out = balanced_subset(data.train_labels, count, VALIDATION_SEED)
    kept = numpy.setdiff1d(numpy.arange(len(data.train_labels)), held_out)
    return dataclasses.replace(
        data, train_images=data.train_images[kept], train_labels=data.train_labels[kept],
        test_images=data.train_images[held_out], test_labels=data.train_labels[held_out])


def evaluation_split(config):
    """What the run evaluates on each epoch, and names its history keys after: 'test' or 'validation'."""
    return "validation" if config.validation else "test"


def check_classes(data, source):
    """Raise ValueError unless both splits of ``data`` hold images of each of CIFAR-10's 10 classes."""
    if len(data.classes) != CLASS_COUNT:
        raise ValueError(f"the data of {source} has {len(data.classes)} classes ({', '.join(data.classes)}); "
                         f"CIFAR-10 has {CLASS_COUNT}")
    for split in ("train", "test"):
        missing = set(range(CLASS_COUNT)) - set(numpy.unique(getattr(data, f"{split}_labels")).tolist())
        if missing:
            raise ValueError(f"the {split} split of {source} has no images of class {data.classes[min(missing)]!r}")


def prepare_data(config):
    """Load CIFAR-10 (optionally with a validation split, then a class-balanced subset) and its
    training-set mean/std."""
    data = load_cifar10(config.data, cache_dir=config.cache_dir, progress=config.progress)
    check_classes(data, config.data or "the official archive")
    if config.validation:
        data = hold_out_validation(data, config.validation)
    if config.limit and config.limit > len(data.train_labels):
        raise UsageError(f"--limit {config.limit} is more than the {len(data.train_labels)} training images")
    if config.limit:
        train = balanced_subset(data.train_labels, config.limit, config.seed)
        test = balanced_subset(data.test_labels, min(len(data.test_labels), max(config.limit // 5, 10)), config.seed)
        data = dataclasses.replace(
            data, train_images=data.train_images[train], train_labels=data.train_labels[train],
            test_images=data.test_images[test], test_labels=data.test_labels[test])
    mean, std = channel_mean_std(data.train_images)
    return data, mean, std


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


def run_epoch(model, loader, optimizer=None, scheduler=None, description="", progress=True):
    """One pass over ``loader``; trains when an optimizer is given, else evaluates in eval mode; the
    model's mode is restored afterwards. Returns (loss, accuracy, predictions), predictions (on the
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
            optimizer.step()
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


def write_history(history, out):
    """history.json and history.csv, rewritten after every epoch so a stopped run keeps its curves."""
    with atomic_write(os.path.join(out, "history.json"), "w") as handle:
        json.dump(history, handle, indent=1)
    with atomic_write(os.path.join(out, "history.csv"), "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(history)
        writer.writerows(zip(*history.values()))


def _on_device(array, device):
    return backend.to_device(numpy.ascontiguousarray(array), device)


def make_train_loader(data, config, device):
    """The shuffled training loader, every array on ``device``; its augmentation is set each
    epoch by :func:`seed_epoch`.

    On the CPU a background thread prepares the next batch; on the GPU the batch is made
    by kernels queued behind the current step, so there is nothing to overlap.
    """
    dataset = ArrayDataset(_on_device(data.train_images, device), _on_device(data.train_labels, device))
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=True, seed=config.seed, prefetch=device == "cpu")


def seed_epoch(train_loader, mean, std, config, epoch, device):
    """Make the random draws of epoch ``epoch`` (augmentation and dropout) a function of the
    run's seed and the epoch alone, so a run resumed from a checkpoint continues exactly as
    the uninterrupted run would have, on the CPU or the GPU (whose generators cannot be saved).

    Augmentation gets its own generator on the images' device (no random offsets cross to the
    GPU each batch); it never shares one with dropout, which the CPU's prefetch thread would race.
    """
    augmentation_seed, dropout_seed = (int(seed) for seed in numpy.random.SeedSequence([config.seed, epoch]).generate_state(2))
    generator = backend.array_module(device).random.default_rng(augmentation_seed)
    train_loader.transform = make_train_transform(mean, std, config, generator)
    backend.manual_seed(dropout_seed)


def make_test_loader(data, mean, std, config, device):
    """The test loader: in order, normalized only."""
    transform = make_test_transform(mean, std)
    dataset = ArrayDataset(_on_device(data.test_images, device), _on_device(data.test_labels, device))
    return DataLoader(dataset, batch_size=config.eval_batch_size, transform=transform, prefetch=device == "cpu")


def save_checkpoint(model, optimizer, scheduler, train_loader, config, history):
    """Everything a resumed run needs, after the last finished epoch: random draws need nothing
    (see :func:`seed_epoch`) but the loader's shuffling generator."""
    serialization.save({
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "train_loader": train_loader.state_dict(), "config": dataclasses.asdict(config),
        "epoch": history["epoch"][-1], "history": history,
    }, os.path.join(config.out, "checkpoint.npz"))


def load_checkpoint(path):
    """The checkpoint tree at ``path``; a missing, damaged or foreign file raises one error naming it."""
    if not os.path.isfile(path):
        raise UsageError(f"cannot resume: no checkpoint at {path}")
    try:
        return serialization.load(path)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"cannot read the checkpoint {path}: it is damaged or not a checkpoint ({error})") from error


def load_resumed(config):
    """The checkpoint named by ``config.resume`` and the config to continue it with: the saved
    one, writing into the checkpoint's directory, with the RESUME_OVERRIDES taken from ``config``."""
    path = checkpoint_path(config.resume)
    checkpoint = load_checkpoint(path)
    if any(PARALLEL_LISTS_KEY.match(key) for key in checkpoint["model"]):
        raise UsageError(f"cannot resume {path}: it was saved by the parallel-lists layout of UltimusNet "
                         "(features.convs.*), whose optimizer state follows another parameter order; "
                         "its weights still load with UltimusNet.load_state_dict")
    overrides = {key: getattr(config, key) for key in RESUME_OVERRIDES}
    for key in ("data", "cache_dir"):  # not given: where the run found its data
        overrides[key] = overrides[key] or checkpoint["config"][key]
    resumed = config_from_checkpoint(checkpoint, out=os.path.dirname(os.path.abspath(path)), resume=None, **overrides)
    if checkpoint["epoch"] >= resumed.epochs:
        raise UsageError(f"cannot resume {path}: the run has finished all of its {resumed.epochs} epochs")
    return checkpoint, resumed


def choose_run(config):
    """The checked checkpoint (None for a new run) and config of the run ``config`` asks for; makes nothing."""
    check_config(config)
    if config.resume:
        checkpoint, config = load_resumed(config)
        check_config(config)
        check_run_directory(config.out, resuming=True)
        return checkpoint, config
    config = dataclasses.replace(config, out=config.out or fresh_run_directory())
    check_run_directory(config.out, config.overwrite)
    return None, config


def train(config):
    """Run the whole job described by ``config``, or continue the run named by ``config.resume``;
    returns the history and final metrics.

    Every setting is checked before any work, the data before the run directory is made.
    """
    checkpoint, config = choose_run(config)
    print(f"run directory: {config.out}", flush=True)
    device = backend.normalize_device(config.device)
    if config.device == "auto":
        print(f"device: {device} (chosen by --device auto)", flush=True)
    if device == "cpu":
        backend.keep_freed_cpu_memory()
    backend.manual_seed(config.seed)
    data, mean, std = prepare_data(config)
    check_data_fits(config, len(data.train_labels))
    # A diverging loss is reported by the loop itself; NumPy's overflow warnings would only repeat it.
    with RunDirectory(config.out, overwrite=config.overwrite and checkpoint is None), \
            numpy.errstate(over="ignore", invalid="ignore"):
        history, predictions = fit(data, mean, std, config, device, checkpoint)
        save_figures(data, mean, std, predictions, config, history)
    split = evaluation_split(config)
    return {"history": history, "split": split, f"{split}_accuracy": history[f"{split}_accuracy"][-1], "out": config.out}


def fit(data, mean, std, config, device, checkpoint=None):
    """Train for the epochs ``config`` asks for (after those of ``checkpoint``), saving history and
    checkpoint after each; returns the history and the last evaluation's predictions.

    A diverged epoch keeps the files of the last finished one, draws their figures and raises RuntimeError.
    """
    train_loader = make_train_loader(data, config, device)
    test_loader = make_test_loader(data, mean, std, config, device)
    model = UltimusNet(num_classes=len(data.classes), dropout=config.dropout, scaling=config.scaling,
                       variant=config.variant).to(device)
    with atomic_write(os.path.join(config.out, "summary.txt"), "w") as handle:
        handle.write(summary(model, (3, 32, 32), device=device) + "\n")
    optimizer = Adam(model.parameters(), lr=config.max_lr / config.div_factor)
    scheduler = OneCycleLR(
        optimizer, max_lr=config.max_lr, epochs=config.epochs, steps_per_epoch=len(train_loader),
        pct_start=config.pct_start, div_factor=config.div_factor,
        final_div_factor=config.final_div_factor, anneal_strategy=config.anneal_strategy)

    split = evaluation_split(config)
    keys = ("epoch", "train_loss", "train_accuracy", f"{split}_loss", f"{split}_accuracy", "lr", "seconds")
    history, predictions = {key: [] for key in keys}, None
    if checkpoint is not None:
        for part, state in ((model, "model"), (optimizer, "optimizer"), (scheduler, "scheduler"), (train_loader, "train_loader")):
            part.load_state_dict(checkpoint[state])
        history = checkpoint["history"]
        print(f"resuming {config.out} after epoch {checkpoint['epoch']} of {config.epochs}", flush=True)
    for epoch in range(len(history["epoch"]) + 1, config.epochs + 1):
        seed_epoch(train_loader, mean, std, config, epoch, device)
        started, lr = time.perf_counter(), scheduler.get_last_lr()[0]
        try:
            train_loss, train_accuracy, _ = run_epoch(
                model, train_loader, optimizer, scheduler, f"epoch {epoch}/{config.epochs} train", config.progress)
        except Diverged as diverged:
            raise RuntimeError(f"training diverged at epoch {epoch}, {diverged}; "
                               f"{_what_is_kept(data, mean, std, predictions, config, history)}") from None
        held_out_loss, held_out_accuracy, predictions = run_epoch(
            model, test_loader, description=f"epoch {epoch}/{config.epochs} {split}", progress=config.progress)
        values = (epoch, train_loss, train_accuracy, held_out_loss, held_out_accuracy, lr, time.perf_counter() - started)
        for key, value in zip(history, values):
            history[key].append(value)
        write_history(history, config.out)
        save_checkpoint(model, optimizer, scheduler, train_loader, config, history)
        print(f"epoch {epoch:2d}  train loss {train_loss:.4f} acc {train_accuracy:.4f}  {split} loss "
              f"{held_out_loss:.4f} acc {held_out_accuracy:.4f}  lr {lr:.5f}  {history['seconds'][-1]:.1f}s", flush=True)
    return history, predictions


def _what_is_kept(data, mean, std, predictions, config, history):
    """After a divergence: draw the figures of the finished epochs, and say what is left on disk."""
    if not history["epoch"]:
        return "no epoch finished, so there is nothing to keep"
    save_figures(data, mean, std, predictions, config, history)
    return f"the checkpoint, history and figures of epoch {history['epoch'][-1]} are kept in {config.out}"


def save_figures(data, mean, std, predictions, config, history):
    """The assignment's figures: augmented samples, curves and, when there are ``predictions``,
    misclassified test images and the confusion matrix."""
    out = config.out
    shown = balanced_subset(data.train_labels, min(32, len(data.train_labels)), seed=0)  # the archive is ordered by class
    augment = make_train_transform(mean, std, config, numpy.random.default_rng(config.seed))
    samples, labels = augment((data.train_images[shown], data.train_labels[shown]))
    plots.save_sample_grid(samples, labels, data.classes, mean, std, os.path.join(out, "augmented_samples.png"))
    plots.save_history_curves(history, os.path.join(out, "curves.png"))
    if predictions is None:  # a resumed run that diverged before evaluating anything
        return
    # The archive is ordered by class: shuffle, so that the first misclassified images span the classes.
    # The raw uint8 pixels are shown (30 MB, where the normalized test set would be 120 MB of floats):
    # "denormalizing" them with mean 0 and std 1/255 maps 0..255 to 0..1.
    order = numpy.random.default_rng(0).permutation(len(data.test_labels))
    raw_pixels = data.test_images[order].transpose(0, 3, 1, 2)
    plots.save_misclassified(raw_pixels, data.test_labels[order], predictions[order], data.classes,
                             numpy.zeros(3), numpy.full(3, 1 / 255), os.path.join(out, "misclassified.png"))
    plots.save_confusion_matrix(data.test_labels, predictions, data.classes, os.path.join(out, "confusion_matrix.png"))
