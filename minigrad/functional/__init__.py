"""Every differentiable op of minigrad, as functions of Tensors (``import minigrad.functional as F``).

Each op is a :class:`minigrad.tensor.Function` with a hand-written backward,
grouped by kind in the modules of this package.
"""
from minigrad.functional.activation import log_softmax, softmax
from minigrad.functional.arithmetic import add, div, matmul, mul, neg, pow, sub
from minigrad.functional.conv import conv2d, conv2d_simple
from minigrad.functional.dropout import dropout, dropout_simple
from minigrad.functional.elementwise import clip, exp, log, relu, sigmoid, sqrt, tanh, where
from minigrad.functional.linear import linear
from minigrad.functional.loss import cross_entropy
from minigrad.functional.normalization import batch_norm, batch_norm_simple
from minigrad.functional.pooling import avg_pool2d, global_avg_pool2d
from minigrad.functional.reduction import max, mean, sum
from minigrad.functional.shape import (
    broadcast_to,
    concatenate,
    flatten,
    getitem,
    reshape,
    stack,
    swapaxes,
    to_device,
    transpose,
)
