"""examples/plot_run.py: the command's one-line errors. (It redraws every output of a run:
test_cli.py, after an interrupt during a run's last figures.)"""
import sys

import pytest
from helpers import REPOSITORY

sys.path.insert(0, str(REPOSITORY / "examples"))
from plot_run import main


def run(capsys, *arguments):
    with pytest.raises(SystemExit) as exited:
        main(list(arguments))
    return exited.value.code, capsys.readouterr().err


def test_a_missing_run_is_one_line(tmp_path, capsys):
    assert run(capsys, str(tmp_path / "nowhere")) == (
        2, f"error: no run at {tmp_path / 'nowhere'}: no such directory or checkpoint file\n")
    assert run(capsys, str(tmp_path)) == (2, f"error: {tmp_path} holds no run: it has no checkpoint.npz\n")


def test_a_damaged_checkpoint_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "checkpoint.npz").write_bytes(b"PK\x03\x04 not a zip")
    code, err = run(capsys, str(tmp_path))
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: cannot read the checkpoint {tmp_path / 'checkpoint.npz'}: it is damaged or not a checkpoint (")
