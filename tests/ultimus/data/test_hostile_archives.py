"""ultimus.data.safe_reading: crafted archives (scripts/hostile_archives.py, the ones docs/RESULTS.md measures)
are refused with one line naming the archive and the member, before their bytes are held, and
leave nothing in the cache."""
import gzip
import io
import sys
import tarfile

import pytest
from helpers import REPOSITORY

from ultimus.data import safe_reading
from ultimus.data.load import load_cifar10

sys.path.insert(0, str(REPOSITORY / "scripts"))
from hostile_archives import LAYOUTS, hostile_members, write_archive

VICTIMS = {layout: make()[1] for layout, make in LAYOUTS.items()}
FIRSTS = {layout: next(iter(make()[0])) for layout, make in LAYOUTS.items()}
LINKS = "which cannot be followed in an archive that is never extracted; archive the files themselves " \
        "(tar --dereference --hard-dereference)"


def refusal(archive, cache):
    """The message of the ValueError that loading ``archive`` raises; the cache must stay empty."""
    with pytest.raises(ValueError) as refused:
        load_cifar10(archive, cache_dir=cache, progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []
    return str(refused.value)


# What each case's member is called, and why it is refused.
REFUSED = {
    "absolute": ("/{victim}", "an absolute path; a CIFAR-10 archive holds paths relative to its top (made without tar -P)"),
    "dotdot": ("../{victim}", "a path that climbs out of the archive with '..'"),
    "symlink": ("{victim}", f"a symbolic link to '/etc/passwd', {LINKS}"),
    "hardlink": ("{victim}", f"a hard link to '{{first}}', {LINKS}"),
    "device": ("{victim}", "a device, FIFO or other special file, which a data set never holds"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", REFUSED)
def test_a_hostile_member_is_refused_in_one_line_naming_it(tmp_path, layout, case):
    archive = write_archive(tmp_path / f"{case}.tar.gz", layout, case)
    name, problem = (text.format(victim=VICTIMS[layout], first=FIRSTS[layout]) for text in REFUSED[case])
    assert refusal(archive, tmp_path / "cache") == f"refused the member {name!r} of {archive}: {problem}"


def cut_after_the_big_header(path, layout, case):
    """``case``'s archive cut short right after the header that claims 2 GiB: were those bytes
    read, the archive would be found damaged, so a refusal that names the size was made unread."""
    member, _ = hostile_members(case, VICTIMS[layout], FIRSTS[layout])[0]
    with gzip.open(path, "wb") as stream:
        stream.write(member.tobuf(tarfile.GNU_FORMAT))
    return path


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_2_gib_member_is_refused_by_its_header(tmp_path, layout):
    archive = cut_after_the_big_header(tmp_path / "big.tar.gz", layout, "2gib")
    assert refusal(archive, tmp_path / "cache") == (
        f"refused {VICTIMS[layout]} in {archive}: it is 2,147,483,648 bytes, more than the 64 MiB that any "
        "CIFAR-10 file needs")


def test_a_2_gib_tar_header_is_refused_before_it_is_read(tmp_path):
    archive = cut_after_the_big_header(tmp_path / "pax.tar.gz", "images", "pax-2gib")
    assert refusal(archive, tmp_path / "cache") == (
        f"refused {archive}: it decompresses to more than 512 MiB, more than any CIFAR-10 archive needs")


def test_the_file_cap_holds_for_a_whole_member(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_reading, "MAX_FILE_BYTES", 1000)
    archive = write_archive(tmp_path / "big.tar.gz", "images", "2gib", big=1001)
    assert refusal(archive, tmp_path / "cache").startswith("refused train/cat/1.png in ")


def tar_of(folder, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    return archive


def test_the_archive_cap_bounds_the_whole_stream(tiny_cifar_folder, tmp_path, monkeypatch):
    archive = tar_of(tiny_cifar_folder, tmp_path / "tiny.tar.gz")
    with gzip.open(archive) as stream:
        size = len(stream.read())
    monkeypatch.setattr(safe_reading, "MAX_ARCHIVE_BYTES", size // 2)  # far more than any one member
    assert refusal(archive, tmp_path / "cache").startswith(f"refused {archive}: it decompresses to more than ")
    monkeypatch.setattr(safe_reading, "MAX_ARCHIVE_BYTES", size)
    assert len(load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False).train_images) == 40


def test_the_member_count_is_capped(tiny_cifar_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(safe_reading, "MAX_MEMBERS", 5)
    archive = tar_of(tiny_cifar_folder, tmp_path / "tiny.tar.gz")
    assert refusal(archive, tmp_path / "cache") == (
        f"refused {archive}: it holds more than 5 members; CIFAR-10 needs about 60,000")


def test_the_file_cap_holds_in_a_folder(tiny_cifar_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(safe_reading, "MAX_FILE_BYTES", 100)
    assert refusal(tiny_cifar_folder, tmp_path / "cache").startswith(
        f"refused test/airplane/0.png in {tiny_cifar_folder}: it is ")


def test_a_file_holding_more_than_its_size_says_is_refused_after_one_byte_more():
    file = io.BytesIO(b"x" * 100)
    with pytest.raises(ValueError, match=r"^refused f in a: it holds more than the 10 bytes its size says$"):
        safe_reading.read_bounded(file, 10, "f in a")
    assert file.tell() == 11
