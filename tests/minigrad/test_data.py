"""ArrayDataset and DataLoader: coverage of every sample, order, transforms, the prefetch thread, resumption."""
import threading
import time

import numpy
import pytest

from minigrad import backend, manual_seed
from minigrad.data import ArrayDataset, DataLoader


def numbered_dataset(size=10):
    """Sample i has features (i, -i) and label i, so a batch tells which samples it holds."""
    labels = numpy.arange(size)
    return ArrayDataset(numpy.stack([labels, -labels], axis=1).astype("float32"), labels)


def epoch_labels(loader):
    return [batch[1].tolist() for batch in loader]


def prefetch_threads():
    return [thread for thread in threading.enumerate() if thread.name == "minigrad-prefetch"]


def wait_for_no_prefetch_thread(timeout=5.0):
    deadline = time.monotonic() + timeout
    while prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not prefetch_threads()


def test_array_dataset_gathers_every_array_at_the_same_indices():
    images, labels = numpy.arange(24).reshape(6, 2, 2), numpy.arange(6) * 10
    dataset = ArrayDataset(images, labels)
    assert len(dataset) == 6 and dataset.device == "cpu"
    gathered_images, gathered_labels = dataset[numpy.array([4, 0, 4])]
    numpy.testing.assert_array_equal(gathered_images, images[[4, 0, 4]])
    numpy.testing.assert_array_equal(gathered_labels, [40, 0, 40])
    sliced_images, sliced_labels = dataset[1:3]
    numpy.testing.assert_array_equal(sliced_images, images[1:3])
    numpy.testing.assert_array_equal(sliced_labels, [10, 20])


def test_array_dataset_rejects_bad_arrays():
    with pytest.raises(ValueError, match=r"same length \(first axis\), got lengths \[5, 4\]"):
        ArrayDataset(numpy.zeros((5, 3)), numpy.zeros(4))
    with pytest.raises(ValueError, match="needs at least one array"):
        ArrayDataset()


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("prefetch", [False, True])
def test_every_sample_appears_once_per_epoch(shuffle, prefetch):
    loader = DataLoader(numbered_dataset(10), batch_size=3, shuffle=shuffle, seed=0, prefetch=prefetch)
    for _ in range(2):
        batches = list(loader)
        assert [len(labels) for _, labels in batches] == [3, 3, 3, 1]  # the last batch is the partial rest
        labels = numpy.concatenate([labels for _, labels in batches])
        assert sorted(labels.tolist()) == list(range(10))
        features = numpy.concatenate([features for features, _ in batches])
        numpy.testing.assert_array_equal(features, numpy.stack([labels, -labels], axis=1))
    if not shuffle:
        assert labels.tolist() == list(range(10))


def test_drop_last_skips_the_partial_batch():
    loader = DataLoader(numbered_dataset(10), batch_size=3, shuffle=True, drop_last=True, seed=1)
    batches = epoch_labels(loader)
    assert len(loader) == len(batches) == 3 and all(len(labels) == 3 for labels in batches)
    assert len(set(sum(batches, []))) == 9


