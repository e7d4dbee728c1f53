"""Helpers shared by the test files (on the path through ``pythonpath = tests`` in setup.cfg)."""
import pathlib

import numpy
from PIL import Image

import minigrad
from minigrad import Tensor

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"  # the real data, beside a checkout


def leaf(array, device="cpu"):
    """A float64 leaf that requires grad, as gradcheck wants."""
    return Tensor(array, requires_grad=True, dtype="float64", device=device)


def outputs_and_gradients(fn, arrays, upstream, device="cpu", dtype="float64"):
    """fn's output and the gradient of every input under the upstream gradient, all as NumPy arrays.

    arrays: NumPy arrays (or None, passed through), made into leaves of ``dtype`` on ``device``.
    """
    tensors = [None if array is None else Tensor(array, requires_grad=True, dtype=dtype, device=device)
               for array in arrays]
    output = fn(*tensors)
    output.backward(Tensor(upstream, dtype=dtype, device=device))
    return [output.numpy()] + [tensor.grad if device == "cpu" else tensor.grad.get()
                               for tensor in tensors if tensor is not None]


def assert_same_outputs_and_gradients(fast, plain, arrays, upstream, device, dtype):
    """fast and plain agree on the output and on every input's gradient, to the precision of ``dtype``."""
    tolerance = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-12)}[dtype]
    fast_results = outputs_and_gradients(fast, arrays, upstream, device, dtype)
    plain_results = outputs_and_gradients(plain, arrays, upstream, device, dtype)
    assert len(fast_results) == len(plain_results)
    names = ["output"] + [f"grad {index}" for index in range(len(fast_results) - 1)]
    for name, fast_result, plain_result in zip(names, fast_results, plain_results):
        assert fast_result.dtype == plain_result.dtype == dtype, name
        numpy.testing.assert_allclose(fast_result, plain_result, err_msg=name, **tolerance)


def tiny_model(seed=0):
    """A small Ultimus network (3 classes, 2 blocks, 8x8 images) for fast tests of the ultimus tools."""
    from ultimus.model import UltimusNet

    minigrad.manual_seed(seed)
    return UltimusNet(num_classes=3, blocks=2, channels=(3, 4, 8), image_size=8)


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
