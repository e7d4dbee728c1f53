"""A training run's settings and their checks, made before any work starts.

``check_config`` looks at a ``TrainConfig`` alone (no data read, no directory made);
``check_data_fits`` looks at it again once the data's size is known. Both raise
:class:`UsageError`, which the command line reports in one line with exit code 2.
"""
import dataclasses
import math
import numbers

from minigrad import backend
from ultimus.data.cache import check_cache_dir
from ultimus.data.cifar10 import CLASS_COUNT
from ultimus.errors import UsageError
from ultimus.model import DROPOUT, SCALINGS, VARIANTS

MIN_LIMIT = CLASS_COUNT  # a class-balanced subset needs one image of every class


@dataclasses.dataclass
class TrainConfig:
    """Every knob of a run; the defaults are the assignment's recipe."""

    epochs: int = 24
    batch_size: int = 512
    max_lr: float = 0.01
    div_factor: float = 10.0  # start at max_lr / 10 = 0.001
    pct_start: float = 5 / 24  # the peak comes at epoch 5 of 24: the same fraction for any length
    final_div_factor: float = 1e4
    anneal_strategy: str = "linear"
    dropout: float = DROPOUT
    scaling: str = "inside"
    variant: str = "assignment"  # or "residual": each Ultimus block adds its input to its output
    coarse_dropout_p: float = 0.5
    horizontal_flip: bool = False
    seed: int = 1
    device: str = "auto"
    data: str = None
    cache_dir: str = None
    out: str = None  # None: a fresh runs/ultimus-YYYYMMDD-HHMMSS (see ultimus.training.run_directory)
    overwrite: bool = False  # replace the run already in ``out``
    limit: int = None
    validation: int = 0  # hold out this many training images and evaluate on them instead of the test set
    eval_batch_size: int = 1000
    progress: bool = True
    resume: str = None  # a run directory (or its checkpoint.npz) to continue from its last finished epoch
    # Every 50th step: about two records per epoch of the full data (98 steps), ~47 over 24 epochs, enough
    # for the figure's moments; each costs a copy and a norm of the 26k weights. 0: no recording.
    gradient_flow_every: int = 50

    def one_cycle_options(self, steps_per_epoch):
        """The keyword arguments of OneCycleLR (ours and PyTorch's take the same) for this recipe."""
        return dict(max_lr=self.max_lr, epochs=self.epochs, steps_per_epoch=steps_per_epoch, pct_start=self.pct_start,
                    div_factor=self.div_factor, final_div_factor=self.final_div_factor,
                    anneal_strategy=self.anneal_strategy)


# What a resumed run may change: where it runs and reads its data, not what it computes.
RESUME_OVERRIDES = ("device", "data", "cache_dir", "eval_batch_size", "progress")

CHOICES = {"anneal_strategy": ("linear", "cos"), "scaling": SCALINGS, "variant": VARIANTS, "device": ("auto", "cpu", "gpu")}


def option(name):
    """The command-line spelling of a TrainConfig field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def _integer(config, name, minimum):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise UsageError(f"{option(name)} must be {wanted}, got {value!r}")


def _real(config, name, accepts, wanted):
    """A finite real number for which ``accepts(value)`` holds; ``wanted`` says which in the error."""
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not accepts(value):
        raise UsageError(f"{option(name)} must be {wanted}, got {value!r}")


def check_config(config):
    """Raise UsageError naming the first setting of ``config`` a run cannot start with."""
    for name in ("epochs", "batch_size", "eval_batch_size"):
        _integer(config, name, 1)
    for name in ("seed", "validation", "gradient_flow_every"):
        _integer(config, name, 0)
    if config.limit is not None:
        _integer(config, "limit", MIN_LIMIT)
    for name in ("max_lr", "div_factor", "final_div_factor"):
        _real(config, name, lambda value: value > 0, "finite and > 0")
    _real(config, "pct_start", lambda value: 0 < value < 1, "in (0, 1)")
    _real(config, "dropout", lambda value: 0 <= value < 1, "in [0, 1)")  # 1 would zero every activation
    _real(config, "coarse_dropout_p", lambda value: 0 <= value <= 1, "in [0, 1]")  # 1: a hole in every image
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise UsageError(f"{option(name)} must be one of {', '.join(allowed)}, got {getattr(config, name)!r}")
    if config.cache_dir is not None:
        try:
            check_cache_dir(config.cache_dir, option("cache_dir"))
        except ValueError as error:
            raise UsageError(str(error)) from None
    if config.device == "gpu" and not backend.gpu_available():
        raise UsageError("--device gpu: no GPU found (CuPy is not installed or sees no CUDA device); use --device cpu")


def check_data_fits(config, train_size):
    """Raise UsageError when one batch needs more than the ``train_size`` training images."""
    if config.batch_size > train_size:
        raise UsageError(f"--batch-size {config.batch_size} is larger than the training data ({train_size} images); "
                         f"use --batch-size {train_size} or less")
