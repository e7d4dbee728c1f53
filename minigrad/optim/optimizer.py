"""The optimizer base class: parameter groups, per-parameter state, and checkpoints.

An optimizer holds ``param_groups``, a list of dicts, each with its ``'params'``
(a list of Tensors) and every option of the update rule (``'lr'``, ...), so
that one model can train its parts with different settings and a learning-rate
schedule can change an option by writing into the group. ``state`` maps each
parameter to what its update rule remembers between steps (moment estimates,
a step counter).
"""
import copy

from minigrad import backend
from minigrad.tensor import Tensor, no_grad


class Optimizer:
    """Base class: subclasses define ``update(param, grad, state, group)`` for one parameter (and may
    override ``update_group(group)`` to update a group's parameters at once).

    params: an iterable of Tensors, or of dicts (parameter groups) that hold
    ``'params'`` and any options that differ from ``defaults``.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of Tensors or of dicts, got a single Tensor; "
                "wrap it in a list: [tensor]"
            )
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group of parameters, filling the options it does not set from ``defaults``."""
        if not isinstance(group, dict):
            raise TypeError(f"a parameter group must be a dict with a 'params' entry, got {type(group).__name__}")
        params = group["params"]
        group = {**self.defaults, **group, "params": [params] if isinstance(params, Tensor) else list(params)}
        index = len(self.param_groups)
        if not group["params"]:
            raise ValueError(f"parameter group {index} is empty")
        seen = {id(param) for other in self.param_groups for param in other["params"]}
        for position, param in enumerate(group["params"]):
            _check_parameter(param, f"parameter {position} of group {index}")
            if id(param) in seen:
                raise ValueError(f"parameter {position} of group {index} appears more than once in this optimizer")
            seen.add(id(param))
        if group["lr"] < 0:
            raise ValueError(f"learning rate must be >= 0, got lr={group['lr']} in group {index}")
        self.check_options(group)
        self.param_groups.append(group)

    def __repr__(self):
        """PyTorch's form: the class, then each group's options (its parameters counted, not printed)."""
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.append(f"    params: {len(group['params'])} tensors, {sum(param.size for param in group['params']):,} values")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines + [")"])

    def check_options(self, group):
        """Raise ValueError for an option of ``group`` outside its valid range (subclasses extend this)."""

    def zero_grad(self):
        """Forget every parameter's gradient (backward accumulates until this is called)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.grad = None

    def step(self, closure=None):
        """Update every parameter that has a gradient, in place; return closure()'s loss if given.

        closure: an optional function that recomputes the loss (forward and backward).
        """
        loss = closure() if closure is not None else None
        with no_grad():
            for group in self.param_groups:
                self.update_group(group)
        return loss

    def update_group(self, group):
        """Update each parameter of ``group`` that has a gradient, one at a time (a subclass may update
        them all at once)."""
        for param in group["params"]:
            if param.grad is not None:
                self.update(param, param.grad, self.state.setdefault(param, {}), group)

    def update(self, param, grad, state, group):
        """Change ``param.data`` in place from ``grad``, reading and updating its ``state`` dict."""
        raise NotImplementedError

    def state_dict(self):
        """A copy of the optimizer's state: options per group, and state keyed by parameter position.

        Positions count through the groups in order (0, 1, ... across all
        groups), as in PyTorch, so the dict names no Tensor and can be pickled.
        Arrays are copied, so training on does not change a saved state_dict.
        """
        positions = {id(param): position for position, param in enumerate(self._all_params())}
        groups = []
        for group in self.param_groups:
            options = copy.deepcopy({key: value for key, value in group.items() if key != "params"})
            groups.append({**options, "params": [positions[id(param)] for param in group["params"]]})
        state = {positions[id(param)]: _copy_state(values) for param, values in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` saved, into an optimizer over parameters of the same layout.

        State arrays are moved to each parameter's device, and floating ones
        cast to its dtype.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state_dict has {len(saved_groups)} parameter groups, this optimizer has {len(self.param_groups)}"
            )
        for index, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"parameter group {index} of the loaded state_dict has {len(saved['params'])} parameters, "
                    f"this optimizer's has {len(group['params'])}"
                )
        params = self._all_params()
        self.state = {
            params[position]: _copy_state(values, like=params[position].data)
            for position, values in state_dict["state"].items()
        }
        self.param_groups = [
            {**copy.deepcopy({key: value for key, value in saved.items() if key != "params"}), "params": group["params"]}
            for saved, group in zip(saved_groups, self.param_groups)
        ]

    def _all_params(self):
        return [param for group in self.param_groups for param in group["params"]]


def _check_parameter(param, name):
    if not isinstance(param, Tensor):
        raise TypeError(f"{name} is a {type(param).__name__}; an optimizer can only update Tensors")
    if not param.requires_grad:
        raise ValueError(f"{name} does not require grad; create it with requires_grad=True")
    if not param.is_leaf:
        raise ValueError(f"{name} is the result of an op, not a leaf Tensor; optimize the leaf it came from")


def _copy_state(values, like=None):
    """A copy of one parameter's state; with ``like``, arrays go to its device and floats to its dtype."""
    return {key: _copy_value(value, like) for key, value in values.items()}


def _copy_value(value, like):
    if not hasattr(value, "dtype") or not hasattr(value, "shape"):
        return copy.deepcopy(value)
    if like is None:
        return value.copy()
    moved = backend.to_device(value, backend.device_of(like))
    if moved.dtype.kind == "f":
        return moved.astype(like.dtype)  # astype copies, which also detaches it from the saved dict
    return moved.copy() if moved is value else moved
