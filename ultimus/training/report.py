"""report.md: a run read without a notebook. Its configuration, final metrics, the accuracy of
each class on the eval split and every figure the run directory holds, linked relatively so the
report renders wherever the directory is copied."""
import dataclasses
import math
import os

import numpy

from minigrad.atomic import atomic_write
from ultimus.diagnostics.metrics import per_class_accuracy, to_host
from ultimus.training.run_directory import OUTPUTS, output_path

FIGURES = [name for name in OUTPUTS if name.endswith(".png")]


def _table(header, rows):
    """A Markdown table: header (names), rows (lists of cells)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _metrics(history, epochs):
    last, split = history.records[-1], history.eval_split
    seconds = sorted(history.column("seconds"))
    return [f"After epoch {last.epoch} of {epochs}:", ""] + _table(["metric", "value"], [
        ["train loss", f"{last.train_loss:.4f}"], ["train accuracy", f"{last.train_accuracy:.4f}"],
        [f"{split} loss", f"{last.eval_loss:.4f}"], [f"{split} accuracy", f"{last.eval_accuracy:.4f}"],
        ["epoch time (median)", f"{seconds[len(seconds) // 2]:.1f} s"]])


def _per_class(true_labels, predictions, classes):
    """Rows: class, its images, its accuracy."""
    accuracy = per_class_accuracy(true_labels, predictions, len(classes))
    images = numpy.bincount(to_host(true_labels), minlength=len(classes))
    return [[name, count, "no images" if math.isnan(value) else f"{value:.4f}"]
            for name, count, value in zip(classes, images, accuracy)]


def write_report(out, config, history, true_labels, predictions, classes, note=None):
    """Write ``out``/report.md atomically; returns its path.

    history: the run's History (its last record gives the final metrics); true_labels,
    predictions: (N,) over the eval split, or predictions None when no evaluation is at hand;
    note: a line shown first (why the run stopped early).
    """
    lines = [f"# Run report: {os.path.basename(os.path.abspath(out))}", ""]
    if note:
        lines += [f"**{note}**", ""]
    lines += ["## Configuration", ""] + _table(["setting", "value"], dataclasses.asdict(config).items()) + [""]
    lines += ["## Final metrics", ""]
    lines += _metrics(history, config.epochs) if history.records else ["No epoch finished."]
    lines += ["", f"## Accuracy per class ({history.eval_split} split)", ""]
    if predictions is None:
        lines += ["No evaluation in this session: see confusion_matrix.png of the run that made it, if any."]
    else:
        lines += _table(["class", "images", "accuracy"], _per_class(true_labels, predictions, classes))
    lines += ["", "## Figures", ""]
    for name in FIGURES:
        if os.path.exists(os.path.join(out, name)):
            lines += [f"### {name[:-4].replace('_', ' ')}", "", f"![{name}]({name})", ""]
    path = output_path(out, "report.md")
    with atomic_write(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
