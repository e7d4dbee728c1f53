"""Layers and the Module container (``import minigrad.nn as nn``), in the image of torch.nn."""
from minigrad.nn import init
from minigrad.nn.layers import AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, LayerNorm, LeakyReLU, Linear, ReLU
from minigrad.nn.module import Module, Parameter, Sequential
from minigrad.nn.summary import summary
