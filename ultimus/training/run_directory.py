"""Where a run writes: a fresh directory by default, never another run's, locked while in use.

    with RunDirectory(path, overwrite) as directory:   # claimed before any data is read
        ...                                            # load the data
        directory.clear_previous_run()                 # --overwrite: the old run's outputs go only now
        ...

A directory that holds a ``checkpoint.npz`` belongs to a run: a new run refuses it unless told
``--overwrite``, and ``--resume`` continues it. Claiming a directory is one step, held to the end:
``run.lock`` is created exclusively (O_EXCL), holding the claimer's pid, and only its holder then
looks whether the directory already holds a run. So of two runs started together into one new
directory, the second is refused, whichever reads its data faster. A lock left by a process that
died is reported, never taken over, since only the user can tell that no run still needs it.
"""
import contextlib
import datetime
import errno
import os

from ultimus.errors import UsageError

CHECKPOINT = "checkpoint.npz"
LOCK = "run.lock"
# Every file a run writes, the figures in the order report.md shows them. Writers take their paths
# from output_path, so none can write a file missing here, and --overwrite removes exactly these,
# never other files of the user's.
OUTPUTS = (CHECKPOINT, "summary.txt", "history.json", "history.csv", "curves.png", "confusion_matrix.png",
           "misclassified.png", "augmented_samples.png", "gradient_flow.png", "attention.png", "report.md")


def output_path(out, name):
    """The path of the run output ``name`` (one of OUTPUTS) in the run directory ``out``."""
    if name not in OUTPUTS:
        raise ValueError(f"{name} is not one of a run's OUTPUTS; add it there, so that --overwrite removes it")
    return os.path.join(out, name)


def fresh_path(root, prefix, suffix="", now=None):
    """``root``/``prefix``-YYYYMMDD-HHMMSS``suffix`` for ``now`` (default: the present), with -2, -3...
    before the suffix if taken."""
    base = os.path.join(root, f"{prefix}-{(now or datetime.datetime.now()):%Y%m%d-%H%M%S}")
    path, number = base + suffix, 1
    while os.path.lexists(path):
        number += 1
        path = f"{base}-{number}{suffix}"
    return path


def fresh_run_directory(root="runs", now=None):
    """``root``/ultimus-YYYYMMDD-HHMMSS for ``now`` (default: the present), with -2, -3... if taken."""
    return fresh_path(root, "ultimus", now=now)


def _pid_is_running(pid):
    """Signal 0 delivers nothing: it only asks whether the process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


def _lock_refusal(directory):
    """The UsageError for ``directory``, whose lock is held by a live process or was left by a dead one."""
    lock = os.path.join(directory, LOCK)
    try:
        with open(lock) as handle:
            text = handle.read().strip()
    except FileNotFoundError:  # its holder released it a moment ago
        return UsageError(f"{directory} was in use by another run a moment ago (lock {lock})")
    pid = int(text) if text.isdigit() else None
    if pid is not None and _pid_is_running(pid):
        return UsageError(f"{directory} is in use by the run with pid {pid} (lock {lock})")
    return UsageError(f"stale lock {lock}: its process {pid if pid is not None else '(unknown)'} is not running; "
                      f"if no run uses {directory}, remove it (rm {lock}) and start again")


def _nearest_existing(path):
    """``path`` or its closest ancestor that exists."""
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_writable(path):
    """Raise UsageError unless ``path`` is, or can be made, a directory this process writes in; creates nothing."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UsageError(f"--out {path} is a file, not a directory")
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise UsageError(f"--out {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: permission denied to write in {existing}")


class RunDirectory:
    """A context that claims the run directory ``path`` (creates it, locks it, refuses another run's)
    and releases it on the way out.

    ``continuing``: the run in ``path`` is continued (resumed, or its figures redrawn), so it must be
    there; otherwise a run already in ``path`` is refused unless ``overwrite``, and then its outputs
    are deleted by :meth:`clear_previous_run`. When the body fails before this run's first checkpoint
    exists, the files and folders it created are removed again, so a failed start leaves nothing;
    files that were there before are never touched.
    """

    def __init__(self, path, overwrite=False, continuing=False):
        self.path, self.overwrite, self.continuing = path, overwrite, continuing
        self.lock = os.path.join(path, LOCK)

    def __enter__(self):
        check_writable(self.path)
        self.created_folders = self._make_folders()
        self.existing = set(os.listdir(self.path))
        try:
            descriptor = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # the folders it sits in are its holder's now: leave them
            raise _lock_refusal(self.path) from None
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        if not self.continuing and not self.overwrite and os.path.exists(os.path.join(self.path, CHECKPOINT)):
            self._unlock()
            raise UsageError(f"{self.path} already holds a run (its {CHECKPOINT}); continue it with --resume {self.path}, "
                             "or replace it with --overwrite")
        return self

    def clear_previous_run(self):
        """With ``overwrite``: delete the outputs of the run that was in the directory."""
        if not self.overwrite:
            return
        for name in OUTPUTS:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.path, name))
        self.existing = set(os.listdir(self.path))

    def __exit__(self, kind, error, traceback):
        self._unlock()
        if kind is not None and not os.path.exists(os.path.join(self.path, CHECKPOINT)):
            self._remove_created()
        return False

    def _unlock(self):
        with contextlib.suppress(FileNotFoundError):  # a user who removed it must not hide the run's own error
            os.unlink(self.lock)

    def _make_folders(self):
        """Create ``path`` and its missing parents; returns those created, deepest first."""
        created, folder = [], os.path.abspath(self.path)
        while not os.path.isdir(folder):
            created.append(folder)
            folder = os.path.dirname(folder)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--out {self.path}: cannot create it ({error.strerror})") from error
        return created

    def _remove_created(self):
        """Remove the entries not in ``existing`` and the folders this run created."""
        for name in set(os.listdir(self.path)) - self.existing:  # a run writes files only, never folders
            os.unlink(os.path.join(self.path, name))
        for folder in self.created_folders:
            try:
                os.rmdir(folder)
            except OSError as error:  # a folder someone else filled meanwhile stays
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
