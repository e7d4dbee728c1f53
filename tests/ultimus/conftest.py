"""Fixtures of the application tests: a tiny CIFAR-10 built on disk (whole training runs fit in a unit test), no figure left open."""
import pytest
from helpers import make_tiny_cifar

from ultimus.diagnostics.figures import plt


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
