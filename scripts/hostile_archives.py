"""Write the crafted archives of docs/RESULTS.md's "Hostile archives" into a folder: each is a small
CIFAR-10 layout, image folder or official batches, in which one member is hostile.

    python scripts/hostile_archives.py /tmp/hostile
    /usr/bin/time -v python examples/train_cifar.py --data /tmp/hostile/images-absolute.tar.gz \\
        --out /tmp/hostile-run --cache-dir /tmp/hostile-cache

The hostile member takes the place of one file of the layout (train/cat/1.png, or
cifar-10-batches-py/data_batch_1), as:

    absolute   the name with a leading / (what tar -P writes)
    dotdot     the name below ../
    symlink    a symbolic link to /etc/passwd
    hardlink   a hard link to the layout's first file
    device     a character device (1, 3: /dev/null)
    2gib       2 GiB of zeros (about 2 MB compressed)
    pax-2gib   the file, behind a pax extended header of 2 GiB of zeros

The four 2 GiB archives compress 8 GiB of zeros: about 2.5 minutes on one core.
"""
import argparse
import gzip
import io
import pathlib
import pickle
import tarfile

import numpy
from PIL import Image

CASES = ("absolute", "dotdot", "symlink", "hardlink", "device", "2gib", "pax-2gib")
BIG = 2 << 30


class Zeros:
    """``size`` zero bytes, made as they are read, so that writing a 2 GiB member holds none of it."""

    def __init__(self, size):
        self.left = size

    def read(self, size):
        size = min(size, self.left)
        self.left -= size
        return bytes(size)


def image_layout():
    """A tiny image folder: ({name: content}, the name the hostile member takes)."""
    png = io.BytesIO()
    Image.fromarray(numpy.zeros((32, 32, 3), dtype=numpy.uint8)).save(png, format="PNG")
    return {"train/cat/0.png": png.getvalue(), "test/cat/0.png": png.getvalue()}, "train/cat/1.png"


def official_layout():
    """The official batches, two images each: ({name: content}, the name the hostile member takes)."""
    folder = "cifar-10-batches-py"
    batch = pickle.dumps({b"data": numpy.zeros((2, 3072), dtype=numpy.uint8), b"labels": [0, 1]}, protocol=2)
    files = {f"{folder}/batches.meta": pickle.dumps({b"label_names": [b"cat", b"dog"]}, protocol=2)}
    files.update({f"{folder}/{name}": batch for name in ("data_batch_2", "data_batch_3", "data_batch_4",
                                                          "data_batch_5", "test_batch")})
    return files, f"{folder}/data_batch_1"


LAYOUTS = {"images": image_layout, "official": official_layout}


def hostile_members(case, victim, first, big=BIG):
    """The members (TarInfo, data) that replace the file ``victim`` in ``case``; ``first`` is a file of the layout."""
    member, data = tarfile.TarInfo(victim), b"hostile"
    if case == "absolute":
        member.name = "/" + victim
    elif case == "dotdot":
        member.name = "../" + victim
    elif case == "symlink":
        member.type, member.linkname, data = tarfile.SYMTYPE, "/etc/passwd", b""
    elif case == "hardlink":
        member.type, member.linkname, data = tarfile.LNKTYPE, first, b""
    elif case == "device":
        member.type, member.devmajor, member.devminor, data = tarfile.CHRTYPE, 1, 3, b""
    elif case == "2gib":
        member.size, data = big, Zeros(big)
    elif case == "pax-2gib":
        header = tarfile.TarInfo("././@PaxHeader")
        header.type, header.size = tarfile.XHDTYPE, big
        return [(header, Zeros(big)), (member, data)]
    else:
        raise ValueError(f"unknown case {case!r}; the cases are {', '.join(CASES)}")
    return [(member, data)]


def write_archive(path, layout, case, big=BIG):
    """A .tar.gz at ``path``: the ``layout`` (a key of LAYOUTS) with the hostile members of ``case`` last."""
    files, victim = LAYOUTS[layout]()
    members = [(tarfile.TarInfo(name), content) for name, content in files.items()]
    members += hostile_members(case, victim, next(iter(files)), big)
    # GNU format: a pax header would be written above a member of ours, which must stay as crafted.
    with gzip.open(path, "wb") as stream, tarfile.open(fileobj=stream, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for member, data in members:
            if isinstance(data, bytes):
                member.size, data = len(data), io.BytesIO(data)
            tar.addfile(member, data)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=pathlib.Path, help="where to write <layout>-<case>.tar.gz (made if missing)")
    folder = parser.parse_args(argv).folder
    folder.mkdir(parents=True, exist_ok=True)
    for layout in LAYOUTS:
        for case in CASES:
            path = write_archive(folder / f"{layout}-{case}.tar.gz", layout, case)
            print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
