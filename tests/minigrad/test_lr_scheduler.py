"""one_cycle and OneCycleLR against their closed-form values and, when installed, torch's OneCycleLR at every step."""
import math

import numpy
import pytest

from minigrad import Tensor
from minigrad.optim import SGD, Adam, Optimizer
from minigrad.optim.lr_scheduler import LRScheduler, OneCycleLR, one_cycle


def make_params(count=1):
    return [Tensor(numpy.zeros(3), requires_grad=True) for _ in range(count)]


def beta1(optimizer):
    return optimizer.param_groups[0]["betas"][0]


def test_base_scheduler_takes_step_zero_at_construction():
    class Halving(LRScheduler):
        def get_lr(self):
            return [base_lr * 0.5**self.last_epoch for base_lr in self.base_lrs]

    optimizer = SGD(make_params(), lr=0.8)
    scheduler = Halving(optimizer)
    assert scheduler.last_epoch == 0 and scheduler.get_last_lr() == [0.8]
    assert optimizer.param_groups[0]["initial_lr"] == 0.8
    scheduler.step()
    scheduler.step()
    assert scheduler.last_epoch == 2 and scheduler.get_last_lr() == [0.2] and optimizer.param_groups[0]["lr"] == 0.2


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_is_a_function_of_the_step_through_its_corners(three_phase):
    """100 steps, peak at step 19 (pct_start 0.2): up from 1 to 10 and down to 0.5, linear, so every corner
    and every midpoint has a closed form. With three_phase: back to 1 at step 38, then down to 0.5."""
    def value(step):
        return one_cycle(step, 100, 1.0, 10.0, 0.5, pct_start=0.2, anneal_strategy="linear", three_phase=three_phase)

    assert (value(0), value(19), value(99)) == pytest.approx((1.0, 10.0, 0.5), rel=1e-12)
    assert value(9.5) == pytest.approx(5.5, rel=1e-12)
    if three_phase:
        assert (value(38), value(28.5), value(68.5)) == pytest.approx((1.0, 5.5, 0.75), rel=1e-12)
    else:
        assert value(59) == pytest.approx(5.25, rel=1e-12)
    assert one_cycle(19 + 40, 100, 1.0, 10.0, 0.5, pct_start=0.2) == pytest.approx(5.25, rel=1e-12)  # cos, halfway


def test_one_cycle_start_peak_and_end_values_are_the_closed_forms():
    max_lr, div_factor, final_div_factor, total_steps, pct_start = 0.01, 10.0, 100.0, 100, 0.2
    optimizer = Adam(make_params(), lr=123.0)
    scheduler = OneCycleLR(optimizer, max_lr, total_steps=total_steps, pct_start=pct_start,
                           div_factor=div_factor, final_div_factor=final_div_factor)
    lrs, beta1s = [scheduler.get_last_lr()[0]], [beta1(optimizer)]
    for _ in range(total_steps - 1):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        beta1s.append(beta1(optimizer))
    peak = int(pct_start * total_steps) - 1
    assert lrs[0] == pytest.approx(max_lr / div_factor, rel=1e-12)
    assert lrs[peak] == pytest.approx(max_lr, rel=1e-12) and max(lrs) == lrs[peak]
    assert lrs[-1] == pytest.approx(max_lr / div_factor / final_div_factor, rel=1e-12)
    assert beta1s[0] == pytest.approx(0.95) and beta1s[peak] == pytest.approx(0.85) and beta1s[-1] == pytest.approx(0.95)
    halfway_down = peak + (total_steps - 1 - peak) // 2  # an integer step for these settings
    assert lrs[halfway_down] == pytest.approx((max_lr + max_lr / div_factor / final_div_factor) / 2, rel=1e-12)
    group = optimizer.param_groups[0]
    assert (group["initial_lr"], group["max_lr"], group["min_lr"]) == pytest.approx((1e-3, 1e-2, 1e-5))


