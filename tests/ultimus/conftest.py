"""Fixtures of the application tests: a tiny CIFAR-10 built on disk (whole training runs fit in a unit test), no figure
left open, and runs without figures for the tests that do not read them."""
import pytest
from helpers import make_tiny_cifar

import ultimus.training.train
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


@pytest.fixture
def without_figures():
    """A finished run draws no figures and writes no report (most of a tiny run's time, in matplotlib), for the
    tests that read only its history, checkpoint or printout; the tests of the outputs draw them. A patch of its
    own, so that a test's monkeypatch.undo() leaves it in place."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ultimus.training.train, "save_run_outputs", lambda *_: None)
        yield
