"""A tiny CIFAR-10 of 10 classes built on disk, so that whole training runs fit in a unit test."""
import numpy
import pytest
from PIL import Image

from ultimus.figures import plt

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_tiny_cifar(root, train_per_class=4, test_per_class=2, seed=0):
    """root/train/<class>/*.png and root/test/<class>/*.png: random images, tinted by class so
    that there is something to learn. Returns ``root``."""
    generator = numpy.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for index in range(count):
                pixels = generator.integers(0, 128, size=(32, 32, 3)) + 12 * label
                Image.fromarray(pixels.astype(numpy.uint8)).save(root / split / name / f"{index}.png")
    return root


@pytest.fixture(scope="session")
def tiny_cifar_folder(tmp_path_factory):
    """An image folder of 40 training and 20 test images, 10 classes."""
    return make_tiny_cifar(tmp_path_factory.mktemp("tiny_cifar") / "images")


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """One cache folder for the session: the tiny data set is decoded once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every test starts and must end with no open pyplot figure (a leak would grow every epoch)."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []
