"""Tensor and the autograd engine: construction, accumulation, graph shapes, no_grad, detach, errors."""
import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Function, Tensor, backend, is_grad_enabled, no_grad


def grad_on_cpu(tensor):
    return backend.to_device(tensor.grad, "cpu")


def test_construction_dtypes():
    assert Tensor([1.0, 2.0]).dtype == numpy.float32  # Python floats default to float32, as in PyTorch
    assert Tensor(1.5).dtype == numpy.float32
    assert Tensor([1, 2]).dtype == numpy.int64
    assert Tensor([True]).dtype == bool
    assert Tensor(numpy.zeros(2)).dtype == numpy.float64  # an array keeps its dtype
    assert Tensor([1, 2], dtype="float64").dtype == numpy.float64
    x = Tensor(Tensor([1.0]), requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.grad is None


def test_properties_and_conversions():
    x = Tensor(numpy.arange(6.0).reshape(2, 3))
    assert (x.shape, x.ndim, x.size, len(x), x.device) == ((2, 3), 2, 6, 2, "cpu")
    assert Tensor([[4.0]]).item() == 4.0
    assert isinstance(x.numpy(), numpy.ndarray)
    assert "device='cpu'" in repr(x) and "requires_grad=True" in repr(leaf([1.0]))
    assert "grad_fn=Mul" in repr(leaf([1.0]) * 2)
    numpy.testing.assert_array_equal(x > 2, [[False, False, False], [True, True, True]])


def test_requires_grad_on_integers_is_refused():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients; this tensor is int64"):
        Tensor([1, 2], requires_grad=True)


def test_unknown_device_string():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Tensor([1.0], device="tpu")


def test_gradients_accumulate_until_reset(device):
    x = leaf([1.0, 2.0, 3.0], device)
    (x * x).sum().backward()
    (x * x).sum().backward()
    numpy.testing.assert_allclose(grad_on_cpu(x), [4.0, 8.0, 12.0])  # 2 * 2x
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    numpy.testing.assert_allclose(grad_on_cpu(x), [3.0, 3.0, 3.0])
    x.grad = None
    (x * 5).sum().backward()
    numpy.testing.assert_allclose(grad_on_cpu(x), [5.0, 5.0, 5.0])


def test_leaf_gradient_is_a_writable_copy():
    x = leaf([1.0, 2.0])
    x.sum().backward()  # Sum's backward hands out a read-only broadcast view
    x.grad *= 2
    numpy.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_leaves_never_share_a_gradient_array_with_each_other_or_the_caller(device):
    a, b = leaf([1.0, 2.0], device), leaf([3.0, 4.0], device)
    ((a + b) * 3.0).sum().backward()  # Add hands the same fresh gradient to both inputs
    assert a.grad is not b.grad
    c = leaf([1.0, 2.0], device)
    g = c.data * 5  # a fresh array of c's dtype
    c.backward(g)  # c is the root: the caller's array is not kept
    assert c.grad is not g


class Fresh(Function):
    """An op whose backward hands out a fresh array, for the test below."""

    def forward(self, x):
        return x * 1

    def backward(self, grad_output):
        self.handed_out = grad_output * 2
        return (self.handed_out,)


def test_a_fresh_gradient_of_the_leaf_dtype_is_kept_without_a_copy(device):
    x, op = leaf([1.0, 2.0], device), Fresh()
    op(x).backward(x.data * 1)
    assert x.grad is op.handed_out


class Halves(Function):
    """An op of two inputs whose backward hands out the two halves of one fresh array, as its own views."""

    grads_are_own_views = True

    def forward(self, a, b):
        return a + b

    def backward(self, grad_output):
        self.handed_out = backend.get_array_module(grad_output).concatenate([grad_output, grad_output * 2])
        return self.handed_out[:len(grad_output)], self.handed_out[len(grad_output):]


class SameViewsNotOwn(Halves):
    grads_are_own_views = False


def test_own_views_are_kept_without_a_copy_and_other_views_are_copied(device):
    """Kept: writing into the leaves' gradients writes into the array the op handed out; copied: it does not."""
    for op, kept in ((Halves(), True), (SameViewsNotOwn(), False)):
        a, b = leaf([1.0, 2.0], device), leaf([3.0, 4.0], device)
        op(a, b).backward(a.data * 1)
        a.grad[...] = 0
        b.grad[...] = 0
        expected = [0.0, 0.0, 0.0, 0.0] if kept else [1.0, 2.0, 2.0, 4.0]
        numpy.testing.assert_array_equal(backend.to_device(op.handed_out, "cpu"), expected)


def test_leaf_gradient_takes_the_leaf_dtype():
    x = Tensor(numpy.ones(3, dtype=numpy.float32), requires_grad=True)
    (x * numpy.array([1.0, 2.0, 3.0])).sum().backward()  # the product is float64
    assert x.grad.dtype == numpy.float32
    numpy.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])


