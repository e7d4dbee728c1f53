"""batch_norm and layer_norm beyond the op table (tests/op_table.py): running statistics against the recurrence and
PyTorch, eval mode, layouts, blocked rows, float32 buffers, the layer, and the errors."""
import numpy
import pytest
from helpers import assert_same_outputs_and_gradients

from minigrad import Tensor, backend, gradcheck, nn
from minigrad.functional import batch_norm, batch_norm_simple, layer_norm, layer_norm_simple
from minigrad.layout import batch_first, batch_last

SHAPES = [(4, 3, 2, 3), (5, 3)]


def reference_batch_norm(x, mean, var, weight, bias, eps=1e-5):
    mean, var, weight, bias = (per_channel(values, x) for values in (mean, var, weight, bias))
    return (x - mean) / numpy.sqrt(var + eps) * weight + bias


def channel_axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def per_channel(values, x):
    """values (C,) shaped to broadcast against x (N, C) or (N, C, H, W)."""
    return values.reshape((1, -1) + (1,) * (x.ndim - 2))


def buffers(channels, device="cpu"):
    return Tensor(numpy.zeros(channels), device=device), Tensor(numpy.ones(channels), device=device)


@pytest.mark.parametrize("shape", SHAPES)
def test_running_statistics_follow_the_recurrence_over_three_steps(shape, device):
    rng = numpy.random.default_rng(0)
    running_mean, running_var = buffers(3, device)
    expected_mean, expected_var = numpy.zeros(3), numpy.ones(3)
    count = numpy.prod(shape) // 3
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 5
        batch_norm(Tensor(x, device=device), running_mean, running_var, training=True, momentum=0.2)
        batch_mean = x.mean(axis=channel_axes(x))
        unbiased_var = ((x - per_channel(batch_mean, x)) ** 2).sum(axis=channel_axes(x)) / (count - 1)
        expected_mean = 0.8 * expected_mean + 0.2 * batch_mean
        expected_var = 0.8 * expected_var + 0.2 * unbiased_var
    numpy.testing.assert_allclose(running_mean.numpy(), expected_mean, rtol=1e-12)
    numpy.testing.assert_allclose(running_var.numpy(), expected_var, rtol=1e-12)


def test_running_statistics_are_updated_in_place():
    running_mean, running_var = buffers(3)
    mean_array, var_array = running_mean.data, running_var.data
    batch_norm(Tensor(numpy.random.default_rng(0).standard_normal((4, 3))), running_mean, running_var, training=True)
    assert running_mean.data is mean_array and running_var.data is var_array
    assert not numpy.allclose(mean_array, 0)


def test_eval_mode_normalizes_with_running_statistics_and_leaves_them_alone():
    rng = numpy.random.default_rng(0)
    x, weight, bias = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    running_mean, running_var = Tensor(mean.copy()), Tensor(var.copy())
    output = batch_norm(Tensor(x), running_mean, running_var, Tensor(weight), Tensor(bias), training=False)
    numpy.testing.assert_allclose(output.data, reference_batch_norm(x, mean, var, weight, bias), rtol=1e-10)
    numpy.testing.assert_array_equal(running_mean.data, mean)
    numpy.testing.assert_array_equal(running_var.data, var)


def make_inputs(shape, affine, device="cpu", seed=0):
    rng = numpy.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) * 2 + 1]
    if affine:
        arrays += [rng.standard_normal(shape[1]), rng.standard_normal(shape[1])]
    return [Tensor(array, requires_grad=True, device=device) for array in arrays]


def test_gradcheck_training_without_running_statistics():
    assert gradcheck(lambda x: batch_norm(x, None, None, training=True), make_inputs((3, 2, 2, 2), affine=False))


