"""A run's checkpoint.npz: what a resumed run needs after the last finished epoch, and choosing
the run to start or continue."""
import dataclasses
import os
import textwrap
import zipfile
import zlib

from minigrad import serialization
from ultimus.data.cifar10 import CLASS_COUNT
from ultimus.errors import UsageError
from ultimus.model import PARALLEL_LISTS_KEY, UltimusNet
from ultimus.training.config import RESUME_OVERRIDES, TrainConfig, check_config
from ultimus.training.history import History
from ultimus.training.run_directory import CHECKPOINT, fresh_run_directory, output_path

PARTS = ("model", "optimizer", "scheduler", "train_loader", "config", "epoch", "history")


def find_checkpoint(run):
    """The checkpoint file of ``run``, a run directory or the checkpoint itself; UsageError when there is none."""
    if os.path.isdir(run):
        if not os.path.isfile(os.path.join(run, CHECKPOINT)):
            raise UsageError(f"{run} holds no run: it has no {CHECKPOINT}")
        return os.path.join(run, CHECKPOINT)
    if not os.path.isfile(run):
        raise UsageError(f"no run at {run}: no such directory or checkpoint file")
    return run


def run_directory_of(path):
    """The run directory of the checkpoint file ``path``."""
    return os.path.dirname(os.path.abspath(path))


def config_from_checkpoint(checkpoint, path, **overrides):
    """The TrainConfig the checkpoint at ``path`` was trained with (keys this version lacks are
    dropped), writing into its directory, with ``overrides``; a ``data`` or ``cache_dir`` of None
    keeps the recorded one. Recorded data that is gone is refused with a hint to pass --data."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    recorded = TrainConfig(**{key: value for key, value in checkpoint["config"].items() if key in fields})
    for key in ("data", "cache_dir"):  # not given: where the run found its data
        if overrides.get(key) is None:
            overrides.pop(key, None)
    config = dataclasses.replace(recorded, out=run_directory_of(path), resume=None, **overrides)
    if "data" not in overrides and config.data is not None and not os.path.exists(os.path.expanduser(config.data)):
        raise UsageError(f"the data this run was trained on, {config.data} (recorded in {path}), is not there; "
                         "pass --data to say where it is now")
    return config


def with_absolute_paths(config):
    """``config`` with its data and cache paths absolute, so that a checkpoint works from any directory."""
    def absolute(path):
        return os.path.abspath(os.path.expanduser(path)) if path else path

    return dataclasses.replace(config, data=absolute(config.data), cache_dir=absolute(config.cache_dir))


def save_checkpoint(model, optimizer, scheduler, train_loader, config, history):
    """Everything a resumed run needs, after the last finished epoch: random draws need nothing
    (see :func:`ultimus.data.loaders.epoch_seeds`) but the loader's shuffling generator."""
    serialization.save({
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "train_loader": train_loader.state_dict(), "config": dataclasses.asdict(config),
        "epoch": history.records[-1].epoch, "history": history.to_json(),
    }, output_path(config.out, CHECKPOINT))


def load_checkpoint(path):
    """The checkpoint tree in the file ``path``, its history a :class:`History`; a damaged, incomplete
    or foreign file raises one error naming it."""
    try:
        checkpoint = serialization.load(path)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"cannot read the checkpoint {path}: it is damaged or not a checkpoint ({error})") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"cannot read the checkpoint {path}: it holds a {type(checkpoint).__name__}, not a checkpoint")
    missing = [part for part in PARTS if part not in checkpoint]
    if missing:
        raise ValueError(f"the checkpoint {path} is incomplete: it has no {', '.join(missing)}")
    try:
        history = History.from_json(checkpoint["history"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"the checkpoint {path} holds a damaged history ({type(error).__name__}: {error})") from error
    return dict(checkpoint, history=history)


def load_model(checkpoint, path, config):
    """The network ``config`` describes, holding ``checkpoint``'s weights; UsageError, naming the
    checkpoint file ``path``, when they are another network's."""
    model = UltimusNet.for_run(config, CLASS_COUNT)
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, TypeError, ValueError) as error:
        raise UsageError(f"the checkpoint {path} holds another network than UltimusNet --variant {config.variant} "
                         f"({textwrap.shorten(str(error), 300, placeholder=' ...')})") from error
    return model


def load_resumed(config):
    """The checkpoint named by ``config.resume`` and the config to continue it with: the saved
    one, writing into the checkpoint's directory, with the RESUME_OVERRIDES taken from ``config``."""
    path = find_checkpoint(config.resume)
    checkpoint = load_checkpoint(path)
    if any(PARALLEL_LISTS_KEY.match(key) for key in checkpoint["model"]):
        raise UsageError(f"cannot resume {path}: it was saved by the parallel-lists layout of UltimusNet "
                         "(features.convs.*), whose optimizer state follows another parameter order; "
                         "its weights still load with UltimusNet.load_state_dict")
    resumed = config_from_checkpoint(checkpoint, path, **{key: getattr(config, key) for key in RESUME_OVERRIDES})
    check_config(resumed)
    load_model(checkpoint, path, resumed)  # only to refuse another network's weights before the data is read
    if checkpoint["epoch"] >= resumed.epochs:
        raise UsageError(f"cannot resume {path}: the run has finished all of its {resumed.epochs} epochs; "
                         f"redraw its figures with: python examples/plot_run.py {resumed.out}")
    return checkpoint, resumed


def choose_out(config):
    """The run directory of the run ``config`` asks for: the resumed checkpoint's, --out, or a fresh one."""
    if config.resume:
        return run_directory_of(find_checkpoint(config.resume))
    return config.out or fresh_run_directory()


def choose_run(config, out):
    """The checkpoint (None for a new run) and the checked config of the run ``config`` asks for,
    writing into ``out`` (see :func:`choose_out`); reads no data."""
    checkpoint, config = load_resumed(config) if config.resume else (None, dataclasses.replace(config, out=out))
    return checkpoint, with_absolute_paths(config)
