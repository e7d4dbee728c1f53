"""LR range test of the Ultimus recipe: sweep the learning rate exponentially over a few hundred
steps on a fresh model, draw the smoothed loss against it and print a suggested --max-lr
(the rule: ultimus/lr_finder.py's docstring).

    python examples/lr_find.py --data ../shared/data/cifar10-jpeg.tar.gz --device cpu --out lr_find.png

No run directory is made or touched; only the figure --out is written, never over an existing
file unless --overwrite. Errors are one line on stderr, as in train_cifar.py.
"""
import argparse
import math
import os

from ultimus.command_line import run_reporting_errors
from ultimus.config import TrainConfig, UsageError
from ultimus.lr_finder import lr_range_test, save_lr_sweep


def make_parser():
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--data", default=None, help="CIFAR-10 source, as train_cifar.py's --data")
    add("--cache-dir", default=None, help="where decoded arrays are cached")
    add("--limit", type=int, default=None, help="sweep on a class-balanced subset of N training images")
    add("--start-lr", type=float, default=1e-6, help="lr of the first step (default 1e-6)")
    add("--end-lr", type=float, default=1.0, help="lr of the last step (default 1)")
    add("--steps", type=int, default=300, help="steps of the sweep (default 300); it stops early on a blow-up")
    add("--batch-size", type=int, default=defaults.batch_size, help="training images per step (default 512)")
    add("--seed", type=int, default=defaults.seed, help="random seed (default 1)")
    add("--device", default=defaults.device, choices=["auto", "cpu", "gpu"], help="where to run (default auto)")
    add("--out", default="lr_find.png", help="the figure to write (default lr_find.png)")
    add("--overwrite", action="store_true", help="replace the figure --out if it exists")
    add("--no-progress", dest="progress", action="store_false", help="no progress bar while reading the data")
    add("--debug", action="store_true", help="show the traceback of an error, not only its message")
    return parser


def check_out(path, overwrite):
    """Raise UsageError when the figure cannot be written to ``path``, before any work."""
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"--out {path} exists; choose another path or pass --overwrite")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UsageError(f"--out {path}: its folder does not exist")


def find(arguments):
    check_out(arguments.out, arguments.overwrite)
    config = TrainConfig(data=arguments.data, cache_dir=arguments.cache_dir, limit=arguments.limit,
                         batch_size=arguments.batch_size, seed=arguments.seed, device=arguments.device,
                         progress=arguments.progress)
    sweep = lr_range_test(config, arguments.start_lr, arguments.end_lr, arguments.steps)
    save_lr_sweep(sweep, arguments.out)
    return sweep


def main(argv=None):
    """Parse ``argv``, sweep, write the figure and print the suggestion; returns the LRSweep."""
    arguments = make_parser().parse_args(argv)
    sweep = run_reporting_errors(lambda: find(arguments), arguments.debug)
    lowest = min(range(len(sweep.smoothed)), key=lambda k: sweep.smoothed[k] if math.isfinite(sweep.smoothed[k]) else math.inf)
    print(f"{len(sweep.lrs)} steps, lr {sweep.lrs[0]:.3g} to {sweep.lrs[-1]:.3g}; lowest smoothed loss "
          f"{sweep.smoothed[lowest]:.4f} at lr {sweep.lrs[lowest]:.3g}")
    print(f"suggested --max-lr {sweep.suggestion:.3g} (a tenth of that lr); figure: {arguments.out}")
    return sweep


if __name__ == "__main__":
    main()
