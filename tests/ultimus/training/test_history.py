"""ultimus.training.history: the records survive history.json and the checkpoint, and older files still read."""
import json

import pytest

from minigrad import serialization
from ultimus.training.history import EpochRecord, History, read_history, write_history


def two_epochs(eval_split="validation"):
    return History(eval_split, [EpochRecord(1, 2.3, 0.1, 2.2, 0.15, 0.001, 9.5),
                                EpochRecord(2, 1.9, 0.3, 1.8, 0.35, 0.004, 8.25)])


def test_history_json_and_csv_round_trip(tmp_path):
    history = two_epochs()
    write_history(history, tmp_path)
    assert read_history(tmp_path / "history.json") == history
    assert (tmp_path / "history.csv").read_text().splitlines() == [
        "epoch,train_loss,train_accuracy,eval_loss,eval_accuracy,lr,seconds",
        "1,2.3,0.1,2.2,0.15,0.001,9.5",
        "2,1.9,0.3,1.8,0.35,0.004,8.25",
    ]


def test_history_survives_a_checkpoint(tmp_path):
    serialization.save({"history": two_epochs("test").to_json()}, tmp_path / "checkpoint.npz")
    assert History.from_json(serialization.load(tmp_path / "checkpoint.npz")["history"]) == two_epochs("test")


@pytest.mark.parametrize("split", ["test", "validation"])
def test_the_columns_layout_of_older_runs_converts(tmp_path, split):
    older = {"epoch": [1, 2], "train_loss": [2.3, 1.9], "train_accuracy": [0.1, 0.3], f"{split}_loss": [2.2, 1.8],
             f"{split}_accuracy": [0.15, 0.35], "lr": [0.001, 0.004], "seconds": [9.5, 8.25]}
    (tmp_path / "history.json").write_text(json.dumps(older))
    assert read_history(tmp_path / "history.json") == two_epochs(split)


def test_the_columns_layout_does_not_depend_on_key_order():
    older = {"seconds": [9.5, 8.25], "lr": [0.001, 0.004], "test_accuracy": [0.15, 0.35], "test_loss": [2.2, 1.8],
             "train_accuracy": [0.1, 0.3], "train_loss": [2.3, 1.9], "epoch": [1, 2]}
    assert History.from_json(older) == two_epochs("test")


def test_a_column_is_one_field_of_every_record():
    assert two_epochs().column("eval_accuracy") == [0.15, 0.35]
