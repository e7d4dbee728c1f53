"""The shape ops beyond the op table (tests/op_table.py): .T, indexing with two arrays or a mask, repeated indices,
the errors, and gradients across devices."""
import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor, backend, gradcheck

RNG = numpy.random.default_rng(3)


# op on a Tensor, and the same op on a NumPy array: the forms that the op table does not draw
ONE_INPUT_CASES = {
    "transpose as .T": (lambda x: x.T, lambda a: a.transpose()),
    "getitem two arrays": (lambda x: x[[0, 1, 1], :, [3, 3, 0]], lambda a: a[[0, 1, 1], :, [3, 3, 0]]),
}


@pytest.mark.parametrize("name", ONE_INPUT_CASES)
def test_values_and_gradients(name, device):
    op, reference = ONE_INPUT_CASES[name]
    array = RNG.standard_normal((2, 3, 4))
    x = leaf(array, device)
    numpy.testing.assert_array_equal(op(x).numpy(), reference(array))
    assert gradcheck(op, [x])


def test_getitem_boolean_mask(device):
    array = RNG.standard_normal((3, 4))
    mask = array > 0
    x = leaf(array, device)
    numpy.testing.assert_array_equal(x[mask].numpy(), array[mask])
    assert gradcheck(lambda x: x[mask], [x])
    x.grad = None
    x[mask].sum().backward()
    numpy.testing.assert_array_equal(backend.to_device(x.grad, "cpu"), mask.astype(float))


def test_repeated_indices_accumulate_their_gradients():
    x = leaf([10.0, 20.0, 30.0])
    x[[0, 0, 2]].backward(numpy.array([1.0, 2.0, 4.0]))
    numpy.testing.assert_array_equal(x.grad, [3.0, 0.0, 4.0])


def test_integer_tensor_index_gets_no_gradient():
    x = leaf([10.0, 20.0, 30.0])
    index = Tensor([2, 2, 1])
    result = x[index]
    result.sum().backward()
    numpy.testing.assert_array_equal(result.numpy(), [30.0, 30.0, 20.0])
    numpy.testing.assert_array_equal(x.grad, [0.0, 1.0, 2.0])
    assert index.grad is None and not index.requires_grad


def test_concatenate_and_stack_errors():
    with pytest.raises(ValueError, match="concatenate needs at least one tensor"):
        F.concatenate([])
    with pytest.raises(ValueError, match=r"stack: all tensors need the same number of dimensions, got shapes \[\(2,\), \(2, 1\)\]"):
        F.stack([Tensor(numpy.ones(2)), Tensor(numpy.ones((2, 1)))])
    with pytest.raises(ValueError, match=r"Concatenate on shapes \(2, 3\), \(4, 5\)"):
        F.concatenate([Tensor(numpy.ones((2, 3))), Tensor(numpy.ones((4, 5)))], axis=1)


@pytest.mark.parametrize("axes", [(0, 1), (0, 1, 5), (0, 0, 1), (0, 1, -4)])
def test_transpose_rejects_non_permutations(axes):
    with pytest.raises(ValueError, match="Transpose on shapes \\(2, 3, 4\\)"):
        F.transpose(Tensor(numpy.ones((2, 3, 4))), axes)


def test_reshape_to_wrong_size_names_the_op():
    with pytest.raises(ValueError, match=r"Reshape on shapes \(2, 3\)"):
        Tensor(numpy.ones((2, 3))).reshape(4, 2)


def test_to_cpu_is_a_no_op_that_passes_the_gradient():
    x = leaf([1.0, 2.0])
    y = x.to("cpu")
    assert y.data is x.data and y.device == "cpu"
    (y * 3).sum().backward()
    numpy.testing.assert_array_equal(x.grad, [3.0, 3.0])


@pytest.mark.gpu
def test_gradient_flows_across_devices():
    array = RNG.standard_normal((2, 3))
    x = leaf(array)
    on_gpu = x.to("gpu")
    assert on_gpu.device == "gpu"
    back = (on_gpu * on_gpu).to("cpu")
    assert back.device == "cpu" and isinstance(back.data, numpy.ndarray)
    back.sum().backward()
    assert isinstance(x.grad, numpy.ndarray)
    numpy.testing.assert_allclose(x.grad, 2 * array)
    assert gradcheck(lambda x: (x.to("gpu") ** 3).sum(axis=0).to("cpu"), [leaf(array)])
