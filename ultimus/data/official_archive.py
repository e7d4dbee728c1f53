"""The official "python version" archive of CIFAR-10: its download, its md5, its pickled batches.

The batches are unpickled by :class:`BatchUnpickler`, which admits nothing but the containers,
numbers and NumPy arrays they hold: a crafted archive cannot run code. A file named
``cifar-10-python.tar.gz`` must have the published md5.
"""
import codecs
import http.client
import io
import pathlib
import pickle
import posixpath
import urllib.request

import numpy

from minigrad.atomic import atomic_write
from ultimus.data.cache import file_digest
from ultimus.data.cifar10 import (
    IMAGE_SIZE,
    OFFICIAL_ARCHIVE,
    OFFICIAL_FILES,
    OFFICIAL_MD5,
    OFFICIAL_META,
    OFFICIAL_TEST_BATCH,
    OFFICIAL_TRAIN_BATCHES,
    OFFICIAL_URL,
    WHERE_TO_POINT,
    Cifar10,
    where,
)
from ultimus.progress import tqdm


def official_archive(cache_dir, download=True):
    """Path of the official archive in ``cache_dir``, downloading it first if missing and allowed."""
    path = pathlib.Path(cache_dir) / OFFICIAL_ARCHIVE
    if path.exists():
        return path
    if not download:
        raise RuntimeError(f"no CIFAR-10 data: {path} is not cached and download=False; {WHERE_TO_POINT}")
    try:
        # The md5 is checked inside atomic_write: a bad download never reaches ``path``.
        with atomic_write(path, mode="w+b") as file:
            _fetch(OFFICIAL_URL, file)
            file.seek(0)
            actual = file_digest(file, "md5")
            if actual != OFFICIAL_MD5:
                raise RuntimeError(
                    f"the download of {OFFICIAL_URL} is corrupt: md5 {actual}, expected {OFFICIAL_MD5}; "
                    f"try again, or {WHERE_TO_POINT}"
                )
    except (OSError, http.client.HTTPException) as error:
        raise RuntimeError(f"could not download {OFFICIAL_URL} ({error}); {WHERE_TO_POINT}") from error
    return path


def _fetch(url, file):
    """Stream ``url`` into the binary ``file``, with a progress bar."""
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {posixpath.basename(url)}") as progress:
            for block in iter(lambda: response.read(1 << 20), b""):
                file.write(block)
                progress.update(len(block))


def check_official_md5(source):
    """Raise ValueError when a file named like the official archive lacks its published md5."""
    if source.name != OFFICIAL_ARCHIVE or not source.is_file():
        return
    with open(source, "rb") as file:
        actual = file_digest(file, "md5")
    if actual != OFFICIAL_MD5:
        raise ValueError(f"{source} has md5 {actual}, but the official {OFFICIAL_ARCHIVE} has {OFFICIAL_MD5}: "
                         "it is damaged or another file; download it again, or rename it if it is your own archive")



def read_official(tree, root, source):
    """The official batches under folder ``root`` of ``tree``: data_batch_1..5, test_batch, batches.meta."""
    meta_name = posixpath.join(root, OFFICIAL_META)
    meta = _unpickle(tree, meta_name, source)
    if not isinstance(meta, dict) or b"label_names" not in meta:
        raise ValueError(f"{where(source, meta_name)} is not a CIFAR-10 batches.meta: it has no b'label_names'")
    classes = [name.decode() if isinstance(name, bytes) else str(name) for name in meta[b"label_names"]]
    train = [_official_batch(tree, posixpath.join(root, batch), source, classes) for batch in OFFICIAL_TRAIN_BATCHES]
    test_images, test_labels = _official_batch(tree, posixpath.join(root, OFFICIAL_TEST_BATCH), source, classes)
    return Cifar10(
        train_images=numpy.concatenate([images for images, _ in train]),
        train_labels=numpy.concatenate([labels for _, labels in train]),
        test_images=test_images, test_labels=test_labels, classes=classes,
    )


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global that CIFAR-10 batches never hold."""


def _latin1_bytes(text, encoding):
    """``_codecs.encode(text, "latin1")``, the one call with which Python 3 writes bytes into a protocol-2 pickle."""
    if encoding != "latin1":
        raise RefusedGlobal(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


class BatchUnpickler(pickle.Unpickler):
    """Unpickles what the official batches hold and nothing else.

    dicts, lists, bytes, str and numbers are pickle opcodes and need no global; the only globals
    admitted are NumPy's array reconstruction and ``_codecs.encode`` to latin1, with which Python 3
    writes bytes into protocol-2 pickles (the official files, written by Python 2, do without it). Any other global (``os.system``, ``builtins.eval``...) is
    refused before it is looked up, so a crafted pickle cannot call it.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): numpy.empty(0).__reduce__()[0],  # wherever this NumPy keeps it
        ("numpy._core.multiarray", "_reconstruct"): numpy.empty(0).__reduce__()[0],
        ("numpy", "ndarray"): numpy.ndarray,
        ("numpy", "dtype"): numpy.dtype,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise RefusedGlobal(f"{module}.{name}")
        return self.ALLOWED[module, name]


def _unpickle(tree, name, source):
    if name not in tree.files:
        needed = ", ".join(OFFICIAL_FILES)
        raise ValueError(f"{where(source, name)} is missing: the official CIFAR-10 format needs {needed}")
    try:
        # The batches are Python 2 pickles: encoding="bytes" keeps their str keys as bytes.
        return BatchUnpickler(io.BytesIO(tree.files[name]), encoding="bytes").load()
    except RefusedGlobal as refused:
        raise ValueError(f"refused to unpickle {where(source, name)}: it calls {refused}, "
                         "which CIFAR-10 batches never hold") from None
    except Exception as error:  # unpickling garbage can raise almost anything
        raise ValueError(f"cannot unpickle {where(source, name)} ({error!r})") from error


def _official_batch(tree, name, source, classes):
    """One pickled batch -> images uint8 (N, 32, 32, 3), labels int64 (N,).

    b"data" is (N, 3072) uint8: per image the 1024 red, then 1024 green, then 1024 blue
    values, each a 32x32 plane in row-major order.
    """
    batch = _unpickle(tree, name, source)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{where(source, name)} is not a CIFAR-10 batch: expected keys b'data' and b'labels', got {keys}")
    data, labels = numpy.asarray(batch[b"data"]), numpy.asarray(batch[b"labels"])
    pixels = 3 * IMAGE_SIZE * IMAGE_SIZE
    if data.dtype != numpy.uint8 or data.ndim != 2 or data.shape[1] != pixels or labels.shape != (len(data),):
        raise ValueError(
            f"{where(source, name)}: b'data' must be uint8 (N, {pixels}) with N b'labels', "
            f"got {data.dtype} {data.shape} and {labels.shape[0] if labels.ndim else 'no'} labels"
        )
    if len(labels) and not 0 <= labels.min() <= labels.max() < len(classes):
        raise ValueError(
            f"{where(source, name)}: labels must lie in 0..{len(classes) - 1}, found {labels.min()}..{labels.max()}"
        )
    images = data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return numpy.ascontiguousarray(images), labels.astype(numpy.int64)

