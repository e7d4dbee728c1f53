"""The training pipeline end to end: the CLI on a slice of the real data, determinism, outputs."""
import json
import os
import sys

import numpy
import pytest
from PIL import Image

from ultimus.train import TrainConfig, train

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_DATA = os.path.join(REPOSITORY, "..", "shared", "data", "cifar10-jpeg.tar.gz")
needs_real_data = pytest.mark.skipif(not os.path.exists(SHARED_DATA), reason=f"real CIFAR-10 archive not found at {SHARED_DATA}")
sys.path.insert(0, os.path.join(REPOSITORY, "examples"))

OUTPUTS = ("summary.txt", "history.json", "history.csv", "checkpoint.npz", "augmented_samples.png",
           "curves.png", "misclassified.png", "confusion_matrix.png")


@needs_real_data
def test_cli_smoke_run_on_a_slice_of_the_real_data(tmp_path, capsys):
    from train_cifar import main

    result = main(["--device", "cpu", "--data", SHARED_DATA, "--limit", "600", "--epochs", "2",
                   "--batch-size", "128", "--out", str(tmp_path), "--no-progress"])
    printed = capsys.readouterr().out
    assert "Total params: 26,074" in printed and "final metrics" in printed
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0, name
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["epoch"] == [1, 2] and len(history["test_accuracy"]) == 2
    assert result["test_accuracy"] == history["test_accuracy"][-1]
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    with Image.open(tmp_path / "curves.png") as image:
        assert image.format == "PNG"


@needs_real_data
def test_training_is_deterministic_on_the_cpu_for_a_fixed_seed(tmp_path):
    def run(folder):
        config = TrainConfig(device="cpu", data=SHARED_DATA, limit=300, epochs=2, batch_size=64, seed=7,
                             out=str(tmp_path / folder), progress=False)
        return train(config)["history"]

    first, second = run("a"), run("b")
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        assert first[key] == second[key], key
    third = train(TrainConfig(device="cpu", data=SHARED_DATA, limit=300, epochs=2, batch_size=64, seed=8,
                              out=str(tmp_path / "c"), progress=False))["history"]
    assert third["train_loss"] != first["train_loss"]


@needs_real_data
def test_checkpoint_restores_the_trained_model(tmp_path):
    from minigrad import serialization
    from ultimus.model import UltimusNet

    train(TrainConfig(device="cpu", data=SHARED_DATA, limit=200, epochs=1, batch_size=100, out=str(tmp_path), progress=False))
    checkpoint = serialization.load(str(tmp_path / "checkpoint.npz"))
    model = UltimusNet()
    model.load_state_dict(checkpoint["model"])
    assert checkpoint["epoch"] == 1 and checkpoint["config"]["limit"] == 200
    assert numpy.isfinite(model.classifier.weight.data).all()
    assert set(checkpoint) >= {"model", "optimizer", "scheduler", "train_loader", "config"}
