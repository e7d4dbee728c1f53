"""The error contract of the example commands: one line on stderr and an exit code.

    error: <what is wrong>          exit USAGE_ERROR (2): a bad option or argument, a refused run directory
                                    exit FAILURE (1): any other error (data, checkpoint, divergence, disk)
    <what the interrupt keeps>      exit INTERRUPTED (130): Ctrl-C; TERMINATED (143): SIGTERM

Exit codes 130 and 143 are 128 + the signal's number, as a shell reports a process the signal ended.
"""
import argparse
import signal
import sys
import traceback

from ultimus.errors import UsageError

USAGE_ERROR, FAILURE, INTERRUPTED, TERMINATED = 2, 1, 128 + signal.SIGINT, 128 + signal.SIGTERM


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors keep the contract: one line, not the whole usage text."""

    def error(self, message):
        print(f"error: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(USAGE_ERROR)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's layout and shows the default of every option that takes a value and
    has one; a flag's help, or an option's whose absence means something, says it in words."""

    def _get_help_string(self, action):
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the program stops as it does on Ctrl-C."""


def _terminate(signal_number, frame):
    raise Terminated


def run_reporting_errors(work, debug=False):
    """``work()``'s result, or exit after one line on stderr: USAGE_ERROR for a UsageError, FAILURE
    for any other error, INTERRUPTED for Ctrl-C and TERMINATED for SIGTERM, saying what the interrupt's
    message says (or "interrupted"); ``debug`` shows the traceback too (and lets an interrupt raise)."""
    handler = signal.signal(signal.SIGTERM, _terminate)
    try:
        return work()
    except KeyboardInterrupt as interrupt:
        if debug:
            raise
        print(str(interrupt) or "interrupted", file=sys.stderr)
        sys.exit(TERMINATED if isinstance(interrupt, Terminated) else INTERRUPTED)
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USAGE_ERROR if isinstance(error, UsageError) else FAILURE)
    finally:
        signal.signal(signal.SIGTERM, handler)
