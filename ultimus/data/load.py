"""``load_cifar10``: CIFAR-10 from an archive or folder (:mod:`ultimus.data.sources`), decoded once and
then read from the cache (:mod:`ultimus.data.cache`)."""
import pathlib

from ultimus.data import cache, sources
from ultimus.data.cifar10 import WHERE_TO_POINT
from ultimus.data.official_archive import check_official_md5, official_archive


def load_cifar10(source=None, cache_dir=None, download=True, progress=True):
    """Load CIFAR-10 from ``source`` (archive or folder, see :mod:`ultimus.data.sources`) as a ``Cifar10``.

    With ``source=None`` the official archive is taken from ``cache_dir``, downloaded there first
    when it is missing and ``download`` is true. ``cache_dir`` defaults to ``cache.default_cache_dir()``;
    an empty one or a file is refused before anything is read.
    Prints the cache entry it reads or writes (or that it could not write it); ``progress=False``
    hides the reading bars.
    """
    cache_dir = cache_dir if cache_dir is not None else cache.default_cache_dir()
    cache.check_cache_dir(cache_dir)
    cache_dir = pathlib.Path(cache_dir).expanduser()
    source = pathlib.Path(source).expanduser() if source is not None else official_archive(cache_dir, download)
    if not source.exists():
        raise FileNotFoundError(f"CIFAR-10 source {source} does not exist; {WHERE_TO_POINT}")
    path = cache.cache_path(cache_dir, source)
    dataset = cache.read_cache(path)
    if dataset is not None:
        print(f"CIFAR-10 from the cache {path}", flush=True)
        return dataset
    check_official_md5(source)  # a cached entry was checked when it was made: its name is the content's hash
    dataset = sources.read_source(source, progress)
    if cache.write_cache(dataset, path):
        print(f"CIFAR-10 decoded from {source} into the cache {path}", flush=True)
    else:
        print(f"CIFAR-10 decoded from {source}; not cached: {path} could not be written", flush=True)
    return dataset
