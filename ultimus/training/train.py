"""Training Ultimus on CIFAR-10 with the assignment's recipe: Adam, One Cycle (0.001 -> 0.01 at
epoch 5 -> anneal), 24 epochs, batch 512, random crop + CoarseDropout augmentation.

``train(config)`` tells the whole story: prepare (check the config, claim the run directory, load the
data, build the model, optimizer and schedule, or restore them from a checkpoint), train epoch by
epoch, finish (figures). It runs in a locked run directory (see ``ultimus.training.run_directory``) and
leaves there (``ultimus.training.run_directory.OUTPUTS``): history.json/.csv
(see ``ultimus.training.history``), summary.txt, checkpoint.npz, the figures of ``ultimus.diagnostics.figures``,
attention.png and gradient_flow.png (``ultimus.diagnostics.attention``, ``ultimus.diagnostics.gradient_flow``) and
report.md (``ultimus.training.report``).
A non-finite training loss stops the run.
"""
import contextlib
import dataclasses
import math
import os
import time

import numpy

from minigrad import Tensor, backend, no_grad
from minigrad import functional as F
from minigrad.atomic import atomic_write
from minigrad.data import DataLoader
from minigrad.nn import summary
from minigrad.optim import Adam
from minigrad.optim.lr_scheduler import OneCycleLR
from ultimus.data.datasets import prepare_data
from ultimus.data.loaders import augment_epoch, make_eval_loader, make_train_loader, seed_dropout
from ultimus.diagnostics.gradient_flow import GradientFlow, merge_records
from ultimus.model import UltimusNet
from ultimus.progress import tqdm
from ultimus.training.checkpoints import choose_out, choose_run, save_checkpoint
from ultimus.training.config import check_config, check_data_fits
from ultimus.training.history import EpochRecord, History, write_history
from ultimus.training.interrupts import end_of_step, interrupts_between_steps
from ultimus.training.run_directory import CHECKPOINT, RunDirectory, output_path
from ultimus.training.run_outputs import save_run_outputs, what_is_kept


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

    Every setting is checked before any work; the run directory is claimed before the data is read
    (see ``ultimus.training.run_directory``). An interrupt (KeyboardInterrupt) gets a message saying what the
    run keeps and how to go on.
    """
    check_config(config)
    out = choose_out(config)
    # A diverging loss is reported by the loop itself; NumPy's overflow warnings would only repeat it.
    with RunDirectory(out, overwrite=config.overwrite and not config.resume, continuing=bool(config.resume)) as directory, \
            numpy.errstate(over="ignore", invalid="ignore"):
        with explaining_interrupts(lambda: what_an_interrupt_keeps(out)):
            checkpoint, config = choose_run(config, out)
            device = set_up_device(config)
            config = dataclasses.replace(config, device=device)
            data, mean, std = prepare_data(config)
            check_data_fits(config, len(data.train_labels))
            directory.clear_previous_run()
            with interrupts_between_steps():
                run = prepare_run(data, mean, std, config, device, checkpoint)
                predictions = train_epochs(run, data, mean, std, config, device)
        with explaining_interrupts(lambda: f"interrupted while drawing the figures of the finished run; "
                                           f"redraw them with: python examples/plot_run.py {out}"):
            save_run_outputs(run.model, run.eval_loader, data, mean, std, predictions, config, run.history)
    return TrainResult(run.history, data.eval_split, run.history.records[-1].eval_accuracy, out)


@contextlib.contextmanager
def explaining_interrupts(explain):
    """Give a KeyboardInterrupt raised in the body the message ``explain()``; its type is kept, since
    the command line's exit code tells Ctrl-C from SIGTERM by it."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        interrupt.args = (explain(),)
        raise


def what_an_interrupt_keeps(out):
    """What an interrupted run leaves in ``out``, and how to go on."""
    if os.path.exists(os.path.join(out, CHECKPOINT)):
        return f"interrupted; the checkpoint of the last finished epoch is kept: continue with --resume {out}"
    return "interrupted before the first epoch was saved, so nothing is kept"


def set_up_device(config):
    """The device the run uses (see :func:`ready_device`), announced with the run directory."""
    print(f"run directory: {config.out}", flush=True)
    device = ready_device(config)
    if config.device == "auto":
        print(f"device: {device} (chosen by --device auto)", flush=True)
    return device


def ready_device(config):
    """'cpu' or 'gpu' for ``config.device``, made ready for training: on the CPU freed memory is kept for the
    next step (backend.keep_freed_cpu_memory), and the global generator is seeded with ``config.seed``."""
    device = backend.normalize_device(config.device)
    if device == "cpu":
        backend.keep_freed_cpu_memory()
    backend.manual_seed(config.seed)
    return device


