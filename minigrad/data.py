"""Datasets held as arrays, and a loader that cuts them into (shuffled, transformed) batches.

Batches are gathered with one fancy-indexing call per array and transformed
as whole batches, so that augmentation is vectorized, never a Python loop over
samples. With ``prefetch`` the next batch is prepared in a background thread
while the caller computes on the current one.
"""
import contextlib
import queue
import threading

import numpy

from minigrad import backend
from minigrad.checks import positive_integer


class ArrayDataset:
    """Samples stored along the first axis of one or more arrays of equal length (e.g. images, labels).

    dataset[indices] -> a tuple with each array gathered at ``indices`` (an
    integer array or a slice); all arrays live on one device (NumPy or CuPy).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        lengths = [len(array) for array in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"ArrayDataset arrays must have the same length (first axis), got lengths {lengths}")
        devices = sorted({backend.device_of(array) for array in arrays})
        if len(devices) != 1:
            raise ValueError(f"ArrayDataset arrays must all live on one device, got arrays on {' and '.join(devices)}")
        self.arrays = arrays
        self.device = devices[0]

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, indices):
        if not isinstance(indices, slice):
            indices = backend.to_device(indices, self.device)
        return tuple(array[indices] for array in self.arrays)


class DataLoader:
    """Iterate over a dataset in batches: each batch is the tuple ``dataset[indices]``.

    dataset: anything with ``len()`` and ``dataset[integer_array] -> tuple of arrays``
    (a ``device`` attribute, as ArrayDataset has, says where to send the indices).
    shuffle: a new random order every epoch, drawn from a NumPy generator seeded
    by ``seed`` (None: drawn from minigrad's generator, see ``manual_seed``).
    drop_last: skip the last batch when it is smaller than batch_size.
    transform: ``transform(batch_tuple) -> batch_tuple``, applied to whole batches.
    prefetch: prepare the next batch (gather and transform) in a background thread.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, transform=None, seed=None, prefetch=True):
        positive_integer(batch_size, "batch_size")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable (batch_tuple -> batch_tuple), got {type(transform).__name__}")
        if seed is None:
            seed = int(backend.random_generator("cpu").integers(0, 2**32))
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last, self.transform, self.prefetch = shuffle, drop_last, transform, prefetch
        self.generator = numpy.random.default_rng(seed)

    def __len__(self):
        if self.drop_last:
            return len(self.dataset) // self.batch_size
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        """Start an epoch: its order is drawn now, so a state_dict taken before fixes it."""
        size = len(self.dataset)
        order = self.generator.permutation(size) if self.shuffle else numpy.arange(size)
        order = backend.to_device(order, getattr(self.dataset, "device", "cpu"))  # one copy per epoch, not per batch
        starts = range(0, len(self) * self.batch_size, self.batch_size)
        batches = (self._load(order[start:start + self.batch_size]) for start in starts)
        return _prefetched(batches) if self.prefetch else batches

    def _load(self, indices):
        batch = self.dataset[indices]
        return self.transform(batch) if self.transform is not None else batch

    def state_dict(self):
        """The shuffling generator's state: loading it makes the next epochs repeat exactly."""
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state_dict):
        self.generator.bit_generator.state = state_dict["generator"]


_DONE = object()


def _prefetched(batches, depth=2):
    """Yield from ``batches``, computed up to ``depth`` items ahead in a background thread.

    An exception in the thread is raised again here. When the consumer stops
    early (break, or an error of its own), the thread is told to stop and is
    joined, so no thread outlives the loop.
    """
    ready = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for batch in batches:
                if stop.is_set():
                    return
                ready.put(batch)
            ready.put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            ready.put(error)

    worker = threading.Thread(target=produce, name="minigrad-prefetch", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting to put into a full queue
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.01)
        worker.join()
