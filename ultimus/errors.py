"""The error of a run asked for something it cannot do: every part of ultimus raises it, and the
commands answer it with one line and exit code 2 (see ultimus.training.command_line)."""


class UsageError(ValueError):
    """The run was asked for something it cannot do: a bad setting or a refused run directory."""
