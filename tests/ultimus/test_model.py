"""The Ultimus network: the seed's parameter count and layer table, attention semantics, gradients."""
import math

import numpy
import pytest

import minigrad
from minigrad import Tensor
from minigrad.nn import summary
from ultimus.model import Ultimus, UltimusNet

# The layer table of the seed (shared/seed/000_42c0db9c19617b65.txt), typed in by hand:
# (layer, output shape, parameter count). "Ultimus" is the seed's name for the attention block.
SEED_TABLE = [
    ("Conv2d-1", "[-1, 16, 16, 16]", "448"), ("BatchNorm2d-2", "[-1, 16, 16, 16]", "32"),
    ("Dropout-3", "[-1, 16, 16, 16]", "0"), ("Conv2d-4", "[-1, 32, 8, 8]", "4,640"),
    ("BatchNorm2d-5", "[-1, 32, 8, 8]", "64"), ("Dropout-6", "[-1, 32, 8, 8]", "0"),
    ("Conv2d-7", "[-1, 48, 4, 4]", "13,872"), ("BatchNorm2d-8", "[-1, 48, 4, 4]", "96"),
    ("Dropout-9", "[-1, 48, 4, 4]", "0"), ("AvgPool2d-10", "[-1, 48, 1, 1]", "0"),
    ("ConvNet-11", "[-1, 48]", "0"),
] + [
    row
    for block in range(4)
    for row in [(f"Linear-{12 + 5 * block + i}", "[-1, 8]", "392") for i in range(3)]
    + [(f"Linear-{15 + 5 * block}", "[-1, 48]", "432"), (f"Ultimus-{16 + 5 * block}", "[-1, 48]", "0")]
] + [("Linear-32", "[-1, 10]", "490")]


def table_rows(text):
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and parts[0].split("-")[-1].isdigit():
            name, count = parts[0], parts[-1]
            rows.append((name, " ".join(parts[1:-1]), count))
    return rows


def test_parameter_count_is_the_seeds():
    model = UltimusNet()
    assert sum(parameter.size for parameter in model.parameters()) == 26_074


def test_summary_reproduces_the_seed_table_row_for_row():
    text = summary(UltimusNet(), (3, 32, 32), print_fn=lambda _: None)
    assert table_rows(text) == SEED_TABLE
    for line in ("Total params: 26,074", "Trainable params: 26,074", "Non-trainable params: 0",
                 "Input size (MB): 0.01", "Forward/backward pass size (MB): 0.16"):
        assert line in text


def slow_ultimus(x, block):
    """The block written out with explicit loops over the attention matrix's entries."""
    weight = {name: getattr(block, name).weight.data.astype(numpy.float64) for name in ("key", "query", "value", "out")}
    bias = {name: getattr(block, name).bias.data.astype(numpy.float64) for name in ("key", "query", "value", "out")}
    outputs = []
    for row in x:
        key, query, value = (weight[n] @ row + bias[n] for n in ("key", "query", "value"))
        size = len(key)
        scores = [[query[i] * key[j] / math.sqrt(size) for j in range(size)] for i in range(size)]
        attention = numpy.zeros((size, size))
        for j in range(size):  # softmax over i, for each column j
            column = [math.exp(scores[i][j]) for i in range(size)]
            for i in range(size):
                attention[i, j] = column[i] / sum(column)
        mixed = [sum(value[i] * attention[i, j] for i in range(size)) for j in range(size)]
        outputs.append(weight["out"] @ numpy.array(mixed) + bias["out"])
    return numpy.array(outputs)


def test_ultimus_block_matches_the_loop_definition():
    minigrad.manual_seed(3)
    block = Ultimus()
    x = numpy.random.default_rng(0).standard_normal((5, 48)).astype(numpy.float32)
    numpy.testing.assert_allclose(block(Tensor(x)).data, slow_ultimus(x.astype(numpy.float64), block), rtol=1e-4, atol=1e-5)


def test_scaling_after_the_softmax_divides_the_attention_matrix():
    minigrad.manual_seed(3)
    inside, after = Ultimus(scaling="inside"), Ultimus(scaling="after")
    after.load_state_dict(inside.state_dict())
    x = Tensor(numpy.random.default_rng(1).standard_normal((4, 48)).astype(numpy.float32))
    key, query, value = inside.key(x).data, inside.query(x).data, inside.value(x).data
    scores = query[:, :, None] * key[:, None, :]
    softmax = numpy.exp(scores) / numpy.exp(scores).sum(axis=1, keepdims=True)
    mixed = numpy.einsum("ni,nij->nj", value, softmax / math.sqrt(8))
    expected = mixed @ inside.out.weight.data.T + inside.out.bias.data
    numpy.testing.assert_allclose(after(x).data, expected, rtol=1e-5, atol=1e-6)


def test_unknown_scaling_is_rejected():
    with pytest.raises(ValueError, match="scaling must be one of"):
        Ultimus(scaling="before")


def as_float64(model):
    for parameter in model.parameters():
        parameter.data = parameter.data.astype(numpy.float64)
    for buffer in model.buffers():
        if buffer.data.dtype.kind == "f":
            buffer.data = buffer.data.astype(numpy.float64)
    return model


def test_gradcheck_ultimus_block_input_and_parameters():
    minigrad.manual_seed(0)
    block = as_float64(Ultimus())
    x = Tensor(numpy.random.default_rng(2).standard_normal((3, 48)), requires_grad=True)
    parameters = list(block.parameters())
    assert minigrad.gradcheck(lambda x, *_: block(x), [x, *parameters])


def test_gradcheck_whole_network_in_training_mode():
    minigrad.manual_seed(0)
    model = as_float64(UltimusNet(dropout=0.0))
    model.train()
    x = Tensor(numpy.random.default_rng(4).standard_normal((2, 3, 32, 32)), requires_grad=True)
    # 40 random elements of every parameter tensor and of the input (all 32k would take minutes)
    assert minigrad.gradcheck(lambda x, *_: model(x), [x, *model.parameters()], samples=40)
