"""The training loop on a tiny synthetic CIFAR-10 (runs in every checkout): a golden history,
resume, the lr schedule, evaluation, divergence."""
import os
import pathlib

import numpy
import pytest

import ultimus.training.checkpoints
import ultimus.training.train
from minigrad import Tensor, no_grad, serialization
from minigrad import functional as F
from minigrad.optim import Adam
from ultimus.data.datasets import prepare_data
from ultimus.data.loaders import make_eval_loader
from ultimus.errors import UsageError
from ultimus.model import UltimusNet
from ultimus.training.config import TrainConfig
from ultimus.training.history import read_history
from ultimus.training.train import run_epoch, train

# Recorded once from train(tiny_config(max_lr=0.05)) below (a peak high enough that the tiny model
# moves away from uniform outputs); any change to the numbers a run computes shows here.
# GOLDEN_RTOL: OpenBLAS picks its float32 kernels by CPU, and they round differently: on an AVX2
# machine the losses recorded on an AVX-512 one come out up to 1e-4 relative apart (the second
# epoch's eval loss). A change to what a run computes moves them by far more (a dropped term, a
# wrong lr, another random draw). The eval losses are the most sensitive to rounding: a convolution's
# bias before batch norm has a true gradient of 0, so its gradient is rounding noise, which Adam
# scales up to steps of the learning rate; they move the running means that evaluation uses. An op
# that sums in another order therefore moves them too (docs/RESULTS.md, "Issue 17 on the CPU").
GOLDEN_RTOL = 3e-4
GOLDEN = {
    "train_loss": [2.4690624237060548, 2.499315643310547, 2.3552026748657227],
    "eval_loss": [2.4104108810424805, 2.831199836730957, 2.8699989318847656],
    "train_accuracy": [0.0, 0.1, 0.1],
    "eval_accuracy": [0.1, 0.0, 0.2],
}


@pytest.fixture
def tiny_config(tiny_cifar_folder, tiny_cache, tmp_path):
    def config(folder="run", **changes):
        settings = dict(device="cpu", data=str(tiny_cifar_folder), cache_dir=str(tiny_cache), epochs=3,
                        batch_size=8, seed=3, out=str(tmp_path / folder), progress=False)
        return TrainConfig(**{**settings, **changes})

    return config


def test_a_tiny_run_reproduces_its_recorded_history(tiny_config, without_figures):
    history = train(tiny_config(max_lr=0.05)).history
    for key, expected in GOLDEN.items():
        assert history.column(key) == pytest.approx(expected, rel=GOLDEN_RTOL), key
    assert train(tiny_config("other seed", max_lr=0.05, seed=4)).history.column("train_loss") != history.column("train_loss")


def as_columns(history_tree):
    """A checkpoint's history in the columns layout of older runs: one list per key, test_* names."""
    records = history_tree["records"]
    return {key.replace("eval", history_tree["eval_split"]): [record[key] for record in records] for key in records[0]}


