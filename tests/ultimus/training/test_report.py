"""report.md and the per-class accuracy it shows."""
import math
import os
import pathlib

import numpy

from ultimus.diagnostics.metrics import per_class_accuracy
from ultimus.training.config import TrainConfig
from ultimus.training.history import EpochRecord, History
from ultimus.training.report import write_report

CLASSES = ["cat", "dog", "ship"]
TRUE = numpy.array([0, 0, 0, 1, 1, 0])  # no ship
PREDICTED = numpy.array([0, 1, 0, 1, 2, 0])


def test_per_class_accuracy_against_a_hand_count():
    accuracy = per_class_accuracy(TRUE, PREDICTED, 3)
    assert accuracy[:2].tolist() == [3 / 4, 1 / 2]  # cat: 3 of its 4 images right; dog: 1 of 2
    assert math.isnan(accuracy[2])  # ship has no image


def test_the_report_holds_the_config_metrics_per_class_table_and_the_figures_present(tmp_path):
    (tmp_path / "curves.png").write_bytes(b"\x89PNG")
    history = History("validation", [EpochRecord(1, 2.0, 0.25, 1.5, 0.5, 0.001, 3.0)])
    path = write_report(str(tmp_path), TrainConfig(epochs=4, seed=7), history, TRUE, PREDICTED, CLASSES)
    report = pathlib.Path(path).read_text()
    assert "| seed | 7 |" in report and "After epoch 1 of 4:" in report
    assert "| validation accuracy | 0.5000 |" in report
    assert "| cat | 4 | 0.7500 |\n| dog | 2 | 0.5000 |\n| ship | 0 | no images |" in report
    assert "![curves.png](curves.png)" in report and "attention.png" not in report
    assert sorted(os.listdir(tmp_path)) == ["curves.png", "report.md"]  # nothing half-written left
