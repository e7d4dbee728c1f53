"""ultimus.data.load and its parts (sources, official_archive, image_folder, cache): tiny official batches and image folders built here, the cache, the download, the errors."""
import hashlib
import os
import pickle
import re
import tarfile
import urllib.error

import numpy
import pytest
from helpers import SHARED_DATA
from PIL import Image

from ultimus.data import cache as cache_module
from ultimus.data import cifar10, image_folder, official_archive, sources
from ultimus.data.datasets import balanced_subset, channel_mean_std
from ultimus.data.load import load_cifar10

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SHARED_ARCHIVE = SHARED_DATA


# ---------------------------------------------------------------- building tiny sources


def official_rows(count, seed):
    """``count`` random official rows (N, 3072) uint8 and their labels."""
    generator = numpy.random.default_rng(seed)
    return generator.integers(0, 256, size=(count, 3072), dtype=numpy.uint8), generator.integers(0, 10, size=count).tolist()


def rows_to_images(rows):
    """The official layout by hand: value [c * 1024 + h * 32 + w] is pixel (h, w) of channel c."""
    images = numpy.zeros((len(rows), 32, 32, 3), dtype=numpy.uint8)
    for n, h, w, c in numpy.ndindex(images.shape):
        images[n, h, w, c] = rows[n][c * 1024 + h * 32 + w]
    return images


def write_pickle(path, content):
    path.write_bytes(pickle.dumps(content, protocol=2))


def make_official_folder(root, per_batch=2, test_count=3):
    """A cifar-10-batches-py folder with ``per_batch`` images per training batch; returns the expected arrays."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    write_pickle(folder / "batches.meta", {b"label_names": [name.encode() for name in CLASSES], b"num_vis": 3072})
    train_rows, train_labels = [], []
    for number in range(1, 6):
        rows, labels = official_rows(per_batch, seed=number)
        write_pickle(folder / f"data_batch_{number}", {b"batch_label": b"training", b"data": rows, b"labels": labels,
                                                      b"filenames": [b"x.png"] * per_batch})
        train_rows.append(rows)
        train_labels += labels
    test_rows, test_labels = official_rows(test_count, seed=99)
    write_pickle(folder / "test_batch", {b"data": test_rows, b"labels": test_labels})
    return folder, {
        "train_images": rows_to_images(numpy.concatenate(train_rows)), "train_labels": train_labels,
        "test_images": rows_to_images(test_rows), "test_labels": test_labels, "classes": CLASSES,
    }


def make_tar(folder, archive, top_level=None):
    """A .tar.gz of ``folder``'s content, under the folder ``top_level`` when given."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            tar.add(path, arcname=f"{top_level}/{relative}" if top_level else relative, recursive=False)
    return archive


def random_image(seed, size=(32, 32)):
    return numpy.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=numpy.uint8)


def make_image_folder(root):
    """train/{cat,dog}/ with 2 PNGs each and test/{cat,dog}/ with one; expected arrays in sorted order."""
    expected = {"train_images": [], "train_labels": [], "test_images": [], "test_labels": [], "classes": ["cat", "dog"]}
    seed = 0
    for split, count in (("train", 2), ("test", 1)):
        for label, name in enumerate(["cat", "dog"]):
            (root / split / name).mkdir(parents=True)
            for index in range(count):
                seed += 1
                pixels = random_image(seed)
                Image.fromarray(pixels).save(root / split / name / f"{index:04d}.png")
                expected[f"{split}_images"].append(pixels)
                expected[f"{split}_labels"].append(label)
    return root, expected


def assert_loaded(dataset, expected):
    for split in ("train", "test"):
        images, labels = getattr(dataset, f"{split}_images"), getattr(dataset, f"{split}_labels")
        assert images.dtype == numpy.uint8 and images.shape[1:] == (32, 32, 3)
        assert labels.dtype == numpy.int64
        numpy.testing.assert_array_equal(images, numpy.asarray(expected[f"{split}_images"]))
        numpy.testing.assert_array_equal(labels, expected[f"{split}_labels"])
    assert dataset.classes == expected["classes"]


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


# ---------------------------------------------------------------- the four kinds of source


def test_official_folder(tmp_path, cache):
    folder, expected = make_official_folder(tmp_path)
    assert_loaded(load_cifar10(folder, cache_dir=cache), expected)


def test_official_archive_detected_by_content_not_name(tmp_path, cache):
    folder, expected = make_official_folder(tmp_path)
    archive = make_tar(tmp_path, tmp_path / "anything.tar.gz")
    assert_loaded(load_cifar10(archive, cache_dir=cache), expected)


