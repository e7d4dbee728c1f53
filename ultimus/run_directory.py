"""Where a run writes: a fresh directory by default, never another run's, locked while in use.

    check_run_directory(path, overwrite)   # before any work: refuses, creates nothing
    with RunDirectory(path, overwrite):    # after the data loaded: creates, locks, cleans up
        ...

A directory that holds a ``checkpoint.npz`` belongs to a run: a new run refuses it unless told
``--overwrite``, and ``--resume`` continues it. ``run.lock`` (created exclusively, holding the
writer's pid) keeps two processes out of one directory; a lock left by a process that died is
reported, never taken over, since only the user can tell that no run still needs it.
"""
import contextlib
import datetime
import errno
import os

from ultimus.config import UsageError

CHECKPOINT = "checkpoint.npz"
LOCK = "run.lock"
# What a run writes; --overwrite removes exactly these, never other files of the user's.
OUTPUTS = (CHECKPOINT, "summary.txt", "history.json", "history.csv", "augmented_samples.png", "curves.png",
           "misclassified.png", "confusion_matrix.png")


def fresh_run_directory(root="runs", now=None):
    """``root``/ultimus-YYYYMMDD-HHMMSS for ``now`` (default: the present), with -2, -3... if taken."""
    base = os.path.join(root, f"ultimus-{(now or datetime.datetime.now()):%Y%m%d-%H%M%S}")
    path, number = base, 1
    while os.path.lexists(path):
        number += 1
        path = f"{base}-{number}"
    return path


def _pid_is_running(pid):
    """Signal 0 delivers nothing: it only asks whether the process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


def _refuse_locked(directory):
    """Raise UsageError when ``directory``'s lock is held by a live process or was left by a dead one."""
    lock = os.path.join(directory, LOCK)
    try:
        with open(lock) as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return
    pid = int(text) if text.isdigit() else None
    if pid is not None and _pid_is_running(pid):
        raise UsageError(f"{directory} is in use by the run with pid {pid} (lock {lock})")
    raise UsageError(f"stale lock {lock}: its process {pid if pid is not None else '(unknown)'} is not running; "
                     f"if no run uses {directory}, remove it (rm {lock}) and start again")


def _nearest_existing(path):
    """``path`` or its closest ancestor that exists."""
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_run_directory(path, overwrite=False, resuming=False):
    """Raise UsageError unless a run may write into ``path`` (a new run, or the resumed one when
    ``resuming``); creates nothing."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UsageError(f"--out {path} is a file, not a directory")
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise UsageError(f"--out {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: permission denied to write in {existing}")
    if os.path.isdir(path):
        _refuse_locked(path)
        if not resuming and not overwrite and os.path.exists(os.path.join(path, CHECKPOINT)):
            raise UsageError(f"{path} already holds a run (its {CHECKPOINT}); continue it with --resume {path}, "
                             "or replace it with --overwrite")


class RunDirectory:
    """A context that creates and locks the run directory ``path``, and releases it on the way out.

    --overwrite deletes the previous run's outputs once the lock is held. When the body fails before
    this run's first checkpoint exists, the files and folders it created are removed again, so a
    failed start leaves nothing; files that were there before are never touched.
    """

    def __init__(self, path, overwrite=False):
        self.path, self.overwrite = path, overwrite
        self.lock = os.path.join(path, LOCK)

    def __enter__(self):
        self.created_folders = self._make_folders()
        self.existing = set(os.listdir(self.path))
        try:
            descriptor = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # another run locked it since check_run_directory looked
            _refuse_locked(self.path)
            raise UsageError(f"{self.path} is in use (lock {self.lock})") from None
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        if self.overwrite:
            for name in OUTPUTS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.path, name))
        return self

    def __exit__(self, kind, error, traceback):
        with contextlib.suppress(FileNotFoundError):  # a user who removed it must not hide the run's own error
            os.unlink(self.lock)
        if kind is not None and not os.path.exists(os.path.join(self.path, CHECKPOINT)):
            self._remove_created(self.existing)
        return False

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

    def _remove_created(self, existing):
        """Remove the entries not in ``existing`` and the folders this run created."""
        for name in set(os.listdir(self.path)) - existing:  # a run writes files only, never folders
            os.unlink(os.path.join(self.path, name))
        for folder in self.created_folders:
            try:
                os.rmdir(folder)
            except OSError as error:  # a folder someone else filled meanwhile stays
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
