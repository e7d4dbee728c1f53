"""How the gradient reaches each layer during training, and how far each step moves the weights.

Every ``every`` steps :class:`GradientFlow` records, for each parameter tensor w in network order,

    grad norm     ||dL/dw||                        (after backward, before the optimizer step)
    update ratio  ||w_after - w_before|| / ||w_before||   (across the optimizer step)

and :func:`figure_gradient_flow` draws both against the layers, one line per moment of the run.

What it shows for the assignment's network: at initialization the gradient that reaches the
convolutional trunk through the four stacked Ultimus blocks is tiny, about 1e-8 to 1e-7 per
element, while the classifier's is near 1e-2. A block's input gets its gradient only through
the block's 8-wide query/key/value path (48 -> 8 -> 48) and its softmax, and at initialization
each block passes on a small fraction of what it receives: the four fractions multiply.
Those values are of the order of Adam's eps (1e-8). Adam divides by the gradient's own size,
lr * m / (sqrt(v_hat) + eps), so while eps stays below |g| even these gradients move the trunk
by a fraction per step comparable to the rest (the update-ratio panel); eps placed inside the
root, sqrt(v_hat + eps) >= 1e-4, would freeze the trunk instead. A residual block
(``UltimusNet(variant="residual")``) passes the gradient around each block unchanged, and the
trunk's gradient becomes as large as the classifier's.

The convolutions' biases have no gradient at all, whatever the variant: BatchNorm right after
them subtracts the per-channel mean, bias included; their points at 1e-14 or so are rounding.
"""
import math

import numpy

from minigrad import backend
from minigrad.checks import positive_integer
from ultimus.diagnostics.figures import plt, save_figure

MOMENTS = (0.0, 0.25, 0.5, 1.0)  # fractions of the recorded steps drawn as lines


class GradientFlow:
    """Records grad norms and update ratios of ``model``'s parameters at steps 0, every, 2 every, ...

    Use around the optimizer's step, with a step counter that runs over the whole training::

        loss.backward()
        flow.before_step(step)
        optimizer.step()
        flow.after_step(step)

    The norms stay on the parameters' device as 0-d arrays (no host synchronization per step on
    the GPU); :meth:`records` moves them to the host in one transfer. Between recorded steps
    both calls return at once.
    """

    def __init__(self, model, every=50):
        self.every = positive_integer(every, "GradientFlow: every")
        self.names, self.parameters = (list(items) for items in zip(*model.named_parameters()))
        self.steps, self.grad_norms, self.update_ratios = [], [], []
        self._before = None

    def before_step(self, step):
        """At a recorded step: keep each parameter's value and its gradient's norm (0 without a gradient)."""
        if step % self.every:
            return
        xp = backend.get_array_module(self.parameters[0].data)
        grad_norms = xp.stack([_norm(xp, parameter.grad, parameter.data) for parameter in self.parameters])
        self._before = grad_norms, [parameter.data.copy() for parameter in self.parameters]

    def after_step(self, step):
        """At a recorded step: ||w_after - w_before|| / ||w_before|| per parameter (NaN where w_before = 0)."""
        if step % self.every:
            return
        if self._before is None:
            raise RuntimeError(f"GradientFlow.after_step({step}) without before_step({step}) before the optimizer step")
        xp = backend.get_array_module(self.parameters[0].data)
        grad_norms, values = self._before
        ratios = []
        for parameter, before in zip(self.parameters, values):
            weight_norm = xp.linalg.norm(before)
            ratios.append(xp.linalg.norm(parameter.data - before) / xp.where(weight_norm > 0, weight_norm, xp.nan))
        self.grad_norms.append(grad_norms)
        self.update_ratios.append(xp.stack(ratios))
        self.steps.append(int(step))
        self._before = None

    def records(self):
        """A JSON-friendly dict: "parameters" (names in network order), "steps" (recorded steps) and,
        per recorded step, "grad_norm" and "update_ratio" (lists in parameter order; NaN as None)."""
        return {
            "every": self.every,
            "parameters": list(self.names),
            "steps": list(self.steps),
            "grad_norm": _to_lists(self.grad_norms),
            "update_ratio": _to_lists(self.update_ratios),
        }

    def take_records(self):
        """:meth:`records` of the steps recorded since the last take, which are then forgotten:
        a run takes them once per epoch (one host transfer) into its history."""
        records = self.records()
        self.steps, self.grad_norms, self.update_ratios = [], [], []
        return records


def merge_records(earlier, later):
    """The records of ``earlier`` steps followed by those of ``later`` ones (either may be None)."""
    if earlier is None or later is None:
        return later if earlier is None else earlier
    if (earlier["parameters"], earlier["every"]) != (later["parameters"], later["every"]):
        raise ValueError("gradient flow records of different parameters or intervals cannot be merged")
    return dict(earlier, **{key: earlier[key] + later[key] for key in ("steps", "grad_norm", "update_ratio")})


def _norm(xp, gradient, like):
    return xp.zeros((), dtype=like.dtype) if gradient is None else xp.linalg.norm(gradient)


def _to_lists(rows):
    """Per-step device vectors -> nested Python lists, in one host transfer; NaN becomes None."""
    if not rows:
        return []
    table = backend.to_device(backend.get_array_module(rows[0]).stack(rows), "cpu").astype(numpy.float64)
    return [[None if math.isnan(value) else value for value in row] for row in table.tolist()]


def moments(steps, fractions=MOMENTS):
    """Indexes into ``steps`` of the recorded steps nearest each fraction of the run, without repeats."""
    return sorted({round(fraction * (len(steps) - 1)) for fraction in fractions})


def figure_gradient_flow(records):
    """Two panels over the parameters in network order (x): grad norm and update ratio, log y,
    one line per moment of the run (first, 25%, 50% and last recorded step).

    records: as :meth:`GradientFlow.records` returns them (also after a JSON round trip).
    The left end of x is the convolutional trunk, then the four blocks, then the classifier:
    a curve that falls by orders of magnitude toward the left is the vanishing gradient.
    """
    steps, names = records["steps"], records["parameters"]
    if not steps:
        raise ValueError("gradient flow records hold no recorded step: train for at least one step")
    figure, axes = plt.subplots(2, 1, figsize=(max(8, 0.22 * len(names)), 7), sharex=True, layout="constrained")
    panels = (("grad_norm", "gradient norm ||dL/dw||"), ("update_ratio", "update ratio ||dw|| / ||w||"))
    positions = numpy.arange(len(names))
    for axis, (key, label) in zip(axes, panels):
        for index in moments(steps):
            values = numpy.array(records[key][index], dtype=numpy.float64)  # None -> NaN: a gap in the line
            axis.plot(positions, values, marker="o", markersize=3, label=f"step {steps[index]}")
        axis.set_yscale("log")
        axis.set_ylabel(label)
        axis.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].set_title("Gradient flow, layers in network order (trunk left, classifier right)")
    axes[1].set_xticks(positions, names, rotation=90, fontsize=6)
    return figure


def save_gradient_flow(records, path):
    """Write :func:`figure_gradient_flow` to ``path`` as a PNG; returns the (closed) figure."""
    return save_figure(figure_gradient_flow(records), path)
