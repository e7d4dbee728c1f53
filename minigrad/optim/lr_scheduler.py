"""Learning-rate schedules: they rewrite each parameter group's 'lr' once per ``step()``.

:func:`one_cycle` is the 1cycle policy as a plain function of the step number;
:class:`OneCycleLR` calls it for every group's lr (and momentum) at each step.
"""
import copy
import math

from minigrad.checks import positive_integer

ANNEAL_STRATEGIES = ("cos", "linear")


def one_cycle(step, total_steps, start, peak, end, pct_start=0.3, anneal_strategy="cos", three_phase=False):
    """The 1cycle value at ``step`` (0 to total_steps - 1): from start up to peak over the first pct_start of
    the steps, then down to end. With three_phase it comes back to start first, and then goes on to end.

    OneCycleLR gives each group's lr (start = max_lr / div_factor, peak = max_lr, end = start /
    final_div_factor) and its momentum, which moves the other way (from max_momentum down to base_momentum
    and back). The phase boundaries are PyTorch's: the peak is reached at step pct_start * total_steps - 1.
    """
    peak_step, last_step = pct_start * total_steps - 1, total_steps - 1
    if step <= peak_step:
        return anneal(start, peak, step / peak_step, anneal_strategy)
    if not three_phase:
        return anneal(peak, end, (step - peak_step) / (last_step - peak_step), anneal_strategy)
    if step <= 2 * peak_step:
        return anneal(peak, start, (step - peak_step) / peak_step, anneal_strategy)
    return anneal(start, end, (step - 2 * peak_step) / (last_step - 2 * peak_step), anneal_strategy)


def anneal(start, end, progress, strategy):
    """From start (progress 0) to end (progress 1): along half a cosine ("cos"), or along a line ("linear")."""
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * progress) + 1)
    return (end - start) * progress + start


class LRScheduler:
    """Base class: subclasses define ``get_lr()``, the lr of every group at step ``last_epoch``.

    Construction records each group's starting lr as ``'initial_lr'`` (unless a
    subclass set it already) and takes step 0, so the optimizer's first update
    uses the schedule's first value. Call ``step()`` after each ``optimizer.step()``.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def get_lr(self):
        raise NotImplementedError

    def __repr__(self):
        total = getattr(self, "total_steps", None)
        step = f"step {self.last_epoch}" + (f" of {total}" if total is not None else "")
        lrs = ", ".join(f"{lr:.4g}" for lr in self.get_last_lr())
        return f"{type(self).__name__}({step}, lr {lrs})"

    def step(self):
        """Advance the schedule by one step and write the new lr into every group."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The lr of every group, as set by the latest ``step()``."""
        return self._last_lr

    def state_dict(self):
        """Everything but the optimizer (whose groups hold the lrs themselves: save it too)."""
        return copy.deepcopy({key: value for key, value in self.__dict__.items() if key != "optimizer"})

    def load_state_dict(self, state_dict):
        self.__dict__.update(copy.deepcopy(state_dict))


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topin), with PyTorch's exact semantics, stepped once per batch:
    the lr of step t is :func:`one_cycle` of t.

    The lr rises from initial_lr = max_lr / div_factor to max_lr over the first
    pct_start of total_steps, then falls to min_lr = initial_lr / final_div_factor.
    With three_phase it first falls back to initial_lr (as long as it rose), then to
    min_lr. With cycle_momentum the momentum moves the other way, between
    max_momentum and base_momentum; for Adam-like groups it is beta1 ('betas'[0]).
    total_steps, or epochs and steps_per_epoch (total_steps = their product), give
    the length; stepping more than total_steps times raises ValueError.
    max_lr, base_momentum and max_momentum may be one value or a list, one per group.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start must be a number in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ANNEAL_STRATEGIES:
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.cycle = {"pct_start": pct_start, "anneal_strategy": anneal_strategy, "three_phase": three_phase}
        groups = optimizer.param_groups
        for group, peak in zip(groups, _per_group(max_lr, "max_lr", groups)):
            group["initial_lr"] = peak / div_factor
            group["max_lr"] = peak
            group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if not all("momentum" in group or "betas" in group for group in groups):
                raise ValueError("cycle_momentum=True needs an optimizer with 'momentum' or 'betas' in its groups")
            lows, highs = _per_group(base_momentum, "base_momentum", groups), _per_group(max_momentum, "max_momentum", groups)
            for group, low, high in zip(groups, lows, highs):
                group["base_momentum"], group["max_momentum"] = low, high
        super().__init__(optimizer)

    def get_lr(self):
        step = self._checked_step()
        return [one_cycle(step, self.total_steps, group["initial_lr"], group["max_lr"], group["min_lr"], **self.cycle)
                for group in self.optimizer.param_groups]

    def step(self):
        super().step()
        if self.cycle_momentum:
            for group in self.optimizer.param_groups:
                momentum = one_cycle(self.last_epoch, self.total_steps, group["max_momentum"], group["base_momentum"],
                                     group["max_momentum"], **self.cycle)
                _set_momentum(group, momentum)

    def _checked_step(self):
        """The step number, once checked against total_steps (with PyTorch's message)."""
        step, total = self.last_epoch, self.total_steps
        if step > total:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {total}")
        return step


def _total_steps(total_steps, epochs, steps_per_epoch):
    if total_steps is not None:
        return positive_integer(total_steps, "total_steps")
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch")
    return positive_integer(epochs, "epochs") * positive_integer(steps_per_epoch, "steps_per_epoch")


def _per_group(value, name, groups):
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(f"{name} has {len(value)} values but the optimizer has {len(groups)} parameter groups")
        return list(value)
    return [value] * len(groups)


def _set_momentum(group, momentum):
    """Adam-like groups take the momentum as beta1; SGD-like groups as 'momentum'."""
    if "betas" in group:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum
