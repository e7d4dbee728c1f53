"""Adam and AdamW, exactly as PyTorch defines them (bias-corrected moments, eps outside the root).

:func:`adam_step_simple` is the paper's update, five lines on arrays. :class:`Adam`
computes the same in place, with the bias corrections folded into two scalars,
adds the variants (L2 or decoupled weight decay, AMSGrad), and on a GPU runs
the whole update as one fused kernel (AMSGrad, with its running maximum, as array operations). They are
tested equal.

With ``foreach=True`` (the default) Adam updates a group's parameters all at once, as PyTorch's
foreach and fused Adam do: the parameters and their moments are views into one flat array each
(:class:`FlatGroup`), so a step is one update of those arrays, whatever the number of parameters.
The arithmetic is elementwise and the same, so it equals the update one parameter at a time
(``foreach=False``) exactly; they are tested equal.
"""
import itertools
import math

from minigrad.backend import device_of, fused_kernel, get_array_module
from minigrad.optim.optimizer import Optimizer
from minigrad.tensor import Tensor


def adam_step_simple(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps):
    """One Adam step (Kingma and Ba, Algorithm 1) on arrays, in place; ``step`` counts from 1.

    m and v, the running means of the gradient and of its square, start at 0, so
    early on they are too small by the factors 1 - beta^t: dividing by those undoes
    the bias. eps is added to sqrt(v_hat), as PyTorch does (see :class:`Adam`).
    """
    exp_avg[...] = beta1 * exp_avg + (1 - beta1) * grad  # m
    exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * grad * grad  # v
    m_hat = exp_avg / (1 - beta1**step)
    v_hat = exp_avg_sq / (1 - beta2**step)
    param -= lr * m_hat / (get_array_module(param).sqrt(v_hat) + eps)


