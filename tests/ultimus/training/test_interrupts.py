"""Ctrl-C lands between training steps: the model and optimizer a notebook keeps are never half-updated."""
import os
import signal

import pytest

from minigrad.optim import Adam
from ultimus.training.config import TrainConfig
from ultimus.training.interrupts import end_of_step, interrupts_between_steps
from ultimus.training.train import train


def press_ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_during_a_step_is_raised_at_its_end():
    steps_finished = []
    with pytest.raises(KeyboardInterrupt), interrupts_between_steps():
        for step in range(3):
            press_ctrl_c()
            steps_finished.append(step)  # the rest of the step still runs
            end_of_step()
    assert steps_finished == [0]


def test_a_second_ctrl_c_in_the_same_step_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt), interrupts_between_steps():
        press_ctrl_c()
        press_ctrl_c()
        pytest.fail("the second Ctrl-C should have interrupted the step")


def test_a_ctrl_c_after_the_last_step_is_raised_when_the_block_ends_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), interrupts_between_steps():
        press_ctrl_c()
    assert signal.getsignal(signal.SIGINT) is before


def test_an_interrupted_run_leaves_every_parameter_updated_the_same_number_of_times(tiny_cifar_folder, tiny_cache,
                                                                                  tmp_path, monkeypatch):
    """Ctrl-C arrives while Adam updates the parameters of a step (all at once, see Adam's foreach); the step
    still finishes."""
    updates, real_update_group, optimizers = [], Adam.update_group, []

    def update_group_and_press_ctrl_c(self, group):
        optimizers.append(self)
        updates.append(1)
        if len(updates) == 4:  # the 4th step (the model's parameters are one group)
            press_ctrl_c()
        return real_update_group(self, group)

    monkeypatch.setattr(Adam, "update_group", update_group_and_press_ctrl_c)
    config = TrainConfig(device="cpu", data=str(tiny_cifar_folder), cache_dir=str(tiny_cache), epochs=3,
                         batch_size=8, out=str(tmp_path / "run"), progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    steps = {state["step"] for state in optimizers[0].state.values()}
    assert steps == {4}
