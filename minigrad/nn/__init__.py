"""Layers and the Module container (``import minigrad.nn as nn``), in the image of torch.nn."""
from minigrad.nn import init
from minigrad.nn.layers import (
    GELU,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
)
from minigrad.nn.module import Module, Parameter, Sequential
from minigrad.nn.summary import summary

__all__ = [
    "AvgPool2d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "GELU",
    "init",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "summary",
]
