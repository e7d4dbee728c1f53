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
own, on float64 copies of the inputs it saw, and the report names the first
(in forward order) whose backward is wrong: a composite's error is usually one
op's.
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

    fn: takes the Tensors ``inputs`` and returns one Tensor. Returns True, or
    raises :class:`GradcheckError` with one line per failing input (the worst
    element, the analytic and numeric values, their relative error, and the
    factor when the analytic gradient is the numeric one times a constant) and, when fn
    recorded several ops, the first op whose own backward is wrong. Defaults
    for eps/atol/rtol depend on the inputs' dtype (see ``TOLERANCES``); use float64.
    samples: check only this many randomly chosen elements of each input (for
    whole models, where two forward passes per element would take too long).
    params: a Module or a dict name -> Tensor, to name its tensors in the
    report, and the module each op belongs to (by its parameters, or for a
    Module, by the submodule whose output it made).
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
    op_name = type(output.grad_fn).__name__ if output.grad_fn else getattr(fn, "__name__", "fn")
    report = [f"gradcheck of {op_name} failed for {failure}" for failure in failures]
    ops = ops_in_forward_order(output)
    if len(ops) > 1:
        report.append(_find_culprit(ops, names, module_of_op, seed, samples))
    raise GradcheckError("\n".join(report))


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


def _find_culprit(ops, names, module_of_op, seed, samples):
    """Check each op alone, in forward order, in float64 on copies of its recorded inputs; describe the first that fails."""
    eps, atol, rtol = TOLERANCES[numpy.dtype("float64")]
    for position, function in enumerate(ops):
        inputs = [_float64_copy(tensor) for tensor in function.inputs]
        labels = [names.get(id(tensor)) for tensor in function.inputs]
        _, failures = _check(lambda *tensors: _fresh_copy(function)(*tensors), inputs, labels, eps, atol, rtol, seed, samples)
        if failures:
            op = _describe(function, labels, module_of_op.get(id(function)))
            header = f"the culprit, the first op whose own backward is wrong: op {position + 1} of {len(ops)} in forward order, {op}"
            return "\n  ".join([header] + failures)
    return (
        f"each of its {len(ops)} ops passes on its own (in float64, on its recorded inputs): look at what fn computes "
        "outside them (on .data, under no_grad), or at the precision of its dtype"
    )


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
