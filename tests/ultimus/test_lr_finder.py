"""The LR range test: its lr sequence, the suggestion rule, early stop, the untouched model, the CLI."""
import os
import sys

import numpy
import pytest

from ultimus.figures import plt
from ultimus.lr_finder import exponential_lrs, lr_sweep, save_lr_sweep, suggest_lr
from helpers import tiny_model

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
from lr_find import main  # noqa: E402


def tiny_batches(count=3, size=6):
    rng = numpy.random.default_rng(0)
    return [(rng.standard_normal((size, 3, 8, 8)).astype(numpy.float32), rng.integers(0, 3, size)) for _ in range(count)]


def test_the_lrs_grow_by_a_constant_factor_from_start_to_end():
    lrs = numpy.array(exponential_lrs(1e-6, 1.0, 7))
    assert lrs[0] == pytest.approx(1e-6, rel=1e-12) and lrs[-1] == pytest.approx(1.0, rel=1e-12)
    numpy.testing.assert_allclose(lrs[1:] / lrs[:-1], 10.0, rtol=1e-9)  # 6 decades in 6 steps


def test_the_suggestion_is_a_tenth_of_the_lowest_smoothed_losss_lr_never_below_the_start():
    assert suggest_lr([0.01, 2.0, 3.0, 4.0], [5.0, 3.0, 1.0, float("nan")]) == pytest.approx(0.3)
    assert suggest_lr([1.0, 2.0, 3.0], [1.0, 2.0, 9.0]) == 1.0


def test_a_sweep_leaves_the_callers_model_untouched_and_suggests_inside_its_range():
    model = tiny_model()
    before = [tensor.data.copy() for tensor in (*model.parameters(), *model.buffers())]
    sweep = lr_sweep(model, tiny_batches(), start_lr=1e-4, end_lr=1e-1, steps=12)
    for was, tensor in zip(before, (*model.parameters(), *model.buffers())):
        numpy.testing.assert_array_equal(tensor.data, was)
    assert all(parameter.grad is None for parameter in model.parameters())
    assert len(sweep.lrs) == 12 and 1e-4 <= sweep.suggestion <= 1e-1
    assert sweep.lrs == pytest.approx(exponential_lrs(1e-4, 1e-1, 12), rel=1e-12)


def test_a_sweep_stops_once_the_smoothed_loss_blows_up():
    sweep = lr_sweep(tiny_model(), tiny_batches(), start_lr=1e-3, end_lr=1e6, steps=200)
    assert len(sweep.lrs) < 200
    last, best = sweep.smoothed[-1], min(sweep.smoothed[:-1])
    assert not numpy.isfinite(last) or last > 4 * best
    assert all(numpy.isfinite(loss) and loss <= 4 * best for loss in sweep.smoothed[:-1])


def test_the_command_writes_its_figure_and_refuses_to_overwrite_one(tiny_cifar_folder, tiny_cache, tmp_path, capsys):
    out = tmp_path / "lr.png"
    sweep = main(["--data", str(tiny_cifar_folder), "--cache-dir", str(tiny_cache), "--batch-size", "8",
                  "--steps", "10", "--device", "cpu", "--out", str(out), "--no-progress"])
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert f"suggested --max-lr {sweep.suggestion:.3g}" in capsys.readouterr().out
    written = out.read_bytes()
    with pytest.raises(SystemExit) as exited:
        main(["--data", str(tiny_cifar_folder), "--cache-dir", str(tiny_cache), "--out", str(out)])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: --out {out} exists; choose another path or pass --overwrite"
    assert out.read_bytes() == written


def test_the_figure_is_written_and_closed(tmp_path):
    sweep = lr_sweep(tiny_model(), tiny_batches(), start_lr=1e-4, end_lr=1e-1, steps=5)
    save_lr_sweep(sweep, str(tmp_path / "sweep.png"))
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert plt.get_fignums() == []
