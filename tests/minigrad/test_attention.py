"""The attention ops' argument checks: one clear line that names what is wrong, before any work.
(Values, gradients and PyTorch parity are the op table's: tests/op_table.py.)"""
import numpy
import pytest

import minigrad.functional as F

ONES = numpy.ones


def projections(size=8, features=6):
    """Three weights (size, features) and biases (size,), in projected_attention's order."""
    return [ONES((size, features)), ONES(size)] * 3


@pytest.mark.parametrize("op", [F.scaled_dot_product_attention, F.scaled_dot_product_attention_simple])
@pytest.mark.parametrize(("shapes", "scale", "message"), [
    (((4,), (3, 4), (3, 2)), None, r"expects query \(\.\.\., T, D\), key .* got shapes \(4,\), \(3, 4\) and \(3, 2\)"),
    (((2, 4), (3, 5), (3, 2)), None, r"query and key need the same feature size D, got shapes \(2, 4\) and \(3, 5\)"),
    (((2, 4), (3, 4), (2, 2)), None, r"key and value need one row per key, got shapes \(3, 4\) and \(2, 2\)"),
    (((2, 4), (3, 4), (3, 2)), 0.0, r"scale must be positive, got 0\.0"),
])
def test_scaled_dot_product_attention_names_what_is_wrong(op, shapes, scale, message):
    with pytest.raises(ValueError, match=message):
        op(*(ONES(shape) for shape in shapes), scale=scale)


def replaced(arrays, index, array):
    return [array if position == index else value for position, value in enumerate(arrays)]


@pytest.mark.parametrize("op", [F.projected_attention, F.projected_attention_simple])
@pytest.mark.parametrize(("x", "arrays", "items", "scale", "message"), [
    (ONES(()), projections(), 4, None, r"expects x \(\.\.\., F\) and three weights \(E, F\) of one shape, got shapes \(\)"),
    (ONES((2, 6)), replaced(projections(), 2, ONES((4, 6))), 4, None,
     r"three weights \(E, F\) of one shape, got shapes \(2, 6\), \(8, 6\), \(4, 6\), \(8, 6\)"),
    (ONES((2, 5)), projections(), 4, None, r"x has 5 features .* but the weights of shape \(8, 6\) expect 6"),
    (ONES((2, 6)), replaced(projections(), 5, ONES(4)), 4, None,
     r"the three biases must have shape \(8,\), got \(8,\), \(8,\), \(4,\)"),
    (ONES((2, 6)), replaced(projections(), 1, None), 4, None, r"the three biases .* got None, \(8,\), \(8,\)"),
    (ONES((2, 6)), projections(), 3, None, r"items must be a positive whole divisor of the projections' size 8, got 3"),
    (ONES((2, 6)), projections(), 2.0, None, r"items must be a positive whole divisor .* got 2\.0"),
    (ONES((2, 6)), projections(), 4, -1.0, r"scale must be positive, got -1\.0"),
])
def test_projected_attention_names_what_is_wrong(op, x, arrays, items, scale, message):
    with pytest.raises(ValueError, match=message):
        op(x, *arrays, items=items, scale=scale)
