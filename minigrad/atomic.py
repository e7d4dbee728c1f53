"""Write files so that a crash never leaves a half-written one behind."""
import contextlib
import os
import uuid


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to ``path`` for writing; it replaces ``path`` only on success.

    os.replace is atomic within one file system, so readers see either the old
    file or the complete new one. On an exception the temporary file is removed.
    The temporary file is opened with plain open() (not mkstemp) so it gets the
    usual permissions of the user's umask.
    """
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "x" + mode.replace("w", "")) as file:
            yield file
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
