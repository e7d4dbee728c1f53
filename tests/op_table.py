"""The table of minigrad's differentiable ops: each op once, with how to draw its inputs, its slow reference,
its plain twin and its PyTorch counterpart. tests/minigrad/test_op_table.py generates the tests from it. The keys
are the names that minigrad.functional exports (a ``..._simple`` twin is its fast op's ``plain``); a test fails
when an exported op has no entry and is not in EXCLUDED. Adding an op's entry is README's "Test it" step.

An entry (``Op``) holds:
- op: the minigrad op, called as ``op(*tensors, **params)``;
- inputs: a hypothesis strategy of ``Case(arrays, params)``: float64 arrays for the differentiable inputs
  (shapes drawn within small bounds, values kept away from the op's kinks) and constant params;
- reference: the same op on NumPy arrays, slow and obviously right (loops, or the plain formula);
- plain: the ``..._simple`` twin that the fast op must equal, values and gradients (None without one);
- torch: PyTorch's counterpart, ``torch(torch, *torch_tensors, **params)`` (None without one);
- tensor_form: the Tensor operator or method that must be the same op (None without one).
"""
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad.functional as F
from minigrad import Tensor


class Case(NamedTuple):
    arrays: list  # the differentiable inputs, float64 NumPy arrays (None for an optional input left out)
    params: dict  # the constant arguments, passed by keyword


@dataclass(frozen=True)
class Op:
    op: Callable
    inputs: st.SearchStrategy
    reference: Callable
    plain: Callable | None = None
    torch: Callable | None = None
    tensor_form: Callable | None = None


# Ops exported from minigrad.functional that the table leaves out, and why.
EXCLUDED = {
    # Random by design: the output depends on the mask drawn, not only on the inputs. tests/minigrad/test_dropout.py
    # checks the mask's statistics, the gradient as the mask, gradcheck with a fixed mask, and fast == plain.
    "dropout": "random mask",
    "dropout_simple": "random mask",
    # dropout fused after batch norm and relu: tests/minigrad/test_fused.py checks it equal to its plain twin to the
    # bit (values, gradients and running statistics), and gradcheck with a fixed mask.
    "batch_norm_relu_dropout": "random mask",
    "batch_norm_relu_dropout_simple": "random mask",
}


# How values are drawn: from a seed that hypothesis draws, so that shrinking works on shapes and seeds.
SEEDS = st.integers(0, 2**32 - 1)


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def normal(rng, shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """|x| in [low, high]: finite differences (eps 1e-6) never cross a kink at 0, and a divisor stays away from 0."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def positive(rng, shape):
    """In [0.2, 3]: inside log's and sqrt's domain, and a base for any exponent."""
    return rng.uniform(0.2, 3.0, shape)


def distinct(rng, shape):
    """Values at least 0.09 apart: finite differences never create or break a tie in max."""
    return rng.permutation(math.prod(shape)).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape)


def away_from_bounds(rng, shape, bounds=(-1.0, 1.0)):
    """In [-2, 2], with no element within 0.05 of clip's bounds."""
    values = rng.uniform(-2.0, 2.0, shape)
    values[numpy.min([numpy.abs(values - bound) for bound in bounds], axis=0) < 0.05] = 0.0
    return values


@st.composite
def unary(draw, values=normal, shape=shapes(), **params):  # noqa: B008  (a strategy, made once, is immutable)
    """One input of any shape (0-d included); params: strategies of constant arguments."""
    rng = numpy.random.default_rng(draw(SEEDS))
    return Case([values(rng, draw(shape))], {key: draw(value) for key, value in params.items()})


@st.composite
def broadcasting(draw, values=(normal, normal), **params):
    """Inputs whose shapes broadcast together: new leading axes and axes of size 1 on either side."""
    rng = numpy.random.default_rng(draw(SEEDS))
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=len(values), max_dims=3, max_side=3))
    return Case([make(rng, shape) for make, shape in zip(values, drawn.input_shapes)],
                {key: draw(value) for key, value in params.items()})


@st.composite
def reduction(draw, values=normal):
    """One input of 1 to 3 axes; axis None, one axis or several, each positive or negative; keepdims or not."""
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1))
    ndim = len(shape)
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    axes = [axis - ndim if draw(st.booleans()) else axis for axis in axes]  # the same axes, some negative
    axis = draw(st.sampled_from([None, axes[0], tuple(axes)]))
    return Case([values(rng, shape)], {"axis": axis, "keepdims": draw(st.booleans())})


def an_axis(ndim, extra=0):
    """Any axis of ndim (+ extra) axes, positive or negative."""
    return st.integers(-ndim - extra, ndim - 1 + extra)


@st.composite
def along_an_axis(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1))
    return Case([normal(rng, shape)], {"axis": draw(an_axis(len(shape)))})


def elementwise(function):
    """A function of one number applied to every element (of arrays broadcast together)."""
    return lambda *arrays, **params: numpy.vectorize(lambda *values: function(*values, **params), otypes=[float])(*arrays)


# The references of the ops with a structure of their own, one element or one window at a time.
def reduce_by_loops(function):
    """Apply ``function`` to the list of elements sharing each kept index: the definition of a reduction."""
    def reduce(array, axis, keepdims):
        axes = tuple(range(array.ndim)) if axis is None else tuple(a % array.ndim for a in numpy.atleast_1d(axis))
        kept_shape = tuple(1 if a in axes else size for a, size in enumerate(array.shape))
        out = numpy.zeros(kept_shape)
        for index in numpy.ndindex(*kept_shape):
            selection = tuple(slice(None) if a in axes else i for a, i in enumerate(index))
            out[index] = function(list(array[selection].ravel()))
        return out if keepdims else out.reshape(tuple(s for a, s in enumerate(array.shape) if a not in axes))
    return reduce


def softmax_by_loops(log):
    """exp(x_i) / sum_j exp(x_j) along ``axis``, one slice at a time with math.exp (values must be moderate)."""
    def softmax(array, axis):
        moved = numpy.moveaxis(array, axis, -1)
        out = numpy.zeros_like(moved)
        for index in numpy.ndindex(*moved.shape[:-1]):
            total = sum(math.exp(value) for value in moved[index])
            out[index] = [value - math.log(total) if log else math.exp(value) / total for value in moved[index]]
        return numpy.moveaxis(out, -1, axis)
    return softmax


def matmul_by_loops(a, b):
    """The definition sum_k a[..., i, k] b[..., k, j] on matrices, for any batch layout."""
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


def as_pair(value):
    return value if isinstance(value, tuple) else (value, value)


