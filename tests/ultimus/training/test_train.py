"""The training pipeline end to end: the CLI on a slice of the real data, determinism, outputs."""
import json
import os
import sys

import numpy
import pytest
from helpers import REPOSITORY, SHARED_DATA
from PIL import Image

import ultimus.data.datasets
from ultimus.data.cifar10 import Cifar10
from ultimus.data.datasets import hold_out_validation, prepare_data
from ultimus.errors import UsageError
from ultimus.training.config import TrainConfig
from ultimus.training.history import read_history
from ultimus.training.train import train

SHARED_DATA = str(SHARED_DATA)  # the command line and TrainConfig take a path string
needs_real_data = pytest.mark.skipif(not os.path.exists(SHARED_DATA), reason=f"real CIFAR-10 archive not found at {SHARED_DATA}")
sys.path.insert(0, str(REPOSITORY / "examples"))

OUTPUTS = ("summary.txt", "history.json", "history.csv", "checkpoint.npz", "augmented_samples.png",
           "curves.png", "misclassified.png", "confusion_matrix.png")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One short CLI run on a class-balanced slice of the real data, shared by the tests below."""
    if not os.path.exists(SHARED_DATA):
        pytest.skip(f"real CIFAR-10 archive not found at {SHARED_DATA}")
    from train_cifar import main

    out = tmp_path_factory.mktemp("run")
    result = main(["--device", "cpu", "--data", SHARED_DATA, "--limit", "600", "--epochs", "2",
                   "--batch-size", "128", "--out", str(out), "--no-progress"])
    return out, result


def test_cli_smoke_run_on_a_slice_of_the_real_data(smoke_run):
    out, result = smoke_run
    assert "Total params: 26,074" in (out / "summary.txt").read_text()
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    history = read_history(out / "history.json")
    assert history.column("epoch") == [1, 2] and len(history.column("eval_accuracy")) == 2
    assert result.eval_split == "test" and result.eval_accuracy == history.column("eval_accuracy")[-1]
    assert 0.0 <= result.eval_accuracy <= 1.0
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    with Image.open(out / "curves.png") as image:
        assert image.format == "PNG"


def test_checkpoint_restores_the_trained_model(smoke_run, capsys):
    from plot_run import main

    out, result = smoke_run
    (out / "misclassified.png").unlink()
    main([str(out)])
    assert f"test accuracy {result.eval_accuracy:.4f} from the checkpoint" in capsys.readouterr().out
    assert (out / "misclassified.png").stat().st_size > 0


@needs_real_data
def test_training_is_deterministic_on_the_cpu_for_a_fixed_seed(tmp_path):
    def run(folder):
        config = TrainConfig(device="cpu", data=SHARED_DATA, limit=300, epochs=2, batch_size=64, seed=7,
                             out=str(tmp_path / folder), progress=False)
        return train(config).history

    first, second = run("a"), run("b")
    for key in ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy"):
        assert first.column(key) == second.column(key), key
    third = train(TrainConfig(device="cpu", data=SHARED_DATA, limit=300, epochs=2, batch_size=64, seed=8,
                              out=str(tmp_path / "c"), progress=False)).history
    assert third.column("train_loss") != first.column("train_loss")


def tiny_cifar(per_class=6, classes=3):
    """A Cifar10 whose image n is filled with the value n, so every image can be traced."""
    labels = numpy.repeat(numpy.arange(classes), per_class)
    images = numpy.broadcast_to(numpy.arange(len(labels), dtype=numpy.uint8)[:, None, None, None], (len(labels), 32, 32, 3))
    one_per_class = slice(None, None, per_class)
    return Cifar10(images.copy(), labels, images[one_per_class].copy(), labels[one_per_class].copy(),
                   [f"class{k}" for k in range(classes)])


def test_validation_split_is_balanced_disjoint_and_replaces_the_test_set():
    data = tiny_cifar()
    split = hold_out_validation(data, 6)
    validation_ids, train_ids = split.eval_images[:, 0, 0, 0], split.train_images[:, 0, 0, 0]
    assert sorted(numpy.concatenate([validation_ids, train_ids]).tolist()) == list(range(18))
    assert numpy.bincount(split.eval_labels).tolist() == [2, 2, 2] and split.eval_split == "validation"
    numpy.testing.assert_array_equal(split.eval_labels, data.train_labels[validation_ids])
    numpy.testing.assert_array_equal(split.train_labels, data.train_labels[train_ids])


@pytest.fixture
def tiny_cifar_is_loaded(monkeypatch):
    """prepare_data reads tiny_cifar(classes=10), whatever the config's data."""
    monkeypatch.setattr(ultimus.data.datasets, "load_cifar10", lambda source, cache_dir=None, progress=True: tiny_cifar(classes=10))


def test_validation_split_is_the_same_for_every_run_seed(tiny_cifar_is_loaded):
    first, _, _ = prepare_data(TrainConfig(validation=20, seed=1))
    second, _, _ = prepare_data(TrainConfig(validation=20, seed=2))
    numpy.testing.assert_array_equal(first.eval_images, second.eval_images)
    numpy.testing.assert_array_equal(first.train_images, second.train_images)


@pytest.mark.parametrize("validation", [None, 20], ids=["test", "validation"])
def test_a_limited_run_keeps_every_label_with_its_image(tiny_cifar_is_loaded, validation):
    """Image n of tiny_cifar holds the value n and the label n // 6 (6 per class): labels gathered in
    another order than their images would train and evaluate a --limit run on mislabelled images."""
    data, _, _ = prepare_data(TrainConfig(limit=20, validation=validation, seed=1))
    assert len(data.train_labels) == 20 and len(data.eval_labels) == 10
    numpy.testing.assert_array_equal(data.train_labels, data.train_images[:, 0, 0, 0] // 6)
    numpy.testing.assert_array_equal(data.eval_labels, data.eval_images[:, 0, 0, 0] // 6)


@pytest.mark.parametrize("count", [0, -3, 18, 40])
def test_validation_split_rejects_a_size_that_leaves_nothing(count):
    with pytest.raises(ValueError, match=f"validation must hold out between 1 and 17 training images, got {count}"):
        hold_out_validation(tiny_cifar(), count)


@needs_real_data
def test_a_validation_run_names_its_curves_after_the_validation_split(tmp_path):
    result = train(TrainConfig(device="cpu", data=SHARED_DATA, validation=500, limit=300, epochs=1, batch_size=64,
                               out=str(tmp_path), progress=False))
    history = json.loads((tmp_path / "history.json").read_text())
    assert "test_accuracy" not in (tmp_path / "history.csv").read_text() and history["eval_split"] == "validation"
    assert result.eval_split == "validation" and result.eval_accuracy == history["records"][-1]["eval_accuracy"]
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(UsageError, match=f"{tmp_path} holds no run: it has no checkpoint.npz"):
        train(TrainConfig(resume=str(tmp_path)))


def test_a_finished_run_cannot_be_resumed(smoke_run):
    out, _ = smoke_run
    with pytest.raises(ValueError, match="the run has finished all of its 2 epochs"):
        train(TrainConfig(resume=str(out)))
