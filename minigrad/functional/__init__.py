"""Every differentiable op of minigrad, as functions of Tensors (``import minigrad.functional as F``).

One convention holds for every op. Its module holds, top to bottom, the op's
``Function`` (``forward`` and ``backward`` on raw arrays, the backward's math
in the docstring) and then its wrapper, a lower-case function of Tensors that
checks the arguments once, naming the op, and calls the Function. A backward
returns None, without computing it, for an input whose ``needs_input_grad`` is
False. An optional
parameter that is missing (a bias, batch norm's weight and bias) is left out of
the Function's inputs, not replaced by a constant. Where a fast form departs
from the textbook one, the plain form comes first, named ``..._simple``: the
math in the engine's general ops, with no backward of its own (autograd
derives it). The fast Function follows under a heading that names its trick,
with its backward derived in its docstring, and is tested equal to the plain one.

Which kind of op lives where:

- arithmetic.py: + - * / ** @ and unary minus, with broadcasting (``unbroadcast``)
- elementwise.py: math functions of one array (exp, log, sqrt, clip) and where
- activation.py: the nonlinearities of a network (relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax)
- reduction.py: sum, mean, max over axes; shape.py: ops that move elements without changing them
- linear.py, conv.py, pooling.py, normalization.py, dropout.py, loss.py: one layer's op each
- fused.py: a chain of layers' ops that models run back to back, as one op
- attention.py: scaled dot-product attention, and self-attention among the parts of projected vectors
"""
from minigrad.functional.activation import gelu, gelu_simple, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from minigrad.functional.arithmetic import add, div, matmul, mul, neg, pow, scale, sub
from minigrad.functional.attention import (
    projected_attention,
    projected_attention_simple,
    scaled_dot_product_attention,
    scaled_dot_product_attention_simple,
)
from minigrad.functional.conv import conv2d, conv2d_simple
from minigrad.functional.dropout import dropout, dropout_simple
from minigrad.functional.elementwise import clip, exp, log, sqrt, where
from minigrad.functional.fused import batch_norm_relu_dropout, batch_norm_relu_dropout_simple
from minigrad.functional.linear import linear
from minigrad.functional.loss import cross_entropy, cross_entropy_simple
from minigrad.functional.normalization import batch_norm, batch_norm_simple, layer_norm, layer_norm_simple
from minigrad.functional.pooling import avg_pool2d, avg_pool2d_simple, global_avg_pool2d
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

__all__ = [
    "add",
    "avg_pool2d",
    "avg_pool2d_simple",
    "batch_norm",
    "batch_norm_relu_dropout",
    "batch_norm_relu_dropout_simple",
    "batch_norm_simple",
    "broadcast_to",
    "clip",
    "concatenate",
    "conv2d",
    "conv2d_simple",
    "cross_entropy",
    "cross_entropy_simple",
    "div",
    "dropout",
    "dropout_simple",
    "exp",
    "flatten",
    "gelu",
    "gelu_simple",
    "getitem",
    "global_avg_pool2d",
    "layer_norm",
    "layer_norm_simple",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "mean",
    "mul",
    "neg",
    "pow",
    "relu",
    "reshape",
    "scale",
    "projected_attention",
    "projected_attention_simple",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_simple",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "swapaxes",
    "tanh",
    "to_device",
    "transpose",
    "where",
]
