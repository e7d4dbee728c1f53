"""Inverted dropout: zero each element with probability p and scale the survivors by 1/(1-p).

The scaling keeps every element's expected value unchanged, so at evaluation
time dropout is simply the identity.

Two tiers: :func:`dropout_simple` is the definition, ``x * keep / (1 - p)``
with ``keep = random(shape) >= p``, from the engine's ops; :func:`dropout`
draws the mask from 16-bit integers in x's memory order (the model uses it).
Given the same mask they compute the same output and gradient.
"""
import math

import numpy

from minigrad.backend import random_generator, to_device
from minigrad.checks import probability
from minigrad.layout import memory_order
from minigrad.tensor import Function, as_tensor

DRAW_LEVELS = 2**16  # the number of distinct values of one uint16 draw


def skips_dropout(p, training, name):
    """The one check of dropout's p; True when dropout is the identity (eval mode or p == 0)."""
    probability(p, f"{name} p")
    return not training or p == 0


def dropout_simple(x, p=0.5, training=True, generator=None):
    """dropout as its definition reads: y = x keep / (1 - p), keep = generator.random(shape) >= p.

    keep is a constant, so autograd gives dx = dy keep / (1 - p). p = 1 keeps nothing (and scales by 0).
    For reading, and for testing :func:`dropout` against.
    """
    if skips_dropout(p, training, "dropout_simple"):
        return x
    x = as_tensor(x)
    generator = random_generator(x.device) if generator is None else generator
    keep = generator.random(x.shape) >= p
    return x * keep * (1 / (1 - p) if p < 1 else 0.0)


# The fast tier: the mask from 16-bit integers, in x's memory order.
#
# An element is kept when its uint16 draw is at least round(p * 65536): a
# quarter of the random bits of a float64 draw, and an integer comparison, at
# the cost of rounding the keep probability 1 - p to a multiple of 1/65536
# (exact for p = 0 and p = 1). The mask is drawn in the memory order of x, so
# for a batch-last activation the mask, the output and the gradient share x's
# layout and every product sweeps contiguous memory. The mask arrives
# pre-scaled by 1/(1-p): one product per pass.
class Dropout(Function):
    """y = x mask, with mask 0 where dropped and 1/(1-p) where kept; backward: dx = dy mask.

    The mask is a second, constant input, kept with save_for_backward so that the
    graph frees it after the backward like any other saved array.
    """

    def forward(self, x, mask):
        self.save_for_backward(mask)
        return x * mask

    def backward(self, grad_output):
        (mask,) = self.saved
        return grad_output * mask, None


def uniform_uint16(generator, shape):
    """Independent uniform 16-bit integers (C-ordered) of the given shape.

    On the CPU the bit generator's raw 64-bit words are cut into four 16-bit
    integers each, less work per draw than ``generator.integers`` does; CuPy's
    generators offer no such words, so there (and for any other generator)
    ``generator.integers`` draws them.
    """
    if not isinstance(generator, numpy.random.Generator):
        return generator.integers(0, DRAW_LEVELS, size=shape, dtype=numpy.uint16)
    count = math.prod(shape)
    words = generator.bit_generator.random_raw(-(-count // 4))  # ceil(count / 4) words of 64 bits
    return words.view(numpy.uint16)[:count].reshape(shape)


def keep_threshold(p):
    """The least uint16 draw that keeps an element: a draw is kept with probability 1 - p, to 1/65536."""
    return round(p * DRAW_LEVELS)


def draw_keep(generator, array, p):
    """Booleans of array's shape and memory layout, each True (kept) with probability 1 - p (to 1/65536)."""
    axes = memory_order(array)
    draws = uniform_uint16(generator, tuple(array.shape[axis] for axis in axes))
    return (draws >= keep_threshold(p)).transpose(numpy.argsort(axes).tolist())  # back to array's axis order


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element of x with probability p in training, scaling the rest by 1/(1-p).

    Identity when not training or p == 0; zeros when p == 1 (as PyTorch).
    The keep probability is 1 - p rounded to a multiple of 1/65536 (the mask
    comes from 16-bit draws; :func:`dropout_simple` draws exact floats).
    generator: a NumPy or CuPy ``Generator`` that draws the mask (see
    uniform_uint16); by default the minigrad generator of x's device (see
    ``minigrad.manual_seed``).
    """
    if skips_dropout(p, training, "dropout"):
        return x
    x = as_tensor(x)
    if p == 1:
        return Dropout()(x, x.xp.zeros_like(x.data))
    generator = random_generator(x.device) if generator is None else generator
    keep = to_device(draw_keep(generator, x.data, p), x.device)
    return Dropout()(x, keep * x.dtype.type(1 / (1 - p)))  # one pass makes the scaled mask from the booleans
