"""CIFAR-10 as NumPy arrays: read the official archive or an image folder, cache the decoded arrays.

``load_cifar10`` understands four kinds of source and tells them apart by their content:

* the official "python version" archive ``cifar-10-python.tar.gz`` (pickled batches);
* that archive extracted: a ``cifar-10-batches-py`` folder;
* an image folder ``train/<class>/*.png|jpg|jpeg`` beside ``test/<class>/...``;
* a tar archive of such an image folder, possibly with one top-level folder above train/ and test/.

Archives are read member by member, straight from the compressed stream, never extracted to
disk. The official batches are unpickled by :class:`BatchUnpickler`, which admits nothing but
the containers, numbers and NumPy arrays they hold: a crafted archive cannot run code. A file
named ``cifar-10-python.tar.gz`` must have the published md5. Decoding 60,000 JPEGs takes
seconds, so the arrays are cached as one ``.npz`` in the cache folder (``default_cache_dir()``),
its name holding a hash of the source's content: a changed source gets a new cache entry, an
unreadable entry is rebuilt.
"""
import codecs
import dataclasses
import hashlib
import http.client
import io
import os
import pathlib
import pickle
import posixpath
import tarfile
import urllib.request
import warnings

import numpy
from PIL import Image
from tqdm import tqdm

from minigrad.atomic import atomic_write

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
OFFICIAL_ARCHIVE = "cifar-10-python.tar.gz"
OFFICIAL_META = "batches.meta"
OFFICIAL_TRAIN_BATCHES = tuple(f"data_batch_{number}" for number in range(1, 6))
OFFICIAL_TEST_BATCH = "test_batch"
OFFICIAL_FILES = (OFFICIAL_META, *OFFICIAL_TRAIN_BATCHES, OFFICIAL_TEST_BATCH)
IMAGE_SIZE = 32
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")
CACHE_FORMAT = 1  # bump when the cached arrays change meaning, so old entries are not reused

_WHERE_TO_POINT = (
    "point --data (the `source` of load_cifar10) at CIFAR-10: the official archive "
    f"{OFFICIAL_ARCHIVE} from {OFFICIAL_URL} (md5 {OFFICIAL_MD5}), or an image folder "
    "train/<class>/*.png|jpg with test/<class>/... (or a .tar.gz of one)"
)


@dataclasses.dataclass
class Cifar10:
    """CIFAR-10 in memory. images: uint8 (N, 32, 32, 3); labels: int64 (N,) indices into ``classes``."""

    train_images: numpy.ndarray
    train_labels: numpy.ndarray
    test_images: numpy.ndarray
    test_labels: numpy.ndarray
    classes: list


def load_cifar10(source=None, cache_dir=None, download=True, progress=True):
    """Load CIFAR-10 from ``source`` (archive or folder, see the module docstring) as a ``Cifar10``.

    With ``source=None`` the official archive is taken from ``cache_dir``, downloaded there first
    when it is missing and ``download`` is true. ``cache_dir`` defaults to ``default_cache_dir()``.
    Prints the cache entry it reads or writes; ``progress=False`` hides the reading bars.
    """
    cache_dir = pathlib.Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser()
    source = pathlib.Path(source).expanduser() if source is not None else official_archive(cache_dir, download)
    if not source.exists():
        raise FileNotFoundError(f"CIFAR-10 source {source} does not exist; {_WHERE_TO_POINT}")
    cache_path = cache_dir / f"cifar10-v{CACHE_FORMAT}-{source_fingerprint(source)}.npz"
    dataset = _read_cache(cache_path)
    if dataset is not None:
        print(f"CIFAR-10 from the cache {cache_path}", flush=True)
        return dataset
    check_official_md5(source)  # a cached entry was checked when it was made: its name is the content's hash
    dataset = read_source(source, progress)
    _write_cache(dataset, cache_path)
    print(f"CIFAR-10 decoded from {source} into the cache {cache_path}", flush=True)
    return dataset


def default_cache_dir():
    """``$ULTIMUS_CACHE`` when set, else ``~/.cache/ultimus``."""
    return os.environ.get("ULTIMUS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ultimus")


# ---------------------------------------------------------------- the official archive, downloaded