def conv2d_by_loops(x, weight, bias=None, stride=1, padding=0):
    """The definition, one output pixel at a time."""
    (stride_h, stride_w), (pad_h, pad_w) = as_pair(stride), as_pair(padding)
    padded = numpy.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    batch, _, height, width = padded.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    output = numpy.zeros((batch, out_channels, (height - kernel_h) // stride_h + 1, (width - kernel_w) // stride_w + 1))
    for n, o, y, x_ in numpy.ndindex(*output.shape):
        patch = padded[n, :, y * stride_h:y * stride_h + kernel_h, x_ * stride_w:x_ * stride_w + kernel_w]
        output[n, o, y, x_] = (patch * weight[o]).sum() + (0 if bias is None else bias[o])
    return output


def avg_pool2d_by_loops(x, kernel_size, stride=None, padding=0):
    """Each window's plain mean, padding zeros included, one output pixel at a time."""
    (kernel_h, kernel_w), (pad_h, pad_w) = as_pair(kernel_size), as_pair(padding)
    stride_h, stride_w = as_pair(kernel_size if stride is None else stride)
    padded = numpy.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    height, width = (padded.shape[2] - kernel_h) // stride_h + 1, (padded.shape[3] - kernel_w) // stride_w + 1
    output = numpy.zeros(x.shape[:2] + (height, width))
    for y, x_ in numpy.ndindex(height, width):
        window = padded[:, :, y * stride_h:y * stride_h + kernel_h, x_ * stride_w:x_ * stride_w + kernel_w]
        output[:, :, y, x_] = window.mean(axis=(2, 3))
    return output


def cross_entropy_by_loops(logits, target, label_smoothing=0.0, reduction="mean"):
    """(1 - s) * (-log p[label]) + s * mean over classes of (-log p), with p = softmax of a row."""
    losses = []
    for row, label in zip(logits, target):
        total = sum(math.exp(value) for value in row)
        negative_log_p = [math.log(total) - value for value in row]
        losses.append((1 - label_smoothing) * negative_log_p[label] + label_smoothing * sum(negative_log_p) / len(row))
    losses = numpy.array(losses)
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


def batch_norm_by_channels(x, weight=None, bias=None, training=True, running=None, eps=1e-5):
    """One channel at a time: (x - mean) / sqrt(var + eps) * weight + bias, with the batch's statistics
    (the biased variance) in training, else the running ones."""
    output = numpy.zeros_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]
        mean, var = (values.mean(), values.var()) if training else (running[0][c], running[1][c])
        output[:, c] = (values - mean) / math.sqrt(var + eps) * (1 if weight is None else weight[c]) + (0 if bias is None else bias[c])
    return output


def attention_by_loops(query, key, value, scale=None):
    """For each query row, the softmax of its scaled dot products with every key row, then the weighted sum
    of the value rows; the key and value broadcast along the leading axes as in NumPy."""
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    leading = numpy.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    query, key, value = (numpy.broadcast_to(array, leading + array.shape[-2:]) for array in (query, key, value))
    output = numpy.zeros(leading + (query.shape[-2], value.shape[-1]))
    for index in numpy.ndindex(leading):
        for t, row in enumerate(query[index]):
            scores = [scale * sum(q * k for q, k in zip(row, key_row)) for key_row in key[index]]
            exponentials = [math.exp(score - max(scores)) for score in scores]
            weights = [e / sum(exponentials) for e in exponentials]
            output[index][t] = sum(w * v for w, v in zip(weights, value[index]))
    return output


def projected_attention_by_loops(x, query_weight, query_bias, key_weight, key_bias, value_weight, value_bias, items,
                                 scale=None):
    """Each projection as the sums that define it, cut into ``items`` rows of each vector, then attention_by_loops."""
    def project(weight, bias):
        rows = [[sum(value * w for value, w in zip(row, weight_row)) + b for weight_row, b in zip(weight, bias)]
                for row in x.reshape(-1, x.shape[-1])]
        return numpy.array(rows).reshape(x.shape[:-1] + (items, len(weight) // items))
    parts = (project(query_weight, query_bias), project(key_weight, key_bias), project(value_weight, value_bias))
    return attention_by_loops(*parts, scale)


def layer_norm_by_samples(x, weight=None, bias=None, normalized_shape=None, eps=1e-5):
    """One sample at a time, the definition: (sample - its mean) / sqrt(its variance + eps) * weight + bias."""
    trailing = tuple(numpy.atleast_1d(normalized_shape))
    samples = x.reshape((-1,) + trailing)
    output = [(sample - sample.mean()) / math.sqrt(sample.var() + eps) * (1 if weight is None else weight)
              + (0 if bias is None else bias) for sample in samples]
    return numpy.array(output).reshape(x.shape)


# Inputs of the ops with a structure of their own.
@st.composite
def matmul_inputs(draw):
    """Matrices, batches broadcast both ways, and 1-D operands on either side."""
    rng = numpy.random.default_rng(draw(SEEDS))
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    shape_a = (k,) if draw(st.booleans()) else batch_a + (n, k)
    shape_b = (k,) if draw(st.booleans()) else batch_b + (k, m)
    return Case([normal(rng, shape_a), normal(rng, shape_b)], {})


@st.composite
def optional_bias(draw, rng, size):
    return normal(rng, (size,)) if draw(st.booleans()) else None


@st.composite
def linear_inputs(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    x_shape = draw(shapes(min_dims=1, max_dims=3))
    out_features = draw(st.integers(1, 4))
    weight = normal(rng, (out_features, x_shape[-1]))
    return Case([normal(rng, x_shape), weight, draw(optional_bias(rng, out_features))], {})


@st.composite
def window(draw, max_padding=None):
    """A kernel, a stride (maybe larger than the kernel), a padding (at most max_padding, default half the
    kernel), and an image the padded kernel fits."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.sampled_from([1, 2, 3, (1, 2), (2, 1)]))
    padding = draw(st.sampled_from([0, tuple(size // 2 if max_padding is None else max_padding for size in kernel)]))
    image = tuple(draw(st.integers(max(1, size - 2 * pad), size + 2)) for size, pad in zip(kernel, as_pair(padding)))
    return kernel, stride, padding, image


@st.composite
def conv2d_inputs(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    batch, in_channels, out_channels = (draw(st.integers(1, 2)) for _ in range(3))
    kernel, stride, padding, image = draw(window(max_padding=2))
    x, weight = normal(rng, (batch, in_channels) + image), normal(rng, (out_channels, in_channels) + kernel)
    return Case([x, weight, draw(optional_bias(rng, out_channels))], {"stride": stride, "padding": padding})


@st.composite
def avg_pool2d_inputs(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    kernel, stride, padding, image = draw(window())
    x = normal(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + image)
    return Case([x], {"kernel_size": draw(st.sampled_from([kernel, kernel[0]])) if kernel[0] == kernel[1] else kernel,
                      "stride": draw(st.sampled_from([None, stride])), "padding": padding})


@st.composite
def cross_entropy_inputs(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    batch, classes = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    return Case([normal(rng, (batch, classes), scale=2.0)],
                {"target": rng.integers(0, classes, batch), "label_smoothing": draw(st.sampled_from([0.0, 0.2])),
                 "reduction": draw(st.sampled_from(["mean", "sum", "none"]))})


@st.composite
def batch_norm_inputs(draw):
    """(N, C) or (N, C, H, W) with at least two values per channel; training or eval (running statistics)."""
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(st.sampled_from([(2, 1), (3, 2), (4, 3), (1, 2, 2, 1), (2, 3, 1, 2), (2, 2, 2, 2)]))
    channels = shape[1]
    training = draw(st.booleans())
    running = (normal(rng, channels), rng.uniform(0.5, 2.0, channels))
    affine = [normal(rng, channels), normal(rng, channels)] if draw(st.booleans()) else [None, None]
    return Case([2 * normal(rng, shape) + 0.5] + affine, {"training": training, "running": running})


def batch_norm_with(function):
    """function (batch_norm or its twin) with fresh running statistics on x's device at each call."""
    def op(x, weight=None, bias=None, training=True, running=None):
        mean, var = (Tensor(array, dtype=x.dtype, device=x.device) for array in running)
        return function(x, mean, var, weight, bias, training=training)
    return op


@st.composite
def attention_inputs(draw):
    """query (..., T, D), key (..., S, D), value (..., S, Dv); key and value may have size-1 leading axes, which
    broadcast; scale the default or given."""
    rng = numpy.random.default_rng(draw(SEEDS))
    leading = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    shared = tuple(1 if draw(st.booleans()) else size for size in leading)
    queries, keys, features, value_features = (draw(st.integers(1, 4)) for _ in range(4))
    arrays = [normal(rng, leading + (queries, features)), normal(rng, shared + (keys, features)),
              normal(rng, shared + (keys, value_features))]
    return Case(arrays, {"scale": draw(st.sampled_from([None, 0.7]))})


def torch_attention(torch, query, key, value, scale=None):
    leading = query.shape[:-2]
    key, value = (array.expand(leading + array.shape[-2:]) for array in (key, value))
    return torch.nn.functional.scaled_dot_product_attention(query, key, value, scale=scale)


@st.composite
def projected_attention_inputs(draw):
    """x (..., F) and three weights (E, F) and biases (E,), E = items * D; scale the default or given."""
    rng = numpy.random.default_rng(draw(SEEDS))
    leading = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    features, items, size = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    arrays = [normal(rng, leading + (features,))]
    for _ in range(3):
        arrays += [normal(rng, (items * size, features)), normal(rng, (items * size,))]
    return Case(arrays, {"items": items, "scale": draw(st.sampled_from([None, 0.7]))})


def torch_projected_attention(torch, x, *weights_and_biases, items, scale=None):
    pairs = zip(weights_and_biases[0::2], weights_and_biases[1::2])
    parts = [torch.nn.functional.linear(x, weight, bias).unflatten(-1, (items, -1)) for weight, bias in pairs]
    return torch.nn.functional.scaled_dot_product_attention(*parts, scale=scale)


@st.composite
def layer_norm_inputs(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1, max_dims=3))
    trailing = shape[-draw(st.integers(1, len(shape))):]
    normalized_shape = trailing[0] if len(trailing) == 1 and draw(st.booleans()) else trailing
    affine = [normal(rng, trailing), normal(rng, trailing)] if draw(st.booleans()) else [None, None]
    return Case([2 * normal(rng, shape) + 0.5] + affine, {"normalized_shape": normalized_shape})


@st.composite
def new_shape(draw):
    """A shape and another of the same size (reversed, flat, or with a -1)."""
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1))
    target = draw(st.sampled_from([shape[::-1], (-1,), (shape[0], -1), shape + (1,)]))
    return Case([normal(rng, shape)], {"shape": target})


@st.composite
def permutation(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1))
    axes = [axis - len(shape) if draw(st.booleans()) else axis for axis in draw(st.permutations(range(len(shape))))]
    return Case([normal(rng, shape)], {"axes": draw(st.sampled_from([None, tuple(axes)]))})