def prepare_run(data, mean, std, config, device, checkpoint=None):
    """The model, optimizer, schedule, loaders and history of a new run, or of ``checkpoint``'s;
    writes summary.txt."""
    # The eval loader draws its unused shuffling seed from the global generator: make it before the model.
    train_loader, eval_loader = make_train_loader(data, config, device), make_eval_loader(data, mean, std, config, device)
    model = UltimusNet.for_run(config, len(data.classes)).to(device)
    with atomic_write(output_path(config.out, "summary.txt"), "w") as handle:
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
                               f"{what_is_kept(data, mean, std, predictions, config, run.history)}") from None
        run.history.records.append(record)
        if run.gradient_flow is not None:
            run.history.gradient_flow = merge_records(run.history.gradient_flow, run.gradient_flow.take_records())
        save_epoch(run, config)
        print(f"epoch {epoch:2d}  train loss {record.train_loss:.4f} acc {record.train_accuracy:.4f}  "
              f"{run.history.eval_split} loss {record.eval_loss:.4f} acc {record.eval_accuracy:.4f}  "
              f"lr {record.lr:.5f}  {record.seconds:.1f}s", flush=True)
    return predictions


def save_epoch(run, config):
    """The checkpoint of the epoch just finished, then its history: history.json never lists an
    epoch that the checkpoint lacks. A failed write is one error naming the file and what is kept."""
    epoch, checkpoint = run.history.records[-1].epoch, output_path(config.out, CHECKPOINT)
    try:
        save_checkpoint(run.model, run.optimizer, run.scheduler, run.train_loader, config, run.history)
    except OSError as error:
        kept = (f"the checkpoint and history of epoch {epoch - 1} are kept: continue with --resume {config.out}"
                if os.path.exists(checkpoint) else "no epoch was saved, so nothing is kept")
        raise OSError(f"cannot save epoch {epoch} into {checkpoint} ({error.strerror or error}); {kept}") from error
    try:
        write_history(run.history, config.out)
    except OSError as error:
        go_on = (f"continue with --resume {config.out}" if epoch < config.epochs
                 else f"draw the figures with: python examples/plot_run.py {config.out}")
        raise OSError(f"cannot write the history of epoch {epoch} into {config.out} ({error.strerror or error}); "
                      f"the checkpoint {checkpoint} holds it: {go_on}") from error


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


# Steps between the loop's read-backs from the device: rare enough not to stall a GPU, often enough to stop a
# diverged run soon after its first non-finite loss.
READ_BACK_EVERY = 10


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


def step_optimizer(optimizer, flow, step):
    """optimizer.step(), seen by the GradientFlow recorder ``flow`` (None: no recording) as the run's step ``step``."""
    if flow is not None:
        flow.before_step(step)
    optimizer.step()
    if flow is not None:
        flow.after_step(step)


def show_progress(bar, loss, accuracy, lr=None):
    """The running loss and accuracy (and, when training, the lr of the last step) on the progress bar."""
    postfix = {"loss": f"{loss:.4f}", "acc": f"{accuracy:.3f}"}
    if lr is not None:
        postfix["lr"] = f"{lr:.5f}"
    bar.set_postfix(postfix)


def run_epoch(model, loader, optimizer=None, scheduler=None, description="", progress=True, flow=None, first_step=0):
    """One pass over ``loader``; trains when an optimizer is given, else evaluates in eval mode; the
    model's mode is restored afterwards. A :class:`GradientFlow` ``flow`` sees each optimizer step,
    numbered from ``first_step`` (the steps of the run's earlier epochs). Returns (loss, accuracy, predictions), predictions (on the
    CPU) only when evaluating, None when training.

    Sums stay on the device and are read back every READ_BACK_EVERY steps and at the end, not once per
    batch; that is when the progress bar moves and when training checks its losses, raising
    :class:`Diverged` at the first non-finite one (so, at most READ_BACK_EVERY steps after it).
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
            step_optimizer(optimizer, flow, first_step + step)
            scheduler.step()
            recent.append((step, loss.data, lr))
        predicted = logits.data.argmax(axis=1)
        if not training:
            predictions.append(predicted)
        total_loss = total_loss + loss.data * len(labels)
        correct = correct + (predicted == labels).sum()
        seen += len(labels)
        end_of_step()  # where a Ctrl-C held during the step stops the run
        # The only read-backs from the device: the training loss for the divergence check, and the progress bar.
        if step == len(loader) - 1 or (step % READ_BACK_EVERY == 0 and (training or progress)):
            loss_sum = float(total_loss)
            if training:
                _stop_if_diverged(loss_sum, recent, len(loader))
                recent = []
            if progress:
                show_progress(bar, loss_sum / seen, float(correct) / seen, lr if training else None)
    model.train(was_training)
    if training:
        return float(total_loss) / seen, float(correct) / seen, None
    xp = backend.get_array_module(predictions[0])
    return float(total_loss) / seen, float(correct) / seen, backend.to_device(xp.concatenate(predictions), "cpu")
