"""conv2d beyond the op table (tests/op_table.py): a frozen weight, the model's first layer, batch-last input,
the chain of the model's stage, im2col and col2im, and the errors."""
import numpy
import pytest
from helpers import outputs_and_gradients
from op_table import conv2d_by_loops

from minigrad import Tensor, gradcheck
from minigrad.functional import batch_norm, conv2d, relu
from minigrad.functional.conv import col2im, im2col, pad_spatial, sliding_output_shape
from minigrad.layout import batch_first, batch_last

# (batch, in_channels, out_channels, image (H, W), kernel (kh, kw), stride, padding, with_bias)
CASES = [
    (2, 3, 5, (5, 7), (3, 3), 1, 0, True),
    (2, 3, 5, (5, 7), (3, 3), 2, 1, False),
    (1, 2, 3, (6, 5), (3, 2), 1, 2, True),
    (2, 3, 4, (7, 6), (2, 3), (2, 1), (1, 0), True),
    (1, 1, 1, (4, 4), (4, 4), 1, 0, False),
]


def make_inputs(case, device="cpu", seed=0):
    batch, in_channels, out_channels, image, kernel, stride, padding, with_bias = case
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((batch, in_channels) + image)
    weight = rng.standard_normal((out_channels, in_channels) + kernel)
    bias = rng.standard_normal(out_channels) if with_bias else None
    tensors = [Tensor(array, requires_grad=True, device=device) for array in (x, weight, bias) if array is not None]
    return (x, weight, bias), tensors, stride, padding


@pytest.mark.parametrize("case", CASES[:2], ids=["bias", "no-bias"])
def test_a_frozen_weight_and_bias_still_pass_the_gradient_to_x(case):
    """Whether x needs a gradient is x's business: a frozen layer must not cut the graph below it."""
    (x, weight, bias), _, stride, padding = make_inputs(case)
    upstream = numpy.random.default_rng(1).standard_normal(conv2d_by_loops(x, weight, bias, stride, padding).shape)
    frozen = [Tensor(weight), None if bias is None else Tensor(bias)]
    _, grad_x = outputs_and_gradients(lambda x: conv2d(x, *frozen, stride=stride, padding=padding), [x], upstream)
    _, expected_grad_x, *_ = outputs_and_gradients(
        lambda *inputs: conv2d(*inputs, stride=stride, padding=padding), [x, weight, bias], upstream)
    assert grad_x is not None
    numpy.testing.assert_allclose(grad_x, expected_grad_x, rtol=1e-12)


def test_model_layer_float32_keeps_dtype_and_skips_input_gradient():
    """The model's first layer: float32 throughout, and no gradient computed for the input images."""
    rng = numpy.random.default_rng(0)
    images = Tensor(rng.standard_normal((4, 3, 8, 8)).astype(numpy.float32))
    weight = Tensor(rng.standard_normal((16, 3, 3, 3)).astype(numpy.float32), requires_grad=True)
    bias = Tensor(numpy.zeros(16, dtype=numpy.float32), requires_grad=True)
    output = conv2d(images, weight, bias, stride=2, padding=1)
    assert output.shape == (4, 16, 4, 4) and output.dtype == numpy.float32
    output.sum().backward()
    assert images.grad is None
    assert weight.grad.dtype == numpy.float32 and weight.grad.shape == (16, 3, 3, 3) and weight.grad.flags.c_contiguous
    numpy.testing.assert_allclose(bias.grad, numpy.full(16, 4 * 4 * 4))


def stored_batch_last(array):
    """The same values, stored (C, H, W, N) in memory and seen as (N, C, H, W)."""
    return batch_first(numpy.ascontiguousarray(batch_last(array)))


def is_stored_batch_last(array):
    return batch_last(array).flags.c_contiguous


@pytest.mark.parametrize("case", CASES[:4])
def test_batch_last_input_gives_the_same_output_and_gradients(case):
    """The layout of x is invisible: same values and gradients, and the output is stored batch-last."""
    (x, weight, bias), tensors, stride, padding = make_inputs(case)
    results = []
    for stored in (x, stored_batch_last(x)):
        inputs = [Tensor(stored, requires_grad=True)] + [Tensor(array, requires_grad=True) for array in tensors[1:]]
        output = conv2d(*inputs, stride=stride, padding=padding)
        output.backward(numpy.random.default_rng(3).standard_normal(output.shape))
        assert is_stored_batch_last(output.data)
        results.append([output.data] + [tensor.grad for tensor in inputs])
    for contiguous_result, batch_last_result in zip(*results):
        numpy.testing.assert_allclose(batch_last_result, contiguous_result, rtol=1e-12, atol=1e-14)
    expected = conv2d_by_loops(x, weight, bias, stride, padding)
    numpy.testing.assert_allclose(results[0][0], expected, rtol=1e-10, atol=1e-12)


