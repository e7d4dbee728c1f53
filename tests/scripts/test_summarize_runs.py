"""scripts/summarize_runs.py on small hand-written runs: the CSV rows of docs/results/ and its errors."""
import csv
import io
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def summarize(*arguments):
    """The finished process of summarize_runs.py, importing this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "summarize_runs.py"), *map(str, arguments)],
                          capture_output=True, text=True, env=env)


def csv_rows(*arguments):
    result = summarize("--csv", *arguments)
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def write_history_run(folder, accuracies, seconds, split="test", layout="records"):
    """A run folder whose history.json is in the records layout, or in the columns layout of older runs."""
    folder.mkdir(parents=True)
    count = len(accuracies)
    columns = {"epoch": list(range(1, count + 1)), "train_loss": [2.0] * count, "train_accuracy": [0.1] * count,
               "eval_loss": [2.1] * count, "eval_accuracy": accuracies, "lr": [0.01] * count, "seconds": seconds}
    if layout == "records":
        history = {"eval_split": split, "records": [dict(zip(columns, values)) for values in zip(*columns.values())]}
    else:
        history = {key.replace("eval", split): values for key, values in columns.items()}
    (folder / "history.json").write_text(json.dumps(history))


def test_history_runs_give_the_last_accuracy_median_epoch_and_gnu_time(tmp_path):
    write_history_run(tmp_path / "seed2", [0.30, 0.45, 0.41], [9.0, 7.0, 8.0])
    (tmp_path / "seed2" / "time.txt").write_text(
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 3:05.50\n\tMaximum resident set size (kbytes): 602112\n")
    write_history_run(tmp_path / "seed10", [0.2, 0.5], [1.0, 2.0], split="validation", layout="columns")

    rows = csv_rows("--commit", "abc1234", tmp_path)

    assert [row["seed"] for row in rows] == ["2", "10"]
    assert rows[0] == {"run": str(tmp_path / "seed2"), "seed": "2", "split": "test", "accuracy": "0.4100",
                       "epochs": "3", "epoch_seconds": "8.0", "wall_seconds": "185.5", "peak_mib": "588",
                       "commit": "abc1234"}
    assert (rows[1]["split"], rows[1]["accuracy"], rows[1]["wall_seconds"], rows[1]["peak_mib"]) == \
        ("validation", "0.5000", "", "")


TORCH_LOG = """\
seed 3 epoch  1 test accuracy 0.2000 (10.0s)
seed 1 epoch  1 test accuracy 0.2500 (4.0s)
seed 3 epoch  2 test accuracy 0.3500 (12.0s)
seed 1 epoch  2 test accuracy 0.3000 (6.0s)
seed 1: final test accuracy 0.3000
seed 3: final test accuracy 0.3500
mean 0.3250, std 0.0250
"""

CLI_LOG = """\
epoch  1  train loss 2.0806 acc 0.1701  test loss 1.9432 acc 0.2140  lr 0.00100  5.3s
epoch  2  train loss 1.9090 acc 0.2147  test loss 1.8738 acc 0.2417  lr 0.00280  1.6s
epoch  3  train loss 1.8640 acc 0.2536  test loss 1.8901 acc 0.2682  lr 0.00461  1.5s

final metrics
  test_accuracy   0.2682
"""


def test_logs_of_pytorch_and_of_the_cli_give_one_row_per_seed_with_each_groups_commit(tmp_path):
    (tmp_path / "torch.log").write_text(TORCH_LOG)
    (tmp_path / "gpu").mkdir()
    (tmp_path / "gpu" / "seed7.log").write_text(CLI_LOG)
    (tmp_path / "gpu" / "seed7.wall").write_text("full 24-epoch run: 38 s wall, including data loading\n")

    rows = csv_rows("--commit", "aaa", "--commit", "bbb", tmp_path / "torch.log", tmp_path / "gpu")

    assert [(row["seed"], row["accuracy"], row["epochs"], row["epoch_seconds"], row["commit"]) for row in rows] == \
        [("1", "0.3000", "2", "5.0", "aaa"), ("3", "0.3500", "2", "11.0", "aaa"), ("7", "0.2682", "3", "1.6", "bbb")]
    assert rows[2]["wall_seconds"] == "38.0"


def test_bad_groups_and_commit_counts_are_one_line_errors_with_nothing_printed(tmp_path):
    (tmp_path / "empty").mkdir()
    for arguments, words in [((tmp_path / "absent",), "no such run folder or log"),
                             ((tmp_path / "empty",), "no run in"),
                             (("--commit", "a", "--commit", "b", tmp_path / "empty"), "once per group (1), not 2")]:
        result = summarize("--csv", *arguments)
        assert result.returncode != 0 and result.stdout == ""
        assert words in result.stderr.splitlines()[-1]
