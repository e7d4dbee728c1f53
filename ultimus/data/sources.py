"""Reading a CIFAR-10 source into ``Cifar10``; the kind of source is told apart by its content:

* the official "python version" archive ``cifar-10-python.tar.gz`` (pickled batches);
* that archive extracted: a ``cifar-10-batches-py`` folder;
* an image folder ``train/<class>/*.png|jpg|jpeg`` beside ``test/<class>/...``;
* a tar archive of such an image folder, possibly with one top-level folder above train/ and test/.

Archives are read member by member, straight from the compressed stream, never extracted to disk;
:mod:`ultimus.data.safe_reading` refuses hostile names, links and sizes, in archives and folders alike.
"""
import dataclasses
import os
import pathlib
import posixpath

from ultimus.data.cifar10 import IMAGE_SUFFIXES, OFFICIAL_FILES, where
from ultimus.data.image_folder import image_root, read_image_folder
from ultimus.data.official_archive import read_official
from ultimus.data.safe_reading import open_tar, read_bounded, tar_members
from ultimus.progress import tqdm


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
        return read_official(tree, posixpath.dirname(batches[0]), source)
    return read_image_folder(tree, image_root(tree, source), source, progress)


def _is_wanted(name):
    return posixpath.basename(name) in OFFICIAL_FILES or name.lower().endswith(IMAGE_SUFFIXES)


def _depth(name):
    return name.count("/")


def _ancestors(name):
    """'a/b/c.jpg' -> ['a/b', 'a']."""
    parts = name.split("/")
    return ["/".join(parts[:end]) for end in range(len(parts) - 1, 0, -1)]


def _read_archive(source, progress=True):
    """Read a tar archive in one sequential pass, without extracting it, trusting nothing in it
    (see :mod:`ultimus.data.safe_reading`)."""
    tree = _Tree(files={}, folders=set())
    with open_tar(source) as archive, \
            tqdm(desc=f"reading {source.name}", unit=" files", disable=not progress) as bar:
        for name, member in tar_members(archive, source):
            if member.isdir() and name != ".":
                tree.folders.add(name)
            elif member.isfile() and _is_wanted(name):
                tree.files[name] = read_bounded(archive.extractfile(member), member.size, where(source, name))
                bar.update()
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
            with open(path, "rb") as file:
                tree.files[name] = read_bounded(file, os.fstat(file.fileno()).st_size, where(source, name))
    return tree