def test_gradcheck_of_the_model_stage_chain():
    """conv2d -> batch_norm -> relu -> conv2d: batch-last activations flow between the ops."""
    rng = numpy.random.default_rng(4)
    arrays = [
        rng.standard_normal((3, 2, 6, 6)),  # x
        rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3),  # first convolution
        rng.uniform(0.5, 1.5, 3), rng.standard_normal(3),  # batch_norm's weight and bias
        rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2),  # second convolution
    ]

    def chain(x, weight1, bias1, scale, shift, weight2, bias2):
        hidden = conv2d(x, weight1, bias1, stride=2, padding=1)
        hidden = relu(batch_norm(hidden, None, None, scale, shift, training=True))
        return conv2d(hidden, weight2, bias2, padding=1)

    assert gradcheck(chain, [Tensor(array, requires_grad=True) for array in arrays])


@pytest.mark.parametrize("batch_last_input", [False, True])
def test_pad_spatial_of_many_images_in_either_layout(batch_last_input):
    """More images than one copied chunk (16), stored batch-first or batch-last: the same padded array."""
    x = numpy.random.default_rng(5).standard_normal((37, 2, 3, 4))
    stored = stored_batch_last(x) if batch_last_input else x
    padded = pad_spatial(batch_last(stored), (1, 2))
    expected = numpy.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2))).transpose(1, 2, 3, 0)
    numpy.testing.assert_array_equal(padded, expected)
    assert padded.flags.c_contiguous


# (kernel, stride): kernel >= stride (the tiles cover a block), kernel < stride (gaps), and one of each
COL2IM_CASES = [((3, 2), (2, 2)), ((3, 3), (1, 1)), ((1, 2), (2, 3)), ((3, 1), (2, 2)), ((2, 2), (3, 2))]


def reference_col2im(columns, padded_shape, stride):
    """Each column entry added to its pixel, one entry at a time."""
    image = numpy.zeros(padded_shape)
    for (i, j, c, y, x, n), value in numpy.ndenumerate(columns):
        image[c, y * stride[0] + i, x * stride[1] + j, n] += value
    return image


@pytest.mark.parametrize("kernel_size, stride", COL2IM_CASES)
def test_col2im_matches_entry_by_entry_loop(kernel_size, stride):
    padded_shape = (2, 8, 9, 3)  # (C, Hp, Wp, N): batch last
    output_shape = sliding_output_shape(padded_shape[1:3], kernel_size, stride, (0, 0))
    numpy.empty(padded_shape)[...] = numpy.nan  # leftover memory that a new empty image might reuse
    columns_shape = kernel_size + padded_shape[:1] + output_shape + padded_shape[3:]  # (kh, kw, C, H_out, W_out, N)
    columns = numpy.random.default_rng(1).standard_normal(columns_shape)
    expected = reference_col2im(columns, padded_shape, stride)
    numpy.testing.assert_allclose(col2im(columns, padded_shape, stride), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kernel_size, stride", COL2IM_CASES)
def test_col2im_is_the_adjoint_of_im2col(kernel_size, stride):
    """<im2col(x), c> == <x, col2im(c)>: col2im is exactly the transpose of the unrolling."""
    rng = numpy.random.default_rng(0)
    padded = rng.standard_normal((3, 7, 8, 2))  # (C, Hp, Wp, N): batch last
    output_shape = sliding_output_shape(padded.shape[1:3], kernel_size, stride, (0, 0))
    columns = rng.standard_normal(kernel_size + (3,) + output_shape + (2,))
    unrolled = im2col(padded, kernel_size, stride, output_shape)
    assert unrolled.shape == columns.shape
    numpy.testing.assert_allclose((unrolled * columns).sum(), (padded * col2im(columns, padded.shape, stride)).sum())


@pytest.mark.parametrize(
    "x_shape, weight_shape, bias_shape, padding, message",
    [
        ((3, 8, 8), (4, 3, 3, 3), None, 0, r"x of shape \(N, C_in, H, W\), got shape \(3, 8, 8\)"),
        ((1, 3, 8, 8), (4, 3, 3), None, 0, r"weight of shape \(C_out, C_in, kh, kw\), got shape \(4, 3, 3\)"),
        ((1, 3, 8, 8), (4, 2, 3, 3), None, 0, "x has 3 channels but weight .* expects 2 input channels"),
        ((1, 3, 2, 2), (4, 3, 5, 5), None, 1, "kernel 5x5 is larger than the padded input 4x4"),
        ((1, 3, 8, 8), (4, 3, 3, 3), (3,), 0, r"bias must have shape \(C_out,\) = \(4,\), got \(3,\)"),
    ],
)
def test_bad_shapes_raise_clear_errors(x_shape, weight_shape, bias_shape, padding, message):
    bias = None if bias_shape is None else Tensor(numpy.zeros(bias_shape))
    with pytest.raises(ValueError, match=message):
        conv2d(Tensor(numpy.zeros(x_shape)), Tensor(numpy.zeros(weight_shape)), bias, padding=padding)


def test_bad_stride_and_padding_raise():
    x, weight = Tensor(numpy.zeros((1, 1, 4, 4))), Tensor(numpy.zeros((1, 1, 3, 3)))
    with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
        conv2d(x, weight, stride=1.5)
    with pytest.raises(ValueError, match="stride must be positive"):
        conv2d(x, weight, stride=0)
    with pytest.raises(ValueError, match="padding non-negative"):
        conv2d(x, weight, padding=-1)


# conv2d_simple, the plain tier: the definition, finite differences, and the fast conv2d equal to it.
# (batch, in_channels, out_channels, image (H, W), kernel (kh, kw), stride, padding, with_bias)