@pytest.mark.parametrize("size, batch_size, drop_last, expected", [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3), (9, 3, True, 3), (2, 5, False, 1), (2, 5, True, 0), (0, 4, False, 0),
])
def test_len_counts_the_batches(size, batch_size, drop_last, expected):
    loader = DataLoader(numbered_dataset(size), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == expected == len(list(loader))


def test_a_seed_makes_the_order_reproducible_and_epochs_differ():
    first = DataLoader(numbered_dataset(50), batch_size=7, shuffle=True, seed=123)
    second = DataLoader(numbered_dataset(50), batch_size=7, shuffle=True, seed=123)
    first_epochs = [epoch_labels(first) for _ in range(3)]
    assert [epoch_labels(second) for _ in range(3)] == first_epochs
    assert first_epochs[0] != first_epochs[1] != first_epochs[2]
    assert epoch_labels(DataLoader(numbered_dataset(50), batch_size=7, shuffle=True, seed=124)) != first_epochs[0]


def test_without_a_seed_the_order_follows_manual_seed():
    manual_seed(7)
    first = epoch_labels(DataLoader(numbered_dataset(30), batch_size=4, shuffle=True))
    manual_seed(7)
    assert epoch_labels(DataLoader(numbered_dataset(30), batch_size=4, shuffle=True)) == first


def test_the_transform_receives_whole_batches():
    seen = []

    def double_features(batch):
        features, labels = batch
        seen.append((features.shape, labels.shape))
        return features * 2, labels

    loader = DataLoader(numbered_dataset(10), batch_size=4, shuffle=True, transform=double_features, seed=0)
    for features, labels in loader:
        numpy.testing.assert_array_equal(features, 2 * numpy.stack([labels, -labels], axis=1))
    assert seen == [((4, 2), (4,)), ((4, 2), (4,)), ((2, 2), (2,))]


def test_prefetch_gives_the_same_batches_as_no_prefetch():
    def scale(batch):
        return batch[0] * 0.5, batch[1]

    options = {"batch_size": 6, "shuffle": True, "transform": scale, "seed": 5}
    with_prefetch = DataLoader(numbered_dataset(40), prefetch=True, **options)
    without_prefetch = DataLoader(numbered_dataset(40), prefetch=False, **options)
    for _ in range(2):
        for ours, reference in zip(with_prefetch, without_prefetch, strict=True):
            for array, expected in zip(ours, reference, strict=True):
                numpy.testing.assert_array_equal(array, expected)


@pytest.mark.parametrize("prefetch", [False, True])
def test_an_exception_in_the_transform_reaches_the_caller(prefetch):
    def fail_on_third_batch(batch):
        if 9 in batch[1]:
            raise RuntimeError("augmentation failed on the batch with sample 9")
        return batch

    loader = DataLoader(numbered_dataset(20), batch_size=4, transform=fail_on_third_batch, prefetch=prefetch)
    received = []
    with pytest.raises(RuntimeError, match="augmentation failed on the batch with sample 9"):
        for _, labels in loader:
            received.append(labels.tolist())
    assert received == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert wait_for_no_prefetch_thread()


@pytest.mark.parametrize("slow_side", ["transform", "caller"])
def test_breaking_out_early_stops_the_prefetch_thread(slow_side):
    """A slow caller leaves the thread blocked on a full queue; a slow transform leaves it mid-batch."""
    def slow_transform(batch):
        time.sleep(0.005)
        return batch

    transform = slow_transform if slow_side == "transform" else None
    loader = DataLoader(numbered_dataset(200), batch_size=2, transform=transform, prefetch=True)
    for index, _ in enumerate(loader):
        assert len(prefetch_threads()) == 1
        if slow_side == "caller":
            time.sleep(0.02)
        if index == 2:
            break
    assert wait_for_no_prefetch_thread()
    with pytest.raises(ZeroDivisionError):  # an error in the caller's own loop body also stops it
        for _ in loader:
            time.sleep(0.02)
            1 / 0
    assert wait_for_no_prefetch_thread()
    assert len(list(loader)) == 100  # and the loader still works afterwards


def test_state_dict_resumes_the_next_epoch_order():
    loader = DataLoader(numbered_dataset(30), batch_size=4, shuffle=True, seed=11)
    epoch_labels(loader)
    saved = loader.state_dict()
    expected = [epoch_labels(loader) for _ in range(2)]
    resumed = DataLoader(numbered_dataset(30), batch_size=4, shuffle=True, seed=999)
    resumed.load_state_dict(saved)
    assert [epoch_labels(resumed) for _ in range(2)] == expected


def test_bad_loader_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        DataLoader(numbered_dataset(), batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 2.5"):
        DataLoader(numbered_dataset(), batch_size=2.5)
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(numbered_dataset(), transform="flip")


@pytest.mark.gpu
def test_gpu_dataset_is_gathered_on_the_device():
    cupy = backend.require_cupy()
    labels = numpy.arange(25)
    dataset = ArrayDataset(backend.to_device(labels.astype("float32"), "gpu"), backend.to_device(labels, "gpu"))
    assert dataset.device == "gpu"
    loader = DataLoader(dataset, batch_size=4, shuffle=True, seed=0, transform=lambda batch: (batch[0] + 1, batch[1]))
    seen = []
    for features, batch_labels in loader:
        assert isinstance(features, cupy.ndarray) and isinstance(batch_labels, cupy.ndarray)
        numpy.testing.assert_array_equal(features.get(), batch_labels.get() + 1)
        seen += batch_labels.get().tolist()
    assert sorted(seen) == labels.tolist()
    cpu_order = sum(epoch_labels(DataLoader(numbered_dataset(25), batch_size=4, shuffle=True, seed=0, prefetch=False)), [])
    assert seen == cpu_order
