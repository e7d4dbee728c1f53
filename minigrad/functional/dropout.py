"""Inverted dropout: zero each element with probability p and scale the survivors by 1/(1-p).

The scaling keeps every element's expected value unchanged, so at evaluation
time dropout is simply the identity.
"""
import numbers

from minigrad.backend import random_generator
from minigrad.tensor import Function, as_tensor


class Dropout(Function):
    """y = x mask, with mask 0 where dropped and 1/(1-p) where kept; backward: dx = dy mask."""

    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        return x * self.mask

    def backward(self, grad):
        return (grad * self.mask,)


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element of x with probability p in training, scaling the rest by 1/(1-p).

    Identity when not training or p == 0; zeros when p == 1 (as PyTorch).
    generator: draws the mask (``generator.random``); by default the
    minigrad generator of x's device (see ``minigrad.manual_seed``).
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability p must be a number in [0, 1], got {p!r}")
    if not training or p == 0:
        return x
    x = as_tensor(x)
    generator = random_generator(x.device) if generator is None else generator
    mask = (generator.random(x.shape, dtype=x.dtype) >= p).astype(x.dtype)  # all zeros when p == 1
    if p < 1:
        mask *= 1 / (1 - p)
    return Dropout(mask)(x)
