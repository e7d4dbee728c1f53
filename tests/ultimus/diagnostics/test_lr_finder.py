"""The LR range test: its lr sequence, the suggestion rule, early stop, the untouched model, the CLI."""
import os
import sys

import numpy
import pytest
from helpers import REPOSITORY, tiny_model

from minigrad import backend
from ultimus.diagnostics.figures import plt
from ultimus.diagnostics.lr_finder import LRSweep, exponential_lrs, figure_lr_sweep, lr_sweep, save_lr_sweep, suggest_lr

sys.path.insert(0, str(REPOSITORY / "examples"))
from lr_find import main


def tiny_batches(count=3, size=6):
    rng = numpy.random.default_rng(0)
    return [(rng.standard_normal((size, 3, 8, 8)).astype(numpy.float32), rng.integers(0, 3, size)) for _ in range(count)]


def test_the_lrs_grow_by_a_constant_factor_from_start_to_end():
    lrs = numpy.array(exponential_lrs(1e-6, 1.0, 7))
    assert lrs[0] == pytest.approx(1e-6, rel=1e-12) and lrs[-1] == pytest.approx(1.0, rel=1e-12)
    numpy.testing.assert_allclose(lrs[1:] / lrs[:-1], 10.0, rtol=1e-9)  # 6 decades in 6 steps


def test_the_suggestion_is_a_tenth_of_the_lowest_smoothed_losss_lr_and_none_below_the_start():
    assert suggest_lr([0.01, 2.0, 3.0, 4.0], [5.0, 3.0, 1.0, float("nan")]) == pytest.approx(0.3)
    assert suggest_lr([1.0, 2.0, 3.0], [1.0, 2.0, 9.0]) is None


def test_a_sweep_that_began_too_high_says_so_in_words_and_in_its_figure(tmp_path):
    sweep = LRSweep(lrs=[10.0, 11.5], losses=[2.3, 1e4], smoothed=[2.3, 5e3], suggestion=None, start_lr=10.0, end_lr=1e4)
    assert sweep.verdict() == ("no suggestion: the smoothed loss was lowest at lr 10, less than ten times --start-lr 10, "
                               "so the sweep saw no slope where the loss falls; lower --start-lr")
    figure = figure_lr_sweep(sweep)
    title, markers = figure.axes[0].get_title(), [line.get_marker() for line in figure.axes[0].get_lines()]
    plt.close(figure)
    assert title.endswith("no suggestion: the loss was lowest within ten times the start; lower --start-lr")
    assert markers == ["None", "."]  # no suggestion line; each step a dot


def test_a_sweep_leaves_the_callers_model_untouched_and_takes_the_lrs_asked():
    model = tiny_model()
    before = [tensor.data.copy() for tensor in (*model.parameters(), *model.buffers())]
    sweep = lr_sweep(model, tiny_batches(), start_lr=1e-4, end_lr=1e-1, steps=12)
    for was, tensor in zip(before, (*model.parameters(), *model.buffers())):
        numpy.testing.assert_array_equal(tensor.data, was)
    assert all(parameter.grad is None for parameter in model.parameters())
    assert len(sweep.lrs) == 12
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
    assert f"{sweep.verdict()}; figure: {out}\n" in capsys.readouterr().out
    written = out.read_bytes()
    with pytest.raises(SystemExit) as exited:
        main(["--data", str(tiny_cifar_folder), "--cache-dir", str(tiny_cache), "--out", str(out)])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: --out {out} exists; choose another path or pass --overwrite"
    assert out.read_bytes() == written


def test_by_default_each_figure_goes_to_a_fresh_file_under_runs(tiny_cifar_folder, tiny_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        main(["--data", str(tiny_cifar_folder), "--cache-dir", str(tiny_cache), "--batch-size", "8", "--steps", "2",
              "--device", "cpu", "--no-progress"])
    figures = sorted(os.listdir(tmp_path / "runs"))
    assert os.listdir(tmp_path) == ["runs"] and len(figures) == 2
    assert all(name.startswith("lr_find-") and name.endswith(".png") for name in figures)
    assert f"figure: {os.path.join('runs', figures[-1])}\n" in capsys.readouterr().out


def test_the_figure_is_written_and_closed(tmp_path):
    sweep = lr_sweep(tiny_model(), tiny_batches(), start_lr=1e-4, end_lr=1e-1, steps=5)
    save_lr_sweep(sweep, str(tmp_path / "sweep.png"))
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert plt.get_fignums() == []


def test_a_sweep_on_the_cpu_readies_it_as_a_training_run_does(tiny_cifar_folder, tiny_cache, tmp_path, monkeypatch, capsys):
    """Freed memory is kept for the next step, or every step pays its page faults again (see backend)."""
    kept = []
    monkeypatch.setattr(backend, "keep_freed_cpu_memory", lambda: kept.append(1))
    main(["--data", str(tiny_cifar_folder), "--cache-dir", str(tiny_cache), "--batch-size", "8", "--steps", "2",
          "--device", "cpu", "--no-progress", "--out", str(tmp_path / "sweep.png")])
    assert kept == [1]
