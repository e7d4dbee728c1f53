"""Check a backward pass against central finite differences.

For a function f of tensors x_1..x_k and a random upstream gradient g (of f's
output shape), the analytic gradient that ``backward(g)`` leaves in ``x_i.grad``
must equal d<g, f(x)>/dx_i, which we estimate one element at a time by

    (<g, f(x + eps e_j)> - <g, f(x - eps e_j)>) / (2 eps).

The upstream gradient is random on purpose: with g = 1 (a plain sum of the
outputs) the gradient of softmax, or of batch norm with respect to its input,
is identically zero, and a wrong backward would pass unseen.

Use it on your own op::

    x = Tensor(numpy.random.randn(3, 4), requires_grad=True, dtype="float64")
    minigrad.gradcheck(lambda x: my_op(x), [x])

When a function of several ops fails, each op it recorded is checked on its
own, on float64 copies of the inputs it saw, and the report leads with every
op whose own backward is wrong, in forward order: a composite's error is
usually one op's, and each op checked alone is found even when two are broken.
"""
import contextlib
import copy

import numpy

from minigrad import backend
from minigrad.graph import ops_in_forward_order, parameter_names
from minigrad.tensor import Tensor, no_grad

# (eps, atol, rtol) per dtype: float32 differences lose about half of its 7 digits.
TOLERANCES = {
    numpy.dtype("float64"): (1e-6, 1e-6, 1e-5),
    numpy.dtype("float32"): (1e-2, 1e-2, 1e-2),
}


class GradcheckError(AssertionError):
    """The analytic gradient of an input differs from its finite-difference estimate."""


def _inner_product(fn, inputs, upstream):
    with no_grad():  # finite differences need only values: recording a graph per evaluation is waste
        output = fn(*inputs)
    return float((output.data * upstream).sum())


def numerical_gradient(fn, inputs, tensor, upstream, eps, positions):
    """d<upstream, fn(inputs)>/d tensor at the flat ``positions``, perturbing tensor.data in place."""
    flat = tensor.data.reshape(-1)  # a view: writing into it perturbs the tensor
    gradient = numpy.zeros(len(positions), dtype=numpy.float64)
    for slot, position in enumerate(positions):
        original = flat[position].item()
        flat[position] = original + eps
        plus = _inner_product(fn, inputs, upstream)
        flat[position] = original - eps
        minus = _inner_product(fn, inputs, upstream)
        flat[position] = original
        gradient[slot] = (plus - minus) / (2 * eps)
    return gradient


