"""Train the Ultimus attention network on CIFAR-10 with the assignment's recipe.

    python examples/train_cifar.py --device gpu
    python examples/train_cifar.py --device cpu --data cifar-10-python.tar.gz --limit 2000 --epochs 2
    python examples/train_cifar.py --resume runs/ultimus-20260101-120000

Each run writes into a fresh runs/ultimus-YYYYMMDD-HHMMSS unless --out names a directory.
Errors are one line on stderr: exit code 2 for bad usage (a bad option, a refused run
directory), 1 for any other failure (bad data, a damaged checkpoint, a diverged run, a full
disk); Ctrl-C exits with 130 and SIGTERM with 143, both keeping the last checkpoint;
--debug adds the traceback.
"""
import os
import sys

from ultimus.training.command_line import ArgumentParser, HelpFormatter, run_reporting_errors
from ultimus.training.config import CHOICES, RESUME_OVERRIDES, TrainConfig, option
from ultimus.training.run_directory import OUTPUTS
from ultimus.training.train import train


def make_parser():
    defaults = TrainConfig()
    parser = ArgumentParser(prog=os.path.basename(__file__), description=__doc__, formatter_class=HelpFormatter)
    add = parser.add_argument
    add("--device", default=defaults.device, choices=CHOICES["device"], help="where to train; auto prefers the GPU")
    add("--epochs", type=int, default=defaults.epochs, help="epochs to train")
    add("--batch-size", type=int, default=defaults.batch_size, help="training images per step")
    add("--max-lr", type=float, default=defaults.max_lr, help="One Cycle's peak learning rate")
    add("--pct-start", type=float, default=defaults.pct_start,
        help="fraction of the steps spent warming up to --max-lr (5/24: epoch 5 of 24)")
    add("--anneal", dest="anneal_strategy", default=defaults.anneal_strategy, choices=CHOICES["anneal_strategy"],
        help="One Cycle's annealing shape")
    add("--dropout", type=float, default=defaults.dropout, help="dropout probability in the model")
    add("--scaling", default=defaults.scaling, choices=CHOICES["scaling"],
        help="divide attention scores by sqrt(8) inside the softmax or after it (the assignment's literal text)")
    add("--variant", default=defaults.variant, choices=CHOICES["variant"],
        help="the assignment's network, or 'residual': each Ultimus block adds its input to its output")
    add("--coarse-dropout-p", type=float, default=defaults.coarse_dropout_p,
        help="probability that an image gets its 8x8 CoarseDropout hole")
    add("--horizontal-flip", action="store_true", help="also flip half the training images")
    add("--data", default=None,
        help="CIFAR-10 source: the official python archive, an image folder, or a .tar.gz of one "
             "(default: the cached official archive, else download it)")
    add("--cache-dir", default=None, help="where decoded arrays are cached (default: $ULTIMUS_CACHE or ~/.cache/ultimus)")
    add("--out", default=None, help="run directory (default: a fresh runs/ultimus-YYYYMMDD-HHMMSS)")
    add("--overwrite", action="store_true", help="replace the run already in --out (its checkpoint, history, figures)")
    add("--seed", type=int, default=defaults.seed, help="random seed of the run (>= 0)")
    add("--limit", type=int, default=None,
        help="train on a seeded, class-balanced subset of N (>= 10) images (default: all of them)")
    add("--validation", type=int, default=defaults.validation,
        help="hold out N class-balanced training images and evaluate on them, not on the test set "
             "(for choosing recipe settings)")
    add("--eval-batch-size", type=int, default=defaults.eval_batch_size, help="images per evaluation batch")
    add("--resume", default=None, metavar="RUN",
        help="continue the run in directory RUN (or from the checkpoint file RUN) after its last finished epoch, "
             "with its own settings; only --device, --data, --cache-dir, --eval-batch-size and --no-progress apply")
    add("--gradient-flow-every", type=int, default=defaults.gradient_flow_every, metavar="N",
        help="record each parameter's gradient norm and update ratio every N steps (gradient_flow.png); 0: never")
    add("--no-gradient-flow", dest="gradient_flow_every", action="store_const", const=0,
        help="record no gradient flow (as --gradient-flow-every 0)")
    add("--no-progress", dest="progress", action="store_false", help="no progress bars (data reading included)")
    add("--debug", action="store_true", help="show the traceback of an error, not only its message")
    return parser


def given_options(parser, argv):
    """The TrainConfig fields set on the command line ``argv``, whatever their values."""
    unset = object()  # not a string, so argparse passes it through without converting it
    parser.set_defaults(**dict.fromkeys(vars(parser.parse_args([])), unset))
    return {name for name, value in vars(parser.parse_args(argv)).items() if value is not unset}


def ignored_by_resume(given):
    """The options of ``given`` that a resumed run ignores, spelled as on the command line."""
    ignored = sorted(given - set(RESUME_OVERRIDES) - {"resume", "debug"})
    return [{"anneal_strategy": "--anneal"}.get(name, option(name)) for name in ignored]


def main(argv=None):
    """Parse ``argv``, train, print the final metrics; returns train()'s result, or exits after one
    line on stderr (see :func:`ultimus.training.command_line.run_reporting_errors`)."""
    argv = sys.argv[1:] if argv is None else argv
    arguments = vars(make_parser().parse_args(argv))
    debug = arguments.pop("debug")
    config = TrainConfig(**arguments)
    if config.resume:
        ignored = ignored_by_resume(given_options(make_parser(), argv))
        if ignored:
            print(f"--resume keeps the run's own settings; ignored: {' '.join(ignored)}", flush=True)
    result = run_reporting_errors(lambda: train(config), debug)
    print_metrics(result)
    return result


def print_metrics(result):
    """The last epoch's losses and accuracies, named after the split the run evaluated on."""
    last, split = result.history.records[-1], result.eval_split
    print("\nfinal metrics")
    for name, value in (("train_loss", last.train_loss), ("train_accuracy", last.train_accuracy),
                        (f"{split}_loss", last.eval_loss), (f"{split}_accuracy", last.eval_accuracy)):
        print(f"  {name:19s} {value:.4f}")
    seconds = sorted(result.history.column("seconds"))
    print(f"  {'epoch time':19s} {seconds[len(seconds) // 2]:.1f} s (median)")
    written = [name for name in OUTPUTS if os.path.exists(os.path.join(result.out, name))]
    print(f"outputs in {result.out}: {' '.join(written)}")


if __name__ == "__main__":
    main()
