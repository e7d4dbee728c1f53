"""ultimus: the Ultimus attention network and its CIFAR-10 training pipeline, built only on minigrad.

Import the parts you need, e.g. ``from ultimus.data import load_cifar10``.
"""
