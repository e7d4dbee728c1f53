"""Reading the official format never runs code from the data, and a file under the official
archive's name must be the published one; the data-reading bars follow --no-progress."""
import hashlib
import os
import pickle
import tarfile

import numpy
import pytest

from ultimus.data import cifar10
from ultimus.data.load import load_cifar10


class Sidefx:
    """Pickles into a call of os.system that creates ``marker``: what a crafted batch would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def official_archive(path, meta):
    """A tar.gz at ``path`` holding cifar-10-batches-py/ with ``meta`` as batches.meta and tiny batches."""
    rows = numpy.zeros((2, 3072), dtype=numpy.uint8)
    members = {"batches.meta": pickle.dumps(meta, protocol=2)}
    for name in (*cifar10.OFFICIAL_TRAIN_BATCHES, cifar10.OFFICIAL_TEST_BATCH):
        members[name] = pickle.dumps({b"data": rows, b"labels": [0, 1]}, protocol=2)
    folder = path.parent / "build"
    (folder / "cifar-10-batches-py").mkdir(parents=True)
    for name, content in members.items():
        (folder / "cifar-10-batches-py" / name).write_bytes(content)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return path


def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    archive = official_archive(tmp_path / "crafted.tar.gz", {b"label_names": Sidefx(marker)})
    with pytest.raises(ValueError) as refused:
        load_cifar10(archive, cache_dir=tmp_path / "cache")
    assert not marker.exists()
    assert str(refused.value) == (f"refused to unpickle cifar-10-batches-py/batches.meta in {archive}: "
                                  f"it calls {os.system.__module__}.system, which CIFAR-10 batches never hold")
    assert not (tmp_path / "cache").exists() or os.listdir(tmp_path / "cache") == []


def test_the_restricted_unpickler_reads_what_official_batches_hold(tmp_path):
    archive = official_archive(tmp_path / "fine.tar.gz", {b"label_names": [name.encode() for name in "abcdefghij"]})
    dataset = load_cifar10(archive, cache_dir=tmp_path / "cache")
    assert dataset.classes == list("abcdefghij") and dataset.train_images.shape == (10, 32, 32, 3)


def test_the_official_archive_name_requires_the_published_md5(tmp_path):
    archive = official_archive(tmp_path / cifar10.OFFICIAL_ARCHIVE, {b"label_names": [b"a"] * 10})
    actual = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(ValueError) as refused:
        load_cifar10(archive, cache_dir=tmp_path / "cache")
    assert str(refused.value) == (
        f"{archive} has md5 {actual}, but the official cifar-10-python.tar.gz has c58f30108f718f92721af3b95e74349a: "
        "it is damaged or another file; download it again, or rename it if it is your own archive")


@pytest.mark.parametrize("progress", [True, False])
def test_data_reading_bars_follow_progress(tiny_cifar_folder, tmp_path, capsys, progress):
    load_cifar10(tiny_cifar_folder, cache_dir=tmp_path / "cache", progress=progress)
    shown = capsys.readouterr().err
    assert ("reading images" in shown and "decoding images" in shown) == progress
    assert shown == "" or progress
