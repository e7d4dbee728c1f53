"""Layers (Linear, Conv2d, BatchNorm2d, Dropout, ReLU, Flatten, AvgPool2d) and the initializers of nn.init."""
import math

import numpy
import pytest

import minigrad
from minigrad import backend, nn
from minigrad.nn import init
from minigrad.tensor import Tensor


def _random(*shape, seed=0, dtype=numpy.float32):
    return numpy.random.default_rng(seed).standard_normal(shape).astype(dtype)


# Initialization
@pytest.mark.parametrize("make_layer, fan_in", [
    (lambda: nn.Linear(300, 200), 300),
    (lambda: nn.Conv2d(8, 64, 3), 8 * 3 * 3),
    (lambda: nn.Conv2d(4, 32, (3, 5)), 4 * 3 * 5),
], ids=["linear", "conv-square", "conv-rect"])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(make_layer, fan_in):
    layer = make_layer()
    bound = 1 / math.sqrt(fan_in)
    for parameter in (layer.weight, layer.bias):
        assert parameter.dtype == numpy.float32 and parameter.requires_grad
        values = parameter.data.astype(numpy.float64).ravel()
        assert values.min() >= -bound and values.max() <= bound
    weight = layer.weight.data.astype(numpy.float64).ravel()
    # U(-b, b): reaches near both ends, mean 0, variance b^2 / 3, flat histogram
    assert weight.min() < -0.98 * bound and weight.max() > 0.98 * bound
    assert abs(weight.mean()) < 0.05 * bound
    assert weight.var() == pytest.approx(bound**2 / 3, rel=0.06)
    counts, _ = numpy.histogram(weight, bins=8, range=(-bound, bound))
    assert counts.min() > 0.75 * weight.size / 8 and counts.max() < 1.25 * weight.size / 8


def test_manual_seed_makes_models_reproducible():
    def build():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2))

    minigrad.manual_seed(7)
    first = build().state_dict()
    minigrad.manual_seed(7)
    second = build().state_dict()
    minigrad.manual_seed(8)
    third = build().state_dict()
    for name in first:
        numpy.testing.assert_array_equal(first[name], second[name])
    assert not numpy.array_equal(first["0.weight"], third["0.weight"])


def test_kaiming_and_xavier_spreads_follow_their_formulas():
    weight = Tensor(numpy.empty((400, 250), dtype=numpy.float32))
    init.kaiming_normal_(weight, nonlinearity="relu")
    assert weight.data.std() == pytest.approx(math.sqrt(2 / 250), rel=0.02)
    init.kaiming_uniform_(weight, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(400)
    assert weight.data.min() >= -bound and weight.data.max() <= bound and weight.data.max() > 0.99 * bound
    init.xavier_uniform_(weight)
    bound = math.sqrt(6 / (250 + 400))
    assert weight.data.min() >= -bound and weight.data.max() > 0.99 * bound
    init.xavier_normal_(weight, gain=2.0)
    assert weight.data.std() == pytest.approx(2 * math.sqrt(2 / 650), rel=0.02)
    init.normal_(weight, mean=3.0, std=0.5)
    assert weight.data.mean() == pytest.approx(3.0, abs=0.01) and weight.data.std() == pytest.approx(0.5, rel=0.02)
    assert init.constant_(weight, 0.25).data.max() == 0.25 and weight.dtype == numpy.float32
    assert not init.zeros_(weight).data.any() and init.ones_(weight).data.min() == 1


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))