def test_linear_anneal_moves_in_equal_steps():
    optimizer = SGD(make_params(), lr=0.1, momentum=0.9)
    scheduler = OneCycleLR(optimizer, 1.0, total_steps=21, pct_start=0.5, anneal_strategy="linear", div_factor=5.0)
    lrs, momentums = [scheduler.get_last_lr()[0]], [optimizer.param_groups[0]["momentum"]]
    for _ in range(20):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        momentums.append(optimizer.param_groups[0]["momentum"])
    peak = 21 * 0.5 - 1  # 9.5: the warm-up ends between steps 9 and 10
    numpy.testing.assert_allclose(lrs[:10], [0.2 + 0.8 * step / peak for step in range(10)], rtol=1e-12)
    minimum = 0.2 / 1e4
    numpy.testing.assert_allclose(lrs[10:], [1.0 + (minimum - 1.0) * (step - peak) / (20 - peak) for step in range(10, 21)], rtol=1e-12, atol=1e-15)
    numpy.testing.assert_allclose(momentums[:10], [0.95 - 0.1 * step / peak for step in range(10)], rtol=1e-12)
    numpy.testing.assert_allclose(momentums[10:], [0.85 + 0.1 * (step - peak) / (20 - peak) for step in range(10, 21)], rtol=1e-12)


def test_three_phase_comes_back_to_the_initial_lr_before_the_final_anneal():
    optimizer = Adam(make_params())
    scheduler = OneCycleLR(optimizer, 0.5, total_steps=40, pct_start=0.25, three_phase=True)
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(39):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    assert lrs[9] == pytest.approx(0.5, rel=1e-12)
    assert lrs[18] == pytest.approx(0.5 / 25, rel=1e-12)
    assert lrs[39] == pytest.approx(0.5 / 25 / 1e4, rel=1e-12)
    assert beta1(optimizer) == pytest.approx(0.95)


def test_stepping_past_the_total_raises_like_pytorch():
    scheduler = OneCycleLR(Adam(make_params()), 0.1, epochs=2, steps_per_epoch=3)
    for _ in range(6):  # PyTorch allows total_steps steps after construction (the last one extrapolates)
        scheduler.step()
    with pytest.raises(ValueError, match="Tried to step 7 times. The specified number of total steps is 6"):
        scheduler.step()


def test_max_lr_and_momentum_may_differ_per_group():
    first, second = make_params(2)
    optimizer = SGD([{"params": [first]}, {"params": [second]}], lr=0.1, momentum=0.9)
    scheduler = OneCycleLR(optimizer, [0.1, 1.0], total_steps=10, base_momentum=[0.8, 0.7], max_momentum=0.9)
    assert scheduler.get_last_lr() == pytest.approx([0.004, 0.04])
    for _ in range(2):
        scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([0.1, 1.0])
    assert [group["momentum"] for group in optimizer.param_groups] == pytest.approx([0.8, 0.7])


def test_state_dict_round_trip_continues_the_schedule():
    optimizer = Adam(make_params())
    scheduler = OneCycleLR(optimizer, 0.1, total_steps=12, anneal_strategy="linear")
    for _ in range(5):
        scheduler.step()
    saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()
    resumed_optimizer = Adam(make_params())
    resumed = OneCycleLR(resumed_optimizer, 0.7, total_steps=30)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved_scheduler)
    for _ in range(7):
        scheduler.step()
        resumed.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()
        assert beta1(resumed_optimizer) == beta1(optimizer)
    with pytest.raises(ValueError, match="Tried to step 13 times"):
        resumed.step()