def test_image_folder(tmp_path, cache):
    folder, expected = make_image_folder(tmp_path / "images")
    assert_loaded(load_cifar10(folder, cache_dir=cache), expected)


@pytest.mark.parametrize("top_level", [None, "cifar10"])
def test_image_folder_archive(tmp_path, cache, top_level):
    folder, expected = make_image_folder(tmp_path / "images")
    archive = make_tar(folder, tmp_path / "cifar-10-batches-py.tar.gz", top_level)  # misleading name on purpose
    assert_loaded(load_cifar10(archive, cache_dir=cache), expected)


def test_jpeg_and_grey_images_decode_to_rgb(tmp_path, cache):
    folder, expected = make_image_folder(tmp_path / "images")
    rows, columns = numpy.mgrid[0:32, 0:32]
    # A smooth picture, which JPEG keeps nearly intact.
    pixels = numpy.stack([rows * 8, columns * 8, (rows + columns) * 4], axis=-1).astype(numpy.uint8)
    Image.fromarray(pixels).save(folder / "train" / "dog" / "0005.jpg", quality=95)
    Image.fromarray(pixels[:, :, 0]).save(folder / "test" / "cat" / "0007.png")  # mode "L"
    dataset = load_cifar10(folder, cache_dir=cache)
    assert len(dataset.train_images) == 5 and dataset.train_labels[-1] == 1
    jpeg = numpy.asarray(Image.open(folder / "train" / "dog" / "0005.jpg"))
    numpy.testing.assert_array_equal(dataset.train_images[-1], jpeg)
    assert numpy.abs(jpeg.astype(int) - pixels).mean() < 3  # lossy, but the same picture
    numpy.testing.assert_array_equal(dataset.test_images[1], numpy.repeat(pixels[:, :, :1], 3, axis=2))


# ---------------------------------------------------------------- the cache


def cache_files(cache):
    return sorted(path.name for path in cache.iterdir()) if cache.exists() else []


def forbid_decoding(monkeypatch):
    def fail(*arguments):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(image_folder, "decode_image", fail)
    monkeypatch.setattr(sources, "read_source", fail)


@pytest.mark.parametrize("kind", ["image folder", "image archive", "official folder"])
def test_second_load_reads_the_cache(tmp_path, cache, monkeypatch, kind):
    if kind == "official folder":
        source, expected = make_official_folder(tmp_path)
    else:
        source, expected = make_image_folder(tmp_path / "images")
        if kind == "image archive":
            source = make_tar(source, tmp_path / "images.tar.gz")
    load_cifar10(source, cache_dir=cache)
    assert len(cache_files(cache)) == 1 and cache_files(cache)[0].endswith(".npz")
    forbid_decoding(monkeypatch)
    assert_loaded(load_cifar10(source, cache_dir=cache), expected)


def test_changed_folder_is_read_again(tmp_path, cache):
    folder, expected = make_image_folder(tmp_path / "images")
    load_cifar10(folder, cache_dir=cache)
    changed = random_image(77)
    path = folder / "test" / "dog" / "0000.png"
    Image.fromarray(changed).save(path)
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    numpy.testing.assert_array_equal(load_cifar10(folder, cache_dir=cache).test_images[1], changed)


def test_changed_archive_is_read_again(tmp_path, cache):
    folder, expected = make_image_folder(tmp_path / "images")
    archive = make_tar(folder, tmp_path / "images.tar.gz")
    load_cifar10(archive, cache_dir=cache)
    changed = random_image(78)
    Image.fromarray(changed).save(folder / "train" / "cat" / "0000.png")
    make_tar(folder, archive)
    numpy.testing.assert_array_equal(load_cifar10(archive, cache_dir=cache).train_images[0], changed)
    assert len(cache_files(cache)) == 2


@pytest.mark.parametrize("damage", [b"", b"garbage, not a zip file", "truncate"])
def test_corrupt_cache_is_rebuilt(tmp_path, cache, damage):
    folder, expected = make_image_folder(tmp_path / "images")
    load_cifar10(folder, cache_dir=cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:1000] if damage == "truncate" else damage)
    with pytest.warns(UserWarning, match="unreadable.*rebuilding"):
        assert_loaded(load_cifar10(folder, cache_dir=cache), expected)
    with numpy.load(entry) as arrays:  # rewritten whole
        numpy.testing.assert_array_equal(arrays["train_images"], expected["train_images"])


