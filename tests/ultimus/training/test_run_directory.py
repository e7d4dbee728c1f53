"""Claiming a run directory: one exclusive lock, the outputs a run may write."""
import os

import pytest

from ultimus.errors import UsageError
from ultimus.training.run_directory import RunDirectory, output_path


def test_a_claimed_directory_is_refused_and_its_holders_lock_kept(tmp_path):
    out = tmp_path / "run"
    with RunDirectory(str(out)):
        lock = (out / "run.lock").read_text()
        with pytest.raises(UsageError, match=f"is in use by the run with pid {os.getpid()}"), RunDirectory(str(out)):
            pass
        assert (out / "run.lock").read_text() == lock
    assert os.listdir(out) == []


def test_a_file_that_is_not_an_output_cannot_be_written(tmp_path):
    assert output_path(str(tmp_path), "report.md") == str(tmp_path / "report.md")
    with pytest.raises(ValueError, match="notes.txt is not one of a run's OUTPUTS"):
        output_path(str(tmp_path), "notes.txt")
