"""A layer table of a model, in the style of the classic torchsummary printout.

It runs one forward pass with a hook on every module, and each hook records a
row when its module's forward finishes: so rows appear in the order the layers
finish, and a container (which finishes after its children) follows them.
Pure groupings get no row of their own, only their layers do: the model itself,
every Sequential, and any module whose class sets ``summary_row = False``.
"""
import math

import numpy

from minigrad import backend
from minigrad.nn.module import Sequential
from minigrad.tensor import Tensor, no_grad

_WIDTH = 64
_ROW = "{:>20}  {:>25} {:>15}"


def _shapes(output, batch_size):
    """Output shapes with the batch axis shown as ``batch_size``: one list, or a list per output."""
    if isinstance(output, Tensor):
        return [batch_size, *output.shape[1:]]
    return [_shapes(item, batch_size) for item in output]


def _elements(shape):
    """Number of values of an output shape from ``_shapes`` (batch axis included), over every output."""
    if shape and isinstance(shape[0], list):
        return sum(_elements(item) for item in shape)
    return math.prod(shape)


def _has_row(module, model):
    """Whether ``module`` of ``model`` gets a row: every module but the groupings."""
    return module is not model and not isinstance(module, Sequential) and getattr(module, "summary_row", True)


def _record_rows(model, x, batch_size):
    """Run model(x) and return one (name, output shape, own parameter count) per module forward."""
    rows, handles = [], []

    def record(module, inputs, output):
        own = sum(parameter.size for parameter in module._parameters.values() if parameter is not None)
        rows.append((f"{type(module).__name__}-{len(rows) + 1}", _shapes(output, batch_size), own))

    for module in model.modules():
        if _has_row(module, model):
            handles.append(module.register_forward_hook(record))
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    return rows


def summary(model, input_shape, device="cpu", batch_size=-1, print_fn=print):
    """Print and return the table of ``model``'s layers for one input of ``input_shape`` (no batch axis).

    The forward pass runs in eval mode under no_grad on zeros of shape (2, *input_shape) on
    ``device``; the model's modes are restored afterwards. Sizes follow torchsummary: 4 bytes per
    value, forward/backward = twice the outputs, all scaled by abs(batch_size).
    """
    xp = backend.array_module(device)
    rows = _record_rows(model, Tensor(xp.zeros((2, *input_shape), dtype=numpy.float32)), batch_size)
    parameters = list(model.parameters())
    total = sum(parameter.size for parameter in parameters)
    trainable = sum(parameter.size for parameter in parameters if parameter.requires_grad)
    megabytes = 4 / 1024**2
    input_size = abs(math.prod(input_shape) * batch_size) * megabytes
    output_size = abs(2 * sum(_elements(shape) for _, shape, _ in rows)) * megabytes
    params_size = total * megabytes
    lines = ["-" * _WIDTH, _ROW.format("Layer (type)", "Output Shape", "Param #"), "=" * _WIDTH]
    lines += [_ROW.format(name, str(shape), f"{count:,}") for name, shape, count in rows]
    lines += [
        "=" * _WIDTH,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        "-" * _WIDTH,
        f"Input size (MB): {input_size:.2f}",
        f"Forward/backward pass size (MB): {output_size:.2f}",
        f"Params size (MB): {params_size:.2f}",
        f"Estimated Total Size (MB): {input_size + output_size + params_size:.2f}",
        "-" * _WIDTH,
    ]
    table = "\n".join(lines)
    print_fn(table)
    return table
