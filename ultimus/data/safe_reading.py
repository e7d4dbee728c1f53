"""Reading archives and files that may be hostile: nothing in them is trusted, neither names nor
kinds nor sizes, and each refusal is one ValueError naming the archive and the member to blame.

* A tar member's name is normalized; an absolute name (as ``tar -P`` writes) or one that climbs
  out of the archive with ``..`` is refused.
* Only files and folders are admitted. A symbolic or hard link is refused, not skipped: the
  archive is read in one pass and never extracted, so a link has no file to stand for, and
  skipping it would silently drop the image it names. A device or FIFO has no place in a data set.
* Sizes are capped. A file's size is checked before it is read and the read is bounded by it;
  every read and seek of an archive's decompressed stream (its tar headers included) is checked
  before it happens. An over-large archive is refused in seconds, without its bytes being held.
"""
import bz2
import contextlib
import gzip
import lzma
import posixpath
import tarfile
import zlib

from ultimus.data.cifar10 import WHERE_TO_POINT

MAX_FILE_BYTES = 64 << 20  # twice CIFAR-10's largest file, an official batch of 31,035,704 bytes (an image: 1-3 KB)
MAX_ARCHIVE_BYTES = 512 << 20  # CIFAR-10 decompresses to 186 MB (official) or 93 MB (as JPEGs): a margin of 2.7x
MAX_MEMBERS = 200_000  # CIFAR-10 as images is 60,022 members; tarfile keeps every member's header in memory

# The magic number that starts each compressed format tarfile reads, and how to open it.
_DECOMPRESSORS = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))
# What tarfile and the decompressors raise on a damaged archive.
_DAMAGE = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


def read_bounded(file, size, where):
    """The content of the binary ``file``, which says it holds ``size`` bytes; ``where`` names it.

    Refused before reading when ``size`` is over MAX_FILE_BYTES, and after reading at most one
    byte more than ``size`` when the file holds more than it says.
    """
    if size > MAX_FILE_BYTES:
        raise ValueError(f"refused {where}: it is {size:,} bytes, more than the {MAX_FILE_BYTES >> 20} MiB "
                         "that any CIFAR-10 file needs")
    content = file.read(size + 1)
    if len(content) > size:
        raise ValueError(f"refused {where}: it holds more than the {size:,} bytes its size says")
    return content


@contextlib.contextmanager
def open_tar(source):
    """The tar archive ``source`` (plain, or compressed by gzip, bzip2 or xz) as a ``tarfile.TarFile``
    that reads through a _BoundedStream; damage found while it is open raises one ValueError."""
    try:
        with open(source, "rb") as file, _decompressed(file) as stream:
            try:
                archive = tarfile.open(fileobj=_BoundedStream(stream, source), mode="r:")  # noqa: SIM115  (closed by the with below; its ReadError is told apart first)
            except tarfile.ReadError as error:
                raise ValueError(f"{source} is neither a folder nor a tar archive; {WHERE_TO_POINT}") from error
            with archive:
                yield archive
    except _DAMAGE as error:
        raise ValueError(f"the archive {source} is damaged ({error})") from error


def tar_members(archive, source):
    """Yield (normalized name, TarInfo) for each member of ``archive``, refusing the first that is
    not a file or folder inside the archive, and any member past MAX_MEMBERS."""
    for count, member in enumerate(archive, start=1):
        if count > MAX_MEMBERS:
            raise ValueError(f"refused {source}: it holds more than {MAX_MEMBERS:,} members; "
                             "CIFAR-10 needs about 60,000")
        name = posixpath.normpath(member.name)
        problem = _member_problem(member, name)
        if problem:
            raise ValueError(f"refused the member {member.name!r} of {source}: {problem}")
        yield name, member


def _member_problem(member, name):
    """What makes ``member`` (normalized: ``name``) unfit to read, or None."""
    if member.name.startswith("/"):
        return "an absolute path; a CIFAR-10 archive holds paths relative to its top (made without tar -P)"
    if name == ".." or name.startswith("../"):
        return "a path that climbs out of the archive with '..'"
    if member.issym() or member.islnk():
        return (f"a {'symbolic' if member.issym() else 'hard'} link to {member.linkname!r}, which cannot be "
                "followed in an archive that is never extracted; archive the files themselves "
                "(tar --dereference --hard-dereference)")
    if not (member.isfile() or member.isdir()):
        return "a device, FIFO or other special file, which a data set never holds"
    return None


def _decompressed(file):
    """The binary ``file``, read through the decompressor its first bytes call for (if any)."""
    start = file.read(6)
    file.seek(0)
    for magic, opener in _DECOMPRESSORS:
        if start.startswith(magic):
            return opener(file, "rb")
    return file


class _BoundedStream:
    """A decompressed tar stream that refuses any read or seek that would take it past MAX_ARCHIVE_BYTES.

    tarfile reads and seeks only forward through the few calls below; because each call's
    extent is checked before it runs, even a tar header claiming gigabytes is refused unread.
    """

    def __init__(self, stream, source):
        self.stream, self.source, self.position = stream, source, 0

    def _check(self, end):
        if end > MAX_ARCHIVE_BYTES:
            raise ValueError(f"refused {self.source}: it decompresses to more than {MAX_ARCHIVE_BYTES >> 20} MiB, "
                             "more than any CIFAR-10 archive needs")

    def read(self, size):
        self._check(self.position + size)
        content = self.stream.read(size)
        self.position += len(content)
        return content

    def seek(self, position):
        self._check(position)
        self.position = self.stream.seek(position)
        return self.position

    def tell(self):
        return self.position