def test_init_errors():
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.kaiming_uniform_(Tensor(numpy.zeros(5, dtype=numpy.float32)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(Tensor(numpy.zeros((2, 2), dtype=numpy.float32)), mode="fan_avg")


# Forward passes against direct formulas
def test_linear_forward_is_x_times_weight_transposed_plus_bias():
    layer = nn.Linear(4, 3)
    for x in (_random(5, 4), _random(2, 5, 4)):
        expected = x @ layer.weight.data.T + layer.bias.data
        numpy.testing.assert_allclose(layer(Tensor(x)).data, expected, rtol=1e-6, atol=1e-6)
    no_bias = nn.Linear(4, 3, bias=False)
    assert no_bias.bias is None and [name for name, _ in no_bias.named_parameters()] == ["weight"]
    numpy.testing.assert_allclose(no_bias(Tensor(_random(5, 4))).data, _random(5, 4) @ no_bias.weight.data.T, rtol=1e-6)


def _conv_loop(x, weight, bias, stride, padding):
    """Direct definition: every output pixel is a sum over its receptive field."""
    x = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    batch, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h, out_w = (height - kernel_h) // stride + 1, (width - kernel_w) // stride + 1
    out = numpy.zeros((batch, out_channels, out_h, out_w))
    for n in range(batch):
        for c in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    patch = x[n, :, i * stride:i * stride + kernel_h, j * stride:j * stride + kernel_w]
                    out[n, c, i, j] = (patch * weight[c]).sum() + bias[c]
    return out


def test_conv2d_forward_matches_the_direct_loop():
    layer = nn.Conv2d(3, 4, (3, 2), stride=2, padding=1)
    assert layer.weight.shape == (4, 3, 3, 2) and layer.bias.shape == (4,)
    x = _random(2, 3, 5, 6)
    expected = _conv_loop(x, layer.weight.data, layer.bias.data, stride=2, padding=1)
    numpy.testing.assert_allclose(layer(Tensor(x)).data, expected, rtol=1e-5, atol=1e-5)


def test_batchnorm2d_training_normalizes_with_batch_statistics_and_updates_running_ones():
    layer = nn.BatchNorm2d(3)
    layer.weight.data[:] = [1.0, 2.0, 0.5]
    layer.bias.data[:] = [0.0, -1.0, 3.0]
    x = _random(4, 3, 2, 5)
    output = layer(Tensor(x)).data
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    expected = (x - mean) / numpy.sqrt(var + 1e-5) * layer.weight.data.reshape(1, 3, 1, 1) + layer.bias.data.reshape(1, 3, 1, 1)
    numpy.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-5)
    count = 4 * 2 * 5
    numpy.testing.assert_allclose(layer.running_mean.data, 0.1 * mean.ravel(), rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(layer.running_var.data, 0.9 + 0.1 * var.ravel() * count / (count - 1), rtol=1e-5)


def test_batchnorm2d_counts_batches_in_training_only_and_uses_running_statistics_in_eval():
    layer = nn.BatchNorm2d(2)
    x = Tensor(_random(3, 2, 2, 2))
    for _ in range(3):
        layer(x)
    assert layer.num_batches_tracked.item() == 3 and layer.num_batches_tracked.dtype == numpy.int64
    layer.eval()
    layer.running_mean.data[:] = [1.0, -2.0]
    layer.running_var.data[:] = [4.0, 0.25]
    layer.weight.data[:] = [3.0, 1.0]
    layer.bias.data[:] = [0.5, 0.0]
    output = layer(x).data
    assert layer.num_batches_tracked.item() == 3
    mean, var = numpy.array([1.0, -2.0]).reshape(1, 2, 1, 1), numpy.array([4.0, 0.25]).reshape(1, 2, 1, 1)
    expected = (x.data - mean) / numpy.sqrt(var + 1e-5) * numpy.array([3.0, 1.0]).reshape(1, 2, 1, 1) + numpy.array([0.5, 0.0]).reshape(1, 2, 1, 1)
    numpy.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


def test_batchnorm2d_without_running_stats_or_affine():
    layer = nn.BatchNorm2d(2, affine=False, track_running_stats=False).eval()
    assert list(layer.state_dict()) == []
    x = _random(3, 2, 2, 2)
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    numpy.testing.assert_allclose(layer(Tensor(x)).data, (x - mean) / numpy.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)


def test_dropout_zeroes_or_scales_in_training_and_is_the_identity_in_eval():
    layer = nn.Dropout(0.25)
    x = numpy.ones(20000, dtype=numpy.float32)
    output = layer(Tensor(x)).data
    assert set(numpy.unique(output)) <= {0.0, numpy.float32(1 / 0.75)}
    assert (output != 0).mean() == pytest.approx(0.75, abs=0.02)
    numpy.testing.assert_array_equal(layer.eval()(Tensor(x)).data, x)


def test_dropout_masks_are_reproducible_under_manual_seed():
    x = Tensor(numpy.ones(100, dtype=numpy.float32))
    minigrad.manual_seed(3)
    first = nn.Dropout(0.5)(x).data
    minigrad.manual_seed(3)
    numpy.testing.assert_array_equal(nn.Dropout(0.5)(x).data, first)


def test_relu_flatten_and_avgpool_against_numpy():
    x = _random(2, 3, 4, 6)
    numpy.testing.assert_array_equal(nn.ReLU()(Tensor(x)).data, numpy.maximum(x, 0))
    assert nn.Flatten()(Tensor(x)).shape == (2, 72) and nn.Flatten(2)(Tensor(x)).shape == (2, 3, 24)
    numpy.testing.assert_array_equal(nn.Flatten()(Tensor(x)).data, x.reshape(2, 72))
    pooled = x.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5))  # 2x2 windows, stride 2
    numpy.testing.assert_allclose(nn.AvgPool2d(2)(Tensor(x)).data, pooled, rtol=1e-6)
    overlapping = nn.AvgPool2d(3, stride=1, padding=1)(Tensor(x)).data
    padded = numpy.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    assert overlapping.shape == (2, 3, 4, 6)
    numpy.testing.assert_allclose(overlapping[:, :, 2, 3], padded[:, :, 2:5, 3:6].sum(axis=(2, 3)) / 9, rtol=1e-5, atol=1e-6)


