"""The GPU path end to end: a command-line run on the GPU that is interrupted and resumed (on the stand-in for
CuPy without a GPU), and the budgets of a training step, measured on the stand-in: host syncs and kernel launches."""
import os
import subprocess
import sys

import pytest
from helpers import REPOSITORY

import ultimus.training.train
from minigrad import backend
from minigrad import functional as F
from ultimus.training.history import read_history
from ultimus.training.run_directory import OUTPUTS

ROOT = str(REPOSITORY)
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from gpu_launches import MEASURED_STEP, step_events  # noqa: E402
from train_cifar import main  # noqa: E402

# Kernel launches of one training step of Ultimus at batch 512 (`python benchmarks/gpu_launches.py`). It may only go
# down: lower it when a change saves launches.
LAUNCH_BUDGET = 200


def train_cifar_in_a_child(*arguments):
    """Run examples/train_cifar.py in a new process on the GPU minigrad uses now (the stand-in through its variable)."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]))
    if backend.GPU_MODULE != "cupy":
        environment[backend.STANDIN_VARIABLE] = backend.GPU_MODULE
    return subprocess.run([sys.executable, os.path.join("examples", "train_cifar.py"), *arguments], cwd=ROOT,
                          env=environment, capture_output=True, text=True)


@pytest.mark.gpu
def test_a_gpu_run_interrupted_and_resumed_leaves_every_output_and_the_uninterrupted_numbers(
        tiny_cifar_folder, tiny_cache, tmp_path, monkeypatch, capsys):
    arguments = ["--device", "gpu", "--data", str(tiny_cifar_folder), "--cache-dir", str(tiny_cache), "--epochs", "2",
                 "--batch-size", "8", "--gradient-flow-every", "2", "--no-progress"]
    with monkeypatch.context() as without_figures:  # the numbers are all this run is for
        without_figures.setattr(ultimus.training.train, "save_run_outputs", lambda *_: None)
        uninterrupted = main([*arguments, "--out", str(tmp_path / "whole")]).history
    passes, real_run_epoch = [], ultimus.training.train.run_epoch

    def interrupted_in_the_second_epoch(*args, **kwargs):
        if len(passes) == 2:  # the first epoch trained and evaluated
            raise KeyboardInterrupt
        passes.append(1)
        return real_run_epoch(*args, **kwargs)

    monkeypatch.setattr(ultimus.training.train, "run_epoch", interrupted_in_the_second_epoch)
    with pytest.raises(SystemExit) as interrupted:
        main([*arguments, "--out", str(tmp_path / "run")])
    assert interrupted.value.code == 130
    capsys.readouterr()
    resumed = train_cifar_in_a_child("--resume", str(tmp_path / "run"), "--device", "gpu", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert not [name for name in OUTPUTS if not (tmp_path / "run" / name).is_file()]
    history = read_history(tmp_path / "run" / "history.json")
    for key in ("epoch", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "lr"):
        assert history.column(key) == uninterrupted.column(key), key


def test_a_training_step_at_batch_512_keeps_the_launch_budget_with_no_sync_or_upload(standin):
    events = step_events(512, MEASURED_STEP + 2)[MEASURED_STEP]
    assert (events.count("sync"), events.count("upload")) == (0, 0), events.sites("sync") + events.sites("upload")
    launches = events.count("launch")
    assert launches <= LAUNCH_BUDGET, f"{launches} launches per step, over the budget of {LAUNCH_BUDGET}"
    assert launches == LAUNCH_BUDGET, f"{launches} launches per step: lower LAUNCH_BUDGET to {launches}"


@pytest.mark.parametrize("progress", [True, False])
def test_a_training_epoch_syncs_only_at_its_read_backs(standin, progress):
    steps = step_events(8, 23, progress)
    read_backs = {0, 10, 20, 22}
    syncs = {step: events.sites("sync") for step, events in enumerate(steps) if events.count("sync")}
    assert set(syncs) == read_backs, syncs
    assert all(len(sites) == (2 if progress else 1) for sites in syncs.values()), syncs  # the loss sum (and accuracy)


def test_without_progress_a_non_finite_loss_stops_the_run_within_10_steps(standin, monkeypatch):
    calls, real_cross_entropy = [], F.cross_entropy

    def poisoned_from_step_13(logits, labels):
        calls.append(1)
        loss = real_cross_entropy(logits, labels)
        return loss * float("nan") if len(calls) >= 13 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned_from_step_13)
    with pytest.raises(ultimus.training.train.Diverged, match="step 13 of 25: the training loss is nan"):
        step_events(8, 25, progress=False)
    assert len(calls) <= 13 + ultimus.training.train.READ_BACK_EVERY
