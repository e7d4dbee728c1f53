"""LR range test of the Ultimus recipe: sweep the learning rate exponentially over a few hundred
steps on a fresh model, draw the smoothed loss against it and print a suggested --max-lr
(the rule: ultimus/diagnostics/lr_finder.py's docstring).

    python examples/lr_find.py --data ../shared/data/cifar10-jpeg.tar.gz --device cpu

No run directory is made or touched; only the figure is written: --out, never over an existing
file unless --overwrite, or by default a fresh runs/lr_find-YYYYMMDD-HHMMSS.png. Errors are one
line on stderr, as in train_cifar.py.
"""
import os

from ultimus.diagnostics.lr_finder import lr_range_test, save_lr_sweep
from ultimus.errors import UsageError
from ultimus.training.command_line import ArgumentParser, HelpFormatter, run_reporting_errors
from ultimus.training.config import CHOICES, TrainConfig
from ultimus.training.run_directory import check_writable, fresh_path


def make_parser():
    defaults = TrainConfig()
    parser = ArgumentParser(prog=os.path.basename(__file__), description=__doc__, formatter_class=HelpFormatter)
    add = parser.add_argument
    add("--data", default=None, help="CIFAR-10 source, as train_cifar.py's --data")
    add("--cache-dir", default=None, help="where decoded arrays are cached, as train_cifar.py's --cache-dir")
    add("--limit", type=int, default=None, help="sweep on a class-balanced subset of N training images")
    add("--start-lr", type=float, default=1e-6, help="lr of the first step")
    add("--end-lr", type=float, default=1.0, help="lr of the last step")
    add("--steps", type=int, default=300, help="steps of the sweep; it stops early on a blow-up")
    add("--batch-size", type=int, default=defaults.batch_size, help="training images per step")
    add("--seed", type=int, default=defaults.seed, help="random seed")
    add("--device", default=defaults.device, choices=CHOICES["device"], help="where to run")
    add("--out", default=None, help="the figure to write (default: a fresh runs/lr_find-YYYYMMDD-HHMMSS.png)")
    add("--overwrite", action="store_true", help="replace the figure --out if it exists")
    add("--no-progress", dest="progress", action="store_false", help="no progress bar while reading the data")
    add("--debug", action="store_true", help="show the traceback of an error, not only its message")
    return parser


def check_out(path, overwrite):
    """Raise UsageError when the figure cannot be written to ``path``, before any work."""
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"--out {path} exists; choose another path or pass --overwrite")
    check_writable(os.path.dirname(os.path.abspath(path)))


def find(arguments):
    """Sweep, write the figure and print what the sweep shows; returns the LRSweep."""
    out = arguments.out or fresh_path("runs", "lr_find", ".png")
    check_out(out, arguments.overwrite)
    config = TrainConfig(data=arguments.data, cache_dir=arguments.cache_dir, limit=arguments.limit,
                         batch_size=arguments.batch_size, seed=arguments.seed, device=arguments.device,
                         progress=arguments.progress)
    sweep = lr_range_test(config, arguments.start_lr, arguments.end_lr, arguments.steps)
    save_lr_sweep(sweep, out)
    loss, lr = sweep.lowest()
    print(f"{len(sweep.lrs)} steps, lr {sweep.lrs[0]:.3g} to {sweep.lrs[-1]:.3g}; lowest smoothed loss {loss:.4f} at lr {lr:.3g}")
    print(f"{sweep.verdict()}; figure: {out}")
    return sweep


def main(argv=None):
    """Parse ``argv`` and run :func:`find`, or exit after one line on stderr."""
    arguments = make_parser().parse_args(argv)
    return run_reporting_errors(lambda: find(arguments), arguments.debug)


if __name__ == "__main__":
    main()
