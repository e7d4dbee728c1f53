"""add, sub, mul, div, neg, pow, scale, matmul: values against NumPy, gradients against finite differences."""
import numpy
import pytest

import minigrad.functional as F
from minigrad import Tensor, backend, gradcheck
from minigrad.functional.arithmetic import unbroadcast
from helpers import leaf

RNG = numpy.random.default_rng(0)


def away_from_zero(*shape):
    """Random values with |x| in [0.5, 1.5]: safe denominators and bases."""
    return RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1.0, 1.0], shape)


BINARY_OPS = {"add": (F.add, numpy.add), "sub": (F.sub, numpy.subtract), "mul": (F.mul, numpy.multiply), "div": (F.div, numpy.divide)}
# Broadcasting in both directions, and 0-d operands on either side.
BROADCAST_SHAPES = [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4,), (2, 3, 4)), ((), (2, 3)), ((2, 3), ())]


@pytest.mark.parametrize("name", BINARY_OPS)
@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_SHAPES)
def test_binary_op_values_and_gradients(name, shape_a, shape_b, device):
    op, reference = BINARY_OPS[name]
    a_array, b_array = away_from_zero(*shape_a), away_from_zero(*shape_b)
    a, b = leaf(a_array, device), leaf(b_array, device)
    numpy.testing.assert_allclose(op(a, b).numpy(), reference(a_array, b_array), rtol=1e-12)
    assert gradcheck(op, [a, b])


@pytest.mark.parametrize(
    "expression",
    [lambda a: a + 2.5, lambda a: 2.5 + a, lambda a: a - 2.5, lambda a: 2.5 - a, lambda a: a * 3, lambda a: 3 * a,
     lambda a: a / 4.0, lambda a: 4.0 / a, lambda a: -a],
)
def test_python_scalars_on_either_side(expression, device):
    a_array = away_from_zero(2, 3)
    assert gradcheck(expression, [leaf(a_array, device)])
    numpy.testing.assert_allclose(expression(Tensor(a_array)).numpy(), expression(a_array), rtol=1e-12)


def test_operators_match_hand_computed_gradients():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a * b - a / b).sum().backward()
    # d/da (ab - a/b) = b - 1/b; d/db = a + a/b^2
    numpy.testing.assert_allclose(a.grad, [3 - 1 / 3, 4 - 1 / 4])
    numpy.testing.assert_allclose(b.grad, [1 + 1 / 9, 2 + 2 / 16])


@pytest.mark.parametrize("exponent", [2, 3, -1, 0.5, -1.5, 0])
def test_pow_values_and_gradients(exponent, device):
    base = RNG.uniform(0.5, 2.0, (2, 3))
    x = leaf(base, device)
    numpy.testing.assert_allclose((x**exponent).numpy(), base**exponent, rtol=1e-12)
    assert gradcheck(lambda x: x**exponent, [x])


def test_pow_rejects_tensor_exponent():
    with pytest.raises(TypeError, match="exponent must be a Python number, got Tensor"):
        Tensor([1.0]) ** Tensor([2.0])


def test_scale_equals_mul_by_the_constant_as_a_tensor(device):
    """In float32, where the constant's rounding shows: the same values and gradients, to the last bit."""
    values = away_from_zero(2, 3).astype(numpy.float32)
    scaled, multiplied = (Tensor(values, requires_grad=True, device=device) for _ in range(2))
    output, expected = F.scale(scaled, 0.1), multiplied * 0.1
    (output * output).sum().backward()
    (expected * expected).sum().backward()
    numpy.testing.assert_array_equal(output.numpy(), expected.numpy())
    numpy.testing.assert_array_equal(backend.to_device(scaled.grad, "cpu"), backend.to_device(multiplied.grad, "cpu"))
    assert gradcheck(lambda x: F.scale(x, -2.5), [leaf(away_from_zero(2, 3), device)])
    with pytest.raises(TypeError, match="factor must be a Python number, got Tensor"):
        F.scale(scaled, Tensor(2.0))


MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),  # 1-D on the left
    ((3, 4), (4,)),  # 1-D on the right
    ((4,), (4,)),  # both 1-D: a scalar
    ((2, 3, 4), (4, 5)),  # batched against a matrix
    ((4,), (2, 4, 3)),  # 1-D against a batch
    ((2, 1, 3, 4), (5, 4, 2)),  # 4-D with 3-D, batch axes broadcast both ways
]


def matmul_by_loops(a, b):
    """The definition sum_k a[..., i, k] b[..., k, j] on matrices, for a few batch layouts."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = numpy.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2, b2 = numpy.broadcast_to(a2, batch + a2.shape[-2:]), numpy.broadcast_to(b2, batch + b2.shape[-2:])
    out = numpy.zeros(batch + (a2.shape[-2], b2.shape[-1]))
    for index in numpy.ndindex(*batch, a2.shape[-2], b2.shape[-1]):
        *batch_index, i, j = index
        out[index] = sum(a2[(*batch_index, i, k)] * b2[(*batch_index, k, j)] for k in range(a2.shape[-1]))
    if b.ndim == 1:
        out = out[..., 0]
    if a.ndim == 1:
        out = out[..., 0, :] if b.ndim > 1 else out[..., 0]
    return out


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
def test_matmul_values_and_gradients(shape_a, shape_b, device):
    a_array, b_array = RNG.standard_normal(shape_a), RNG.standard_normal(shape_b)
    a, b = leaf(a_array, device), leaf(b_array, device)
    numpy.testing.assert_allclose((a @ b).numpy(), matmul_by_loops(a_array, b_array), rtol=1e-10, atol=1e-12)
    assert gradcheck(F.matmul, [a, b])


def test_add_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"Add on shapes \(2, 3\), \(4,\)"):
        Tensor(numpy.ones((2, 3))) + Tensor(numpy.ones(4))


def test_matmul_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"MatMul on shapes \(2, 3\), \(4, 5\)"):
        Tensor(numpy.ones((2, 3))) @ Tensor(numpy.ones((4, 5)))


def test_matmul_rejects_scalars():
    with pytest.raises(ValueError, match=r"MatMul on shapes \(\), \(3,\)"):
        F.matmul(Tensor(2.0), Tensor(numpy.ones(3)))


def test_unbroadcast_sums_over_stretched_axes():
    grad = RNG.standard_normal((2, 3, 4))
    numpy.testing.assert_allclose(unbroadcast(grad, (3, 1)), grad.sum(axis=(0, 2))[:, None])
    numpy.testing.assert_allclose(unbroadcast(grad, ()), grad.sum())
    assert unbroadcast(grad, (2, 3, 4)) is grad


def test_float32_with_python_scalar_stays_float32():
    x = Tensor(numpy.ones(3, dtype=numpy.float32))
    for result in (x * 2.5, 2.5 * x, x + 1, x / 3, 1 - x, x**2):
        assert result.dtype == numpy.float32


def test_integer_tensor_times_float_scalar_is_not_truncated():
    result = Tensor([1, 2, 3]) * 2.5
    assert result.dtype.kind == "f"
    numpy.testing.assert_array_equal(result.numpy(), [2.5, 5.0, 7.5])
    assert (Tensor([1, 2, 3]) + 1).dtype == numpy.int64


def test_ndarray_on_the_left_returns_tensor():
    x = Tensor([1.0, 2.0, 4.0])
    array = numpy.array([8.0, 8.0, 8.0])
    for result, expected in ((array * x, [8, 16, 32]), (array - x, [7, 6, 4]), (array / x, [8, 4, 2]), (array + x, [9, 10, 12])):
        assert isinstance(result, Tensor)
        numpy.testing.assert_allclose(result.numpy(), expected)
    product = numpy.ones((2, 3)) @ x
    assert isinstance(product, Tensor)
    numpy.testing.assert_allclose(product.numpy(), [7.0, 7.0])
