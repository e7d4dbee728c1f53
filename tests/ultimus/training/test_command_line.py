"""One error contract for the three commands (ultimus/training/command_line.py): a usage error is one line
and exit 2, and --help shows only the defaults that mean something."""
import sys

import pytest
from helpers import REPOSITORY

sys.path.insert(0, str(REPOSITORY / "examples"))
import lr_find
import plot_run
import train_cifar

COMMANDS = [train_cifar, plot_run, lr_find]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.__name__)
def test_a_usage_error_is_one_line_and_exit_2(command, capsys):
    with pytest.raises(SystemExit) as exited:
        command.main(["runs/one", "--bogus"] if command is plot_run else ["--bogus"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: unrecognized arguments: --bogus; see {command.__name__}.py --help\n"


@pytest.mark.parametrize("command, arguments, message", [
    (train_cifar, ["--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
    (train_cifar, ["--device", "tpu"], "argument --device: invalid choice: 'tpu' (choose from 'auto', 'cpu', 'gpu')"),
    (plot_run, [], "the following arguments are required: run"),
    (lr_find, ["--steps"], "argument --steps: expected one argument"),
])
def test_an_invalid_value_is_one_line_and_exit_2(command, arguments, message, capsys):
    with pytest.raises(SystemExit) as exited:
        command.main(arguments)
    assert (exited.value.code, capsys.readouterr().err) == (2, f"error: {message}; see {command.__name__}.py --help\n")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.__name__)
def test_help_shows_the_defaults_of_options_with_values_only(command, capsys):
    with pytest.raises(SystemExit) as exited:
        command.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    for meaningless in ("(default: True)", "(default: False)", "(default: None)"):
        assert meaningless not in text, meaningless
    assert command is plot_run or "training images per step (default: 512)" in text
