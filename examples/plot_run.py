"""Redraw every figure of a run, its report.md and history from its checkpoint (no training): after
an interrupt while a run drew its final figures, or to draw them again.

    python examples/train_cifar.py --device cpu --data ../shared/data/cifar10-jpeg.tar.gz --limit 600 --epochs 2 --out runs/small
    python examples/plot_run.py runs/small

Errors are one line on stderr, as in train_cifar.py.
"""
import os

from ultimus.data.datasets import prepare_data
from ultimus.data.loaders import make_eval_loader
from ultimus.training.checkpoints import config_from_checkpoint, find_checkpoint, load_checkpoint, load_model
from ultimus.training.command_line import ArgumentParser, HelpFormatter, run_reporting_errors
from ultimus.training.history import write_history
from ultimus.training.run_directory import RunDirectory
from ultimus.training.run_outputs import save_run_outputs
from ultimus.training.train import run_epoch


def make_parser():
    parser = ArgumentParser(prog=os.path.basename(__file__), description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("run", help="a run directory holding checkpoint.npz, or the checkpoint file itself")
    parser.add_argument("--data", default=None, help="the CIFAR-10 source, if not the one the run recorded")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its message")
    return parser


def redraw(arguments):
    """Evaluate the checkpoint of ``arguments.run`` (a directory or checkpoint file) on the CPU and
    rewrite the run's history, figures and report in its directory, locked meanwhile; prints the
    eval accuracy."""
    path = find_checkpoint(arguments.run)
    checkpoint = load_checkpoint(path)
    config = config_from_checkpoint(checkpoint, path, data=arguments.data, progress=False)
    model = load_model(checkpoint, path, config)
    with RunDirectory(config.out, continuing=True):
        data, mean, std = prepare_data(config)
        eval_loader = make_eval_loader(data, mean, std, config, "cpu")
        _, accuracy, predictions = run_epoch(model, eval_loader, progress=False)
        write_history(checkpoint["history"], config.out)  # a run stopped between checkpoint and history lacks its last epoch
        save_run_outputs(model, eval_loader, data, mean, std, predictions, config, checkpoint["history"])
    print(f"{config.out}: {data.eval_split} accuracy {accuracy:.4f} from the checkpoint; history, figures and report.md redrawn")


def main(argv=None):
    arguments = make_parser().parse_args(argv)
    run_reporting_errors(lambda: redraw(arguments), arguments.debug)


if __name__ == "__main__":
    main()
