"""Train the Ultimus attention network on CIFAR-10 with the seed's recipe.

    python examples/train_cifar.py --device gpu
    python examples/train_cifar.py --device cpu --data ../shared/data/cifar10-jpeg.tar.gz --limit 2000 --epochs 2
"""
import argparse
import sys

from ultimus.train import TrainConfig, train


def parse_args(argv):
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=defaults.device, choices=["auto", "cpu", "gpu"])
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--max-lr", type=float, default=defaults.max_lr, help="One Cycle's peak learning rate")
    parser.add_argument("--pct-start", type=float, default=defaults.pct_start,
                        help="fraction of the steps spent warming up to --max-lr (default 5/24: epoch 5 of 24)")
    parser.add_argument("--anneal", dest="anneal_strategy", default=defaults.anneal_strategy, choices=["linear", "cos"])
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--scaling", default=defaults.scaling, choices=["inside", "after"],
                        help="divide attention scores by sqrt(8) inside the softmax (default) or after it (the seed's literal text)")
    parser.add_argument("--coarse-dropout-p", type=float, default=defaults.coarse_dropout_p)
    parser.add_argument("--horizontal-flip", action="store_true")
    parser.add_argument("--data", default=None,
                        help="CIFAR-10 source: the official python archive, an image folder, or a .tar.gz of one "
                             "(default: the cache, else download)")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", default=defaults.out, help="run directory for history, figures and checkpoint")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--limit", type=int, default=None, help="train on a seeded, class-balanced subset of N images")
    parser.add_argument("--validation", type=int, default=defaults.validation,
                        help="hold out N class-balanced training images and evaluate on them, not on the test set "
                             "(for choosing recipe settings)")
    parser.add_argument("--resume", default=None, metavar="RUN",
                        help="continue the run in directory RUN (or from the checkpoint file RUN) after its last "
                             "finished epoch, with its own settings; only --device, --data and --cache-dir may change")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    return TrainConfig(**vars(parser.parse_args(argv)))


def main(argv=None):
    config = parse_args(sys.argv[1:] if argv is None else argv)
    result = train(config)
    history = result["history"]
    print("\nfinal metrics")
    split = result["split"]
    for key in ("train_loss", "train_accuracy", f"{split}_loss", f"{split}_accuracy"):
        print(f"  {key:19s} {history[key][-1]:.4f}")
    print(f"  {'epoch time':19s} {sorted(history['seconds'])[len(history['seconds']) // 2]:.1f} s (median)")
    print(f"outputs in {result['out']}: summary.txt history.json history.csv checkpoint.npz "
          "augmented_samples.png curves.png misclassified.png confusion_matrix.png")
    return result


if __name__ == "__main__":
    main()
