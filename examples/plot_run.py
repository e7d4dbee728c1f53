"""Redraw the figures of a finished run from its checkpoint and history (no training).

    python examples/train_cifar.py --device cpu --data ../shared/data/cifar10-jpeg.tar.gz --limit 600 --epochs 2 --out runs/small
    python examples/plot_run.py runs/small
"""
import argparse
import os

from minigrad import serialization
from ultimus.checkpoints import checkpoint_path, config_from_checkpoint
from ultimus.datasets import prepare_data
from ultimus.history import read_history
from ultimus.loaders import make_eval_loader
from ultimus.model import UltimusNet
from ultimus.run_outputs import save_figures
from ultimus.train import run_epoch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run directory holding checkpoint.npz and history.json")
    parser.add_argument("--data", default=None, help="the CIFAR-10 source, if not the one the run recorded")
    args = parser.parse_args(argv)
    checkpoint = serialization.load(checkpoint_path(args.run))
    config = config_from_checkpoint(checkpoint, device="cpu", out=args.run, data=args.data or checkpoint["config"]["data"],
                                    progress=False)
    history = read_history(os.path.join(args.run, "history.json"))
    data, mean, std = prepare_data(config)
    model = UltimusNet(num_classes=len(data.classes), dropout=config.dropout, scaling=config.scaling,
                       variant=config.variant)
    model.load_state_dict(checkpoint["model"])
    _, accuracy, predictions = run_epoch(model, make_eval_loader(data, mean, std, config, "cpu"), progress=False)
    save_figures(data, mean, std, predictions, config, history)
    print(f"{args.run}: {data.eval_split} accuracy {accuracy:.4f} from the checkpoint; figures redrawn")


if __name__ == "__main__":
    main()
