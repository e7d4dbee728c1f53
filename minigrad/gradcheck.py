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
"""
import numpy

from minigrad import backend
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


def gradcheck(fn, inputs, eps=None, atol=None, rtol=None, seed=0, samples=None):
    """Compare the backward of ``fn(*inputs)`` with finite differences for every input that requires grad.

    fn: takes the Tensors ``inputs`` and returns one Tensor. Returns True, or
    raises :class:`GradcheckError` naming the op, the input, the worst element,
    the analytic and numeric values and their relative error. Defaults for
    eps/atol/rtol depend on the inputs' dtype (see ``TOLERANCES``); use float64.
    samples: check only this many randomly chosen elements of each input (for
    whole models, where two forward passes per element would take too long).
    """
    checked = [tensor for tensor in inputs if isinstance(tensor, Tensor) and tensor.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    if not all(tensor.data.flags.c_contiguous for tensor in checked):
        raise ValueError("gradcheck: inputs must be C-contiguous arrays (finite differences perturb them in place)")
    eps, atol, rtol = _tolerances(checked[0].dtype, eps, atol, rtol)

    output = fn(*inputs)
    op_name = type(output.grad_fn).__name__ if output.grad_fn else getattr(fn, "__name__", "fn")
    xp = output.xp
    random = numpy.random.default_rng(seed)
    upstream = xp.asarray(random.standard_normal(output.shape)).astype(output.dtype)
    for tensor in checked:
        tensor.grad = None
    output.backward(upstream)

    for index, tensor in enumerate(inputs):
        if not (isinstance(tensor, Tensor) and tensor.requires_grad):
            continue
        analytic = backend.to_device(tensor.grad if tensor.grad is not None else xp.zeros(tensor.shape), "cpu")
        if analytic.shape != tensor.shape:
            raise GradcheckError(f"gradcheck of {op_name}: input {index} got a gradient of shape {analytic.shape}, expected {tensor.shape}")
        positions = numpy.arange(tensor.size)
        if samples is not None and samples < tensor.size:
            positions = numpy.sort(random.choice(tensor.size, samples, replace=False))
        numeric = numerical_gradient(fn, inputs, tensor, upstream, eps, positions)
        analytic = numpy.asarray(analytic, dtype=numpy.float64).reshape(-1)[positions]
        _compare(op_name, index, tensor.shape, analytic, numeric, positions, atol, rtol)
    return True


def _tolerances(dtype, eps, atol, rtol):
    """eps, atol and rtol: each as given, or the default for ``dtype``."""
    defaults = TOLERANCES.get(dtype, TOLERANCES[numpy.dtype("float32")])
    return tuple(default if given is None else given for default, given in zip(defaults, (eps, atol, rtol)))


def _compare(op_name, index, shape, analytic, numeric, positions, atol, rtol):
    error = numpy.abs(analytic - numeric)
    allowed = atol + rtol * numpy.abs(numeric)
    if numpy.all(error <= allowed):
        return
    worst = numpy.argmax(error - allowed)
    element = tuple(int(i) for i in numpy.unravel_index(positions[worst], shape))
    relative = error[worst] / max(abs(numeric[worst]), abs(analytic[worst]), 1e-12)
    raise GradcheckError(
        f"gradcheck of {op_name} failed for input {index} (shape {shape}): at index {element} "
        f"analytic {analytic[worst]:.8g} vs numeric {numeric[worst]:.8g}, relative error {relative:.3g} "
        f"(atol={atol}, rtol={rtol})"
    )
