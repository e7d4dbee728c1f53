"""A checkpoint given to --resume: what it records, and the one-line refusals that come before any data is read."""
import shutil

import pytest

import ultimus.data.datasets
import ultimus.training.train
from minigrad import serialization
from ultimus.errors import UsageError
from ultimus.model import UltimusNet
from ultimus.training.checkpoints import load_checkpoint
from ultimus.training.config import TrainConfig
from ultimus.training.train import train


@pytest.fixture(scope="module")
def stopped_run(tiny_cifar_folder, tiny_cache, tmp_path_factory):
    """A run of 2 epochs interrupted in its second, started from the folder above the data with a
    relative --data; returns its directory."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    passes, real_run_epoch = [], ultimus.training.train.run_epoch

    def interrupted_in_the_second_epoch(*args, **kwargs):
        if len(passes) == 2:
            raise KeyboardInterrupt
        passes.append(1)
        return real_run_epoch(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ultimus.training.train, "run_epoch", interrupted_in_the_second_epoch)
        patch.chdir(tiny_cifar_folder.parent)
        with pytest.raises(KeyboardInterrupt):
            train(TrainConfig(device="cpu", data=tiny_cifar_folder.name, cache_dir=str(tiny_cache), epochs=2,
                              batch_size=8, out=str(out), progress=False))
    return out


@pytest.fixture
def run(stopped_run, tmp_path):
    """A copy of the stopped run, for one test to change."""
    return shutil.copytree(stopped_run, tmp_path / "run")


@pytest.fixture
def no_data_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data was loaded before the checkpoint was checked")

    monkeypatch.setattr(ultimus.data.datasets, "load_cifar10", refuse)


def change_checkpoint(run, change):
    path = run / "checkpoint.npz"
    checkpoint = serialization.load(path)
    change(checkpoint)
    serialization.save(checkpoint, path)
    return path


def test_the_data_is_recorded_absolute_so_a_run_resumes_from_any_directory(run, tiny_cifar_folder, monkeypatch):
    assert load_checkpoint(run / "checkpoint.npz")["config"]["data"] == str(tiny_cifar_folder)
    monkeypatch.chdir(run)
    assert train(TrainConfig(resume=str(run), progress=False)).history.column("epoch") == [1, 2]


def test_recorded_data_that_is_gone_is_refused_with_a_hint_before_any_work(run, tiny_cifar_folder, monkeypatch):
    path = change_checkpoint(run, lambda checkpoint: checkpoint["config"].update(data="images"))  # relative, as older runs
    monkeypatch.chdir(run)
    with monkeypatch.context() as patch:
        patch.setattr(ultimus.data.datasets, "load_cifar10", lambda *args, **kwargs: pytest.fail("the data was read"))
        with pytest.raises(UsageError) as refused:
            train(TrainConfig(resume=str(run), progress=False))
    assert str(refused.value) == (f"the data this run was trained on, images (recorded in {path}), is not there; "
                                  "pass --data to say where it is now")
    assert train(TrainConfig(resume=str(run), data=str(tiny_cifar_folder), progress=False)).history.column("epoch") == [1, 2]


@pytest.mark.parametrize("part", ["history", "model"])
def test_a_checkpoint_missing_a_part_is_one_error_naming_the_file_and_the_part(run, no_data_loading, part):
    path = change_checkpoint(run, lambda checkpoint: checkpoint.pop(part))
    with pytest.raises(ValueError) as refused:
        train(TrainConfig(resume=str(run), progress=False))
    assert str(refused.value) == f"the checkpoint {path} is incomplete: it has no {part}"


def test_another_networks_checkpoint_is_refused_before_the_data_naming_the_file(run, no_data_loading):
    path = change_checkpoint(run, lambda checkpoint: checkpoint.update(model=UltimusNet(blocks=2).state_dict()))
    with pytest.raises(UsageError) as refused:
        train(TrainConfig(resume=str(run), progress=False))
    message = str(refused.value)
    assert message.startswith(f"the checkpoint {path} holds another network than UltimusNet --variant assignment "
                              "(error loading state_dict into UltimusNet: missing keys: blocks.2.")
    assert len(message) < 500 and "\n" not in message
    assert not (run / "run.lock").exists()