@pytest.mark.parametrize("layout", ["records", "columns"])
def test_a_resumed_run_continues_exactly_as_the_uninterrupted_run(tiny_config, monkeypatch, layout, without_figures):
    uninterrupted = train(tiny_config("whole", gradient_flow_every=2)).history
    finished_passes, real_run_epoch = [], ultimus.training.train.run_epoch

    def interrupted_in_the_third_epoch(*args, **kwargs):
        if len(finished_passes) == 4:  # two epochs of training and testing done
            raise KeyboardInterrupt
        finished_passes.append(1)
        return real_run_epoch(*args, **kwargs)

    monkeypatch.setattr(ultimus.training.train, "run_epoch", interrupted_in_the_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config("stopped", gradient_flow_every=2))
    monkeypatch.undo()
    stopped = tiny_config("stopped").out
    assert read_history(f"{stopped}/history.json").column("epoch") == [1, 2]
    if layout == "columns":
        checkpoint = serialization.load(f"{stopped}/checkpoint.npz")
        serialization.save(dict(checkpoint, history=as_columns(checkpoint["history"])), f"{stopped}/checkpoint.npz")
    resumed = train(TrainConfig(resume=stopped, progress=False)).history
    for key in ("epoch", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy", "lr"):
        assert resumed.column(key) == uninterrupted.column(key), key
    if layout == "records":  # the columns layout of older runs holds no gradient flow
        assert resumed.gradient_flow == uninterrupted.gradient_flow


def test_gradient_flow_is_recorded_across_epochs_without_changing_the_run(tiny_config):
    recorded = train(tiny_config("recorded", gradient_flow_every=2))
    plain = train(tiny_config("plain", gradient_flow_every=0))
    flow = recorded.history.gradient_flow
    assert flow["steps"] == list(range(0, 15, 2))  # 3 epochs of 5 steps, numbered over the whole run
    assert len(flow["parameters"]) == len(list(UltimusNet().parameters()))
    assert read_history(f"{recorded.out}/history.json").gradient_flow == flow
    for key in ("train_loss", "train_accuracy", "eval_loss", "eval_accuracy"):
        assert recorded.history.column(key) == plain.history.column(key), key
    assert plain.history.gradient_flow is None
    assert os.path.exists(f"{recorded.out}/gradient_flow.png") and not os.path.exists(f"{plain.out}/gradient_flow.png")


def test_a_run_writes_its_attention_maps_and_a_report_linking_every_figure(tiny_config):
    out = train(tiny_config(epochs=1)).out
    report = pathlib.Path(out, "report.md").read_text()
    for figure in ("curves.png", "confusion_matrix.png", "misclassified.png", "augmented_samples.png",
                   "gradient_flow.png", "attention.png"):
        assert pathlib.Path(out, figure).read_bytes()[:4] == b"\x89PNG", figure
        assert f"]({figure})" in report, figure
    assert "| airplane | 2 |" in report  # the tiny test split: 2 images per class


def one_cycle_lr(step, total_steps, max_lr, div_factor, final_div_factor, pct_start):
    """PyTorch's OneCycleLR, linear, two phases, written out: up from max_lr / div_factor to max_lr
    at step pct_start * total - 1, then down to max_lr / div_factor / final_div_factor at the last step."""
    initial, peak_step, last_step = max_lr / div_factor, pct_start * total_steps - 1, total_steps - 1
    if step <= peak_step:
        return initial + (max_lr - initial) * step / peak_step
    return max_lr + (initial / final_div_factor - max_lr) * (step - peak_step) / (last_step - peak_step)


def test_every_step_uses_the_one_cycle_lr(tiny_config, monkeypatch, without_figures):
    used, real_step = [], Adam.step

    def recording_step(self):
        used.append(self.param_groups[0]["lr"])
        real_step(self)

    monkeypatch.setattr(Adam, "step", recording_step)
    config = tiny_config()
    history = train(config).history
    total = config.epochs * 5  # 40 training images in batches of 8
    expected = [one_cycle_lr(step, total, config.max_lr, config.div_factor, config.final_div_factor, config.pct_start)
                for step in range(total)]
    assert used == pytest.approx(expected, rel=1e-12)
    assert history.column("lr") == pytest.approx(expected[::5], rel=1e-12)  # each epoch records its first step's lr


def test_evaluation_changes_nothing_and_equals_an_explicit_eval_pass(tiny_config):
    config = tiny_config()
    data, mean, std = prepare_data(config)
    model = UltimusNet(num_classes=10, dropout=0.3).train()
    before = [tensor.data.copy() for tensor in (*model.parameters(), *model.buffers())]

    loss, accuracy, predictions = run_epoch(model, make_eval_loader(data, mean, std, config, "cpu"), progress=False)

    for was, tensor in zip(before, (*model.parameters(), *model.buffers())):
        numpy.testing.assert_array_equal(tensor.data, was)
    assert all(module.training for module in model.modules())
    images = ((data.eval_images / 255 - mean) / std).transpose(0, 3, 1, 2).astype(numpy.float32)
    model.eval()
    with no_grad():
        logits = model(Tensor(images))
        expected_loss = float(F.cross_entropy(logits, data.eval_labels).data)
    numpy.testing.assert_array_equal(predictions, logits.data.argmax(axis=1))
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert accuracy == (predictions == data.eval_labels).mean()


def test_the_eval_loader_yields_the_eval_split_in_its_order(tiny_config):
    """Evaluation's predictions are matched with data.eval_labels by position (misclassified.png, the
    confusion matrix, the per-class accuracy of the report), so the eval loader must never shuffle."""
    config = tiny_config(eval_batch_size=6)  # several batches, the last one short
    data, mean, std = prepare_data(config)
    images, labels = zip(*make_eval_loader(data, mean, std, config, "cpu"))
    numpy.testing.assert_array_equal(numpy.concatenate(labels), data.eval_labels)
    normalized = ((data.eval_images / 255 - mean) / std).transpose(0, 3, 1, 2)
    numpy.testing.assert_allclose(numpy.concatenate(images), normalized, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("progress", [False, True])
def test_an_epoch_iterates_its_loader_once(tiny_config, monkeypatch, progress):
    """Each iter() of a DataLoader draws a shuffle (and starts a prefetch thread): a progress bar that
    iterated it twice would make the run train on other batches than the same run without a bar."""
    config = tiny_config()
    data, mean, std = prepare_data(config)
    loader = make_eval_loader(data, mean, std, config, "cpu")
    iterations, real_iter = [], type(loader).__iter__
    monkeypatch.setattr(type(loader), "__iter__", lambda self: iterations.append(1) or real_iter(self))
    run_epoch(UltimusNet(), loader, progress=progress)
    assert len(iterations) == 1


# Each poison hits steps of epoch 2 (an epoch is 5 training and 1 test batch). inf and the overflow
# are added, not multiplied, so that the gradients stay finite: a loss times inf would make the
# weights NaN, and the later NaN losses would stop the run even where only NaN is caught. Two float32
# losses of 2.5e37, each times the batch of 8, are finite but overflow in the epoch's sum, whose
# stop names the last step.
@pytest.mark.parametrize("poisoned_steps, poison, stop_step, stop_loss", [
    ({3}, lambda loss: loss * float("nan"), 3, "nan"),
    ({3}, lambda loss: loss + float("inf"), 3, "inf"),
    pytest.param({4, 5}, lambda loss: loss + 2.5e37, 5, float(numpy.float32(2.5e37)),
                 marks=pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")),
], ids=["nan", "inf", "overflowing-sum"])
def test_a_non_finite_loss_or_loss_sum_stops_the_run_and_keeps_the_last_epoch(
        tiny_config, monkeypatch, poisoned_steps, poison, stop_step, stop_loss):
    calls, real_cross_entropy = [], F.cross_entropy

    def poisoned_in_epoch_2(logits, labels):
        calls.append(1)
        loss = real_cross_entropy(logits, labels)
        return poison(loss) if len(calls) - 6 in poisoned_steps else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned_in_epoch_2)
    config = tiny_config()
    with pytest.raises(RuntimeError) as stopped:
        train(config)
    lr = one_cycle_lr(5 + stop_step - 1, 15, config.max_lr, config.div_factor, config.final_div_factor, config.pct_start)
    assert str(stopped.value) == (
        f"training diverged at epoch 2, step {stop_step} of 5: the training loss is {stop_loss} (lr {lr:.4g}); "
        f"the checkpoint, history and figures of epoch 1 are kept in {config.out}")
    monkeypatch.undo()
    assert ultimus.training.checkpoints.load_checkpoint(f"{config.out}/checkpoint.npz")["epoch"] == 1
    assert read_history(f"{config.out}/history.json").column("epoch") == [1]
    for figure in ("augmented_samples.png", "curves.png", "misclassified.png", "confusion_matrix.png"):
        assert pathlib.Path(config.out, figure).read_bytes()[:4] == b"\x89PNG", figure
    assert not any(name.endswith((".lock", ".tmp")) for name in os.listdir(config.out))
    report = pathlib.Path(config.out, "report.md").read_text()
    assert "Diverged after epoch 1." in report and "After epoch 1 of 3" in report


def test_the_progress_bar_shows_the_lr_each_step_used(tiny_config, monkeypatch, without_figures):
    shown = []

    class RecordingBar(ultimus.training.train.tqdm):
        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            if "lr" in ordered_dict:
                shown.append(ordered_dict["lr"])
            super().set_postfix(ordered_dict, refresh, **kwargs)

    monkeypatch.setattr(ultimus.training.train, "tqdm", RecordingBar)
    config = tiny_config(progress=True)
    train(config)
    updated_steps = [epoch * 5 + step for epoch in range(3) for step in (0, 4)]  # every 10th step and the last
    assert shown == [f"{one_cycle_lr(step, 15, config.max_lr, config.div_factor, config.final_div_factor, config.pct_start):.5f}"
                     for step in updated_steps]


def test_a_checkpoint_of_the_parallel_lists_layout_is_refused_for_resume(tiny_config, without_figures):
    run = train(tiny_config("old layout", epochs=2)).out
    checkpoint = serialization.load(f"{run}/checkpoint.npz")
    checkpoint["epoch"] = 1
    checkpoint["model"] = {key.replace("features.stages.0.conv.", "features.convs.0."): value
                           for key, value in checkpoint["model"].items()}
    serialization.save(checkpoint, f"{run}/checkpoint.npz")
    with pytest.raises(UsageError, match="parallel-lists layout"):
        train(TrainConfig(resume=run, progress=False))


def test_the_variant_setting_reaches_the_model(tiny_config, without_figures):
    assignment = train(tiny_config("assignment", epochs=1, max_lr=0.05)).history
    residual = train(tiny_config("residual", epochs=1, max_lr=0.05, variant="residual")).history
    assert residual.column("train_loss") != assignment.column("train_loss")


def test_a_validation_run_names_its_eval_split_in_the_result_history_and_printout(tiny_config, capsys, without_figures):
    result = train(tiny_config(validation=10, epochs=1))
    printed = capsys.readouterr().out
    assert result.eval_split == result.history.eval_split == "validation"
    assert read_history(f"{result.out}/history.json").eval_split == "validation"
    assert "  validation loss " in printed and "  test loss " not in printed
    assert result.eval_accuracy == result.history.records[-1].eval_accuracy
