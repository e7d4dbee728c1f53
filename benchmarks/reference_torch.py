"""The accuracy reference: the same Ultimus model and recipe trained in PyTorch (CPU), fed by
the same data pipeline (ultimus.data.datasets and ultimus.data.loaders) as our run.

    python benchmarks/reference_torch.py --data ../shared/data/cifar10-jpeg.tar.gz --seeds 1 2 3

Prints the test accuracy after each epoch and a line per seed at the end. Each epoch's
augmentation is drawn exactly as in our run of the same seed (ultimus.data.loaders.augment_epoch);
PyTorch draws its own initial weights and dropout masks.
"""
import argparse
import os
import time

import numpy
import torch
from torch_ultimus import TorchUltimusNet  # this script's folder is on sys.path when it is run

from ultimus.data.datasets import prepare_data
from ultimus.data.loaders import augment_epoch, make_eval_loader, make_train_loader
from ultimus.training.config import TrainConfig


def train_one_seed(config):
    torch.manual_seed(config.seed)
    data, mean, std = prepare_data(config)
    train_loader = make_train_loader(data, config, "cpu")
    eval_loader = make_eval_loader(data, mean, std, config, "cpu")
    model = TorchUltimusNet(dropout=config.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.max_lr / config.div_factor)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, **config.one_cycle_options(len(train_loader)))
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        augment_epoch(train_loader, mean, std, config, epoch, "cpu")
        model.train()
        for images, labels in train_loader:
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(images)), torch.from_numpy(labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in eval_loader:
                correct += int((model(torch.from_numpy(images)).argmax(1).numpy() == labels).sum())
        accuracy = correct / len(data.eval_labels)
        print(f"seed {config.seed} epoch {epoch:2d} {data.eval_split} accuracy {accuracy:.4f} ({time.perf_counter() - started:.1f}s)", flush=True)
    return accuracy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--dropout", type=float, default=TrainConfig.dropout)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {seed: train_one_seed(TrainConfig(data=args.data, seed=seed, epochs=args.epochs, limit=args.limit,
                                                dropout=args.dropout))
               for seed in args.seeds}
    for seed, accuracy in results.items():
        print(f"seed {seed}: final test accuracy {accuracy:.4f}")
    print(f"mean {numpy.mean(list(results.values())):.4f}, std {numpy.std(list(results.values())):.4f}")


if __name__ == "__main__":
    main()
