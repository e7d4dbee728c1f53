"""Redraw the figures of a finished run from its checkpoint and history (no training).

    python examples/plot_run.py docs/cpu/seed1 --data ../shared/data/cifar10-jpeg.tar.gz
"""
import argparse
import json
import os

from minigrad import serialization
from ultimus.train import checkpoint_path, config_from_checkpoint, make_test_loader, prepare_data, run_epoch, save_figures
from ultimus.model import UltimusNet


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run directory holding checkpoint.npz and history.json")
    parser.add_argument("--data", default=None, help="the CIFAR-10 source, if not the one the run recorded")
    args = parser.parse_args(argv)
    checkpoint = serialization.load(checkpoint_path(args.run))
    config = config_from_checkpoint(checkpoint, device="cpu", out=args.run, data=args.data or checkpoint["config"]["data"],
                                    progress=False)
    with open(os.path.join(args.run, "history.json")) as handle:
        history = json.load(handle)
    data, mean, std = prepare_data(config)
    model = UltimusNet(num_classes=len(data.classes), dropout=config.dropout, scaling=config.scaling)
    model.load_state_dict(checkpoint["model"])
    _, accuracy, predictions = run_epoch(model, make_test_loader(data, mean, std, config, "cpu"), progress=False)
    save_figures(data, mean, std, predictions, config, history)
    print(f"{args.run}: test accuracy {accuracy:.4f} from the checkpoint; figures redrawn")


if __name__ == "__main__":
    main()
