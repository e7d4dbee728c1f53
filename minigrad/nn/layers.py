"""The layers of a convolutional network, with PyTorch's parameter shapes, key names and initialization.

Each layer holds its parameters and settings and calls one op of
``minigrad.functional`` in ``forward``; the math and the backward live there.
"""
import math

import numpy

from minigrad import functional as F
from minigrad.checks import probability
from minigrad.functional.conv import pair
from minigrad.functional.normalization import shape_tuple
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor


def _pytorch_default_init(weight, bias):
    """Linear's and Conv2d's default: kaiming_uniform_(a=sqrt(5)), i.e. weight and bias ~ U(+-1/sqrt(fan_in))."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(init.fan_in_and_fan_out(weight.shape)[0])
        init.uniform_(bias, -bound, bound)


def _empty_parameter(*shape):
    return Parameter(numpy.empty(shape, dtype=numpy.float32))


class Linear(Module):
    """y = x W^T + b.  x: (..., in_features) -> (..., out_features); weight (out, in), bias (out,)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty_parameter(out_features, in_features)
        self.bias = _empty_parameter(out_features) if bias else None
        _pytorch_default_init(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution.  x: (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out, C_in, kh, kw), bias (C_out,).

    H_out = (H + 2 * padding - kh) // stride + 1, and likewise for W.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size")
        self.stride, self.padding = pair(stride, "Conv2d: stride"), pair(padding, "Conv2d: padding")
        self.weight = _empty_parameter(out_channels, in_channels, *self.kernel_size)
        self.bias = _empty_parameter(out_channels) if bias else None
        _pytorch_default_init(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        text += f", padding={self.padding}" if self.padding != (0, 0) else ""
        return text + (", bias=False" if self.bias is None else "")


class BatchNorm2d(Module):
    """Per-channel normalization of x: (N, C, H, W), then a learned scale (weight) and shift (bias).

    Training: normalizes with the batch's statistics and updates the running ones.
    Eval: normalizes with the running statistics (unless track_running_stats=False).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(numpy.ones(num_features, dtype=numpy.float32)) if affine else None
        self.bias = Parameter(numpy.zeros(num_features, dtype=numpy.float32)) if affine else None
        running = {
            "running_mean": numpy.zeros(num_features, dtype=numpy.float32),
            "running_var": numpy.ones(num_features, dtype=numpy.float32),
            "num_batches_tracked": numpy.array(0, dtype=numpy.int64),
        }
        for name, array in running.items():  # registered as None without tracking, as in PyTorch
            self.register_buffer(name, Tensor(array) if track_running_stats else None)

    def forward(self, x):
        return F.batch_norm(x, **self._batch_norm_arguments(x))

    def forward_relu_dropout(self, x, p):
        """dropout(relu(self(x)), p) as the one fused op F.batch_norm_relu_dropout, for a block that chains the
        three layers (p = 0: no dropout, as in evaluation). The same numbers as the layers one after another."""
        return F.batch_norm_relu_dropout(x, **self._batch_norm_arguments(x), p=p)

    def _batch_norm_arguments(self, x):
        """batch_norm's arguments for this forward, after the check of x; counts the batch in training."""
        if x.ndim != 4:  # batch_norm also takes (N, C); the 2d layer does not
            raise ValueError(f"BatchNorm2d expects a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
        return {"running_mean": self.running_mean, "running_var": self.running_var, "weight": self.weight,
                "bias": self.bias, "training": self.training or self.running_mean is None, "momentum": self.momentum,
                "eps": self.eps}

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Each sample normalized over its last axes, then a learned scale (weight) and shift (bias).

    x: (..., *normalized_shape) -> the same shape. weight and bias have the shape
    normalized_shape and start as ones and zeros, so that at first y = xhat (as in PyTorch).
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        super().__init__()
        self.normalized_shape = shape_tuple(normalized_shape, "LayerNorm: normalized_shape")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Parameter(numpy.ones(self.normalized_shape, dtype=numpy.float32)) if elementwise_affine else None
        self.bias = Parameter(numpy.zeros(self.normalized_shape, dtype=numpy.float32)) if elementwise_affine else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Dropout(Module):
    """Zero each element with probability p in training, scaling the rest by 1/(1-p); identity in eval.

    The keep probability 1 - p is rounded to a multiple of 1/65536 (see ``F.dropout``).
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = probability(p, "Dropout p")

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise, elementwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), elementwise: a smooth relu (see ``F.gelu``)."""

    def forward(self, x):
        return F.gelu(x)


class Flatten(Module):
    """Merge the axes from ``start_axis`` on: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_axis=1):
        super().__init__()
        self.start_axis = start_axis

    def forward(self, x):
        return F.flatten(x, self.start_axis)

    def extra_repr(self):
        return f"start_axis={self.start_axis}"


class AvgPool2d(Module):
    """Mean over each kernel_size window.  x: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