@pytest.mark.parametrize("training", [True, False])
def test_matches_torch(training):
    torch = pytest.importorskip("torch")
    x, weight, bias = make_inputs((4, 3, 2, 3), affine=True)
    rng = numpy.random.default_rng(3)
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    running_mean, running_var = Tensor(mean.copy()), Tensor(var.copy())
    output = batch_norm(x, running_mean, running_var, weight, bias, training=training, momentum=0.3, eps=1e-3)
    upstream = rng.standard_normal(output.shape)
    output.backward(upstream)

    reference = [torch.tensor(tensor.data, requires_grad=True) for tensor in (x, weight, bias)]
    torch_mean, torch_var = torch.tensor(mean), torch.tensor(var)
    expected = torch.nn.functional.batch_norm(reference[0], torch_mean, torch_var, reference[1], reference[2],
                                              training=training, momentum=0.3, eps=1e-3)
    expected.backward(torch.tensor(upstream))
    numpy.testing.assert_allclose(output.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(running_mean.data, torch_mean.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(running_var.data, torch_var.numpy(), rtol=1e-12)
    for tensor, torch_tensor in zip((x, weight, bias), reference):
        numpy.testing.assert_allclose(tensor.grad, torch_tensor.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batch_last_and_contiguous_inputs_agree(training):
    """The layout of x and of the upstream gradient is invisible; the output is stored batch-last."""
    rng = numpy.random.default_rng(5)
    x, upstream = rng.standard_normal((4, 3, 2, 3)), rng.standard_normal((4, 3, 2, 3))
    results = []
    for stored_x, stored_upstream in [(x, upstream), (batch_first(numpy.ascontiguousarray(batch_last(x))), upstream),
                                      (x, batch_first(numpy.ascontiguousarray(batch_last(upstream))))]:
        inputs = [Tensor(stored_x, requires_grad=True), Tensor(numpy.arange(1.0, 4.0), requires_grad=True),
                  Tensor(numpy.zeros(3), requires_grad=True)]
        output = batch_norm(inputs[0], *buffers(3), *inputs[1:], training=training)
        output.backward(stored_upstream)
        assert batch_last(output.data).flags.c_contiguous
        results.append([output.data] + [tensor.grad for tensor in inputs])
    for first, *others in zip(*results):
        for other in others:
            numpy.testing.assert_allclose(other, first, rtol=1e-12, atol=1e-14)
    mean, var = (x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))) if training else (numpy.zeros(3), numpy.ones(3))
    expected = reference_batch_norm(x, mean, var, numpy.arange(1.0, 4.0), numpy.zeros(3))
    numpy.testing.assert_allclose(results[0][0], expected, rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    x = Tensor(numpy.random.default_rng(0).standard_normal((8, 4, 3, 3)).astype(numpy.float32), requires_grad=True)
    running_mean = Tensor(numpy.zeros(4, dtype=numpy.float32))
    running_var = Tensor(numpy.ones(4, dtype=numpy.float32))
    output = batch_norm(x, running_mean, running_var, training=True)
    output.backward(numpy.ones(output.shape, dtype=numpy.float32))
    assert output.dtype == x.grad.dtype == running_mean.dtype == running_var.dtype == numpy.float32


@pytest.mark.parametrize(
    "x_shape, weight_shape, running_shape, training, message",
    [
        ((2, 3, 4), None, 3, True, r"x of shape \(N, C\) or \(N, C, H, W\), got shape \(2, 3, 4\)"),
        ((2, 3), (4,), 3, True, r"x has 3 channels but weight has shape \(4,\)"),
        ((2, 3, 2, 2), None, 5, False, r"x has 3 channels but running_mean has shape \(5,\)"),
        ((1, 3), None, 3, True, "more than one value per channel"),
        ((1, 3, 1, 1), None, None, True, "more than one value per channel"),
        ((2, 3), None, None, False, "eval mode .* needs running_mean and running_var"),
    ],
)
def test_bad_input_raises_clear_errors(x_shape, weight_shape, running_shape, training, message):
    weight = None if weight_shape is None else Tensor(numpy.ones(weight_shape))
    running = (None, None) if running_shape is None else buffers(running_shape)
    with pytest.raises(ValueError, match=message):
        batch_norm(Tensor(numpy.zeros(x_shape)), *running, weight=weight, training=training)


def test_running_mean_without_running_var_raises():
    with pytest.raises(ValueError, match="both running_mean and running_var, or neither"):
        batch_norm(Tensor(numpy.zeros((2, 3))), Tensor(numpy.zeros(3)), None, training=True)


@pytest.mark.gpu
@pytest.mark.parametrize("training", [True, False])
def test_gpu_matches_cpu(training):
    results = []
    for device in ("cpu", "gpu"):
        x, weight, bias = make_inputs((4, 3, 2, 3), affine=True, device=device)
        running_mean, running_var = buffers(3, device)
        output = batch_norm(x, running_mean, running_var, weight, bias, training=training)
        output.backward(Tensor(numpy.random.default_rng(4).standard_normal(output.shape), device=device))
        arrays = (output.data, x.grad, weight.grad, bias.grad, running_mean.data, running_var.data)
        results.append([backend.to_device(array, "cpu") for array in arrays])
        assert backend.device_of(x.grad) == device and backend.device_of(running_mean.data) == device
    for cpu, gpu in zip(*results):
        numpy.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-12)


# batch_norm_simple, the plain tier: finite differences, and the fast batch_norm equal to it.
TIER_SHAPES = [(4, 3, 2, 3), (5, 3), (1, 3, 3, 5)]  # the last: batch 1, non-square image
# Channel rows of 256 KiB (float32) or 512 KiB (float64): batch_norm runs them in blocks of two rows and one
# (minigrad.layout.block_rows), the float32 blocks uneven.
BLOCKED_SHAPE = (2, 3, 128, 256)


def tier_inputs(shape, affine, seed=0):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2 + 0.5
    weight, bias = (rng.standard_normal(3), rng.standard_normal(3)) if affine else (None, None)
    return x, weight, bias


def running_buffers(device, dtype):
    """Running statistics not at 0 and 1, so that eval mode tests something."""
    return (Tensor(numpy.array([0.3, -0.2, 0.1]), dtype=dtype, device=device),
            Tensor(numpy.array([1.5, 0.7, 2.0]), dtype=dtype, device=device))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", TIER_SHAPES + [BLOCKED_SHAPE])
def test_fast_batch_norm_equals_batch_norm_simple(shape, training, affine, dtype, device):
    x, weight, bias = tier_inputs(shape, affine)
    buffers_of = {}

    def tier(function):
        def run(x, weight=None, bias=None):
            buffers_of[function] = running_buffers(device, dtype)
            return function(x, *buffers_of[function], weight, bias, training=training)
        return run

    upstream = numpy.random.default_rng(1).standard_normal(shape)
    assert_same_outputs_and_gradients(tier(batch_norm), tier(batch_norm_simple), [x, weight, bias], upstream, device, dtype)
    for fast, plain in zip(buffers_of[batch_norm], buffers_of[batch_norm_simple]):  # the running statistics
        numpy.testing.assert_allclose(fast.numpy(), plain.numpy(), rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("x_shape, normalized_shape, weight_shape, bias_shape, message", [
    ((2, 3), 4, None, None, r"x of shape \(2, 3\) does not end in normalized_shape \(4,\)"),
    ((3,), (1, 3), None, None, r"x of shape \(3,\) does not end in normalized_shape \(1, 3\)"),
    ((2, 3), (), None, None, "normalized_shape must be a positive int or a non-empty sequence of them"),
    ((2, 3), 3, (2,), (3,), r"weight must have the shape normalized_shape = \(3,\), got \(2,\)"),
    ((2, 3), 3, (3,), None, "give both weight and bias, or neither"),
])
def test_layer_norm_checks_its_arguments(x_shape, normalized_shape, weight_shape, bias_shape, message):
    weight, bias = (None if shape is None else Tensor(numpy.ones(shape)) for shape in (weight_shape, bias_shape))
    for function in (layer_norm, layer_norm_simple):
        with pytest.raises(ValueError, match=f"{function.__name__}: {message}"):
            function(Tensor(numpy.zeros(x_shape)), normalized_shape, weight, bias)


def test_layer_norm_layer_starts_as_the_identity_affine_map_and_trains_its_parameters():
    layer = nn.LayerNorm((4, 5))
    assert repr(layer) == "LayerNorm((4, 5), eps=1e-05, elementwise_affine=True)"
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    numpy.testing.assert_array_equal(layer.weight.data, numpy.ones((4, 5), dtype=numpy.float32))
    numpy.testing.assert_array_equal(layer.bias.data, numpy.zeros((4, 5), dtype=numpy.float32))
    x = Tensor(numpy.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(numpy.float32))
    output = layer(x)
    output.sum().backward()
    assert output.dtype == layer.weight.grad.dtype == numpy.float32 and layer.bias.grad.shape == (4, 5)
    numpy.testing.assert_allclose(output.numpy(), layer_norm(x, (4, 5)).numpy(), rtol=1e-6)
    plain = nn.LayerNorm(6, elementwise_affine=False)
    assert not list(plain.parameters()) and plain.normalized_shape == (6,)