def test_diamond_graph(device):
    x = leaf([0.5, -2.0, 3.0], device)
    y = x * x + x  # y reaches b along two paths
    b = y * 2 + y**2
    b.sum().backward()
    values = numpy.array([0.5, -2.0, 3.0])
    y_values = values**2 + values
    numpy.testing.assert_allclose(grad_on_cpu(x), (2 + 2 * y_values) * (2 * values + 1))


def test_backward_from_a_leaf():
    x = leaf([1.0, 2.0])
    x.backward(numpy.array([3.0, 4.0]))
    numpy.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_backward_accepts_a_tensor_gradient():
    x = leaf([1.0, 2.0])
    (x * 3).backward(Tensor(numpy.array([1.0, -1.0])))
    numpy.testing.assert_array_equal(x.grad, [3.0, -3.0])


def test_no_grad_records_nothing_and_restores_the_state():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2
        with no_grad():
            pass
        assert not is_grad_enabled()  # a nested block leaves the outer one in force
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(ZeroDivisionError), no_grad():
        1 / 0
    assert is_grad_enabled()
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_data():
    x = leaf([1.0, 2.0])
    detached = x.detach()
    assert detached.data is x.data and not detached.requires_grad and detached.grad_fn is None
    (x * x.detach()).sum().backward()  # only the first factor is differentiated
    numpy.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_long_chain_needs_no_recursion():
    x = leaf([1.0])
    y = x
    for step in range(10_000):
        y = y * 1.0 + 0.0 if step % 2 else F.neg(y)
    y.backward(numpy.array([1.0]))
    numpy.testing.assert_array_equal(x.grad, [1.0])  # an even number of negations
    del y  # freeing the chain must not recurse either


def test_integer_inputs_get_no_gradient():
    x = leaf([1.0, 2.0, 3.0])
    counts = Tensor([2, 0, 1])
    (x * counts).sum().backward()
    numpy.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0])
    assert counts.grad is None


# Add, Sub, concatenate and stack hand back a gradient for every input, constants included:
# only the engine's guard keeps it off a tensor that does not require grad.
@pytest.mark.parametrize("combine", [
    lambda x, c: x * c, lambda x, c: x + c, lambda x, c: c + x, lambda x, c: x - c, lambda x, c: c - x,
    lambda x, c: F.concatenate([x, c]), lambda x, c: F.stack([c, x]),
], ids=["mul", "add", "radd", "sub", "rsub", "concatenate", "stack"])
def test_constant_inputs_get_no_gradient(combine):
    x, constant = leaf([1.0, 2.0]), Tensor([5.0, 7.0], dtype="float64")
    combine(x, constant).sum().backward()
    assert constant.grad is None and not constant.requires_grad
    assert x.grad is not None


def test_ops_on_constants_record_no_graph():
    y = Tensor([1.0]) * 2
    assert not y.requires_grad and y.grad_fn is None


def test_backward_on_non_scalar_needs_a_gradient():
    with pytest.raises(RuntimeError, match=r"single-element tensor; this one has shape \(2,\)"):
        (leaf([1.0, 2.0]) * 2).backward()


def test_backward_with_gradient_of_wrong_shape():
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\) but the tensor has shape \(2,\)"):
        (leaf([1.0, 2.0]) * 2).backward(numpy.ones(3))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="backward\\(\\) on a tensor that does not require grad"):
        Tensor([1.0]).backward()


