"""What a run trains and evaluates on, made from ``Cifar10``: the eval split (test or validation),
class-balanced subsets, and the channel statistics that normalize the images."""
import dataclasses

import numpy

from ultimus.data.cifar10 import CLASS_COUNT
from ultimus.data.load import load_cifar10
from ultimus.errors import UsageError

VALIDATION_SEED = 0  # one fixed validation split, whatever the run's seed, so that runs compare on the same images


@dataclasses.dataclass
class RunData:
    """images: uint8 (N, 32, 32, 3); labels: int64 (N,) indices into ``classes``. The eval images
    are what the run evaluates on each epoch; ``eval_split`` says which they are: 'test' or 'validation'."""

    train_images: numpy.ndarray
    train_labels: numpy.ndarray
    eval_images: numpy.ndarray
    eval_labels: numpy.ndarray
    classes: list
    eval_split: str


def evaluate_on_test(data):
    """``data`` (a Cifar10) as RunData that evaluates on its test set."""
    return RunData(data.train_images, data.train_labels, data.test_images, data.test_labels, data.classes, "test")


def hold_out_validation(data, count):
    """RunData whose eval split is ``count`` class-balanced images held out of the training split of
    ``data`` (a Cifar10), and which never sees the test set.

    Recipe choices are made on this split; the test set is kept for the final report.
    """
    if not 0 < count < len(data.train_labels):
        raise UsageError(f"validation must hold out between 1 and {len(data.train_labels) - 1} training images, got {count}")
    held_out = balanced_subset(data.train_labels, count, VALIDATION_SEED)
    kept = numpy.setdiff1d(numpy.arange(len(data.train_labels)), held_out)
    return RunData(data.train_images[kept], data.train_labels[kept], data.train_images[held_out],
                   data.train_labels[held_out], data.classes, "validation")


def limit_to(data, limit, seed):
    """``data`` with ``limit`` class-balanced training images and a fifth as many (at least 10) eval images."""
    train = balanced_subset(data.train_labels, limit, seed)
    held_out = balanced_subset(data.eval_labels, min(len(data.eval_labels), max(limit // 5, 10)), seed)
    return dataclasses.replace(
        data, train_images=data.train_images[train], train_labels=data.train_labels[train],
        eval_images=data.eval_images[held_out], eval_labels=data.eval_labels[held_out])


def check_classes(data, source):
    """Raise ValueError unless both splits of ``data`` (a Cifar10) hold images of each of CIFAR-10's 10 classes."""
    if len(data.classes) != CLASS_COUNT:
        raise ValueError(f"the data of {source} has {len(data.classes)} classes ({', '.join(data.classes)}); "
                         f"CIFAR-10 has {CLASS_COUNT}")
    for split in ("train", "test"):
        missing = set(range(CLASS_COUNT)) - set(numpy.unique(getattr(data, f"{split}_labels")).tolist())
        if missing:
            raise ValueError(f"the {split} split of {source} has no images of class {data.classes[min(missing)]!r}")


def prepare_data(config):
    """The RunData ``config`` asks for (optionally a validation split, then a class-balanced subset)
    and its training images' mean and std (3,)."""
    cifar10 = load_cifar10(config.data, cache_dir=config.cache_dir, progress=config.progress)
    check_classes(cifar10, config.data or "the official archive")
    data = hold_out_validation(cifar10, config.validation) if config.validation else evaluate_on_test(cifar10)
    if config.limit and config.limit > len(data.train_labels):
        raise UsageError(f"--limit {config.limit} is more than the {len(data.train_labels)} training images")
    if config.limit:
        data = limit_to(data, config.limit, config.seed)
    mean, std = channel_mean_std(data.train_images)
    return data, mean, std


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