def test_bad_arguments_raise_clear_errors():
    optimizer = Adam(make_params())
    with pytest.raises(ValueError, match="needs total_steps, or both epochs and steps_per_epoch"):
        OneCycleLR(optimizer, 0.1)
    with pytest.raises(ValueError, match="needs total_steps, or both epochs and steps_per_epoch"):
        OneCycleLR(optimizer, 0.1, epochs=3)
    with pytest.raises(ValueError, match="total_steps must be a positive integer, got 0"):
        OneCycleLR(optimizer, 0.1, total_steps=0)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got -1"):
        OneCycleLR(optimizer, 0.1, epochs=-1, steps_per_epoch=5)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer, got 2.5"):
        OneCycleLR(optimizer, 0.1, epochs=1, steps_per_epoch=2.5)
    with pytest.raises(ValueError, match=r"pct_start must be a number in \[0, 1\], got 1.5"):
        OneCycleLR(optimizer, 0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be 'cos' or 'linear', got 'exp'"):
        OneCycleLR(optimizer, 0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr has 2 values but the optimizer has 1 parameter groups"):
        OneCycleLR(optimizer, [0.1, 0.2], total_steps=10)
    without_momentum = Optimizer(make_params(), {"lr": 0.1})
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with 'momentum' or 'betas'"):
        OneCycleLR(without_momentum, 0.1, total_steps=10)
    assert OneCycleLR(without_momentum, 0.1, total_steps=10, cycle_momentum=False).get_last_lr() == pytest.approx([0.004])


@pytest.mark.parametrize("options", [
    {"total_steps": 50},
    {"total_steps": 37, "pct_start": 0.2, "anneal_strategy": "linear", "div_factor": 10.0, "final_div_factor": 100.0},
    {"total_steps": 40, "three_phase": True},
    {"total_steps": 33, "three_phase": True, "anneal_strategy": "linear", "base_momentum": 0.8, "max_momentum": 0.99},
    {"epochs": 24, "steps_per_epoch": 5, "pct_start": 5 / 24},
    {"epochs": 4, "steps_per_epoch": 7, "cycle_momentum": False},
])
@pytest.mark.parametrize("use_adam", [True, False])
def test_matches_torch_one_cycle_at_every_step(options, use_adam):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Parameter(torch.zeros(3))
    if use_adam:
        our_optimizer, their_optimizer = Adam(make_params(), lr=0.5), torch.optim.Adam([theirs], lr=0.5)
    else:
        our_optimizer, their_optimizer = SGD(make_params(), lr=0.5, momentum=0.9), torch.optim.SGD([theirs], lr=0.5, momentum=0.9)
    ours = OneCycleLR(our_optimizer, 0.01, **options)
    reference = torch.optim.lr_scheduler.OneCycleLR(their_optimizer, 0.01, **options)
    momentum_key = "betas" if use_adam else "momentum"
    for step in range(reference.total_steps + 1):
        assert ours.get_last_lr() == pytest.approx(reference.get_last_lr(), rel=1e-12, abs=1e-18), f"lr at step {step}"
        our_group, their_group = our_optimizer.param_groups[0], their_optimizer.param_groups[0]
        assert our_group[momentum_key] == pytest.approx(their_group[momentum_key], rel=1e-12), f"momentum at step {step}"
        if step < reference.total_steps:
            their_optimizer.step()  # keeps torch from warning that the scheduler stepped first
            ours.step()
            reference.step()
    with pytest.raises(ValueError) as torch_error:
        reference.step()
    with pytest.raises(ValueError, match=str(torch_error.value)):
        ours.step()
    assert math.isclose(ours.last_epoch, reference.last_epoch)


def test_repr_shows_the_step_and_the_lr_it_set():
    optimizer = SGD([Tensor(numpy.zeros(2), requires_grad=True)], lr=0.1)
    scheduler = OneCycleLR(optimizer, max_lr=0.01, total_steps=10)
    assert repr(scheduler) == "OneCycleLR(step 0 of 10, lr 0.0004)"
    optimizer.step()
    scheduler.step()
    assert repr(scheduler) == f"OneCycleLR(step 1 of 10, lr {optimizer.param_groups[0]['lr']:.4g})"