@st.composite
def two_axes(draw):
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1))
    return Case([normal(rng, shape)], {"axis1": draw(an_axis(len(shape))), "axis2": draw(an_axis(len(shape)))})


@st.composite
def broadcast_target(draw):
    """A target shape, and an input of its trailing axes with some of them 1."""
    rng = numpy.random.default_rng(draw(SEEDS))
    target = draw(shapes())
    kept = target[draw(st.integers(0, len(target))):]
    shape = tuple(draw(st.sampled_from([1, size])) for size in kept)
    return Case([normal(rng, shape)], {"shape": target})


@st.composite
def an_index(draw):
    """Per leading axis an int (maybe negative), a slice (maybe stepping backwards) or an index list (at most one,
    repeats included); then a new axis anywhere, or an ellipsis at the end."""
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1))
    index, used_list = [], False
    for size in shape[:draw(st.integers(1, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "list"] if not used_list else ["int", "slice"]))
        if kind == "int":
            index.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            index.append(slice(draw(st.none() | st.integers(-size, size)), draw(st.none() | st.integers(-size, size)),
                               draw(st.sampled_from([None, 1, 2, -1]))))
        else:
            index.append(draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4)))
            used_list = True
    if draw(st.booleans()):
        index.insert(draw(st.integers(0, len(index))), None)  # a new axis, anywhere
    else:
        index.append(Ellipsis)  # the axes not indexed, spelled out
    return Case([normal(rng, shape)], {"index": tuple(index)})


@st.composite
def to_join(draw, stack):
    """1 to 3 arrays that agree on every axis but the joining one (on every axis to stack); the axis."""
    rng = numpy.random.default_rng(draw(SEEDS))
    shape = draw(shapes(min_dims=1))
    axis = draw(an_axis(len(shape), extra=1 if stack else 0))
    count = draw(st.integers(1, 3))
    if stack:
        return Case([normal(rng, shape) for _ in range(count)], {"axis": axis})
    joined = axis % len(shape)
    sizes = [draw(st.integers(1, 3)) for _ in range(count)]
    return Case([normal(rng, shape[:joined] + (size,) + shape[joined + 1:]) for size in sizes], {"axis": axis})


def torch_leaky_relu(torch, a, negative_slope):
    return torch.nn.functional.leaky_relu(a, negative_slope)


def torch_reduction(name):
    def reduce(torch, a, axis, keepdims):
        dims = tuple(range(a.ndim)) if axis is None else axis
        return getattr(torch, name)(a, dim=dims, keepdim=keepdims)
    return reduce


def torch_batch_norm(torch, x, weight=None, bias=None, training=True, running=None):
    mean, var = (torch.tensor(array) for array in running)
    return torch.nn.functional.batch_norm(x, mean, var, weight, bias, training=training)


