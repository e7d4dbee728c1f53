"""SIGKILL a training process at random moments and inside its file writes: the last checkpoint
always loads, the stale lock is reported, and --resume finishes the run with the numbers of an
uninterrupted one. A full disk: one error naming the file, the last saved epoch kept."""
import errno
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPOSITORY

import ultimus.training.train
from minigrad import serialization
from ultimus.errors import UsageError
from ultimus.training.checkpoints import load_checkpoint
from ultimus.training.config import TrainConfig
from ultimus.training.history import read_history
from ultimus.training.train import train

EPOCHS = 2

# The child runs the command line; KILL_BEFORE_REPLACING=name:n makes it SIGKILL itself when a
# finished temporary file is about to replace ``name`` for the n-th time (inside atomic_write).
CHILD = """
import os, runpy, signal, sys
target = os.environ.get("KILL_BEFORE_REPLACING")
if target:
    name, count = target.split(":")
    seen, real_replace = [], os.replace
    def replace(source, destination):
        if os.path.basename(destination) == name:
            seen.append(1)
            if len(seen) == int(count):
                os.kill(os.getpid(), signal.SIGKILL)
        real_replace(source, destination)
    os.replace = replace
sys.argv = ["train_cifar.py", *sys.argv[1:]]
runpy.run_path(os.path.join("examples", "train_cifar.py"), run_name="__main__")
"""


def settings(folder, cache, out):
    return dict(device="cpu", data=str(folder), cache_dir=str(cache), epochs=EPOCHS, batch_size=8, seed=3,
                out=str(out), progress=False)


def start_child(folder, cache, out, kill_before_replacing=None):
    arguments = ["--device", "cpu", "--data", str(folder), "--cache-dir", str(cache), "--epochs", str(EPOCHS),
                 "--batch-size", "8", "--seed", "3", "--out", str(out), "--no-progress"]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    if kill_before_replacing:
        environment["KILL_BEFORE_REPLACING"] = kill_before_replacing
    return subprocess.Popen([sys.executable, "-c", CHILD, *arguments], cwd=REPOSITORY, env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def recover_and_finish(folder, cache, out, reference):
    """What a user does after the crash: the checkpoint loads, the stale lock is reported and removed,
    --resume (or a new start, before any checkpoint) completes the run with the reference numbers."""
    lock = out / "run.lock"
    if lock.exists():
        with pytest.raises(UsageError, match=f"stale lock {lock}: its process"):
            train(TrainConfig(**settings(folder, cache, out)))
        lock.unlink()
    checkpoint = out / "checkpoint.npz"
    if not checkpoint.exists():
        history = train(TrainConfig(**settings(folder, cache, out))).history
    else:
        epoch = load_checkpoint(str(checkpoint))["epoch"]
        # The history is written just after the checkpoint: it lists the checkpoint's epochs, or all but the last.
        assert read_history(out / "history.json").column("epoch") in (list(range(1, epoch + 1)), list(range(1, epoch)))
        if epoch == EPOCHS:  # killed while drawing the last figures: the run itself is complete
            return
        history = train(TrainConfig(resume=str(out), progress=False)).history
    assert history.column("train_loss") == reference.column("train_loss") and history.column("eval_loss") == reference.column("eval_loss")


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_run_that_resumes(tiny_cifar_folder, tiny_cache, tmp_path):
    reference = train(TrainConfig(**settings(tiny_cifar_folder, tiny_cache, tmp_path / "reference"))).history
    started = time.monotonic()
    assert start_child(tiny_cifar_folder, tiny_cache, tmp_path / "timed").wait() == 0
    whole_run = time.monotonic() - started

    inside_writes = ["checkpoint.npz:2", "history.json:2", "curves.png:1"]
    delays = [random.Random(seed).uniform(0, whole_run) for seed in range(4)]
    for attempt, moment in enumerate([*inside_writes, *delays]):
        out = tmp_path / f"killed{attempt}"
        if isinstance(moment, str):
            child = start_child(tiny_cifar_folder, tiny_cache, out, kill_before_replacing=moment)
            assert child.wait() == -signal.SIGKILL, moment
        else:
            child = start_child(tiny_cifar_folder, tiny_cache, out)
            time.sleep(moment)
            child.send_signal(signal.SIGKILL)
            child.wait()
        if out.exists():
            recover_and_finish(tiny_cifar_folder, tiny_cache, out, reference)


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def full_at_the_second_call(real):
    calls = []

    def write(*args, **kwargs):
        calls.append(1)
        return (no_space if len(calls) == 2 else real)(*args, **kwargs)

    return write


def test_a_full_disk_at_a_checkpoint_names_it_and_keeps_the_last_saved_epoch(tiny_cifar_folder, tiny_cache, tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(serialization, "save", full_at_the_second_call(serialization.save))
    with pytest.raises(OSError) as failed:
        train(TrainConfig(**settings(tiny_cifar_folder, tiny_cache, out)))
    assert str(failed.value) == (f"cannot save epoch 2 into {out / 'checkpoint.npz'} (No space left on device); "
                                 f"the checkpoint and history of epoch 1 are kept: continue with --resume {out}")
    assert load_checkpoint(str(out / "checkpoint.npz"))["epoch"] == 1
    assert read_history(out / "history.json").column("epoch") == [1]  # not the epoch whose checkpoint failed
    assert not (out / "run.lock").exists()


def test_a_full_disk_at_the_history_names_the_checkpoint_that_holds_it(tiny_cifar_folder, tiny_cache, tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(ultimus.training.train, "write_history", full_at_the_second_call(ultimus.training.train.write_history))
    with pytest.raises(OSError) as failed:
        train(TrainConfig(**settings(tiny_cifar_folder, tiny_cache, out)))
    assert str(failed.value) == (f"cannot write the history of epoch 2 into {out} (No space left on device); "
                                 f"the checkpoint {out / 'checkpoint.npz'} holds it: "
                                 f"draw the figures with: python examples/plot_run.py {out}")
    assert load_checkpoint(str(out / "checkpoint.npz"))["epoch"] == 2  # the last: only the figures are missing