def test_cache_with_wrong_arrays_is_rebuilt(tmp_path, cache):
    folder, expected = make_image_folder(tmp_path / "images")
    load_cifar10(folder, cache_dir=cache)
    (entry,) = cache.iterdir()
    numpy.savez(entry, train_images=numpy.zeros((2, 8, 8, 3), dtype=numpy.uint8))
    with pytest.warns(UserWarning, match="unreadable"):
        assert_loaded(load_cifar10(folder, cache_dir=cache), expected)


def test_failed_cache_write_leaves_nothing_behind_and_says_so(tmp_path, cache, monkeypatch, capsys):
    folder, expected = make_image_folder(tmp_path / "images")

    def crash_midway(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.numpy, "savez", crash_midway)
    with pytest.warns(UserWarning, match="could not write.*disk full"):
        assert_loaded(load_cifar10(folder, cache_dir=cache), expected)
    assert cache_files(cache) == []
    entry = cache_module.cache_path(cache, folder)
    assert capsys.readouterr().out == f"CIFAR-10 decoded from {folder}; not cached: {entry} could not be written\n"


@pytest.mark.parametrize("cache_dir, message", [
    ("", "cache_dir is empty: name the folder for the cache"),
    ("a file", "cache_dir {path} is a file, not a folder"),
])
def test_a_cache_dir_that_cannot_be_a_folder_is_refused_before_reading(tmp_path, monkeypatch, cache_dir, message):
    folder, _ = make_image_folder(tmp_path / "images")
    path = tmp_path / cache_dir
    if cache_dir:
        path.write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    forbid_decoding(monkeypatch)
    with pytest.raises(ValueError, match=f"^{re.escape(message.format(path=path))}$"):
        load_cifar10(folder, cache_dir=str(path) if cache_dir else "")
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted({"images", cache_dir} - {""})  # nothing written


def test_cache_dir_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    folder, _ = make_image_folder(tmp_path / "images")
    monkeypatch.setenv("ULTIMUS_CACHE", str(tmp_path / "from-env"))
    assert cache_module.default_cache_dir() == str(tmp_path / "from-env")
    load_cifar10(folder)
    assert len(cache_files(tmp_path / "from-env")) == 1
    monkeypatch.delenv("ULTIMUS_CACHE")
    assert cache_module.default_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "ultimus")


# ---------------------------------------------------------------- the download (never a real one)


def forbid_network(monkeypatch):
    def fail(url, file):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(official_archive, "_fetch", fail)


def test_nothing_cached_and_no_download_explains_what_to_do(cache, monkeypatch):
    forbid_network(monkeypatch)
    with pytest.raises(RuntimeError, match=r"download=False.*--data.*cifar-10-python.tar.gz from https://www.cs.toronto.edu"):
        load_cifar10(cache_dir=cache, download=False)


def test_offline_explains_what_to_do(cache, monkeypatch):
    def offline(url, file):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(official_archive, "_fetch", offline)
    with pytest.raises(RuntimeError, match=r"could not download.*no route to host.*--data"):
        load_cifar10(cache_dir=cache)
    assert cache_files(cache) == []


def test_download_is_checked_cached_and_reused(tmp_path, cache, monkeypatch):
    make_official_folder(tmp_path / "build")
    archive = make_tar(tmp_path / "build", tmp_path / "official.tar.gz").read_bytes()
    fetched = []

    def fake_fetch(url, file):
        fetched.append(url)
        file.write(archive)

    monkeypatch.setattr(official_archive, "_fetch", fake_fetch)
    monkeypatch.setattr(official_archive, "OFFICIAL_MD5", hashlib.md5(archive).hexdigest())
    first = load_cifar10(cache_dir=cache)
    assert fetched == [cifar10.OFFICIAL_URL]
    assert (cache / cifar10.OFFICIAL_ARCHIVE).read_bytes() == archive
    forbid_network(monkeypatch)
    numpy.testing.assert_array_equal(load_cifar10(cache_dir=cache, download=False).train_images, first.train_images)


def test_download_with_wrong_md5_is_discarded(cache, monkeypatch):
    monkeypatch.setattr(official_archive, "_fetch", lambda url, file: file.write(b"a truncated download"))
    actual = hashlib.md5(b"a truncated download").hexdigest()
    with pytest.raises(RuntimeError, match=f"md5 {actual}, expected {cifar10.OFFICIAL_MD5}"):
        load_cifar10(cache_dir=cache)
    assert cache_files(cache) == []


