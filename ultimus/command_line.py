"""The error contract of the example commands: one line on stderr and an exit code."""
import sys
import traceback

from ultimus.config import UsageError

USAGE_ERROR, FAILURE, INTERRUPTED = 2, 1, 130


def run_reporting_errors(work, debug=False, interrupted="interrupted"):
    """``work()``'s result, or exit after one line on stderr: USAGE_ERROR for a UsageError,
    FAILURE for any other error, INTERRUPTED (saying ``interrupted``) for Ctrl-C; ``debug``
    shows the traceback too (and lets Ctrl-C raise)."""
    try:
        return work()
    except KeyboardInterrupt:
        if debug:
            raise
        print(interrupted, file=sys.stderr)
        sys.exit(INTERRUPTED)
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USAGE_ERROR if isinstance(error, UsageError) else FAILURE)
