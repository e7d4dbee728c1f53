"""The operators beyond the op table (tests/op_table.py): Python scalars and NumPy arrays on either side, the
dtypes they give, unbroadcast, and the errors that name the op and the shapes."""
import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor, backend, gradcheck
from minigrad.functional.arithmetic import unbroadcast

RNG = numpy.random.default_rng(0)


def away_from_zero(*shape):
    """Random values with |x| in [0.5, 1.5]: safe denominators and bases."""
    return RNG.uniform(0.5, 1.5, shape) * RNG.choice([-1.0, 1.0], shape)


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
