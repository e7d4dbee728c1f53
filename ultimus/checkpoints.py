"""A run's checkpoint.npz: what a resumed run needs after the last finished epoch, and choosing
the run to start or continue."""
import dataclasses
import os
import zipfile
import zlib

from minigrad import serialization
from ultimus.config import RESUME_OVERRIDES, TrainConfig, UsageError, check_config
from ultimus.history import History
from ultimus.model import PARALLEL_LISTS_KEY
from ultimus.run_directory import check_run_directory, fresh_run_directory


def checkpoint_path(run):
    """The checkpoint of ``run``: a run directory or the checkpoint file itself."""
    return os.path.join(run, "checkpoint.npz") if os.path.isdir(run) else run


def config_from_checkpoint(checkpoint, **overrides):
    """The TrainConfig a checkpoint was trained with (keys this version lacks are dropped), with ``overrides``."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{key: value for key, value in checkpoint["config"].items() if key in fields})
    return dataclasses.replace(config, **overrides)


def save_checkpoint(model, optimizer, scheduler, train_loader, config, history):
    """Everything a resumed run needs, after the last finished epoch: random draws need nothing
    (see :func:`ultimus.loaders.epoch_seeds`) but the loader's shuffling generator."""
    serialization.save({
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "train_loader": train_loader.state_dict(), "config": dataclasses.asdict(config),
        "epoch": history.records[-1].epoch, "history": history.to_json(),
    }, os.path.join(config.out, "checkpoint.npz"))


def load_checkpoint(path):
    """The checkpoint tree at ``path``, its history a :class:`History`; a missing, damaged or
    foreign file raises one error naming it."""
    if not os.path.isfile(path):
        raise UsageError(f"cannot resume: no checkpoint at {path}")
    try:
        checkpoint = serialization.load(path)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"cannot read the checkpoint {path}: it is damaged or not a checkpoint ({error})") from error
    return dict(checkpoint, history=History.from_json(checkpoint["history"]))


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