def test_official_address_and_checksum():
    assert cifar10.OFFICIAL_URL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert cifar10.OFFICIAL_MD5 == "c58f30108f718f92721af3b95e74349a"


# ---------------------------------------------------------------- errors name the file


def test_missing_source(tmp_path, cache):
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        load_cifar10(tmp_path / "nowhere", cache_dir=cache)


def test_file_that_is_not_an_archive(tmp_path, cache):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt is neither a folder nor a tar archive"):
        load_cifar10(tmp_path / "notes.txt", cache_dir=cache)


def test_folder_without_cifar(tmp_path, cache):
    (tmp_path / "empty" / "other").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no CIFAR-10 data"):
        load_cifar10(tmp_path / "empty", cache_dir=cache)


def test_damaged_archive(tmp_path, cache):
    folder, _ = make_image_folder(tmp_path / "images")
    archive = make_tar(folder, tmp_path / "images.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(ValueError, match="images.tar.gz is damaged"):
        load_cifar10(archive, cache_dir=cache)


def test_image_of_the_wrong_size(tmp_path, cache):
    folder, _ = make_image_folder(tmp_path / "images")
    Image.fromarray(random_image(5, size=(33, 32))).save(folder / "train" / "dog" / "0009.png")
    with pytest.raises(ValueError, match=r"train/dog/0009.png in .* is 33x32 pixels"):
        load_cifar10(folder, cache_dir=cache)
    assert cache_files(cache) == []


@pytest.mark.parametrize("content", [b"not an image at all", "truncated"])
def test_undecodable_image(tmp_path, cache, content):
    folder, _ = make_image_folder(tmp_path / "images")
    path = folder / "test" / "cat" / "0003.jpg"
    if content == "truncated":
        Image.fromarray(random_image(6)).save(path, quality=95)
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    archive = make_tar(folder, tmp_path / "images.tar.gz")
    for source in (folder, archive):
        with pytest.raises(ValueError, match=r"cannot decode test/cat/0003.jpg in"):
            load_cifar10(source, cache_dir=cache)


@pytest.mark.parametrize("present, missing", [("train", "test"), ("test", "train")])
def test_class_folder_in_one_split_only(tmp_path, cache, present, missing):
    folder, _ = make_image_folder(tmp_path / "images")
    (folder / present / "bird").mkdir()
    Image.fromarray(random_image(7)).save(folder / present / "bird" / "0000.png")
    with pytest.raises(ValueError, match=f"'bird' is in {present}/ but missing from {missing}/"):
        load_cifar10(folder, cache_dir=cache)


def test_empty_class_folder(tmp_path, cache):
    folder, _ = make_image_folder(tmp_path / "images")
    (folder / "train" / "bird").mkdir()
    (folder / "test" / "bird").mkdir()
    Image.fromarray(random_image(8)).save(folder / "test" / "bird" / "0000.png")
    (folder / "train" / "bird" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="class folder train/bird in .* holds no"):
        load_cifar10(folder, cache_dir=cache)


@pytest.mark.parametrize("split", ["train", "test"])
def test_missing_split(tmp_path, cache, split):
    folder, _ = make_image_folder(tmp_path / "images")
    for path in sorted((folder / split).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (folder / split).rmdir()
    with pytest.raises(ValueError, match=f"the '{split}' split is missing"):
        load_cifar10(folder, cache_dir=cache)


def uint8_rows(count, width=3072, dtype=numpy.uint8):
    return numpy.zeros((count, width), dtype=dtype)


@pytest.mark.parametrize("batch, content, message", [
    ("data_batch_2", {b"images": uint8_rows(1), b"labels": [0]}, r"expected keys b'data' and b'labels'"),
    ("data_batch_3", {b"data": uint8_rows(2, width=3000), b"labels": [0, 1]}, r"uint8 \(N, 3072\)"),
    ("data_batch_3", {b"data": uint8_rows(2, dtype=numpy.float32), b"labels": [0, 1]}, r"uint8 \(N, 3072\)"),
    ("data_batch_3", {b"data": uint8_rows(2), b"labels": [0]}, r"uint8 \(N, 3072\)"),
    ("test_batch", {b"data": uint8_rows(1), b"labels": [10]}, r"0\.\.9"),
], ids=["wrong keys", "wrong width", "not uint8", "labels short", "label out of range"])
def test_an_official_batch_with_wrong_content_is_refused_naming_it(tmp_path, cache, batch, content, message):
    folder, _ = make_official_folder(tmp_path)
    write_pickle(folder / batch, content)
    with pytest.raises(ValueError, match=f"{batch} in .*{message}"):
        load_cifar10(folder, cache_dir=cache)


def test_official_batch_missing_or_not_a_pickle(tmp_path, cache):
    folder, _ = make_official_folder(tmp_path)
    (folder / "data_batch_5").unlink()
    with pytest.raises(ValueError, match="data_batch_5 in .* is missing"):
        load_cifar10(folder, cache_dir=cache)
    (folder / "data_batch_5").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="cannot unpickle .*data_batch_5"):
        load_cifar10(folder, cache_dir=cache)


# ---------------------------------------------------------------- balanced_subset and channel_mean_std


def test_balanced_subset_spreads_the_remainder_over_the_first_classes():
    labels = numpy.repeat(numpy.arange(10), [30, 20, 25, 40, 10, 12, 15, 9, 11, 50])
    numpy.random.default_rng(0).shuffle(labels)
    indices = balanced_subset(labels, 23, seed=5)
    assert indices.dtype == numpy.int64 and len(indices) == 23 and len(set(indices.tolist())) == 23
    numpy.testing.assert_array_equal(numpy.bincount(labels[indices], minlength=10), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2])
    numpy.testing.assert_array_equal(balanced_subset(labels, 23, seed=5), indices)
    assert not numpy.array_equal(balanced_subset(labels, 23, seed=6), indices)
    assert not (numpy.diff(labels[indices]) >= 0).all(), "the subset should be shuffled, not grouped by class"


