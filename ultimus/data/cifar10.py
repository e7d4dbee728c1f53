"""CIFAR-10 as NumPy arrays: the ``Cifar10`` container and the facts of the published format.

Where the arrays come from: :mod:`ultimus.data.sources` reads an archive or folder, :mod:`ultimus.data.cache`
keeps the decoded arrays, :func:`ultimus.data.load.load_cifar10` ties the two together.
"""
import dataclasses

import numpy

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
OFFICIAL_ARCHIVE = "cifar-10-python.tar.gz"
OFFICIAL_META = "batches.meta"
OFFICIAL_TRAIN_BATCHES = tuple(f"data_batch_{number}" for number in range(1, 6))
OFFICIAL_TEST_BATCH = "test_batch"
OFFICIAL_FILES = (OFFICIAL_META, *OFFICIAL_TRAIN_BATCHES, OFFICIAL_TEST_BATCH)
CLASS_COUNT = 10
IMAGE_SIZE = 32
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")

WHERE_TO_POINT = (
    "point --data (the `source` of load_cifar10) at CIFAR-10: the official archive "
    f"{OFFICIAL_ARCHIVE} from {OFFICIAL_URL} (md5 {OFFICIAL_MD5}), or an image folder "
    "train/<class>/*.png|jpg with test/<class>/... (or a .tar.gz of one)"
)


@dataclasses.dataclass
class Cifar10:
    """CIFAR-10 in memory. images: uint8 (N, 32, 32, 3); labels: int64 (N,) indices into ``classes``."""

    train_images: numpy.ndarray
    train_labels: numpy.ndarray
    test_images: numpy.ndarray
    test_labels: numpy.ndarray
    classes: list

    def check(self):
        """Raise ValueError unless the arrays have the shapes and dtypes promised above."""
        for split in SPLITS:
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != numpy.uint8 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
                raise ValueError(f"{split} images are {images.dtype} {images.shape}, expected uint8 (N, 32, 32, 3)")
            if labels.dtype != numpy.int64 or labels.shape != (len(images),):
                raise ValueError(f"{split} labels are {labels.dtype} {labels.shape}, expected int64 ({len(images)},)")
            if len(labels) and not 0 <= labels.min() <= labels.max() < len(self.classes):
                raise ValueError(f"{split} labels fall outside 0..{len(self.classes) - 1}")


def where(source, name):
    """How errors name the file ``name`` inside ``source``."""
    return f"{name} in {source}"