def torch_layer_norm(torch, x, weight=None, bias=None, normalized_shape=None):
    return torch.nn.functional.layer_norm(x, tuple(numpy.atleast_1d(normalized_shape)), weight, bias)


def torch_cross_entropy(torch, logits, target, label_smoothing, reduction):
    return torch.nn.functional.cross_entropy(logits, torch.as_tensor(target), label_smoothing=label_smoothing,
                                             reduction=reduction)


GELU_SCALE, GELU_CUBIC = math.sqrt(2 / math.pi), 0.044715
FACTORS = st.sampled_from([0.1, -2.5, 1 / 8**0.5])  # scale's constants: the attention's among them
SLOPES = st.sampled_from([0.01, 0.2])
EXPONENTS = st.sampled_from([2, 3, -1, 0.5, -1.5, 0])
CLIP_BOUNDS = [(-1.0, 1.0), (-1.0, None), (None, 1.0)]


def clip_of_a_number(value, low, high):
    return min(max(value, -math.inf if low is None else low), math.inf if high is None else high)


@st.composite
def where_inputs(draw):
    """A condition and two branches, all three broadcast together."""
    rng = numpy.random.default_rng(draw(SEEDS))
    condition, a, b = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3)).input_shapes
    return Case([normal(rng, a), normal(rng, b)], {"condition": rng.random(condition) > 0.5})


