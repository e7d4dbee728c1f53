"""Weight initializers with PyTorch's names and formulas; each fills a Tensor in place and returns it.

Random values are always drawn from the CPU generator of ``minigrad.backend`` and
then copied to the tensor's device, so ``minigrad.manual_seed(s)`` gives the same
initial model on the CPU and on the GPU.
"""
import math

import numpy

from minigrad import backend


def _fill(tensor, values):
    tensor.data[...] = tensor.xp.asarray(backend.to_device(values, tensor.device), dtype=tensor.dtype)
    return tensor


def uniform_(tensor, low=0.0, high=1.0):
    """Fill with samples of U(low, high)."""
    uniform = backend.random_generator("cpu").random(tensor.shape, dtype=numpy.float64)
    return _fill(tensor, low + (high - low) * uniform)


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with samples of N(mean, std**2)."""
    standard = backend.random_generator("cpu").standard_normal(tensor.shape, dtype=numpy.float64)
    return _fill(tensor, mean + std * standard)


def constant_(tensor, value):
    return _fill(tensor, numpy.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def fan_in_and_fan_out(shape):
    """Inputs and outputs that one weight connects: (in, in*kh*kw) and (out, out*kh*kw) for a conv weight.

    shape: (out_features, in_features) or (out_channels, in_channels, kh, kw, ...).
    """
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight of at least 2 dimensions, got shape {tuple(shape)}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activations' variance steady through ``nonlinearity`` (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        negative_slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + negative_slope**2))
    raise ValueError(
        f"unknown nonlinearity {nonlinearity!r}: expected linear, conv2d, sigmoid, tanh, relu or leaky_relu"
    )


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al. 2015); a is the leaky-ReLU slope."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std**2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def xavier_uniform_(tensor, gain=1.0):
    """U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
