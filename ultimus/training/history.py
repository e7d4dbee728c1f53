"""A run's history: one record per finished epoch, and the split it evaluates on.

``eval`` names the split a run evaluates on each epoch, whatever it is: the test set, or the
validation images held out of the training set (``--validation``); ``eval_split`` says which.

history.json holds ``{"eval_split": "test", "records": [{"epoch": 1, "train_loss": ..., ...}, ...]}``
(and "gradient_flow" when the run records it) and history.csv one row per record. :meth:`History.from_json` also reads the columns layout, one
list per key named test_* or validation_*, in which runs of this project's docs/ are recorded.
"""
import csv
import dataclasses
import json

from minigrad.atomic import atomic_write
from ultimus.training.run_directory import output_path


@dataclasses.dataclass
class EpochRecord:
    """What one epoch measured: losses and accuracies (fractions in [0, 1]), the lr of its first
    step, and its wall-clock seconds."""

    epoch: int
    train_loss: float
    train_accuracy: float
    eval_loss: float
    eval_accuracy: float
    lr: float
    seconds: float


FIELDS = tuple(field.name for field in dataclasses.fields(EpochRecord))


@dataclasses.dataclass
class History:
    """The records of the finished epochs, in order; ``eval_split`` is 'test' or 'validation';
    ``gradient_flow``: the gradient-flow records of those epochs (see ``ultimus.diagnostics.gradient_flow``),
    None when the run does not record them."""

    eval_split: str
    records: list = dataclasses.field(default_factory=list)
    gradient_flow: dict = None

    def column(self, name):
        """One field of every record, e.g. ``column("eval_accuracy")``: a list, one value per epoch."""
        return [getattr(record, name) for record in self.records]

    def to_json(self):
        tree = {"eval_split": self.eval_split, "records": [dataclasses.asdict(record) for record in self.records]}
        if self.gradient_flow is not None:
            tree["gradient_flow"] = self.gradient_flow
        return tree

    @classmethod
    def from_json(cls, tree):
        """A History from :meth:`to_json`'s tree, or from the columns layout
        ``{"epoch": [...], "test_loss": [...], ...}`` (or validation_*) of older runs."""
        if "records" in tree:
            return cls(tree["eval_split"], [EpochRecord(**record) for record in tree["records"]], tree.get("gradient_flow"))
        split = "validation" if "validation_loss" in tree else "test"
        columns = {field: tree[field.replace("eval", split)] for field in FIELDS}
        return cls(split, [EpochRecord(*values) for values in zip(*(columns[field] for field in FIELDS))])


def read_history(path):
    """The History saved at ``path`` (a history.json of either layout)."""
    with open(path) as handle:
        return History.from_json(json.load(handle))


def write_history(history, out):
    """history.json and history.csv in ``out``, rewritten after every epoch so a stopped run keeps its curves."""
    with atomic_write(output_path(out, "history.json"), "w") as handle:
        json.dump(history.to_json(), handle, indent=1)
    with atomic_write(output_path(out, "history.csv"), "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        writer.writerows(dataclasses.astuple(record) for record in history.records)
