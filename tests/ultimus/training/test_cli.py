"""examples/train_cifar.py as a user meets it: checks before any work, one-line errors with exit
codes, run directories that are never overwritten, the lock, what is printed."""
import datetime
import os
import signal
import subprocess
import sys

import pytest
from helpers import REPOSITORY

import ultimus.data.datasets
import ultimus.training.run_outputs
import ultimus.training.train
from minigrad import backend
from ultimus.training.checkpoints import load_checkpoint
from ultimus.training.history import read_history
from ultimus.training.run_directory import OUTPUTS, fresh_run_directory

sys.path.insert(0, str(REPOSITORY / "examples"))
from plot_run import main as plot_run
from train_cifar import main


@pytest.fixture
def cli(tiny_cifar_folder, tiny_cache, capsys):
    """cli(*arguments) runs the command line on the tiny data set -> (exit code, stdout, stderr)."""
    def run(*arguments):
        try:
            main(["--data", str(tiny_cifar_folder), "--cache-dir", str(tiny_cache), "--batch-size", "8",
                  "--epochs", "1", "--device", "cpu", "--no-progress", *arguments])
            code = 0
        except SystemExit as exit:
            code = exit.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def no_data_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data was loaded before the settings were checked")

    monkeypatch.setattr(ultimus.data.datasets, "load_cifar10", refuse)