def official_archive(cache_dir, download=True):
    """Path of the official archive in ``cache_dir``, downloading it first if missing and allowed."""
    path = pathlib.Path(cache_dir) / OFFICIAL_ARCHIVE
    if path.exists():
        return path
    if not download:
        raise RuntimeError(f"no CIFAR-10 data: {path} is not cached and download=False; {_WHERE_TO_POINT}")
    try:
        # The md5 is checked inside atomic_write: a bad download never reaches ``path``.
        with atomic_write(path, mode="w+b") as file:
            _fetch(OFFICIAL_URL, file)
            file.seek(0)
            actual = _digest(file, "md5")
            if actual != OFFICIAL_MD5:
                raise RuntimeError(
                    f"the download of {OFFICIAL_URL} is corrupt: md5 {actual}, expected {OFFICIAL_MD5}; "
                    f"try again, or {_WHERE_TO_POINT}"
                )
    except (OSError, http.client.HTTPException) as error:
        raise RuntimeError(f"could not download {OFFICIAL_URL} ({error}); {_WHERE_TO_POINT}") from error
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
        actual = _digest(file, "md5")
    if actual != OFFICIAL_MD5:
        raise ValueError(f"{source} has md5 {actual}, but the official {OFFICIAL_ARCHIVE} has {OFFICIAL_MD5}: "
                         "it is damaged or another file; download it again, or rename it if it is your own archive")


def _digest(file, algorithm):
    """Hex digest of everything left to read in the binary ``file``."""
    digest = hashlib.new(algorithm)
    for block in iter(lambda: file.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- the cache


def source_fingerprint(source):
    """A short content hash of ``source``: an archive's sha256; for a folder, the sha256 of its
    sorted relative file paths, sizes and modification times (cheap, and changes with any edit)."""
    source = pathlib.Path(source)
    if source.is_file():
        with open(source, "rb") as file:
            return _digest(file, "sha256")[:16]
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            status = path.stat()
            digest.update(f"{path.relative_to(source).as_posix()}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _read_cache(path):
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
        _check_arrays(dataset)
    except Exception as error:  # truncated zip, missing key, wrong shape...: all mean "rebuild it"
        warnings.warn(f"the CIFAR-10 cache {path} is unreadable ({error}); rebuilding it")
        return None
    return dataset


def _check_arrays(dataset):
    """Raise ValueError unless the arrays have the shapes and dtypes that ``Cifar10`` promises."""
    for split in SPLITS:
        images, labels = getattr(dataset, f"{split}_images"), getattr(dataset, f"{split}_labels")
        if images.dtype != numpy.uint8 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"{split} images are {images.dtype} {images.shape}, expected uint8 (N, 32, 32, 3)")
        if labels.dtype != numpy.int64 or labels.shape != (len(images),):
            raise ValueError(f"{split} labels are {labels.dtype} {labels.shape}, expected int64 ({len(images)},)")
        if len(labels) and not 0 <= labels.min() <= labels.max() < len(dataset.classes):
            raise ValueError(f"{split} labels fall outside 0..{len(dataset.classes) - 1}")


def _write_cache(dataset, path):
    """Save ``dataset`` at ``path`` atomically; a cache that cannot be written only costs a warning."""
    try:
        with atomic_write(path) as file:
            numpy.savez(
                file, train_images=dataset.train_images, train_labels=dataset.train_labels,
                test_images=dataset.test_images, test_labels=dataset.test_labels,
                classes=numpy.array(dataset.classes, dtype=str),
            )
    except OSError as error:
        warnings.warn(f"could not write the CIFAR-10 cache {path} ({error}); the next load will decode again")


# ---------------------------------------------------------------- reading a source


@dataclasses.dataclass
class _Tree:
    """What a source holds: the files that may matter (relative POSIX path -> bytes) and every folder."""

    files: dict
    folders: set


def read_source(source, progress=True):
    """Decode ``source`` (an archive or a folder, official batches or image folders) into ``Cifar10``."""
    source = pathlib.Path(source)
    tree = _read_archive(source, progress) if source.is_file() else _read_folder(source, progress)
    batches = sorted((name for name in tree.files if posixpath.basename(name) in OFFICIAL_FILES), key=_depth)
    if batches:
        return _read_official(tree, posixpath.dirname(batches[0]), source)
    return _read_image_folder(tree, _image_root(tree, source), source, progress)


def _is_wanted(name):
    return posixpath.basename(name) in OFFICIAL_FILES or name.lower().endswith(IMAGE_SUFFIXES)


def _depth(name):
    return name.count("/")


def _ancestors(name):
    """'a/b/c.jpg' -> ['a/b', 'a']."""
    parents = []
    while "/" in name:
        name = posixpath.dirname(name)
        parents.append(name)
    return parents


def _read_archive(source, progress=True):
    """Read a tar archive (any compression) in one sequential pass, without extracting it."""
    if not tarfile.is_tarfile(source):
        raise ValueError(f"{source} is neither a folder nor a tar archive; {_WHERE_TO_POINT}")
    tree = _Tree(files={}, folders=set())
    try:
        with tarfile.open(source, "r|*") as archive, \
                tqdm(desc=f"reading {source.name}", unit=" files", disable=not progress) as bar:
            for member in archive:
                name = posixpath.normpath(member.name)
                if member.isdir() and name != ".":
                    tree.folders.add(name)
                elif member.isfile() and _is_wanted(name):
                    tree.files[name] = archive.extractfile(member).read()
                    bar.update()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"the archive {source} is damaged ({error})") from error
    for name in tree.files:
        tree.folders.update(_ancestors(name))
    return tree