OPS = {
    # arithmetic.py: the operators, with broadcasting
    "add": Op(F.add, broadcasting(), elementwise(lambda a, b: a + b), torch=lambda torch, a, b: a + b,
              tensor_form=lambda a, b: a + b),
    "sub": Op(F.sub, broadcasting(), elementwise(lambda a, b: a - b), torch=lambda torch, a, b: a - b,
              tensor_form=lambda a, b: a - b),
    "mul": Op(F.mul, broadcasting(), elementwise(lambda a, b: a * b), torch=lambda torch, a, b: a * b,
              tensor_form=lambda a, b: a * b),
    "div": Op(F.div, broadcasting(values=(normal, away_from_zero)), elementwise(lambda a, b: a / b),
              torch=lambda torch, a, b: a / b, tensor_form=lambda a, b: a / b),
    "neg": Op(F.neg, unary(), elementwise(lambda a: -a), torch=lambda torch, a: -a, tensor_form=lambda a: -a),
    "scale": Op(F.scale, unary(factor=FACTORS), elementwise(lambda a, factor: a * factor),
                torch=lambda torch, a, factor: a * factor),
    "pow": Op(F.pow, unary(positive, exponent=EXPONENTS), elementwise(lambda a, exponent: a**exponent),
              torch=lambda torch, a, exponent: a**exponent, tensor_form=lambda a, exponent: a**exponent),
    "matmul": Op(F.matmul, matmul_inputs(), matmul_by_loops, torch=lambda torch, a, b: a @ b,
                 tensor_form=lambda a, b: a @ b),
    # elementwise.py: math of one array, and where
    "exp": Op(F.exp, unary(), elementwise(math.exp), torch=lambda torch, a: a.exp(), tensor_form=lambda a: a.exp()),
    "log": Op(F.log, unary(positive), elementwise(math.log), torch=lambda torch, a: a.log(),
              tensor_form=lambda a: a.log()),
    "sqrt": Op(F.sqrt, unary(positive), elementwise(math.sqrt), torch=lambda torch, a: a.sqrt(),
               tensor_form=lambda a: a.sqrt()),
    "clip": Op(lambda a, bounds: F.clip(a, *bounds), unary(away_from_bounds, bounds=st.sampled_from(CLIP_BOUNDS)),
               elementwise(lambda a, bounds: clip_of_a_number(a, *bounds)),
               torch=lambda torch, a, bounds: a.clamp(*bounds), tensor_form=lambda a, bounds: a.clip(*bounds)),
    "where": Op(lambda a, b, condition: F.where(condition, a, b), where_inputs(),
                lambda a, b, condition: elementwise(lambda c, x, y: x if c else y)(condition, a, b),
                torch=lambda torch, a, b, condition: torch.where(torch.as_tensor(condition), a, b)),
    # activation.py
    "relu": Op(F.relu, unary(away_from_zero), elementwise(lambda a: max(a, 0.0)),
               torch=lambda torch, a: a.relu(), tensor_form=lambda a: a.relu()),
    "leaky_relu": Op(F.leaky_relu, unary(away_from_zero, negative_slope=SLOPES),
                     elementwise(lambda a, negative_slope: a if a > 0 else negative_slope * a), torch=torch_leaky_relu),
    "sigmoid": Op(F.sigmoid, unary(lambda rng, shape: normal(rng, shape, 3.0)), elementwise(lambda a: 1 / (1 + math.exp(-a))),
                  torch=lambda torch, a: a.sigmoid(), tensor_form=lambda a: a.sigmoid()),
    "tanh": Op(F.tanh, unary(), elementwise(math.tanh), torch=lambda torch, a: a.tanh(), tensor_form=lambda a: a.tanh()),
    "softmax": Op(F.softmax, along_an_axis(), softmax_by_loops(log=False),
                  torch=lambda torch, a, axis: a.softmax(axis), tensor_form=lambda a, axis: a.softmax(axis)),
    "log_softmax": Op(F.log_softmax, along_an_axis(), softmax_by_loops(log=True),
                      torch=lambda torch, a, axis: a.log_softmax(axis), tensor_form=lambda a, axis: a.log_softmax(axis)),
    # reduction.py
    "sum": Op(F.sum, reduction(), reduce_by_loops(sum), torch=torch_reduction("sum"),
              tensor_form=lambda a, axis, keepdims: a.sum(axis, keepdims)),
    "mean": Op(F.mean, reduction(), reduce_by_loops(lambda values: sum(values) / len(values)),
               torch=torch_reduction("mean"), tensor_form=lambda a, axis, keepdims: a.mean(axis, keepdims)),
    "max": Op(F.max, reduction(distinct), reduce_by_loops(max), torch=torch_reduction("amax"),
              tensor_form=lambda a, axis, keepdims: a.max(axis, keepdims)),
    # shape.py: ops that move elements without changing them
    "reshape": Op(F.reshape, new_shape(), lambda a, shape: a.reshape(shape),
                  torch=lambda torch, a, shape: a.reshape(shape), tensor_form=lambda a, shape: a.reshape(*shape)),
    "flatten": Op(F.flatten, unary(shape=shapes(min_dims=2), start_axis=st.integers(0, 1)),
                  lambda a, start_axis: a.reshape(a.shape[:start_axis] + (-1,)),
                  torch=lambda torch, a, start_axis: a.flatten(start_axis)),
    "transpose": Op(F.transpose, permutation(), lambda a, axes: numpy.transpose(a, axes),
                    torch=lambda torch, a, axes: a.permute(*(axes or range(a.ndim)[::-1])),
                    tensor_form=lambda a, axes: a.transpose(*(axes or ()))),
    "swapaxes": Op(F.swapaxes, two_axes(), lambda a, axis1, axis2: numpy.swapaxes(a, axis1, axis2),
                   torch=lambda torch, a, axis1, axis2: a.swapaxes(axis1, axis2)),
    "broadcast_to": Op(F.broadcast_to, broadcast_target(), lambda a, shape: numpy.broadcast_to(a, shape),
                       torch=lambda torch, a, shape: a.broadcast_to(shape),
                       tensor_form=lambda a, shape: a.broadcast_to(shape)),
    "getitem": Op(F.getitem, an_index(), lambda a, index: a[index], tensor_form=lambda a, index: a[index]),
    "concatenate": Op(lambda *arrays, axis: F.concatenate(arrays, axis), to_join(stack=False),
                      lambda *arrays, axis: numpy.concatenate(arrays, axis),
                      torch=lambda torch, *arrays, axis: torch.cat(arrays, axis)),
    "stack": Op(lambda *arrays, axis: F.stack(arrays, axis), to_join(stack=True),
                lambda *arrays, axis: numpy.stack(arrays, axis), torch=lambda torch, *arrays, axis: torch.stack(arrays, axis)),
    "to_device": Op(lambda a: F.to_device(a, "cpu"), unary(), lambda a: a, tensor_form=lambda a: a.to("cpu")),
    # one layer's op each
    "linear": Op(F.linear, linear_inputs(), lambda x, weight, bias=None: x @ weight.T + (0 if bias is None else bias),
                 torch=lambda torch, x, weight, bias=None: torch.nn.functional.linear(x, weight, bias)),
    "conv2d": Op(F.conv2d, conv2d_inputs(), conv2d_by_loops, plain=F.conv2d_simple,
                 torch=lambda torch, x, weight, bias=None, **params: torch.nn.functional.conv2d(x, weight, bias, **params)),
    "avg_pool2d": Op(F.avg_pool2d, avg_pool2d_inputs(), avg_pool2d_by_loops, plain=F.avg_pool2d_simple,
                     torch=lambda torch, x, **params: torch.nn.functional.avg_pool2d(x, **params)),
    "global_avg_pool2d": Op(F.global_avg_pool2d, unary(shape=shapes(min_dims=4, max_dims=4, max_side=3)),
                            lambda x: numpy.array([[channel.mean() for channel in image] for image in x]),
                            torch=lambda torch, x: torch.nn.functional.adaptive_avg_pool2d(x, 1)[..., 0, 0]),
    "batch_norm": Op(batch_norm_with(F.batch_norm), batch_norm_inputs(), batch_norm_by_channels,
                     plain=batch_norm_with(F.batch_norm_simple), torch=torch_batch_norm),
    "scaled_dot_product_attention": Op(F.scaled_dot_product_attention, attention_inputs(), attention_by_loops,
                                       plain=F.scaled_dot_product_attention_simple, torch=torch_attention),
    "projected_attention": Op(F.projected_attention, projected_attention_inputs(), projected_attention_by_loops,
                              plain=F.projected_attention_simple, torch=torch_projected_attention),
    "cross_entropy": Op(F.cross_entropy, cross_entropy_inputs(), cross_entropy_by_loops, plain=F.cross_entropy_simple,
                        torch=torch_cross_entropy),
    "layer_norm": Op(lambda x, weight=None, bias=None, normalized_shape=None: F.layer_norm(x, normalized_shape, weight, bias),
                     layer_norm_inputs(), layer_norm_by_samples,
                     plain=lambda x, weight=None, bias=None, normalized_shape=None: F.layer_norm_simple(x, normalized_shape, weight, bias),
                     torch=torch_layer_norm),
    "gelu": Op(F.gelu, unary(lambda rng, shape: normal(rng, shape, 3.0)),
               elementwise(lambda a: 0.5 * a * (1 + math.tanh(GELU_SCALE * (a + GELU_CUBIC * a**3)))),
               plain=F.gelu_simple, torch=lambda torch, a: torch.nn.functional.gelu(a, approximate="tanh")),
}