@pytest.mark.parametrize("arguments, message", [
    (["--limit", "7"], "--limit must be an integer >= 10, got 7"),
    (["--limit", "0"], "--limit must be an integer >= 10, got 0"),
    (["--seed", "-5"], "--seed must be an integer >= 0, got -5"),
    (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["--eval-batch-size", "-1"], "--eval-batch-size must be a positive integer, got -1"),
    (["--max-lr", "nan"], "--max-lr must be finite and > 0, got nan"),
    (["--max-lr", "inf"], "--max-lr must be finite and > 0, got inf"),
    (["--max-lr", "0"], "--max-lr must be finite and > 0, got 0.0"),
    (["--pct-start", "1"], "--pct-start must be in (0, 1), got 1.0"),
    (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    (["--coarse-dropout-p", "1.5"], "--coarse-dropout-p must be in [0, 1], got 1.5"),
    (["--gradient-flow-every", "-1"], "--gradient-flow-every must be an integer >= 0, got -1"),
    (["--cache-dir", ""], "--cache-dir is empty: name the folder for the cache"),
    (["--cache-dir", __file__], f"--cache-dir {__file__} is a file, not a folder"),
])
def test_a_bad_setting_is_one_line_and_exit_2_before_any_work(cli, no_data_loading, tmp_path, arguments, message):
    code, out, err = cli("--out", str(tmp_path / "run"), *arguments)
    assert (code, err) == (2, f"error: {message}\n")
    assert not (tmp_path / "run").exists() and "run directory" not in out


def test_gpu_without_a_gpu_is_refused_before_any_work(cli, no_data_loading, monkeypatch, tmp_path):
    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    code, _, err = cli("--out", str(tmp_path / "run"), "--device", "gpu")
    assert (code, err) == (2, "error: --device gpu: no GPU found (CuPy is not installed or sees no CUDA device); "
                              "use --device cpu\n")
    assert not (tmp_path / "run").exists()


def test_a_batch_larger_than_the_data_is_refused_and_leaves_no_run_directory(cli, tmp_path):
    code, _, err = cli("--out", str(tmp_path / "run"), "--batch-size", "41")
    assert (code, err) == (2, "error: --batch-size 41 is larger than the training data (40 images); "
                              "use --batch-size 40 or less\n")
    assert not (tmp_path / "run").exists()


def test_missing_data_is_exit_1_and_points_at_the_official_archive(cli, tmp_path):
    code, _, err = cli("--out", str(tmp_path / "run"), "--data", str(tmp_path / "nowhere"))
    assert code == 1 and err.startswith(f"error: CIFAR-10 source {tmp_path / 'nowhere'} does not exist; ")
    assert "cifar-10-python.tar.gz" in err and "shared" not in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_data_without_all_ten_classes_is_refused_and_leaves_no_run_directory(cli, tiny_cifar_folder, tmp_path):
    nine = tmp_path / "nine"
    subprocess.run(["cp", "-r", str(tiny_cifar_folder), str(nine)], check=True)
    for split in ("train", "test"):
        subprocess.run(["rm", "-r", str(nine / split / "truck")], check=True)
    code, _, err = cli("--out", str(tmp_path / "run"), "--data", str(nine))
    assert (code, err) == (1, f"error: the data of {nine} has 9 classes (airplane, automobile, bird, cat, deer, dog, "
                              "frog, horse, ship); CIFAR-10 has 10\n")
    assert not (tmp_path / "run").exists()


def test_debug_shows_the_traceback(cli, no_data_loading):
    code, _, err = cli("--limit", "7", "--debug")
    assert code == 2 and err.startswith("Traceback") and err.endswith("error: --limit must be an integer >= 10, got 7\n")


def test_a_finished_run_is_never_overwritten_unless_asked(cli, tmp_path, without_figures):
    out = tmp_path / "run"
    assert cli("--out", str(out))[0] == 0
    checkpoint = (out / "checkpoint.npz").read_bytes()
    code, _, err = cli("--out", str(out), "--seed", "2")
    assert (code, err) == (2, f"error: {out} already holds a run (its checkpoint.npz); continue it with --resume {out}, "
                              "or replace it with --overwrite\n")
    assert (out / "checkpoint.npz").read_bytes() == checkpoint
    (out / "notes.txt").write_text("mine")
    code, _, _ = cli("--out", str(out), "--seed", "2", "--overwrite")
    assert code == 0 and (out / "checkpoint.npz").read_bytes() != checkpoint
    assert (out / "notes.txt").read_text() == "mine" and not (out / "run.lock").exists()


def test_each_run_gets_a_fresh_directory_printed_first(cli, tmp_path, monkeypatch, without_figures):
    monkeypatch.chdir(tmp_path)
    first, second = cli(), cli()
    assert first[0] == second[0] == 0
    directories = sorted(os.listdir(tmp_path / "runs"))
    assert len(directories) == 2 and all(name.startswith("ultimus-") for name in directories)
    assert first[1].splitlines()[0] == f"run directory: {os.path.join('runs', directories[0])}"


def test_a_taken_directory_name_gets_a_number(tmp_path):
    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    (tmp_path / "ultimus-20260102-030405").mkdir()
    (tmp_path / "ultimus-20260102-030405-2").mkdir()
    assert fresh_run_directory(str(tmp_path), now) == str(tmp_path / "ultimus-20260102-030405-3")


def test_a_live_lock_refuses(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.lock").write_text(f"{os.getpid()}\n")
    code, _, err = cli("--out", str(out))
    assert (code, err) == (2, f"error: {out} is in use by the run with pid {os.getpid()} (lock {out / 'run.lock'})\n")
    assert sorted(os.listdir(out)) == ["run.lock"]


def test_a_stale_lock_is_reported_not_stolen(cli, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.lock").write_text(f"{dead.pid}\n")
    code, _, err = cli("--out", str(out))
    lock = out / "run.lock"
    assert (code, err) == (2, f"error: stale lock {lock}: its process {dead.pid} is not running; "
                              f"if no run uses {out}, remove it (rm {lock}) and start again\n")
    assert lock.read_text() == f"{dead.pid}\n" and sorted(os.listdir(out)) == ["run.lock"]


def test_out_naming_a_file_is_refused(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = cli("--out", str(tmp_path / "file"))
    assert (code, err) == (2, f"error: --out {tmp_path / 'file'} is a file, not a directory\n")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
def test_out_in_a_read_only_directory_is_refused(cli, tmp_path):
    (tmp_path / "locked").mkdir(mode=0o500)
    code, _, err = cli("--out", str(tmp_path / "locked" / "run"))
    assert (code, err) == (2, f"error: --out {tmp_path / 'locked' / 'run'}: permission denied to write in "
                              f"{tmp_path / 'locked'}\n")


def test_divergence_is_exit_1_and_a_failed_first_epoch_leaves_nothing(cli, tmp_path):
    out = tmp_path / "new" / "run"
    code, _, err = cli("--out", str(out), "--max-lr", "1e6", "--epochs", "2")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: training diverged at epoch 1, step ") and err.endswith(
        "; no epoch finished, so there is nothing to keep\n")
    assert not (tmp_path / "new").exists()


def test_a_failed_start_keeps_the_users_own_files(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli("--out", str(out), "--max-lr", "1e6")[0] == 1
    assert os.listdir(out) == ["notes.txt"]


@pytest.mark.parametrize("signal_number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_says_how_to_resume_it_and_resumes(cli, tmp_path, monkeypatch, signal_number, code):
    out = tmp_path / "run"
    passes, real_run_epoch = [], ultimus.training.train.run_epoch

    def interrupted_in_the_second_epoch(*args, **kwargs):
        if len(passes) == 2:
            os.kill(os.getpid(), signal_number)
        passes.append(1)
        return real_run_epoch(*args, **kwargs)

    def unhandled(number, frame):  # what the default action would do, short of ending pytest
        raise AssertionError(f"signal {number} reached the default handler")

    monkeypatch.setattr(ultimus.training.train, "run_epoch", interrupted_in_the_second_epoch)
    previous = signal.signal(signal.SIGTERM, unhandled)
    try:
        result = cli("--out", str(out), "--epochs", "2")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result[0::2] == (code, f"interrupted; the checkpoint of the last finished epoch is kept: continue with --resume {out}\n")
    assert not (out / "run.lock").exists() and load_checkpoint(out / "checkpoint.npz")["epoch"] == 1
    monkeypatch.undo()
    code, out_text, _ = cli("--resume", str(out), "--epochs", "5", "--max-lr", "0.1", "--seed", "1")
    assert code == 0
    assert "--resume keeps the run's own settings; ignored: --batch-size --epochs --max-lr --seed\n" in out_text
    assert read_history(out / "history.json").column("epoch") == [1, 2]


def test_an_interrupt_while_drawing_the_last_figures_names_plot_run_which_redraws_them_all(cli, tmp_path, monkeypatch):
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ultimus.training.run_outputs, "save_attention_figure", interrupted)
    code, _, err = cli("--out", str(out))
    assert (code, err) == (130, "interrupted while drawing the figures of the finished run; "
                                f"redraw them with: python examples/plot_run.py {out}\n")
    monkeypatch.undo()
    (out / "history.json").unlink()  # as when stopped between the last checkpoint and its history
    code, _, err = cli("--resume", str(out))
    assert (code, err) == (2, f"error: cannot resume {out / 'checkpoint.npz'}: the run has finished all of its 1 epochs; "
                              f"redraw its figures with: python examples/plot_run.py {out}\n")
    plot_run([str(out)])
    assert sorted(os.listdir(out)) == sorted(OUTPUTS)
    assert "![attention.png](attention.png)" in (out / "report.md").read_text()


def test_a_run_started_into_a_directory_another_run_claimed_is_refused(cli, tmp_path, monkeypatch):
    """Two runs started together into one new directory: the one that claims it first keeps it, even
    when the other reads its data faster; the other is refused before any work and writes nothing."""
    out = tmp_path / "run"
    other, real_load = {}, ultimus.data.datasets.load_cifar10

    def load_while_another_run_starts(*args, **kwargs):
        if not other:
            other["started"] = True
            other["result"] = cli("--out", str(out), "--seed", "2")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(ultimus.data.datasets, "load_cifar10", load_while_another_run_starts)
    first = cli("--out", str(out))
    assert other["result"][0::2] == (2, f"error: {out} is in use by the run with pid {os.getpid()} (lock {out / 'run.lock'})\n")
    assert first[0::2] == (0, "") and load_checkpoint(out / "checkpoint.npz")["config"]["seed"] == 1
    assert sorted(os.listdir(out)) == sorted(OUTPUTS)


def test_overwrite_removes_every_output_of_the_old_run_before_the_new_one_writes(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("--out", str(out))[0] == 0
    assert sorted(os.listdir(out)) == sorted(OUTPUTS)  # what a run writes is what --overwrite removes
    (out / "notes.txt").write_text("mine")
    code, _, err = cli("--out", str(out), "--overwrite", "--no-gradient-flow", "--max-lr", "1e6")
    assert code == 1 and "no epoch finished, so there is nothing to keep" in err
    assert os.listdir(out) == ["notes.txt"]


@pytest.mark.parametrize("damage", ["empty", "truncated", "bit flipped"])
def test_a_damaged_checkpoint_is_one_line_naming_it(cli, tmp_path, damage):
    out = tmp_path / "run"
    assert cli("--out", str(out), "--epochs", "1")[0] == 0
    path = out / "checkpoint.npz"
    content = bytearray(path.read_bytes())
    if damage == "empty":
        content = b""
    elif damage == "truncated":
        content = content[:len(content) // 2]
    else:
        content[len(content) // 2] ^= 0x10
    path.write_bytes(bytes(content))
    code, _, err = cli("--resume", str(out))
    assert code == 1 and err.startswith(f"error: cannot read the checkpoint {path}: it is damaged or not a checkpoint (")
    assert err.count("\n") == 1


def test_no_gradient_flow_turns_the_recording_off(cli, tmp_path):
    code, out, _ = cli("--out", str(tmp_path / "run"), "--no-gradient-flow")
    assert code == 0 and read_history(str(tmp_path / "run" / "history.json")).gradient_flow is None
    assert not (tmp_path / "run" / "gradient_flow.png").exists() and "gradient_flow.png" not in out


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("training images per step (default: 512)", "(default: 24)", "(default: 0.01)", "--debug", "--overwrite"):
        assert shown in text, shown


def test_prints_the_automatic_device_and_the_cache(cli, monkeypatch, tmp_path):
    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    code, out, _ = cli("--out", str(tmp_path / "run"), "--device", "auto", "--cache-dir", str(tmp_path / "cache"))
    lines = out.splitlines()
    assert code == 0 and lines[:2] == [f"run directory: {tmp_path / 'run'}", "device: cpu (chosen by --device auto)"]
    assert lines[2].startswith("CIFAR-10 decoded from ") and lines[2].endswith(".npz")
    assert lines[2].split(" into the cache ")[1].startswith(str(tmp_path / "cache" / "cifar10-v1-"))
    cache_entry = lines[2].split(" into the cache ")[1]
    again = cli("--out", str(tmp_path / "again"), "--cache-dir", str(tmp_path / "cache"))[1]
    assert f"CIFAR-10 from the cache {cache_entry}\n" in again
    assert "| device | cpu |" in (tmp_path / "run" / "report.md").read_text()  # the device used, not "auto"


def test_the_smallest_limit_trains_and_draws_every_figure(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli("--out", str(out), "--limit", "10", "--batch-size", "5")
    assert (code, err) == (0, "")
    for figure in ("augmented_samples.png", "curves.png", "misclassified.png", "confusion_matrix.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG", figure