def gradcheck(fn, inputs, eps=None, atol=None, rtol=None, seed=0, samples=None, params=None):
    """Compare the backward of ``fn(*inputs)`` with finite differences for every input that requires grad.

    fn: takes the Tensors ``inputs`` and returns one Tensor. Returns True, or raises
    :class:`GradcheckError`, whose report leads with the ops whose own backward is wrong
    (when fn recorded several) and then gives one line per failing input of fn: the worst
    element, the analytic and numeric values, their relative error, and the factor when the
    analytic gradient is the numeric one times a constant. Defaults for eps/atol/rtol depend
    on the inputs' dtype (see ``TOLERANCES``); use float64. samples: check only this many
    randomly chosen elements of each input (for whole models). params: a Module or a dict
    name -> Tensor, to name its tensors in the report, and the module each op belongs to.
    """
    checked = [tensor for tensor in inputs if isinstance(tensor, Tensor) and tensor.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    if not all(tensor.data.flags.c_contiguous for tensor in checked):
        raise ValueError("gradcheck: inputs must be C-contiguous arrays (finite differences perturb them in place)")
    eps, atol, rtol = _tolerances(checked[0].dtype, eps, atol, rtol)
    names = parameter_names(params)
    with _record_module_of_ops(params) as module_of_op:
        output, failures = _check(fn, inputs, [names.get(id(tensor)) for tensor in inputs], eps, atol, rtol, seed, samples)
    if not failures:
        return True
    raise GradcheckError(_report(fn, output, failures, names, module_of_op, seed, samples))


def _report(fn, output, failures, names, module_of_op, seed, samples):
    """The culprits first, each op that fails on its own; then fn's failing inputs."""
    ops = ops_in_forward_order(output)
    op_name = type(output.grad_fn).__name__ if output.grad_fn else getattr(fn, "__name__", "fn")
    if len(ops) <= 1:  # the op is the culprit
        return "\n".join(f"gradcheck of {op_name} failed for {failure}" for failure in failures)
    culprits = [_describe_culprit(position, ops, names, module_of_op, own_failures)
                for position, own_failures in _failing_ops(ops, names, seed, samples)]
    if not culprits:
        culprits = [f"gradcheck of {op_name} failed, yet each of its {len(ops)} ops passes on its own (in float64, on "
                    "its recorded inputs): look at what fn computes outside them (on .data, under no_grad), or at "
                    "the precision of its dtype"]
    whole = f"so the gradient of the whole function (its output made by {op_name}) is wrong for:"
    return "\n".join(culprits + [whole] + [f"  {failure}" for failure in failures])


def _check(fn, inputs, labels, eps, atol, rtol, seed, samples):
    """fn's output, and one line per input whose analytic gradient differs from the numeric one."""
    output = fn(*inputs)
    xp = output.xp
    random = numpy.random.default_rng(seed)
    upstream = xp.asarray(random.standard_normal(output.shape)).astype(output.dtype)
    for tensor in inputs:
        if isinstance(tensor, Tensor):
            tensor.grad = None
    output.backward(upstream)

    failures = []
    for index, tensor in enumerate(inputs):
        if not (isinstance(tensor, Tensor) and tensor.requires_grad):
            continue
        input_name = f"input {index}" + (f" '{labels[index]}'" if labels[index] else "")
        analytic = backend.to_device(tensor.grad if tensor.grad is not None else xp.zeros(tensor.shape), "cpu")
        if analytic.shape != tensor.shape:
            raise GradcheckError(f"gradcheck: {input_name} got a gradient of shape {analytic.shape}, expected {tensor.shape}")
        positions = numpy.arange(tensor.size)
        if samples is not None and samples < tensor.size:
            positions = numpy.sort(random.choice(tensor.size, samples, replace=False))
        numeric = numerical_gradient(fn, inputs, tensor, upstream, eps, positions)
        analytic = numpy.asarray(analytic, dtype=numpy.float64).reshape(-1)[positions]
        mismatch = _compare(tensor.shape, analytic, numeric, positions, atol, rtol)
        if mismatch:
            failures.append(f"{input_name} (shape {tensor.shape}): {mismatch}")
    return output, failures


def _tolerances(dtype, eps, atol, rtol):
    """eps, atol and rtol: each as given, or the default for ``dtype``."""
    defaults = TOLERANCES.get(dtype, TOLERANCES[numpy.dtype("float32")])
    return tuple(default if given is None else given for default, given in zip(defaults, (eps, atol, rtol)))


def _compare(shape, analytic, numeric, positions, atol, rtol):
    """None when analytic matches numeric within atol + rtol |numeric|; else the worst element, and the factor if there is one."""
    error = numpy.abs(analytic - numeric)
    allowed = atol + rtol * numpy.abs(numeric)
    if numpy.all(error <= allowed):
        return None
    worst = numpy.argmax(error - allowed)
    element = tuple(int(i) for i in numpy.unravel_index(positions[worst], shape))
    relative = error[worst] / max(abs(numeric[worst]), abs(analytic[worst]), 1e-12)
    factor = _clean_factor(analytic, numeric, atol, rtol)
    return (
        f"at index {element} analytic {analytic[worst]:.8g} vs numeric {numeric[worst]:.8g}, relative error {relative:.3g} "
        f"(atol={atol}, rtol={rtol})" + ("" if factor is None else f"; analytic = numeric x {factor:.4g}")
    )


def _clean_factor(analytic, numeric, atol, rtol):
    """s when analytic = s numeric element by element (within tolerance), else None.

    s is the least-squares fit <analytic, numeric> / <numeric, numeric>.
    """
    norm = float(numeric @ numeric)
    if norm == 0.0:
        return None
    factor = float(analytic @ numeric) / norm
    scaled = factor * numeric
    return factor if numpy.all(numpy.abs(analytic - scaled) <= atol + rtol * numpy.abs(scaled)) else None


@contextlib.contextmanager
def _record_module_of_ops(params):
    """Within the block, {id(op): path} of the submodule of ``params`` whose output each op made.

    Forward hooks run innermost first, so the innermost module claims an op
    (Sequential's output is its last layer's). Empty unless params is a Module.
    """
    module_of_op = {}

    def hook_for(path):
        def record(module, inputs, output):
            if getattr(output, "grad_fn", None) is not None:
                module_of_op.setdefault(id(output.grad_fn), path)

        return record

    modules = [(path, module) for path, module in params.named_modules() if path] if hasattr(params, "named_modules") else []
    handles = [module.register_forward_hook(hook_for(path)) for path, module in modules]
    try:
        yield module_of_op
    finally:
        for handle in handles:
            handle.remove()


def _failing_ops(ops, names, seed, samples):
    """(position, failures) of every op that fails alone, in forward order: each checked in float64 on copies
    of the inputs it recorded."""
    eps, atol, rtol = TOLERANCES[numpy.dtype("float64")]
    for position, function in enumerate(ops):
        inputs = [_float64_copy(tensor) for tensor in function.inputs]
        labels = [names.get(id(tensor)) for tensor in function.inputs]
        _, failures = _check(lambda *tensors, function=function: _fresh_copy(function)(*tensors), inputs, labels, eps, atol, rtol, seed, samples)
        if failures:
            yield position, failures


def _describe_culprit(position, ops, names, module_of_op, failures):
    """The lines that name the op at ``position`` of ``ops`` and its own failing inputs."""
    function = ops[position]
    op = _describe(function, [names.get(id(tensor)) for tensor in function.inputs], module_of_op.get(id(function)))
    header = (f"gradcheck: the backward of {op} is wrong (op {position + 1} of {len(ops)} in forward order, "
              "checked alone in float64 on the inputs it recorded)")
    return "\n  ".join([header] + failures)


def _describe(function, labels, module):
    """The op's class, and its module: the one given, or that of its named parameters ('0.weight' is module 0's)."""
    modules = sorted({label.rpartition(".")[0] for label in labels if label and "." in label} | ({module} if module else set()))
    return type(function).__name__ + (f" of module {', '.join(modules)}" if modules else "")


def _float64_copy(tensor):
    """A C-contiguous copy of ``tensor`` (float64 when floating) that requires grad as the original did."""
    if tensor.dtype.kind != "f":
        return Tensor(tensor.xp.array(tensor.data, order="C"))
    return Tensor(tensor.xp.array(tensor.data, dtype="float64", order="C"), requires_grad=tensor.requires_grad)


def _fresh_copy(function):
    """The op, ready to run again, with copies of the Tensors it holds (running statistics stay the model's own)."""
    replica = copy.copy(function)
    for name, value in vars(function).items():
        if isinstance(value, Tensor):
            setattr(replica, name, Tensor(value.data.copy()))
    return replica