# The whole small network, in float64
def _small_network():
    minigrad.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 2))
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dtype == numpy.float32:
            tensor.data = tensor.data.astype(numpy.float64)
    model[1].weight.data[:] = [1.5, 0.7, 1.1]  # away from the defaults, so a missed weight gradient shows
    model[1].bias.data[:] = [0.1, -0.2, 0.3]
    return model


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gradcheck_of_a_small_network_wrt_input_and_parameters(training):
    model = _small_network().train(training)
    x = Tensor(_random(2, 2, 4, 4, seed=1, dtype=numpy.float64), requires_grad=True)
    parameters = list(model.parameters())
    assert minigrad.gradcheck(lambda x, *parameters: model(x), [x, *parameters])


@pytest.mark.parametrize("frozen", [0, 5], ids=["conv2d", "linear"])
def test_a_frozen_layer_still_passes_gradients_to_everything_below_it(frozen):
    """Fine-tuning freezes a layer's parameters; the layers and the input below it must learn as before."""
    model = _small_network()
    x = Tensor(_random(2, 2, 4, 4, seed=1, dtype=numpy.float64), requires_grad=True)
    model(x).sum().backward()
    expected = {"x": x.grad, **{name: parameter.grad for name, parameter in model.named_parameters()}}
    model.zero_grad()
    x.grad = None
    for parameter in model[frozen].parameters():
        parameter.requires_grad_(False)
    model(x).sum().backward()
    grads = {"x": x.grad, **{name: parameter.grad for name, parameter in model.named_parameters()}}
    for name, grad in grads.items():
        if name.startswith(f"{frozen}."):
            assert grad is None, name
        else:
            assert grad is not None, name
            numpy.testing.assert_allclose(grad, expected[name], rtol=1e-12, err_msg=name)


def test_small_network_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    model = _small_network()
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(12, 2)).double()
    reference.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in model.state_dict().items()})
    x = _random(4, 2, 4, 4, seed=2, dtype=numpy.float64)
    ours = model(Tensor(x, requires_grad=True))
    theirs = reference(torch.from_numpy(x))
    numpy.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    for (name, parameter), (_, expected) in zip(model.named_parameters(), reference.named_parameters()):
        numpy.testing.assert_allclose(parameter.grad, expected.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)
    for name, tensor in reference.state_dict().items():
        numpy.testing.assert_allclose(model.state_dict()[name], tensor.numpy(), rtol=1e-10, err_msg=name)


# Errors
def test_conv2d_rejects_a_wrong_channel_count_or_rank():
    layer = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match="conv2d: x has 4 channels but weight .* expects 3 input channels"):
        layer(Tensor(numpy.zeros((1, 4, 5, 5), dtype=numpy.float32)))
    with pytest.raises(ValueError, match=r"conv2d expects x of shape \(N, C_in, H, W\), got shape \(3, 5, 5\)"):
        layer(Tensor(numpy.zeros((3, 5, 5), dtype=numpy.float32)))


def test_batchnorm2d_rejects_a_non_4d_input_or_wrong_channels():
    layer = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d expects a 4-D input \(N, C, H, W\), got shape \(2, 3, 4\)"):
        layer(Tensor(numpy.zeros((2, 3, 4), dtype=numpy.float32)))
    with pytest.raises(ValueError, match=r"batch_norm: x has 5 channels but weight has shape \(3,\)"):
        layer(Tensor(numpy.zeros((2, 5, 4, 4), dtype=numpy.float32)))


def test_linear_rejects_a_feature_mismatch():
    with pytest.raises(ValueError, match=r"linear: x has 5 input features .* but weight of shape \(3, 4\) expects 4"):
        nn.Linear(4, 3)(Tensor(numpy.zeros((2, 5), dtype=numpy.float32)))


def test_dropout_rejects_a_probability_outside_0_1():
    with pytest.raises(ValueError, match=r"Dropout p must be a probability in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


@pytest.mark.gpu
def test_small_network_on_gpu_matches_cpu():
    cupy = backend.array_module("gpu")

    model = _small_network()
    x = _random(2, 2, 4, 4, seed=1, dtype=numpy.float64)
    cpu_output = model(Tensor(x)).data
    cpu_state = {name: array.copy() for name, array in model.state_dict().items()}
    model.to("gpu")
    model.load_state_dict(cpu_state)  # NumPy arrays loaded into the CuPy parameters and buffers
    gpu_output = model(Tensor(cupy.asarray(x)))
    assert isinstance(gpu_output.data, cupy.ndarray)
    numpy.testing.assert_allclose(gpu_output.data.get(), cpu_output, rtol=1e-10, atol=1e-12)
    assert model[1].num_batches_tracked.item() == cpu_state["1.num_batches_tracked"] + 1
    gpu_output.sum().backward()
    assert all(isinstance(parameter.grad, cupy.ndarray) for parameter in model.parameters())


@pytest.mark.gpu
def test_gradcheck_of_the_small_network_on_gpu():
    cupy = backend.array_module("gpu")

    model = _small_network().to("gpu")
    x = Tensor(cupy.asarray(_random(2, 2, 4, 4, seed=1, dtype=numpy.float64)), requires_grad=True)
    assert minigrad.gradcheck(lambda x, *parameters: model(x), [x, *model.parameters()])