def _read_folder(source, progress=True):
    """Read the wanted files of a folder tree into memory (the whole of CIFAR-10 is ~60-180 MB)."""
    tree = _Tree(files={}, folders=set())
    for path in tqdm(sorted(source.rglob("*")), desc=f"reading {source.name}", unit=" files", disable=not progress):
        name = path.relative_to(source).as_posix()
        if path.is_dir():
            tree.folders.add(name)
        elif _is_wanted(name):
            tree.files[name] = path.read_bytes()
    return tree


def _where(source, name):
    """How errors name a file inside a source."""
    return f"{name} in {source}"


# ---------------------------------------------------------------- official pickled batches


def _read_official(tree, root, source):
    """The official batches under folder ``root`` of ``tree``: data_batch_1..5, test_batch, batches.meta."""
    meta_name = posixpath.join(root, OFFICIAL_META)
    meta = _unpickle(tree, meta_name, source)
    if not isinstance(meta, dict) or b"label_names" not in meta:
        raise ValueError(f"{_where(source, meta_name)} is not a CIFAR-10 batches.meta: it has no b'label_names'")
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
        raise ValueError(f"{_where(source, name)} is missing: the official CIFAR-10 format needs {needed}")
    try:
        # The batches are Python 2 pickles: encoding="bytes" keeps their str keys as bytes.
        return BatchUnpickler(io.BytesIO(tree.files[name]), encoding="bytes").load()
    except RefusedGlobal as refused:
        raise ValueError(f"refused to unpickle {_where(source, name)}: it calls {refused}, "
                         "which CIFAR-10 batches never hold") from None
    except Exception as error:  # unpickling garbage can raise almost anything
        raise ValueError(f"cannot unpickle {_where(source, name)} ({error!r})") from error