@pytest.mark.parametrize("make_graph", [lambda x: (x * x).sum(), lambda x: (x + x).sum()], ids=["saves arrays", "saves nothing"])
def test_second_backward_through_a_freed_graph(make_graph):
    x = leaf([1.0, 2.0])
    loss = make_graph(x)
    loss.backward()
    with pytest.raises(RuntimeError, match="a second time: the graph was freed.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    numpy.testing.assert_array_equal(x.grad, [4.0, 8.0])


class WrongCount(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        return (grad,)


class WrongShape(Function):
    def forward(self, a):
        return a.sum()

    def backward(self, grad):
        return (grad,)


def test_engine_checks_what_a_backward_returns():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="WrongCount.backward returned 1 gradients for 2 inputs"):
        WrongCount()(x, x).sum().backward()
    with pytest.raises(RuntimeError, match=r"WrongShape.backward returned a gradient of shape \(\) for input 0 of shape \(2,\)"):
        WrongShape()(x).backward()


@pytest.mark.gpu
def test_tensor_to_gpu_and_back():
    x = leaf([1.0, 2.0, 3.0])
    on_gpu = x.to("gpu")
    assert on_gpu.device == "gpu" and on_gpu.requires_grad
    assert Tensor([1.0], device="cuda").device == "gpu"
    result = (on_gpu * on_gpu + 1).to("cpu").sum()
    result.backward()
    numpy.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    assert isinstance(x.grad, numpy.ndarray)
    # and the other way round: a GPU leaf, a CPU computation
    y = leaf([1.0, -1.0], device="gpu")
    (y.to("cpu") * 3).sum().backward()
    assert backend.device_of(y.grad) == "gpu"
    numpy.testing.assert_allclose(grad_on_cpu(y), [3.0, 3.0])


class CountingArray(numpy.ndarray):
    """An upstream gradient that counts the NumPy operations (ufuncs such as arithmetic, sums and matrix
    products, and functions such as where) done on it and on every array computed from it: a backward's work."""

    operations = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = tuple(map(_plain, kwargs["out"]))
        return _counted(getattr(ufunc, method)(*map(_plain, inputs), **kwargs))

    def __array_function__(self, function, types, args, kwargs):
        return _counted(function(*map(_plain, args), **kwargs))


def _plain(value):
    return numpy.asarray(value) if isinstance(value, CountingArray) else value


def _counted(result):
    CountingArray.operations += 1
    return result.view(CountingArray) if isinstance(result, numpy.ndarray) else result


def backward_work(op, shapes, constant=None):
    """(the gradient op's backward returns for input ``constant``, the NumPy operations the backward took)
    under a random upstream gradient, with every input but that one requiring grad."""
    rng = numpy.random.default_rng(0)
    inputs = [Tensor(rng.standard_normal(shape) + 2.0, requires_grad=index != constant) for index, shape in enumerate(shapes)]
    output = op(*inputs)
    CountingArray.operations = 0
    grads = output.grad_fn.backward(rng.standard_normal(output.shape).view(CountingArray))
    positions = [id(tensor) for tensor in output.grad_fn.inputs]
    grad = None if constant is None else grads[positions.index(id(inputs[constant]))]
    return grad, CountingArray.operations


# Every Function that can skip work for an input that needs no gradient: op, input shapes (each input
# broadcast, so that even an addition's gradient takes work).
SKIPPING = {
    "add": (F.add, [(2, 1), (3,)]),
    "sub": (F.sub, [(2, 1), (3,)]),
    "mul": (F.mul, [(2, 1), (3,)]),
    "div": (F.div, [(2, 1), (3,)]),
    "matmul": (F.matmul, [(2, 3), (3, 4)]),
    "where": (lambda a, b: F.where(numpy.array([[True, False, True]] * 2), a, b), [(2, 1), (3,)]),
    "linear": (F.linear, [(4, 3), (2, 3), (2,)]),
    "conv2d": (lambda x, weight, bias: F.conv2d(x, weight, bias, padding=1), [(2, 3, 4, 4), (5, 3, 3, 3), (5,)]),
    "layer_norm": (lambda x, weight, bias: F.layer_norm(x, 5, weight, bias), [(4, 5), (5,), (5,)]),
}


@pytest.mark.parametrize("name", SKIPPING)
def test_needs_input_grad_skips_the_work_of_an_unwanted_gradient(name):
    op, shapes = SKIPPING[name]
    _, all_work = backward_work(op, shapes)
    for constant in range(len(shapes)):
        grad, work = backward_work(op, shapes, constant)
        assert grad is None, f"{name}: a gradient for input {constant}, which needs none"
        assert work < all_work, f"{name}: {work} operations without input {constant}'s gradient, {all_work} with it"


def test_every_array_a_backward_needs_is_freed_after_the_walk():
    """No op keeps an array on itself outside save_for_backward, so release() frees all of them."""
    rng = numpy.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 4, 4)), requires_grad=True)
    weight = Tensor(rng.standard_normal((3, 3, 3, 3)), requires_grad=True)
    outputs = [
        F.where(x.data > 0, x, 2 * x), F.cross_entropy(x.reshape(2, -1), numpy.array([1, 0])),
        F.conv2d(x, weight, padding=1), F.batch_norm(x, None, None, training=True), F.dropout(x, 0.5),
        F.linear(x, Tensor(rng.standard_normal((5, 4)), requires_grad=True)),
    ]
    for output in outputs:
        function = output.grad_fn
        output.sum().backward()
        arrays = [name for name, value in vars(function).items() if hasattr(value, "dtype") and name != "saved"]
        assert function.saved is None and not arrays, (type(function).__name__, arrays)