def test_balanced_subset_can_take_everything_or_nothing():
    labels = numpy.array([0, 1, 0, 1])
    assert sorted(balanced_subset(labels, 4, seed=0).tolist()) == [0, 1, 2, 3]
    assert balanced_subset(labels, 0, seed=0).shape == (0,)


def test_balanced_subset_errors():
    labels = numpy.array([0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"count must lie in 0\.\.4.*got 5"):
        balanced_subset(labels, 5, seed=0)
    with pytest.raises(ValueError, match="class 1 has only 1 examples.*needs 2"):
        balanced_subset(labels, 4, seed=0)


def test_channel_mean_std_against_the_formula():
    images = numpy.random.default_rng(3).integers(0, 256, size=(11, 5, 4, 3), dtype=numpy.uint8)
    images[..., 2] //= 4  # channels with different statistics
    mean, std = channel_mean_std(images, chunk_size=3)
    assert mean.dtype == numpy.float32 and std.dtype == numpy.float32 and mean.shape == std.shape == (3,)
    pixels = images.reshape(-1, 3) / 255.0
    numpy.testing.assert_allclose(mean, pixels.mean(axis=0), rtol=1e-6)
    numpy.testing.assert_allclose(std, pixels.std(axis=0), rtol=1e-6)


def test_channel_mean_std_of_constant_images():
    mean, std = channel_mean_std(numpy.full((4, 2, 2, 3), 51, dtype=numpy.uint8))
    numpy.testing.assert_allclose(mean, [0.2] * 3, rtol=1e-6)
    numpy.testing.assert_array_equal(std, [0.0] * 3)


def test_channel_mean_std_rejects_bad_input():
    with pytest.raises(ValueError, match=r"uint8 images \(N, H, W, 3\)"):
        channel_mean_std(numpy.zeros((2, 4, 4, 3), dtype=numpy.float32))
    with pytest.raises(ValueError, match="zero images"):
        channel_mean_std(numpy.zeros((0, 4, 4, 3), dtype=numpy.uint8))


# ---------------------------------------------------------------- the real data


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_ARCHIVE.exists(), reason=f"the shared CIFAR-10 archive is absent: {SHARED_ARCHIVE}")
def test_the_shared_archive():
    """Uses the default cache so the training runs that follow find it decoded (~10 s the first time)."""
    dataset = load_cifar10(SHARED_ARCHIVE)
    assert dataset.classes == CLASSES
    assert dataset.train_images.shape == (50000, 32, 32, 3) and dataset.test_images.shape == (10000, 32, 32, 3)
    assert numpy.bincount(dataset.train_labels).tolist() == [5000] * 10
    assert numpy.bincount(dataset.test_labels).tolist() == [1000] * 10
    with tarfile.open(SHARED_ARCHIVE) as archive:  # spot-check: the first test image of "truck"
        member = sorted(name for name in archive.getnames() if name.startswith("test/truck/"))[0]
        expected = numpy.asarray(Image.open(archive.extractfile(member)).convert("RGB"))
    numpy.testing.assert_array_equal(dataset.test_images[9000], expected)
