"""The decoded arrays of a CIFAR-10 source, kept as one ``.npz`` so that a source is decoded once.

An entry's name holds a hash of the source's content: a changed source gets a new entry; an
unreadable entry is rebuilt; an entry that cannot be written only costs a warning. The cache
folder must be named (not "") and must not be a file.
"""
import hashlib
import os
import pathlib
import warnings

import numpy

from minigrad.atomic import atomic_write
from ultimus.data.cifar10 import Cifar10

CACHE_FORMAT = 1  # bump when the cached arrays change meaning, so old entries are not reused


def default_cache_dir():
    """``$ULTIMUS_CACHE`` when set, else ``~/.cache/ultimus``."""
    return os.environ.get("ULTIMUS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ultimus")


def check_cache_dir(cache_dir, label="cache_dir"):
    """Raise ValueError unless ``cache_dir`` can be the cache folder; ``label`` names it in the message."""
    if str(cache_dir) == "":  # pathlib reads "" as ".", which would put the cache in the working directory
        raise ValueError(f"{label} is empty: name the folder for the cache")
    path = os.path.expanduser(cache_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{label} {cache_dir} is a file, not a folder")


def file_digest(file, algorithm):
    """Hex digest of everything left to read in the binary ``file`` (``hashlib.file_digest`` needs Python 3.11)."""
    digest = hashlib.new(algorithm)
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def cache_path(cache_dir, source):
    """Where the arrays decoded from ``source`` are cached in ``cache_dir``."""
    return pathlib.Path(cache_dir) / f"cifar10-v{CACHE_FORMAT}-{source_fingerprint(source)}.npz"


def source_fingerprint(source):
    """A short content hash of ``source``: an archive's sha256; for a folder, the sha256 of its
    sorted relative file paths, sizes and modification times (cheap, and changes with any edit)."""
    source = pathlib.Path(source)
    if source.is_file():
        with open(source, "rb") as file:
            return file_digest(file, "sha256")[:16]
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            status = path.stat()
            digest.update(f"{path.relative_to(source).as_posix()}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def read_cache(path):
    """The cached ``Cifar10`` at ``path``; None when there is none or it is unreadable."""
    if not path.exists():
        return None
    try:
        with numpy.load(path, allow_pickle=False) as arrays:
            dataset = Cifar10(
                train_images=arrays["train_images"], train_labels=arrays["train_labels"],
                test_images=arrays["test_images"], test_labels=arrays["test_labels"],
                classes=[str(name) for name in arrays["classes"]],
            )
        dataset.check()
    except Exception as error:  # truncated zip, missing key, wrong shape...: all mean "rebuild it"
        warnings.warn(f"the CIFAR-10 cache {path} is unreadable ({error}); rebuilding it", stacklevel=2)
        return None
    return dataset


def write_cache(dataset, path):
    """Save ``dataset`` at ``path`` atomically; returns whether it did. A cache that cannot be
    written only costs a warning."""
    try:
        with atomic_write(path) as file:
            numpy.savez(
                file, train_images=dataset.train_images, train_labels=dataset.train_labels,
                test_images=dataset.test_images, test_labels=dataset.test_labels,
                classes=numpy.array(dataset.classes, dtype=str),
            )
    except OSError as error:
        warnings.warn(f"could not write the CIFAR-10 cache {path} ({error}); the next load will decode again", stacklevel=2)
        return False
    return True