def _official_batch(tree, name, source, classes):
    """One pickled batch -> images uint8 (N, 32, 32, 3), labels int64 (N,).

    b"data" is (N, 3072) uint8: per image the 1024 red, then 1024 green, then 1024 blue
    values, each a 32x32 plane in row-major order.
    """
    batch = _unpickle(tree, name, source)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{_where(source, name)} is not a CIFAR-10 batch: expected keys b'data' and b'labels', got {keys}")
    data, labels = numpy.asarray(batch[b"data"]), numpy.asarray(batch[b"labels"])
    pixels = 3 * IMAGE_SIZE * IMAGE_SIZE
    if data.dtype != numpy.uint8 or data.ndim != 2 or data.shape[1] != pixels or labels.shape != (len(data),):
        raise ValueError(
            f"{_where(source, name)}: b'data' must be uint8 (N, {pixels}) with N b'labels', "
            f"got {data.dtype} {data.shape} and {labels.shape[0] if labels.ndim else 'no'} labels"
        )
    if len(labels) and not 0 <= labels.min() <= labels.max() < len(classes):
        raise ValueError(
            f"{_where(source, name)}: labels must lie in 0..{len(classes) - 1}, found {labels.min()}..{labels.max()}"
        )
    images = data.reshape(-1, 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return numpy.ascontiguousarray(images), labels.astype(numpy.int64)


# ---------------------------------------------------------------- image folders


def _image_root(tree, source):
    """The folder that holds train/ and test/: the source itself, or one folder below it."""
    top_folders = sorted(folder for folder in tree.folders if "/" not in folder)
    for root in ["", *top_folders]:
        if any(posixpath.join(root, split) in tree.folders for split in SPLITS):
            return root
    raise ValueError(
        f"{source} holds no CIFAR-10 data: expected the official batches ({', '.join(OFFICIAL_FILES)}) "
        f"or image folders train/<class>/*.png|jpg|jpeg and test/<class>/..."
    )


def _read_image_folder(tree, root, source, progress=True):
    """Decode ``root``/{train,test}/<class>/<image>; classes are the sorted folder names."""
    classes = _classes(tree, root, source)
    images_by_folder = {}
    for name in sorted(tree.files):
        if name.lower().endswith(IMAGE_SUFFIXES):
            images_by_folder.setdefault(posixpath.dirname(name), []).append(name)
    names, labels = {}, {}
    for split in SPLITS:
        names[split], labels[split] = [], []
        for label, class_name in enumerate(classes):
            folder = posixpath.join(root, split, class_name)
            if folder not in images_by_folder:
                raise ValueError(f"class folder {_where(source, folder)} holds no {'/'.join(IMAGE_SUFFIXES)} images")
            names[split] += images_by_folder[folder]
            labels[split] += [label] * len(images_by_folder[folder])
    with tqdm(total=len(names["train"]) + len(names["test"]), desc="decoding images", unit=" images",
              disable=not progress) as bar:
        images = {split: _decode_images(tree, names[split], source, bar) for split in SPLITS}
    return Cifar10(
        train_images=images["train"], train_labels=numpy.array(labels["train"], dtype=numpy.int64),
        test_images=images["test"], test_labels=numpy.array(labels["test"], dtype=numpy.int64),
        classes=classes,
    )


def _classes(tree, root, source):
    """The sorted class folder names, which train/ and test/ must share."""
    class_folders = {}
    for split in SPLITS:
        split_folder = posixpath.join(root, split)
        if split_folder not in tree.folders:
            raise ValueError(f"the '{split}' split is missing: no folder {_where(source, split_folder)}")
        class_folders[split] = {
            posixpath.basename(folder) for folder in tree.folders if posixpath.dirname(folder) == split_folder
        }
    for split, other in (("train", "test"), ("test", "train")):
        only_here = sorted(class_folders[split] - class_folders[other])
        if only_here:
            raise ValueError(f"class folder '{only_here[0]}' is in {split}/ but missing from {other}/ in {source}")
    return sorted(class_folders["train"])


def _decode_images(tree, names, source, bar):
    """Decode the named image files into one uint8 array (N, 32, 32, 3)."""
    images = numpy.empty((len(names), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=numpy.uint8)
    for index, name in enumerate(names):
        images[index] = decode_image(tree.files[name], _where(source, name))
        bar.update()
    return images


def decode_image(content, where):
    """The bytes of a 32x32 PNG/JPEG -> uint8 (32, 32, 3) RGB; ``where`` names the file in errors."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size  # read from the header: a wrong size is caught before decoding
            rgb = image.convert("RGB") if (width, height) == (IMAGE_SIZE, IMAGE_SIZE) else None
    except Exception as error:  # Pillow reports bad files as OSError, ValueError, SyntaxError, ...
        raise ValueError(f"cannot decode {where} ({error})") from error
    if rgb is None:
        raise ValueError(f"{where} is {width}x{height} pixels; CIFAR-10 images are 32x32")
    return numpy.asarray(rgb)


# ---------------------------------------------------------------- subsets and statistics


def balanced_subset(labels, count, seed):
    """``count`` shuffled int64 indices into ``labels`` with the classes as equal as possible.

    Each of the K classes present gets count // K indices, and the first count % K classes
    (in sorted label order) one more; which examples of a class are taken is seeded.
    """
    labels = numpy.asarray(labels)
    if not 0 <= count <= len(labels):
        raise ValueError(f"count must lie in 0..{len(labels)} (the number of labels), got {count}")
    generator = numpy.random.default_rng(seed)
    classes = numpy.unique(labels)
    chosen = []
    for position, label in enumerate(classes):
        wanted = count // len(classes) + (position < count % len(classes))
        members = numpy.flatnonzero(labels == label)
        if wanted > len(members):
            raise ValueError(f"class {label} has only {len(members)} examples; a balanced subset of {count} needs {wanted}")
        chosen.append(generator.choice(members, size=wanted, replace=False))
    return generator.permutation(numpy.concatenate(chosen)).astype(numpy.int64)


def channel_mean_std(images, chunk_size=4096):
    """Per-channel mean and (population) std of uint8 images (N, H, W, 3), in [0, 1] units.

    A uint8 channel takes only 256 values, so counting them is enough: with c_v pixels of
    value v, mean = sum c_v v / n and mean square = sum c_v v^2 / n, exactly, in float64.
    Counting a chunk at a time means 50,000 images never need a float copy of the whole set.
    Returns two float32 arrays of shape (3,).
    """
    if images.dtype != numpy.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images (N, H, W, 3), got {images.dtype} {images.shape}")
    if len(images) == 0:
        raise ValueError("cannot compute the mean and std of zero images")
    counts = numpy.zeros((3, 256), dtype=numpy.int64)
    for start in range(0, len(images), chunk_size):
        chunk = images[start:start + chunk_size]
        for channel in range(3):
            counts[channel] += numpy.bincount(chunk[..., channel].ravel(), minlength=256)
    values = numpy.arange(256) / 255
    pixels = counts.sum(axis=1)
    mean = counts @ values / pixels
    variance = numpy.maximum(counts @ values**2 / pixels - mean**2, 0.0)  # rounding may dip just below 0
    return mean.astype(numpy.float32), numpy.sqrt(variance).astype(numpy.float32)
