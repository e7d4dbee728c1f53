"""Ctrl-C during training lands between steps, never inside one.

A KeyboardInterrupt raised in the middle of ``optimizer.step()`` would leave some parameters
updated and others not. On the command line that is harmless (the process ends and the last
checkpoint is what survives), but in a notebook the model and optimizer live on in the kernel
after the interrupt, so they must be left whole. A second Ctrl-C before the step ends
interrupts at once, so a step that hangs can still be stopped.
"""
import contextlib
import signal
import threading


class StepBoundary:
    """Holds a Ctrl-C that arrives during a step; :meth:`check` raises it once the step is done."""

    def __init__(self):
        self.pending = False

    def hold(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def check(self):
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


_boundary = StepBoundary()  # a process has one SIGINT handler, so one boundary


@contextlib.contextmanager
def interrupts_between_steps():
    """Within the block, a Ctrl-C is held until the next :func:`end_of_step` (or the block's end).

    Only the main thread may set signal handlers: elsewhere, and where SIGINT is ignored (a
    background job), Ctrl-C keeps its usual behaviour.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        yield
        return
    _boundary.pending = False  # one held by a block that ended in an error is stale
    previous = signal.signal(signal.SIGINT, _boundary.hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    _boundary.check()


def end_of_step():
    """Raise the KeyboardInterrupt held since the step began, if there is one."""
    _boundary.check()