class Adam(Optimizer):
    """Adam (Kingma and Ba), with PyTorch's placement of eps. For gradient g at step t:

        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
        p -= lr * (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps)

    eps is added to sqrt(v_hat), the bias-corrected root. Placing it elsewhere
    changes training whenever gradients are as small as eps itself (1e-8).
    weight_decay adds weight_decay * p to g (L2 regularization); amsgrad
    divides by the running maximum of v instead of v. beta1 and beta2 are read
    from the group at every step, so a schedule may change them (OneCycleLR
    cycles beta1 as its momentum).
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, foreach=True):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad}
        super().__init__(params, defaults)
        self.foreach, self.flat_groups = foreach, {}  # flat_groups: a FlatGroup by id of its group

    def check_options(self, group):
        betas = group["betas"]
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {tuple(betas)}")
        if group["eps"] < 0:
            raise ValueError(f"eps must be >= 0, got {group['eps']}")
        if group["weight_decay"] < 0:
            raise ValueError(f"weight_decay must be >= 0, got {group['weight_decay']}")

    def update_group(self, group):
        """With foreach, all of the group's parameters at once when they can share one update: each has a
        gradient of its own dtype and device, they share these, and their states count the same steps."""
        params = group["params"]
        if not (self.foreach and can_update_at_once(params, [self.state.get(param, {}) for param in params])):
            return super().update_group(group)
        flat = self.flat_groups.get(id(group))
        if flat is None or not flat.holds(params, self.state):
            flat = self.flat_groups[id(group)] = FlatGroup(params, self.state, group["amsgrad"])
        flat.state["step"] = self.state[params[0]]["step"]
        grad = get_array_module(flat.param.data).concatenate([param.grad.reshape(-1) for param in params])
        self.update(flat.param, grad, flat.state, group)
        for param in params:
            self.state[param]["step"] = flat.state["step"]

    def update(self, param, grad, state, group):
        """adam_step_simple's step, with lr / (1 - b1^t) as one step size and sqrt(1 - b2^t) as one root
        correction, and the weight decay of this class (L2, or AdamW's decoupled one)."""
        # Python floats keep the arithmetic in the parameter's dtype (NumPy and CuPy do not promote for them).
        beta1, beta2 = (float(beta) for beta in group["betas"])
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        if not state:
            _init_state(state, param.data, group["amsgrad"])
        state["step"] += 1
        step_size = lr / (1 - beta1 ** state["step"])
        root_correction = math.sqrt(1 - beta2 ** state["step"])
        # Decoupled decay shrinks p first; L2 decay adds to the gradient instead.
        shrink = 1 - lr * weight_decay if self.decoupled_weight_decay else 1.0
        l2_decay = 0.0 if self.decoupled_weight_decay else weight_decay
        arguments = (grad, beta1, 1 - beta1, beta2, 1 - beta2, step_size, root_correction, eps, shrink, l2_decay,
                     param.data, state["exp_avg"], state["exp_avg_sq"])
        if group["amsgrad"]:  # the kernel keeps no running maximum: array operations, on either device
            adam_update.twin(*arguments, max_exp_avg_sq=state["max_exp_avg_sq"])
        else:
            adam_update(*arguments)


@fused_kernel(
    "T grad, T beta1, T one_minus_beta1, T beta2, T one_minus_beta2, T step_size, T root_correction, T eps, "
    "T shrink, T l2_decay",
    "T param, T exp_avg, T exp_avg_sq",
    """
    param *= shrink;
    T g = grad + l2_decay * param;
    exp_avg = beta1 * exp_avg + one_minus_beta1 * g;
    exp_avg_sq = beta2 * exp_avg_sq + one_minus_beta2 * g * g;
    param -= step_size * (exp_avg / (sqrt(exp_avg_sq) / root_correction + eps));
    """,
)
def adam_update(grad, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, root_correction, eps, shrink,
                l2_decay, param, exp_avg, exp_avg_sq, max_exp_avg_sq=None):
    """One Adam step as array operations, in place on param, exp_avg and exp_avg_sq (arrays of one shape).

    The update of the CPU, and the NumPy twin of the kernel above: the same arguments in the same order, the
    same arithmetic. As array operations a step costs a dozen launches per parameter on a GPU, longer than
    the arithmetic for a small model. 1 - beta comes in computed in double precision on both (in float32,
    1 - 0.999 is off by 1e-5 relative, enough to drift from the CPU's trajectory). max_exp_avg_sq:
    AMSGrad's running maximum of exp_avg_sq, or None (the kernel has none; Adam calls the twin for it).
    """
    xp = get_array_module(param)
    if shrink != 1.0:
        param *= shrink
    if l2_decay:
        grad = grad + l2_decay * param
    exp_avg *= beta1
    exp_avg += one_minus_beta1 * grad
    exp_avg_sq *= beta2
    exp_avg_sq += one_minus_beta2 * grad * grad
    if max_exp_avg_sq is not None:
        exp_avg_sq = xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    denominator = xp.sqrt(exp_avg_sq)
    denominator /= root_correction
    denominator += eps
    param -= step_size * (exp_avg / denominator)


def can_update_at_once(params, states):
    """Whether ``params`` (Tensors) can be updated as one flat array: each has a gradient, all of them and
    their gradients share one dtype and device, and their ``states`` are all new or all at one step."""
    if any(param.grad is None for param in params):
        return False
    kinds = {(param.dtype, param.device) for param in params}
    kinds |= {(param.grad.dtype, device_of(param.grad)) for param in params}
    return len(kinds) == 1 and len({state.get("step") for state in states}) == 1


class FlatGroup:
    """A group's parameters and their Adam state as views into flat arrays, one array per kind.

    param: a Tensor of all the parameters' values end to end (P,); state: the state of that Tensor,
    step and flat exp_avg, exp_avg_sq (and max_exp_avg_sq) (P,). Each parameter's ``data`` and
    state arrays become views into these, so updating the flat arrays updates them all, and the
    optimizer's state_dict and load_state_dict see per-parameter state as before.
    """

    def __init__(self, params, states, amsgrad):
        for param in params:
            if not states.setdefault(param, {}):
                _init_state(states[param], param.data, amsgrad)
        data, self.views = flatten_into_views([param.data for param in params])
        self.param, self.state = Tensor(data), {}  # its step is the group's, set before each update
        for param, view in zip(params, self.views):
            param.data = view
        for key in states[params[0]]:
            if key != "step":
                self.state[key], views = flatten_into_views([states[param][key] for param in params])
                for param, view in zip(params, views):
                    states[param][key] = view
                self.views += views

    def holds(self, params, states):
        """Whether the parameters' data and state arrays are still this group's views (nothing replaced them:
        loading a state_dict or moving a parameter does)."""
        current = [param.data for param in params]
        current += [states[param][key] for key in self.state if key != "step" for param in params]
        return len(current) == len(self.views) and all(array is view for array, view in zip(current, self.views))


def flatten_into_views(arrays):
    """The ``arrays`` copied end to end into one flat array, and a view of it shaped as each: (flat, views)."""
    flat = get_array_module(arrays[0]).concatenate([array.reshape(-1) for array in arrays])
    bounds = itertools.accumulate((array.size for array in arrays), initial=0)
    return flat, [flat[start:start + array.size].reshape(array.shape) for start, array in zip(bounds, arrays)]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p -= lr * weight_decay * p,
    applied before the Adam update instead of adding weight_decay * p to the gradient."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, foreach=True):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach)


def _init_state(state, data, amsgrad):
    xp = get_array_module(data)
    state["step"] = 0
    state["exp_avg"] = xp.zeros_like(data)
    state["exp_avg_sq"] = xp.zeros_like(data)
    if amsgrad:
        state["max_exp_avg_sq"] = xp.zeros_like(data)

