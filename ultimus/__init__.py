"""ultimus: the Ultimus attention network and its CIFAR-10 training pipeline, built only on minigrad.

    model.py        UltimusNet and its Ultimus blocks
    errors.py       UsageError; progress.py: the progress bars every part shows
    data/           the data pipeline: sources, decoding, cache, splits, augmentation, loaders
    training/       the run machinery: train(), settings, run directories, checkpoints, outputs
    diagnostics/    figures and the tools that look inside a run: attention, gradient flow, LR range test

Import the parts you need, e.g. ``from ultimus.data.load import load_cifar10``.
"""
