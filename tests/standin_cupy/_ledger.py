"""What the stand-in notes: every kernel launch, host sync and host-to-device copy, with its call site.

Nothing is kept unless a block asks for it::

    with ledger.recording() as events:
        step()
    events.count("launch"), events.sites("sync")

An event's site is the first frame outside the stand-in and outside ``minigrad/backend.py``, which
only relays (``to_device(x, "cpu")`` is a sync where it is called, not in the backend).
"""
import contextlib
import dataclasses
import functools
import os
import sys

STANDIN = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(os.path.dirname(STANDIN))
RELAYS = (STANDIN + os.sep, os.path.join(REPOSITORY, "minigrad", "backend.py"))


@dataclasses.dataclass(frozen=True)
class Event:
    """kind: launch, sync or upload (or what a caller of note() counts, such as a Function's call);
    name: the op ("add", "ndarray.get", a kernel's name); site: "path:line function" of the code
    that asked; label: the ledger's label at the time."""

    kind: str
    name: str
    site: str
    label: str = None


class Events(list):
    """The events of a recording, in order."""

    def count(self, kind):
        return sum(event.kind == kind for event in self)

    def sites(self, kind):
        """The call sites of the events of one kind, in order (repeats kept)."""
        return [event.site for event in self if event.kind == kind]


_recordings = []  # the Events lists being filled, innermost last
label = None  # set by a caller that attributes events to ops (benchmarks/gpu_launches.py); noted with each event


def note(kind, name):
    """Note one event in every recording under way."""
    if _recordings:
        event = Event(kind, name, call_site(sys._getframe(1)), label)
        for events in _recordings:
            events.append(event)


@contextlib.contextmanager
def recording():
    """Yield an Events list that receives every event noted until the block ends (recordings may nest)."""
    events = Events()
    _recordings.append(events)
    try:
        yield events
    finally:
        _recordings.remove(events)


def call_site(frame):
    """'path:line function' of the first frame, from ``frame`` outwards, outside the stand-in and the backend."""
    while frame.f_back is not None and frame.f_code.co_filename.startswith(RELAYS):
        frame = frame.f_back
    code = frame.f_code
    return f"{_relative(code.co_filename)}:{frame.f_lineno} {getattr(code, 'co_qualname', code.co_name)}"


@functools.cache
def _relative(path):
    return os.path.relpath(path, REPOSITORY)
