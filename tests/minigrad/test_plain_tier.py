"""The plain tier is compositions: every op a ``..._simple`` function records is one of the engine's general ops,
so autograd derives its backward; Im2col, whose backward is col2im, is the one op it adds."""
import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor, gradcheck
from minigrad.functional.conv import Im2col
from minigrad.graph import ops_in_forward_order

GENERAL_OPS = {"Add", "Sub", "Mul", "Div", "Neg", "Pow", "MatMul", "Exp", "Log", "Sqrt", "Tanh", "Sum", "Mean",
               "Reshape", "GetItem", "LogSoftmax", "Im2col"}
RNG = numpy.random.default_rng(0)


def tensor(*shape):
    return leaf(RNG.standard_normal(shape))


PLAIN = {
    "conv2d_simple": lambda: F.conv2d_simple(tensor(2, 3, 5, 4), tensor(4, 3, 3, 2), tensor(4), stride=2, padding=1),
    "avg_pool2d_simple": lambda: F.avg_pool2d_simple(tensor(2, 3, 5, 4), 2, padding=1),
    "batch_norm_simple": lambda: F.batch_norm_simple(tensor(4, 3, 2, 2), None, None, tensor(3), tensor(3), training=True),
    "dropout_simple": lambda: F.dropout_simple(tensor(4, 5), 0.3),
    "cross_entropy_simple": lambda: F.cross_entropy_simple(tensor(4, 5), numpy.array([0, 4, 2, 2]), label_smoothing=0.1),
    "layer_norm_simple": lambda: F.layer_norm_simple(tensor(2, 3, 4), (3, 4), tensor(3, 4), tensor(3, 4)),
    "gelu_simple": lambda: F.gelu_simple(tensor(3, 4)),
}


@pytest.mark.parametrize("name", PLAIN)
def test_the_plain_tier_records_only_general_ops(name):
    recorded = {type(op).__name__ for op in ops_in_forward_order(PLAIN[name]())}
    assert recorded <= GENERAL_OPS, f"{name} records {sorted(recorded - GENERAL_OPS)}, ops with a backward of their own"


@pytest.mark.parametrize("kernel_size, stride, padding", [((3, 2), (2, 1), (1, 0)), ((2, 2), (3, 3), (1, 1))])
def test_im2col_backward_is_col2im(kernel_size, stride, padding, device):
    x = Tensor(RNG.standard_normal((2, 3, 7, 6)), requires_grad=True, device=device)
    assert gradcheck(lambda x: Im2col(kernel_size, stride, padding)(x), [x])
